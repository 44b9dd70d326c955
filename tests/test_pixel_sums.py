"""The blocked numpy kernel behind the metrics (`mde_hub.evaluation.pixel_sums`): float32 scoring against the float64
reference formulas, exact range masks at float32 neighbours of the bounds, and results that do not depend on the
block size, on threads scoring at once or which path (plain clips or the non-finite fallback) summed an image."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_metrics_reference import _frames, _reference

from mde_hub.evaluation import pixel_sums
from mde_hub.evaluation.metrics import DepthMetricAccumulator, compute_depth_metrics
from mde_hub.evaluation.pixel_sums import PixelScoring, image_pixel_sums
from mde_hub.evaluation.protocols import EvalProtocol

_NYU_LIKE = PixelScoring(1e-3, 10.0, True, 1e-3, 10.0, True)


SCORING_PROTOCOLS = ["nyu_eigen", "nyu_densedepth", "kitti_garg", "none"]


def assert_float32_scoring_matches_the_float64_reference(protocol: str, kernel: str) -> None:
    """Three float32 frames (one without valid pixels) scored by `kernel` under `protocol`: within 5e-7 relative of
    the float64 reference formulas."""
    shape, cap = ((375, 1242), 80.0) if protocol.startswith("kitti") else ((480, 640), 10.0)
    pred, gt, user = _frames(shape, 3, cap, seed=1)
    gt32 = gt.astype(np.float32)  # NaN, inf, zeros and out-of-range values survive the cast
    expected = _reference(pred, gt32, user, protocol, "pooled", "none")
    accumulator = DepthMetricAccumulator(protocol, "pooled", kernel=kernel)
    accumulator.update(pred, gt32, user)
    assert (accumulator.num_images, accumulator.num_skipped) == (2, 1)
    for name, value in accumulator.compute().items():
        assert value == pytest.approx(expected[name], rel=5e-7, abs=1e-7), name


@pytest.mark.parametrize("protocol", SCORING_PROTOCOLS)
def test_float32_scoring_matches_the_float64_reference(protocol):
    assert_float32_scoring_matches_the_float64_reference(protocol, "numpy")


@pytest.mark.parametrize(
    ("min_depth", "max_depth", "exclusive"),
    [(1e-3, 10.0, False), (1e-3, 10.0, True), (0.1, 80.1, True), (0.1, 80.1, False), (0.0, float("inf"), False)],
)
def test_range_mask_of_float32_ground_truth_is_exactly_the_float64_comparison(min_depth, max_depth, exclusive):
    scoring = PixelScoring(min_depth, max_depth, exclusive, 1e-3, 10.0, False)
    edges = []
    for bound in (min_depth, max_depth if np.isfinite(max_depth) else 1e30):
        center = np.float32(bound)
        edges += [np.nextafter(center, np.float32(-np.inf)), center, np.nextafter(center, np.float32(np.inf))]
    gt = np.array([*edges, 0.0, 1.0, np.nan, np.inf, -np.inf, np.finfo(np.float32).max], dtype=np.float32)
    wide = gt.astype(np.float64)
    below_cap = wide < max_depth if exclusive else wide <= max_depth
    expected = np.isfinite(wide) & (wide > min_depth) & below_cap
    np.testing.assert_array_equal(scoring.range_mask(gt[None]), expected[None])
    np.testing.assert_array_equal(scoring.range_mask(wide[None]), expected[None])


def test_sums_do_not_depend_on_the_block_size(monkeypatch):
    pred, gt, user = _frames((120, 90), 2, 10.0, seed=2)
    for dtype, rel in ((np.float32, 1e-5), (np.float64, 1e-12)):
        whole = [image_pixel_sums(p.astype(dtype), g.astype(dtype), _NYU_LIKE, u) for p, g, u in zip(pred, gt, user)]
        monkeypatch.setattr(pixel_sums, "BLOCK_PIXELS", 1000)  # 11 rows of 90 per block
        blocked = [image_pixel_sums(p.astype(dtype), g.astype(dtype), _NYU_LIKE, u) for p, g, u in zip(pred, gt, user)]
        monkeypatch.undo()
        assert whole[1] is None and blocked[1] is None  # the last frame has no valid pixel
        np.testing.assert_allclose(blocked[0], whole[0], rtol=rel)


def test_threads_scoring_at_once_each_get_the_sums_of_scoring_alone():
    # A server scores requests on several threads: each image borrows its own scratch set from the pool.
    rng = np.random.default_rng(3)
    gt = rng.uniform(0.5, 9.0, (6, 480, 640)).astype(np.float32)
    gt[rng.random(gt.shape) < 0.1] = 0.0
    pred = gt * rng.uniform(0.8, 1.25, gt.shape).astype(np.float32)
    alone = [compute_depth_metrics(pred[i], gt[i], "nyu_eigen") for i in range(len(gt))]
    with ThreadPoolExecutor(3) as pool:
        for _ in range(3):
            together = list(pool.map(lambda i: compute_depth_metrics(pred[i], gt[i], "nyu_eigen"), range(len(gt))))
            assert together == alone


CAPPED = PixelScoring(1e-3, 10.0, False, 1e-3, 10.0, False)


def broken_and_sanitised_frames() -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """`(pred, gt)` with NaN/inf in both, and the same pair as `CAPPED` sanitises it: NaN/inf GT is invalid like 0;
    NaN and -inf predictions count as the clip's lower bound, +inf as its upper one."""
    rng = np.random.default_rng(4)
    gt = rng.uniform(0.5, 9.0, (64, 64)).astype(np.float32)
    pred = gt * rng.uniform(0.8, 1.25, gt.shape).astype(np.float32)
    broken_gt, broken_pred = gt.copy(), pred.copy()
    broken_gt[0, :3] = [np.nan, np.inf, -np.inf]
    broken_pred[1, :3] = [np.nan, np.inf, -np.inf]
    clean_gt, clean_pred = gt.copy(), pred.copy()
    clean_gt[0, :3] = 0.0
    clean_pred[1, :3] = [1e-3, 10.0, 1e-3]
    return (broken_pred, broken_gt), (clean_pred, clean_gt)


