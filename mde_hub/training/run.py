"""A whole training run, as `train/train.py` does it: parse, build, train (or resume), evaluate, save, record.

Works the same in one process and under `torchrun` / `accelerate launch` (DDP: `Trainer` and accelerate set up the
process group, gloo on CPUs); only the main process writes the record.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import sys
import time
import warnings
import zipfile
from collections.abc import Sequence
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import TrainerCallback
from transformers.trainer import (
    OPTIMIZER_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    SCHEDULER_NAME,
    TRAINER_STATE_NAME,
    WEIGHTS_NAME,
)
from transformers.trainer_pt_utils import safe_globals

from ..evaluation.metrics import METRIC_NAMES
from .recipes import ParsedArguments, parse_arguments
from .record import arguments_json, describe_hardware, write_training_record
from .trainer import build_trainer


def checkpoint_problem(checkpoint: str) -> str | None:
    """Why `checkpoint` cannot be resumed from, or None. Trainer writes a checkpoint folder in place (transformers 5
    has no temporary-name-and-rename step): weights, optimizer, scheduler, RNG states, and `trainer_state.json`
    last. A folder whose `trainer_state.json` is missing or unreadable is one whose save was killed midway; one whose
    weights or PyTorch state files are truncated or garbage (`_weights_problem`, `_torch_file_problem`) was damaged
    later. The checks read headers and archive directories only, never the tensors."""
    state = os.path.join(checkpoint, TRAINER_STATE_NAME)
    try:
        with open(state) as handle:
            json.load(handle)
    except FileNotFoundError:
        return f"{checkpoint} has no {TRAINER_STATE_NAME}: its save was interrupted"
    except (OSError, ValueError) as error:
        return f"{checkpoint}/{TRAINER_STATE_NAME} is unreadable ({error}): its save was interrupted"
    state_files = sorted(name for name in os.listdir(checkpoint) if name.endswith((".pt", ".pth")))
    problems = [_weights_problem(checkpoint), *(_torch_file_problem(os.path.join(checkpoint, n)) for n in state_files)]
    return next((problem for problem in problems if problem is not None), None)


def _weights_problem(checkpoint: str) -> str | None:
    """Why the model weights of `checkpoint` cannot be loaded, or None: each safetensors file (the shards an index
    lists) must have a header that parses and covers the file exactly; a pickled `pytorch_model.bin` is checked as
    a PyTorch file."""
    index = os.path.join(checkpoint, SAFE_WEIGHTS_INDEX_NAME)
    if os.path.isfile(index):
        try:
            with open(index) as handle:
                shards = sorted(set(json.load(handle)["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            return f"{index} is unreadable ({error!r})"
    elif os.path.isfile(os.path.join(checkpoint, SAFE_WEIGHTS_NAME)):
        shards = [SAFE_WEIGHTS_NAME]
    elif os.path.isfile(os.path.join(checkpoint, WEIGHTS_NAME)):
        return _torch_file_problem(os.path.join(checkpoint, WEIGHTS_NAME))
    else:
        return f"{checkpoint} has no model weights ({SAFE_WEIGHTS_NAME})"
    for shard in shards:
        path = os.path.join(checkpoint, shard)
        try:
            with safe_open(path, "pt"):
                pass
        except (SafetensorError, OSError) as error:
            return f"{path} is damaged or truncated ({error})"
    return None


def _torch_file_problem(path: str) -> str | None:
    """Why the `torch.save` file at `path` cannot be loaded, or None: it must be a whole zip archive (the format
    `torch.save` writes; its directory is at the end, so a truncated file has none) whose pickle loads with
    `weights_only=True` (numpy's RNG state allowed), as Trainer loads it, memory-mapped so that no tensor is read."""
    if not zipfile.is_zipfile(path):
        return f"{path} is damaged or truncated (not a whole torch.save archive)"
    try:
        with safe_globals():
            torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as error:  # whatever torch.load raises, Trainer's own load would raise it too
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"{path} is damaged ({reason})"
    return None


def missing_optimizer_state(checkpoint: str) -> list[str]:
    """The files of the optimizer's and learning-rate schedule's state that `checkpoint` lacks. Trainer resumes
    without them silently, with a fresh optimizer and schedule (`--save_only_model` checkpoints have neither).
    DeepSpeed and FSDP checkpoints, which store them otherwise, are not recognised."""
    return [name for name in (OPTIMIZER_NAME, SCHEDULER_NAME) if not os.path.isfile(os.path.join(checkpoint, name))]


def latest_complete_checkpoint(output_dir: str) -> str | None:
    """The `checkpoint-N` folder of `output_dir` with the largest N that `checkpoint_problem` accepts; incomplete or
    damaged ones are skipped with a warning naming the folder, the reason and the checkpoint resumed from instead."""
    steps = {}
    for name in os.listdir(output_dir) if os.path.isdir(output_dir) else ():
        match = re.fullmatch(r"checkpoint-(\d+)", name)
        if match and os.path.isdir(os.path.join(output_dir, name)):
            steps[int(match.group(1))] = os.path.join(output_dir, name)
    skipped, found = [], None
    for step in sorted(steps, reverse=True):
        problem = checkpoint_problem(steps[step])
        if problem is None:
            found = steps[step]
            break
        skipped.append(problem)
    instead = f"; resuming from {found} instead" if found is not None else ""
    for problem in skipped:
        warnings.warn(f"skipping {problem}{instead}", stacklevel=2)
    return found


def resume_argument(value: str | None, output_dir: str, allow_fresh_optimizer: bool = False) -> str | None:
    """`--resume_from_checkpoint`: a checkpoint path, "true" (the latest complete, undamaged one in `output_dir`) or
    "false"/None. Incomplete or damaged checkpoints are never resumed from; one given by path is an error. A
    checkpoint without its optimizer and scheduler state is an error too, unless `allow_fresh_optimizer`
    (`--allow_fresh_optimizer`): then a warning says that they start afresh."""
    if value is None or value.lower() == "false":
        return None
    if value.lower() == "true":
        checkpoint = latest_complete_checkpoint(output_dir)
        if checkpoint is None:
            raise ValueError(f"--resume_from_checkpoint true: no complete checkpoint-N folder in {output_dir}")
    else:
        checkpoint = value
        problem = checkpoint_problem(value)
        if problem is not None:
            raise ValueError(f"--resume_from_checkpoint {value}: {problem}")
    missing = missing_optimizer_state(checkpoint)
    if missing:
        lacks = f"{checkpoint} has no {' or '.join(missing)}"
        if not allow_fresh_optimizer:
            raise ValueError(
                f"--resume_from_checkpoint {value}: {lacks}, so the optimizer and learning-rate schedule would start "
                "afresh and the run would not continue the interrupted one; pass --allow_fresh_optimizer to resume so"
            )
        warnings.warn(f"{lacks}: resuming with a fresh optimizer and learning-rate schedule", stacklevel=2)
    return checkpoint


def hub_token_to_environment(args: Any) -> None:
    """Move `--hub_token` into the HF_TOKEN environment variable, where huggingface_hub finds it. Trainer pickles its
    arguments into `training_args.bin` (in output_dir, in every checkpoint, and in what `push_to_hub` uploads), so a
    token left in them would be written there in clear."""
    if args.hub_token:
        os.environ["HF_TOKEN"] = args.hub_token
        args.hub_token = None


def run_training(parsed: ParsedArguments, command: str, callbacks: Sequence[TrainerCallback] = ()) -> dict[str, Any]:
    """Train, evaluate, save the model and image processor to `output_dir` and write `training_record.json` there
    (then `Trainer.save_model` pushes the folder to the Hub with `push_to_hub`). Returns the record."""
    args = parsed.training
    hub_token_to_environment(args)
    checkpoint = resume_argument(args.resume_from_checkpoint, args.output_dir, args.allow_fresh_optimizer)
    trainer, data = build_trainer(parsed.model, parsed.data, args, callbacks)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=checkpoint)
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
