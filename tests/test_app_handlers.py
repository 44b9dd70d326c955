"""The page's handlers (mde_hub/app/handlers.py) called directly, without Gradio, and the binding that wires them
(`layout.event`): what each returns, where it writes, and the messages of refused input."""

from __future__ import annotations

import inspect
import logging

import gradio as gr
import numpy as np
import PIL.Image
import pytest
from app_helpers import save_baseline, save_exploding_baseline, save_hf_dpt
from bad_inputs import png_header_only

from mde_hub.app.compare import MIN_WORKING_SIDE, DepthStore, KeptDepths, file_stems, working_image
from mde_hub.app.evaluate import BEST_MARK, ModelScore, best_values, metrics_table
from mde_hub.app.handlers import (
    OWN_SPACE,
    add_model,
    benchmarks_table,
    compare_view,
    depth_at,
    evaluate_view,
    gallery_files,
    inspect_view,
    model_view,
    recolour_view,
)
from mde_hub.app.inputs import ImageLimits, ScratchSpace, folder_bytes, read_ground_truth, read_image
from mde_hub.app.labelled import colour_bar, labelled_map
from mde_hub.app.layout import event, run_compare
from mde_hub.app.model_facts import ModelFacts
from mde_hub.app.registry import ModelRegistry, discover_sources
from mde_hub.app.serve import server_address
from mde_hub.data.synthetic import SyntheticDepthDataset
from mde_hub.evaluation.evaluate import DatasetRecord, evaluate
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.published import published_results
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.colormaps import colorize_depth

LIMITS = ImageLimits(max_pixels=200_000, min_side=16)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("handlers") / "models"
    save_baseline(root / "metric", 0)
    save_hf_dpt(root / "relative")
    save_baseline(root / "later", 1)  # not served at first: added with add_model
    return root


@pytest.fixture
def registry(models):
    return ModelRegistry(discover_sources([str(models / "metric"), str(models / "relative")], None))


@pytest.fixture
def scratch(tmp_path):
    space = ScratchSpace(keep=4, root=str(tmp_path / "scratch"))
    yield space
    space.close()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_compare_view_writes_into_a_new_scratch_folder_and_shows_the_first_model(registry, scratch, photo):
    view = compare_view(registry, scratch, LIMITS, DepthStore(), photo, ["metric", "relative", "metric"], "magma", "shared", 0)
    assert view.models == ["metric", "relative"]
    assert [caption.split(" | ")[0] for _, caption in view.gallery] == view.models
    (folder,) = scratch.root.iterdir()
    assert all(path.startswith(str(folder)) for path in view.downloads)
    views = view.state["views"]
    assert view.state["image"] == photo and set(views) == {"metric", "relative"}
    assert view.slider == (photo, views["metric"][0]) and view.cloud == views["metric"][1]
    assert view.slider[1].endswith("metric.color.png") and view.cloud.endswith("metric.glb")
    depth = np.load(next(path for path in view.downloads if path.endswith("metric.depth.npy")))
    expected = DepthPredictor.from_pretrained(registry.sources["metric"].location).predict(PIL.Image.open(photo)).values
    np.testing.assert_allclose(depth, expected, rtol=1e-5, atol=1e-6)
    # one metric map: the shared range is its own 2nd-98th percentile
    shown = np.asarray(PIL.Image.open(view.slider[1]))
    np.testing.assert_array_equal(shown, colorize_depth(depth, "magma"))
    assert "Metric maps share one colour range" in view.notes


@pytest.mark.parametrize(
    ("image", "names", "range_mode", "focal", "message"),
    [
        (None, ["metric"], "shared", 0, "upload an image first"),
        ("photo", ["metric"], "both", 0, r"range must be one of \('shared', 'per image'\); got 'both'"),
        ("photo", [], "shared", 0, "pick at least one model"),
        ("photo", None, "shared", 0, "pick at least one model"),
        ("photo", ["metric"], "shared", -2, "the focal length must be a finite positive number"),
        ("photo", ["nope"], "shared", 0, "unknown model 'nope'"),
    ],
)
def test_compare_view_refuses_bad_input(registry, scratch, photo, image, names, range_mode, focal, message):
    with pytest.raises(ValueError, match=message):
        compare_view(registry, scratch, LIMITS, DepthStore(), photo if image else None, names, "magma", range_mode, focal)


