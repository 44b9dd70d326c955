"""Standard monocular-depth metrics under named evaluation protocols (docs/MODELS.md §6.3).

With ``e = ln pred - ln gt`` over the valid pixels:

* ``abs_rel`` = mean |gt - pred| / gt, ``sq_rel`` = mean (gt - pred)^2 / gt, ``rmse`` = sqrt mean (gt - pred)^2;
* ``rmse_log`` = sqrt mean e^2, ``log10`` = mean |log10 gt - log10 pred|, ``silog`` = 100 sqrt(mean e^2 - (mean e)^2);
* ``delta{k}`` = mean(max(gt / pred, pred / gt) < 1.25^k), k = 1, 2, 3.

Per image, in this order:

1. a prediction whose size differs from the GT is pasted into the GT frame (KB crop protocols, 352x1216 input)
   or resized with :func:`resize_prediction`;
2. valid pixels are those with finite GT in ``(min_depth, max_depth]``, inside the protocol crop and inside the
   optional user ``valid_mask``; an image without any is skipped (and counted);
3. the prediction (depth, or inverse depth with ``prediction_type="inverse_depth"``) is aligned to the GT if asked
   and turned into depth (:mod:`mde_hub.alignment`);
4. non-finite predictions are replaced: NaN and -inf by the lower clip bound, +inf by the upper bound (the lower
   one when the upper bound is infinite); then predictions are clipped to ``protocol.pred_clip``. A broken
   prediction therefore counts as an error but never makes a metric NaN or infinite.

Everything is computed in float64 on the CPU.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from .alignment import ALIGNMENT_METHODS, ALIGNMENT_SPACES, AlignmentMethod, AlignmentSpace, align
from .depth_meaning import PREDICTION_TYPES, PredictionType
from .protocols import (
    KB_CROP_HEIGHT,
    KB_CROP_WIDTH,
    REDUCTIONS,
    RESIZE_MODES,
    EvalProtocol,
    Reduction,
    ResizeMode,
    crop_mask,
    get_protocol,
    kb_crop_box,
)

ArrayLike = np.ndarray | Tensor

METRIC_NAMES: tuple[str, ...] = (
    "abs_rel",
    "sq_rel",
    "rmse",
    "rmse_log",
    "log10",
    "silog",
    "delta1",
    "delta2",
    "delta3",
)
HIGHER_IS_BETTER: dict[str, bool] = {name: name.startswith("delta") for name in METRIC_NAMES}
"""Whether a larger value of each metric is better (only the delta accuracies)."""

_NUM_SUMS = 10  # count, |d|/gt, d^2/gt, d^2, e^2, e, |log10 ratio|, delta1..3 hits


def resize_prediction(
    pred: Tensor, size: tuple[int, int], mode: ResizeMode = "bilinear", align_corners: bool = False
) -> Tensor:
    """Resize a ``(..., H, W)`` prediction to ``size`` with ``torch.nn.functional.interpolate``.

    ``mode`` is ``"bilinear"``, ``"bicubic"`` or ``"nearest"`` (``align_corners`` is ignored for nearest).
    Bicubic may overshoot below zero and NaNs spread to their neighbours; the metrics replace non-finite values
    and clip afterwards.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    if pred.dim() < 2:
        raise ValueError(f"pred must have at least 2 dimensions (H, W), got shape {tuple(pred.shape)}")
    lead = pred.shape[:-2]
    x = pred.reshape(-1, 1, *pred.shape[-2:])
    x = F.interpolate(x, size=tuple(size), mode=mode, align_corners=None if mode == "nearest" else align_corners)
    return x.reshape(*lead, *size)


def _as_cpu_tensor(x: ArrayLike) -> Tensor:
    return x.detach().cpu() if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x))


def _as_batch(x: Tensor, name: str) -> Tensor:
    """Return ``x`` as ``(B, H, W)`` from ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``."""
    if x.dim() == 2:
        return x.unsqueeze(0)
    if x.dim() == 3:
        return x
    if x.dim() == 4 and x.shape[1] == 1:
        return x[:, 0]
    raise ValueError(f"{name} must be (H, W), (B, H, W) or (B, 1, H, W), got shape {tuple(x.shape)}")


