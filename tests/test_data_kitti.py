"""KITTI Eigen split loader (mde_hub.data.kitti) on fixtures in the BTS layout: raw RGB under data_root, annotated
uint16 (/256) sparse depth under gt_root, a file list with a "None" line; synthetic and from real KITTI pixels;
the kitti_eigen layout through open_dataset, `mde-hub data inspect` and `mde-hub evaluate`."""

import json
import os

import numpy as np
import PIL.Image
import pytest
import torch

from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.data.folder import kitti_samples
from mde_hub.data.kitti import KittiEigenSplit, kb_crop_box, read_rectified_intrinsics
from mde_hub.data.registry import open_split
from mde_hub.data.sample import Intrinsics
from mde_hub.evaluation import protocols

DRIVE = "2011_09_26_drive_0002_sync"
RGB = f"2011_09_26/{DRIVE}/image_02/data/0000000069.png"
GT = f"{DRIVE}/proj_depth/groundtruth/image_02/0000000069.png"
CALIB = (
    "calib_time: 09-Jan-2012 13:57:47\n"
    "P_rect_02: 7.215377e+02 0.000000e+00 6.095593e+02 4.485728e+01 0.000000e+00 7.215377e+02 1.728540e+02 "
    "2.163791e-01 0.000000e+00 0.000000e+00 1.000000e+00 2.745884e-03\n"
)


