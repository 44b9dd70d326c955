"""`training_record.json`: what a training run did, written beside the saved model (read by `mde-hub card`).

Keys: recipe (path or null), arguments (the three argument dataclasses), command (argv as a shell string), dataset
(a human description), train_samples, global_step, epochs, hardware, wall_time_s, final_eval ({metric: value}, or
null without an evaluation set).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

import torch

from ..data.files import atomic_output

RECORD_NAME = "training_record.json"


def describe_hardware(world_size: int = 1) -> str:
    """E.g. "2 CPU cores", "NVIDIA H100 80GB HBM3 x 1, 16 CPU cores", with ", 2 processes" under DDP."""
    cores = f"{os.cpu_count()} CPU cores"
    if torch.cuda.is_available():
        description = f"{torch.cuda.get_device_name(0)} x {torch.cuda.device_count()}, {cores}"
    else:
        description = cores
    return description + (f", {world_size} processes" if world_size > 1 else "")


def arguments_json(model_args: Any, data_args: Any, training_args: Any) -> dict[str, Any]:
    """The three argument dataclasses as JSON-ready dicts (tokens masked by `TrainingArguments.to_dict`)."""
    return {
        "model": dataclasses.asdict(model_args),
        "data": dataclasses.asdict(data_args),
        "training": training_args.to_dict(),
    }


def write_training_record(output_dir: str | os.PathLike, record: dict[str, Any]) -> str:
    """Write `record` atomically to `output_dir/training_record.json`; return the path."""
    path = os.path.join(output_dir, RECORD_NAME)
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path
