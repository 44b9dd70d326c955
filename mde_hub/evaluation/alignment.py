"""Per-image alignment of a prediction to ground truth before scoring, and its conversion to depth.

A prediction is depth or inverse depth (`prediction_type`, from `mde_hub.models.depth_meaning`). Alignment fits it to
the ground truth in a `space`, depth or inverse depth, which defaults to the prediction's own: a relative
inverse-depth model (MiDaS, DPT, Depth Anything) is fitted in inverse-depth space, `s * pred + t ~ 1 / gt`, as
MiDaS/DPT evaluate, and only then inverted to depth. The result is always depth.

* `"none"`: no fit; an inverse-depth prediction is inverted (it must then be metric inverse depth, 1/m).
* `"median"`: `x * median(y) / median(x)` with `x`, `y` the prediction and ground truth in `space`.
* `"scale_shift"`: least squares `s * x + t ~ y` in closed form.

All functions take `(H, W)` tensors `pred` and `gt` and a boolean `mask` of the same shape. The fit uses the
masked pixels where the fitted quantities are finite (and, where a value is inverted, positive); the returned depth
covers the whole image, in `pred`'s dtype. Solves run in float64.
"""

from typing import Literal

import torch
from torch import Tensor

from ..models.depth_meaning import MIN_INVERSE_DEPTH, PREDICTION_TYPES, PredictionType

AlignmentMethod = Literal["none", "median", "scale_shift"]
AlignmentSpace = Literal["depth", "inverse_depth"]

ALIGNMENT_METHODS: tuple[str, ...] = ("none", "median", "scale_shift")
ALIGNMENT_SPACES: tuple[str, ...] = ("depth", "inverse_depth")


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


def _reciprocal(x: Tensor) -> Tensor:
    """`1 / x` with `x` clamped to at least `MIN_INVERSE_DEPTH`: finite and positive."""
    return 1 / x.clamp(min=MIN_INVERSE_DEPTH)


def _fit_scale_shift(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Least-squares `(s, t)` minimising `||s x + t - y||^2` for 1-D float64 `x`, `y`."""
    if x.numel() < 2:
        raise ValueError(f"scale-and-shift alignment needs at least 2 valid pixels, got {x.numel()}")
    x_mean, y_mean = x.mean(), y.mean()
    xc = x - x_mean
    var = (xc * xc).sum()
    if not var > 0:
        raise ValueError("scale-and-shift alignment is degenerate: the prediction is constant over valid pixels")
    scale = (xc * (y - y_mean)).sum() / var
    return scale, y_mean - scale * x_mean


def _fit_median_scale(x: Tensor, y: Tensor) -> Tensor:
    """`median(y) / median(x)` for 1-D float64 `x`, `y`."""
    if x.numel() == 0:
        raise ValueError("median scaling needs at least one valid pixel with a finite prediction")
    x_median = _median(x)
    if not x_median > 0:
        raise ValueError(f"median scaling needs a positive median prediction, got {x_median.item()}")
    return _median(y) / x_median


def align(
    pred: Tensor,
    gt: Tensor,
    mask: Tensor,
    method: AlignmentMethod = "none",
    space: AlignmentSpace | None = None,
    prediction_type: PredictionType = "depth",
) -> Tensor:
    """The depth of `pred` (a `prediction_type` map) aligned to `gt` with `method` in `space` (default: the
    prediction's own space)."""
    _check_inputs(pred, gt, mask)
    if method not in ALIGNMENT_METHODS:
        raise ValueError(f"alignment method must be one of {ALIGNMENT_METHODS}, got {method!r}")
    if prediction_type not in PREDICTION_TYPES:
        raise ValueError(f"prediction type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
    space = prediction_type if space is None else space
    if space not in ALIGNMENT_SPACES:
        raise ValueError(f"alignment space must be one of {ALIGNMENT_SPACES}, got {space!r}")
    p = pred.double()
    if method == "none":
        return (p if prediction_type == "depth" else _reciprocal(p)).to(pred.dtype)
    x = p if prediction_type == space else 1 / p
    y = gt.double() if space == "depth" else 1 / gt.double()
    fit = mask.bool() & torch.isfinite(x) & torch.isfinite(y)
    if prediction_type != space:
        fit &= p > 0
    if method == "median":
        aligned = x * _fit_median_scale(x[fit], y[fit])
    else:
        scale, shift = _fit_scale_shift(x[fit], y[fit])
        aligned = scale * x + shift
    return (aligned if space == "depth" else _reciprocal(aligned)).to(pred.dtype)


def median_scale(pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
    """`pred * median(gt[mask]) / median(pred[mask])` for a depth prediction."""
    return align(pred, gt, mask, "median")


def least_squares_scale_shift(pred: Tensor, gt: Tensor, mask: Tensor, space: AlignmentSpace = "depth") -> Tensor:
    """A depth prediction aligned by least squares in `space`: `s pred + t` (depth), or
    `1 / max(s / pred + t, MIN_INVERSE_DEPTH)` (inverse depth)."""
    return align(pred, gt, mask, "scale_shift", space)
