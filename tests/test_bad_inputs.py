"""The bad-input battery (tests/bad_inputs.py) on three surfaces: the library, the CLI and the app.

A case the surface handles is checked against an independent reference (the pixels it must be read as, the depth it
must decode to, the metrics those give); a case it refuses must fail with a message naming the problem, as a
ValueError/OSError in the library, as `mde-hub: error: ...` and exit status 2 (no traceback) in the CLI, as a
`gr.Error` in the app, which must go on serving. No refused case may leave a file in the output folder.
One in-process app serves every case, with a tiny Baseline ("good") and, for the cases that name it, a tiny DPT.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from app_helpers import save_baseline, start_app
from bad_inputs import GT_CASES, HANDLED, IMAGE_CASES, MODEL_CASES, MODELS, REMOTE_CODE_MARKER, Case, photo
from gradio_client import Client, handle_file

from mde_hub import DptConfig, DptForDepthEstimation, cli, image_processor_for
from mde_hub.app.compare import working_image, working_side
from mde_hub.app.inputs import GT_ENCODINGS
from mde_hub.data.folder import ENCODINGS, WRITTEN_FOLDER_INTRINSICS
from mde_hub.data.images import load_image, to_rgb_uint8
from mde_hub.evaluation.metrics import METRIC_NAMES, compute_depth_metrics
from mde_hub.evaluation.protocols import get_protocol
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.depth_files import check_ground_truth

MODEL = "good"
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # header_12000x9000, expected
ENCODING_LABELS = {code: label for label, code in GT_ENCODINGS.items()}


def _save_dpt(path: Path) -> Path:
    torch.manual_seed(0)
    model = DptForDepthEstimation(DptConfig.tiny())
    model.save_pretrained(path)
    image_processor_for(model.config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("battery")
    good = save_baseline(root / "models" / MODEL, 0)
    checkpoints = {MODEL: good, "dpt": _save_dpt(root / "models" / "dpt")}
    assert set(checkpoints) == set(MODELS)
    demo, registry, _ = start_app(root / "models", root)
    client = Client(demo.local_url, verbose=False)
    photo_path = root / "photo.png"
    PIL.Image.fromarray(photo()).save(photo_path)
    predictors = {name: DepthPredictor.from_pretrained(path) for name, path in checkpoints.items()}
    yield {"good": good, "predictor": predictors[MODEL], "checkpoints": checkpoints, "predictors": predictors,
           "client": client, "root": root, "photo": photo_path, "registry": registry}
    demo.close()


def _ids(cases):
    return [case.name if isinstance(case, Case) else case[0] for case in cases]


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def _assert_cli_refused(code: int, err: str, pattern: str, out: Path) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    message = err[err.index("mde-hub: error: "):]  # after transformers' progress bars, if any
    assert re.search(pattern, message), message
    assert _files_under(out) == [], "a refused input left files behind"


def _assert_app_serving(served) -> None:
    upload = handle_file(str(served["photo"]))
    gallery = served["client"].predict(upload, [MODEL], "magma", "shared", 0, api_name="/compare")[0]
    assert len(gallery) == 1 and gallery[0]["caption"].startswith(f"{MODEL} | ")


# Images: load_image + DepthPredictor; mde-hub predict; /compare.


@contextmanager
def _network_inputs(predictor: DepthPredictor) -> Iterator[list[tuple[int, ...]]]:
    """The (height, width) of every input the predictor's model is given inside the block."""
    shapes: list[tuple[int, ...]] = []

    def record(module, args, kwargs) -> None:
        shapes.append(tuple(kwargs["pixel_values"].shape[-2:]))

    handle = predictor.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        yield shapes
    finally:
        handle.remove()


@pytest.mark.parametrize("case", IMAGE_CASES, ids=_ids(IMAGE_CASES))
def test_image_library(served, case, tmp_path):
    path = case.build(tmp_path)
    predictor = served["predictors"][case.model]
    if case.lib is not HANDLED:
        with pytest.raises((ValueError, OSError), match=case.lib):
            predictor.predict(load_image(path))
        return
    expected = case.expected(path)
    image = load_image(path)
    np.testing.assert_array_equal(to_rgb_uint8(image), expected)  # pixels as shown, orientation included
    with _network_inputs(predictor) as network_inputs:
        depth = predictor.predict(image).depth
    assert depth.shape == expected.shape[:2] and np.isfinite(depth).all()
    if case.model_input is not None:
        assert network_inputs == [case.model_input]
    np.testing.assert_allclose(depth, predictor.predict(expected).depth, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=_ids(IMAGE_CASES))