def test_compare_view_checks_the_image_limits_before_anything_is_written(registry, scratch, tmp_path):
    big = tmp_path / "big.png"
    PIL.Image.new("RGB", (600, 400)).save(big)
    with pytest.raises(ValueError, match="big.png is 600x400 = 0.2 MP, above the app's limit"):
        compare_view(registry, scratch, LIMITS, DepthStore(), str(big), ["metric"], "magma", "shared", 0)
    assert list(scratch.root.iterdir()) == []


def test_compare_view_refuses_a_model_whose_output_is_nan(models, scratch, photo, tmp_path):
    exploding = save_exploding_baseline(tmp_path / "exploding")
    registry = ModelRegistry(discover_sources([str(models / "metric"), str(exploding)], None))
    with pytest.raises(ValueError, match=r"^model exploding produced \d+ NaN or infinite depth value\(s\) of \d+: its"):
        compare_view(registry, scratch, LIMITS, DepthStore(), photo, ["metric", "exploding"], "magma", "shared", 0)
    assert list(scratch.root.iterdir()) == []


def test_inspect_view_switches_model_and_needs_a_comparison(registry, scratch, photo):
    state = compare_view(registry, scratch, LIMITS, DepthStore(), photo, ["metric", "relative"], "magma", "per image", 0).state
    slider, cloud = inspect_view(state, "relative")
    assert slider == (photo, state["views"]["relative"][0]) and cloud.endswith("relative.glb")
    assert model_view({"m": ("m.png", "")}, "m", "in.png") == (("in.png", "m.png"), None)  # no GLB: no 3D view
    for bad_state, name in ((None, "metric"), ({}, "metric"), (state, "missing")):
        with pytest.raises(ValueError, match="run a comparison first"):
            inspect_view(bad_state, name)


def test_add_model_selects_it_in_both_tabs_once(registry, models):
    added = add_model(registry, str(models / "later"), ["metric"], None)
    assert added.names == ["metric", "relative", "later"] == registry.names
    assert added.compare_selected == ["metric", "later"] and added.evaluate_selected == ["later"]
    assert added.status == "Loaded **later** (local); it is now selectable in both tabs."
    again = add_model(registry, str(models / "later"), ["later"], ["later"])  # already there: not added twice
    assert again.names == registry.names and again.compare_selected == again.evaluate_selected == ["later"]
    for location in (None, "  "):
        with pytest.raises(ValueError, match="type a Hub model id"):
            add_model(registry, location, [], [])


def test_evaluate_view_scores_warns_and_writes_error_maps(registry, scratch, photo, tmp_path):
    own = DepthPredictor.from_pretrained(registry.sources["metric"].location).predict(PIL.Image.open(photo)).values
    np.save(tmp_path / "gt.npy", own.astype(np.float32))
    view = evaluate_view(
        registry, scratch, LIMITS, photo, str(tmp_path / "gt.npy"), "millimetres (16-bit PNG)", ["metric", "relative"],
        "none", "none", OWN_SPACE,
    )
    rows = view.table.data.set_index("model")
    assert rows.loc["metric", "abs_rel"] < 1e-6 and rows.loc["metric", "delta1"] == 1
    assert np.isnan(rows.loc["relative", "abs_rel"])
    assert view.warnings == ["relative: relative depth: pick the median or scale_shift alignment"]
    assert view.notes.startswith("Protocol **none**") and view.notes.endswith("\n- " + view.warnings[0])
    assert "Ground truth as decoded: " in view.notes and "fitted in" not in view.notes
    (path, caption), = view.error_maps
    (folder,) = scratch.root.iterdir()
    assert path == str(folder / "abs_rel_0.png") and caption.startswith("metric | abs rel, 0 to")
    aligned = evaluate_view(
        registry, scratch, LIMITS, photo, str(tmp_path / "gt.npy"), "millimetres (16-bit PNG)", ["relative"],
        "none", "median", "depth",
    )
    assert aligned.warnings == [] and len(aligned.error_maps) == 1 and "(fitted in depth)" in aligned.notes


