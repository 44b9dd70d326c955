"""Each named protocol against an independent numpy re-implementation of its reference script's logic.

The references below are written from what the published scripts compute (facts, not their code):

* BTS `utils/eval_with_pngs.py` / `pytorch/bts_eval.py`: predictions clipped to [min_depth_eval, max_depth_eval]
  (inf to the cap, NaN to the floor in bts_eval.py), non-finite GT set to 0, valid = min < gt < max (exclusive),
  NYU Eigen crop [45:471, 41:601]; KITTI `--do_kb_crop`: the 352x1216 prediction is pasted into a zero canvas of the
  full GT frame and the Garg/Eigen fractions are taken of that full frame (Eigen's left fraction is 0.0359477, Garg's
  0.03594771); each image's metrics, then the mean over images.
* AdaBins `evaluate.py` (KITTI, `--do_kb_crop`): image and GT cropped to 352x1216, `predict_tta` clips each of
  the two passes to [min_depth, max_depth] and averages with the flipped-back pass, inf to the cap and NaN to the floor,
  valid = min < gt < max, crop fractions of the cropped frame, mean over images.
* DenseDepth `utils.py` `evaluate()`: predictions clipped to [0.1, 10] m, cropped with eigen_test_crop.npy
  [20, 459, 24, 615] inclusive, the flipped-image pass cropped and then flipped back, the two averaged, all images
  stacked (pixels pooled) and `compute_errors(predictions, testSetDepths)` called with its arguments swapped, so its
  AbsRel divides by the prediction; no validity mask and no cap.

Everything is float64 (the scripts keep some arrays in float32, which only rounds). Random predictions include
out-of-range, NaN and infinite values; random sparse GT of real frame sizes includes pixels exactly at the cap.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_evaluation import FakePredictor

from mde_hub.data.sample import DepthSample
from mde_hub.evaluation.evaluate import evaluate
from mde_hub.evaluation.metrics import ABS_REL_STANDARD, DepthMetricAccumulator

KITTI_SIZES = [(375, 1242), (370, 1224), (376, 1241)]
BTS_KITTI_BOXES = {  # (top, bottom, left, right) fractions as the BTS and AdaBins scripts write them
    "garg": (0.40810811, 0.99189189, 0.03594771, 0.96405229),
    "eigen": (0.3324324, 0.91351351, 0.0359477, 0.96405229),
}
TOLERANCE = 1e-9


# ------------------------------------------------------------------------------------------ the shared formulas


def reference_errors(gt: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """The metric formulas the three scripts share, on 1-D arrays of valid pixels."""
    ratio = np.maximum(gt / pred, pred / gt)
    log_error = np.log(pred) - np.log(gt)
    errors = {
        "abs_rel": np.mean(np.abs(gt - pred) / gt),
        "sq_rel": np.mean((gt - pred) ** 2 / gt),
        "rmse": np.sqrt(np.mean((gt - pred) ** 2)),
        "rmse_log": np.sqrt(np.mean(log_error**2)),
        "log10": np.mean(np.abs(np.log10(gt) - np.log10(pred))),
        "silog": 100 * np.sqrt(np.mean(log_error**2) - np.mean(log_error) ** 2),
    }
    errors.update({f"delta{k}": np.mean(ratio < 1.25**k) for k in (1, 2, 3)})
    return {name: float(value) for name, value in errors.items()}


def mean_over_images(per_image: list[dict[str, float]]) -> dict[str, float]:
    return {name: float(np.mean([errors[name] for errors in per_image])) for name in per_image[0]}


def fraction_box(height: int, width: int, fractions: tuple[float, float, float, float]) -> np.ndarray:
    top, bottom, left, right = fractions
    box = np.zeros((height, width), dtype=bool)
    box[int(top * height) : int(bottom * height), int(left * width) : int(right * width)] = True
    return box


def kb_margins(height: int, width: int) -> tuple[int, int]:
    return int(height - 352), int((width - 1216) / 2)


def assert_close(ours: dict[str, float], reference: dict[str, float]) -> None:
    for name, value in reference.items():
        assert abs(ours[name] - value) <= TOLERANCE, (name, ours[name], value)


# ------------------------------------------------------------------------------------------ the scripts' logic


def bts_reference(preds: list[np.ndarray], gts: list[np.ndarray], max_depth: float, box: str) -> dict[str, float]:
    """BTS eval_with_pngs.py: NYU (`box="nyu"`) or KITTI with --do_kb_crop and --garg_crop / --eigen_crop."""
    per_image = []
    for pred, gt in zip(preds, gts):
        pred = pred.copy()
        pred[np.isnan(pred)] = 1e-3
        pred = np.clip(pred, 1e-3, max_depth)
        gt = np.where(np.isfinite(gt), gt, 0.0)
        valid = (gt > 1e-3) & (gt < max_depth)
        height, width = gt.shape
        if box == "nyu":
            eval_mask = np.zeros_like(valid)
            eval_mask[45:471, 41:601] = True
        else:
            top, left = kb_margins(height, width)
            canvas = np.zeros((height, width))
            canvas[top : top + 352, left : left + 1216] = pred
            pred = canvas
            eval_mask = fraction_box(height, width, BTS_KITTI_BOXES[box])
        valid &= eval_mask
        assert np.all(pred[valid] > 0)  # the crop box lies inside the pasted KB crop
        per_image.append(reference_errors(gt[valid], pred[valid]))
    return mean_over_images(per_image)


def adabins_kitti_reference(
    preds: list[np.ndarray], mirrored_preds: list[np.ndarray], gts: list[np.ndarray], box: str
) -> dict[str, float]:
    """AdaBins evaluate.py on KITTI with --do_kb_crop and --garg_crop / --eigen_crop (predict_tta)."""
    per_image = []
    for pred, mirrored, gt in zip(preds, mirrored_preds, gts):
        top, left = kb_margins(*gt.shape)
        gt = gt[top : top + 352, left : left + 1216]
        final = 0.5 * (np.clip(pred, 1e-3, 80) + np.clip(mirrored[:, ::-1], 1e-3, 80))
        final[np.isinf(final)] = 80
        final[np.isnan(final)] = 1e-3
        valid = (gt > 1e-3) & (gt < 80) & fraction_box(352, 1216, BTS_KITTI_BOXES[box])
        per_image.append(reference_errors(gt[valid], final[valid]))
    return mean_over_images(per_image)


def densedepth_reference(
    preds: list[np.ndarray], mirrored_preds: list[np.ndarray], gts: list[np.ndarray]
) -> dict[str, float]:
    """DenseDepth utils.py evaluate(): returns what its swapped compute_errors call reports, plus the standard
    AbsRel under abs_rel_standard."""
    crop = [20, 459, 24, 615]
    predictions, depths = [], []
    for pred, mirrored, gt in zip(preds, mirrored_preds, gts):
        rows, cols = slice(crop[0], crop[1] + 1), slice(crop[2], crop[3] + 1)
        pred, mirrored = np.clip(pred, 0.1, 10)[rows, cols], np.clip(mirrored, 0.1, 10)[rows, cols]
        predictions.append(0.5 * pred + 0.5 * np.fliplr(mirrored))
        depths.append(gt[rows, cols])
    first, second = np.stack(predictions), np.stack(depths)  # compute_errors(gt=first, pred=second)
    ratio = np.maximum(first / second, second / first)
    return {
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "abs_rel": float(np.mean(np.abs(first - second) / first)),
        "rmse": float(np.sqrt(np.mean((first - second) ** 2))),
        "log10": float(np.mean(np.abs(np.log10(first) - np.log10(second)))),
        ABS_REL_STANDARD: float(np.mean(np.abs(second - first) / second)),
    }


# ------------------------------------------------------------------------------------------ random data


def as_float32(values: np.ndarray) -> np.ndarray:
    """Values a float32 sample or prediction holds exactly, as float64."""
    return values.astype(np.float32).astype(np.float64)


def random_gt(rng: np.random.Generator, shape: tuple[int, int], high: float, density: float, cap: float | None):
    gt = rng.uniform(0.05, high, shape)
    gt[rng.random(shape) > density] = 0.0  # sparse, like raw Kinect holes or projected LiDAR
    if cap is not None:
        gt[rng.random(shape) < 0.01] = cap  # exactly at the cap: excluded by the exclusive references
    return as_float32(gt)


def random_prediction(rng: np.random.Generator, shape: tuple[int, int], high: float, nan: bool = True) -> np.ndarray:
    """Out-of-range, infinite and (with `nan`) NaN values included; DenseDepth has no rule for NaN."""
    pred = rng.uniform(-0.2 * high, 1.2 * high, shape)
    for value in (np.nan, np.inf, -np.inf) if nan else (np.inf, -np.inf):
        pred[rng.random(shape) < 0.002] = value
    return as_float32(pred)


def random_image(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    return rng.integers(0, 256, (*shape, 3), dtype=np.uint8)


def table_predictor(table: dict[bytes, np.ndarray]) -> FakePredictor:
    """A metric predictor answering from a table of exact image bytes, in float64."""
    return FakePredictor(lambda image: table[image.tobytes()], dtype=np.float64)


# ------------------------------------------------------------------------------------------ the comparisons


def test_nyu_eigen_equals_bts_eval_with_pngs():
    rng = np.random.default_rng(0)
    gts = [random_gt(rng, (480, 640), 11.0, 0.7, cap=10.0) for _ in range(3)]
    preds = [random_prediction(rng, (480, 640), 10.0) for _ in gts]
    images = [random_image(rng, (480, 640)) for _ in gts]
    samples = [DepthSample.from_depth(image, gt, None, f"nyu{i}") for i, (image, gt) in enumerate(zip(images, gts))]
    predictor = table_predictor({image.tobytes(): pred for image, pred in zip(images, preds)})
    result = evaluate(predictor, samples, protocol="nyu_eigen")
    assert_close(result.metrics, bts_reference(preds, gts, 10.0, "nyu"))
    accumulator = DepthMetricAccumulator("nyu_eigen")
    accumulator.update(np.stack(preds), np.stack(gts))
    assert_close(accumulator.compute(), bts_reference(preds, gts, 10.0, "nyu"))


@pytest.mark.parametrize("box", ["garg", "eigen"])
def test_kitti_bts_convention_equals_eval_with_pngs(box):
    rng = np.random.default_rng(1)
    gts = [random_gt(rng, size, 90.0, 0.2, cap=80.0) for size in KITTI_SIZES]
    preds = [random_prediction(rng, (352, 1216), 80.0) for _ in gts]
    images = [random_image(rng, size) for size in KITTI_SIZES]
    table = {}
    for image, pred in zip(images, preds):
        top, left = kb_margins(*image.shape[:2])
        table[np.ascontiguousarray(image[top : top + 352, left : left + 1216]).tobytes()] = pred
    samples = [DepthSample.from_depth(image, gt, None, f"kitti{i}") for i, (image, gt) in enumerate(zip(images, gts))]
    result = evaluate(table_predictor(table), samples, protocol=f"kitti_{box}")  # full frames in, crop predicted
    assert_close(result.metrics, bts_reference(preds, gts, 80.0, box))


@pytest.mark.parametrize("box", ["garg", "eigen"])
def test_kitti_adabins_convention_equals_adabins_evaluate(box):
    rng = np.random.default_rng(2)
    gts = [random_gt(rng, size, 90.0, 0.2, cap=80.0) for size in KITTI_SIZES]
    preds = [random_prediction(rng, (352, 1216), 80.0) for _ in gts]
    mirrored = [random_prediction(rng, (352, 1216), 80.0) for _ in gts]
    images = [random_image(rng, size) for size in KITTI_SIZES]
    table = {}
    for image, pred, flipped in zip(images, preds, mirrored):
        top, left = kb_margins(*image.shape[:2])
        crop = image[top : top + 352, left : left + 1216]
        table[np.ascontiguousarray(crop).tobytes()] = pred
        table[np.ascontiguousarray(crop[:, ::-1]).tobytes()] = flipped
    samples = [DepthSample.from_depth(image, gt, None, f"kitti{i}") for i, (image, gt) in enumerate(zip(images, gts))]
    result = evaluate(table_predictor(table), samples, protocol=f"kitti_{box}_adabins", flip_tta=True)
    assert_close(result.metrics, adabins_kitti_reference(preds, mirrored, gts, box))


def test_nyu_densedepth_equals_densedepth_evaluate():
    rng = np.random.default_rng(3)
    gts = [as_float32(rng.uniform(0.3, 12.0, (480, 640))) for _ in range(3)]  # dense, some beyond 10 m: no cap
    preds = [random_prediction(rng, (480, 640), 10.0, nan=False) for _ in gts]
    mirrored = [random_prediction(rng, (480, 640), 10.0, nan=False) for _ in gts]
    images = [random_image(rng, (480, 640)) for _ in gts]
    table = {}
    for image, pred, flipped in zip(images, preds, mirrored):
        table[image.tobytes()] = pred
        table[np.ascontiguousarray(image[:, ::-1]).tobytes()] = flipped
    samples = [DepthSample.from_depth(image, gt, None, f"nyu{i}") for i, (image, gt) in enumerate(zip(images, gts))]
    result = evaluate(table_predictor(table), samples, protocol="nyu_densedepth")  # flip averaging is forced
    assert result.settings["flip_tta"] is True and result.num_images == 3
    reference = densedepth_reference(preds, mirrored, gts)
    assert_close(result.metrics, reference)
    assert reference["abs_rel"] != pytest.approx(reference[ABS_REL_STANDARD], rel=1e-3)  # the swap matters here
