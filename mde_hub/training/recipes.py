"""Training recipes (train/recipes/*.json) and the command line of `train/train.py`.

A recipe is a JSON object of argument values for `ModelArguments`, `DataArguments` and `DepthTrainingArguments`,
plus two free-text keys: `"description"` and `"sources"` (argument name -> where its value comes from). Any other
key is an error naming the key and the file. Command-line flags override the recipe, which overrides the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import HfArgumentParser

from .arguments import DataArguments, DepthTrainingArguments, ModelArguments

RECIPE_TEXT_KEYS = ("description", "sources")
ARGUMENT_CLASSES = (ModelArguments, DataArguments, DepthTrainingArguments)


@dataclass
class ParsedArguments:
    model: ModelArguments
    data: DataArguments
    training: DepthTrainingArguments
    recipe: str | None


def argument_names() -> set[str]:
    """Every argument a recipe may set."""
    return {f.name for cls in ARGUMENT_CLASSES for f in dataclasses.fields(cls) if f.init}


def load_recipe(path: str | os.PathLike) -> dict[str, Any]:
    """The argument values of the recipe at `path` (without its free-text keys), checked for unknown keys."""
    path = Path(path)
    try:
        recipe = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no recipe at {path}") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON: {error}") from None
    if not isinstance(recipe, dict):
        raise ValueError(f"{path}: a recipe must be a JSON object of argument values")
    known = argument_names()
    for key in recipe:
        if key not in known and key not in RECIPE_TEXT_KEYS:
            raise ValueError(
                f"{path}: unknown recipe key {key!r}; a recipe holds arguments of ModelArguments, DataArguments or "
                f"DepthTrainingArguments (see train/train.py --help) and the text keys {', '.join(RECIPE_TEXT_KEYS)}"
            )
    sources = recipe.get("sources", {})
    if not isinstance(sources, dict):
        raise ValueError(f"{path}: 'sources' must map argument names to where their values come from")
    for key in sources:
        if key not in recipe or key in RECIPE_TEXT_KEYS:
            raise ValueError(f"{path}: 'sources' names {key!r}, which the recipe does not set")
    return {key: value for key, value in recipe.items() if key not in RECIPE_TEXT_KEYS}


def build_parser() -> HfArgumentParser:
    parser = HfArgumentParser(ARGUMENT_CLASSES)
    parser.add_argument("--recipe", default=None, help="JSON recipe (train/recipes/*.json); flags override its values")
    return parser


def _recipe_path(argv: Sequence[str]) -> str | None:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--recipe", default=None)
    return pre.parse_known_args(argv)[0].recipe


def _mentions(argv: Sequence[str], defaults: dict[str, Any], names: tuple[str, ...]) -> bool:
    flags = {f"--{name}" for name in names} | {f"--{name.replace('_', '-')}" for name in names}
    return any(name in defaults for name in names) or any(arg.split("=")[0] in flags for arg in argv)


def parse_arguments(argv: Sequence[str] | None = None) -> ParsedArguments:
    """Parse `argv` (default: the process's) on top of `--recipe` on top of the defaults.

    On a CUDA GPU that supports bf16, `bf16` defaults to True unless the recipe or the command line sets `bf16` or
    `fp16`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    recipe = _recipe_path(argv)
    defaults = load_recipe(recipe) if recipe is not None else {}
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported() and not _mentions(argv, defaults, ("bf16", "fp16")):
        defaults["bf16"] = True
    parser = build_parser()
    for action in parser._actions:  # a recipe may provide what the parser would require on the command line
        if action.dest in defaults:
            action.required = False
    parser.set_defaults(**defaults)
    model_args, data_args, training_args, _ = parser.parse_args_into_dataclasses(args=argv, look_for_args_file=False)
    return ParsedArguments(model_args, data_args, training_args, recipe)