def test_an_image_with_non_finite_input_is_summed_like_its_sanitised_copy():
    broken, sanitised = broken_and_sanitised_frames()
    np.testing.assert_array_equal(image_pixel_sums(*broken, CAPPED), image_pixel_sums(*sanitised, CAPPED))


def test_narrow_and_integer_ground_truth_match_float64():
    rng = np.random.default_rng(5)
    millimetres = rng.integers(0, 12000, (40, 50)).astype(np.uint16)  # 0 is invalid, above 10 m out of range
    pred = rng.uniform(0.5, 9.0, millimetres.shape)
    metres = millimetres.astype(np.float64)
    scale = EvalProtocol(name="mm", description="", min_depth=1.0, max_depth=10000.0, pred_clip=(1.0, 10000.0))
    expected = compute_depth_metrics(pred * 1000, metres, scale)
    got = compute_depth_metrics(pred * 1000, millimetres, scale)
    assert got == pytest.approx(expected, rel=1e-12)
    half = (rng.uniform(0.5, 9.0, (40, 50))).astype(np.float16)
    got = compute_depth_metrics(pred.astype(np.float32), half, "none")
    expected = compute_depth_metrics(pred, half.astype(np.float64), "none")
    assert got == pytest.approx(expected, rel=2e-6)


def test_each_image_being_scored_has_its_own_scratch_and_at_most_keep_sets_are_kept():
    pool = pixel_sums._ScratchPool(keep=2)
    with pool.lent() as first, pool.lent() as second, pool.lent() as third:  # three images scored at once
        assert len({id(first), id(second), id(third)}) == 3
    with pool.lent() as again, pool.lent() as other, pool.lent() as new:
        assert {id(again), id(other)} <= {id(first), id(second), id(third)} and new not in (first, second, third)
