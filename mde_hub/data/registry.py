"""Opening a dataset by path: the published layouts are recognised from their files, or named explicitly.

A layout either has named splits (DenseDepth's `nyu_data.zip`: train, test; the labeled NYU .mat: all, train,
test; extra_real: all, train, heldout and its held-out scene groups, `mde_hub.data.npz_frames`) or is one set of frames (a folder of a video, KITTI's Eigen split, whose frames are the lines of its file
list). A split is honoured or refused, never ignored: naming a split the data set lacks is an error that names the
data set and the splits it has. With no split named, a layout's default is its first split, or all its frames.

Options some layouts take (and the others refuse): `split_file` (nyu_labeled: the official `splits.mat`,
default `splits.mat` beside the .mat; kitti_eigen: a BTS-style file list, required), `depth_field`
(nyu_labeled: `"rawDepths"`, the raw Kinect depth with 0 = invalid that BTS/AdaBins/DPT score against, by
default; or `"depths"`, the in-painted dense depth) and `gt_root` (kitti_eigen: the annotated depth folder).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .folder import (
    WRITTEN_FOLDER_INTRINSICS,
    icl_livingroom,
    icl_tum5000,
    kitti_samples,
    rgbd_folder,
    seven_scenes,
    sun3d_frames,
    tum_frames,
)
from .hf import HfDepthDataset, parquet_splits
from .kitti import KittiEigenSplit
from .npz_frames import SPLITS as NPZ_FRAMES_SPLITS
from .npz_frames import NpzFrames
from .nyu import (
    DENSEDEPTH_TEST_MEMBERS,
    NyuDenseDepth,
    NyuDenseDepthTest,
    NyuLabeledMat,
    densedepth_splits,
    nyu_raw_frames,
)

OPTIONS = ("split_file", "depth_field", "gt_root")
"""The keyword options of `open_dataset` that some layouts take."""


@dataclass(frozen=True)
class Layout:
    """A published layout. `open(path, split, options)` gets a split of `splits` (None when there are none)
    and only the `options` it takes; `splits` is a tuple, or a function of the path for data-defined splits."""

    name: str
    description: str
    matches: Callable[[Path], bool]
    open: Callable[[Path, str | None, dict[str, Any]], torch.utils.data.Dataset]
    splits: tuple[str, ...] | Callable[[Path], tuple[str, ...]] = ()
    options: tuple[str, ...] = ()

    def splits_of(self, path: Path) -> tuple[str, ...]:
        return self.splits(path) if callable(self.splits) else self.splits

    def resolve_split(self, path: Path, split: str | None, default_split: str | None = None) -> str | None:
        """The split to open: `split` if the data set has it; when None, `default_split` (if given) or the
        first split; None for a layout without splits. A split the data set lacks is an error."""
        splits = self.splits_of(path)
        if split is None and (not splits or default_split is None):
            return splits[0] if splits else None
        wanted = split if split is not None else default_split
        if wanted in splits:
            return wanted
        missing = f"{path} ({self.name} layout) has no split {wanted!r}"
        if not splits:
            raise ValueError(f"{missing}: it is one set of frames with no named splits")
        default = "" if split is not None else " (the default here)"
        raise ValueError(f"{missing}{default}: its splits are {', '.join(splits)}")


def _has(*names: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and all((path / name).exists() for name in names)


def _has_glob(pattern: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and next(path.glob(pattern), None) is not None


def _zip_with(*names: str) -> Callable[[Path], bool]:
    def matches(path: Path) -> bool:
        if path.suffix != ".zip" or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            members = set(archive.namelist())
        return any(name in members for name in names)

    return matches


def _open_kitti_eigen(path: Path, options: dict[str, Any]) -> KittiEigenSplit:
    missing = [name for name in ("split_file", "gt_root") if options.get(name) is None]
    if missing:
        raise ValueError(
            f"{path} (kitti_eigen layout) needs split_file (a BTS-style list such as eigen_test_files_with_gt.txt; "
            "--split-file) and gt_root (the annotated depth, data_depth_annotated; --gt-root); "
            f"missing: {', '.join(missing)}"
        )
    return KittiEigenSplit(path, options["gt_root"], options["split_file"], kb_crop=False)


LAYOUTS: tuple[Layout, ...] = (
    Layout("rgbd_folder", "image/NNNNNN.png + depth/NNNNNN.png + intrinsics.json (written by mde-hub, e.g. data synth)",
           _has("image", "depth", WRITTEN_FOLDER_INTRINSICS), lambda p, _, o: rgbd_folder(p)),
    Layout("densedepth_test", "DenseDepth nyu_test.zip: eigen_test_{rgb,depth,crop}.npy, the 654 Eigen test frames "
           "(in-painted depth) and DenseDepth's crop", _zip_with(*DENSEDEPTH_TEST_MEMBERS),
           lambda p, _, o: NyuDenseDepthTest(p), splits=("test",)),
    Layout("densedepth", "DenseDepth nyu_data.zip or its extracted folder (data/nyu2_train.csv, data/nyu2_test.csv)",
           lambda p: _zip_with("data/nyu2_train.csv", "data/nyu2_test.csv")(p) or _has_glob("data/nyu2_*.csv")(p),
           lambda p, split, o: NyuDenseDepth(p, split or "train"), splits=densedepth_splits),
    Layout("nyu_labeled", "NYU Depth v2 nyu_depth_v2_labeled.mat: all 1449 frames, or train (795) / test (654) of the "
           "official splits.mat; rawDepths (default) or in-painted depths",
           lambda p: p.suffix == ".mat",
           lambda p, split, o: NyuLabeledMat(p, split, o.get("split_file"), o.get("depth_field") or "rawDepths"),
           splits=("all", "train", "test"), options=("split_file", "depth_field")),
    Layout("icl", "ICL-NUIM folder: image/NNNNN.jpg + depth/NNNNN.png (mm)", _has("image", "depth"),
           lambda p, _, o: icl_livingroom(p)),
    Layout("7scenes", "Microsoft 7-Scenes: frames/frame-N.color.jpg + .depth.png", _has("frames", "camera-intrinsics.txt"),
           lambda p, _, o: seven_scenes(p)),
    Layout("kitti_samples", "KITTI frames: rgb/*.png + depth/*.png (/256) + test_annotations.json",
           _has("rgb", "depth", "test_annotations.json"), lambda p, _, o: kitti_samples(p)),
    Layout("extra_real", "frames.csv + FOLDER/FILE.npz (rgb, depth in metres, K), held-out scenes in named splits "
           "(mde_hub/data/npz_frames.py)", lambda p: _has("frames.csv")(p) and _has_glob("*/*.npz")(p),
           lambda p, split, o: NpzFrames(p, split or "all"), splits=NPZ_FRAMES_SPLITS),
    Layout("icl_tum5000", "ICL-NUIM in the TUM convention: color/N.png + depth/N.png (/5000)", _has("color", "depth", "pose.txt"),
           lambda p, _, o: icl_tum5000(p)),
    Layout("tum", "TUM RGB-D frame pair TUM_color.png + TUM_depth.png (/5000)", _has("TUM_color.png", "TUM_depth.png"),
           lambda p, _, o: tum_frames(p)),
    Layout("sun3d", "SUN3D frame pair SUN_color.jpg + SUN_depth.png (bit-rotated mm)", _has("SUN_color.jpg", "SUN_depth.png"),
           lambda p, _, o: sun3d_frames(p)),
    Layout("nyu_raw", "NYU Depth v2 raw dump: NYU_color.ppm + NYU_depth.pgm (Kinect disparity)",
           _has("NYU_color.ppm", "NYU_depth.pgm"), lambda p, _, o: nyu_raw_frames(p)),
    Layout("kitti_eigen", "KITTI raw drives (<date>/<drive>_sync/image_02/data) with a BTS-style Eigen list (split_file) "
           "and the annotated depth (gt_root); full frames, the protocol applies the KB crop",
           _has_glob("*/*_drive_*_sync"), lambda p, _, o: _open_kitti_eigen(p, o), options=("split_file", "gt_root")),
    Layout("hf_parquet", "Hugging Face dataset as parquet files (image + depth_map columns, depth in metres)",
           _has_glob("**/*.parquet"), lambda p, split, o: HfDepthDataset(p, split=split or "train"),
           splits=parquet_splits),
)


def find_layout(path: str | os.PathLike, layout: str | None = None) -> Layout:
    """The named layout, or the first layout whose files are at `path`."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no dataset at {path}")
    if layout is not None:
        by_name = {candidate.name: candidate for candidate in LAYOUTS}
        if layout not in by_name:
            raise ValueError(f"unknown layout {layout!r}; choose one of {sorted(by_name)}")
        return by_name[layout]
    for candidate in LAYOUTS:
        if candidate.matches(path):
            return candidate
    known = "\n".join(f"  {candidate.name}: {candidate.description}" for candidate in LAYOUTS)
    raise ValueError(f"{path} is in no layout mde-hub recognises. Known layouts:\n{known}")


