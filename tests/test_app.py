"""The app in process through gradio_client: every endpoint's outputs checked with numbers, bad input answered with
clear messages while the server keeps serving, and the Gradio-free logic (registry LRU bound, focal rule, scratch
folders) directly."""

from __future__ import annotations

import functools
import json
import math
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import gradio as gr
import numpy as np
import PIL.ExifTags
import PIL.Image
import pytest
from app_helpers import make_checkpoints, save_baseline, start_app
from gradio_client import Client, handle_file
from huggingface_hub import SpaceCard

import app
from mde_hub import BaselineConfig, BtsConfig, DptConfig
from mde_hub.app import serve
from mde_hub.app.compare import default_focal, point_stride, shared_range
from mde_hub.app.evaluate import BEST_MARK, BEST_STYLE
from mde_hub.app.examples import ICL_ATTRIBUTION, ICL_FRAMES, PHOTOS
from mde_hub.app.inputs import ImageLimits, ScratchSpace
from mde_hub.app.layout import HEAD_ON_VIEW, OWN_SPACE, POINT_CLOUD_VIEW, build_demo
from mde_hub.app.registry import (
    UNTRAINED_NAME,
    ModelRegistry,
    ModelSource,
    discover_sources,
    load_predictor,
    model_bytes,
)
from mde_hub.app.serve import temporary_page
from mde_hub.data.folder import ENCODINGS
from mde_hub.data.splits import held_out_count
from mde_hub.data.synthetic import SyntheticDepthDataset
from mde_hub.evaluation.evaluate import DatasetRecord, evaluate
from mde_hub.evaluation.metrics import HIGHER_IS_BETTER, METRIC_NAMES, compute_depth_metrics
from mde_hub.evaluation.published import published_results
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.colormaps import colorize_depth, colorize_error
from mde_hub.outputs.model_card import write_model_card

LIMITS = ImageLimits(max_pixels=200_000, min_side=16)
ROOT = Path(__file__).resolve().parents[1]
MODELS = ["baseline-a", "baseline-b"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("app")
    models = make_checkpoints(root / "models")
    demo, registry, samples = start_app(models, root, LIMITS, max_file_size="1mb")
    yield {"demo": demo, "registry": registry, "samples": samples, "root": root, "models": models}
    demo.close()


@pytest.fixture(scope="module")
def client(served):
    return Client(served["demo"].local_url, verbose=False)


def _photo(path, height=48, width=64, seed=0):
    PIL.Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def _predict(served, name, image):
    return DepthPredictor.from_pretrained(served["models"] / name).predict(image).values


def _depth_from_inverse(inverse):
    """1 / d where the inverse depth d is positive, 0 (invalid) elsewhere."""
    return np.where(inverse > 0, 1.0 / np.where(inverse > 0, inverse, 1.0), 0.0)


def _by_suffix(paths, suffix):
    (found,) = [p for p in paths if p.endswith(suffix)]
    return found


def _parse_glb(path):
    data = open(path, "rb").read()
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    json_length, json_type = struct.unpack_from("<II", data, 12)
    document = json.loads(data[20 : 20 + json_length])
    assert (magic, version, length, json_type) == (b"glTF", 2, len(data), 0x4E4F534A)
    return document


def _compare(client, image_path, names=MODELS, colormap="magma", range_mode="shared", focal=0):
    return client.predict(handle_file(str(image_path)), names, colormap, range_mode, focal, api_name="/compare")


def test_compare_returns_labelled_maps_and_exact_downloads(served, client, tmp_path):
    photo = _photo(tmp_path / "photo.png")
    image = np.asarray(PIL.Image.open(photo))
    gallery, notes, inspect, (slider_in, slider_depth), pick, glb, downloads = _compare(client, photo)
    assert [item["caption"].split(" | ")[0] for item in gallery] == MODELS
    depths = {name: _predict(served, name, image) for name in MODELS}
    for item, name in zip(gallery, MODELS):
        low, high = depths[name].min(), depths[name].max()
        assert item["caption"].endswith(f"{low:.2f}-{high:.2f} m") and " ms | " in item["caption"]
    # The app's files agree exactly with one another; with an independent run of the model only to a tolerance
    # (kernels may differ in the last bits from run to run, e.g. on AMD CPUs).
    saved = {name: np.load(_by_suffix(downloads, f"{name}.depth.npy")) for name in MODELS}
    value_range = shared_range(list(saved.values()))
    assert f"{value_range[0]:.3g} to {value_range[1]:.3g} m" in notes
    # 518.8579 px at NYU's 640 px width, scaled to 64 px: 51.9 px.
    assert "focal length 51.9 px" in notes
    for name in MODELS:
        npy = saved[name]
        np.testing.assert_allclose(npy, depths[name], rtol=1e-5, atol=1e-6)
        png16 = np.asarray(PIL.Image.open(_by_suffix(downloads, f"{name}.depth.png")))
        assert png16.dtype == np.uint16 and png16.shape == (48, 64)
        np.testing.assert_array_equal(png16, np.round(npy.astype(np.float64) * 1000).astype(np.uint16))
        colour = np.asarray(PIL.Image.open(_by_suffix(downloads, f"{name}.color.png")))
        np.testing.assert_array_equal(colour, colorize_depth(npy, "magma", value_range))
        document = _parse_glb(_by_suffix(downloads, f"{name}.glb"))
        assert document["accessors"][0]["count"] == 48 * 64
        assert document["meshes"][0]["primitives"][0]["attributes"] == {"POSITION": 0, "COLOR_0": 1}
    assert inspect["value"] == "baseline-a" and [c[0] for c in inspect["choices"]] == MODELS
    assert glb.endswith("baseline-a.glb")
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(slider_in).convert("RGB")), image)
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(slider_depth)), colorize_depth(saved["baseline-a"], "magma", value_range))