def _save(path, array: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.fromarray(array).save(path)


def _write_layout(tmp_path, image: np.ndarray, depth: np.ndarray) -> tuple:
    data_root, gt_root = tmp_path / "raw", tmp_path / "data_depth_annotated"
    _save(data_root / RGB, image)
    _save(gt_root / GT, depth)
    listing = tmp_path / "eigen_test_files_with_gt.txt"
    listing.write_text(f"{RGB} {GT} 721.5377\n2011_09_26/{DRIVE}/image_02/data/0000000070.png None 721.5377\n")
    return data_root, gt_root, listing


@pytest.fixture
def synthetic(tmp_path):
    """A 1242x375 frame whose depth is 12.5 m (stored 3200) at row 370, col 100 and 80 m at row 0, col 0."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (375, 1242, 3), dtype=np.uint8)
    depth = np.zeros((375, 1242), np.uint16)
    depth[370, 100], depth[0, 0] = 256 * 12.5, 256 * 80
    return (image, *_write_layout(tmp_path, image, depth))


def test_kb_crop_is_the_protocols_function():
    assert kb_crop_box is protocols.kb_crop_box
    assert kb_crop_box(375, 1242) == (23, 13, 352, 1216) and kb_crop_box(376, 1241) == (24, 12, 352, 1216)


def test_eigen_split_kb_crop_offsets_values_and_intrinsics(synthetic):
    image, data_root, gt_root, listing = synthetic
    dataset = KittiEigenSplit(data_root, gt_root, listing)
    assert len(dataset) == 1 and dataset.num_missing_gt == 1
    sample = dataset[0]
    assert sample.id == f"kitti/{RGB}"
    assert sample.image.shape == (352, 1216, 3) and sample.depth.shape == (352, 1216)
    np.testing.assert_array_equal(sample.image, image[23:375, 13:1229])
    assert sample.depth[370 - 23, 100 - 13] == 12.5 and sample.valid.sum() == 1  # row 0 lies above the crop
    # no calibration file: fx = fy = the list's focal, centre (620.5, 187) of the full frame, shifted by the crop
    assert sample.intrinsics == Intrinsics(721.5377, 721.5377, 620.5 - 13, 187.0 - 23)

    full = KittiEigenSplit(data_root, gt_root, listing, kb_crop=False)[0]
    assert full.depth.shape == (375, 1242) and full.depth[370, 100] == 12.5 and full.depth[0, 0] == 80.0
    assert full.valid.sum() == 2 and full.intrinsics == Intrinsics(721.5377, 721.5377, 620.5, 187.0)


def test_eigen_split_uses_the_raw_calibration_when_present(synthetic):
    _, data_root, gt_root, listing = synthetic
    (data_root / "2011_09_26" / "calib_cam_to_cam.txt").write_text(CALIB)
    calibrated = Intrinsics(721.5377, 721.5377, 609.5593, 172.854)
    assert read_rectified_intrinsics(data_root / "2011_09_26" / "calib_cam_to_cam.txt", 2) == calibrated
    assert KittiEigenSplit(data_root, gt_root, listing, kb_crop=False)[0].intrinsics == calibrated
    assert KittiEigenSplit(data_root, gt_root, listing)[0].intrinsics == calibrated.cropped(23, 13)
    with pytest.raises(KeyError, match=r"calib_cam_to_cam\.txt has no P_rect_03: line"):
        read_rectified_intrinsics(data_root / "2011_09_26" / "calib_cam_to_cam.txt", 3)


def test_eigen_split_errors_name_the_files(tmp_path):
    image = np.zeros((375, 1242, 3), np.uint8)
    data_root, gt_root, listing = _write_layout(tmp_path, image, np.zeros((376, 1241), np.uint16))
    with pytest.raises(ValueError, match=r"image .*0000000069\.png is 1242x375 but its depth .*groundtruth.* 1241x376"):
        KittiEigenSplit(data_root, gt_root, listing)[0]
    _save(gt_root / GT, np.zeros((375, 1242), np.uint8))
    with pytest.raises(ValueError, match=r"groundtruth/image_02/0000000069\.png: the 'kitti' depth encoding"):
        KittiEigenSplit(data_root, gt_root, listing)[0]
    os.remove(gt_root / GT)
    with pytest.raises(FileNotFoundError, match=r"proj_depth/groundtruth/image_02/0000000069\.png"):
        KittiEigenSplit(data_root, gt_root, listing)[0]
    with pytest.raises(FileNotFoundError, match=r"KITTI folder not found: .*nowhere"):
        KittiEigenSplit(tmp_path / "nowhere", gt_root, listing)
    small = tmp_path / "small"
    small_root, small_gt, small_list = _write_layout(small, image[:300, :1000], np.zeros((300, 1000), np.uint16))
    with pytest.raises(ValueError, match="KB crop needs a frame of at least 352x1216, got 300x1000"):
        KittiEigenSplit(small_root, small_gt, small_list)[0]


def test_kitti_eigen_layout_gives_full_frames(synthetic):
    _, data_root, gt_root, listing = synthetic
    dataset, split = open_split(data_root, split_file=listing, gt_root=gt_root, default_split="test")
    assert isinstance(dataset, KittiEigenSplit) and not dataset.kb_crop and split is None  # detected, no named splits
    sample = dataset[0]
    assert sample.depth.shape == (375, 1242) and sample.depth[370, 100] == 12.5 and sample.depth[0, 0] == 80.0
    with pytest.raises(ValueError, match=r"raw \(kitti_eigen layout\) has no split 'test': it is one set of frames"):
        open_split(data_root, split="test", split_file=listing, gt_root=gt_root)
    with pytest.raises(ValueError, match=r"kitti_eigen layout\) needs split_file .* and gt_root .*; missing: gt_root"):
        open_split(data_root, split_file=listing)
    with pytest.raises(ValueError, match=r"kitti_eigen layout\) does not take depth_field: it takes split_file, gt_root"):
        open_split(data_root, split_file=listing, gt_root=gt_root, depth_field="depths")


def test_kitti_eigen_through_the_cli(synthetic, tmp_path, capsys):
    _, data_root, gt_root, listing = synthetic
    files = ["--split-file", str(listing), "--gt-root", str(gt_root)]
    assert cli_main(["data", "inspect", str(data_root), *files, "--preview", str(tmp_path / "grid.png")]) == 0
    printed = capsys.readouterr().out
    assert "KittiEigenSplit, 1 samples" in printed and "375x1242 (1)" in printed and ", split" not in printed
    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32))
    model.save_pretrained(tmp_path / "model")
    image_processor_for(model.config).save_pretrained(tmp_path / "model")
    output = tmp_path / "results.json"
    run = ["evaluate", "--model", str(tmp_path / "model"), "--dataset", str(data_root), "--layout", "kitti_eigen",
           *files, "--protocol", "none", "--output", str(output)]
    assert cli_main(run) == 0
    result = json.loads(output.read_text())
    assert result["num_images"] == 1 and result["dataset"]["class"] == "KittiEigenSplit" and result["dataset"]["split"] is None
    assert cli_main([*run, "--split", "test"]) == 2
    assert "has no split 'test': it is one set of frames with no named splits" in capsys.readouterr().err
    assert cli_main(run[:-6] + ["--output", str(output)]) == 2  # no --gt-root
    assert "missing: gt_root" in capsys.readouterr().err


def test_eigen_split_from_real_kitti_pixels(shared_rgbd, tmp_path):
    """A real KITTI frame and its annotated LiDAR depth, laid out as the Eigen split, decode to 5-85 m sparse depth."""
    source = os.path.join(shared_rgbd, "kitti_samples")
    image = np.asarray(PIL.Image.open(os.path.join(source, "rgb/0000000050.png")))
    raw = np.asarray(PIL.Image.open(os.path.join(source, "depth/0000000050.png")))
    data_root, gt_root, listing = _write_layout(tmp_path, image, raw)
    sample = KittiEigenSplit(data_root, gt_root, listing)[0]
    top, left, height, width = kb_crop_box(*raw.shape)
    expected = (raw[top : top + height, left : left + width] / 256).astype(np.float32)
    np.testing.assert_array_equal(sample.depth, expected)
    np.testing.assert_array_equal(sample.image, image[top : top + height, left : left + width])
    assert 5.0 <= sample.depth[sample.valid].min() and sample.depth.max() <= 85.0
    assert 0.1 < sample.valid.mean() < 0.35
    uncropped = kitti_samples(source)[1]
    assert uncropped.id == "kitti_samples/rgb/0000000050.png"
    np.testing.assert_array_equal(uncropped.depth[top : top + height, left : left + width], sample.depth)