def open_dataset(
    path: str | os.PathLike,
    layout: str | None = None,
    split: str | None = None,
    default_split: str | None = None,
    **options: Any,
) -> torch.utils.data.Dataset:
    """The dataset at `path`, in the named layout or the first layout whose files are there.

    `split`: a split the data set has (an error otherwise); None takes `default_split` where the layout has named
    splits (an error if it lacks it), else the layout's first split, or all the frames of a layout without splits.
    `options`: `split_file`, `depth_field`, `gt_root` (see the module docstring); None values are left out, and
    an option the layout does not take is an error.
    """
    return open_split(path, layout, split, default_split, **options)[0]


def open_split(
    path: str | os.PathLike,
    layout: str | None = None,
    split: str | None = None,
    default_split: str | None = None,
    **options: Any,
) -> tuple[torch.utils.data.Dataset, str | None]:
    """`open_dataset` and the split it opened (None for a layout without splits)."""
    found = find_layout(path, layout)
    path = Path(path)
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise TypeError(f"unknown options {unknown}; the options are {', '.join(OPTIONS)}")
    given = {name: value for name, value in options.items() if value is not None}
    refused = sorted(set(given) - set(found.options))
    if refused:
        takes = f"it takes {', '.join(found.options)}" if found.options else "it takes none"
        raise ValueError(f"{path} ({found.name} layout) does not take {', '.join(refused)}: {takes}")
    resolved = found.resolve_split(path, split, default_split)
    return found.open(path, resolved, given), resolved