def test_compare_per_image_range_focal_and_relative_model(served, client, tmp_path):
    photo = _photo(tmp_path / "photo.png", 40, 60, seed=1)
    image = np.asarray(PIL.Image.open(photo))
    gallery, notes, _, _, _, _, downloads = _compare(client, photo, ["baseline-b", "hf-dpt"], "turbo", "per image", 100.0)
    own = np.load(_by_suffix(downloads, "baseline-b.depth.npy"))
    np.testing.assert_allclose(own, _predict(served, "baseline-b", image), rtol=1e-5, atol=1e-6)
    colour = np.asarray(PIL.Image.open(_by_suffix(downloads, "baseline-b.color.png")))
    np.testing.assert_array_equal(colour, colorize_depth(own, "turbo"))
    # transformers' DPT predicts relative inverse depth: the app shows 1 / d, labelled relative, without a mm PNG;
    # its .npy, named by meaning, holds the values as the model gave them.
    inverse = np.load(_by_suffix(downloads, "hf-dpt.inverse_depth.npy"))
    np.testing.assert_allclose(inverse, _predict(served, "hf-dpt", image), rtol=1e-5, atol=1e-6)
    colour = np.asarray(PIL.Image.open(_by_suffix(downloads, "hf-dpt.color.png")))
    np.testing.assert_array_equal(colour, colorize_depth(_depth_from_inverse(inverse).astype(np.float32), "turbo"))
    assert not any(p.endswith("hf-dpt.depth.png") for p in downloads)
    assert "relative depth" in gallery[1]["caption"] and "no millimetres" in notes
    assert "hf-dpt: the point cloud is not in metres" in notes
    assert notes.count("focal length 100.0 px") == 2
    points = _parse_glb(_by_suffix(downloads, "baseline-b.glb"))["accessors"][0]
    # x = (u - cx) z / f with f = 100: the leftmost column (u = 0, cx = 29.5) bounds x at -29.5 z / 100.
    assert math.isclose(points["min"][0], (-29.5 * own[:, 0] / 100).min(), rel_tol=1e-5)


