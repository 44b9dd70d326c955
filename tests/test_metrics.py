"""Tests for mde_hub.evaluation.metrics, mde_hub.evaluation.protocols and mde_hub.evaluation.alignment, against numbers worked out by hand."""

import math

import numpy as np
import pytest
import torch

from mde_hub.evaluation.alignment import align, least_squares_scale_shift, median_scale
from mde_hub.evaluation.metrics import (
    ABS_REL_STANDARD,
    HIGHER_IS_BETTER,
    METRIC_NAMES,
    DepthMetricAccumulator,
    compute_depth_metrics,
    resize_prediction,
)
from mde_hub.evaluation.protocols import PROTOCOLS, EvalProtocol, crop_mask, get_protocol, kb_crop_box

NAN, INF = float("nan"), float("inf")
LN2 = math.log(2)
PERFECT = {"abs_rel": 0, "sq_rel": 0, "rmse": 0, "rmse_log": 0, "log10": 0, "silog": 0,
           "delta1": 1, "delta2": 1, "delta3": 1}  # fmt: skip
# A protocol without crop, capped at 10 m, to test masks and clipping on tiny arrays.
CAPPED = EvalProtocol(name="capped", description="test", max_depth=10.0, pred_clip=(1e-3, 10.0))


def _assert_metrics(got: dict[str, float], expected: dict[str, float], abs_tol: float = 1e-12) -> None:
    assert tuple(got) == METRIC_NAMES
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-12, abs=abs_tol), name