def test_evaluate_view_refuses_missing_or_mismatched_files(registry, scratch, photo, tmp_path):
    for image, gt in ((photo, None), (None, photo)):
        with pytest.raises(ValueError, match="upload an RGB image and its ground-truth depth"):
            evaluate_view(registry, scratch, LIMITS, image, gt, "mm", ["metric"], "none", "none", OWN_SPACE)
    PIL.Image.fromarray(np.full((30, 40), 1500, dtype=np.uint16)).save(tmp_path / "gt.png")
    with pytest.raises(ValueError, match=r"the ground truth is 40x30 but the image is 56x40"):
        evaluate_view(registry, scratch, LIMITS, photo, str(tmp_path / "gt.png"), "mm", ["metric"], "none", "none", OWN_SPACE)
    assert list(scratch.root.iterdir()) == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_evaluate_view_checks_the_ground_truth_size_from_its_header(registry, scratch, photo, tmp_path, decoded_sizes):
    """A 12000x14000 16-bit depth PNG is refused before a pixel of it is decoded (it once took 5 GB), as photos are."""
    gt = png_header_only(tmp_path / "huge_gt.png", 12000, 14000, bit_depth=16, colour_type=0)
    with pytest.raises(ValueError, match=r"^huge_gt\.png is 12000x14000 = 168\.0 MP, above the limit of 0\.2 MP"):
        evaluate_view(registry, scratch, LIMITS, photo, str(gt), "mm", ["metric"], "none", "none", OWN_SPACE)
    assert (12000, 14000) not in decoded_sizes and list(scratch.root.iterdir()) == []
    with pytest.raises(ValueError, match=r"^huge_gt\.png is 12000x14000 = 168\.0 MP"):
        read_ground_truth(gt, "mm", LIMITS)
    assert (12000, 14000) not in decoded_sizes


def test_benchmarks_table_formats_the_filtered_rows(registry):
    table = benchmarks_table(registry, "KITTI protocols")
    assert len(table.data) == len(published_results(dataset="kitti"))
    assert list(table.data.columns[5:14]) == list(METRIC_NAMES)
    with pytest.raises(ValueError, match="unknown filter 'some'"):
        benchmarks_table(registry, "some")


def test_gallery_files_are_pngs_of_the_images(tmp_path):
    images = [(np.full((4, 5, 3), value, dtype=np.uint8), f"caption {value}") for value in (0, 200)]
    files = gallery_files(images, tmp_path, "map")
    assert files == [(str(tmp_path / "map_0.png"), "caption 0"), (str(tmp_path / "map_1.png"), "caption 200")]
    for (path, _), (image, _) in zip(files, images):
        np.testing.assert_array_equal(np.asarray(PIL.Image.open(path)), image)


def test_event_binds_the_leading_arguments_and_shows_user_errors():
    handler = event(run_compare, "registry", "scratch", "limits", "store")
    assert handler.__name__ == "run_compare"
    assert list(inspect.signature(handler).parameters) == ["image_path", "names", "colormap", "range_mode", "focal"]

    def divide(total, count):
        if count == 0:
            raise ValueError("count must not be 0")
        if count < 0:
            raise KeyError("negative")
        return total / count

    bound = event(divide, 6)
    assert bound(3) == 2 and list(inspect.signature(bound).parameters) == ["count"]
    with pytest.raises(gr.Error, match="count must not be 0"):  # ValueError/OSError: a message in the page
        bound(0)
    with pytest.raises(gr.Error):
        event(open)("/no/such/file")
    with pytest.raises(KeyError):  # anything else stays an internal error
        bound(-1)