def test_an_uploaded_photo_s_exif_focal_is_used_unless_one_is_typed(served, client, tmp_path):
    photo = tmp_path / "exif.jpg"
    exif = PIL.Image.Exif()
    exif.get_ifd(PIL.ExifTags.IFD.Exif)[PIL.ExifTags.Base.FocalLengthIn35mmFilm] = 28
    pixels = np.random.default_rng(2).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    PIL.Image.fromarray(pixels).save(photo, exif=exif, quality=95)
    # 28 mm equivalent on a 64x48 photo: 28 x hypot(64, 48) / hypot(36, 24) = 28 x 80 / 43.267 = 51.77 px
    focal = 28 * 80 / math.hypot(36, 24)
    _, notes, _, _, _, _, downloads = _compare(client, photo, ["baseline-a"])
    assert f"Focal length {focal:.1f} px from the photo's EXIF (at the photo's width, 64 px)" in notes
    assert f"3D view with focal length {focal:.1f} px" in notes
    depth = np.load(_by_suffix(downloads, "baseline-a.depth.npy"))
    points = _parse_glb(_by_suffix(downloads, "baseline-a.glb"))["accessors"][0]
    assert math.isclose(points["min"][0], (-31.5 * depth[:, 0] / focal).min(), rel_tol=1e-5)  # x = (u - cx) z / f
    notes = _compare(client, photo, ["baseline-a"], focal=40.0)[1]  # a typed focal wins over the EXIF one
    assert "Focal length 40.0 px as typed" in notes and "3D view with focal length 40.0 px" in notes
    notes = _compare(client, _photo(tmp_path / "plain.png"), ["baseline-a"])[1]
    assert "No focal length typed or in the photo's EXIF" in notes and "focal length 51.9 px" in notes  # NYU's


def test_inspect_switches_the_slider_and_the_3d_view(client, tmp_path):
    _compare(client, _photo(tmp_path / "photo.png"))
    (_, depth_png), pick, glb = client.predict("baseline-b", api_name="/inspect")
    assert depth_png.endswith("baseline-b.color.png") and glb.endswith("baseline-b.glb")


def _evaluate(client, image, gt, encoding, names, protocol="none", alignment="none", space=OWN_SPACE):
    return client.predict(
        handle_file(str(image)), handle_file(str(gt)), encoding, names, protocol, alignment, space, api_name="/evaluate"
    )


def test_evaluate_tab_oracles_score_zero_error(served, client, tmp_path):
    """Ground truth equal to a metric model's own output scores AbsRel 0 and delta1 1; ground truth whose inverse is
    affine in transformers' DPT's relative inverse depth does too, once aligned in inverse-depth space."""
    photo = _photo(tmp_path / "photo.png", 48, 64, seed=3)
    image = np.asarray(PIL.Image.open(photo))
    np.save(tmp_path / "own.npy", _predict(served, "baseline-a", image).astype(np.float32))
    inverse = _predict(served, "hf-dpt", image).astype(np.float64)
    np.save(tmp_path / "affine.npy", (1 / (inverse / np.median(inverse) + 0.2)).astype(np.float32))
    abs_rel, delta1 = 1 + METRIC_NAMES.index("abs_rel"), 1 + METRIC_NAMES.index("delta1")
    for gt, name, alignment in (("own.npy", "baseline-a", "none"), ("affine.npy", "hf-dpt", "scale_shift")):
        table, _, notes = _evaluate(client, photo, tmp_path / gt, "millimetres (16-bit PNG)", [name], alignment=alignment)
        (row,) = table["data"]
        assert row[abs_rel] < 1e-6 and row[delta1] == 1, (name, row)
    assert "fitted in the model's own space" in notes


def test_evaluate_table_equals_compute_depth_metrics_and_marks_the_best(served, client):
    sample = served["samples"][0]  # indoor, millimetre PNG
    table, error_maps, notes = _evaluate(client, sample.image, sample.depth, sample.encoding, [*MODELS, "hf-dpt"], alignment="median")
    image = np.asarray(PIL.Image.open(sample.image))
    gt = ENCODINGS["mm"].read(sample.depth)
    assert table["headers"] == ["model", *METRIC_NAMES, "note"]
    expected = {name: compute_depth_metrics(_predict(served, name, image), gt, "none", alignment="median") for name in MODELS}
    inverse = _predict(served, "hf-dpt", image)
    # aligned in its own, inverse-depth space
    expected["hf-dpt"] = compute_depth_metrics(inverse, gt, "none", alignment="median", prediction_type="inverse_depth")
    rows = {row[0]: row for row in table["data"]}
    for name, metrics in expected.items():
        np.testing.assert_allclose([rows[name][1 + i] for i in range(9)], [metrics[m] for m in METRIC_NAMES], rtol=1e-9)
    display, styling = table["metadata"]["display_value"], table["metadata"]["styling"]
    for column, metric in enumerate(METRIC_NAMES, start=1):
        values = [float(f"{row[column]:.3g}") for row in table["data"]]  # as shown
        best = max(values) if HIGHER_IS_BETTER[metric] else min(values)
        for row_index, value in enumerate(values):
            marked = display[row_index][column].endswith(BEST_MARK)
            expected = value == best and len(set(values)) > 1  # every best model; none where all tie
            assert marked == expected and (styling[row_index][column] == BEST_STYLE) == marked
    assert len(error_maps) == 3 and error_maps[0]["caption"].startswith("baseline-a | abs rel, 0 to")
    assert "Protocol **none**" in notes and "median" in notes


