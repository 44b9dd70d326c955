"""The per-image pixel sums behind the depth metrics (numpy), about 20 elementwise passes over reused scratch arrays.

Invalid pixels are neutralised instead of gathered (a gather or masked fill costs several passes): ground truth is
clipped into a positive range that leaves every valid value as it is, and the terms are multiplied by the 0/1
validity. Sums run per row in the scoring dtype (`np.vecdot` and `np.einsum` write them straight into an image's
table of row sums) and the rows are added in float64 once per image, so float32 scoring stays within
5e-7 relative of the float64 formulas (`tests/test_pixel_sums.py`). An image is taken in blocks of rows of at most
`BLOCK_PIXELS`, small enough for every pass after the first reads of a block to run in cache.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

NUM_SUMS = 11  # count, |d|/gt, d^2/gt, d^2, e^2, e, |log10 ratio|, delta1..3 hits, |d|/pred
BLOCK_PIXELS = 1 << 15
"""Pixels per block of rows (58 rows of a 560-wide NYU crop): a block's scratch arrays (1 MB in float32, 2 MB in
float64) stay in a core's L2 cache from pass to pass; measured against whole-frame blocks in BENCHMARKS.md."""

_LOG2_DELTA_THRESHOLDS = {  # log2(1.25^k), k = 1, 2, 3, in each scoring dtype (of the thresholds as rounded)
    np.dtype(dtype): [np.log2(dtype(1.25**k)) for k in (1, 2, 3)] for dtype in (np.float32, np.float64)
}
_LN_2, _LOG10_2 = math.log(2), math.log10(2)
_NUM_ROW_SUMS = 7  # per row: |gt - pred|^2, log2(r)^2, log2 r, |r - 1|, |log2 r|, |gt - pred| |r - 1|, |r - 1| / r


def scoring_dtype(*arrays: np.ndarray) -> np.dtype:
    """float64 if any input holds float64 (or integers), float32 otherwise: scoring never adds precision the inputs
    lack, and float32 halves the memory traffic of NYU-sized frames."""
    narrow = all(a.dtype.kind == "f" and a.dtype.itemsize <= 4 or a.dtype.kind == "b" for a in arrays)
    return np.dtype(np.float32 if narrow else np.float64)


def sanitized_and_clipped(
    pred: np.ndarray, low: float, high: float, dtype: np.dtype, out: np.ndarray | None = None
) -> np.ndarray:
    """`pred` as `dtype` (into `out` if given, else a new array) with NaN/-inf replaced by `low`, +inf by `high`
    (`low` if unbounded), clipped to `[low, high]` (`fmax` drops NaN: one pass each way)."""
    clipped = np.fmax(pred, dtype.type(low), dtype=dtype, out=out)
    np.fmin(clipped, dtype.type(high), out=clipped)
    if math.isinf(high) and np.max(clipped) == math.inf:
        np.putmask(clipped, np.isposinf(clipped), dtype.type(low))
    return clipped


def _float32_at_or_below(value: float) -> np.float32:
    """The largest float32 <= `value`."""
    rounded = np.float32(value)
    return rounded if float(rounded) <= value else np.nextafter(rounded, np.float32(-math.inf))


def _float32_at_or_above(value: float) -> np.float32:
    """The smallest float32 >= `value`."""
    rounded = np.float32(value)
    return rounded if float(rounded) >= value else np.nextafter(rounded, np.float32(math.inf))


