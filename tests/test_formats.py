"""One reader and one writer per format (issue 16, item 2): the evaluation JSON, data-set specs, RGB conversion and
image layout."""

from __future__ import annotations

import json
import math
import pathlib
import shutil

import numpy as np
import pytest

from mde_hub.evaluation import EvaluationResult, read_evaluation
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.protocols import get_protocol

REPO = pathlib.Path(__file__).resolve().parents[1]
METRICS = {name: 0.1 + index / 100 for index, name in enumerate(METRIC_NAMES)}


# --- the evaluation JSON -----------------------------------------------------------------------------------------


def _result(protocol: str = "kitti_eigen") -> EvaluationResult:
    import dataclasses

    return EvaluationResult(
        metrics=dict(METRICS),
        num_images=7,
        num_skipped=1,
        protocol=dataclasses.asdict(get_protocol(protocol)),
        settings={"flip_tta": True, "alignment": "none", "alignment_space": "depth", "prediction_type": "depth",
                  "limit": None},
        model={"name": "m", "model_type": "mde_baseline"},
        dataset={"class": "RgbdFolder", "len": 8, "source": "icl:/data/icl", "split": "tail:0.2", "options": {}},
        versions={"mde_hub": "0.2.0"},
        timestamp="2026-01-01T00:00:00+00:00",
    )


def test_evaluation_json_round_trips_through_its_one_writer_and_reader(tmp_path) -> None:
    result = _result()
    result.to_json(tmp_path / "results.json")
    back = read_evaluation(tmp_path / "results.json")
    assert back == EvaluationResult.from_json(tmp_path / "results.json")
    assert back.to_dict() == result.to_dict()
    assert back.metrics == METRICS and (back.num_images, back.num_skipped) == (7, 1)
    assert back.eval_protocol == get_protocol("kitti_eigen")
    assert back.protocol["max_depth"] == 80.0 and back.protocol["pred_clip"] == [0.001, 80.0]
    assert back.protocol["crop"] == {"top": 0.3324324, "bottom": 0.91351351, "left": 0.0359477, "right": 0.96405229}


def test_evaluation_reader_accepts_older_forms(tmp_path) -> None:
    data = _result("none").to_dict()
    data["protocol"]["kb_crop"] = False  # before kb_crop named a frame
    for key in ("abs_rel_denominator", "flip_tta", "max_depth_exclusive"):
        data["protocol"].pop(key)  # fields added since
    data["settings"].pop("prediction_type")
    data.pop("versions")
    data.pop("timestamp")
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = read_evaluation(tmp_path / "old.json")
    assert old.protocol["kb_crop"] == "none" and old.eval_protocol == get_protocol("none")
    assert math.isinf(old.eval_protocol.max_depth) and old.protocol["max_depth"] == "inf"
    assert old.versions == {} and old.timestamp == "" and old.metrics == METRICS
    data["protocol"]["kb_crop"] = True
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert read_evaluation(tmp_path / "old.json").eval_protocol.kb_crop == "paste"


def test_every_shipped_evaluation_json_reads(tmp_path) -> None:
    paths = sorted(REPO.glob("checkpoints/*/results*.json"))
    assert paths
    for path in paths:
        result = read_evaluation(path)
        assert set(METRIC_NAMES) <= set(result.metrics)
        assert result.protocol["kb_crop"] in ("none", "paste", "crop")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("num_skipped"), "lacks num_skipped"),
        (lambda d: d["metrics"].pop("delta2"), "'metrics' must give a number for each of"),
        (lambda d: d["metrics"].update(rmse="0.3"), "'metrics' must give a number"),
        (lambda d: d.update(settings=[]), "'settings' must be a JSON object"),
        (lambda d: d["protocol"].update(kb_crop="sideways"), "unreadable protocol"),
        (lambda d: d["protocol"].update(colour="red"), "unreadable protocol"),
    ],
)
def test_evaluation_reader_names_the_file_and_the_fault(tmp_path, change, message) -> None:
    data = _result().to_dict()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as error:
        read_evaluation(path)
    assert str(path) in str(error.value)


