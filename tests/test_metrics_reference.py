"""`DepthMetricAccumulator` against a straightforward numpy re-implementation of the reference formulas (BTS's
`compute_errors`), on random frames with invalid pixels, under several protocols, reductions and alignments."""

import math

import numpy as np
import pytest
from test_protocols_reference import reference_errors

from mde_hub.evaluation.metrics import ABS_REL_STANDARD, METRIC_NAMES, DepthMetricAccumulator
from mde_hub.evaluation.protocols import get_protocol


def _errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """BTS's compute_errors on 1-D float64 valid pixels (`test_protocols_reference.reference_errors`), plus AbsRel
    divided by the prediction."""
    return {**reference_errors(gt, pred), "abs_rel_prediction": np.mean(np.abs(gt - pred) / pred)}


def _aligned(pred: np.ndarray, gt: np.ndarray, alignment: str) -> np.ndarray:
    """Depth-space alignment fitted on the 1-D valid pixels with a finite prediction."""
    fit = np.isfinite(pred)
    if alignment == "median":
        return pred * np.median(gt[fit]) / np.median(pred[fit])
    if alignment == "scale_shift":
        design = np.stack([pred[fit], np.ones(fit.sum())], axis=1)
        (scale, shift), *_ = np.linalg.lstsq(design, gt[fit], rcond=None)
        return scale * pred + shift
    return pred


def _reference(preds, gts, masks, protocol_name: str, reduction: str, alignment: str) -> dict[str, float]:
    protocol = get_protocol(protocol_name)
    low, high = protocol.pred_clip
    per_image, pooled = [], ([], [])
    for pred, gt, user in zip(preds, gts, masks):
        pred, gt = pred.astype(np.float64), gt.astype(np.float64)
        height, width = gt.shape
        valid = np.isfinite(gt) & (gt > protocol.min_depth)
        valid &= gt < protocol.max_depth if protocol.max_depth_exclusive else gt <= protocol.max_depth
        if protocol.crop is not None:
            top, bottom, left, right = protocol.crop.bounds(height, width)
            inside = np.zeros_like(valid)
            inside[top:bottom, left:right] = True
            valid &= inside
        valid &= user
        if not valid.any():
            continue
        scored = _aligned(pred[valid], gt[valid], alignment)
        scored = np.nan_to_num(scored, nan=low, neginf=low, posinf=high if math.isfinite(high) else low)
        scored = np.clip(scored, low, high)
        per_image.append(_errors(scored, gt[valid]))
        pooled[0].append(scored)
        pooled[1].append(gt[valid])
    if reduction == "pooled":
        values = _errors(np.concatenate(pooled[0]), np.concatenate(pooled[1]))
    else:
        values = {name: np.mean([image[name] for image in per_image]) for name in per_image[0]}
    metrics = {name: float(values[name]) for name in METRIC_NAMES}
    if protocol.abs_rel_denominator == "prediction":
        metrics[ABS_REL_STANDARD], metrics["abs_rel"] = metrics["abs_rel"], float(values["abs_rel_prediction"])
    return metrics


def _frames(shape: tuple[int, int], count: int, max_depth: float, seed: int):
    """float32 predictions and float64 GT with zero, NaN, +inf and out-of-range GT and NaN/inf predictions; the
    first image has no valid pixel in its upper three quarters, the last none at all."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.2, 1.1 * max_depth, (count, *shape))
    gt[rng.random(gt.shape) < 0.1] = 0.0
    gt[rng.random(gt.shape) < 0.01] = np.nan
    gt[rng.random(gt.shape) < 0.01] = np.inf
    gt[0, : 3 * shape[0] // 4] = 0.0
    gt[-1] = 0.0
    pred = (np.nan_to_num(gt, nan=1.0, posinf=1.0) * rng.uniform(0.6, 1.5, gt.shape) + 0.1).astype(np.float32)
    pred[rng.random(pred.shape) < 0.005] = np.nan
    pred[rng.random(pred.shape) < 0.005] = np.inf
    user = rng.random(gt.shape) < 0.95
    return pred, gt, user


CASES = [
    ("nyu_eigen", (480, 640), 10.0),
    ("nyu_densedepth", (480, 640), 10.0),
    ("kitti_garg", (375, 1242), 80.0),
    ("none", (60, 80), 10.0),
]


@pytest.mark.parametrize(("protocol", "shape", "max_depth"), CASES, ids=[case[0] for case in CASES])
@pytest.mark.parametrize("reduction", ["per_image", "pooled"])
@pytest.mark.parametrize("alignment", ["none", "median", "scale_shift"])
def test_accumulator_matches_numpy_reference(protocol, shape, max_depth, reduction, alignment):
    pred, gt, user = _frames(shape, 4, max_depth, seed=0)
    expected = _reference(pred, gt, user, protocol, reduction, alignment)
    accumulator = DepthMetricAccumulator(protocol, reduction, alignment)
    accumulator.update(pred[:2], gt[:2], user[:2])  # a batch, then single images
    for index in range(2, len(gt)):
        accumulator.update(pred[index], gt[index], user[index])
    got = accumulator.compute()
    assert accumulator.num_images == 3 and accumulator.num_skipped == 1
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
