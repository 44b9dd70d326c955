"""RGB-D datasets in the Hugging Face `datasets` format (e.g. Hub copies of NYU Depth v2 with `image` and
`depth_map` columns), as `DepthSample` datasets. `datasets` is an optional dependency (the `hf` extra)
and is imported only when a dataset is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image
import torch

from .folder import check_same_size
from .images import to_rgb_uint8
from .sample import DepthSample, Intrinsics


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ImportError(
            "HfDepthDataset needs the Hugging Face `datasets` package: "
            "pip install 'mde-hub[hf]' (or pip install datasets)"
        ) from None
    return datasets


class HfDepthDataset(torch.utils.data.Dataset):
    """Rows of a `datasets.Dataset` (or `DatasetDict`, or a local parquet file or folder) as depth samples.

    `dataset_or_path`: a `Dataset`; a `DatasetDict` (`split` picks one); or a local `.parquet` file, or
    a folder of them, loaded with `datasets.load_dataset("parquet", ...)` (a folder's files are assigned to splits
    by name, e.g. `data/train-00000-of-00001.parquet`). Hub datasets are not fetched here: load them yourself and
    pass the result.

    The image column holds images (PIL) or (H, W, 3) uint8 arrays. The depth column holds one-channel images or
    arrays. Float values are metres (divided by `depth_scale` when given); integer values (16-bit PNGs, integer
    arrays) need `depth_scale`, the number of stored units per metre (1000 for millimetres, 256 for KITTI), and
    are never guessed. 0, negative and non-finite depths are invalid. ids are `"<name>/<row index>"`.
    """

    def __init__(
        self,
        dataset_or_path: Any,
        image_column: str = "image",
        depth_column: str = "depth_map",
        depth_scale: float | None = None,
        split: str = "train",
        intrinsics: Intrinsics | None = None,
        name: str = "hf",
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        if depth_scale is not None and not depth_scale > 0:
            raise ValueError(f"depth_scale must be positive, got {depth_scale}")
        datasets = _import_datasets()
        dataset = _load_split(datasets, dataset_or_path, split, cache_dir)
        missing = [column for column in (image_column, depth_column) if column not in dataset.column_names]
        if missing:
            raise KeyError(f"{name}: no column {missing[0]!r}; the dataset has {', '.join(dataset.column_names)}")
        # Arrays come out as numpy with their dtype (a 16-bit depth image as uint16); an Image-typed image column
        # stays PIL so that any mode (L, P, RGBA) converts to RGB.
        as_numpy = [depth_column]
        if not isinstance(dataset.features[image_column], datasets.Image):
            as_numpy.append(image_column)
        self.dataset = dataset.select_columns(list(dict.fromkeys([image_column, depth_column]))).with_format(
            "numpy", columns=as_numpy, output_all_columns=True
        )
        self.image_column, self.depth_column = image_column, depth_column
        self.depth_scale, self.intrinsics, self.name = depth_scale, intrinsics, name

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> DepthSample:
        row = self.dataset[index]
        image_source = f"{self.name}[{index}] column {self.image_column!r}"
        depth_source = f"{self.name}[{index}] column {self.depth_column!r}"
        image = _image_array(row[self.image_column], image_source)
        depth = self._metres(np.asarray(row[self.depth_column]), depth_source)
        check_same_size(image, depth, image_source, depth_source)
        return DepthSample.from_depth(image, depth, self.intrinsics, f"{self.name}/{index}")

    def _metres(self, depth: np.ndarray, source: str) -> np.ndarray:
        if depth.ndim == 3 and depth.shape[-1] == 1:
            depth = depth[..., 0]
        if depth.ndim != 2:
            raise ValueError(f"{source}: depth must be one channel (H, W); got shape {depth.shape}")
        if np.issubdtype(depth.dtype, np.integer):
            if self.depth_scale is None:
                raise ValueError(
                    f"{source}: integer depth ({depth.dtype}) has no unit; pass depth_scale, the stored units per "
                    "metre (1000 for millimetres, 256 for KITTI)"
                )
        elif not np.issubdtype(depth.dtype, np.floating):
            raise ValueError(f"{source}: depth must be integer or float, got {depth.dtype}")
        return depth.astype(np.float64) / (self.depth_scale or 1.0)


def parquet_splits(path: str | os.PathLike) -> tuple[str, ...]:
    """The splits `datasets` assigns a folder's parquet files to (by file or folder name, e.g. `train-*`),
    found without reading the files; none for a single parquet file."""
    if not Path(path).is_dir():
        return ()
    builder = _import_datasets().load_dataset_builder("parquet", data_dir=str(path))
    return tuple(builder.config.data_files)


def _load_split(datasets: Any, source: Any, split: str, cache_dir: str | os.PathLike | None) -> Any:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        cache = None if cache_dir is None else str(cache_dir)
        if path.is_dir():
            return datasets.load_dataset("parquet", data_dir=str(path), split=split, cache_dir=cache)
        if path.is_file() and path.suffix == ".parquet":
            return datasets.load_dataset("parquet", data_files={split: [str(path)]}, split=split, cache_dir=cache)
        raise FileNotFoundError(
            f"no parquet file or folder at {path}; for a Hub dataset pass datasets.load_dataset(name, split=...)"
        )
    if isinstance(source, datasets.DatasetDict):
        if split not in source:
            raise KeyError(f"no split {split!r} in the DatasetDict (splits: {', '.join(source)})")
        return source[split]
    if isinstance(source, datasets.Dataset):
        return source
    raise TypeError(f"expected a datasets.Dataset, DatasetDict or a parquet path, got {type(source).__name__}")


def _image_array(value: Any, source: str) -> np.ndarray:
    if isinstance(value, PIL.Image.Image):
        return to_rgb_uint8(value)
    array = np.asarray(value)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise ValueError(f"{source}: expected an image or an (H, W, 3) uint8 array; got {array.dtype} {array.shape}")
    return array
