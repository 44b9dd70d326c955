"""NYU Depth v2 loaders (mde_hub.data.nyu) on fixtures written in the published layouts: the v7.3 labeled .mat with
its transposed axes and the v5 splits.mat, DenseDepth's nyu_data.zip, and the BTS/AdaBins sync folders."""

import io
import os
import pickle
import zipfile
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import PIL.Image
import pytest
import scipy.io

from mde_hub.data import nyu
from mde_hub.data.nyu import NYU_INTRINSICS, NyuDenseDepth, NyuLabeledMat, NyuSyncFolder
from mde_hub.data.sample import Intrinsics

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


def _write_labeled_mat(path, images=None, depths=None, keys=("images", "depths", "rawDepths")) -> None:
    """MATLAB v7.3 column-major storage as h5py sees it: images [N, C, W, H], depths [N, W, H]."""
    if images is None:
        images, depths = _labeled_frames()
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
    scipy.io.savemat(splits_path, {"trainNdxs": np.array([[1], [3]]), "testNdxs": np.array([[2], [4]])})
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
    with pytest.raises(FileNotFoundError, match=r"Split file not found: .*nope\.txt"):
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