def test_evaluate_error_map_is_the_abs_rel_of_the_scored_prediction(served, client):
    sample = served["samples"][0]
    _, error_maps, _ = _evaluate(client, sample.image, sample.depth, sample.encoding, ["baseline-a"])
    image = np.asarray(PIL.Image.open(sample.image))
    gt = ENCODINGS["mm"].read(sample.depth).astype(np.float64)
    pred = np.maximum(_predict(served, "baseline-a", image).astype(np.float64), 1e-3)
    valid = gt > 1e-3
    error = np.where(valid, np.abs(pred - gt) / np.where(valid, gt, 1), np.nan)
    scale = float(error_maps[0]["caption"].rsplit(" ", 1)[1])
    assert math.isclose(scale, np.nanpercentile(error, 98), rel_tol=5e-3)  # the caption has 3 digits
    shown = np.asarray(PIL.Image.open(error_maps[0]["image"]).convert("RGB"))
    expected = colorize_error(error, float(np.nanpercentile(error, 98)), "magma")
    # an independent run of the model: equal up to neighbouring colour-map entries where the last bits differ
    assert np.abs(shown.astype(int) - expected.astype(int)).max() <= 4
    # the two paths agree: the mean of the map is the abs_rel metric
    assert math.isclose(np.nanmean(error), compute_depth_metrics(pred, gt, "none")["abs_rel"], rel_tol=1e-9)


def test_evaluate_kitti_png_and_npy_ground_truth_agree(served, client, tmp_path):
    sample = served["samples"][-1]  # outdoor, KITTI value / 256
    assert sample.encoding.startswith("KITTI")
    gt = ENCODINGS["kitti"].read(sample.depth)
    np.save(tmp_path / "gt.npy", gt)
    from_png, _, _ = _evaluate(client, sample.image, sample.depth, sample.encoding, ["baseline-a"])
    from_npy, _, _ = _evaluate(client, sample.image, tmp_path / "gt.npy", "millimetres (16-bit PNG)", ["baseline-a"])
    assert from_png["data"] == from_npy["data"]
    expected = compute_depth_metrics(_predict(served, "baseline-a", np.asarray(PIL.Image.open(sample.image))), gt)
    assert math.isclose(from_png["data"][0][1], expected["abs_rel"], rel_tol=1e-9)
    # decoded as millimetres instead, the same file means depths 256/1000 as large: another abs_rel
    as_mm, _, _ = _evaluate(client, sample.image, sample.depth, "millimetres (16-bit PNG)", ["baseline-a"])
    assert not math.isclose(as_mm["data"][0][1], expected["abs_rel"], rel_tol=1e-3)


def test_relative_model_without_alignment_is_not_scored(client, served):
    sample = served["samples"][0]
    table, error_maps, notes = _evaluate(client, sample.image, sample.depth, sample.encoding, ["baseline-a", "hf-dpt"])
    rows = {row[0]: row for row in table["data"]}
    assert rows["hf-dpt"][1] is None and "pick the median or scale_shift" in rows["hf-dpt"][-1]
    assert len(error_maps) == 1 and "hf-dpt: relative depth" in notes