@dataclass(frozen=True)
class PixelScoring:
    """What a protocol asks of the pixel sums (see `mde_hub.evaluation.protocols.EvalProtocol`): its GT range
    `min_depth < gt <= max_depth` (`< max_depth` when `max_depth_exclusive`), its prediction clip
    `[clip_low, clip_high]` and whether AbsRel divided by the prediction is summed (else that sum is 0)."""

    min_depth: float
    max_depth: float
    max_depth_exclusive: bool
    clip_low: float
    clip_high: float
    abs_rel_by_prediction: bool

    def open_range(self, dtype: np.dtype) -> tuple[np.floating, np.floating]:
        """`(low, high)` in `dtype` such that a `dtype` value `x` is in the range exactly when `low < x < high`
        (for float32, the float32 neighbours of the bounds that give the same answer as comparing in float64)."""
        at_or_below = _float32_at_or_below if dtype == np.float32 else np.float64
        low = at_or_below(self.min_depth)
        if math.isinf(self.max_depth):
            return low, dtype.type(math.inf)
        if self.max_depth_exclusive:
            return low, (_float32_at_or_above if dtype == np.float32 else np.float64)(self.max_depth)
        return low, np.nextafter(at_or_below(self.max_depth), dtype.type(math.inf))

    def range_mask(self, gt: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Finite GT in the range (bool, `gt`'s shape), exactly as if compared in float64."""
        narrow = gt.dtype.kind == "f" and gt.dtype.itemsize <= 4
        return _in_open_range(gt, *self.open_range(np.dtype(np.float32 if narrow else np.float64)), out=out)


def _in_open_range(x: np.ndarray, low: np.floating, high: np.floating, out: np.ndarray | None = None) -> np.ndarray:
    """`low < x < high` (bool); NaN fails both comparisons and +inf the strict upper one, so no separate finiteness
    test is needed."""
    mask = np.less(x, high, out=out)
    return np.logical_and(x > low, mask, out=mask)


class _BlockBuffers(NamedTuple):
    """The scratch arrays of one block of rows: GT as clipped, the 0/1 weight of the valid pixels (bool and in the
    scoring dtype), the four terms (the first slot takes the clipped prediction, then the ratio) and the delta hits."""

    gt: np.ndarray
    weight: np.ndarray
    terms: np.ndarray  # (4, rows, width)
    valid: np.ndarray
    hits: np.ndarray  # (3, rows, width)

    def first_rows(self, rows: int) -> "_BlockBuffers":
        return _BlockBuffers(*(array[..., :rows, :] for array in self))


class _Scratch:
    """Scratch storage for scoring one image, reused from image to image."""

    def __init__(self) -> None:
        self._storage: dict[tuple[str, np.dtype], np.ndarray] = {}

    def _array(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        size, key = math.prod(shape), (name, dtype)
        array = self._storage.get(key)
        if array is None or array.size < size:
            array = self._storage[key] = np.empty(size, dtype)
        return array[:size].reshape(shape)

    def buffers(self, shape: tuple[int, int], dtype: np.dtype) -> _BlockBuffers:
        """Uninitialised `_BlockBuffers` for blocks of `shape`, reusing the storage when it is large enough."""
        boolean = np.dtype(bool)
        return _BlockBuffers(
            self._array("gt", shape, dtype),
            self._array("weight", shape, dtype),
            self._array("terms", (4, *shape), dtype),
            self._array("valid", shape, boolean),
            self._array("hits", (3, *shape), boolean),
        )

    def row_sums(self, count: int, height: int, dtype: np.dtype) -> np.ndarray:
        """Uninitialised `(count, height)` per-row sums of an image."""
        return self._array("row_sums", (count, height), dtype)


class _ScratchPool:
    """Scratch sets lent to the images being scored, on any thread, and kept for the next ones: at most one per CPU
    is kept (allocating an image's arrays afresh costs page faults every time, while a set per thread of a server
    would keep memory for every thread that ever scored)."""

    def __init__(self, keep: int) -> None:
        self._free: list[_Scratch] = []
        self._keep = keep
        self._lock = threading.Lock()

    @contextmanager
    def lent(self) -> Iterator[_Scratch]:
        with self._lock:
            scratch = self._free.pop() if self._free else _Scratch()
        try:
            yield scratch
        finally:
            with self._lock:
                if len(self._free) < self._keep:
                    self._free.append(scratch)


_SCRATCH = _ScratchPool(keep=os.cpu_count() or 1)


@dataclass(frozen=True)
class ImagePlan:
    """What every block of an image scored in `dtype` under `scoring` shares, worked out once."""

    scoring: PixelScoring
    dtype: np.dtype
    low: np.floating  # the open GT range, as `PixelScoring.open_range`
    high: np.floating
    gt_low: np.floating  # the clip that makes every GT positive and finite (when the input is)
    gt_high: np.floating
    ratio_may_overflow: bool  # pred / gt can leave the dtype's positive range: clip the ratio
    log2_delta_thresholds: np.ndarray  # (3, 1, 1): a block's three delta tests in one call
    num_row_sums: int  # `_NUM_ROW_SUMS`, less the AbsRel-by-prediction row where the protocol does not ask for it


@functools.lru_cache(maxsize=64)
def image_plan(scoring: PixelScoring, dtype: np.dtype) -> ImagePlan:
    """The `ImagePlan` of images scored in `dtype` under `scoring` (cached)."""
    finfo = np.finfo(dtype)
    low, high = scoring.open_range(dtype)
    gt_low, gt_high = max(low, finfo.smallest_subnormal), min(high, finfo.max)
    largest, tiny = float(finfo.max), float(finfo.tiny)
    pred_high = largest if math.isinf(scoring.clip_high) else scoring.clip_high
    may_overflow = pred_high / float(gt_low) > largest or scoring.clip_low / float(gt_high) < tiny
    thresholds = np.array(_LOG2_DELTA_THRESHOLDS[dtype], dtype=dtype).reshape(3, 1, 1)
    thresholds.flags.writeable = False  # shared by every thread scoring under this plan
    num_row_sums = _NUM_ROW_SUMS if scoring.abs_rel_by_prediction else _NUM_ROW_SUMS - 1
    return ImagePlan(scoring, dtype, low, high, gt_low, gt_high, may_overflow, thresholds, num_row_sums)


def image_pixel_sums(
    pred: np.ndarray, gt: np.ndarray, scoring: PixelScoring, mask: np.ndarray | None = None
) -> np.ndarray | None:
    """The `NUM_SUMS` sums (float64) of one `(h, w)` image over its valid pixels, or None when none is valid.

    Valid pixels are those of `scoring.range_mask(gt)` and of `mask` (if given); the prediction is sanitised and
    clipped as `sanitized_and_clipped` does. One division and one logarithm per pixel: with `r = pred / gt`,
    `|gt - pred| / gt = |r - 1|`, `|gt - pred| = |r - 1| gt`, `e = ln pred - ln gt = log2(r) ln 2` and
    `|log10 gt - log10 pred| = |log2 r| log10 2`, each to a few units in the last place of `r`. The delta
    accuracies count `|log2 r| < log2(1.25^k)`, the same test as `max(gt / pred, pred / gt) < 1.25^k` up to the
    rounding of a logarithm (a pixel within a few units in the last place of a threshold may fall on the other side).
    A ratio beyond the dtype's range (a prediction of 1e30 m) is clipped to it. Terms are in the `scoring_dtype` of
    the inputs, the image's sums in float64.

    GT and prediction are clipped, not sanitised, at first: a plain clip lets NaN and infinite input through, so if
    any sum comes out non-finite (NaN times 0 is NaN, so no such input goes unseen) the image is summed again with
    every GT made finite and the prediction sanitised.
    """
    plan = image_plan(scoring, scoring_dtype(pred, gt))
    with _SCRATCH.lent() as scratch, np.errstate(all="ignore"):  # a non-finite input is caught below
        row_sums = scratch.row_sums(plan.num_row_sums, gt.shape[0], plan.dtype)
        counts = _image_counts(pred, gt, mask, plan, scratch, row_sums, sanitize=False)
        totals = _added_rows(row_sums)
        if not math.isfinite(totals.sum()):
            counts = _image_counts(pred, gt, mask, plan, scratch, row_sums, sanitize=True)
            totals = _added_rows(row_sums)
    return sums_vector(counts, totals.tolist())


def sums_vector(counts: list[int], row_totals: list[float]) -> np.ndarray | None:
    """The `NUM_SUMS` sums of an image from its valid pixels' count and delta hits and its totals of the
    `_NUM_ROW_SUMS` rows (the last one only where AbsRel by the prediction is asked), or None when no pixel is valid."""
    count, *deltas = counts
    if not count:
        return None
    squared, log2_squared, log2_sum, abs_rel, abs_log2_sum, sq_rel, *by_prediction = row_totals
    return np.array(
        [
            count,
            abs_rel,
            sq_rel,
            squared,
            _LN_2**2 * log2_squared,
            _LN_2 * log2_sum,
            _LOG10_2 * abs_log2_sum,
            *deltas,
            by_prediction[0] if by_prediction else 0.0,
        ],
        dtype=np.float64,
    )


def _added_rows(row_sums: np.ndarray) -> np.ndarray:
    """Per-row sums (a few hundred terms each, in the terms' dtype) added in float64: a float32 sum of a whole
    frame at once would be off by about 1e-5 relative."""
    return np.add.reduce(row_sums, axis=-1, dtype=np.float64)


def _image_counts(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None,
    plan: ImagePlan,
    scratch: _Scratch,
    row_sums: np.ndarray,
    sanitize: bool,
) -> list[int]:
    """Fill `row_sums` block by block and return the valid pixels' count and delta hits."""
    height, width = gt.shape
    rows = max(1, BLOCK_PIXELS // max(width, 1))
    buffers = scratch.buffers((min(rows, height), width), plan.dtype)
    counts = [0, 0, 0, 0]
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        block = slice(top, bottom)
        block_buffers = buffers if bottom - top == rows else buffers.first_rows(bottom - top)
        block_mask = None if mask is None else mask[block]
        block_counts = _block_counts(
            pred[block], gt[block], block_mask, plan, block_buffers, row_sums[:, block], sanitize
        )
        counts = [total + added for total, added in zip(counts, block_counts)]
    return counts


def _block_counts(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None,
    plan: ImagePlan,
    buffers: _BlockBuffers,
    row_sums: np.ndarray,
    sanitize: bool,
) -> tuple[int, int, int, int]:
    """Write the per-row sums of one block of rows into `row_sums` and return its valid pixels' count and delta
    hits.

    GT is clipped into `[low, high]` of `scoring.open_range` (`low` raised to the smallest positive value when it is
    0), which leaves every valid GT as it is, makes the others positive and lets the validity be read off the
    clipped copy in cache (`low < gt < high`) instead of the input. With `sanitize`, GT is then made finite and the
    prediction sanitised by `sanitized_and_clipped`.
    """
    dtype, scoring = plan.dtype, plan.scoring
    safe_gt, weight, terms, valid, hits = buffers
    if plan.low > 0:
        np.clip(gt, plan.low, plan.high, out=safe_gt, dtype=dtype)
        np.less(safe_gt, plan.high, out=valid)
        np.logical_and(valid, np.greater(safe_gt, plan.low, out=hits[0]), out=valid)
    else:  # a GT of 0 would be clipped to the smallest positive value, which is valid: test the input itself
        scoring.range_mask(gt, out=valid)
        np.clip(gt, plan.gt_low, plan.high, out=safe_gt, dtype=dtype)
    if mask is not None:
        np.logical_and(valid, mask, out=valid)
    count = int(np.count_nonzero(valid))
    if not count:
        row_sums[:] = 0
        return 0, 0, 0, 0
    np.copyto(weight, valid)
    # Four terms in one array, so that one call weights two of them and one call sums three: |gt - pred|,
    # log2(pred / gt), |gt - pred| / gt, |log2(pred / gt)|. The first slot holds the prediction, then the ratio.
    abs_diff, log_ratio, relative, abs_log_ratio = terms
    if sanitize:
        np.fmax(gt, plan.gt_low, out=safe_gt, dtype=dtype)
        np.fmin(safe_gt, plan.gt_high, out=safe_gt)
        sanitized_and_clipped(pred, scoring.clip_low, scoring.clip_high, dtype, out=abs_diff)
    else:
        np.clip(pred, scoring.clip_low, scoring.clip_high, out=abs_diff, dtype=dtype)
    ratio = np.divide(abs_diff, safe_gt, out=abs_diff)
    if plan.ratio_may_overflow:
        finfo = np.finfo(dtype)
        np.clip(ratio, finfo.tiny, finfo.max, out=ratio)  # an infinite or zero ratio has no finite log
    np.log2(ratio, out=log_ratio)
    np.subtract(ratio, dtype.type(1), out=relative)
    np.multiply(terms[1:3], weight, out=terms[1:3])
    np.abs(relative, out=relative)
    np.abs(log_ratio, out=abs_log_ratio)
    np.less(abs_log_ratio, plan.log2_delta_thresholds, out=hits)  # an invalid pixel's 0 is a hit: taken off below
    num_outside = weight.size - count
    delta1, delta2, delta3 = (int(np.count_nonzero(block_hits)) - num_outside for block_hits in hits)
    if plan.scoring.abs_rel_by_prediction:  # |gt - pred| / pred = |r - 1| / r, before the ratio's slot is reused
        np.einsum("ij->i", np.divide(relative, ratio, out=ratio), out=row_sums[6])
    np.multiply(relative, safe_gt, out=abs_diff)
    # The rows of `_NUM_ROW_SUMS`: squares of |gt - pred| and log2 r, sums of log2 r, |r - 1|, |log2 r|, SqRel
    # (`vecdot` is a row-wise dot product, faster than einsum's with a fraction of its call overhead).
    np.vecdot(terms[:2], terms[:2], out=row_sums[:2])
    np.einsum("kij->ki", terms[1:], out=row_sums[2:5])
    np.vecdot(abs_diff, relative, out=row_sums[5])
    return count, delta1, delta2, delta3
