"""Per-image alignment of relative-depth predictions to ground truth before scoring.

Predictions are always *depth*-valued here. A model that outputs disparity/inverse depth ``d`` should be passed as
``1 / d`` (then ``space="inverse_depth"`` fits in the model's own disparity space, as MiDaS/DPT zero-shot evaluation
does).

All functions take ``(H, W)`` tensors ``pred`` and ``gt`` and a boolean ``mask`` of the same shape. The fit uses
the masked pixels where the fitted quantities are finite (and, in inverse-depth space, ``pred > 0``); the returned
prediction is the aligned version of the whole image, in ``pred``'s dtype. Solves run in float64.
"""

from typing import Literal

import torch
from torch import Tensor

AlignmentMethod = Literal["none", "median", "scale_shift"]
AlignmentSpace = Literal["depth", "inverse_depth"]

ALIGNMENT_METHODS: tuple[str, ...] = ("none", "median", "scale_shift")
ALIGNMENT_SPACES: tuple[str, ...] = ("depth", "inverse_depth")

MIN_INVERSE_DEPTH = 1e-8
"""Lower clamp of an aligned inverse depth, so that its reciprocal is a finite, positive depth."""


def _check_inputs(pred: Tensor, gt: Tensor, mask: Tensor) -> None:
    if pred.dim() != 2 or pred.shape != gt.shape or mask.shape != gt.shape:
        raise ValueError(
            f"alignment needs (H, W) pred, gt and mask of one shape, got pred {tuple(pred.shape)}, "
            f"gt {tuple(gt.shape)}, mask {tuple(mask.shape)}"
        )


def _median(x: Tensor) -> Tensor:
    """Median of a 1-D tensor, averaging the two middle values for an even count (as numpy)."""
    v = x.sort().values
    n = v.numel()
    return (v[(n - 1) // 2] + v[n // 2]) / 2


def median_scale(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """Return ``pred * median(gt[mask]) / median(pred[mask])``."""
    _check_inputs(pred, gt, mask)
    p, g = pred.double(), gt.double()
    fit = mask.bool() & torch.isfinite(p) & torch.isfinite(g)
    if not fit.any():
        raise ValueError("median scaling needs at least one valid pixel with a finite prediction")
    pred_median = _median(p[fit])
    if not pred_median > 0:
        raise ValueError(f"median scaling needs a positive median prediction, got {pred_median.item()}")
    return (p * (_median(g[fit]) / pred_median)).to(pred.dtype)


def _fit_scale_shift(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares ``(s, t)`` minimising ``||s x + t - y||^2`` for 1-D float64 ``x``, ``y``."""
    if x.numel() < 2:
        raise ValueError(f"scale-and-shift alignment needs at least 2 valid pixels, got {x.numel()}")
    x_mean, y_mean = x.mean(), y.mean()
    xc = x - x_mean
    var = (xc * xc).sum()
    if not var > 0:
        raise ValueError("scale-and-shift alignment is degenerate: the prediction is constant over valid pixels")
    scale = (xc * (y - y_mean)).sum() / var
    return scale, y_mean - scale * x_mean


def least_squares_scale_shift(
    pred: Tensor, gt: Tensor, mask: Tensor, space: AlignmentSpace = "depth"
) -> Tensor:
    """Fit ``s, t`` in closed form and return the aligned depth.

    ``space="depth"``: minimise ``||s pred + t - gt||^2``, return ``s pred + t``.
    ``space="inverse_depth"``: minimise ``||s / pred + t - 1 / gt||^2``, return
    ``1 / max(s / pred + t, MIN_INVERSE_DEPTH)`` (finite; a zero prediction, i.e. infinite inverse depth, stays 0
    when ``s > 0``).
    """
    _check_inputs(pred, gt, mask)
    if space not in ALIGNMENT_SPACES:
        raise ValueError(f"alignment space must be one of {ALIGNMENT_SPACES}, got {space!r}")
    p, g = pred.double(), gt.double()
    if space == "depth":
        x, y = p, g
    else:
        x, y = 1 / p, 1 / g
    fit = mask.bool() & torch.isfinite(x) & torch.isfinite(y)
    if space == "inverse_depth":
        fit &= p > 0
    scale, shift = _fit_scale_shift(x[fit], y[fit])
    aligned = scale * x + shift
    if space == "inverse_depth":
        aligned = 1 / aligned.clamp(min=MIN_INVERSE_DEPTH)
    return aligned.to(pred.dtype)


def align(
    pred: Tensor,
    gt: Tensor,
    mask: Tensor,
    method: AlignmentMethod = "none",
    space: AlignmentSpace = "depth",
) -> Tensor:
    """Align ``pred`` to ``gt`` with ``method``; ``space`` applies to ``"scale_shift"`` only."""
    if method == "none":
        return pred
    if method == "median":
        return median_scale(pred, gt, mask)
    if method == "scale_shift":
        return least_squares_scale_shift(pred, gt, mask, space)
    raise ValueError(f"alignment method must be one of {ALIGNMENT_METHODS}, got {method!r}")
