"""Tiny folders in the format of ../shared/data/rgbd/extra_real (one .npz per frame and a frames.csv with the same
columns), written under a test's tmp_path: the real frames are non-commercial and never copied into the repository."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

COLUMNS = (
    "folder", "file", "scene", "indoor_outdoor", "kind", "dataset", "h", "w", "orig_h", "orig_w", "fx", "fy", "cx", "cy",
    "valid_frac", "depth_min", "depth_median", "depth_max", "source", "licence",
)
STREET_K = np.array([[40.0, 0.0, 31.5], [0.0, 40.0, 9.5], [0.0, 0.0, 1.0]], np.float32)


def write_frame(root: Path, folder: str, file: str, rgb: np.ndarray, depth: np.ndarray, k: np.ndarray, scene: str) -> None:
    """One frame as the extra_real folder stores it."""
    (root / folder).mkdir(parents=True, exist_ok=True)
    np.savez(root / folder / file, rgb=rgb, depth=depth.astype(np.float32), K=k.astype(np.float32),
             source=np.str_("test fixture"), kind=np.str_("real"), scene=np.str_(scene), licence=np.str_("CC0"))


def write_listing(root: Path, rows: list[dict[str, str]]) -> None:
    with open(root / "frames.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({column: row.get(column, "") for column in COLUMNS})


FRAMES = (  # folder, file, scene, indoor_outdoor, height, width, depth (metres, every valid pixel)
    ("pcl_tutorials", "office.npz", "office floor", "indoor", 12, 16, 2.0),
    ("mmdet3d_demo", "sunrgbd_000017.npz", "SUN RGB-D room", "indoor", 12, 16, 3.0),
    ("mmdet3d_demo", "kitti_obj_000008.npz", "KITTI 000008", "outdoor", 20, 64, 30.0),
    ("anygrasp_tracking", "grasp_000.npz", "tabletop", "indoor", 9, 16, 0.5),
    ("anygrasp_tracking", "grasp_001.npz", "tabletop", "indoor", 9, 16, 0.5),
    ("pcl_mosd", "learn0.npz", "lab table", "indoor", 12, 16, 0.8),
    ("kitti_object_vis", "kitti_obj_000000.npz", "KITTI 000000", "outdoor", 20, 64, 20.0),
    ("tri_dgp_scene01", "scene_01.npz", "TRI drive", "outdoor", 40, 64, 100.0),
)


def write_extra_real(root: Path) -> Path:
    """A folder of `FRAMES`: constant depth per frame, image value = the frame's index; street frames are sparse
    (every 4th pixel of every 2nd row valid) with `STREET_K`, indoor frames dense with no camera (K all zeros)."""
    rows = []
    for index, (folder, file, scene, place, height, width, metres) in enumerate(FRAMES):
        depth = np.full((height, width), metres, np.float32)
        k = np.zeros((3, 3))
        if place == "outdoor":
            depth = np.zeros((height, width), np.float32)
            depth[::2, ::4] = metres
            k = STREET_K
        write_frame(root, folder, file, np.full((height, width, 3), index, np.uint8), depth, k, scene)
        rows.append({"folder": folder, "file": file, "scene": scene, "indoor_outdoor": place, "h": str(height),
                     "w": str(width)})
    write_listing(root, rows)
    return root
