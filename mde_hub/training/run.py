"""A whole training run, as `train/train.py` does it: parse, build, train (or resume), evaluate, save, record.

Works the same in one process and under `torchrun` / `accelerate launch` (DDP: `Trainer` and accelerate set up the
process group, gloo on CPUs); only the main process writes the record.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback

from ..metrics import METRIC_NAMES
from .recipes import ParsedArguments, parse_arguments
from .record import arguments_json, describe_hardware, write_training_record
from .trainer import build_trainer


def resume_argument(value: str | None) -> str | bool | None:
    """`--resume_from_checkpoint`: a checkpoint path, "true" (the latest one in output_dir) or "false"/None."""
    if value is None or value.lower() == "false":
        return None
    return True if value.lower() == "true" else value


def run_training(parsed: ParsedArguments, command: str, callbacks: Sequence[TrainerCallback] = ()) -> dict[str, Any]:
    """Train, evaluate, save the model and image processor to `output_dir` and write `training_record.json` there
    (then `Trainer.save_model` pushes the folder to the Hub with `push_to_hub`). Returns the record."""
    args = parsed.training
    trainer, data = build_trainer(parsed.model, parsed.data, args, callbacks)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_argument(args.resume_from_checkpoint))
    final_eval = None
    if data.eval is not None:
        metrics = trainer.evaluate()
        wanted = {f"eval_{name}": name for name in (*METRIC_NAMES, "loss")}
        final_eval = {wanted[key]: value for key, value in metrics.items() if key in wanted}
    record = {
        "recipe": parsed.recipe,
        "arguments": arguments_json(parsed.model, parsed.data, args),
        "command": command,
        "dataset": data.description,
        "train_samples": len(data.train),
        "global_step": trainer.state.global_step,
        "epochs": float(trainer.state.epoch or 0.0),
        "hardware": describe_hardware(args.world_size),
        "wall_time_s": time.perf_counter() - start,
        "final_eval": final_eval,
    }
    if trainer.is_world_process_zero():
        write_training_record(args.output_dir, record)
    trainer.save_state()
    trainer.save_model()
    return record


def masked_command(argv: Sequence[str]) -> str:
    """`argv` as a shell string with the values of `--*_token` flags replaced, as `TrainingArguments.to_dict` does,
    so that the record (which may be pushed to the Hub) never holds a secret."""
    words, hide_next = [], False
    for word in argv:
        flag, equals, _ = word.partition("=")
        secret = flag.startswith("--") and flag.endswith("_token")
        if hide_next:
            word = "<TOKEN>"
        elif secret and equals:
            word = f"{flag}=<TOKEN>"
        words.append(word)
        hide_next = secret and not equals
    return shlex.join(words)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `train/train.py`; bad arguments or files exit with status 2 and a one-line message."""
    command = masked_command(sys.argv if argv is None else ["train/train.py", *argv])
    try:
        run_training(parse_arguments(argv), command)
    except (ValueError, OSError) as error:
        print(f"train.py: error: {error}", file=sys.stderr)
        return 2
    return 0
