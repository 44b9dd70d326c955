"""Opening a dataset by path: the published layouts are recognised from their files, or named explicitly."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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
from .hf import HfDepthDataset
from .nyu import NyuDenseDepth, NyuLabeledMat, nyu_raw_frames


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    matches: Callable[[Path], bool]
    open: Callable[[Path, str], torch.utils.data.Dataset]


def _has(*names: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and all((path / name).exists() for name in names)


def _has_glob(pattern: str) -> Callable[[Path], bool]:
    return lambda path: path.is_dir() and next(path.glob(pattern), None) is not None


LAYOUTS: tuple[Layout, ...] = (
    Layout("rgbd_folder", "image/NNNNNN.png + depth/NNNNNN.png + intrinsics.json (written by mde-hub, e.g. data synth)",
           _has("image", "depth", WRITTEN_FOLDER_INTRINSICS), lambda p, _: rgbd_folder(p)),
    Layout("densedepth", "DenseDepth nyu_data.zip or its extracted folder (data/nyu2_train.csv, data/nyu2_test.csv)",
           lambda p: p.suffix == ".zip" or _has_glob("data/nyu2_*.csv")(p), lambda p, split: NyuDenseDepth(p, split)),
    Layout("nyu_labeled", "NYU Depth v2 nyu_depth_v2_labeled.mat (all 1449 frames)",
           lambda p: p.suffix == ".mat", lambda p, split: NyuLabeledMat(p, "all")),
    Layout("icl", "ICL-NUIM folder: image/NNNNN.jpg + depth/NNNNN.png (mm)", _has("image", "depth"), lambda p, _: icl_livingroom(p)),
    Layout("7scenes", "Microsoft 7-Scenes: frames/frame-N.color.jpg + .depth.png", _has("frames", "camera-intrinsics.txt"),
           lambda p, _: seven_scenes(p)),
    Layout("kitti_samples", "KITTI frames: rgb/*.png + depth/*.png (/256) + test_annotations.json",
           _has("rgb", "depth", "test_annotations.json"), lambda p, _: kitti_samples(p)),
    Layout("icl_tum5000", "ICL-NUIM in the TUM convention: color/N.png + depth/N.png (/5000)", _has("color", "depth", "pose.txt"),
           lambda p, _: icl_tum5000(p)),
    Layout("tum", "TUM RGB-D frame pair TUM_color.png + TUM_depth.png (/5000)", _has("TUM_color.png", "TUM_depth.png"),
           lambda p, _: tum_frames(p)),
    Layout("sun3d", "SUN3D frame pair SUN_color.jpg + SUN_depth.png (bit-rotated mm)", _has("SUN_color.jpg", "SUN_depth.png"),
           lambda p, _: sun3d_frames(p)),
    Layout("nyu_raw", "NYU Depth v2 raw dump: NYU_color.ppm + NYU_depth.pgm (Kinect disparity)",
           _has("NYU_color.ppm", "NYU_depth.pgm"), lambda p, _: nyu_raw_frames(p)),
    Layout("hf_parquet", "Hugging Face dataset as parquet files (image + depth_map columns, depth in metres)",
           _has_glob("**/*.parquet"), lambda p, split: HfDepthDataset(p, split=split)),
)


def open_dataset(path: str | os.PathLike, layout: str | None = None, split: str = "train") -> torch.utils.data.Dataset:
    """The dataset at `path`, in the named layout or the first layout whose files are there."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No dataset at {path}")
    if layout is not None:
        by_name = {candidate.name: candidate for candidate in LAYOUTS}
        if layout not in by_name:
            raise ValueError(f"Unknown layout {layout!r}; choose one of {sorted(by_name)}.")
        return by_name[layout].open(path, split)
    for candidate in LAYOUTS:
        if candidate.matches(path):
            return candidate.open(path, split)
    known = "\n".join(f"  {candidate.name}: {candidate.description}" for candidate in LAYOUTS)
    raise ValueError(f"{path} is in no layout mde-hub recognises. Known layouts:\n{known}")
