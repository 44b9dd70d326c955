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
from collections.abc import Sequence
from typing import Any

from transformers import TrainerCallback
from transformers.trainer import TRAINER_STATE_NAME

from ..evaluation.metrics import METRIC_NAMES
from .recipes import ParsedArguments, parse_arguments
from .record import arguments_json, describe_hardware, write_training_record
from .trainer import build_trainer


def checkpoint_problem(checkpoint: str) -> str | None:
    """Why `checkpoint` cannot be resumed from, or None. Trainer writes a checkpoint folder in place (transformers 5
    has no temporary-name-and-rename step): weights, optimizer, scheduler, RNG states, and `trainer_state.json`
    last. A folder whose `trainer_state.json` is missing or unreadable is one whose save was killed midway."""
    state = os.path.join(checkpoint, TRAINER_STATE_NAME)
    try:
        with open(state) as handle:
            json.load(handle)
    except FileNotFoundError:
        return f"{checkpoint} has no {TRAINER_STATE_NAME}: its save was interrupted"
    except (OSError, ValueError) as error:
        return f"{checkpoint}/{TRAINER_STATE_NAME} is unreadable ({error}): its save was interrupted"
    return None


def latest_complete_checkpoint(output_dir: str) -> str | None:
    """The `checkpoint-N` folder of `output_dir` with the largest N that `checkpoint_problem` accepts; incomplete
    ones (a save killed midway) are skipped with a warning."""
    steps = {}
    for name in os.listdir(output_dir) if os.path.isdir(output_dir) else ():
        match = re.fullmatch(r"checkpoint-(\d+)", name)
        if match and os.path.isdir(os.path.join(output_dir, name)):
            steps[int(match.group(1))] = os.path.join(output_dir, name)
    for step in sorted(steps, reverse=True):
        problem = checkpoint_problem(steps[step])
        if problem is None:
            return steps[step]
        warnings.warn(f"skipping {problem}", stacklevel=2)
    return None


def resume_argument(value: str | None, output_dir: str) -> str | None:
    """`--resume_from_checkpoint`: a checkpoint path, "true" (the latest complete one in `output_dir`) or
    "false"/None. Incomplete checkpoints are never resumed from."""
    if value is None or value.lower() == "false":
        return None
    if value.lower() == "true":
        checkpoint = latest_complete_checkpoint(output_dir)
        if checkpoint is None:
            raise ValueError(f"--resume_from_checkpoint true: no complete checkpoint-N folder in {output_dir}")
        return checkpoint
    problem = checkpoint_problem(value)
    if problem is not None:
        raise ValueError(f"--resume_from_checkpoint {value}: {problem}")
    return value


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
    trainer, data = build_trainer(parsed.model, parsed.data, args, callbacks)
    start = time.perf_counter()
    trainer.train(resume_from_checkpoint=resume_argument(args.resume_from_checkpoint, args.output_dir))
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