def test_evaluation_reader_refuses_non_json_and_missing_files(tmp_path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json must hold a JSON object"):
        read_evaluation(tmp_path / "list.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(ValueError, match=r"text\.json is not valid JSON"):
        read_evaluation(tmp_path / "text.json")
    with pytest.raises(FileNotFoundError, match=r"gone\.json"):
        read_evaluation(tmp_path / "gone.json")


def test_every_consumer_reads_through_the_one_reader(tmp_path) -> None:
    """The app's Benchmarks tab and train/ship.py's README table read an old JSON (kb_crop a bool) as the card does,
    and skip or refuse a broken one."""
    from mde_hub.app.benchmarks import evaluation_json_rows
    from mde_hub.training.shipping import read_results

    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    data = _result("none").to_dict()
    data["protocol"]["kb_crop"] = False
    data["settings"]["alignment"] = "median"
    (checkpoint / "results_icl_median.json").write_text(json.dumps(data))
    (checkpoint / "results_broken.json").write_text(json.dumps({"metrics": METRICS}))
    rows = evaluation_json_rows(str(checkpoint), "ckpt")
    assert len(rows) == 1
    assert rows[0]["protocol"] == "none + median alignment" and rows[0]["dataset"] == "icl (tail:0.2)"
    assert {name: rows[0][name] for name in METRIC_NAMES} == METRICS
    assert read_results(checkpoint) == {("icl", "median"): METRICS}
    shutil.copy(checkpoint / "results_broken.json", checkpoint / "results_icl_raw.json")
    with pytest.raises(ValueError, match=r"results_icl_raw\.json lacks"):
        read_results(checkpoint)


# --- data-set specs ----------------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path) -> pathlib.Path:
    """10 frames in the layout `write_rgbd_folder` writes; frame i has image value i."""
    from mde_hub.data.folder import write_rgbd_folder
    from mde_hub.data.sample import DepthSample

    frames = [
        DepthSample.from_depth(np.full((8, 12, 3), i, np.uint8), np.full((8, 12), 1 + i / 10, np.float32), None, str(i))
        for i in range(10)
    ]
    return write_rgbd_folder(frames, tmp_path / "video", encoding="mm")


@pytest.mark.parametrize(
    "text, fields, formatted",
    [
        ("synthetic:indoor:200", dict(synthetic="indoor", size=200, seed=0), "synthetic:indoor:200"),
        ("synthetic:outdoor:50:3", dict(synthetic="outdoor", size=50, seed=3), "synthetic:outdoor:50:3"),
        ("synthetic:indoor:32:0", dict(synthetic="indoor", size=32, seed=0), "synthetic:indoor:32"),
        ("icl:../shared/data/rgbd/icl_livingroom1", dict(layout="icl", path="../shared/data/rgbd/icl_livingroom1"), None),
        ("7scenes:/d/7scenes_redkitchen", dict(layout="7scenes", path="/d/7scenes_redkitchen"), None),
        ("data/nyu_test.zip", dict(layout=None, path="data/nyu_test.zip"), None),
        ("C:\\data\\nyu", dict(layout=None, path="C:\\data\\nyu"), None),  # not a layout: a path
        ("./a:b", dict(layout=None, path="./a:b"), None),
    ],
)
def test_dataset_specs_parse_and_format_in_one_grammar(text, fields, formatted) -> None:
    from mde_hub.data.specs import DatasetSpec

    spec = DatasetSpec.parse(text)
    assert {name: getattr(spec, name) for name in fields} == fields
    assert str(spec) == (formatted or text)
    assert DatasetSpec.parse(str(spec)) == spec


@pytest.mark.parametrize(
    "text, message",
    [
        ("synthetic:indoor", "'synthetic:indoor': synthetic data sets are written synthetic:indoor:N"),
        ("synthetic:kitchen:4", "'synthetic:kitchen:4': synthetic data sets are written"),
        ("synthetic:indoor:4:x", "optionally followed by :SEED"),
        ("synthetic:indoor:4:1:2", "'synthetic:indoor:4:1:2'"),
        ("icl:", "'icl:': LAYOUT:PATH needs a path after icl:"),
        ("", "non-empty spec"),
    ],
)
def test_bad_dataset_specs_are_named(text, message) -> None:
    from mde_hub.data.specs import DatasetSpec

    with pytest.raises(ValueError, match=message):
        DatasetSpec.parse(text)


def test_every_surface_opens_a_spec_alike(folder, tmp_path, capsys) -> None:
    """`mde-hub evaluate`'s data set, `mde-hub data inspect`, train.py's folder and mix data and train/ship.py's
    frames all read the one grammar: LAYOUT:PATH or PATH, and the split tail:F."""
    from mde_hub.cli import main
    from mde_hub.data.specs import open_frame, open_spec
    from mde_hub.training import DataArguments
    from mde_hub.training.data import _real_samples
    from mde_hub.training.shipping import figure_samples

    def values(dataset) -> list[int]:
        return [int(dataset[i].image[0, 0, 0]) for i in range(len(dataset))]

    for spec, layout in ((f"rgbd_folder:{folder}", None), (str(folder), None), (str(folder), "rgbd_folder")):
        tail, split = open_spec(spec, layout, "tail:0.2", "test")
        assert values(tail) == [8, 9] and split == "tail:0.2"
        assert values(open_spec(spec, layout)[0]) == list(range(10))
    training = DataArguments(dataset="folder", dataset_path=f"rgbd_folder:{folder}", train_split="tail:0.3")
    assert values(_real_samples(training, training=True)[0]) == [7, 8, 9]
    with pytest.raises(ValueError, match="names layout 'rgbd_folder', but layout 'icl' was also given"):
        open_spec(f"rgbd_folder:{folder}", "icl", None, "test")
    with pytest.raises(ValueError, match="synthetic:indoor:4 is one set of rendered frames; it takes no layout, split"):
        open_spec("synthetic:indoor:4", "icl", "test", "test")
    with pytest.raises(ValueError, match="data set spec 'synthetic:indoor:x'"):
        DataArguments(dataset="mix", mix_folders=["synthetic:indoor:x"])

    assert main(["data", "inspect", f"rgbd_folder:{folder}", "--split", "tail:0.2", "--preview",
                 str(tmp_path / "p.png")]) == 0
    assert "2 samples, split tail:0.2" in capsys.readouterr().out
    assert main(["data", "inspect", "synthetic:indoor:2", "--preview", str(tmp_path / "s.png")]) == 0
    assert "SyntheticDepthDataset, 2 samples" in capsys.readouterr().out

    frames = figure_samples([f"rgbd_folder:{folder}@7", "synthetic:1@2", "synthetic:indoor:4:1@2"])
    assert int(frames[0].image[0, 0, 0]) == 7
    assert frames[1].id == frames[2].id == "synthetic/indoor/seed1/000002"
    np.testing.assert_array_equal(frames[1].image, frames[2].image)
    assert int(open_frame(f"{folder}@3").image[0, 0, 0]) == 3
    for bad, message in (("synthetic:indoor:4@9", "has 4 frames, so no frame 9"), (str(folder), "DATASET@INDEX")):
        with pytest.raises(ValueError, match=message):
            open_frame(bad)


# --- RGB conversion ----------------------------------------------------------------------------------------------


def _photos(tmp_path: pathlib.Path) -> dict[str, pathlib.Path]:
    """The same 6x5 scene saved as a 16-bit grey PNG, an 8-bit RGB PNG, a palette PNG, RGBA and greyscale."""
    import PIL.Image

    rng = np.random.default_rng(3)
    sixteen = rng.integers(0, 65536, (6, 5)).astype(np.uint16)
    sixteen[0, :3] = (30000, 65535, 0)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    images = {
        "I;16": PIL.Image.fromarray(sixteen),
        "RGB": PIL.Image.fromarray(rgb),
        "P": PIL.Image.fromarray(rgb).quantize(colors=7),
        "RGBA": PIL.Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (6, 5), dtype=np.uint8)])),
        "L": PIL.Image.fromarray(rgb[..., 0]),
    }
    paths = {}
    for mode, image in images.items():
        assert image.mode == mode
        paths[mode] = tmp_path / f"{mode.replace(';', '')}.png"
        image.save(paths[mode])
    return paths