def _to_gt_frame(pred: Tensor, gt_size: tuple[int, int], protocol: EvalProtocol) -> Tensor:
    """Bring a ``(B, h, w)`` prediction to the GT size: KB paste (BTS) where it applies, resize otherwise."""
    size = tuple(pred.shape[-2:])
    if size == gt_size:
        return pred
    height, width = gt_size
    if protocol.kb_crop and size == (KB_CROP_HEIGHT, KB_CROP_WIDTH) and height >= size[0] and width >= size[1]:
        top, left, h, w = kb_crop_box(height, width)
        canvas = pred.new_zeros(pred.shape[0], height, width)
        canvas[:, top : top + h, left : left + w] = pred
        return canvas
    return resize_prediction(pred, gt_size, protocol.resize_mode, protocol.align_corners)


def _sanitize_and_clip(pred: Tensor, low: float, high: float) -> Tensor:
    """Replace NaN/-inf by ``low``, +inf by ``high`` (``low`` if unbounded), then clip to ``[low, high]``."""
    posinf = high if math.isfinite(high) else low
    return torch.nan_to_num(pred, nan=low, posinf=posinf, neginf=low).clamp(min=low, max=high)


def _pixel_sums(pred: Tensor, gt: Tensor) -> Tensor:
    """The ``_NUM_SUMS`` running sums over 1-D valid ``pred``, ``gt`` (both > 0)."""
    diff = gt - pred
    e = torch.log(pred) - torch.log(gt)
    ratio = torch.maximum(gt / pred, pred / gt)
    return torch.stack(
        [
            torch.tensor(float(gt.numel()), dtype=torch.float64),
            (diff.abs() / gt).sum(),
            (diff**2 / gt).sum(),
            (diff**2).sum(),
            (e**2).sum(),
            e.sum(),
            (torch.log10(gt) - torch.log10(pred)).abs().sum(),
            *[(ratio < 1.25**k).sum().double() for k in (1, 2, 3)],
        ]
    )


def _metrics_from_sums(sums: Tensor) -> Tensor:
    """The 9 metrics (``METRIC_NAMES`` order) from the running sums of one image or of a pooled set."""
    abs_rel, sq_rel, mse, mean_e2, mean_e, log10, d1, d2, d3 = sums[1:] / sums[0]
    silog = 100 * torch.sqrt((mean_e2 - mean_e**2).clamp(min=0))
    return torch.stack([abs_rel, sq_rel, mse.sqrt(), mean_e2.sqrt(), log10, silog, d1, d2, d3])


