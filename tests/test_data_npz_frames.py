"""The extra_real layout (mde_hub.data.npz_frames): reading .npz frames, the held-out scene table and its splits, on
tiny fixture folders and, when ../shared is present, on the real folder."""

import csv
import os
from collections import Counter

import numpy as np
import pytest
from npz_frames_fixture import STREET_K, write_extra_real, write_frame, write_listing

from mde_hub.data.npz_frames import SCENES, SPLITS, NpzFrames, placement, read_npz_frame
from mde_hub.data.registry import find_layout, open_split
from mde_hub.data.sample import Intrinsics


@pytest.fixture
def extra_real(tmp_path):
    return write_extra_real(tmp_path / "extra_real")


def test_reader_gives_the_stored_arrays_and_camera(tmp_path):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    depth = np.array([[1.5, 0.0, np.nan], [2.5, -1.0, 80.0]], np.float32)
    write_frame(tmp_path, "kitti_object_vis", "a.npz", rgb, depth, STREET_K, "street")
    sample = read_npz_frame(tmp_path / "kitti_object_vis" / "a.npz", "kitti_object_vis/a.npz")
    assert sample.id == "kitti_object_vis/a.npz" and np.array_equal(sample.image, rgb)
    assert sample.intrinsics == Intrinsics(40.0, 40.0, 31.5, 9.5)
    # 0, NaN and negative depths are invalid and stored as 0.
    np.testing.assert_array_equal(sample.valid, [[True, False, False], [True, False, True]])
    np.testing.assert_array_equal(sample.depth, np.array([[1.5, 0, 0], [2.5, 0, 80]], np.float32))
    write_frame(tmp_path, "pcl_tutorials", "b.npz", rgb, depth, np.zeros((3, 3)), "room")
    assert read_npz_frame(tmp_path / "pcl_tutorials" / "b.npz", "b").intrinsics is None  # K all zeros: unknown


@pytest.mark.parametrize("arrays, message", [
    ({"rgb": np.zeros((2, 3, 3), np.uint8), "K": np.zeros((3, 3))}, "missing keys depth; a frame holds rgb, depth, K"),
    ({"rgb": np.zeros((2, 3), np.uint8), "depth": np.ones((2, 3)), "K": np.zeros((3, 3))},
     r"rgb must be \(H, W, 3\) uint8; got \(2, 3\) uint8"),
    ({"rgb": np.zeros((2, 3, 3), np.uint8), "depth": np.ones((3, 2)), "K": np.zeros((3, 3))},
     r"depth must be float metres of the rgb's size \(2, 3\); got \(3, 2\) float64"),
    ({"rgb": np.zeros((2, 3, 3), np.uint8), "depth": np.ones((2, 3)), "K": np.zeros(4)},
     r"K must be a 3x3 matrix; got shape \(4,\)"),
])
def test_reader_names_a_malformed_frame(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=f"bad.npz: {message}"):
        read_npz_frame(tmp_path / "bad.npz", "bad")


def test_layout_is_recognised_and_splits_follow_the_scene_table(extra_real):
    assert find_layout(extra_real).name == "extra_real"
    ids = {split: [sample.id for sample in open_split(extra_real, split=split)[0]] for split in SPLITS}
    assert ids["heldout_rooms"] == ["pcl_tutorials/office.npz", "mmdet3d_demo/sunrgbd_000017.npz"]
    assert ids["heldout_close"] == ["anygrasp_tracking/grasp_000.npz", "anygrasp_tracking/grasp_001.npz"]
    assert ids["heldout_streets"] == ["kitti_object_vis/kitti_obj_000000.npz"]
    assert ids["heldout_indoor"] == ids["heldout_rooms"] + ids["heldout_close"]
    assert ids["train_streets"] == ["mmdet3d_demo/kitti_obj_000008.npz", "tri_dgp_scene01/scene_01.npz"]
    assert ids["train_indoor"] == ids["train_close"] == ["pcl_mosd/learn0.npz"] and ids["train_rooms"] == []
    assert sorted(ids["train"] + ids["heldout"]) == sorted(ids["all"]) and len(ids["all"]) == 8
    assert not set(ids["train"]) & set(ids["heldout"])
    frames = NpzFrames(extra_real, "heldout")
    assert frames.groups == ["rooms", "rooms", "close", "close", "streets"] and frames.scenes[2] == "tabletop"
    assert open_split(extra_real)[1] == "all"  # no split named: every frame
    with pytest.raises(ValueError, match="extra_real layout\\) has no split 'test' \\(the default here\\): its splits "
                       "are all, train, heldout, train_rooms"):
        open_split(extra_real, default_split="test")


