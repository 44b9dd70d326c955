"""The per-image pixel sums behind the depth metrics (numpy), about 20 elementwise passes over reused scratch arrays.

Invalid pixels are neutralised instead of gathered (a gather or masked fill costs several passes): ground truth is
clipped into a positive range that leaves every valid value as it is, and the terms are multiplied by the 0/1
validity. Sums run per row in the scoring dtype and the rows are added in float64, so float32 scoring stays within
5e-7 relative of the float64 formulas (`tests/test_pixel_sums.py`). An image is taken in blocks of rows of at most
`BLOCK_PIXELS`, which bounds the scratch memory.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

NUM_SUMS = 11  # count, |d|/gt, d^2/gt, d^2, e^2, e, |log10 ratio|, delta1..3 hits, |d|/pred
BLOCK_PIXELS = 1 << 18
"""Pixels per block of rows (a whole NYU crop): a thread's scratch memory stays under 8 MB (float32; 15 MB float64)."""

_LOG2_DELTA_THRESHOLDS = {  # log2(1.25^k), k = 1, 2, 3, in each scoring dtype (of the thresholds as rounded)
    np.dtype(dtype): [np.log2(dtype(1.25**k)) for k in (1, 2, 3)] for dtype in (np.float32, np.float64)
}
_LN_2, _LOG10_2 = math.log(2), math.log10(2)


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
        low, high = self.open_range(np.dtype(np.float32 if narrow else np.float64))
        # NaN fails both comparisons and +inf the strict upper one, so no separate finiteness test is needed.
        mask = np.less(gt, high, out=out)
        return np.logical_and(gt > low, mask, out=mask)


