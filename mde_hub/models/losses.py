"""Masked, differentiable depth losses (see docs/MODELS.md §1, §2.2, §3.2, §4.2, §5.2).

Conventions shared by every loss:

* `pred` and `target` are `(B, H, W)` or `(B, 1, H, W)` and must have the same spatial size
  (resize `pred` to the target first); a mismatch raises `ValueError`.
* `mask` is an optional boolean `(B, H, W)`. When it is `None` the mask is
  `valid_depth_mask(target, min_depth)`; a given mask is intersected with `isfinite(target)`.
* Invalid target pixels are replaced by `pred.detach()` before computing, so they add no error and never
  produce NaN/inf in the value or the gradient. Means run over valid pixels only.
* With no valid pixel a loss returns an exact zero that is still attached to the autograd graph.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MIN_DEPTH = 1e-3
"""Default validity threshold on the target (AdaBins' `min_depth`)."""

_MIN_POSITIVE = 1e-6  # lower clamp of depths before taking logs
_MIN_RADICAND = 1e-12  # lower clamp under the SILog square root
_MIN_SCALE = 1e-6  # lower clamp of the robust disparity scale


def valid_depth_mask(target: Tensor, min_depth: float = MIN_DEPTH) -> Tensor:
    """Boolean mask of finite target pixels strictly above `min_depth`."""
    return torch.isfinite(target) & (target > min_depth)


def _as_bhw(x: Tensor, name: str) -> Tensor:
    """Drop a singleton channel axis; accept only `(B, H, W)` or `(B, 1, H, W)`."""
    if x.dim() == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.dim() == 3:
        return x
    raise ValueError(f"{name} must be (B, H, W) or (B, 1, H, W), got shape {tuple(x.shape)}")


def _resolve_mask(target: Tensor, mask: Tensor | None, min_depth: float) -> Tensor:
    """Return the validity mask for a `(B, H, W)` target."""
    if mask is None:
        return valid_depth_mask(target, min_depth)
    mask = _as_bhw(mask, "mask").bool()
    if mask.shape != target.shape:
        raise ValueError(f"mask shape {tuple(mask.shape)} does not match target shape {tuple(target.shape)}")
    return mask & torch.isfinite(target)


def _check_same_shape(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Return `pred` and `target` as `(B, H, W)`; raise if their shapes differ."""
    p, t = _as_bhw(pred, "pred"), _as_bhw(target, "target")
    if p.shape != t.shape:
        raise ValueError(
            f"pred shape {tuple(pred.shape)} and target shape {tuple(target.shape)} differ; "
            "resize pred to the target size before computing the loss"
        )
    return p, t


def _prepare(
    pred: Tensor, target: Tensor, mask: Tensor | None, min_depth: float = MIN_DEPTH
) -> tuple[Tensor, Tensor, Tensor]:
    """Return `(pred, target, mask)` as `(B, H, W)` with invalid target pixels set to `pred.detach()`."""
    pred, target = _check_same_shape(pred, target)
    mask = _resolve_mask(target, mask, min_depth)
    return pred, torch.where(mask, target, pred.detach()), mask


def _masked_sum(x: Tensor, mask: Tensor, dim: int | None = None) -> Tensor:
    """Sum of `x` over `mask` (NaN-safe: unmasked entries are never read)."""
    return torch.where(mask, x, 0).sum(dim=dim)


def _masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of `x` over `mask`; an attached zero when the mask is empty."""
    return _masked_sum(x, mask) / mask.sum().clamp(min=1)


def _forward_diffs(x: Tensor) -> tuple[Tensor, Tensor]:
    """Forward differences of `(B, H, W)` along y and x (shapes `(B, H-1, W)` and `(B, H, W-1)`)."""
    return x[:, 1:, :] - x[:, :-1, :], x[:, :, 1:] - x[:, :, :-1]


def _pair_masks(mask: Tensor) -> tuple[Tensor, Tensor]:
    """Masks of forward-difference pairs whose two pixels are both valid (y, then x)."""
    return mask[:, 1:, :] & mask[:, :-1, :], mask[:, :, 1:] & mask[:, :, :-1]


def _per_image(v: Tensor, like: Tensor) -> Tensor:
    """Reshape a per-image vector `(B,)` to broadcast against `like`."""
    return v.reshape(-1, *([1] * (like.dim() - 1)))


# --------------------------------------------------------------------------------------------------- SSIM


def _gaussian_kernel(window_size: int, sigma: float, like: Tensor) -> Tensor:
    """Normalised 1-D Gaussian of `window_size` taps (as `tf.image.ssim`)."""
    coords = torch.arange(window_size, dtype=like.dtype, device=like.device) - (window_size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: Tensor, kernel: Tensor) -> Tensor:
    """Separable VALID (unpadded) filtering of each channel of `x` `(B, C, H, W)` with `kernel`."""
    c, k = x.shape[1], kernel.numel()
    x = F.conv2d(x, kernel.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, kernel.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c)


def ssim_map(
    pred: Tensor,
    target: Tensor,
    value_range: float,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> Tensor:
    """Per-window SSIM as in `tf.image.ssim`: Gaussian window, VALID filtering, no masking.

    Returns `(B, H - window_size + 1, W - window_size + 1)`; C1 = (k1 L)^2, C2 = (k2 L)^2 with L = `value_range`.
    """
    x, y = _check_same_shape(pred, target)
    h, w = x.shape[-2:]
    if h < window_size or w < window_size:
        raise ValueError(f"SSIM needs images of at least {window_size}x{window_size}, got {h}x{w}")
    c1, c2 = (k1 * value_range) ** 2, (k2 * value_range) ** 2
    stacked = torch.stack([x, y, x * x, y * y, x * y], dim=1)
    mu_x, mu_y, e_xx, e_yy, e_xy = _blur(stacked, _gaussian_kernel(window_size, sigma, stacked)).unbind(1)
    mu_xy, mu_sq = mu_x * mu_y, mu_x**2 + mu_y**2
    luminance = (2 * mu_xy + c1) / (mu_sq + c1)
    contrast_structure = (2 * (e_xy - mu_xy) + c2) / (e_xx + e_yy - mu_sq + c2)
    return luminance * contrast_structure


def ssim_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    *,
    value_range: float,
    window_size: int = 11,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    min_depth: float = MIN_DEPTH,
) -> Tensor:
    """Masked mean of clamp((1 - SSIM) / 2, 0, 1) (DenseDepth's SSIM term).

    A VALID-filtered SSIM value counts when its window's centre pixel is valid, i.e. the mask is cropped by
    `window_size // 2` on each side. Invalid pixels inside a valid window still enter its statistics
    (with their target set to `pred.detach()`), so they may receive a (finite) gradient.
    """
    pred, target, mask = _prepare(pred, target, mask, min_depth)
    ssim = ssim_map(pred, target, value_range, window_size, sigma, k1, k2)
    r = window_size // 2
    centre_mask = mask[:, r : r + ssim.shape[1], r : r + ssim.shape[2]]
    return _masked_mean(torch.clamp((1 - ssim) / 2, 0, 1), centre_mask)


# ----------------------------------------------------------------------------------------- L1 and edges


def l1_loss(pred: Tensor, target: Tensor, mask: Tensor | None = None, *, min_depth: float = MIN_DEPTH) -> Tensor:
    """Masked mean absolute error."""
    pred, target, mask = _prepare(pred, target, mask, min_depth)
    return _masked_mean((pred - target).abs(), mask)


def gradient_loss(
    pred: Tensor, target: Tensor, mask: Tensor | None = None, *, min_depth: float = MIN_DEPTH
) -> Tensor:
    """DenseDepth edge term: mean |Δy pred − Δy target| + mean |Δx pred − Δx target| (forward differences).

    Each mean runs over the pairs whose two pixels are valid. `tf.image.image_gradients` zero-pads the last
    row/column, so the reference averages over H*W; for a full mask ours is larger by H/(H-1) (resp. W/(W-1)).
    """
    pred, target, mask = _prepare(pred, target, mask, min_depth)
    dy, dx = _forward_diffs(pred - target)
    my, mx = _pair_masks(mask)
    return _masked_mean(dy.abs(), my) + _masked_mean(dx.abs(), mx)


# ---------------------------------------------------------------------------------------------- SILog


def _safe_log(x: Tensor) -> Tensor:
    return torch.log(x.clamp(min=_MIN_POSITIVE))


def silog_loss(
    pred: Tensor,
    target: Tensor,
    mask: Tensor | None = None,
    variance_focus: float = 0.85,
    scale: float = 10.0,
    *,
    min_depth: float = MIN_DEPTH,
) -> Tensor:
    """Scale-invariant log loss (BTS, AdaBins): scale * sqrt(mean g² − λ (mean g)²), g = ln pred − ln target.

    g is pooled over all valid pixels of the batch (BTS). AdaBins writes D as var(g) + 0.15 mean(g)² with the
    unbiased variance, i.e. the same up to a factor N/(N−1) on the variance; we use the biased form.
    `pred` and `target` are clamped to 1e-6 before the log, and the radicand to 1e-12 so the gradient is
    finite at identity, where the value is therefore `scale * 1e-6` instead of 0.
    """
    pred, target, mask = _prepare(pred, target, mask, min_depth)
    g = _safe_log(pred) - _safe_log(target)
    radicand = _masked_mean(g * g, mask) - variance_focus * _masked_mean(g, mask) ** 2
    return scale * torch.sqrt(torch.clamp(radicand, min=_MIN_RADICAND)) * mask.any()


# ------------------------------------------------------------------------------------- bin-centre Chamfer


def _sorted_padded(values: Tensor, valid: Tensor) -> Tensor:
    """Sort rows of `values` `(B, M)` ascending over `valid`; pad with each row's maximum (0 if empty)."""
    sorted_values = torch.where(valid, values, torch.inf).sort(dim=1).values
    count = valid.sum(dim=1, keepdim=True)
    row_max = torch.where(count > 0, sorted_values.gather(1, (count - 1).clamp(min=0)), 0)
    positions = torch.arange(values.shape[1], device=values.device)
    return torch.where(positions < count, sorted_values, row_max)


def _nearest_sq_dist(queries: Tensor, ref_sorted: Tensor) -> Tensor:
    """Squared distance of each query `(B, Q)` to its nearest value in the ascending rows of `ref_sorted`."""
    idx = torch.searchsorted(ref_sorted.detach().contiguous(), queries.detach().contiguous())
    right = idx.clamp(max=ref_sorted.shape[1] - 1)
    left = (idx - 1).clamp(min=0)
    return torch.minimum(
        (queries - ref_sorted.gather(1, left)) ** 2, (queries - ref_sorted.gather(1, right)) ** 2
    )


def bin_chamfer_loss(
    bin_centers: Tensor, target: Tensor, mask: Tensor | None = None, *, min_depth: float = MIN_DEPTH
) -> Tensor:
    """AdaBins bin-centre loss: bidirectional squared Chamfer distance between 1-D point sets (pytorch3d convention).

    Per sample: mean over the N centres of the squared distance to the nearest valid target depth, plus mean over
    the valid depths of the squared distance to the nearest centre; then averaged over the samples that have a
    valid depth. Nearest neighbours come from sorting + `searchsorted` (O((N + M) log)), never an N x M matrix.
    `bin_centers` is `(B, N)`; only it receives gradient.
    """
    target = _as_bhw(target, "target")
    if bin_centers.dim() != 2 or bin_centers.shape[0] != target.shape[0]:
        raise ValueError(
            f"bin_centers must be (B, N) with B = {target.shape[0]}, got shape {tuple(bin_centers.shape)}"
        )
    b = target.shape[0]
    valid = _resolve_mask(target, mask, min_depth).reshape(b, -1)
    depths = torch.where(valid, target.reshape(b, -1), 0).to(bin_centers.dtype)
    count = valid.sum(dim=1)
    centres_to_depths = _nearest_sq_dist(bin_centers, _sorted_padded(depths, valid)).mean(dim=1)
    depths_to_centres = _masked_sum(
        _nearest_sq_dist(depths, bin_centers.sort(dim=1).values), valid, dim=1
    ) / count.clamp(min=1)
    has_depth = count > 0
    return _masked_sum(centres_to_depths + depths_to_centres, has_depth) / has_depth.sum().clamp(min=1)


# ------------------------------------------------------------------------ MiDaS scale-and-shift invariance


def normalize_disparity(d: Tensor, mask: Tensor) -> Tensor:
    """Per-image robust normalisation (d − t) / s, t = median and s = mean |d − t| over valid pixels.

    The median is the lower one for even counts (`torch.median`); s is clamped to ≥ 1e-6. Invalid pixels are
    normalised with the same t, s but do not influence them; an image with no valid pixel uses t = 0.
    """
    b = d.shape[0]
    flat, valid = d.reshape(b, -1), mask.reshape(b, -1)
    count = valid.sum(dim=1)
    t = torch.nanmedian(torch.where(valid, flat, torch.nan), dim=1).values
    t = torch.where(count > 0, t, 0)
    s = _masked_sum((flat - t[:, None]).abs(), valid, dim=1) / count.clamp(min=1)
    return (d - _per_image(t, d)) / _per_image(s.clamp(min=_MIN_SCALE), d)


def align_least_squares(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Return s * pred + t with per-image (s, t) minimising ||s * pred + t − target||² over valid pixels.

    Solved in closed form in float64; degenerate images (fewer than two distinct valid values) keep s=1, t=0.
    """
    dims = tuple(range(1, pred.dim()))
    p = torch.where(mask, pred.double(), 0)
    y = torch.where(mask, target.double(), 0)
    a00, a01, a11 = (p * p).sum(dims), p.sum(dims), mask.sum(dims).double()
    b0, b1 = (p * y).sum(dims), y.sum(dims)
    det = a00 * a11 - a01 * a01
    ok = det > 0
    det = torch.where(ok, det, 1)
    s = torch.where(ok, (a11 * b0 - a01 * b1) / det, 1)
    t = torch.where(ok, (a00 * b1 - a01 * b0) / det, 0)
    return (_per_image(s, pred) * pred.double() + _per_image(t, pred)).to(pred.dtype)


def trimmed_mae_loss(pred_n: Tensor, target_n: Tensor, mask: Tensor, trim: float = 0.2) -> Tensor:
    """MiDaS trimmed MAE with batch-based reduction.

    Per image, keep the floor((1 − trim) M) smallest |residuals| of its M valid pixels; the loss is the sum of kept
    residuals over the batch divided by 2 * (total M over the batch).
    """
    pred_n, target_n, mask = _prepare(pred_n, target_n, mask)
    b = pred_n.shape[0]
    valid = mask.reshape(b, -1)
    residuals = torch.where(valid, (pred_n - target_n).abs().reshape(b, -1), torch.inf)
    sorted_residuals = residuals.sort(dim=1).values
    count = valid.sum(dim=1)
    n_keep = torch.floor(count.double() * (1.0 - trim))
    kept = torch.arange(valid.shape[1], device=valid.device)[None] < n_keep[:, None]
    return _masked_sum(sorted_residuals, kept) / (2 * count.sum()).clamp(min=1)


def gradient_matching_loss(pred_n: Tensor, target_n: Tensor, mask: Tensor, scales: int = 4) -> Tensor:
    """MiDaS multi-scale gradient matching on R = pred_n − target_n, batch-based reduction.

    At scale k, R and mask are subsampled with step 2^k; the sum of |∇x R| + |∇y R| over pairs of valid pixels is
    divided by the number of valid pixels at that scale. Returns the sum over scales.
    """
    pred_n, target_n, mask = _prepare(pred_n, target_n, mask)
    residual = pred_n - target_n
    total = residual.new_zeros(())
    for k in range(scales):
        step = 2**k
        r, m = residual[:, ::step, ::step], mask[:, ::step, ::step]
        dy, dx = _forward_diffs(r)
        my, mx = _pair_masks(m)
        total = total + (_masked_sum(dy.abs(), my) + _masked_sum(dx.abs(), mx)) / m.sum().clamp(min=1)
    return total


class ScaleAndShiftInvariantLoss(nn.Module):
    """MiDaS/DPT pre-training loss: trimmed MAE + alpha * gradient matching on aligned disparities.

    Defaults follow MiDaS (Ranftl et al., TPAMI 2022): trim 0.2, alpha 0.5, 4 scales. `pred` is the network's
    disparity (inverse-depth) output and `target` a disparity map: callers convert GT depth to 1 / depth. When
    `mask` is None a target pixel is valid if finite and > `min_disparity`.

    `alignment="median"` normalises pred and target with `normalize_disparity`; `"least_squares"`
    aligns pred onto the (unnormalised) target with `align_least_squares`.
    """

    def __init__(
        self,
        alpha: float = 0.5,
        scales: int = 4,
        trim: float = 0.2,
        alignment: Literal["median", "least_squares"] = "median",
        min_disparity: float = 0.0,
    ) -> None:
        super().__init__()
        if alignment not in ("median", "least_squares"):
            raise ValueError(f"alignment must be 'median' or 'least_squares', got {alignment!r}")
        if not 0.0 <= trim < 1.0:
            raise ValueError(f"trim must be in [0, 1), got {trim}")
        self.alpha, self.scales, self.trim = alpha, scales, trim
        self.alignment, self.min_disparity = alignment, min_disparity

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        pred, target, mask = _prepare(pred, target, mask, self.min_disparity)
        if self.alignment == "median":
            pred_n, target_n = normalize_disparity(pred, mask), normalize_disparity(target, mask)
        else:
            pred_n, target_n = align_least_squares(pred, target, mask), target
        return trimmed_mae_loss(pred_n, target_n, mask, self.trim) + self.alpha * gradient_matching_loss(
            pred_n, target_n, mask, self.scales
        )


# ------------------------------------------------------------------------------------- composite modules


class SSIML1Loss(nn.Module):
    """Baseline loss: ssim_weight * SSIM term + l1_weight * L1 (MODELS.md §1, DenseDepth constants)."""

    def __init__(
        self, ssim_weight: float = 1.0, l1_weight: float = 0.1, *, value_range: float, min_depth: float = MIN_DEPTH
    ) -> None:
        super().__init__()
        self.ssim_weight, self.l1_weight = ssim_weight, l1_weight
        self.value_range, self.min_depth = value_range, min_depth

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        ssim = ssim_loss(pred, target, mask, value_range=self.value_range, min_depth=self.min_depth)
        return self.ssim_weight * ssim + self.l1_weight * l1_loss(pred, target, mask, min_depth=self.min_depth)


class DenseDepthLoss(SSIML1Loss):
    """DenseDepth loss: 1.0 * SSIM term + 1.0 * edge term + 0.1 * L1 (MODELS.md §2.2; value_range 100 there)."""

    def __init__(
        self,
        ssim_weight: float = 1.0,
        gradient_weight: float = 1.0,
        l1_weight: float = 0.1,
        *,
        value_range: float,
        min_depth: float = MIN_DEPTH,
    ) -> None:
        super().__init__(ssim_weight, l1_weight, value_range=value_range, min_depth=min_depth)
        self.gradient_weight = gradient_weight

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        edges = gradient_loss(pred, target, mask, min_depth=self.min_depth)
        return super().forward(pred, target, mask) + self.gradient_weight * edges


class SILogLoss(nn.Module):
    """Module form of `silog_loss` (BTS/AdaBins: variance_focus 0.85, scale 10)."""

    def __init__(self, variance_focus: float = 0.85, scale: float = 10.0, *, min_depth: float = MIN_DEPTH) -> None:
        super().__init__()
        self.variance_focus, self.scale, self.min_depth = variance_focus, scale, min_depth

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
        return silog_loss(pred, target, mask, self.variance_focus, self.scale, min_depth=self.min_depth)


class AdaBinsLoss(nn.Module):
    """AdaBins loss: SILog + chamfer_weight * bin-centre Chamfer (MODELS.md §4.2)."""

    def __init__(
        self,
        chamfer_weight: float = 0.1,
        variance_focus: float = 0.85,
        scale: float = 10.0,
        *,
        min_depth: float = MIN_DEPTH,
    ) -> None:
        super().__init__()
        self.chamfer_weight = chamfer_weight
        self.silog = SILogLoss(variance_focus, scale, min_depth=min_depth)

    def forward(self, pred: Tensor, target: Tensor, bin_centers: Tensor, mask: Tensor | None = None) -> Tensor:
        chamfer = bin_chamfer_loss(bin_centers, target, mask, min_depth=self.silog.min_depth)
        return self.silog(pred, target, mask) + self.chamfer_weight * chamfer


class DptLoss(nn.Module):
    """DPT's losses on the network's disparity (MODELS.md §3.2). `loss_type="ssi"` (MiDaS pre-training): the
    scale- and shift-invariant loss between the raw disparity and 1 / labels. `"silog"` (NYU/KITTI fine-tuning):
    SILog on the metric depth + `gradient_matching_weight` x gradient matching on the median-normalised
    disparities (0 turns it off, as for KITTI's sparse ground truth)."""

    def __init__(
        self,
        loss_type: Literal["ssi", "silog"] = "silog",
        gradient_matching_weight: float = 0.5,
        gradient_matching_scales: int = 4,
        trim: float = 0.2,
        variance_focus: float = 0.5,
        silog_scale: float = 10.0,
        *,
        min_depth: float = MIN_DEPTH,
    ) -> None:
        super().__init__()
        if loss_type not in ("ssi", "silog"):
            raise ValueError(f"loss_type must be 'ssi' or 'silog', got {loss_type!r}")
        self.loss_type, self.gradient_matching_weight = loss_type, gradient_matching_weight
        self.gradient_matching_scales, self.min_depth = gradient_matching_scales, min_depth
        self.variance_focus, self.silog_scale = variance_focus, silog_scale
        self.ssi = ScaleAndShiftInvariantLoss(alpha=gradient_matching_weight, scales=gradient_matching_scales, trim=trim)

    def forward(self, disparity: Tensor, depth: Tensor, labels: Tensor) -> Tensor:
        mask = valid_depth_mask(labels, self.min_depth)
        target_disparity = torch.where(mask, labels.reciprocal(), 0.0)
        if self.loss_type == "ssi":
            return self.ssi(disparity, target_disparity, mask)
        loss = silog_loss(depth, labels, mask, self.variance_focus, self.silog_scale, min_depth=self.min_depth)
        if self.gradient_matching_weight > 0:
            aligned = normalize_disparity(disparity, mask), normalize_disparity(target_disparity, mask)
            loss = loss + self.gradient_matching_weight * gradient_matching_loss(
                *aligned, mask, self.gradient_matching_scales
            )
        return loss
