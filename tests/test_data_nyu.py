"""NYU Depth v2 loaders (mde_hub.data.nyu) on fixtures written in the published layouts: the v7.3 labeled .mat with
its transposed axes and the v5 splits.mat (also through open_dataset and `mde-hub evaluate`), DenseDepth's
nyu_data.zip and nyu_test.zip, and the BTS/AdaBins sync folders."""

import io
import json
import os
import pickle
import zipfile
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import PIL.Image
import pytest
import scipy.io
import torch

from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.data import nyu
from mde_hub.data.frames import NYU_INTRINSICS
from mde_hub.data.nyu import NyuDenseDepth, NyuDenseDepthTest, NyuLabeledMat, NyuSyncFolder
from mde_hub.data.registry import open_dataset, open_split
from mde_hub.data.sample import Intrinsics
from mde_hub.evaluation.protocols import PROTOCOLS, AbsoluteCrop
from mde_hub.training import DataArguments, build_datasets

H, W = 480, 640


def _png_bytes(array: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    PIL.Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


def _save(path, array: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.fromarray(array).save(path)


# ------------------------------------------------------------------------------------------ labeled .mat

N_FRAMES = 4


def _labeled_frames() -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W, 3) uint8 images and (N, H, W) depths; frame k has the unique value k+1 (image) / k+1.5 m (depth)
    at row 1, col 2, and filled depth 2 m elsewhere."""
    images = np.zeros((N_FRAMES, H, W, 3), np.uint8)
    depths = np.full((N_FRAMES, H, W), 2.0, np.float32)
    for k in range(N_FRAMES):
        images[k, 1, 2] = (k + 1, 100 + k, 200 + k)
        depths[k, 1, 2] = k + 1.5
    return images, depths


def _write_labeled_mat(path, images=None, depths=None, keys=("images", "depths", "rawDepths"), raw=None) -> None:
    """MATLAB v7.3 column-major storage as h5py sees it: images [N, C, W, H], depths [N, W, H]. rawDepths are
    `raw`, by default the depths with row 0 missing (0)."""
    if images is None:
        images, depths = _labeled_frames()
    if raw is None:
        raw = depths.copy()
        raw[:, 0, :] = 0.0  # raw Kinect depth has holes
    arrays = {
        "images": images.transpose(0, 3, 2, 1),
        "depths": depths.transpose(0, 2, 1),
        "rawDepths": raw.transpose(0, 2, 1),
    }
    with h5py.File(path, "w") as mat:
        for key in keys:
            mat.create_dataset(key, data=arrays[key])


@pytest.fixture
def labeled(tmp_path):
    mat_path, splits_path = tmp_path / "nyu_depth_v2_labeled.mat", tmp_path / "splits.mat"
    _write_labeled_mat(mat_path)
    # 1-based column vectors of MATLAB doubles, as in the official splits.mat
    scipy.io.savemat(splits_path, {"trainNdxs": np.array([[1.0], [3.0]]), "testNdxs": np.array([[2.0], [4.0]])})
    return mat_path, splits_path


def test_labeled_mat_transposes_and_selects_official_split(labeled):
    mat_path, splits_path = labeled
    train = NyuLabeledMat(mat_path, "train", splits_path)
    test = NyuLabeledMat(mat_path, "test", splits_path)
    assert len(train) == 2 and len(test) == 2 and len(NyuLabeledMat(mat_path, "all")) == N_FRAMES
    assert [s.id for s in train] == ["nyu_labeled/00000", "nyu_labeled/00002"]
    assert [s.id for s in test] == ["nyu_labeled/00001", "nyu_labeled/00003"]
    sample = test[1]  # 1-based testNdxs 4 -> frame 3
    assert sample.image.shape == (H, W, 3) and sample.depth.shape == (H, W)
    assert sample.image[1, 2].tolist() == [4, 103, 203] and sample.image[2, 1].tolist() == [0, 0, 0]
    assert sample.depth[1, 2] == np.float32(4.5) and sample.depth[2, 1] == 2.0 and sample.valid.all()
    assert sample.intrinsics == NYU_INTRINSICS == Intrinsics(518.8579, 519.4696, 325.5824, 253.7362)


def test_labeled_mat_raw_depths_zeros_are_invalid(labeled):
    sample = NyuLabeledMat(labeled[0], "all", depth_field="rawDepths")[0]
    assert not sample.valid[0].any() and sample.valid[1:].all() and (sample.depth[0] == 0).all()
    assert sample.depth[1, 2] == np.float32(1.5)


def test_labeled_mat_handle_is_reopened_per_process_and_pickles(labeled, monkeypatch):
    dataset = NyuLabeledMat(labeled[0], "all")
    first = dataset._file.get()
    assert dataset._file.get() is first
    monkeypatch.setattr(nyu.os, "getpid", lambda: -1)  # as seen from a forked worker
    assert dataset._file.get() is not first
    monkeypatch.undo()
    clone = pickle.loads(pickle.dumps(dataset))
    assert clone[3].depth[1, 2] == np.float32(4.5)


def test_labeled_mat_errors_name_the_file(tmp_path, labeled):
    mat_path, splits_path = labeled
    with pytest.raises(FileNotFoundError, match="missing.mat"):
        NyuLabeledMat(tmp_path / "missing.mat", "all")
    not_hdf5 = tmp_path / "v5.mat"
    scipy.io.savemat(not_hdf5, {"images": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"v5\.mat is not an HDF5 file \(MATLAB v7\.3\)"):
        NyuLabeledMat(not_hdf5, "all")
    no_depth = tmp_path / "no_depth.mat"
    _write_labeled_mat(no_depth, keys=("images", "depths"))
    with pytest.raises(KeyError, match=r"no_depth\.mat has no dataset 'rawDepths'"):
        NyuLabeledMat(no_depth, "all", depth_field="rawDepths")
    row_major = tmp_path / "row_major.mat"
    images, depths = _labeled_frames()
    with h5py.File(row_major, "w") as mat:  # not transposed: [N, H, W, C]
        mat["images"], mat["depths"] = images, depths
    with pytest.raises(ValueError, match=r"row_major\.mat: 'images' must be uint8 of shape \(N, 3, 640, 480\)"):
        NyuLabeledMat(row_major, "all")
    assert len(NyuLabeledMat(mat_path, "test")) == 2  # splits.mat beside the .mat
    with pytest.raises(FileNotFoundError, match=r"NYU splits file not found: .*none\.mat\. Split 'test' needs"):
        NyuLabeledMat(mat_path, "test", tmp_path / "none.mat")
    bad_splits = tmp_path / "bad_splits.mat"
    scipy.io.savemat(bad_splits, {"trainNdxs": np.array([[0], [1]]), "testNdxs": np.array([[5]])})
    with pytest.raises(ValueError, match=r"bad_splits\.mat: testNdxs holds 5, outside the 1-based range 1\.\.4"):
        NyuLabeledMat(mat_path, "test", bad_splits)
    with pytest.raises(ValueError, match="trainNdxs holds 0"):
        NyuLabeledMat(mat_path, "train", bad_splits)
    scipy.io.savemat(bad_splits, {"trainIdx": np.array([[1]])})
    with pytest.raises(KeyError, match=r"bad_splits\.mat has no 'testNdxs' \(found: trainIdx\)"):
        NyuLabeledMat(mat_path, "test", bad_splits)
    with pytest.raises(IndexError, match=r"index 2 out of range for 2 frames of .*labeled\.mat"):
        NyuLabeledMat(mat_path, "train", splits_path)[2]


def test_open_dataset_honours_the_official_split_and_raw_depth(labeled, tmp_path):
    mat_path, splits_path = labeled
    test = open_dataset(mat_path, split="test")  # splits.mat beside the .mat; rawDepths by default
    assert isinstance(test, NyuLabeledMat) and test.depth_field == "rawDepths"
    assert [s.id for s in test] == ["nyu_labeled/00001", "nyu_labeled/00003"]  # testNdxs 2, 4 (1-based)
    last = test[1]
    assert last.image[1, 2].tolist() == [4, 103, 203] and last.depth[1, 2] == np.float32(4.5)
    assert not last.valid[0].any() and last.valid[1:].all()  # raw holes stay invalid
    assert [s.id for s in open_dataset(mat_path, split="train")] == ["nyu_labeled/00000", "nyu_labeled/00002"]
    assert len(open_dataset(mat_path)) == N_FRAMES  # the layout's first split: all
    assert len(open_dataset(mat_path, split="all")) == N_FRAMES
    dataset, split = open_split(mat_path, default_split="test")
    assert split == "test" and len(dataset) == 2
    assert open_dataset(mat_path, split="test", depth_field="depths")[1].valid.all()  # in-painted
    moved = tmp_path / "elsewhere" / "official_splits.mat"
    moved.parent.mkdir()
    splits_path.rename(moved)
    assert [s.id for s in open_dataset(mat_path, split="test", split_file=moved)][1] == "nyu_labeled/00003"
    with pytest.raises(FileNotFoundError, match=r"splits file not found: .*splits\.mat\. Split 'test' needs"):
        open_dataset(mat_path, split="test")
    assert len(open_dataset(mat_path, split="all")) == N_FRAMES  # needs no splits.mat


def test_open_dataset_refuses_splits_and_options_the_mat_lacks(labeled):
    mat_path, _ = labeled
    with pytest.raises(ValueError, match=r"labeled\.mat \(nyu_labeled layout\) has no split 'val': its splits are all, train, test"):
        open_dataset(mat_path, split="val")
    with pytest.raises(ValueError, match=r"nyu_labeled layout\) does not take gt_root: it takes split_file, depth_field"):
        open_dataset(mat_path, gt_root="annotated")
    with pytest.raises(ValueError, match="depth_field must be 'depths' or 'rawDepths', got 'raw'"):
        open_dataset(mat_path, depth_field="raw")


def test_training_opens_the_official_splits_of_the_labeled_mat(labeled):
    mat_path = str(labeled[0])
    args = DataArguments(dataset="folder", dataset_path=mat_path, eval_dataset_path=mat_path, depth_field="depths")
    data = build_datasets(args, BaselineConfig.tiny(image_size=32))
    train, evaluation = data.train.samples, data.eval.samples
    assert train.frames.tolist() == [0, 2] and evaluation.frames.tolist() == [1, 3] and train.depth_field == "depths"
    assert f"folder {mat_path} (train, 2 samples); evaluation: folder {mat_path} (test, 2 samples)" == data.description
    raw = build_datasets(DataArguments(dataset="folder", dataset_path=mat_path, train_split="all"), BaselineConfig.tiny())
    assert len(raw.train) == N_FRAMES and raw.train.samples.depth_field == "rawDepths" and raw.eval is None
    with pytest.raises(ValueError, match=r"\(nyu_labeled layout\) does not take gt_root"):
        build_datasets(DataArguments(dataset="folder", dataset_path=mat_path, kitti_gt_path="x"), BaselineConfig.tiny())


def _save_tiny_model(path) -> str:
    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32))
    model.save_pretrained(path)
    image_processor_for(model.config).save_pretrained(path)
    return str(path)


def test_cli_evaluates_the_official_test_split_against_raw_depth(tmp_path, capsys):
    images, depths = _labeled_frames()
    mat_path = tmp_path / "nyu_depth_v2_labeled.mat"
    _write_labeled_mat(mat_path, images, depths, raw=np.full_like(depths, 5.0))  # raw 5 m, in-painted 2 m
    scipy.io.savemat(tmp_path / "splits.mat", {"trainNdxs": np.array([[1.0], [3.0]]), "testNdxs": np.array([[2.0], [4.0]])})
    model, output = _save_tiny_model(tmp_path / "model"), tmp_path / "results.json"
    run = ["evaluate", "--model", model, "--dataset", str(mat_path), "--protocol", "nyu_eigen", "--output", str(output)]

    assert cli_main(run) == 0  # default split: test; default ground truth: rawDepths
    raw = json.loads(output.read_text())
    assert raw["num_images"] == 2 and "2 images" in capsys.readouterr().out
    assert raw["dataset"] == {
        "class": "NyuLabeledMat", "len": 2, "source": str(mat_path), "split": "test", "options": {"depth_field": "rawDepths"}
    }
    assert cli_main([*run, "--split", "test", "--depth-field", "rawDepths"]) == 0
    assert json.loads(output.read_text())["metrics"] == raw["metrics"]
    assert cli_main([*run, "--depth-field", "depths"]) == 0
    filled = json.loads(output.read_text())
    assert filled["num_images"] == 2 and filled["metrics"]["rmse"] != pytest.approx(raw["metrics"]["rmse"])
    assert cli_main([*run, "--split", "all"]) == 0
    assert json.loads(output.read_text())["dataset"]["len"] == N_FRAMES

    assert cli_main([*run, "--split", "val"]) == 2
    assert "has no split 'val': its splits are all, train, test" in capsys.readouterr().err
    assert cli_main([*run, "--split-file", str(tmp_path / "missing.mat")]) == 2
    assert "NYU splits file not found" in capsys.readouterr().err
    elsewhere = tmp_path / "official" / "splits.mat"  # the spelling, --splits-file, names it too
    elsewhere.parent.mkdir()
    scipy.io.savemat(elsewhere, {"trainNdxs": np.array([[1.0], [2.0], [3.0]]), "testNdxs": np.array([[4.0]])})
    assert cli_main([*run, "--splits-file", str(elsewhere)]) == 0
    assert json.loads(output.read_text())["num_images"] == 1
    assert cli_main([*run, "--gt-root", str(tmp_path)]) == 2
    assert "does not take gt_root" in capsys.readouterr().err
    assert cli_main(["data", "inspect", str(mat_path), "--preview", str(tmp_path / "grid.png")]) == 0
    assert f"NyuLabeledMat, {N_FRAMES} samples, split all" in capsys.readouterr().out
    assert cli_main(["data", "inspect", str(mat_path), "--split", "train", "--preview", str(tmp_path / "grid.png")]) == 0
    assert "NyuLabeledMat, 2 samples, split train" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------ DenseDepth zip


def _write_densedepth_zip(path, train_depth: np.ndarray | None = None, test_depth: np.ndarray | None = None,
                          extra_csv_line: str = "") -> None:
    """nyu_data.zip: data/nyu2_{train,test}.csv, 640x480 train JPEG + 8-bit PNG, small test PNG + 16-bit PNG."""
    if train_depth is None:
        train_depth = np.zeros((H, W), np.uint8)
        train_depth[1, 2], train_depth[3, 4] = 255, 51
    if test_depth is None:
        test_depth = np.zeros((48, 64), np.uint16)
        test_depth[1, 2] = 1234
    scene = "data/nyu2_train/living_room_0038_out"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/nyu2_train.csv", f"{scene}/37.jpg,{scene}/37.png\r\n{extra_csv_line}\n")
        archive.writestr(f"{scene}/37.jpg", _png_bytes(np.full((H, W, 3), 128, np.uint8), "JPEG"))
        archive.writestr(f"{scene}/37.png", _png_bytes(train_depth))
        archive.writestr("data/nyu2_test.csv", "data/nyu2_test/00000_colors.png,data/nyu2_test/00000_depth.png\n")
        archive.writestr("data/nyu2_test/00000_colors.png", _png_bytes(np.full((48, 64, 3), 7, np.uint8)))
        archive.writestr("data/nyu2_test/00000_depth.png", _png_bytes(test_depth))


def test_densedepth_zip_decodes_train_8bit_and_test_16bit(tmp_path):
    path = tmp_path / "nyu_data.zip"
    _write_densedepth_zip(path)
    train = NyuDenseDepth(path, "train")
    assert len(train) == 1
    sample = train[0]
    assert sample.id == "nyu_densedepth/data/nyu2_train/living_room_0038_out/37.jpg"
    assert sample.image.shape == (H, W, 3) and abs(int(sample.image[5, 5, 0]) - 128) <= 2  # JPEG
    assert sample.depth[1, 2] == 10.0 and sample.depth[3, 4] == 2.0 and sample.valid.sum() == 2
    assert sample.intrinsics == NYU_INTRINSICS
    test = NyuDenseDepth(path, "test")[0]
    assert test.id == "nyu_densedepth/data/nyu2_test/00000_colors.png" and (test.image == 7).all()
    assert test.depth[1, 2] == np.float32(1.234) and test.valid.sum() == 1
    assert test.intrinsics == Intrinsics(518.8579, 518.8579, 31.5, 23.5)  # not 640x480: centred


def test_densedepth_extracted_folder_reads_like_the_zip(tmp_path):
    path = tmp_path / "nyu_data.zip"
    _write_densedepth_zip(path)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "extracted")
    for split in ("train", "test"):
        from_zip, from_folder = NyuDenseDepth(path, split)[0], NyuDenseDepth(tmp_path / "extracted", split)[0]
        assert from_zip.id == from_folder.id
        assert np.array_equal(from_zip.image, from_folder.image) and np.array_equal(from_zip.depth, from_folder.depth)
    (tmp_path / "extracted" / "data" / "nyu2_test" / "00000_depth.png").unlink()
    with pytest.raises(KeyError, match=r"lacks 1 file\(s\) listed in data/nyu2_test\.csv"):
        NyuDenseDepth(tmp_path / "extracted", "test")


def test_densedepth_zip_reads_from_threads_and_pickles(tmp_path):
    path = tmp_path / "nyu_data.zip"
    _write_densedepth_zip(path)
    dataset = pickle.loads(pickle.dumps(NyuDenseDepth(path, "test")))
    with ThreadPoolExecutor(4) as pool:
        depths = list(pool.map(lambda _: dataset[0].depth[1, 2], range(8)))
    assert depths == [np.float32(1.234)] * 8


def test_densedepth_zip_errors_name_the_file(tmp_path):
    path = tmp_path / "nyu_data.zip"
    _write_densedepth_zip(path, train_depth=np.zeros((H, W), np.uint16), test_depth=np.zeros((48, 64), np.uint8))
    train_depth = r"nyu_data\.zip:data/nyu2_train/living_room_0038_out/37\.png"
    with pytest.raises(ValueError, match=train_depth + ": .* expects uint8 .* uint16"):
        NyuDenseDepth(path, "train")[0]
    with pytest.raises(ValueError, match=r"nyu_data\.zip:data/nyu2_test/00000_depth\.png: .* expects uint16 .* uint8"):
        NyuDenseDepth(path, "test")[0]
    _write_densedepth_zip(path, train_depth=np.zeros((240, 320), np.uint8))
    with pytest.raises(ValueError, match=r"image .*37\.jpg is 640x480 but its depth .*37\.png is 320x240"):
        NyuDenseDepth(path, "train")[0]
    _write_densedepth_zip(path, extra_csv_line="data/nyu2_train/x/1.jpg,data/nyu2_train/x/1.png")
    with pytest.raises(KeyError, match=r"lacks 2 file\(s\) listed in data/nyu2_train\.csv, e\.g\. data/nyu2_train/x/1"):
        NyuDenseDepth(path, "train")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data/other.csv", "")
    with pytest.raises(KeyError, match=r"nyu_data\.zip has no data/nyu2_test\.csv"):
        NyuDenseDepth(path, "test")
    (tmp_path / "fake.zip").write_text("not a zip")
    with pytest.raises(ValueError, match=r"fake\.zip is not a zip archive"):
        NyuDenseDepth(tmp_path / "fake.zip")
    with pytest.raises(FileNotFoundError, match=r"missing\.zip"):
        NyuDenseDepth(tmp_path / "missing.zip")


# ------------------------------------------------------------------------------------------ DenseDepth nyu_test.zip

N_TEST = 3
DENSEDEPTH_CROP = [20, 459, 24, 615]


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def _write_nyu_test_zip(path, compression: int = zipfile.ZIP_STORED, **replace: np.ndarray) -> None:
    """DenseDepth's nyu_test.zip in its published format (np.save of each array into the zip, at its root):
    eigen_test_rgb.npy (N, 480, 640, 3) uint8, eigen_test_depth.npy (N, 480, 640) float32 metres, eigen_test_crop.npy.
    Frame k has image value (k+1, 50+k, 100+k) and depth k + 1.25 m at row 3, col 4; 2 m elsewhere."""
    rgb = np.zeros((N_TEST, H, W, 3), np.uint8)
    depth = np.full((N_TEST, H, W), 2.0, np.float32)
    for k in range(N_TEST):
        rgb[k, 3, 4] = (k + 1, 50 + k, 100 + k)
        depth[k, 3, 4] = k + 1.25
    arrays = {"eigen_test_rgb.npy": rgb, "eigen_test_depth.npy": depth, "eigen_test_crop.npy": np.array(DENSEDEPTH_CROP)}
    arrays.update({f"eigen_test_{key}.npy": value for key, value in replace.items()})
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, array in arrays.items():
            if array is not None:
                archive.writestr(name, _npy_bytes(array))


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_nyu_test_zip_frames_crop_and_memory_mapping(tmp_path, compression):
    path = tmp_path / "nyu_test.zip"
    _write_nyu_test_zip(path, compression)
    dataset = NyuDenseDepthTest(path)
    assert len(dataset) == N_TEST and dataset.crop == (20, 459, 24, 615)
    assert dataset.eval_crop == AbsoluteCrop(20, 460, 24, 616, (H, W)) == PROTOCOLS["nyu_densedepth"].crop
    sample = dataset[2]
    assert sample.id == "nyu_test/00002" and sample.intrinsics == NYU_INTRINSICS
    assert sample.image.shape == (H, W, 3) and sample.image[3, 4].tolist() == [3, 52, 102]
    assert sample.depth.dtype == np.float32 and sample.depth[3, 4] == np.float32(3.25) and sample.valid.all()
    assert dataset[-1].id == "nyu_test/00002" and not isinstance(sample.depth, np.memmap)
    rgb, depth = dataset._arrays.get()
    assert isinstance(rgb, np.memmap) == isinstance(depth, np.memmap) == (compression == zipfile.ZIP_STORED)
    clone = pickle.loads(pickle.dumps(dataset))
    assert len(pickle.dumps(dataset)) < 4096  # the arrays are reopened, not pickled
    assert np.array_equal(clone[1].image, dataset[1].image) and clone[1].depth[3, 4] == np.float32(2.25)
    with pytest.raises(IndexError, match=r"index 3 out of range for 3 frames of .*nyu_test\.zip"):
        dataset[3]


def test_nyu_test_zip_is_its_own_layout_with_only_a_test_split(tmp_path):
    path, data_zip = tmp_path / "nyu_test.zip", tmp_path / "nyu_data.zip"
    _write_nyu_test_zip(path)
    _write_densedepth_zip(data_zip)
    dataset, split = open_split(path, default_split="test")
    assert isinstance(dataset, NyuDenseDepthTest) and split == "test" and len(dataset) == N_TEST
    assert open_split(path)[1] == "test"  # its only split is also its default
    assert isinstance(open_dataset(data_zip), NyuDenseDepth)  # nyu_data.zip stays the densedepth layout
    with pytest.raises(ValueError, match=r"nyu_test\.zip \(densedepth_test layout\) has no split 'train': its splits are test"):
        open_dataset(path, split="train")
    with pytest.raises(ValueError, match=r"\(densedepth layout\) has no split 'val': its splits are train, test"):
        open_dataset(data_zip, split="val")
    with pytest.raises(ValueError, match=r"does not take depth_field: it takes none"):
        open_dataset(path, depth_field="depths")
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("readme.txt", "")
    with pytest.raises(ValueError, match="no layout mde-hub recognises"):
        open_dataset(other)


def test_nyu_test_zip_errors_name_the_member(tmp_path):
    path = tmp_path / "nyu_test.zip"
    cases = [
        ({"crop": None}, KeyError, r"nyu_test\.zip has no eigen_test_crop\.npy; DenseDepth's nyu_test\.zip holds"),
        ({"rgb": np.zeros((N_TEST, H, W, 3), np.float32)}, ValueError, r"eigen_test_rgb\.npy must be uint8 of shape \(N, 480, 640, 3\)"),
        ({"rgb": np.zeros((N_TEST, W, H, 3), np.uint8)}, ValueError, r"eigen_test_rgb\.npy must be uint8 .* got uint8 \(3, 640, 480, 3\)"),
        ({"depth": np.zeros((N_TEST, H, W), np.uint16)}, ValueError, r"eigen_test_depth\.npy must be float metres of shape \(3, 480, 640\)"),
        ({"depth": np.zeros((2, H, W), np.float32)}, ValueError, r"eigen_test_depth\.npy must be float .* got float32 \(2, 480, 640\)"),
        ({"crop": np.array([20, 480, 24, 615])}, ValueError, r"eigen_test_crop\.npy must be 4 integers .* got int64 \[20, 480, 24, 615\]"),
        ({"crop": np.array([20.0, 459.0, 24.0, 615.0])}, ValueError, r"eigen_test_crop\.npy must be 4 integers"),
    ]
    for replace, error, message in cases:
        _write_nyu_test_zip(path, **replace)
        with pytest.raises(error, match=message):
            NyuDenseDepthTest(path)
    with zipfile.ZipFile(path, "w") as archive:
        for name in nyu.DENSEDEPTH_TEST_MEMBERS:
            archive.writestr(name, b"not an array")
    with pytest.raises(ValueError, match=r"cannot read .*nyu_test\.zip:eigen_test_rgb\.npy as a \.npy array"):
        NyuDenseDepthTest(path)
    with pytest.raises(FileNotFoundError, match=r"nyu_test\.zip not found: .*missing\.zip"):
        NyuDenseDepthTest(tmp_path / "missing.zip")


# ------------------------------------------------------------------------------------------ BTS sync folders


def test_sync_folder_train_and_test_lists(tmp_path):
    sync = tmp_path / "sync"
    depth = np.zeros((H, W), np.uint16)
    depth[1, 2] = 1234
    _save(sync / "kitchen_0028a/rgb_00045.jpg", np.full((H, W, 3), 90, np.uint8))
    _save(sync / "kitchen_0028a/sync_depth_00045.png", depth)
    _save(sync / "small/rgb_00001.jpg", np.zeros((60, 80, 3), np.uint8))
    _save(sync / "small/sync_depth_00001.png", np.full((60, 80), 2500, np.uint16))
    train_list = tmp_path / "nyudepthv2_train_files_with_gt.txt"
    train_list.write_text(
        "/kitchen_0028a/rgb_00045.jpg /kitchen_0028a/sync_depth_00045.png 518.8579\n"
        "/kitchen_0028a/rgb_00046.jpg None 518.8579\n"
        "/small/rgb_00001.jpg /small/sync_depth_00001.png 500.0\n"
    )
    train = NyuSyncFolder(sync, train_list)
    assert len(train) == 2 and train.num_missing_gt == 1
    sample = train[0]
    assert sample.id == "nyu_sync/kitchen_0028a/rgb_00045.jpg"
    assert sample.depth[1, 2] == np.float32(1.234) and sample.valid.sum() == 1
    assert sample.intrinsics == Intrinsics(518.8579, 518.8579, 325.5824, 253.7362)
    small = train[1]
    assert (small.depth == 2.5).all() and small.intrinsics == Intrinsics(500.0, 500.0, 39.5, 29.5)

    test_root = tmp_path / "official_splits" / "test"
    _save(test_root / "bathroom/rgb_00045.jpg", np.zeros((H, W, 3), np.uint8))
    _save(test_root / "bathroom/sync_depth_00045.png", np.full((H, W), 65535, np.uint16))
    test_list = tmp_path / "nyudepthv2_test_files_with_gt.txt"
    test_list.write_text("bathroom/rgb_00045.jpg bathroom/sync_depth_00045.png 518.8579\n")
    sample = NyuSyncFolder(test_root, test_list, depth_scale=256.0)[0]
    assert sample.id == "nyu_sync/bathroom/rgb_00045.jpg" and (sample.depth == np.float32(65535 / 256)).all()


def test_sync_folder_errors_name_the_file(tmp_path):
    _save(tmp_path / "a/rgb_1.jpg", np.zeros((H, W, 3), np.uint8))
    _save(tmp_path / "a/sync_depth_1.png", np.zeros((W, H), np.uint16))
    listing = tmp_path / "list.txt"
    listing.write_text("/a/rgb_1.jpg /a/sync_depth_1.png 518.8579\n/a/rgb_2.jpg /a/sync_depth_2.png 518.8579\n")
    dataset = NyuSyncFolder(tmp_path, listing)
    with pytest.raises(ValueError, match=r"image .*a/rgb_1\.jpg is 640x480 but its depth .*depth_1\.png is 480x640"):
        dataset[0]
    with pytest.raises(FileNotFoundError, match=r"a/rgb_2\.jpg"):
        dataset[1]
    with pytest.raises(FileNotFoundError, match=r"split file not found: .*nope\.txt"):
        NyuSyncFolder(tmp_path, tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=r"NYU sync folder not found: .*sync"):
        NyuSyncFolder(tmp_path / "sync", listing)


def test_sync_folder_from_real_icl_pixels(shared_rgbd, tmp_path):
    """A real 640x480 RGB-D pair (ICL-NUIM, mm PNG) in the sync layout decodes to the same metres."""
    source = os.path.join(shared_rgbd, "icl_livingroom1")
    raw = np.asarray(PIL.Image.open(os.path.join(source, "depth/00007.png")))
    _save(tmp_path / "living_room_0001/sync_depth_00007.png", raw)
    image = np.asarray(PIL.Image.open(os.path.join(source, "image/00007.jpg")))
    _save(tmp_path / "living_room_0001/rgb_00007.png", image)
    listing = tmp_path / "list.txt"
    listing.write_text("/living_room_0001/rgb_00007.png /living_room_0001/sync_depth_00007.png 518.8579\n")
    sample = NyuSyncFolder(tmp_path, listing)[0]
    np.testing.assert_array_equal(sample.image, image)
    np.testing.assert_array_equal(sample.depth, (raw / 1000).astype(np.float32))
    assert 0.69 <= sample.depth[sample.valid].min() and sample.depth.max() <= 3.39