def test_a_photo_reads_as_the_same_rgb_in_the_loaders_and_the_predictor(tmp_path) -> None:
    import PIL.Image
    import torch

    from mde_hub import BaselineConfig, BaselineForDepthEstimation
    from mde_hub.data.folder import read_rgb, rgbd_folder, write_rgbd_folder
    from mde_hub.data.images import load_image, to_rgb, to_rgb_tensor, to_rgb_uint8
    from mde_hub.data.sample import DepthSample
    from mde_hub.inference.predictor import DepthPredictor

    paths = _photos(tmp_path)
    blank = DepthSample.from_depth(np.zeros((6, 5, 3), np.uint8), np.ones((6, 5), np.float32), None, "0")
    folder = write_rgbd_folder([blank], tmp_path / "folder", encoding="mm")
    torch.manual_seed(0)
    predictor = DepthPredictor.from_model(BaselineForDepthEstimation(BaselineConfig.tiny(image_size=16)).eval(), "tiny")
    for mode, path in paths.items():
        shutil.copy(path, folder / "image" / "000000.png")
        loaded = rgbd_folder(folder)[0].image  # a data loader
        assert loaded.dtype == np.uint8 and loaded.shape == (6, 5, 3)
        np.testing.assert_array_equal(read_rgb(path), loaded)
        image = load_image(path)
        np.testing.assert_array_equal(to_rgb(image), loaded)  # what the predictor converts to
        np.testing.assert_array_equal(to_rgb_uint8(image), loaded)
        torch.testing.assert_close(to_rgb_tensor(image), torch.from_numpy(loaded).permute(2, 0, 1) / 255.0, rtol=0, atol=0)
        np.testing.assert_array_equal(predictor.predict(image).values, predictor.predict(loaded).values)
        if mode in ("RGB", "RGBA"):
            np.testing.assert_array_equal(loaded, np.asarray(PIL.Image.open(path))[..., :3])
    sixteen = read_rgb(paths["I;16"])
    assert sixteen[0, :3, 0].tolist() == [117, 255, 0]  # 30000 / 257 = 116.7; 65535 -> 255, not 255 for all > 255
    raw = np.asarray(PIL.Image.open(paths["I;16"])).astype(np.int64)
    np.testing.assert_array_equal(sixteen, np.repeat(np.round(raw / 257)[..., None], 3, axis=-1))
    np.testing.assert_array_equal(to_rgb(raw.astype(np.uint16)), sixteen)  # a uint16 array alike


