"""Held-out parts of datasets that have no published split.

Neighbouring frames of a video are near-duplicates, so a random or strided hold-out leaks training frames into the
evaluation. `split_tail` holds out one contiguous block instead: the last `fraction` of the frames by index. The
split `tail:F` names it in a spec (`mde_hub.data.specs`, the one grammar of data-set specs and splits).
"""

from __future__ import annotations

import math

import torch

from .._deprecated_modules import deprecated_function


def held_out_count(length: int, fraction: float) -> int:
    """How many of `length` frames the tail `fraction` holds: round(length * fraction), at least 1 and at most
    length - 1 so that both parts are non-empty."""
    if not 0 < fraction < 1:
        raise ValueError(f"the held-out fraction must be in (0, 1); got {fraction}")
    if length < 2:
        raise ValueError(f"cannot split {length} frame(s) into a training part and a held-out part")
    return min(length - 1, max(1, math.floor(length * fraction + 0.5)))


def split_tail(
    dataset: torch.utils.data.Dataset, fraction: float
) -> tuple[torch.utils.data.Subset, torch.utils.data.Subset]:
    """`(train, held_out)`: the first frames by index, and the contiguous last `fraction` of them."""
    length = len(dataset)
    boundary = length - held_out_count(length, fraction)
    return (
        torch.utils.data.Subset(dataset, list(range(boundary))),
        torch.utils.data.Subset(dataset, list(range(boundary, length))),
    )


parse_tail_split = deprecated_function("mde_hub.data.splits.parse_tail_split", "mde_hub.data.specs.tail_fraction")
open_folder_spec = deprecated_function(
    "mde_hub.data.splits.open_folder_spec", "mde_hub.data.specs.open_spec", adapt=lambda opened: opened[0]
)
