"""Held-out parts of datasets that have no published split, and the dataset specs that name them.

Neighbouring frames of a video are near-duplicates, so a random or strided hold-out leaks training frames into the
evaluation. `split_tail` holds out one contiguous block instead: the last `fraction` of the frames by index.

Specs:

* `"tail:F"` (a split name): the last fraction F of a dataset's frames, e.g. `"tail:0.2"`;
* `"LAYOUT:PATH"` (a folder): `open_dataset(PATH, LAYOUT)`, e.g. `"icl:../shared/data/rgbd/icl_livingroom1"`.
"""

from __future__ import annotations

import math
import os

import torch

from .registry import open_dataset


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


def parse_tail_split(split: str) -> float | None:
    """The fraction F of a `"tail:F"` split name; None for any other split name."""
    if not split.startswith("tail:"):
        return None
    try:
        fraction = float(split.removeprefix("tail:"))
    except ValueError:
        fraction = math.nan
    if not 0 < fraction < 1:
        raise ValueError(f"a held-out tail split is written tail:F with 0 < F < 1 (e.g. tail:0.2); got {split!r}")
    return fraction


def open_folder_spec(spec: str) -> torch.utils.data.Dataset:
    """The dataset of a `"LAYOUT:PATH"` spec (a layout name of `mde_hub.data.registry.LAYOUTS`, a colon, a path)."""
    layout, separator, path = spec.partition(":")
    if not separator or not layout or not path:
        raise ValueError(f"a folder is given as LAYOUT:PATH (e.g. icl:../shared/data/rgbd/icl_livingroom1); got {spec!r}")
    return open_dataset(os.path.expanduser(path), layout)