class _Scratch:
    """Named scratch arrays for scoring one image, reused from image to image."""

    def __init__(self) -> None:
        self._arrays: dict[tuple[str, np.dtype], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A `shape` array named `name` (uninitialised), reusing its storage when it is large enough."""
        size, key = math.prod(shape), (name, dtype)
        array = self._arrays.get(key)
        if array is None or array.size < size:
            array = self._arrays[key] = np.empty(size, dtype)
        return array[:size].reshape(shape)


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


def image_pixel_sums(
    pred: np.ndarray, gt: np.ndarray, scoring: PixelScoring, mask: np.ndarray | None = None
) -> np.ndarray | None:
    """The `NUM_SUMS` sums (float64) of one `(h, w)` image over its valid pixels, or None when none is valid.

    Valid pixels are those of `scoring.range_mask(gt)` and of `mask` (if given); the prediction is sanitised and
    clipped as `sanitized_and_clipped` does. One logarithm per pixel, `l = log2(pred / gt)`, gives
    `e = ln pred - ln gt = l ln 2` and `|log10 gt - log10 pred| = |l| log10 2` to a few units in the last place. The
    delta accuracies count `|l| < log2(1.25^k)`, the same test as `max(gt / pred, pred / gt) < 1.25^k` up to the
    rounding of a logarithm (a pixel within a few units in the last place of a threshold may fall on the other side).
    A ratio beyond the dtype's range (a prediction of 1e30 m) is clipped to it. Terms are in the `scoring_dtype` of
    the inputs, the image's sums in float64.
    """
    dtype = scoring_dtype(pred, gt)
    height, width = gt.shape
    rows = max(1, BLOCK_PIXELS // max(width, 1))
    totals = np.zeros(NUM_SUMS, dtype=np.float64)
    with _SCRATCH.lent() as scratch:
        for top in range(0, height, rows):
            block = slice(top, min(top + rows, height))
            block_mask = None if mask is None else mask[block]
            totals += _block_sums(pred[block], gt[block], block_mask, scoring, dtype, scratch)
    return totals if totals[0] else None


def _block_sums(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None,
    scoring: PixelScoring,
    dtype: np.dtype,
    scratch: _Scratch,
) -> np.ndarray:
    """The sums of one block of rows.

    GT is clipped into `[low, high]` of `scoring.open_range` (`low` raised to the smallest positive value when it is
    0), which leaves every valid GT as it is, makes the others positive and lets the validity be read off the
    clipped copy in cache (`low < gt < high`) instead of the input. Plain clips let a NaN or infinite input through,
    so if any sum comes out non-finite (NaN times 0 is NaN, so no such input goes unseen) the block is summed again
    with every GT made finite and the prediction sanitised by `sanitized_and_clipped`.
    """
    shape, finfo = gt.shape, np.finfo(dtype)
    buffer = scratch.get
    low, high = scoring.open_range(dtype)
    safe_gt = buffer("gt", shape, dtype)
    valid = buffer("valid", shape, np.dtype(bool))
    if low > 0:
        np.clip(gt, low, high, out=safe_gt, dtype=dtype)
        scoring.range_mask(safe_gt, out=valid)
    else:  # a GT of 0 would be clipped to the smallest positive value, which is valid: test the input itself
        scoring.range_mask(gt, out=valid)
        np.clip(gt, finfo.smallest_subnormal, high, out=safe_gt, dtype=dtype)
    if mask is not None:
        np.logical_and(valid, mask, out=valid)
    count = int(np.count_nonzero(valid))
    if not count:
        return np.zeros(NUM_SUMS, dtype=np.float64)
    weight = buffer("weight", shape, dtype)
    np.copyto(weight, valid)
    clipped = np.clip(pred, scoring.clip_low, scoring.clip_high, out=buffer("pred", shape, dtype), dtype=dtype)
    gt_low, gt_high = max(low, finfo.smallest_subnormal), min(high, finfo.max)
    largest, tiny = float(finfo.max), float(finfo.tiny)
    pred_high = largest if math.isinf(scoring.clip_high) else scoring.clip_high
    ratio_may_overflow = pred_high / float(gt_low) > largest or scoring.clip_low / float(gt_high) < tiny
    by_prediction = scoring.abs_rel_by_prediction
    with np.errstate(all="ignore"):  # a non-finite input is caught below
        sums = _sums_of_clipped(clipped, safe_gt, weight, valid, count, ratio_may_overflow, by_prediction, scratch)
    if np.isfinite(sums).all():
        return sums
    np.fmax(gt, gt_low, out=safe_gt, dtype=dtype)
    np.fmin(safe_gt, gt_high, out=safe_gt)
    clipped = sanitized_and_clipped(pred, scoring.clip_low, scoring.clip_high, dtype, out=clipped)
    return _sums_of_clipped(clipped, safe_gt, weight, valid, count, ratio_may_overflow, by_prediction, scratch)


def _sums_of_clipped(
    pred: np.ndarray,
    gt: np.ndarray,
    weight: np.ndarray,
    valid: np.ndarray,
    count: int,
    ratio_may_overflow: bool,
    by_prediction: bool,
    scratch: _Scratch,
) -> np.ndarray:
    """The sums of one block over its `count` `valid` pixels (`weight`: the same as 0/1 in the scoring dtype), from
    a clipped `pred` and a positive `gt`."""
    shape, dtype = gt.shape, gt.dtype
    # Four terms in one array, so that one call weights two of them and one call sums three:
    # |gt - pred|, log2(pred / gt), |gt - pred| / gt, |log2(pred / gt)|.
    terms = scratch.get("terms", (4, *shape), dtype)
    abs_diff, log_ratio, relative, abs_log_ratio = terms
    with np.errstate(over="ignore", under="ignore"):  # clipped next where that can happen
        np.divide(pred, gt, out=log_ratio)
    if ratio_may_overflow:
        finfo = np.finfo(dtype)
        np.clip(log_ratio, finfo.tiny, finfo.max, out=log_ratio)  # an infinite or zero ratio has no finite log
    np.log2(log_ratio, out=log_ratio)
    np.abs(np.subtract(gt, pred, out=abs_diff), out=abs_diff)
    np.multiply(terms[:2], weight, out=terms[:2])
    np.abs(log_ratio, out=abs_log_ratio)
    np.divide(abs_diff, gt, out=relative)
    hits = scratch.get("hits", shape, np.dtype(bool))
    num_outside = valid.size - count
    deltas = [
        int(np.count_nonzero(np.less(abs_log_ratio, threshold, out=hits))) - num_outside
        for threshold in _LOG2_DELTA_THRESHOLDS[dtype]
    ]
    # Sums per row in the terms' dtype (a few hundred terms each), rows added in float64: a float32 sum of a whole
    # frame at once would be off by about 1e-5 relative.
    squared, log2_squared = _row_sums(np.einsum("kij,kij->ki", terms[:2], terms[:2]))
    log2_sum, abs_rel, abs_log2_sum = _row_sums(np.einsum("kij->ki", terms[1:]))
    sq_rel = _row_sums(np.einsum("ij,ij->i", abs_diff, relative))
    by_prediction_rows = np.einsum("ij->i", np.divide(abs_diff, pred, out=relative)) if by_prediction else None
    abs_rel_by_prediction = 0.0 if by_prediction_rows is None else _row_sums(by_prediction_rows)
    return np.array(
        [
            count,
            abs_rel,
            sq_rel,
            squared,
            _LN_2**2 * float(log2_squared),
            _LN_2 * float(log2_sum),
            _LOG10_2 * float(abs_log2_sum),
            *deltas,
            abs_rel_by_prediction,
        ],
        dtype=np.float64,
    )


def _row_sums(per_row: np.ndarray) -> np.ndarray:
    """The sums over the last axis of `per_row`, added in float64."""
    return np.add.reduce(per_row, axis=-1, dtype=np.float64)
