"""The compiled metrics kernel (`mde_hub.evaluation.pixel_sums_compiled`): the float64 reference formulas, the numpy
kernel's sums, the sanitising of non-finite input, the perfect predictor, `evaluate` and a clear error where nothing
can compile it. Each compiled variant (scoring dtype, mask or none, crop window or whole frame) costs seconds the
first time, so the tests share a few."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_metrics_reference import _frames
from test_pixel_sums import (
    CAPPED,
    SCORING_PROTOCOLS,
    assert_float32_scoring_matches_the_float64_reference,
    broken_and_sanitised_frames,
)

from mde_hub.data.synthetic import SyntheticDepthDataset
from mde_hub.evaluation.evaluate import evaluate_predictions
from mde_hub.evaluation.metrics import METRIC_NAMES, compute_depth_metrics
from mde_hub.evaluation.pixel_sums import PixelScoring, image_pixel_sums
from mde_hub.evaluation.pixel_sums_compiled import compiled_image_pixel_sums
from mde_hub.evaluation.saved_predictions import PredictionFolder


@pytest.mark.parametrize("protocol", SCORING_PROTOCOLS)
def test_float32_scoring_matches_the_float64_reference(protocol):
    assert_float32_scoring_matches_the_float64_reference(protocol, "compiled")


def test_float64_sums_are_the_numpy_kernels_to_rounding():
    # Aligned predictions are float64, so these are the sums `evaluate` gets for a relative model.
    pred, gt, user = _frames((120, 90), 3, 10.0, seed=2)
    scoring = PixelScoring(1e-3, 10.0, False, 1e-3, 10.0, False)
    for p, g, u in zip(pred.astype(np.float64), gt, user):
        numpy_sums, compiled_sums = image_pixel_sums(p, g, scoring, u), compiled_image_pixel_sums(p, g, scoring, u)
        if numpy_sums is None:
            assert compiled_sums is None
            continue
        np.testing.assert_array_equal(compiled_sums[[0, 7, 8, 9]], numpy_sums[[0, 7, 8, 9]])  # count, delta hits
        np.testing.assert_allclose(compiled_sums, numpy_sums, rtol=1e-12)
    per_image = {
        kernel: compute_depth_metrics(pred, gt, "none", "per_image", user, "median", kernel=kernel)
        for kernel in ("numpy", "compiled")
    }
    assert per_image["compiled"] == pytest.approx(per_image["numpy"], rel=1e-12)


def test_non_finite_input_is_summed_like_its_sanitised_copy():
    broken, sanitised = broken_and_sanitised_frames()
    compiled = compiled_image_pixel_sums(*broken, CAPPED)
    np.testing.assert_array_equal(compiled, compiled_image_pixel_sums(*sanitised, CAPPED))
    np.testing.assert_allclose(compiled, image_pixel_sums(*sanitised, CAPPED), rtol=1e-6)


def test_a_perfect_prediction_scores_zero_error():
    gt = np.random.default_rng(5).uniform(0.5, 9.0, (2, 480, 640)).astype(np.float32)
    gt[:, ::7] = 0.0  # invalid rows
    metrics = compute_depth_metrics(gt.copy(), gt, "nyu_eigen", kernel="compiled")
    assert metrics == {name: 1.0 if name.startswith("delta") else 0.0 for name in METRIC_NAMES}


def _saved_predictions(dataset: SyntheticDepthDataset, folder: Path) -> Path:
    """Predictions of `dataset`'s frames off by up to 25 %, saved in `folder` as `evaluate --predictions` reads them."""
    rng = np.random.default_rng(6)
    for index in range(len(dataset)):
        sample = dataset[index]
        path = folder / f"{sample.id}.npy"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, sample.depth * rng.uniform(0.8, 1.25, sample.depth.shape).astype(np.float32))
    assert len(PredictionFolder(folder)) == len(dataset)
    return folder


def test_evaluate_records_the_kernel_and_matches_numpy(tmp_path):
    dataset = SyntheticDepthDataset("indoor", size=3, height=96, width=128)
    folder = _saved_predictions(dataset, tmp_path / "predictions")
    results = {
        kernel: evaluate_predictions(folder, dataset, "none", metrics_kernel=kernel) for kernel in ("numpy", "compiled")
    }
    assert results["compiled"].settings["metrics_kernel"] == "compiled"
    assert results["compiled"].metrics == pytest.approx(results["numpy"].metrics, rel=1e-6)


def test_without_a_compiler_evaluate_says_so_and_names_the_numpy_kernel(tmp_path):
    folder = _saved_predictions(SyntheticDepthDataset("indoor", size=2), tmp_path / "predictions")  # 240x320
    output = tmp_path / "results.json"
    arguments = ["evaluate", "--predictions", str(folder), "--dataset", "synthetic:indoor:2", "--protocol", "none"]
    command = [sys.executable, "-m", "mde_hub", *arguments, "--metrics-kernel", "compiled", "--output", str(output)]
    # An empty inductor cache: nothing compiled before can stand in for the compiler.
    env = {**os.environ, "CXX": "/nonexistent/g++", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor")}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("mde-hub: error: torch.compile could not build the compiled metrics kernel")
    assert "C++ compiler" in done.stderr and "--metrics-kernel numpy" in done.stderr and "Traceback" not in done.stderr
    assert not output.exists()
