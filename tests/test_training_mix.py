"""Held-out tails of videos (mde_hub.data.splits), the `mix` training data, the synthetic frame cache and the
`mde-hub evaluate` dataset specs that score the held-out tails."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from npz_frames_fixture import write_extra_real

from mde_hub import BaselineConfig, BaselineForDepthEstimation
from mde_hub.cli import main
from mde_hub.data.folder import write_rgbd_folder
from mde_hub.data.sample import DepthSample, Intrinsics
from mde_hub.data.specs import open_spec, tail_fraction
from mde_hub.data.splits import held_out_count, split_tail
from mde_hub.data.synthetic import SyntheticDepthDataset
from mde_hub.evaluation.evaluate import DatasetRecord
from mde_hub.training import DataArguments, build_datasets
from mde_hub.training import data as training_data


def _frames(count: int, name: str, height: int = 24, width: int = 32) -> list[DepthSample]:
    """Distinct frames: frame i has depth 1 + i / 10 m everywhere and image value i."""
    return [
        DepthSample.from_depth(
            np.full((height, width, 3), index, np.uint8), np.full((height, width), 1.0 + index / 10, np.float32),
            Intrinsics(30.0, 30.0, (width - 1) / 2, (height - 1) / 2), f"{name}/{index}",
        )
        for index in range(count)
    ]


@pytest.fixture
def video_folders(tmp_path):
    """Two folders of 10 and 6 frames in the layout write_rgbd_folder writes (millimetres)."""
    first = write_rgbd_folder(_frames(10, "a"), tmp_path / "a", encoding="mm")
    second = write_rgbd_folder(_frames(6, "b"), tmp_path / "b", encoding="mm")
    return [f"rgbd_folder:{first}", f"rgbd_folder:{second}"]


@pytest.mark.parametrize("length, fraction, held_out", [(211, 0.2, 42), (250, 0.2, 50), (10, 0.2, 2), (2, 0.1, 1), (5, 0.9, 4)])
def test_held_out_count(length, fraction, held_out):
    assert held_out_count(length, fraction) == held_out


def test_split_tail_is_a_disjoint_contiguous_tail():
    train, held_out = split_tail(list(range(211)), 0.2)
    assert list(train.indices) == list(range(169))
    assert list(held_out.indices) == list(range(169, 211))
    assert [held_out[i] for i in range(len(held_out))] == list(range(169, 211))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_tail_rejects_fractions_outside_0_1(fraction):
    with pytest.raises(ValueError, match="fraction must be in"):
        split_tail(list(range(10)), fraction)


def test_split_tail_needs_two_frames():
    with pytest.raises(ValueError, match="cannot split 1 frame"):
        split_tail([0], 0.5)


def test_tail_fraction():
    assert tail_fraction("tail:0.2") == 0.2
    assert tail_fraction("test") is None
    for bad in ("tail:", "tail:x", "tail:1", "tail:0"):
        with pytest.raises(ValueError, match="tail:F with 0 < F < 1"):
            tail_fraction(bad)


def test_folder_specs_name_a_layout_or_leave_it_to_detection(video_folders):
    assert len(open_spec(video_folders[0])[0]) == 10
    assert len(open_spec(video_folders[0].partition(":")[2])[0]) == 10  # the layout recognised from the files
    with pytest.raises(ValueError, match=r"'icl:': LAYOUT:PATH needs a path"):
        open_spec("icl:")
    for bad in ("no-colon", ":path"):
        with pytest.raises(FileNotFoundError, match=f"no dataset at {bad}"):
            open_spec(bad)
    with pytest.raises(FileNotFoundError, match="'nope' is not a layout; LAYOUT:PATH takes one of rgbd_folder"):
        open_spec("nope:" + video_folders[0].partition(":")[2])


def _mix_arguments(video_folders, tmp_path, **overrides) -> DataArguments:
    settings = dict(
        dataset="mix", mix_folders=video_folders, mix_held_out_fraction=0.2, synthetic_size=2, synthetic_eval_size=1,
        synthetic_height=16, synthetic_width=24, synthetic_cache_dir=str(tmp_path / "cache"),
    )
    return DataArguments(**{**settings, **overrides})


def test_mix_trains_on_heads_and_evaluates_on_tails(video_folders, tmp_path):
    data = build_datasets(_mix_arguments(video_folders, tmp_path), BaselineConfig.tiny(image_size=32))
    assert len(data.train) == 2 + 8 + 5 and len(data.eval) == 1 + 2 + 1
    train_ids = [sample.id for part in data.train.samples.datasets for sample in part]
    eval_ids = [sample.id for part in data.eval.samples.datasets for sample in part]
    assert train_ids[2:] == [f"a/image/{i:06d}.png" for i in range(8)] + [f"b/image/{i:06d}.png" for i in range(5)]
    assert eval_ids[1:] == ["a/image/000008.png", "a/image/000009.png", "b/image/000005.png"]
    assert train_ids[0].startswith("synthetic/indoor/seed0/") and eval_ids[0].startswith("synthetic/indoor/seed1/")
    assert not set(train_ids) & set(eval_ids)
    # Real frames are resized once to the synthetic frame size, depth kept (nearest): frame 9 is 1.9 m everywhere.
    last = data.eval.samples.datasets[1][1]
    assert last.image.shape == (16, 24, 3) and np.allclose(last.depth, 1.9, atol=1e-3)
    item = data.eval[3]
    assert item["pixel_values"].shape == (3, 32, 32) and torch.allclose(item["labels"], torch.tensor(1.5), atol=1e-3)
    assert "frames 8-9 (last 0.2)" in data.description and "frames 0-4" in data.description


def test_mix_arguments_are_checked(video_folders):
    with pytest.raises(ValueError, match="needs mix_folders"):
        DataArguments(dataset="mix")
    with pytest.raises(ValueError, match=r"mix_held_out_fraction must be in \(0, 1\)"):
        DataArguments(dataset="mix", mix_folders=video_folders, mix_held_out_fraction=1.0)


def test_mix_takes_named_splits_of_a_folder_and_fits_its_frames(tmp_path):
    """extra_real in the mix: trained on train_streets, evaluated on heldout_streets; frames centre-cropped to the
    synthetic aspect, sparse depth kept, and depth beyond the outdoor frames' 80 m invalid (TRI's 100 m)."""
    spec = f"extra_real:{write_extra_real(tmp_path / 'extra_real')}"
    args = DataArguments(
        dataset="mix", mix_folders=[spec], mix_splits={spec: {"train": "train_streets", "eval": "heldout_streets"}},
        synthetic_kind="outdoor", synthetic_sparse=True, synthetic_size=1, synthetic_eval_size=1, synthetic_height=16,
        synthetic_width=32, synthetic_cache_dir=str(tmp_path / "cache"),
    )
    data = build_datasets(args, BaselineConfig.tiny(image_size=32, max_depth=80.0))
    kitti, tri = data.train.samples.datasets[1]
    (held_out,) = data.eval.samples.datasets[1]
    assert (kitti.id, tri.id, held_out.id) == (
        "mmdet3d_demo/kitti_obj_000008.npz", "tri_dgp_scene01/scene_01.npz", "kitti_object_vis/kitti_obj_000000.npz")
    assert kitti.depth.shape == (16, 32) and np.all(kitti.depth[kitti.valid] == 30.0)
    # 20x64 -> 16x32 crop of 20x40, shrunk 0.8x: every 4th pixel of every 2nd row stays one point per pixel.
    assert kitti.valid.sum() == 10 * 10 and not tri.valid.any()
    assert f"{spec} split train_streets (2 frames)" in data.description
    assert f"{spec} split heldout_streets (1 frames)" in data.description and "depth up to 80 m" in data.description


@pytest.mark.parametrize("mix_splits, message", [
    ({"icl:elsewhere": {"train": "train", "eval": "heldout"}}, "mix_splits names 'icl:elsewhere', which is not one of"),
    ({"extra_real:x": {"train": "train"}}, 'must be {"train": SPLIT, "eval": SPLIT}; got'),
    ({"extra_real:x": {"train": "train", "eval": "tail:0.2"}}, "\\['eval'\\] must name a split of the data set"),
    ({"extra_real:x": {"train": "heldout", "eval": "heldout"}}, "trains and evaluates on the same split 'heldout'"),
    ('{"extra_real:x": ', "mix_splits must be a JSON object"),
])
def test_mix_splits_are_checked(mix_splits, message):
    with pytest.raises(ValueError, match=message):
        DataArguments(dataset="mix", mix_folders=["extra_real:x"], mix_splits=mix_splits)


def test_a_named_split_pair_that_shares_frames_is_refused(tmp_path):
    spec = f"extra_real:{write_extra_real(tmp_path / 'extra_real')}"
    args = DataArguments(dataset="mix", mix_folders=[spec], mix_splits={spec: {"train": "all", "eval": "heldout_rooms"}},
                         synthetic_size=1, synthetic_eval_size=0, synthetic_height=16, synthetic_width=24)
    with pytest.raises(ValueError, match="its training and held-out splits share frames mmdet3d_demo/sunrgbd_000017.npz, "
                       "pcl_tutorials/office.npz"):
        build_datasets(args, BaselineConfig.tiny(image_size=32))


def test_synthetic_cache_round_trips_bit_identically(tmp_path, monkeypatch):
    frames = SyntheticDepthDataset("indoor", 3, 16, 24, seed=5)
    rendered = training_data.cached_prerender(frames, tmp_path)
    assert [path.name for path in tmp_path.iterdir()] == ["indoor_3x16x24_seed5.npz"]
    monkeypatch.setattr(training_data, "prerender", lambda frames: pytest.fail("rendered again despite the cache"))
    cached = training_data.cached_prerender(frames, tmp_path)
    for first, second in zip(rendered, cached, strict=True):
        assert first.id == second.id and first.intrinsics == second.intrinsics
        assert np.array_equal(first.image, second.image) and np.array_equal(first.depth, second.depth)
        assert np.array_equal(first.valid, second.valid)


def test_evaluation_dataset_specs(video_folders):
    path = video_folders[0].partition(":")[2]
    tail, split = open_spec(path, "rgbd_folder", "tail:0.2", "test")
    assert [tail[i].id for i in range(len(tail))] == ["a/image/000008.png", "a/image/000009.png"] and split == "tail:0.2"
    whole, split = open_spec(path, None, None, "test")
    assert len(whole) == 10 and split is None  # no named splits: all frames, whatever the default "test"
    synthetic, split = open_spec("synthetic:indoor:4:7", None, None, "test")
    assert synthetic.seed == 7 and split is None
    assert open_spec("synthetic:indoor:4", None, None, "test")[0].seed == 0
    with pytest.raises(ValueError, match="optionally followed by :SEED"):
        open_spec("synthetic:indoor:4:x", None, None, "test")
    with pytest.raises(ValueError, match="one set of rendered frames; it takes no split, depth_field"):
        open_spec("synthetic:indoor:4", None, "test", "test", depth_field="depths")


def test_dataset_record_of_an_opened_data_set():
    options = {"split_file": "splits.mat", "depth_field": None, "gt_root": None}
    record = DatasetRecord.opened("nyu.mat", "test", SimpleNamespace(depth_field="rawDepths"), options)
    assert record == DatasetRecord("nyu.mat", "test", {"split_file": "splits.mat", "depth_field": "rawDepths"})
    assert DatasetRecord.opened("synthetic:indoor:2", None, [], {"gt_root": None}) == DatasetRecord("synthetic:indoor:2")


def test_cli_evaluates_a_held_out_tail(video_folders, tmp_path, capsys):
    torch.manual_seed(0)
    BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32)).save_pretrained(tmp_path / "model")
    from mde_hub.models.auto import image_processor_for

    image_processor_for(BaselineConfig.tiny(image_size=32)).save_pretrained(tmp_path / "model")
    output = tmp_path / "results.json"
    path = video_folders[1].partition(":")[2]
    argv = ["evaluate", "--model", str(tmp_path / "model"), "--dataset", path, "--layout", "rgbd_folder",
            "--split", "tail:0.5", "--protocol", "none", "--output", str(output)]
    assert main(argv) == 0
    result = json.loads(output.read_text())
    assert result["num_images"] == 3 and result["dataset"]["split"] == "tail:0.5" and result["dataset"]["len"] == 3
    assert main([*argv[:-4], "--split", "tail:2", "--protocol", "none", "--output", str(output)]) == 2
    assert "tail:F with 0 < F < 1" in capsys.readouterr().err


def test_cli_evaluates_a_held_out_scene_group(tmp_path, capsys):
    torch.manual_seed(0)
    config = BaselineConfig.tiny(image_size=32)
    BaselineForDepthEstimation(config).save_pretrained(tmp_path / "model")
    from mde_hub.models.auto import image_processor_for

    image_processor_for(config).save_pretrained(tmp_path / "model")
    root = write_extra_real(tmp_path / "extra_real")
    output = tmp_path / "results.json"
    argv = ["evaluate", "--model", str(tmp_path / "model"), "--dataset", str(root), "--layout", "extra_real",
            "--protocol", "none", "--output", str(output)]
    assert main([*argv, "--split", "heldout_close"]) == 0
    result = json.loads(output.read_text())
    assert result["num_images"] == 2 and result["dataset"]["split"] == "heldout_close"
    assert main(argv) == 2  # evaluate's default split is test, which extra_real lacks
    assert "has no split 'test' (the default here): its splits are all, train, heldout" in capsys.readouterr().err