def test_benchmarks_show_published_and_measured_rows(served, client):
    """baseline-a: an evaluation JSON and the card made from it (one row, from the JSON); baseline-b: a card only."""
    results = {}
    for name in MODELS:
        checkpoint = served["models"] / name
        results[name] = evaluate(
            DepthPredictor.from_pretrained(checkpoint), SyntheticDepthDataset(size=2, height=32, width=40), "none",
            record=DatasetRecord("synthetic:indoor:2"),
        )
        results[name].to_json(checkpoint / "results_synthetic.json")
        write_model_card(checkpoint, [checkpoint / "results_synthetic.json"])
    (served["models"] / "baseline-b" / "results_synthetic.json").unlink()
    (served["models"] / "baseline-a" / "results_broken.json").write_text("{not json")
    everything = client.predict("all", api_name="/benchmarks")
    published = [row for row in everything["data"] if row[0] == "published"]
    assert len(published) == len(published_results())
    measured = [row for row in everything["data"] if row[0].startswith("measured")]
    assert [row[:3] + row[4:5] for row in measured] == [
        ["measured (eval JSON)", "Baseline", "baseline-a", "none"],
        ["measured (model card)", "Baseline", "baseline-b", "none"],
    ]
    assert measured[0][3] == "synthetic:indoor:2"
    for row, name in zip(measured, MODELS):
        assert row[5:14] == pytest.approx([results[name].metrics[m] for m in METRIC_NAMES], rel=1e-6), name
    kitti = client.predict("KITTI protocols", api_name="/benchmarks")
    assert {row[4] for row in kitti["data"]} == {"kitti_garg", "kitti_garg_adabins"}
    assert len(kitti["data"]) == len(published_results(dataset="kitti"))
    other = client.predict("other protocols", api_name="/benchmarks")
    assert [row[2] for row in other["data"]] == MODELS
    for name in MODELS:
        (served["models"] / name / "README.md").unlink()


def test_load_model_adds_a_local_checkpoint_and_explains_hub_failures(served, client, tmp_path):
    extra = save_baseline(served["models"] / "extra-model", 3)  # typed local paths load only beside served ones
    compare_models, evaluate_models, status = client.predict(str(extra), ["baseline-a"], [], api_name="/load_model")
    assert compare_models["value"] == ["baseline-a", "extra-model"] and evaluate_models["value"] == ["extra-model"]
    assert [choice[0] for choice in compare_models["choices"]] == [*MODELS, "hf-dpt", "extra-model"]
    assert "extra-model" in served["registry"].names and "Loaded **extra-model**" in status
    with pytest.raises(Exception, match="offline: start the app with --online to download 'someone/no-such-model'"):
        client.predict("someone/no-such-model", [], [], api_name="/load_model")
    with pytest.raises(Exception, match="neither a checkpoint directory nor a valid Hub model id"):
        client.predict("bad id!!", [], [], api_name="/load_model")
    gallery = _compare(client, _photo(tmp_path / "photo.png"), ["extra-model"])[0]
    assert gallery[0]["caption"].startswith("extra-model | ")


def _bad_files(tmp_path):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is text, not a PNG")
    good = _photo(tmp_path / "good.png", 40, 40)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:300])
    huge = _photo(tmp_path / "huge.png", 400, 600)  # 240,000 pixels > the fixture's 200,000
    tiny = _photo(tmp_path / "tiny.png", 1, 1)
    return {"not_image": not_image, "truncated": truncated, "huge": huge, "tiny": tiny}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_image", "notes.png is not an image file this app can read"),
        ("truncated", "truncated.png is damaged or truncated"),
        ("huge", r"huge.png is 600x400 = 0.2 MP, above the app's limit of 0.2 MP"),
        ("tiny", "tiny.png is 1x1 pixels: too small, both sides must be at least 16 pixels"),
        ("unknown_model", "'no-such-model' .* is not in the list of choices"),
        ("no_model", "pick at least one model"),
        ("no_image", "upload an image first"),
        ("negative_focal", "the focal length must be a finite positive number of pixels, or 0"),
    ],
)
def test_bad_compare_input_is_a_message_and_the_server_stays_up(client, tmp_path, case, message):
    files = _bad_files(tmp_path)
    good = _photo(tmp_path / "photo.png")
    image = handle_file(str(files.get(case, good))) if case != "no_image" else None
    names = {"unknown_model": ["no-such-model"], "no_model": []}.get(case, MODELS)
    focal = -1 if case == "negative_focal" else None
    with pytest.raises(Exception, match=message):
        client.predict(image, names, "magma", "shared", focal, api_name="/compare")
    assert len(_compare(client, good)[0]) == 2


