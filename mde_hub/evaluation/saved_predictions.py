"""Saved predictions (`.npy` files) matched to the samples of a data set, so that any model's output can be scored
by `mde-hub evaluate --predictions DIR` under the same protocols as ours.

A sample with id `kitti/2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png` is matched, in this
order, by a file whose path under `DIR` (without `.npy`, and without one of the suffixes `mde-hub predict`
appends, `OUTPUT_SUFFIXES`) is

1. the whole id without its extension: `kitti/2011_09_26/.../0000000069.npy`;
2. the id without its first component (the data set's name) and extension: `2011_09_26/.../0000000069.npy`;
3. the id's file name without extension, `0000000069.npy`, only when no other file under `DIR` has that name
   (else the match is ambiguous and refused).

Each file must hold one finite `(H, W)` (or `(1, H, W)`) floating-point array; its size may differ from the
ground truth's (the protocol resizes or pastes it, as it does a model's output).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path, PurePosixPath

import numpy as np

OUTPUT_SUFFIXES: tuple[str, ...] = (".depth", ".inverse_depth", ".relative_depth")
"""Suffixes before `.npy` in the file names `mde-hub predict` writes; they are ignored when matching."""


def _key(relative: PurePosixPath) -> str:
    """`a/b/name` for `a/b/name.npy` or `a/b/name.depth.npy`."""
    stem = str(relative)[: -len(".npy")]
    for suffix in OUTPUT_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _strip_extension(path: str) -> str:
    posix = PurePosixPath(path)
    return str(posix.with_suffix("")) if posix.suffix else path


class PredictionFolder:
    """The `.npy` predictions under `root` (searched recursively), looked up by sample id."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"no folder of predictions at {self.root}")
        self._by_key: dict[str, Path] = {}
        self._by_name: dict[str, list[Path]] = defaultdict(list)
        for path in sorted(self.root.rglob("*.npy")):
            key = _key(PurePosixPath(path.relative_to(self.root).as_posix()))
            if key in self._by_key:
                raise ValueError(f"{self.root}: {self._by_key[key].name} and {path.name} are predictions of the same image")
            self._by_key[key] = path
            self._by_name[PurePosixPath(key).name].append(path)
        if not self._by_key:
            raise ValueError(f"{self.root} holds no .npy predictions")

    def __len__(self) -> int:
        return len(self._by_key)

    def path_for(self, sample_id: str) -> Path:
        """The prediction file of the sample `sample_id` (rules in the module docstring)."""
        full = _strip_extension(sample_id.lstrip("/"))
        without_dataset = full.split("/", 1)[1] if "/" in full else full
        for key in (full, without_dataset):
            if key in self._by_key:
                return self._by_key[key]
        name = PurePosixPath(full).name
        candidates = self._by_name.get(name, [])
        if len(candidates) == 1:
            return candidates[0]
        if len(candidates) > 1:
            raise ValueError(
                f"sample {sample_id}: {len(candidates)} predictions are named {name}.npy under {self.root} "
                f"({', '.join(str(p.relative_to(self.root)) for p in candidates[:3])}); keep the data set's folders "
                f"({without_dataset}.npy)"
            )
        raise FileNotFoundError(
            f"no prediction for sample {sample_id} under {self.root}: expected {without_dataset}.npy (or {full}.npy, "
            f"or {name}.npy)"
        )

    def load(self, sample_id: str) -> np.ndarray:
        """The prediction of `sample_id` as a finite float64 `(H, W)` array; errors name the file."""
        path = self.path_for(sample_id)
        try:
            values = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as error:
            raise ValueError(f"{path}: not a readable .npy array ({error})") from None
        if values.ndim == 3 and values.shape[0] == 1:
            values = values[0]
        if values.ndim != 2 or min(values.shape) < 1:
            raise ValueError(f"{path}: a prediction must be one (H, W) map; got shape {values.shape}")
        if not np.issubdtype(values.dtype, np.floating):
            raise ValueError(f"{path}: a prediction must hold floating-point values; got {values.dtype}")
        if not np.isfinite(values).all():
            raise ValueError(f"{path}: {int((~np.isfinite(values)).sum())} values are NaN or infinite")
        return values.astype(np.float64)
