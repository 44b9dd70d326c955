"""Writing synthetic frames in DenseDepth's NYU layout (`nyu_data.zip` extracted; docs/MODELS.md §2.4), readable by
`mde_hub.data.nyu.NyuDenseDepth` and by DenseDepth's own loaders.

* train: `data/nyu2_train.csv` lists `data/nyu2_train/<scene>/<n>.jpg,data/nyu2_train/<scene>/<n>.png`; depth
  PNGs are 8-bit, 0-255 mapping linearly to 0-10 m (code = round(depth / 10 * 255)), so the quantisation error is at
  most 10 / 255 / 2 m. `<scene>` groups 1000 frames (`synthetic_<kind>_seed<seed>_<index // 1000>`) and `<n>`
  is the frame index.
* test: `data/nyu2_test.csv` lists `data/nyu2_test/NNNNN_colors.png,data/nyu2_test/NNNNN_depth.png`; depth PNGs
  are 16-bit millimetres (code = round(depth * 1000)).

Invalid depth is written as 0 (which both encodings read back as invalid). Outdoor frames are refused (write them with `folder.write_rgbd_folder`, KITTI's /256 encoding): their depth
reaches 80 m, beyond both encodings (10 m in 8 bits, 65.535 m in 16-bit millimetres), and clipping it would teach
a model that everything far is 10 m away. Every file is written under a temporary name and renamed into place, the
CSV last, so an interrupted export never leaves a truncated file or a list naming missing files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import PIL.Image

from ..files import atomic_output
from ..folder import PathLike, write_rgbd_folder
from ..sample import DepthSample
from .dataset import SyntheticDepthDataset

TRAIN_MAX_DEPTH = 10.0
"""Depth (m) of the 8-bit code 255 in DenseDepth's training PNGs."""

FRAMES_PER_SCENE = 1000


def _save_image(path: Path, array: np.ndarray, image_format: str, **options) -> None:
    with atomic_output(path) as temporary:
        PIL.Image.fromarray(array).save(temporary, format=image_format, **options)


def encode_train_depth(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """DenseDepth's 8-bit training depth: round(depth / 10 m * 255), 0 where invalid."""
    codes = np.rint(np.clip(depth.astype(np.float64), 0.0, TRAIN_MAX_DEPTH) * (255.0 / TRAIN_MAX_DEPTH))
    return np.where(valid, codes, 0).astype(np.uint8)


def encode_test_depth(depth: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """DenseDepth's 16-bit test depth: millimetres, 0 where invalid."""
    return np.where(valid, np.rint(depth.astype(np.float64) * 1000.0), 0).astype(np.uint16)


def write_densedepth_layout(
    dataset: SyntheticDepthDataset,
    out_dir: PathLike,
    split: Literal["train", "test"] = "train",
    batch_size: int = 8,
    jpeg_quality: int = 95,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render every frame of an indoor `dataset` into `out_dir` in DenseDepth's layout; returns the CSV path.

    Train images are JPEG (quality `jpeg_quality`) like `nyu_data.zip`'s; test images are PNG. Existing files of
    the same names are replaced. `progress(done, total)` is called before the first frame and after each.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if dataset.max_depth > TRAIN_MAX_DEPTH:
        raise ValueError(
            "DenseDepth's NYU layout stores depth up to 10 m (8-bit train PNGs) or 65.535 m (16-bit mm test PNGs), "
            f"but {dataset.kind} synthetic depth reaches {dataset.max_depth:g} m; export indoor datasets only "
            "(clipping far depth would corrupt the supervision)"
        )
    root = Path(out_dir)
    lines = []
    if progress is not None:
        progress(0, len(dataset))
    for start in range(0, len(dataset), batch_size):
        indices = list(range(start, min(start + batch_size, len(dataset))))
        for index, sample in zip(indices, dataset.render_batch(indices)):
            lines.append(_write_frame(root, dataset, index, sample, split, jpeg_quality))
            if progress is not None:
                progress(index + 1, len(dataset))
    csv_path = root / "data" / f"nyu2_{split}.csv"
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(csv_path) as temporary:
        temporary.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return csv_path


def _write_frame(
    root: Path, dataset: SyntheticDepthDataset, index: int, sample: DepthSample, split: str, jpeg_quality: int
) -> str:
    """Write one frame's image and depth; return its CSV line."""
    if split == "train":
        folder = f"data/nyu2_train/synthetic_{dataset.kind}_seed{dataset.seed}_{index // FRAMES_PER_SCENE:04d}"
        rgb_name, depth_name = f"{folder}/{index}.jpg", f"{folder}/{index}.png"
        (root / folder).mkdir(parents=True, exist_ok=True)
        _save_image(root / rgb_name, sample.image, "JPEG", quality=jpeg_quality)
        _save_image(root / depth_name, encode_train_depth(sample.depth, sample.valid), "PNG")
    else:
        rgb_name, depth_name = f"data/nyu2_test/{index:05d}_colors.png", f"data/nyu2_test/{index:05d}_depth.png"
        (root / "data" / "nyu2_test").mkdir(parents=True, exist_ok=True)
        _save_image(root / rgb_name, sample.image, "PNG")
        _save_image(root / depth_name, encode_test_depth(sample.depth, sample.valid), "PNG")
    return f"{rgb_name},{depth_name}"


def write_synthetic(
    dataset: SyntheticDepthDataset,
    out_dir: PathLike,
    split: Literal["train", "test"] = "train",
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """`mde-hub data synth`'s files: indoor frames in DenseDepth's NYU layout (`write_densedepth_layout`, `split`
    choosing its 8-bit train or 16-bit test PNGs), outdoor frames as a KITTI-encoded (value / 256) folder
    (`folder.write_rgbd_folder`). Returns what names the written frames: the NYU layout's CSV list, or the folder.
    `progress(done, total)` is called before the first frame and after each is written."""
    if dataset.kind == "indoor":
        return write_densedepth_layout(dataset, out_dir, split=split, progress=progress)
    return write_rgbd_folder(_frames(dataset, progress), out_dir)


def _frames(dataset: SyntheticDepthDataset, progress: Callable[[int, int], None] | None) -> Iterator[DepthSample]:
    """The frames of `dataset` in order, reporting each as done when the next is asked for (once it is written)."""
    if progress is not None:
        progress(0, len(dataset))
    for index in range(len(dataset)):
        yield dataset[index]
        if progress is not None:
            progress(index + 1, len(dataset))