def test_bad_evaluate_input_is_a_message_and_the_server_stays_up(served, client, tmp_path):
    sample = served["samples"][0]
    other_size = tmp_path / "gt.png"
    PIL.Image.fromarray(np.full((30, 40), 1500, dtype=np.uint16)).save(other_size)
    with pytest.raises(Exception, match=r"the ground truth is 40x30 but the image is 320x240 \(width x height\)"):
        _evaluate(client, sample.image, other_size, sample.encoding, MODELS)
    with pytest.raises(Exception, match="^000000.png: a depth image must have one channel .* got mode 'RGB'"):
        _evaluate(client, sample.image, sample.image, sample.encoding, MODELS)  # an RGB photo as depth
    with pytest.raises(Exception, match="defined on a 480x640 frame, but the ground truth is 240x320"):
        _evaluate(client, sample.image, sample.depth, sample.encoding, MODELS, protocol="nyu_eigen")
    table, _, _ = _evaluate(client, sample.image, sample.depth, sample.encoding, MODELS)
    assert len(table["data"]) == 2


def test_uploads_over_the_size_limit_are_refused(client, tmp_path):
    big = tmp_path / "big.npy"
    np.save(big, np.zeros(300_000))  # 2.4 MB > the fixture's 1 MB
    with pytest.raises(Exception, match="(?i)size"):
        client.predict(handle_file(str(_photo(tmp_path / "p.png"))), handle_file(str(big)), "millimetres (16-bit PNG)", MODELS,
                       "none", "none", "depth", api_name="/evaluate")
    assert len(_compare(client, _photo(tmp_path / "photo.png"))[0]) == 2


