"""Frames stored one per `.npz` file and listed in a `frames.csv`: the `extra_real` layout (../shared/data/rgbd/
extra_real: tabletops, rooms and streets from public repositories, see its MANIFEST.md).

Format. `ROOT/frames.csv` has one row per frame with at least the columns `folder`, `file`, `scene` and
`indoor_outdoor`; the frame is `ROOT/FOLDER/FILE`, an `.npz` with `rgb` (uint8 H x W x 3), `depth` (float32
metres, 0 = invalid), `K` (3 x 3 float32 intrinsics of that image; all zeros when unknown) and the strings
`source`, `kind` (real/rendered), `scene` and `licence`. A sample's id is `FOLDER/FILE`.

Held-out scenes. Every frame is placed by `SCENES` below, the one table that decides what is trained on and what is
held out, and in which group it is scored: `rooms` (indoor, room scale, up to 10 m), `close` (tabletop range, under
2 m) and `streets` (outdoor, up to 80 m). Whole scenes are held out, never some frames of a video: a held-out
folder (or file) shares no scene with any training frame. A frame the table does not place is an error, so a
folder added to the data set is placed on purpose.

Splits: `all`; `train` and `heldout`; each of them per group, `train_rooms`, `train_close`, `train_streets`,
`heldout_rooms`, `heldout_close`, `heldout_streets`; and `train_indoor` / `heldout_indoor` (rooms and close range).
Training takes them through the mix source's `mix_splits` (`mde_hub.training.data`); a group is scored with e.g.
`mde-hub evaluate --dataset ../shared/data/rgbd/extra_real --layout extra_real --split heldout_streets --protocol
none`: no cap is needed, as every held-out room and tabletop frame is within 10 m and every street frame within 80 m.

KITTI frames: the held-out KITTI object frames (000000-000002) and the trained ones (000008, 000114) are different
frames of KITTI's shuffled object set; whether two of them come from one drive cannot be checked from this data.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .sample import DepthSample, Intrinsics

GROUPS = ("rooms", "close", "streets")
"""Where a frame is scored: room scale, tabletop range, streets."""
INDOOR_GROUPS = ("rooms", "close")
SPLITS = (
    "all", "train", "heldout",
    *(f"{part}_{group}" for part in ("train", "heldout") for group in (*GROUPS, "indoor")),
)
REQUIRED_COLUMNS = ("folder", "file", "scene", "indoor_outdoor")
NPZ_KEYS = ("rgb", "depth", "K")


@dataclass(frozen=True)
class Placement:
    """Where the frames of one scene go: their `group`, whether they are `held_out`, and why."""

    group: str
    held_out: bool
    reason: str


SCENES: dict[str, Placement] = {
    # held out: rooms
    "mmdet3d_demo/sunrgbd_000017.npz": Placement(
        "rooms", True, "SUN RGB-D (Kinect v2): the only real furnished room with a bedroom/office layout; a camera "
        "and dataset no training frame comes from"),
    "pcl_tutorials": Placement(
        "rooms", True, "one real office floor (Kinect-style): a real room unlike the rendered Replica office"),
    # held out: close range
    "anygrasp_tracking": Placement(
        "close", True, "30 consecutive frames of one tabletop (RealSense): all of it held out, so no neighbouring "
        "frame of a test frame is trained on; a different table and camera than pcl_mosd's"),
    # held out: streets
    "kitti_object_vis": Placement(
        "streets", True, "KITTI object training 000000-000002: three KITTI scenes, full LiDAR scans"),
    "stereo_transformer_kitti2015": Placement(
        "streets", True, "KITTI 2015 000046: denser (stereo) ground truth of another KITTI scene"),
    # trained on
    "pcl_mosd": Placement(
        "close", False, "27 frames of ONE lab table (depth cropped to the table): many frames, one scene, so it "
        "cannot be split into scenes and trains the close range"),
    "nvblox_replica": Placement(
        "rooms", False, "4 renders of Replica office0 (one rendered scene): room scale, synthetic-like"),
    "cvml_project": Placement(
        "streets", False, "a CARLA render and KITTI object 000114: one rendered and one real street"),
    "mmdet3d_demo/kitti_obj_000008.npz": Placement(
        "streets", False, "KITTI object 000008 (FOV-cropped scan): a real KITTI street for training"),
    "tri_dgp_scene01": Placement(
        "streets", False, "one TRI drive, 3 cameras x 3 times: one scene, other cameras than KITTI's, for training"),
}
"""Placement by `FOLDER/FILE` (one frame) or `FOLDER` (every frame of it); a frame's own entry wins."""