# --- image layout -------------------------------------------------------------------------------------------------


def test_the_predictor_converts_once_and_never_guesses_the_layout_again() -> None:
    import torch

    from mde_hub import BaselineConfig, BaselineForDepthEstimation
    from mde_hub.inference.predictor import DepthPredictor

    torch.manual_seed(0)
    predictor = DepthPredictor.from_model(BaselineForDepthEstimation(BaselineConfig.tiny(image_size=16)).eval(), "tiny")
    chw = torch.rand(3, 10, 4)
    hwc = chw.permute(1, 2, 0).numpy()
    from_chw = predictor.predict(chw).values
    assert from_chw.shape == (10, 4)
    np.testing.assert_array_equal(predictor.predict(hwc).values, from_chw)  # (10, 4, 3): the same image
    np.testing.assert_array_equal(predictor.predict(chw, input_data_format="channels_first").values, from_chw)
    tall = torch.rand(3, 4, 10)  # only the first axis can hold the channels: a 4x10 image
    assert predictor.predict(tall).values.shape == (4, 10)
    ambiguous = np.random.default_rng(0).random((4, 10, 3), dtype=np.float32)  # HWC of a 4x10 image, or CHW?
    assert predictor.predict(ambiguous).values.shape == (4, 10)  # the rule: a numpy array is channels-last
    assert predictor.predict(torch.from_numpy(ambiguous)).values.shape == (10, 3)  # and a tensor channels-first
    assert predictor.predict(ambiguous, input_data_format="channels_first").values.shape == (10, 3)
    assert predictor.predict(torch.from_numpy(ambiguous), input_data_format="channels_last").values.shape == (4, 10)
    with pytest.raises(ValueError, match=r"shape \(10, 4, 3\) given as channels_first has 10 channels"):
        predictor.predict(hwc, input_data_format="channels_first")


def test_the_processor_takes_an_explicit_layout() -> None:
    import torch
    from transformers.image_utils import ChannelDimension

    from mde_hub import DepthImageProcessor

    processor = DepthImageProcessor(do_resize=False, do_normalize=False)
    hwc = np.random.default_rng(1).integers(0, 256, (4, 10, 3), dtype=np.uint8)  # both ends could be channels
    chw = np.moveaxis(hwc, -1, 0)  # (3, 4, 10)
    expected = torch.from_numpy(chw).float()[None] / 255
    for image, layout in ((hwc, "channels_last"), (hwc, ChannelDimension.LAST), (chw, "channels_first"),
                          (torch.from_numpy(chw), ChannelDimension.FIRST), (torch.from_numpy(hwc), "channels_last"),
                          (chw, None), (hwc, None)):
        pixels = processor(image, input_data_format=layout)["pixel_values"]
        torch.testing.assert_close(pixels, expected, rtol=0, atol=0)
    assert processor(torch.from_numpy(hwc))["pixel_values"].shape == (1, 3, 10, 3)  # ambiguous tensor: channels first
    grey = np.full((4, 10), 51, np.uint8)
    assert torch.allclose(processor(grey, input_data_format="channels_first")["pixel_values"], torch.tensor(0.2))
    with pytest.raises(ValueError, match="input_data_format must be"):
        processor(hwc, input_data_format="sideways")
