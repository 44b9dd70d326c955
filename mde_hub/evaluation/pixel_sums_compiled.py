"""The pixel sums of `pixel_sums.image_pixel_sums` in one loop over the pixels, generated in C++ by `torch.compile`
(inductor) and run on every torch thread: the `"compiled"` metrics kernel.

Same validity, sanitising, clipping and terms as the numpy passes (one division and one logarithm per pixel, see
`image_pixel_sums`), the same precision (per-row sums in the scoring dtype, rows added in float64) and the same
result up to the order of additions within a row. Where numpy makes ~20 passes over cache-sized blocks on one core,
this reads each pixel once, on every core: 1.6-1.8x the numpy kernel's speed on two cores (BENCHMARKS.md). The first
call in a process compiles (seconds; inductor caches the C++ on disk for later processes), and compiling needs a C++
compiler.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from .pixel_sums import PixelScoring, image_plan, scoring_dtype, sums_vector

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _pixel_sums(
    pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor | None, bounds: torch.Tensor, by_prediction: bool
) -> torch.Tensor:
    """`(h, w)` prediction and GT in the scoring dtype (`bounds`'), an optional bool mask -> the count, the three
    delta hits and the terms' totals (float64, `sums_vector`'s order). `bounds` holds the open GT range, the lowest
    GT the terms use, the prediction clip, what +inf becomes and the three log2 delta thresholds (a tensor, so that
    one compiled loop serves every protocol)."""
    low, high, gt_low, clip_low, clip_high, posinf_to, *log2_thresholds = bounds.unbind()
    valid = (gt > low) & (gt < high)  # NaN fails both, +inf the upper one
    if mask is not None:
        valid = valid & mask
    safe_gt = torch.where(valid, torch.maximum(gt, gt_low), 1.0)
    sane = torch.where(pred == math.inf, posinf_to, torch.where(torch.isnan(pred), clip_low, pred))
    clipped = torch.minimum(torch.maximum(sane, clip_low), clip_high)  # -inf goes to the lower bound here
    finfo = torch.finfo(pred.dtype)
    ratio = (clipped / safe_gt).clamp(finfo.tiny, finfo.max)  # as numpy clips a ratio that may overflow
    log_ratio = torch.log2(ratio)
    relative = (ratio - 1).abs()
    abs_log_ratio = log_ratio.abs()
    abs_diff = relative * safe_gt
    terms = [abs_diff * abs_diff, log_ratio * log_ratio, log_ratio, relative, abs_log_ratio, abs_diff * relative]
    if by_prediction:
        terms.append(relative / ratio)
    hits = [valid, *(valid & (abs_log_ratio < threshold) for threshold in log2_thresholds)]
    # Counts per row in the scoring dtype are exact below 2^24 pixels a row; every row sum is added in float64.
    row_counts = torch.stack([hit.to(pred.dtype).sum(-1) for hit in hits])
    row_sums = torch.stack([torch.where(valid, term, 0.0).sum(-1) for term in terms])
    return torch.cat([row_counts, row_sums]).to(torch.float64).sum(-1)


@functools.cache
def _compiled() -> Callable[..., torch.Tensor]:
    # One compiled loop for every image size (`dynamic`). With sizes unknown, inductor cannot fuse a contiguous
    # frame's flattened pointwise loop with the per-row sums, and writes terms out to read them back; aggressive
    # fusion keeps most of them in the loop (a 426x560 frame: 1.1 ms without, 0.65 ms with, 0.55 ms for a crop).
    return torch.compile(_pixel_sums, dynamic=True, fullgraph=True, options={"aggressive_fusion": True})


@functools.lru_cache(maxsize=64)
def _bounds(scoring: PixelScoring, dtype: np.dtype) -> torch.Tensor:
    plan = image_plan(scoring, dtype)
    posinf_to = scoring.clip_low if math.isinf(scoring.clip_high) else scoring.clip_high
    values = [plan.low, plan.high, plan.gt_low, scoring.clip_low, scoring.clip_high, posinf_to]
    return torch.tensor([*map(float, values), *plan.log2_delta_thresholds.ravel().tolist()], dtype=_TORCH_DTYPES[dtype])


class CompiledKernelError(ImportError):
    """`torch.compile` could not build the compiled metrics kernel (no C++ compiler, or an unsupported platform): an
    ImportError, as for a missing optional dependency, which the compiler is."""


def compiled_image_pixel_sums(
    pred: np.ndarray, gt: np.ndarray, scoring: PixelScoring, mask: np.ndarray | None = None
) -> np.ndarray | None:
    """`image_pixel_sums(pred, gt, scoring, mask)` by the compiled loop: the `NUM_SUMS` sums (float64) of one
    `(h, w)` image over its valid pixels, or None when none is valid. Raises `CompiledKernelError` if the loop cannot
    be compiled here."""
    dtype = scoring_dtype(pred, gt)
    torch_dtype = _TORCH_DTYPES[dtype]
    # An input of another dtype (float16, integer GT) is converted first: one compiled loop per scoring dtype.
    pred_t, gt_t = (torch.from_numpy(np.asarray(x)).to(torch_dtype) for x in (pred, gt))
    mask_t = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))
    try:
        totals = _compiled()(pred_t, gt_t, mask_t, _bounds(scoring, dtype), scoring.abs_rel_by_prediction)
    except (torch._dynamo.exc.BackendCompilerFailed, torch._inductor.exc.InductorError) as error:
        first_line = str(error).strip().splitlines()[0][:300]
        raise CompiledKernelError(
            f"torch.compile could not build the compiled metrics kernel ({first_line}); it needs a C++ compiler "
            '(g++ or clang++ on PATH, or CXX): install one or use the numpy kernel (--metrics-kernel numpy; '
            'metrics_kernel="numpy" in Python)'
        ) from error
    values = totals.tolist()
    return sums_vector([round(value) for value in values[:4]], values[4:])
