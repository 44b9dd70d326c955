"""What the converters of the authors' PyTorch releases share: reading a pickled checkpoint safely, renaming its
model state by explicit rules, and filling a model with every weight or failing with the keys that do not fit."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

Rule = tuple[str, "str | Callable[[re.Match[str]], str]"]
"""(pattern, replacement): a key that fully matches `pattern` is renamed with `re.sub`-style `replacement`."""

# numpy arrays that training scripts store beside the weights (e.g. BTS's `best_eval_steps`), written by numpy 1
# (`numpy.core`) or numpy 2 (`numpy._core`): plain numeric arrays, reconstructed without running any other code.
_NUMPY_RECONSTRUCT = np._core.multiarray._reconstruct
_NUMPY_GLOBALS = [
    _NUMPY_RECONSTRUCT,
    (_NUMPY_RECONSTRUCT, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    *(type(np.dtype(kind)) for kind in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8")),
]


def load_pickled_checkpoint(source: str | os.PathLike | bytes) -> Any:
    """`torch.load(weights_only=True)` of a file path or its bytes (legacy or zip format), on the CPU. numpy arrays
    of plain numbers are allowed in it; any other class fails."""
    handle = io.BytesIO(source) if isinstance(source, bytes) else os.fspath(source)
    with torch.serialization.safe_globals(_NUMPY_GLOBALS):
        return torch.load(handle, map_location="cpu", weights_only=True)


def strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Remove a `(Distributed)DataParallel` prefix from every key that has it."""
    return {key.removeprefix(prefix): tensor for key, tensor in state_dict.items()}


def rename_state_dict(state_dict: dict[str, torch.Tensor], rules: Sequence[Rule], what: str) -> dict[str, torch.Tensor]:
    """Each key renamed by the first rule whose pattern it fully matches. A key no rule matches, or two keys that
    land on one name, raise a ValueError naming them (`what` names the file)."""
    renamed: dict[str, torch.Tensor] = {}
    unconsumed, clashes = [], []
    for key, tensor in state_dict.items():
        for pattern, replacement in rules:
            if re.fullmatch(pattern, key):
                target = re.sub(pattern, replacement, key)
                if target in renamed:
                    clashes.append(f"{key} -> {target}")
                renamed[target] = tensor
                break
        else:
            unconsumed.append(key)
    if unconsumed:
        raise ValueError(f"{what}: {len(unconsumed)} tensors match no conversion rule: {_listing(unconsumed)}")
    if clashes:
        raise ValueError(f"{what}: several tensors map onto one weight: {_listing(clashes)}")
    return renamed


def fill_model(model_class: type[nn.Module], config: Any, state_dict: dict[str, torch.Tensor], what: str) -> nn.Module:
    """`model_class(config)` (built on the meta device) holding exactly `state_dict`, in eval mode. Weights the file
    lacks, tensors the model lacks, and shape or dtype-kind mismatches raise a ValueError naming the keys."""
    with torch.device("meta"):
        model = model_class(config)
    expected = model.state_dict()
    missing = [key for key in expected if key not in state_dict]
    unexpected = [key for key in state_dict if key not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{what} does not fit {model_class.__name__}: missing {len(missing)} weights {_listing(missing)}; "
            f"{len(unexpected)} tensors the model lacks {_listing(unexpected)}"
        )
    wrong = [
        f"{key} {tuple(tensor.shape)} != {tuple(expected[key].shape)}"
        for key, tensor in state_dict.items()
        if tensor.shape != expected[key].shape or tensor.is_floating_point() != expected[key].is_floating_point()
    ]
    if wrong:
        raise ValueError(f"{what} does not fit {model_class.__name__}: shapes differ for {_listing(wrong)}")
    state = {key: tensor.to(expected[key].dtype).contiguous() for key, tensor in state_dict.items()}
    model.load_state_dict(state, strict=True, assign=True)
    return model.eval()


def describe_entry(name: str, value: Any) -> str:
    """One line for `ConversionResult.skipped`: what a non-weight entry of a checkpoint holds."""
    if isinstance(value, dict) and {"state", "param_groups"} <= set(value):
        return f"{name}: optimizer state ({len(value['param_groups'])} parameter groups, {len(value['state'])} states)"
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{name}: {type(value).__name__} of shape {tuple(value.shape)}"
    if isinstance(value, (int, float, str)):
        return f"{name} = {value!r}"
    return f"{name}: {type(value).__name__}"


def _listing(keys: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return f"[{shown}{', ...' if len(keys) > limit else ''}]"


DATASET_NAME_TOKENS = {"nyu": ("nyu",), "kitti": ("kitti", "eigen")}


def dataset_of(names: Sequence[str], dataset: str | None, what: str) -> str:
    """"nyu" or "kitti": `dataset` if given, else read off the released file's names (e.g. `AdaBins_kitti.pt`,
    `bts_eigen_v2_pytorch_densenet161/model`), which is how the authors tell their two models apart."""
    if dataset is not None:
        if dataset not in DATASET_NAME_TOKENS:
            raise ValueError(f"dataset must be one of {sorted(DATASET_NAME_TOKENS)}; got {dataset!r}")
        return dataset
    text = " ".join(names).lower()
    found = [name for name, tokens in DATASET_NAME_TOKENS.items() if any(token in text for token in tokens)]
    if len(found) != 1:
        raise ValueError(
            f"cannot tell from the names of {what} whether it is the NYU Depth v2 or the KITTI model; "
            "pass dataset='nyu' or dataset='kitti'"
        )
    return found[0]