def test_a_frame_the_scene_table_does_not_place_is_refused(extra_real):
    write_listing(extra_real, [{"folder": "new_folder", "file": "x.npz", "scene": "s", "indoor_outdoor": "indoor"}])
    with pytest.raises(ValueError, match="frame new_folder/x.npz is placed by no entry of the scene table"):
        NpzFrames(extra_real)
    write_listing(extra_real, [{"folder": "pcl_mosd", "file": "x.npz", "scene": "s", "indoor_outdoor": "outdoor"}])
    with pytest.raises(ValueError, match="pcl_mosd/x.npz is outdoor, but the scene table places it in close"):
        NpzFrames(extra_real)
    write_listing(extra_real, [])
    (extra_real / "frames.csv").write_text("folder,file\npcl_mosd,x.npz\n")
    with pytest.raises(ValueError, match="frames.csv: missing columns scene, indoor_outdoor"):
        NpzFrames(extra_real)


def test_a_frame_entry_wins_over_its_folder_entry():
    assert placement("mmdet3d_demo", "sunrgbd_000017.npz").held_out
    assert placement("mmdet3d_demo", "kitti_obj_000008.npz").group == "streets"
    assert {place.group for place in SCENES.values()} == {"rooms", "close", "streets"}


# The real folder: ../shared/data/rgbd/extra_real (non-commercial; never copied here).


@pytest.fixture
def real_extra_real(shared_rgbd):
    path = os.path.join(shared_rgbd, "extra_real")
    if not os.path.isdir(path):
        pytest.skip("../shared/data/rgbd/extra_real is not present")
    return path


def test_real_folder_matches_its_manifest_and_holds_out_whole_scenes(real_extra_real):
    with open(os.path.join(real_extra_real, "frames.csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 79 and Counter(row["indoor_outdoor"] for row in rows) == {"indoor": 63, "outdoor": 16}
    frames = {split: NpzFrames(real_extra_real, split) for split in SPLITS}
    assert len(frames["all"]) == 79
    assert Counter(frames["all"].groups) == {"close": 57, "streets": 16, "rooms": 6}  # 63 indoor, 16 outdoor
    sizes = {split: len(frames[split]) for split in ("train", "heldout", "heldout_rooms", "heldout_close",
                                                     "heldout_streets", "train_indoor", "train_streets")}
    assert sizes == {"train": 43, "heldout": 36, "heldout_rooms": 2, "heldout_close": 30, "heldout_streets": 4,
                     "train_indoor": 31, "train_streets": 12}
    assert not set(frames["train"].scenes) & set(frames["heldout"].scenes)
    train_ids = {f"{row['folder']}/{row['file']}" for row in frames["train"].rows}
    assert not train_ids & {f"{row['folder']}/{row['file']}" for row in frames["heldout"].rows}


def test_real_held_out_groups_fit_their_depth_caps(real_extra_real):
    """Scored with protocol none (no cap), the held-out groups equal a 10 m (rooms, close) / 80 m (streets) cap."""
    for split, cap in (("heldout_rooms", 10.0), ("heldout_close", 10.0), ("heldout_streets", 80.0)):
        frames = NpzFrames(real_extra_real, split)
        deepest = max(float(frames[index].depth.max()) for index in range(len(frames)))
        assert 0 < deepest <= cap, split