class CountingRegistry(ModelRegistry):
    """A registry that counts the models it hands out (each is run once per comparison)."""

    calls = 0

    def get(self, name):
        CountingRegistry.calls += 1
        return super().get(name)


def test_recolour_redraws_the_kept_depth_without_running_a_model(models, scratch, photo):
    registry = CountingRegistry(discover_sources([str(models / "metric"), str(models / "relative")], None))
    store = DepthStore()
    first = compare_view(registry, scratch, LIMITS, store, photo, ["metric", "relative"], "magma", "shared", 0)
    calls = CountingRegistry.calls
    again = recolour_view(scratch, store, first.state, "turbo", "per image")
    assert CountingRegistry.calls == calls  # no model was asked for
    assert [caption for _, caption in again.gallery] == [caption for _, caption in first.gallery]  # same latency
    kept = np.load(next(path for path in first.downloads if path.endswith("metric.depth.npy")))
    np.testing.assert_array_equal(np.asarray(PIL.Image.open(again.slider[1])), colorize_depth(kept, "turbo"))
    with pytest.raises(ValueError, match="run a comparison first"):
        recolour_view(scratch, store, None, "turbo", "shared")
    with pytest.raises(ValueError, match="no longer kept"):
        recolour_view(scratch, DepthStore(), first.state, "turbo", "shared")


def test_depth_at_reads_the_kept_depth_at_the_clicked_pixel(registry, scratch, photo):
    store = DepthStore()
    view = compare_view(registry, scratch, LIMITS, store, photo, ["metric", "relative"], "magma", "shared", 0)
    depth = np.load(next(path for path in view.downloads if path.endswith("metric.depth.npy")))
    assert depth_at(store, view.state, "metric", 7, 3) == f"**metric** at (7, 3) of 56x40: **{depth[3, 7]:.3g} m**"
    inverse = np.load(next(path for path in view.downloads if path.endswith("relative.inverse_depth.npy")))
    y, x = np.argwhere(inverse > 0)[0]
    assert f"**{1 / inverse[y, x]:.3g} (relative, no unit)**" in depth_at(store, view.state, "relative", int(x), int(y))
    if (inverse <= 0).any():
        y, x = np.argwhere(inverse <= 0)[0]
        assert depth_at(store, view.state, "relative", int(x), int(y)).endswith("no valid depth")
    with pytest.raises(ValueError, match=r"pixel \(56, 0\) is outside the 56x40 map"):
        depth_at(store, view.state, "metric", 56, 0)


def test_depth_store_evicts_the_least_recently_used_beyond_its_bound():
    def kept(side):
        return KeptDepths(np.zeros((side, side, 3), np.uint8), [], {})

    store = DepthStore(max_bytes=3 * 100 * 100 * 3)
    keys = [store.put(kept(100)) for _ in range(3)]
    store.get(keys[0])  # the oldest is used again, so the second goes first
    store.put(kept(100))
    assert len(store) == 3 and store.get(keys[0]) and store.get(keys[2])
    with pytest.raises(ValueError, match="no longer kept"):
        store.get(keys[1])
    big = store.put(kept(200))  # the newest always stays, alone when it fills the bound
    assert len(store) == 1 and store.get(big)


def test_a_large_photo_is_downscaled_to_twice_the_network_input_before_inference(registry, scratch, tmp_path):
    path = tmp_path / "large.png"
    PIL.Image.fromarray(np.random.default_rng(1).integers(0, 255, (900, 1200, 3), dtype=np.uint8)).save(path)
    limits = ImageLimits(max_pixels=2_000_000)
    view = compare_view(registry, scratch, limits, DepthStore(), str(path), ["metric"], "magma", "shared", 0)
    # tiny models see 32 px: 2 x 32 < MIN_WORKING_SIDE, so the longer side becomes 640 and the aspect is kept
    depth = np.load(next(p for p in view.downloads if p.endswith("metric.depth.npy")))
    assert depth.shape == (480, 640) and MIN_WORKING_SIDE == 640
    assert "(1200x900) was downscaled to 640x480" in view.notes
    assert working_image(np.zeros((40, 56, 3), np.uint8), 640).shape == (40, 56, 3)  # small images stay as they are
    mean = working_image(np.arange(16, dtype=np.uint8).reshape(4, 4, 1).repeat(3, 2), 2)[..., 0]
    np.testing.assert_array_equal(mean, [[3, 5], [11, 13]])  # box filter: each 2x2 block's mean (2.5, ...) rounded up