def _random_pair(b: int, h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random positive pred and gt with some invalid (zero) GT pixels; image 0 has fewer valid pixels."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(0.5, 9.0, (b, h, w))
    gt[rng.random((b, h, w)) < 0.2] = 0.0
    gt[0, : h // 2] = 0.0
    return gt * rng.uniform(0.7, 1.4, (b, h, w)), gt


# ------------------------------------------------------------------------------------------ metric names


def test_metric_names_and_direction():
    assert METRIC_NAMES == ("abs_rel", "sq_rel", "rmse", "rmse_log", "log10", "silog", "delta1", "delta2", "delta3")
    assert [n for n in METRIC_NAMES if HIGHER_IS_BETTER[n]] == ["delta1", "delta2", "delta3"]


# ------------------------------------------------------------------------------------------ hand-computed values


def test_two_by_two_by_hand():
    gt = np.array([[1.0, 2.0], [4.0, 8.0]])
    pred = np.array([[1.0, 3.0], [4.0, 16.0]])
    # gt - pred = [0, -1, 0, -8]; ratio max(gt/pred, pred/gt) = [1, 1.5, 1, 2]
    # e = ln pred - ln gt = [0, ln 1.5, 0, ln 2]; sum e = ln 3
    mean_e2 = (0 + math.log(1.5) ** 2 + 0 + LN2**2) / 4
    expected = {
        "abs_rel": (0 + 1 / 2 + 0 + 8 / 8) / 4,  # = 0.375
        "sq_rel": (0 + 1 / 2 + 0 + 64 / 8) / 4,  # = 2.125
        "rmse": math.sqrt((0 + 1 + 0 + 64) / 4),
        "rmse_log": math.sqrt(mean_e2),
        "log10": (0 + math.log10(1.5) + 0 + math.log10(2)) / 4,  # = log10(3) / 4
        "silog": 100 * math.sqrt(mean_e2 - (math.log(3) / 4) ** 2),
        "delta1": 2 / 4,  # ratios 1, 1 are < 1.25
        "delta2": 3 / 4,  # 1.5 < 1.5625 too
        "delta3": 3 / 4,  # 2 is not < 1.953125
    }
    _assert_metrics(compute_depth_metrics(pred, gt), expected)


def test_per_image_vs_pooled_by_hand():
    # image A: 4 valid pixels, one prediction off by a factor 2
    # image B: 1 valid pixel (zeros are invalid GT), prediction half the GT
    gt = np.array([[[1.0, 1.0], [1.0, 1.0]], [[2.0, 0.0], [0.0, 0.0]]])
    pred = np.array([[[2.0, 1.0], [1.0, 1.0]], [[1.0, 5.0], [5.0, 5.0]]])
    # A: |d|/gt = [1, 0, 0, 0], d^2 = [1, 0, 0, 0], e = [ln2, 0, 0, 0]
    # B: |d|/gt = [1/2],        d^2 = [1],          e = [-ln2]
    silog_a = 100 * math.sqrt(LN2**2 / 4 - (LN2 / 4) ** 2)  # = 100 ln2 sqrt(3) / 4
    silog_b = 0.0  # one pixel: mean e^2 - (mean e)^2 = 0
    per_image = {
        "abs_rel": (1 / 4 + 1 / 2) / 2,  # = 0.375
        "rmse": (math.sqrt(1 / 4) + math.sqrt(1 / 1)) / 2,  # = 0.75
        "rmse_log": (math.sqrt(LN2**2 / 4) + math.sqrt(LN2**2)) / 2,
        "silog": (silog_a + silog_b) / 2,
        "delta1": (3 / 4 + 0 / 1) / 2,  # = 0.375
    }
    pooled = {
        "abs_rel": (1 + 0 + 0 + 0 + 1 / 2) / 5,  # = 0.3
        "rmse": math.sqrt((1 + 0 + 0 + 0 + 1) / 5),
        "rmse_log": math.sqrt((LN2**2 + LN2**2) / 5),
        "silog": 100 * math.sqrt(2 * LN2**2 / 5 - 0**2),  # sum e = ln2 - ln2 = 0
        "delta1": 3 / 5,
    }
    _assert_metrics(compute_depth_metrics(pred, gt, reduction="per_image"), per_image)
    _assert_metrics(compute_depth_metrics(pred, gt, reduction="pooled"), pooled)


def test_gt_mask_excludes_zero_nan_inf_and_out_of_range():
    # valid: 1.0 and 10.0 (= max_depth, included); invalid: 0, NaN, inf, 11 > max, 1e-3 = min_depth (excluded)
    gt = np.array([[1.0, 0.0, NAN, INF, 11.0, 1e-3, 10.0]])
    pred = np.array([[1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 10.0]])
    _assert_metrics(compute_depth_metrics(pred, gt, CAPPED), PERFECT)
    # a user mask removes pixel 0 and leaves only the exact 10.0
    user = np.array([[False, True, True, True, True, True, True]])
    _assert_metrics(compute_depth_metrics(pred * 2, gt, CAPPED, valid_mask=user), PERFECT)  # 20 clipped to 10


def test_exclusive_cap_drops_gt_at_the_cap():
    # BTS/AdaBins: min_depth_eval < gt < max_depth_eval; the 10.0 pixel (prediction 1, wrong) no longer counts
    exclusive = EvalProtocol(name="exclusive", description="", max_depth=10.0, max_depth_exclusive=True)
    gt, pred = np.array([[1.0, 10.0]]), np.array([[1.0, 1.0]])
    _assert_metrics(compute_depth_metrics(pred, gt, exclusive), PERFECT)
    assert compute_depth_metrics(pred, gt, CAPPED)["delta1"] == 0.5
    assert all(get_protocol(name).max_depth_exclusive for name in PROTOCOLS if name.startswith(("nyu_eigen", "kitti")))


def test_bad_predictions_never_give_nan():
    gt = np.ones((1, 4))
    pred = np.array([[NAN, INF, -INF, -5.0]])
    # CAPPED clip [1e-3, 10]: NaN -> 1e-3, inf -> 10, -inf -> 1e-3, -5 -> 1e-3
    metrics = compute_depth_metrics(pred, gt, CAPPED)
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["abs_rel"] == pytest.approx((0.999 + 9 + 0.999 + 0.999) / 4)
    assert metrics["delta3"] == 0
    # "none" has no upper bound: inf is then replaced by the lower bound 1e-3 like NaN
    metrics = compute_depth_metrics(pred, gt, "none")
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["abs_rel"] == pytest.approx(0.999)


# ------------------------------------------------------------------------------------------ input forms


def test_numpy_torch_single_batched_channel_forms_agree():
    pred, gt = _random_pair(3, 6, 7, seed=0)
    reference = compute_depth_metrics(pred, gt)
    _assert_metrics(compute_depth_metrics(torch.from_numpy(pred), gt), reference)
    _assert_metrics(compute_depth_metrics(pred, torch.from_numpy(gt)), reference)
    _assert_metrics(compute_depth_metrics(torch.from_numpy(pred)[:, None], gt[:, None]), reference)
    single = compute_depth_metrics(pred[1], torch.from_numpy(gt[1]))
    _assert_metrics(compute_depth_metrics(pred[1:2], gt[1:2]), single)


def test_streaming_equals_one_shot_both_reductions():
    pred, gt = _random_pair(5, 6, 7, seed=1)
    gt[3] = 0.0  # an image without valid pixels is skipped and counted
    for reduction in ("per_image", "pooled"):
        acc = DepthMetricAccumulator("none", reduction)
        acc.update(pred[:2], gt[:2])
        acc.update(torch.from_numpy(pred[2]), gt[2])
        acc.update(pred[3:, None], gt[3:, None])
        _assert_metrics(acc.compute(), compute_depth_metrics(pred, gt, reduction=reduction))
        assert (acc.num_images, acc.num_skipped) == (4, 1)
        acc.reset()
        assert (acc.num_images, acc.num_skipped, acc.num_pixels) == (0, 0, 0)
        with pytest.raises(ValueError, match="no valid pixels"):
            acc.compute()


def test_errors():
    with pytest.raises(ValueError, match=r"\(2, 4, 4\).*\(3, 4, 4\)"):
        compute_depth_metrics(np.ones((2, 4, 4)), np.ones((3, 4, 4)))
    with pytest.raises(ValueError, match="got shape"):
        compute_depth_metrics(np.ones((1, 1, 1, 4, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="got shape"):
        compute_depth_metrics(np.ones((2, 3, 4, 4)), np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="valid_mask shape"):
        compute_depth_metrics(np.ones((4, 4)), np.ones((4, 4)), valid_mask=np.ones((3, 3), dtype=bool))
    with pytest.raises(ValueError, match="no valid pixels"):
        compute_depth_metrics(np.ones((4, 4)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="nyu_eigen"):
        get_protocol("nyu")
    with pytest.raises(ValueError, match="alignment"):
        DepthMetricAccumulator(alignment="mean")
    with pytest.raises(ValueError, match="reduction"):
        DepthMetricAccumulator(reduction="sum")


# ------------------------------------------------------------------------------------------ protocols and crops


def test_protocol_registry():
    assert set(PROTOCOLS) == {
        "nyu_eigen", "nyu_densedepth", "kitti_garg", "kitti_eigen", "kitti_garg_adabins", "kitti_eigen_adabins", "none"
    }
    densedepth = get_protocol("nyu_densedepth")
    assert densedepth.reduction == "pooled" and densedepth.pred_clip == (0.1, 10.0) and densedepth.flip_tta
    assert densedepth.max_depth == INF and densedepth.abs_rel_denominator == "prediction"
    assert get_protocol("kitti_garg").pred_clip == (1e-3, 80.0)
    assert [get_protocol(n).kb_crop for n in ("kitti_garg", "kitti_eigen", "kitti_garg_adabins", "nyu_eigen")] == [
        "paste", "paste", "crop", "none"
    ]
    assert all(".py" in get_protocol(name).description for name in PROTOCOLS if name != "none")  # cites its script
    with pytest.raises(ValueError, match="pred_clip"):
        EvalProtocol(name="bad", description="", pred_clip=(0.0, 10.0))
    with pytest.raises(ValueError, match="kb_crop"):
        EvalProtocol(name="bad", description="", kb_crop=True)


def test_nyu_eigen_crop_only_scores_inside():
    gt = np.full((480, 640), 2.0)
    pred = np.full((480, 640), 7.0)
    pred[45:471, 41:601] = 2.0  # correct only inside rows 45..470, cols 41..600
    _assert_metrics(compute_depth_metrics(pred, gt, "nyu_eigen"), PERFECT)
    acc = DepthMetricAccumulator("nyu_eigen")
    acc.update(pred, gt)
    assert acc.num_pixels == 426 * 560
    with pytest.raises(ValueError, match=r"480x640.*240x320"):
        compute_depth_metrics(np.ones((240, 320)), np.ones((240, 320)), "nyu_eigen")


def test_nyu_densedepth_crop_box():
    mask = crop_mask(get_protocol("nyu_densedepth").crop, 480, 640)
    expected = torch.zeros(480, 640, dtype=torch.bool)
    expected[20:460, 24:616] = True  # rows 20..459, cols 24..615 inclusive
    assert torch.equal(mask, expected) and int(mask.sum()) == 440 * 592


@pytest.mark.parametrize(
    ("name", "shape", "bounds"),
    [
        ("kitti_garg", (375, 1242), (153, 371, 44, 1197)),
        ("kitti_garg", (376, 1241), (153, 372, 44, 1196)),
        ("kitti_garg", (370, 1226), (151, 366, 44, 1181)),
        ("kitti_eigen", (375, 1242), (124, 342, 44, 1197)),
        ("kitti_garg_adabins", (352, 1216), (143, 349, 43, 1172)),  # MODELS.md §6.2: the cropped frame's box
    ],
)
def test_kitti_crop_indices(name, shape, bounds):
    assert get_protocol(name).crop.bounds(*shape) == bounds


def test_kb_crop_paste():
    assert kb_crop_box(375, 1242) == (23, 13, 352, 1216)  # top = 375 - 352, left = (1242 - 1216) // 2
    with pytest.raises(ValueError, match="352x1216"):
        kb_crop_box(300, 1242)
    rows, cols = np.meshgrid(np.arange(375), np.arange(1242), indexing="ij")
    gt = 1.0 + rows / 10 + cols / 100  # position-dependent, so a 1-pixel offset would be visible
    pred = gt[23 : 23 + 352, 13 : 13 + 1216]
    _assert_metrics(compute_depth_metrics(pred, gt, "kitti_garg"), PERFECT)
    # without the crop, GT pixels outside the KB box see the zero canvas (clipped to 1e-3)
    acc = DepthMetricAccumulator(EvalProtocol(name="kb", description="", kb_crop="paste"), reduction="pooled")
    acc.update(pred, gt)
    assert acc.compute()["delta1"] == pytest.approx(352 * 1216 / (375 * 1242))
    # a half-resolution crop prediction is resized to 352x1216 before the paste
    acc = DepthMetricAccumulator(EvalProtocol(name="kb", description="", kb_crop="paste"), reduction="pooled")
    acc.update(np.full((176, 608), 2.0), np.full((375, 1242), 2.0))
    assert acc.compute()["delta1"] == pytest.approx(352 * 1216 / (375 * 1242))


@pytest.mark.parametrize("shape", [(352, 1216), (300, 1242), (375, 1000)])
def test_paste_protocol_refuses_ground_truth_that_is_not_a_full_frame(shape):
    with pytest.raises(ValueError, match=r"full KITTI frame.*KittiEigenSplit\(kb_crop=False\).*kitti_garg_adabins"):
        compute_depth_metrics(np.ones((352, 1216)), np.ones(shape), "kitti_garg")


def test_adabins_convention_crops_ground_truth_and_mask():
    rows, cols = np.meshgrid(np.arange(375), np.arange(1242), indexing="ij")
    gt = 1.0 + rows / 10 + cols / 100
    crop = (slice(23, 23 + 352), slice(13, 13 + 1216))
    user = np.ones_like(gt, dtype=bool)
    user[200:] = False
    full = compute_depth_metrics(gt, gt, "kitti_garg_adabins", valid_mask=user)  # a full-frame prediction is cropped
    _assert_metrics(full, PERFECT)
    acc = DepthMetricAccumulator("kitti_garg_adabins")
    acc.update(gt[crop], gt, user)  # a 352x1216 prediction with the full frame
    acc.update(gt[crop], gt[crop], user[crop])  # or everything already cropped
    # Garg box of the cropped frame: rows 143:349, cols 43:1172; the user mask keeps cropped rows < 200 - 23
    assert acc.num_pixels == 2 * (177 - 143) * (1172 - 43)
    pred, mask = acc.scored(gt[crop] * 2, gt)  # error maps keep the GT frame: NaN and invalid outside the crop
    assert pred.shape == mask.shape == gt.shape and int(mask.sum()) == (349 - 143) * (1172 - 43)
    assert torch.isnan(pred[0, 0]) and pred[23 + 143, 13 + 43] == pytest.approx(2 * gt[23 + 143, 13 + 43])


def test_abs_rel_divided_by_the_prediction():
    gt, pred = np.array([[1.0, 2.0]]), np.array([[2.0, 4.0]])
    metrics = compute_depth_metrics(pred, gt, "none")
    assert tuple(metrics) == METRIC_NAMES and metrics["abs_rel"] == pytest.approx(1.0)
    swapped = EvalProtocol(name="dd", description="", abs_rel_denominator="prediction", reduction="pooled")
    metrics = compute_depth_metrics(pred, gt, swapped)
    assert metrics["abs_rel"] == pytest.approx(0.5) and metrics[ABS_REL_STANDARD] == pytest.approx(1.0)
    assert set(metrics) == {*METRIC_NAMES, ABS_REL_STANDARD}


def test_resize_half_resolution():
    gt = np.full((8, 10), 3.0)
    _assert_metrics(compute_depth_metrics(np.full((4, 5), 3.0), gt), PERFECT)
    for mode in ("bilinear", "bicubic", "nearest"):
        assert torch.allclose(resize_prediction(torch.full((2, 4, 5), 3.0), (8, 10), mode), torch.full((2, 8, 10), 3.0))
    # nearest 2x upsampling repeats each pixel in a 2x2 block
    up = resize_prediction(torch.tensor([[1.0, 2.0], [3.0, 4.0]]), (4, 4), "nearest")
    assert torch.equal(up, torch.tensor([[1.0, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]))


# ------------------------------------------------------------------------------------------ alignment


def test_median_scaling():
    gt = np.array([[1.0, 2.0], [4.0, 8.0]])
    assert compute_depth_metrics(2 * gt, gt)["abs_rel"] == pytest.approx(1.0)  # |gt - 2 gt| / gt
    _assert_metrics(compute_depth_metrics(2 * gt, gt, alignment="median"), PERFECT)
    # even count: medians average the middle values, 3 for gt and 6 for pred
    scaled = median_scale(torch.tensor(2 * gt), torch.tensor(gt), torch.ones(2, 2, dtype=torch.bool))
    assert torch.allclose(scaled, torch.tensor(gt), rtol=1e-15, atol=0)


def test_median_scaling_is_not_shift_invariant():
    gt = np.array([[1.0, 2.0, 3.0]])
    pred = gt + 1  # [2, 3, 4]: median gt 2, median pred 3 -> scaled pred = [4/3, 2, 8/3]
    metrics = compute_depth_metrics(pred, gt, alignment="median")
    assert metrics["abs_rel"] == pytest.approx(((1 / 3) / 1 + 0 + (1 / 3) / 3) / 3)  # = 4/27
    _assert_metrics(compute_depth_metrics(pred, gt, alignment="scale_shift"), PERFECT, abs_tol=1e-12)


def test_scale_shift_depth_space():
    gt = torch.tensor([[1.0, 2.0, 5.0], [0.0, 7.0, 9.0]], dtype=torch.float64)
    mask = gt > 0
    pred = 3 * gt + 1  # least squares gives s = 1/3, t = -1/3
    assert torch.allclose(least_squares_scale_shift(pred, gt, mask)[mask], gt[mask], rtol=1e-12, atol=0)
    _assert_metrics(compute_depth_metrics(pred, gt, alignment="scale_shift"), PERFECT, abs_tol=1e-12)


def test_scale_shift_inverse_depth_space():
    gt = torch.tensor([[1.0, 2.0, 5.0], [0.0, 7.0, 9.0]], dtype=torch.float64)
    mask = gt > 0
    pred = 1 / (2 / gt + 0.5)  # 1/pred = 2/gt + 0.5 -> fit 1/gt = (1/pred)/2 - 0.25; at gt = 0 pred = 0
    aligned = least_squares_scale_shift(pred, gt, mask, space="inverse_depth")
    assert torch.allclose(aligned[mask], gt[mask], rtol=1e-12, atol=0)
    assert torch.isfinite(aligned).all() and aligned[1, 0] == 0  # pred 0 = infinite inverse depth -> depth 0
    metrics = compute_depth_metrics(pred, gt, alignment="scale_shift", alignment_space="inverse_depth")
    _assert_metrics(metrics, PERFECT, abs_tol=1e-12)
    # depth-space fitting cannot undo a shift in inverse depth
    assert compute_depth_metrics(pred, gt, alignment="scale_shift")["abs_rel"] > 1e-3


def test_alignment_degenerate_cases():
    gt = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    one = torch.tensor([[True, False]])
    with pytest.raises(ValueError, match="at least 2"):
        least_squares_scale_shift(gt, gt, one)
    with pytest.raises(ValueError, match="constant"):
        least_squares_scale_shift(torch.ones(1, 2), gt, torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="positive median"):
        median_scale(-gt, gt, torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="alignment method"):
        align(gt, gt, one, "mean")
    assert align(gt, gt, one, "none") is gt
