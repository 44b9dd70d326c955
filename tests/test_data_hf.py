"""Hugging Face datasets as depth samples (mde_hub.data.hf), on a 3-row parquet dataset written by the test
(HF_HUB_OFFLINE=1 from conftest: nothing is fetched)."""

import sys

import numpy as np
import PIL.Image
import pytest

datasets = pytest.importorskip("datasets")

from mde_hub.data.hf import HfDepthDataset, parquet_splits  # noqa: E402
from mde_hub.data.registry import open_dataset, open_split  # noqa: E402
from mde_hub.data.sample import Intrinsics  # noqa: E402

H, W = 4, 5


def _rows() -> dict[str, list]:
    """Three rows; row k has depth (k + 1) * 1.25 m at (1, 2) and 0 (invalid) elsewhere, in four encodings."""
    columns = {"image": [], "depth_mm": [], "depth_map": [], "depth_array": [], "depth_int_array": []}
    for k in range(3):
        metres = np.zeros((H, W), np.float32)
        metres[1, 2] = (k + 1) * 1.25
        image = np.full((H, W, 3), 10 * k, np.uint8)
        image[0, 0] = (1, 2, 3)
        columns["image"].append(PIL.Image.fromarray(image))
        columns["depth_mm"].append(PIL.Image.fromarray((metres * 1000).astype(np.uint16)))  # 16-bit PNG
        columns["depth_map"].append(PIL.Image.fromarray(metres))  # mode "F", metres
        columns["depth_array"].append(metres)
        columns["depth_int_array"].append((metres * 256).astype(np.uint16))
    return columns


FEATURES = datasets.Features(
    {
        "image": datasets.Image(),
        "depth_mm": datasets.Image(),
        "depth_map": datasets.Image(),
        "depth_array": datasets.Array2D((H, W), "float32"),
        "depth_int_array": datasets.Array2D((H, W), "uint16"),
    }
)


@pytest.fixture
def parquet_dir(tmp_path):
    folder = tmp_path / "nyu_tiny"
    (folder / "data").mkdir(parents=True)
    dataset = datasets.Dataset.from_dict(_rows(), features=FEATURES)
    dataset.select([0, 1]).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    dataset.select([2]).to_parquet(str(folder / "data" / "test-00000-of-00001.parquet"))
    return folder


@pytest.mark.parametrize(
    "column, scale", [("depth_mm", 1000.0), ("depth_map", None), ("depth_array", None), ("depth_int_array", 256.0)]
)
def test_parquet_folder_decodes_every_depth_column_to_metres(parquet_dir, tmp_path, column, scale):
    camera = Intrinsics(518.8579, 518.8579, 2.0, 1.5)
    train = HfDepthDataset(parquet_dir, depth_column=column, depth_scale=scale, intrinsics=camera, name="tiny",
                           cache_dir=tmp_path / "cache")
    assert len(train) == 2
    sample = train[1]
    assert sample.id == "tiny/1" and sample.intrinsics == camera
    assert sample.image.shape == (H, W, 3) and sample.image.dtype == np.uint8
    assert sample.image[0, 0].tolist() == [1, 2, 3] and sample.image[3, 4].tolist() == [10, 10, 10]
    assert sample.depth.dtype == np.float32 and sample.depth[1, 2] == 2.5
    assert sample.valid.sum() == 1 and sample.valid[1, 2]
    test = HfDepthDataset(
        parquet_dir, depth_column=column, depth_scale=scale, split="test", cache_dir=tmp_path / "cache"
    )
    assert len(test) == 1 and test[0].depth[1, 2] == 3.75 and test[0].id == "hf/0"


def test_in_memory_dataset_dict_and_single_parquet_file(parquet_dir, tmp_path):
    dataset = datasets.Dataset.from_dict(_rows(), features=FEATURES)
    assert HfDepthDataset(dataset, depth_column="depth_mm", depth_scale=1000)[2].depth[1, 2] == 3.75
    splits = datasets.DatasetDict({"validation": dataset.select([0])})
    assert HfDepthDataset(splits, split="validation")[0].depth[1, 2] == 1.25
    with pytest.raises(KeyError, match="no split 'train' in the DatasetDict \\(splits: validation\\)"):
        HfDepthDataset(splits)
    single = parquet_dir / "data" / "test-00000-of-00001.parquet"
    assert len(HfDepthDataset(single, split="test", cache_dir=tmp_path / "cache")) == 1


def test_parquet_layout_honours_the_folder_splits_only(parquet_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")  # open_dataset's default cache
    assert parquet_splits(parquet_dir) == ("train", "test")
    assert len(open_dataset(parquet_dir)) == 2  # its first split: train
    dataset, split = open_split(parquet_dir, default_split="test")
    assert split == "test" and len(dataset) == 1
    with pytest.raises(ValueError, match=r"nyu_tiny \(hf_parquet layout\) has no split 'validation': its splits are train, test"):
        open_dataset(parquet_dir, split="validation")
    (parquet_dir / "data" / "test-00000-of-00001.parquet").unlink()
    with pytest.raises(ValueError, match=r"has no split 'test' \(the default here\): its splits are train"):
        open_dataset(parquet_dir, default_split="test")
    single = parquet_dir / "data" / "train-00000-of-00001.parquet"
    assert len(open_dataset(single, "hf_parquet")) == 2  # one file: all its rows
    with pytest.raises(ValueError, match="it is one set of frames with no named splits"):
        open_dataset(single, "hf_parquet", split="train")


def test_errors_are_explicit(parquet_dir, tmp_path, monkeypatch):
    dataset = datasets.Dataset.from_dict(_rows(), features=FEATURES)
    with pytest.raises(ValueError, match=r"hf\[0\] column 'depth_mm': integer depth \(uint16\) has no unit; pass"):
        HfDepthDataset(dataset, depth_column="depth_mm")[0]
    with pytest.raises(KeyError, match="no column 'depth'; the dataset has image, depth_mm"):
        HfDepthDataset(dataset, depth_column="depth")
    with pytest.raises(ValueError, match="depth_scale must be positive"):
        HfDepthDataset(dataset, depth_scale=0)
    with pytest.raises(ValueError, match="column 'image': depth must be one channel"):
        HfDepthDataset(dataset, depth_column="image", depth_scale=1.0)[0]
    mismatched = datasets.Dataset.from_dict(
        {"image": _rows()["image"][:1], "depth": [np.ones((2, 4), np.float32)]},
        features=datasets.Features({"image": datasets.Image(), "depth": datasets.Array2D((2, 4), "float32")}),
    )
    with pytest.raises(ValueError, match=r"image hf\[0\] column 'image' is 5x4 but its depth .*'depth' is 4x2"):
        HfDepthDataset(mismatched, depth_column="depth")[0]
    with pytest.raises(FileNotFoundError, match=r"no parquet file or folder at .*absent"):
        HfDepthDataset(tmp_path / "absent")
    with pytest.raises(TypeError, match="got list"):
        HfDepthDataset([1, 2])
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'mde-hub\[hf\]'"):
        HfDepthDataset(dataset)
