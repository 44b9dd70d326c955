"""Data-set specs: the one grammar, parser and formatter for naming a data set, a split of it or one of its frames in
a string. Every surface uses it: `mde-hub evaluate --dataset/--split`, `mde-hub data inspect PATH --split`,
train/train.py's `--dataset_path`/`--mix_folders`/`--eval_split` (and the splits named in `--mix_splits`),
train/ship.py's `figure --frames`, and the `source` and `split` an evaluation JSON records.

Grammar::

    dataset := "synthetic:" KIND ":" N [":" SEED]   N rendered frames, KIND indoor or outdoor, SEED 0 unless given
             | LAYOUT ":" PATH                      the data set at PATH in a named layout (registry.LAYOUTS)
             | PATH                                 the data set at PATH, its layout recognised from its files
    split   := NAME                                 a split the data set has (test, train, all, ...)
             | "tail:" F                            the last fraction F (0 < F < 1) of its frames by index
    frame   := dataset "@" INDEX                    frame INDEX of a data set
             | "synthetic:" SEED "@" INDEX          shorthand: indoor frame INDEX of seed SEED

`LAYOUT:PATH` is read as a layout only when the text before the first colon is a layout's name (`icl`,
`7scenes`, `nyu_labeled`, ...); any other text is a path, so `C:\\data` or `./a:b` stay paths. Examples:
`synthetic:indoor:200`, `synthetic:outdoor:50:3`, `icl:../shared/data/rgbd/icl_livingroom1`,
`data/nyu_test.zip`, split `tail:0.2`, frames `icl:../shared/data/rgbd/icl_livingroom1@175` and
`synthetic:1@5`. `str(spec)` formats a spec back in this grammar (`synthetic:indoor:200`, `icl:PATH`).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from typing import Any

import torch

from .registry import LAYOUTS, open_dataset, open_split
from .splits import split_tail

SYNTHETIC_KINDS = ("indoor", "outdoor")
TAIL_PREFIX = "tail:"
_SYNTHETIC = "synthetic:"
_SYNTHETIC_FORMS = "synthetic:indoor:N or synthetic:outdoor:N, optionally followed by :SEED (e.g. synthetic:indoor:200:1)"


def _layout_names() -> tuple[str, ...]:
    return tuple(layout.name for layout in LAYOUTS)


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed data-set spec: rendered synthetic frames (`synthetic` is its kind) or a data set on disk (`path`,
    with `layout` when the spec names one). `size` is None only for the `synthetic:SEED@INDEX` frame shorthand."""

    path: str | None = None
    layout: str | None = None
    synthetic: str | None = None
    size: int | None = None
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> "DatasetSpec":
        """The spec of `text` (the `dataset` rule of the grammar); a ValueError names a malformed one."""
        if not isinstance(text, str) or not text:
            raise ValueError(f"a data set is named by a non-empty spec (a path, LAYOUT:PATH or {_SYNTHETIC_FORMS}); "
                             f"got {text!r}")
        if text.startswith(_SYNTHETIC):
            parts = text.split(":")
            if len(parts) not in (3, 4) or parts[1] not in SYNTHETIC_KINDS or not all(p.isdigit() for p in parts[2:]):
                raise ValueError(f"data set spec {text!r}: synthetic data sets are written {_SYNTHETIC_FORMS}")
            return cls(synthetic=parts[1], size=int(parts[2]), seed=int(parts[3]) if len(parts) == 4 else 0)
        layout, separator, path = text.partition(":")
        if separator and layout in _layout_names():
            if not path:
                raise ValueError(f"data set spec {text!r}: LAYOUT:PATH needs a path after {layout}:")
            return cls(path=path, layout=layout)
        return cls(path=text)

    def __str__(self) -> str:
        if self.synthetic is not None:
            if self.size is None:
                return f"{_SYNTHETIC}{self.seed}"
            return f"{_SYNTHETIC}{self.synthetic}:{self.size}" + (f":{self.seed}" if self.seed else "")
        return f"{self.layout}:{self.path}" if self.layout else str(self.path)

    def open(
        self, split: str | None = None, default_split: str | None = None, layout: str | None = None, **options: Any
    ) -> tuple[torch.utils.data.Dataset, str | None]:
        """`(dataset, split)`: the data set and the split opened (None for synthetic frames and layouts without
        splits). `split` follows the grammar (`tail:F` on any data set on disk); `layout` is one given apart
        from the spec (`--layout`: a different one in the spec is an error); `default_split` and `options` are
        those of `mde_hub.data.registry.open_split` (None values are left out)."""
        if self.synthetic is not None:
            from .synthetic import SyntheticDepthDataset

            given = [name for name, value in (("layout", layout), ("split", split), *options.items()) if value is not None]
            if given:
                raise ValueError(f"{self} is one set of rendered frames; it takes no {', '.join(given)}")
            if self.size is None:
                raise ValueError(f"data set spec {self}: give the number of frames, {_SYNTHETIC_FORMS}")
            return SyntheticDepthDataset(self.synthetic, size=self.size, seed=self.seed), None
        if layout is not None and self.layout is not None and layout != self.layout:
            raise ValueError(f"data set spec {self} names layout {self.layout!r}, but layout {layout!r} was also given")
        layout = layout or self.layout
        path = os.path.expanduser(self.path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no dataset at {self.path}{self._layout_hint()}")
        fraction = None if split is None else tail_fraction(split)
        if fraction is not None:
            return split_tail(open_dataset(path, layout, **options), fraction)[1], split
        return open_split(path, layout, split, default_split, **options)

    def _layout_hint(self) -> str:
        prefix, separator, _ = str(self.path).partition(":")
        if self.layout is None and separator and re.fullmatch(r"\w+", prefix) and len(prefix) > 1:
            return f" ({prefix!r} is not a layout; LAYOUT:PATH takes one of {', '.join(_layout_names())})"
        return ""


def tail_fraction(split: str) -> float | None:
    """The fraction F of a `tail:F` split; None for a split name. A malformed `tail:` split is a ValueError."""
    if not split.startswith(TAIL_PREFIX):
        return None
    try:
        fraction = float(split.removeprefix(TAIL_PREFIX))
    except ValueError:
        fraction = math.nan
    if not 0 < fraction < 1:
        raise ValueError(f"a held-out tail split is written tail:F with 0 < F < 1 (e.g. tail:0.2); got {split!r}")
    return fraction


def open_spec(
    spec: str | DatasetSpec,
    layout: str | None = None,
    split: str | None = None,
    default_split: str | None = None,
    **options: Any,
) -> tuple[torch.utils.data.Dataset, str | None]:
    """`(dataset, split)` of a data-set spec (a string in the grammar above, or a parsed one), with the layout,
    split and layout options a surface gives separately (`--layout`, `--split`, `--split-file`, ...)."""
    parsed = spec if isinstance(spec, DatasetSpec) else DatasetSpec.parse(spec)
    return parsed.open(split, default_split, layout, **options)


def parse_frame(text: str) -> tuple[DatasetSpec, int]:
    """`(dataset spec, index)` of a frame spec `DATASET@INDEX` (or `synthetic:SEED@INDEX`)."""
    source, separator, index = text.rpartition("@")
    if not separator or not index.isdigit():
        raise ValueError(f"frame spec {text!r}: a frame is written DATASET@INDEX (e.g. icl:PATH@175 or synthetic:1@5)")
    if re.fullmatch(r"synthetic:\d+", source):
        return DatasetSpec(synthetic="indoor", seed=int(source.removeprefix(_SYNTHETIC))), int(index)
    return DatasetSpec.parse(source), int(index)


def open_frame(text: str) -> Any:
    """The `DepthSample` a frame spec names."""
    spec, index = parse_frame(text)
    if spec.synthetic is not None and spec.size is None:
        spec = DatasetSpec(synthetic=spec.synthetic, size=index + 1, seed=spec.seed)
    dataset, _ = spec.open()
    if index >= len(dataset):
        raise ValueError(f"frame spec {text!r}: {spec} has {len(dataset)} frames, so no frame {index}")
    return dataset[index]
