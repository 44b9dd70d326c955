"""Held-out parts of datasets that have no published split, and the dataset specs that name them.

Neighbouring frames of a video are near-duplicates, so a random or strided hold-out leaks training frames into the
evaluation. `split_tail` holds out one contiguous block instead: the last `fraction` of the frames by index.

Specs:

* `"tail:F"` (a split name): the last fraction F of a dataset's frames, e.g. `"tail:0.2"`;
* `"LAYOUT:PATH"` (a folder): `open_dataset(PATH, LAYOUT)`, e.g. `"icl:../shared/data/rgbd/icl_livingroom1"`;
* `"synthetic:indoor:N[:SEED]"` / `"synthetic:outdoor:N[:SEED]"` (a data set to evaluate on): N rendered frames.
"""

from __future__ import annotations

import math
import os

import torch

from .registry import open_dataset, open_split


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


def open_evaluation_data(
    spec: str, layout: str | None = None, split: str | None = None, **options: str | None
) -> tuple[torch.utils.data.Dataset, str | None]:
    """`(dataset, split)`: a dataset path (layout detected or named; `split` one it has, by default test where it
    has named splits, else all its frames; `tail:F` = the last fraction F of its frames by index) and the split
    scored, or `synthetic:indoor:N[:SEED]` / `synthetic:outdoor:N[:SEED]` (seed 0 unless given) and None.
    `options`: the layout options of `open_dataset`."""
    if spec.startswith("synthetic:"):
        from .synthetic import SyntheticDepthDataset

        parts = spec.split(":")
        if len(parts) not in (3, 4) or parts[1] not in ("indoor", "outdoor") or not all(p.isdigit() for p in parts[2:]):
            raise ValueError(
                f"Synthetic datasets are written synthetic:indoor:N or synthetic:outdoor:N, optionally followed by "
                f":SEED; got {spec!r}."
            )
        given = [name for name, value in (("layout", layout), ("split", split), *options.items()) if value is not None]
        if given:
            raise ValueError(f"{spec} is one set of rendered frames; it takes no {', '.join(given)}")
        return SyntheticDepthDataset(parts[1], size=int(parts[2]), seed=int(parts[3]) if len(parts) == 4 else 0), None
    fraction = None if split is None else parse_tail_split(split)
    if fraction is not None:
        return split_tail(open_dataset(spec, layout, **options), fraction)[1], split
    return open_split(spec, layout, split, "test", **options)