def test_image_cli(served, case, tmp_path, capsys):
    path, out = case.build(tmp_path), tmp_path / "out"
    model = served["checkpoints"][case.model]
    argv = ["predict", str(path), "--model", str(model), "--out", str(out), "--formats", "png16,npy,color,ply"]
    code, err = _run_cli(argv, capsys)
    if case.cli is not HANDLED:
        _assert_cli_refused(code, err, case.cli, out)
        return
    assert code == 0, err
    stem = path.name.rsplit(".", 1)[0]
    assert _files_under(out) == sorted(f"{stem}.{suffix}" for suffix in ("color.png", "depth.npy", "depth.png", "ply"))
    expected_depth = served["predictors"][case.model].predict(case.expected(path)).depth
    np.testing.assert_allclose(np.load(out / f"{stem}.depth.npy"), expected_depth, rtol=1e-5, atol=1e-6)


def _assert_refused_by_app(served, call, message: str) -> None:
    """The request fails with `message`, leaves no file in the scratch folder, and the app still serves."""
    before = _files_under(served["root"] / "requests")
    with pytest.raises(Exception, match=message):
        call()
    assert _files_under(served["root"] / "requests") == before, "a refused upload left files behind"
    _assert_app_serving(served)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=_ids(IMAGE_CASES))
def test_image_app(served, case, tmp_path):
    path = case.build(tmp_path)
    upload = handle_file(str(path)) if path.exists() else None

    def call():
        return served["client"].predict(upload, [case.model], "magma", "shared", 0, api_name="/compare")

    if case.app is not HANDLED:
        _assert_refused_by_app(served, call, case.app)
        return
    downloads = call()[-1]
    (npy,) = [p for p in downloads if p.endswith(f"{case.model}.depth.npy")]
    predictor = served["predictors"][case.model]
    shown = working_image(case.expected(path), working_side([predictor]))  # Compare's size: a 640-pixel strip
    np.testing.assert_allclose(np.load(npy), predictor.predict(shown).depth, rtol=1e-5, atol=1e-6)
    if case.model_input is not None:  # Evaluate predicts at the photo's own size
        gt = tmp_path / "flat_gt.png"
        PIL.Image.fromarray(np.full(case.expected(path).shape[:2], 2000, np.uint16)).save(gt)
        with _network_inputs(served["registry"].get(case.model)) as network_inputs:
            table, _, _ = served["client"].predict(
                upload, handle_file(str(gt)), ENCODING_LABELS["mm"], [case.model], "none", "none", "depth",
                api_name="/evaluate",
            )
        assert network_inputs == [case.model_input] and np.isfinite(table["data"][0][1:10]).all()


# Ground truth: decode + check_ground_truth + compute_depth_metrics; mde-hub evaluate on a one-frame folder; /evaluate.


def _reference_metrics(served, gt: np.ndarray, protocol: str) -> dict[str, float]:
    return compute_depth_metrics(served["predictor"].predict(photo()).depth, gt, protocol)


@pytest.mark.parametrize("case", GT_CASES, ids=_ids(GT_CASES))
def test_ground_truth_library(served, case, tmp_path):
    path = case.build(tmp_path)
    depth = served["predictor"].predict(photo()).depth

    def score():
        gt = ENCODINGS[case.encoding].read(path)
        summary = check_ground_truth(gt, path.name, get_protocol(case.protocol))
        return gt, summary, compute_depth_metrics(depth, gt, case.protocol)

    if case.lib is not HANDLED:
        with pytest.raises((ValueError, OSError), match=case.lib):
            score()
        return
    gt, summary, metrics = score()
    expected = case.expected(path)
    np.testing.assert_allclose(gt, expected, rtol=1e-6)
    valid = expected[expected > 0]
    assert summary.startswith(f"{valid.min():.4g}-{valid.max():.4g} m")
    assert all(np.isfinite(metrics[name]) for name in METRIC_NAMES)