def test_registry_lru_cache_is_bounded_by_parameter_bytes(tmp_path):
    paths = [save_baseline(tmp_path / f"m{i}", i) for i in range(3)]
    sources = [ModelSource(p.name, str(p), "local") for p in paths]
    size = model_bytes(load_predictor(sources[0]).model)
    assert size == 4 * sum(p.numel() for p in load_predictor(sources[0]).model.parameters())  # float32, no buffers
    loads = []
    registry = ModelRegistry(sources, max_bytes=2 * size + size // 2, loader=lambda s: loads.append(s.name) or load_predictor(s))
    registry.get("m0"), registry.get("m1")
    assert registry.loaded() == ["m0", "m1"] and registry.loaded_bytes() == 2 * size
    registry.get("m0")  # m0 becomes the most recently used
    registry.get("m2")  # evicts m1, the least recently used
    assert registry.loaded() == ["m0", "m2"] and registry.loaded_bytes() <= registry.max_bytes
    registry.get("m0")
    assert loads == ["m0", "m1", "m2"]  # cached models are not loaded again
    registry.get("m1")
    assert loads == ["m0", "m1", "m2", "m1"] and registry.loaded() == ["m0", "m1"]
    small = ModelRegistry(sources, max_bytes=size - 1)
    with pytest.raises(ValueError, match="unknown model 'm9'; available: m0, m1, m2"):
        registry.get("m9")
    with pytest.raises(ValueError, match=r"m0 needs .* MiB for its weights, more than the app's model memory bound"):
        small.get("m0")
    assert small.loaded() == []


def test_discover_sources(tmp_path):
    assert discover_sources(None, str(tmp_path / "missing")) == [ModelSource(UNTRAINED_NAME, "", "untrained")]
    save_baseline(tmp_path / "ckpts" / "a", 0)
    save_baseline(tmp_path / "other" / "a", 1)
    found = discover_sources(None, str(tmp_path / "ckpts"))
    assert found == [ModelSource("a", str(tmp_path / "ckpts" / "a"), "local")]
    mixed = discover_sources([str(tmp_path / "ckpts"), str(tmp_path / "other" / "a"), "owner/model"], None)
    assert [(s.name, s.kind) for s in mixed] == [("a", "local"), ("a (2)", "local"), ("owner/model", "hub")]
    with pytest.raises(ValueError, match="no checkpoint"):
        discover_sources([str(tmp_path)], None)
    with pytest.raises(ValueError, match="not a checkpoint directory"):
        discover_sources(["./no/such/dir"], None)
    untrained = ModelRegistry(discover_sources(None, None))
    assert untrained.untrained_only and untrained.get(UNTRAINED_NAME).model.config.model_type == "mde_baseline"


def test_focal_rule_point_stride_and_error_colours():
    assert math.isclose(default_focal(BaselineConfig(), 640), 518.8579)
    assert math.isclose(default_focal(BaselineConfig(), 320), 518.8579 / 2)
    assert math.isclose(default_focal(DptConfig.kitti(), 1242), 721.5377)
    assert math.isclose(default_focal(BtsConfig.kitti(), 621), 715.0873 / 2)
    assert math.isclose(default_focal(object(), 640), 518.8579)  # no max_depth: NYU-range
    assert point_stride(480, 640) == 2 and point_stride(100, 100) == 1 and point_stride(1000, 1000) == 2
    colours = colorize_error(np.array([[0.0, 0.1], [0.5, np.nan]]), 0.2, "gray")
    np.testing.assert_array_equal(colours[..., 0], [[0, 128], [255, 0]])


def test_scratch_space_keeps_only_the_newest_folders(tmp_path):
    scratch = ScratchSpace(keep=3, root=str(tmp_path / "scratch"))
    folders = [scratch.new_dir() for _ in range(5)]
    assert sorted(p.name for p in (tmp_path / "scratch").iterdir()) == sorted(p.name for p in folders[2:])
    scratch.close()
    assert not (tmp_path / "scratch").exists()


def test_app_defaults_bind_loopback(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_NAME", raising=False)
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    args = app.parse_args([])
    assert (args.host, args.port, args.share, args.online, args.models) == (None, None, False, False, None)
    assert serve.server_address(args.host, args.port) == ("127.0.0.1", 7860)


def test_app_main_serves_the_registry_and_limits_its_flags_ask_for(monkeypatch, tmp_path):
    models = make_checkpoints(tmp_path / "models")
    served = {}
    monkeypatch.setattr(app, "serve", lambda registry, limits, *options: served.update(registry=registry, limits=limits, options=options))
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")  # as a Space sets it; --port wins over its port
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7861")
    app.main([
        "--models", str(models), "--max-model-memory", "1.5", "--max-pixels", "2", "--port", "9000", "--concurrency", "3",
        "--max-disk", "10",
    ])
    registry = served["registry"]
    assert registry.names == [*MODELS, "hf-dpt"] and registry.max_bytes == int(1.5 * 2**20)
    assert not registry.allow_local_paths and served["limits"] == ImageLimits(max_pixels=2_000_000)
    assert served["options"] == ("0.0.0.0", 9000, False, "50mb", 3, 10 * 2**20)
    monkeypatch.setenv("GRADIO_SERVER_PORT", "http")
    with pytest.raises(SystemExit, match="GRADIO_SERVER_PORT must be a port number"):
        app.main(["--models", str(models)])


def test_temporary_page_renders_the_examples_and_removes_its_folder(monkeypatch):
    monkeypatch.setattr(serve, "write_examples", functools.partial(serve.write_examples, indoor=1, outdoor=1))
    registry = ModelRegistry(discover_sources(None, None))
    with temporary_page(registry, prefix="mde-hub-test-") as (demo, samples):
        folder = Path(samples[-1].image).parents[3]  # FOLDER/examples/outdoor/image/000000.png
        assert folder.name.startswith("mde-hub-test-") and all(Path(s.image).is_file() and Path(s.depth).is_file() for s in samples)
        assert all(Path(s.image).is_relative_to(folder) for s in samples)  # the photos are copied beside them
        # the three ICL-NUIM photos first, with their attribution, then one synthetic room and one street
        assert [s.name for s in samples[:3]] == [f"ICL-NUIM living room {i} (mm depth)" for i in (1, 2, 3)]
        assert [s.attribution for s in samples] == [ICL_ATTRIBUTION] * 3 + ["", ""] and len(samples) == 5
        assert "CC BY 3.0" in ICL_ATTRIBUTION and "Handa" in ICL_ATTRIBUTION
        assert {"/compare", "/evaluate"} <= set(demo.get_api_info()["named_endpoints"])
        components = demo.config["components"]
        shown = [c["props"].get("value") for c in components if "attribution" in (c["props"].get("elem_classes") or [])]
        assert shown == [f"<small>{ICL_ATTRIBUTION}</small>"] * 2  # under the Compare examples and the sample pairs
        labels = [c["props"]["label"] for c in components if c["type"] == "dataset"]
        assert labels == ["Examples (3 ICL-NUIM photos, then synthetic)", "Sample pairs (3 ICL-NUIM photos, then synthetic)"]
    assert not folder.exists()


def test_shipped_photos_are_the_icl_frames_held_out_of_training_with_their_licence():
    names = sorted(path.name for path in PHOTOS.iterdir())
    frames = [f"icl_livingroom1_{frame}" for frame in ICL_FRAMES]
    assert names == ["LICENSE.md", *sorted(f"{f}{suffix}" for f in frames for suffix in (".depth.png", ".jpg"))]
    assert "CC BY 3.0" in (PHOTOS / "LICENSE.md").read_text()
    # the mix recipes hold out the last fifth of the 211 frames (split_tail): frames 169-210
    assert all(int(frame) >= 211 - held_out_count(211, 0.2) == 169 for frame in ICL_FRAMES)
    for frame in frames:
        depth = np.asarray(PIL.Image.open(PHOTOS / f"{frame}.depth.png"))
        valid = depth[depth > 0] / 1000
        assert depth.shape == (480, 640) and 0.5 < valid.min() < valid.max() < 4  # millimetres, 0.69-3.38 m rendered
        assert PIL.Image.open(PHOTOS / f"{frame}.jpg").size == (640, 480)


def test_the_3d_view_opens_at_an_angle():
    alpha, beta, _ = POINT_CLOUD_VIEW
    assert (alpha, beta) != HEAD_ON_VIEW and abs(alpha - HEAD_ON_VIEW[0]) >= 20 and abs(beta - HEAD_ON_VIEW[1]) >= 20
    registry = ModelRegistry(discover_sources(None, None))
    with tempfile.TemporaryDirectory() as work:
        demo = build_demo(registry, ScratchSpace(root=work))
    (cloud,) = [c for c in demo.config["components"] if c["type"] == "model3d"]
    assert tuple(cloud["props"]["camera_position"]) == POINT_CLOUD_VIEW


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sigterm_stops_the_app_and_removes_its_temporary_folder(served, tmp_path):
    """`python app.py` as a Space starts it (address from GRADIO_SERVER_NAME/PORT), one request, then SIGTERM. The
    upload is cached in the app's own folder, not in GRADIO_TEMP_DIR, and no file is left in either afterwards
    (Gradio makes an empty GRADIO_TEMP_DIR/vibe_edit_history at start, from the variable as it was at import)."""
    port = _free_port()
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {
        **os.environ, "TMPDIR": str(temp), "GRADIO_TEMP_DIR": str(temp / "gradio"),
        "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, str(ROOT / "app.py"), "--models", str(served["models"] / "baseline-a")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None and time.monotonic() < deadline, "the app did not start"
            try:
                urllib.request.urlopen(url, timeout=2).close()
                break
            except OSError:
                time.sleep(0.5)
        (folder,) = temp.glob("mde-hub-app-*")
        gallery = Client(url, verbose=False).predict(
            handle_file(str(_photo(tmp_path / "photo.png"))), ["baseline-a"], "magma", "shared", 0, api_name="/compare"
        )[0]
        assert gallery[0]["caption"].startswith("baseline-a | ")
        assert len(list((folder / "requests").iterdir())) == 1
        assert [path.name for path in (folder / "gradio").rglob("photo.png")] == ["photo.png"]  # the upload
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not folder.exists() and not list(temp.glob("mde-hub-app-*"))
    assert [path for path in temp.rglob("*") if path.is_file()] == []
    assert "Traceback" not in process.stdout.read()


def test_space_readme_front_matter_matches_the_pinned_gradio():
    front = SpaceCard.load(ROOT / "space" / "README.md").data.to_dict()  # parsed as the Hub parses it
    pinned = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    assert front["sdk"] == "gradio" and front["sdk_version"] == pinned["gradio"] == gr.__version__
    assert front["app_file"] == "app.py" and (ROOT / front["app_file"]).is_file()
    assert front["license"] == "apache-2.0" and front["python_version"] == "3.11"
    assert {"title", "emoji", "colorFrom", "colorTo", "short_description"} <= set(front)
    assert len(front["short_description"]) <= 60  # the Hub's limit
