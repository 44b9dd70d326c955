"""KITTI with the Eigen split as BTS/AdaBins/DPT use it (docs/MODELS.md §4.4, §6.2).

Each line of the file list (`eigen_train_files_with_gt.txt`: 23,158 lines; `eigen_test_files_with_gt.txt`: 697
lines, 45 with depth "None") reads `<date>/<drive>/image_02/data/<frame>.png <drive>/proj_depth/groundtruth/
image_02/<frame>.png 721.5377`: the RGB under the KITTI raw `data_root`, the annotated depth
(`data_depth_annotated`) under `gt_root`, and the focal length in pixels.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from .folder import ENCODINGS, PathLike, centred_intrinsics, check_same_size, join_list_path, read_pair_list, read_rgb
from .frames import kb_crop_box
from .sample import DepthSample, Intrinsics

__all__ = ["KittiEigenSplit", "kb_crop_box", "read_rectified_intrinsics"]


def read_rectified_intrinsics(calib_path: PathLike, camera: int) -> Intrinsics:
    """fx, fy, cx, cy of camera `camera` (2: left colour, 3: right colour) from `P_rect_0<camera>` of a KITTI
    raw `calib_cam_to_cam.txt`."""
    key = f"P_rect_{camera:02d}:"
    try:
        lines = Path(calib_path).read_text().splitlines()
    except FileNotFoundError:
        raise FileNotFoundError(f"KITTI calibration not found: {calib_path}") from None
    for line in lines:
        if line.startswith(key):
            try:
                projection = np.array([float(value) for value in line[len(key) :].split()]).reshape(3, 4)
            except ValueError:
                raise ValueError(f"{calib_path}: {key} must hold 12 numbers, got {line!r}") from None
            return Intrinsics(projection[0, 0], projection[1, 1], projection[0, 2], projection[1, 2])
    raise KeyError(f"{calib_path} has no {key} line")


class KittiEigenSplit(torch.utils.data.Dataset):
    """KITTI frames of a BTS-style Eigen-split list, with their annotated sparse LiDAR depth.

    `data_root` holds the raw drives (`<date>/<drive>/image_02/data/`); `gt_root` holds the list's
    `<drive>/proj_depth/groundtruth/...` paths (the KITTI download splits the drives between
    `data_depth_annotated/train/` and `val/`: merge or link them into one folder).

    Depth PNGs are uint16, metres = value / 256, 0 = invalid (about 20% of pixels are valid). Lines whose depth is
    "None" (no annotated GT) are skipped and counted in `num_missing_gt`.

    Intrinsics: from `P_rect_02`/`P_rect_03` of `<data_root>/<date>/calib_cam_to_cam.txt` when the raw
    data's calibration file is there; otherwise fx = fy = the line's focal with the principal point at the image
    centre (the calibrated one is up to about 15 px away: use the calibration where exactness matters).

    `kb_crop=True` (the network input of BTS/AdaBins/DPT, for training) crops image and depth to 352x1216 at
    `kb_crop_box` (top = H - 352, left = (W - 1216) // 2) and shifts cx, cy accordingly. For `evaluate` pass
    `kb_crop=False`: the KITTI protocols crop the full frames themselves, and the BTS/DPT ones (`kitti_garg`,
    `kitti_eigen`) score the full frame the prediction is pasted into, so they refuse cropped ground truth.
    ids are `"kitti/<rgb path>"`.
    """

    def __init__(self, data_root: PathLike, gt_root: PathLike, split_file: PathLike, kb_crop: bool = True) -> None:
        self.data_root, self.gt_root = Path(data_root), Path(gt_root)
        for root in (self.data_root, self.gt_root):
            if not root.is_dir():
                raise FileNotFoundError(f"KITTI folder not found: {root}")
        self.kb_crop = kb_crop
        entries = read_pair_list(split_file)
        self.entries = [entry for entry in entries if entry.depth is not None]
        self.num_missing_gt = len(entries) - len(self.entries)
        self.calibration = self._read_calibrations()

    def _read_calibrations(self) -> dict[tuple[str, int | None], Intrinsics]:
        """The rectified camera of every (date, camera) in the list whose `calib_cam_to_cam.txt` exists."""
        calibration = {}
        for date, camera in {_date_and_camera(entry.rgb) for entry in self.entries}:
            calib_path = self.data_root / date / "calib_cam_to_cam.txt"
            if camera is not None and calib_path.is_file():
                calibration[date, camera] = read_rectified_intrinsics(calib_path, camera)
        return calibration

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> DepthSample:
        entry = self.entries[index]
        image_path, depth_path = join_list_path(self.data_root, entry.rgb), join_list_path(self.gt_root, entry.depth)
        image = read_rgb(image_path)
        depth = ENCODINGS["kitti"].read(depth_path)
        check_same_size(image, depth, image_path, depth_path)
        height, width = depth.shape
        intrinsics = self.calibration.get(_date_and_camera(entry.rgb)) or centred_intrinsics(entry.focal, width, height)
        if self.kb_crop:
            top, left, crop_height, crop_width = kb_crop_box(height, width)
            image = image[top : top + crop_height, left : left + crop_width]
            depth = depth[top : top + crop_height, left : left + crop_width]
            intrinsics = intrinsics.cropped(top, left)
        return DepthSample.from_depth(image, depth, intrinsics, f"kitti/{entry.rgb.lstrip('/')}")


def _date_and_camera(rgb_path: str) -> tuple[str, int | None]:
    """("2011_09_26", 2) for "2011_09_26/2011_09_26_drive_0002_sync/image_02/data/0000000069.png"; the camera is
    None for a path without an `image_0N` folder."""
    camera = re.search(r"image_0([0-3])", rgb_path)
    return rgb_path.lstrip("/").split("/")[0], int(camera.group(1)) if camera else None