class DepthMetricAccumulator:
    """Streaming depth metrics with O(1) memory in the number of images.

    ``update`` takes single or batched predictions (depth, or inverse depth with ``prediction_type="inverse_depth"``;
    ``alignment_space`` defaults to the prediction's own) and GT; ``compute`` returns the 9 metrics. In ``"per_image"``
    mode it keeps the sum of per-image metric vectors, in ``"pooled"`` mode the pixel sums over all images.
    ``num_images`` (images scored), ``num_skipped`` (images without any valid pixel) and ``num_pixels`` (valid
    pixels scored) are kept as attributes.
    """

    def __init__(
        self,
        protocol: str | EvalProtocol = "none",
        reduction: Reduction | None = None,
        alignment: AlignmentMethod = "none",
        alignment_space: AlignmentSpace | None = None,
        prediction_type: PredictionType = "depth",
    ) -> None:
        self.protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
        self.reduction = reduction or self.protocol.reduction
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")
        if alignment not in ALIGNMENT_METHODS:
            raise ValueError(f"alignment must be one of {ALIGNMENT_METHODS}, got {alignment!r}")
        if alignment_space not in (None, *ALIGNMENT_SPACES):
            raise ValueError(f"alignment_space must be one of {ALIGNMENT_SPACES}, got {alignment_space!r}")
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(f"prediction_type must be one of {PREDICTION_TYPES}, got {prediction_type!r}")
        self.alignment = alignment
        self.alignment_space = alignment_space or prediction_type
        self.prediction_type = prediction_type
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self._sums = torch.zeros(_NUM_SUMS if self.reduction == "pooled" else len(METRIC_NAMES), dtype=torch.float64)
        self.num_images = 0
        self.num_skipped = 0
        self.num_pixels = 0

    def update(self, pred: ArrayLike, gt: ArrayLike, valid_mask: ArrayLike | None = None) -> None:
        """Add ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)`` predictions and GT (numpy or torch, any mix)."""
        pred_b = _as_batch(_as_cpu_tensor(pred).double(), "pred")
        gt_b = _as_batch(_as_cpu_tensor(gt).double(), "gt")
        if pred_b.shape[0] != gt_b.shape[0]:
            raise ValueError(
                f"pred shape {tuple(pred_b.shape)} and gt shape {tuple(gt_b.shape)} have different batch sizes"
            )
        mask = self._valid_mask(gt_b, valid_mask)
        pred_b = _to_gt_frame(pred_b, tuple(gt_b.shape[-2:]), self.protocol)
        for p, g, m in zip(pred_b, gt_b, mask):
            self._add_image(p, g, m)

    def _valid_mask(self, gt: Tensor, valid_mask: ArrayLike | None) -> Tensor:
        """Finite GT in ``(min_depth, max_depth]``, inside the crop and the user mask; ``(B, H, W)`` bool."""
        p = self.protocol
        mask = torch.isfinite(gt) & (gt > p.min_depth) & (gt <= p.max_depth) & crop_mask(p.crop, *gt.shape[-2:])
        if valid_mask is None:
            return mask
        user = _as_batch(_as_cpu_tensor(valid_mask).bool(), "valid_mask")
        if user.shape != gt.shape:
            raise ValueError(f"valid_mask shape {tuple(user.shape)} does not match gt shape {tuple(gt.shape)}")
        return mask & user

    def scored(self, pred: ArrayLike, gt: ArrayLike, valid_mask: ArrayLike | None = None) -> tuple[Tensor, Tensor]:
        """One ``(H, W)`` prediction exactly as ``update`` scores it (in the GT frame, aligned, sanitised and
        clipped) and its valid mask, e.g. for per-pixel error maps. Raises ValueError if no pixel is valid."""
        pred_b = _as_batch(_as_cpu_tensor(pred).double(), "pred")
        gt_b = _as_batch(_as_cpu_tensor(gt).double(), "gt")
        if pred_b.shape[0] != 1 or gt_b.shape[0] != 1:
            raise ValueError(f"scored takes one image; got pred {tuple(pred_b.shape)} and gt {tuple(gt_b.shape)}")
        mask = self._valid_mask(gt_b, valid_mask)[0]
        if not mask.any():
            raise ValueError("no valid ground-truth pixels under this protocol")
        pred_b = _to_gt_frame(pred_b, tuple(gt_b.shape[-2:]), self.protocol)
        return self._aligned_and_clipped(pred_b[0], gt_b[0], mask), mask

    def _aligned_and_clipped(self, pred: Tensor, gt: Tensor, mask: Tensor) -> Tensor:
        pred = align(pred, gt, mask, self.alignment, self.alignment_space, self.prediction_type)
        return _sanitize_and_clip(pred, *self.protocol.pred_clip)

    def _add_image(self, pred: Tensor, gt: Tensor, mask: Tensor) -> None:
        if not mask.any():
            self.num_skipped += 1
            return
        pred = self._aligned_and_clipped(pred, gt, mask)
        sums = _pixel_sums(pred[mask], gt[mask])
        self._sums += sums if self.reduction == "pooled" else _metrics_from_sums(sums)
        self.num_images += 1
        self.num_pixels += int(mask.sum())

    def compute(self) -> dict[str, float]:
        """The 9 metrics (keys ``METRIC_NAMES``) over everything added since the last ``reset``."""
        if self.num_images == 0:
            raise ValueError(f"no valid pixels to score ({self.num_skipped} image(s) had none)")
        values = _metrics_from_sums(self._sums) if self.reduction == "pooled" else self._sums / self.num_images
        return dict(zip(METRIC_NAMES, values.tolist()))


def compute_depth_metrics(
    pred: ArrayLike,
    gt: ArrayLike,
    protocol: str | EvalProtocol = "none",
    reduction: Reduction | None = None,
    valid_mask: ArrayLike | None = None,
    alignment: AlignmentMethod = "none",
    alignment_space: AlignmentSpace | None = None,
    prediction_type: PredictionType = "depth",
) -> dict[str, float]:
    """One-shot metrics of single or batched predictions; ``reduction=None`` uses the protocol default."""
    accumulator = DepthMetricAccumulator(protocol, reduction, alignment, alignment_space, prediction_type)
    accumulator.update(pred, gt, valid_mask)
    return accumulator.compute()