def test_model_facts_come_from_the_checkpoint_files_and_flag_depth_at_the_cap(models, tmp_path):
    import shutil

    folder = tmp_path / "described"
    shutil.copytree(models / "metric", folder)
    (folder / "training_record.json").write_text(
        '{"train_samples": 625, "global_step": 1200, "hardware": "2 CPU cores", "arguments": {"data": {"dataset": '
        '"mix", "synthetic_kind": "indoor", "mix_folders": ["icl:../data/icl_livingroom1"]}, "model": '
        '{"backbone_pretrained": false}}}'
    )
    record = DatasetRecord("../data/icl_livingroom1", "tail:0.2")
    evaluate(
        DepthPredictor.from_pretrained(folder), SyntheticDepthDataset(size=2, height=32, width=40), "none", record=record
    ).to_json(folder / "results_icl_raw.json")
    config = DepthPredictor.from_pretrained(folder).model.config
    facts = ModelFacts.read("described", config, str(folder))
    line = facts.describe()
    assert line.startswith(f"**described**: Baseline, metric depth in metres from {config.min_depth:g} to {config.max_depth:g} m")
    assert "trained from scratch on 625 frames (synthetic indoor, icl_livingroom1), 1200 steps on 2 CPU cores" in line
    assert "held out, no alignment: icl_livingroom1 abs_rel " in line and "(2 frames)" in line
    assert "no training record" in ModelFacts.read("bare", config, None).describe()
    cap = config.max_depth
    depth = np.full((10, 10), 2.0)
    depth[:1, :4] = cap  # 4 % at the cap: below CAP_SHARE
    assert facts.cap_share(depth) == pytest.approx(0.04) and facts.range_warning(depth) == ""
    depth[1, :2] = 0.95 * cap  # 6 %: warned
    assert facts.cap_share(depth) == pytest.approx(0.06) and "6% of the pixels sit at its" in facts.range_warning(depth)
    relative = ModelFacts.read("rel", DepthPredictor.from_pretrained(models / "relative").model.config, None)
    assert relative.max_depth is None and relative.range_warning(depth) == ""
    near = np.full((10, 10), 2.0)
    near[:1, :4] = config.min_depth  # 4 % at the floor: below CAP_SHARE
    assert facts.floor_share(near) == pytest.approx(0.04) and facts.range_warning(near) == ""
    near[1, :2] = config.min_depth / 0.95  # 6 %: warned
    assert "6% of the pixels sit at its" in facts.range_warning(near) and "m floor" in facts.range_warning(near)


def test_file_stems_are_short_and_unique():
    names = ["densedepth-densenet121-k16-mix-scratch", "densedepth-densenet121-other", "hf-dpt", "a b/c"]
    assert file_stems(names) == {
        "densedepth-densenet121-k16-mix-scratch": "densedepth-densenet1",
        "densedepth-densenet121-other": "densedepth-densenet1-2",
        "hf-dpt": "hf-dpt",
        "a b/c": "a_b_c",
    }


def test_labelled_map_draws_the_caption_above_and_the_colour_bar_below():
    color = np.full((50, 80, 3), 7, np.uint8)
    picture = labelled_map(color, ["model", "12 ms | 1.00-3.00 m"], (1.0, 3.0), "magma", "m")
    bar = colour_bar(80, (1.0, 3.0), "magma", "m")
    top = picture.shape[0] - 50 - bar.shape[0]
    assert picture.shape[1] == 80 and top > 0
    np.testing.assert_array_equal(picture[top : top + 50], color)
    np.testing.assert_array_equal(picture[top + 50 :], bar)
    # the bar's first row runs from the colour of 1 m to that of 3 m, as colorize_depth draws them
    expected = colorize_depth(np.linspace(1.0, 3.0, 80)[None, :], "magma", (1.0, 3.0))[0]
    np.testing.assert_array_equal(bar[0], expected)