def placement(folder: str, file: str) -> Placement:
    """The placement of frame `FOLDER/FILE` in `SCENES`; a ValueError for a frame the table does not place."""
    found = SCENES.get(f"{folder}/{file}") or SCENES.get(folder)
    if found is None:
        raise ValueError(f"frame {folder}/{file} is placed by no entry of the scene table (mde_hub/data/npz_frames.py "
                         "SCENES): add its folder there, held out or for training")
    return found


def in_split(place: Placement, split: str) -> bool:
    """Whether a frame placed so belongs to `split` (one of `SPLITS`)."""
    if split == "all":
        return True
    part, _, group = split.partition("_")
    if place.held_out != (part == "heldout"):
        return False
    return not group or place.group == group or (group == "indoor" and place.group in INDOOR_GROUPS)


def read_npz_frame(path: str | os.PathLike, id: str) -> DepthSample:
    """The `DepthSample` of one `.npz` frame (see the module docstring); intrinsics None when `K` is all zeros."""
    with np.load(path, allow_pickle=False) as stored:
        missing = [key for key in NPZ_KEYS if key not in stored.files]
        if missing:
            raise ValueError(f"{path}: missing keys {', '.join(missing)}; a frame holds {', '.join(NPZ_KEYS)}")
        rgb, depth, k = stored["rgb"], stored["depth"], stored["K"]
    if rgb.ndim != 3 or rgb.shape[-1] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"{path}: rgb must be (H, W, 3) uint8; got {rgb.shape} {rgb.dtype}")
    if depth.shape != rgb.shape[:2] or not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"{path}: depth must be float metres of the rgb's size {rgb.shape[:2]}; got {depth.shape} "
                         f"{depth.dtype}")
    if k.shape != (3, 3):
        raise ValueError(f"{path}: K must be a 3x3 matrix; got shape {k.shape}")
    intrinsics = None if not k.any() else Intrinsics(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]))
    return DepthSample.from_depth(rgb, depth, intrinsics, id)


def _read_rows(root: Path) -> list[dict[str, str]]:
    listing = root / "frames.csv"
    with open(listing, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [name for name in REQUIRED_COLUMNS if name not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(f"{listing}: missing columns {', '.join(missing)}; it needs {', '.join(REQUIRED_COLUMNS)}")
        return list(reader)


class NpzFrames(torch.utils.data.Dataset):
    """The frames of split `split` (one of `SPLITS`) of a folder of `.npz` frames listed in its `frames.csv`, in
    the order of the listing. `scenes[i]` and `groups[i]` are frame i's scene and group."""

    def __init__(self, root: str | os.PathLike, split: str = "all") -> None:
        if split not in SPLITS:
            raise ValueError(f"{root} has no split {split!r}: its splits are {', '.join(SPLITS)}")
        self.root, self.split = Path(root), split
        self.rows: list[dict[str, str]] = []
        self.groups: list[str] = []
        for row in _read_rows(self.root):
            place = placement(row["folder"], row["file"])
            outdoor = place.group not in INDOOR_GROUPS
            if (row["indoor_outdoor"] == "outdoor") != outdoor:
                raise ValueError(f"{self.root / 'frames.csv'}: {row['folder']}/{row['file']} is "
                                 f"{row['indoor_outdoor']}, but the scene table places it in {place.group}")
            if in_split(place, split):
                self.rows.append(row)
                self.groups.append(place.group)
        self.scenes = [row["scene"] for row in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> DepthSample:
        row = self.rows[index]
        return read_npz_frame(self.root / row["folder"] / row["file"], f"{row['folder']}/{row['file']}")