def _one_frame_dataset(case: Case, gt_path: Path, folder: Path) -> Path:
    """A folder in the layout `mde-hub data synth` writes, holding the photo and the case's depth file as frame 0."""
    (folder / "image").mkdir(parents=True)
    (folder / "depth").mkdir()
    PIL.Image.fromarray(photo()).save(folder / "image" / "000000.png")
    shutil.copyfile(gt_path, folder / "depth" / "000000.png")  # the layout's name; the encoding says how to read it
    (folder / WRITTEN_FOLDER_INTRINSICS).write_text(json.dumps({"encoding": case.encoding, "intrinsics": {}}))
    return folder


@pytest.mark.parametrize("case", GT_CASES, ids=_ids(GT_CASES))
def test_ground_truth_cli(served, case, tmp_path, capsys):
    dataset = _one_frame_dataset(case, case.build(tmp_path), tmp_path / "dataset")
    out = tmp_path / "out"
    argv = ["evaluate", "--model", str(served["good"]), "--dataset", str(dataset), "--protocol", "none",
            "--output", str(out / "results.json")]
    code, err = _run_cli(argv, capsys)
    if case.cli is not HANDLED:
        _assert_cli_refused(code, err, case.cli, out)
        return
    assert code == 0, err
    metrics = json.loads((out / "results.json").read_text())["metrics"]
    expected = _reference_metrics(served, case.expected(None), "none")
    assert [metrics[name] for name in METRIC_NAMES] == pytest.approx([expected[n] for n in METRIC_NAMES], rel=1e-6)


@pytest.mark.parametrize("case", GT_CASES, ids=_ids(GT_CASES))
def test_ground_truth_app(served, case, tmp_path):
    path = case.build(tmp_path)
    label = ENCODING_LABELS.get(case.encoding, next(iter(GT_ENCODINGS)))  # .npy files are metres whatever the label

    def call():
        return served["client"].predict(
            handle_file(str(served["photo"])), handle_file(str(path)), label, [MODEL], case.protocol, "none", "depth",
            api_name="/evaluate",
        )

    if case.app is not HANDLED:
        _assert_refused_by_app(served, call, case.app)
        return
    table, _, notes = call()
    expected_gt = case.expected(path)
    expected = _reference_metrics(served, expected_gt, case.protocol)
    assert table["data"][0][1:10] == pytest.approx([expected[name] for name in METRIC_NAMES], rel=1e-6)
    summary = check_ground_truth(expected_gt, path.name, get_protocol(case.protocol))
    assert f"Ground truth as decoded: {summary}." in notes


# Checkpoints: DepthPredictor.from_pretrained; mde-hub predict --model; /load_model (inside the served folder).


@pytest.mark.parametrize(("name", "build", "pattern"), MODEL_CASES, ids=_ids(MODEL_CASES))
def test_checkpoint_library(served, name, build, pattern, tmp_path):
    checkpoint = build(served["good"], tmp_path)
    with pytest.raises((ValueError, OSError), match=pattern):
        DepthPredictor.from_pretrained(checkpoint)
    assert not (checkpoint / REMOTE_CODE_MARKER).exists()


@pytest.mark.parametrize(("name", "build", "pattern"), MODEL_CASES, ids=_ids(MODEL_CASES))
def test_checkpoint_cli(served, name, build, pattern, tmp_path, capsys):
    checkpoint, out = build(served["good"], tmp_path), tmp_path / "out"
    code, err = _run_cli(["predict", str(served["photo"]), "--model", str(checkpoint), "--out", str(out)], capsys)
    _assert_cli_refused(code, err, pattern, out)
    assert not (checkpoint / REMOTE_CODE_MARKER).exists()


@pytest.mark.parametrize(("name", "build", "pattern"), MODEL_CASES, ids=_ids(MODEL_CASES))
def test_checkpoint_app(served, name, build, pattern):
    checkpoint = build(served["good"], served["root"] / "models")
    with pytest.raises(Exception, match=pattern):
        served["client"].predict(str(checkpoint), [MODEL], [], api_name="/load_model")
    assert not (checkpoint / REMOTE_CODE_MARKER).exists()
    assert sorted(served["registry"].names) == sorted(MODELS)
    _assert_app_serving(served)