def test_user_errors_log_one_line_without_traceback(caplog):
    def refuse(reason):
        raise ValueError(reason)

    with caplog.at_level(logging.WARNING, logger="mde_hub.app"):
        with pytest.raises(gr.Error) as raised:
            event(refuse)("bad id!!\nsecond line")
    assert raised.value.print_exception is False  # Gradio prints no traceback for it
    (record,) = caplog.records
    assert record.getMessage() == "refuse refused: bad id!! second line" and record.exc_info is None


def test_truncated_jpeg_is_named_without_the_server_path(tmp_path):
    folder = tmp_path / "gradio" / "0123abcd"
    folder.mkdir(parents=True)
    PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(folder / "p.jpg")
    whole = (folder / "p.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError) as raised:
        read_image(folder / "cut.jpg", LIMITS)
    assert str(raised.value).startswith("cut.jpg is damaged or truncated: cannot read image cut.jpg")
    assert str(tmp_path) not in str(raised.value)


def test_evaluate_view_warns_of_a_kitti_png_read_as_millimetres(registry, scratch, tmp_path):
    """Raw values 1280..20480 in 56 columns of 40 pixels: the 2nd and 98th percentiles fall in the 2nd and 55th
    columns, 1629 and 20131: 1.63-20.1 m as millimetres (no room nor street), 6.36-78.6 m as KITTI /256 (a street),
    0.326-4.03 m as TUM /5000 (a room)."""
    PIL.Image.fromarray(np.zeros((40, 56, 3), dtype=np.uint8)).save(tmp_path / "street.png")
    raw = np.broadcast_to(np.linspace(1280, 20480, 56).round(), (40, 56)).astype(np.uint16)
    PIL.Image.fromarray(raw).save(tmp_path / "kitti.png")
    args = (str(tmp_path / "street.png"), str(tmp_path / "kitti.png"))
    view = evaluate_view(registry, scratch, LIMITS, *args, "millimetres (16-bit PNG)", ["metric"], "none", "none", OWN_SPACE)
    expected = (
        "kitti.png: read as 'millimetres (16-bit PNG)' the ground truth spans 1.63-20.1 m, neither a room nor a street; "
        "it is likely 'KITTI: value / 256 (16-bit PNG)' (6.36-78.6 m, a street) or 'TUM: value / 5000 (16-bit PNG)' "
        "(0.326-4.03 m, a room): check the depth encoding"
    )
    assert view.warnings == [expected] and view.notes.startswith(f"**Warning**: {expected}.\nProtocol **none**")
    as_kitti = evaluate_view(registry, scratch, LIMITS, *args, "KITTI: value / 256 (16-bit PNG)", ["metric"], "none", "none", OWN_SPACE)
    assert as_kitti.warnings == [] and "Ground truth as decoded: 5-80 m" in as_kitti.notes


def _score(name, **metrics):
    return ModelScore(name, {metric: metrics.get(metric, 0.5) for metric in METRIC_NAMES}, None)


def test_best_star_goes_to_every_best_model_and_to_no_column_where_all_tie():
    scores = [
        _score("a", abs_rel=0.1, delta1=0.0, rmse=2.00001),
        _score("b", abs_rel=0.1, delta1=0.0, rmse=2.0),
        _score("c", abs_rel=0.3, delta1=0.0, rmse=3.0),
        ModelScore("unscored", None, None, "relative depth"),
    ]
    best = best_values(scores)
    # abs_rel: a and b tie for the lowest; rmse: 2.00001 shows as 2, a tie; delta1 = 0 and the rest equal: no best
    assert best == {"abs_rel": 0.1, "rmse": 2.0}
    html = metrics_table(scores).to_html()
    assert html.count(BEST_MARK.strip()) == 4 and html.count("0.1" + BEST_MARK) == 2 and html.count("2" + BEST_MARK) == 2
    assert best_values(scores[:1]) == {}  # one model: nothing to compare


def test_scratch_space_evicts_the_oldest_folders_beyond_its_byte_limit(tmp_path):
    scratch = ScratchSpace(keep=32, root=str(tmp_path / "scratch"), max_bytes=2500, min_keep=2)
    folders = []
    for _ in range(5):
        folders.append(scratch.new_dir())
        (folders[-1] / "depth.npy").write_bytes(b"x" * 1000)
    # before each new folder the older ones are cut to 2500 bytes, keeping the newest one: 2 x 1000 + the new 1000
    assert sorted(p.name for p in scratch.root.iterdir()) == sorted(p.name for p in folders[2:])
    assert folder_bytes(scratch.root) == 3000
    (folders[-1] / "big.npy").write_bytes(b"x" * 10_000)
    newest = scratch.new_dir()  # the newest older folder survives even above the limit (min_keep=2, itself included)
    assert sorted(p.name for p in scratch.root.iterdir()) == sorted([folders[-1].name, newest.name])
    with pytest.raises(ValueError, match="max_bytes must be positive; got 0"):
        ScratchSpace(root=str(tmp_path / "other"), max_bytes=0)


@pytest.mark.parametrize(
    ("host", "port", "environ", "expected"),
    [
        (None, None, {}, ("127.0.0.1", 7860)),
        (None, None, {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}, ("0.0.0.0", 7861)),
        ("127.0.0.1", 9000, {"GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": "7861"}, ("127.0.0.1", 9000)),
        (None, 9000, {"GRADIO_SERVER_NAME": "", "GRADIO_SERVER_PORT": "7861"}, ("127.0.0.1", 9000)),
    ],
)
def test_server_address_flags_then_spaces_variables_then_loopback(host, port, environ, expected):
    assert server_address(host, port, environ) == expected


@pytest.mark.parametrize("value", ["http", "0", "70000", "-1"])
def test_server_address_refuses_a_bad_port_variable(value):
    with pytest.raises(ValueError, match=f"GRADIO_SERVER_PORT must be a port number \\(1-65535\\); got '{value}'"):
        server_address(None, None, {"GRADIO_SERVER_PORT": value})


def test_shared_colour_range_is_the_median_of_the_maps_own_ranges():
    """A street model on a room (10-40 m beside indoor ones at 1-5 m) does not flatten the others to one colour."""
    from mde_hub.app.compare import shared_range

    room, street = np.linspace(1, 5, 101), np.linspace(10, 40, 101)  # own 2nd-98th percentiles: 1.08-4.92, 10.6-39.4
    assert shared_range([room] * 7 + [street]) == pytest.approx((1.08, 4.92))
    assert shared_range([room, street]) == pytest.approx(((1.08 + 10.6) / 2, (4.92 + 39.4) / 2))
    assert shared_range([np.array([np.nan, 0.0, -1.0]), room]) == pytest.approx((1.08, 4.92))  # no valid pixel: left out
    assert shared_range([np.zeros(3)]) is None


def test_shared_error_scale_is_the_median_of_the_maps_98th_percentiles():
    from mde_hub.app.evaluate import ModelScore, shared_error_scale

    def score(name: str, top: float) -> ModelScore:
        return ModelScore(name, {}, np.linspace(0, top / 0.98, 101))  # its 98th percentile is `top`

    scores = [score("a", 0.2), score("b", 0.3), score("streets", 30.0), ModelScore("failed", None, None)]
    assert shared_error_scale(scores) == pytest.approx(0.3)
    assert shared_error_scale([score("a", 0.2), score("b", 0.4)]) == pytest.approx(0.3)
    assert shared_error_scale([ModelScore("failed", None, None)]) == 1e-3
