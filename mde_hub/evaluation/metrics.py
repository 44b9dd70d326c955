"""Standard monocular-depth metrics under named evaluation protocols (docs/MODELS.md §6.3).

With `e = ln pred - ln gt` over the valid pixels:

* `abs_rel` = mean |gt - pred| / gt, `sq_rel` = mean (gt - pred)^2 / gt, `rmse` = sqrt mean (gt - pred)^2;
* `rmse_log` = sqrt mean e^2, `log10` = mean |log10 gt - log10 pred|, `silog` = 100 sqrt(mean e^2 - (mean e)^2);
* `delta{k}` = mean(max(gt / pred, pred / gt) < 1.25^k), k = 1, 2, 3.

A protocol with `abs_rel_denominator="prediction"` (`nyu_densedepth`) reports DenseDepth's mean |gt - pred| / pred
as `abs_rel` and the standard value above as `abs_rel_standard`.

Per image, in this order:

1. the frame: a `kb_crop="crop"` protocol (AdaBins) crops a full-frame GT, its valid mask and a prediction of the
   GT's size to the KB crop (a smaller GT is taken as already cropped); a `kb_crop="paste"` protocol (BTS/DPT)
   needs a full-frame GT and pastes a prediction of another size (the KB crop's, resized to 352x1216 if needed) into a
   zero canvas of it; otherwise a prediction whose size differs from the GT is resized with
   `resize_prediction`;
2. valid pixels are those with finite GT in `(min_depth, max_depth]` (`(min_depth, max_depth)` when the protocol's
   cap is exclusive), inside the protocol crop and inside the optional user `valid_mask`; an image without any is
   skipped (and counted);
3. the prediction (depth, or inverse depth with `prediction_type="inverse_depth"`) is aligned to the GT if asked
   and turned into depth (`mde_hub.evaluation.alignment`);
4. non-finite predictions are replaced: NaN and -inf by the lower clip bound, +inf by the upper bound (the lower
   one when the upper bound is infinite); then predictions are clipped to `protocol.pred_clip`. A broken
   prediction therefore counts as an error but never makes a metric NaN or infinite.

On the CPU, in numpy (`mde_hub.evaluation.pixel_sums`): float32 inputs are scored in float32 and anything wider in
float64, per row in that precision and the rows and running totals in float64 (float32 scoring stays within 5e-7
relative of float64; the reference scripts themselves score float32 arrays).
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..inference.distributed import sum_across_processes
from ..models.depth_meaning import PREDICTION_TYPES, PredictionType
from .alignment import ALIGNMENT_METHODS, ALIGNMENT_SPACES, AlignmentMethod, AlignmentSpace, align
from .pixel_sums import NUM_SUMS, PixelScoring, image_pixel_sums, sanitized_and_clipped
from .protocols import (
    REDUCTIONS,
    RESIZE_MODES,
    EvalProtocol,
    Reduction,
    ResizeMode,
    check_kb_frame,
    crop_mask,
    get_protocol,
    is_full_kitti_frame,
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

ABS_REL_STANDARD = "abs_rel_standard"
"""Extra key under a protocol whose `abs_rel` divides by the prediction (DenseDepth): AbsRel divided by the GT."""

_NUM_VALUES = len(METRIC_NAMES) + 1  # the nine metrics, then AbsRel divided by the prediction


def resize_prediction(
    pred: Tensor, size: tuple[int, int], mode: ResizeMode = "bilinear", align_corners: bool = False
) -> Tensor:
    """Resize a `(..., H, W)` prediction to `size` with `torch.nn.functional.interpolate`.

    `mode` is `"bilinear"`, `"bicubic"` or `"nearest"` (`align_corners` is ignored for nearest).
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


def _as_numpy(x: Tensor) -> np.ndarray:
    """A CPU tensor's values as numpy (bfloat16, which numpy lacks, as float32)."""
    return (x.float() if x.dtype == torch.bfloat16 else x).numpy()


def _as_batch(x: Tensor, name: str) -> Tensor:
    """Return `x` as `(B, H, W)` from `(H, W)`, `(B, H, W)` or `(B, 1, H, W)`."""
    if x.dim() == 2:
        return x.unsqueeze(0)
    if x.dim() == 3:
        return x
    if x.dim() == 4 and x.shape[1] == 1:
        return x[:, 0]
    raise ValueError(f"{name} must be (H, W), (B, H, W) or (B, 1, H, W), got shape {tuple(x.shape)}")


def _to_scoring_frame(
    pred: Tensor, gt: Tensor, user: Tensor | None, protocol: EvalProtocol
) -> tuple[Tensor, Tensor, Tensor | None]:
    """`(B, h, w)` prediction, `(B, H, W)` GT and user mask (or None) in the frame the protocol scores: the KB
    crop of a full frame (`kb_crop="crop"`), else the GT's own frame."""
    height, width = gt.shape[-2:]
    check_kb_frame(protocol, height, width)
    if protocol.kb_crop == "crop" and is_full_kitti_frame(height, width):
        top, left, h, w = kb_crop_box(height, width)
        window = (slice(None), slice(top, top + h), slice(left, left + w))
        pred = pred[window] if pred.shape[-2:] == gt.shape[-2:] else pred
        gt, user = gt[window], None if user is None else user[window]
    return _to_gt_frame(pred, tuple(gt.shape[-2:]), protocol), gt, user


def _to_gt_frame(pred: Tensor, gt_size: tuple[int, int], protocol: EvalProtocol) -> Tensor:
    """Bring a `(B, h, w)` prediction to the GT size: KB paste (BTS) where it applies, resize otherwise."""
    size = tuple(pred.shape[-2:])
    if size == gt_size:
        return pred
    if protocol.kb_crop == "paste":
        top, left, h, w = kb_crop_box(*gt_size)
        if size != (h, w):
            pred = resize_prediction(pred, (h, w), protocol.resize_mode, protocol.align_corners)
        canvas = pred.new_zeros(pred.shape[0], *gt_size)
        canvas[:, top : top + h, left : left + w] = pred
        return canvas
    return resize_prediction(pred, gt_size, protocol.resize_mode, protocol.align_corners)


def _in_gt_frame(pred: Tensor, mask: Tensor, gt_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """A scored `(h, w)` prediction (NaN outside) and mask placed back into a `gt_size` GT frame it was
    KB-cropped from; unchanged when it is that frame."""
    if tuple(pred.shape) == tuple(gt_size):
        return pred, mask
    top, left, h, w = kb_crop_box(*gt_size)
    full_pred, full_mask = pred.new_full(tuple(gt_size), math.nan), mask.new_zeros(tuple(gt_size))
    full_pred[top : top + h, left : left + w], full_mask[top : top + h, left : left + w] = pred, mask
    return full_pred, full_mask


def _crop_bounds(protocol: EvalProtocol, height: int, width: int) -> tuple[int, int, int, int]:
    """`(top, bottom, left, right)` of the protocol crop in a `height` x `width` scoring frame (all of it without
    a crop)."""
    return (0, height, 0, width) if protocol.crop is None else protocol.crop.bounds(height, width)


def _metrics_from_sums(sums: np.ndarray) -> np.ndarray:
    """The 9 metrics (`METRIC_NAMES` order) and AbsRel divided by the prediction, from the running sums of one
    image or of a pooled set."""
    abs_rel, sq_rel, mse, mean_e2, mean_e, log10, d1, d2, d3, abs_rel_pred = sums[1:] / sums[0]
    silog = 100 * math.sqrt(max(mean_e2 - mean_e**2, 0.0))
    return np.array([abs_rel, sq_rel, math.sqrt(mse), math.sqrt(mean_e2), log10, silog, d1, d2, d3, abs_rel_pred])


class DepthMetricAccumulator:
    """Streaming depth metrics with O(1) memory in the number of images.

    `update` takes single or batched predictions (depth, or inverse depth with `prediction_type="inverse_depth"`;
    `alignment_space` defaults to the prediction's own) and GT; `compute` returns the 9 metrics (and
    `abs_rel_standard` where the protocol's AbsRel divides by the prediction). In `"per_image"` mode it keeps the
    sum of per-image metric vectors, in `"pooled"` mode the pixel sums over all images.
    `num_images` (images scored), `num_skipped` (images without any valid pixel) and `num_pixels` (valid
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
        self._aligns = alignment != "none" or prediction_type != "depth"  # else the prediction is scored as it is
        p = self.protocol
        by_prediction = p.abs_rel_denominator == "prediction"
        self._scoring = PixelScoring(p.min_depth, p.max_depth, p.max_depth_exclusive, *p.pred_clip, by_prediction)
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far."""
        self._sums = np.zeros(NUM_SUMS if self.reduction == "pooled" else _NUM_VALUES, dtype=np.float64)
        self.num_images = 0
        self.num_skipped = 0
        self.num_pixels = 0

    def update(self, pred: ArrayLike, gt: ArrayLike, valid_mask: ArrayLike | None = None) -> None:
        """Add `(H, W)`, `(B, H, W)` or `(B, 1, H, W)` predictions and GT (numpy or torch, any mix). The images of
        a batch are scored one after the other, on this thread: numpy's passes over cache-sized blocks are short, and
        threads scoring images side by side spent more time handing the GIL back and forth than they saved
        (BENCHMARKS.md)."""
        pred_b, gt_b, user = self._in_scoring_frame(pred, gt, valid_mask)
        # Only the protocol crop is scored: cut it out first, one image at a time (cache-sized).
        top, bottom, left, right = _crop_bounds(self.protocol, *gt_b.shape[-2:])
        window = (slice(None), slice(top, bottom), slice(left, right))
        pred_np, gt_np = _as_numpy(pred_b)[window], _as_numpy(gt_b)[window]
        user_np = None if user is None else user.numpy()[window]

        for index in range(len(gt_np)):
            sums = self._image_sums(pred_np[index], gt_np[index], None if user_np is None else user_np[index])
            if sums is None:
                self.num_skipped += 1
                continue
            self._sums += sums if self.reduction == "pooled" else _metrics_from_sums(sums)
            self.num_images += 1
            self.num_pixels += int(sums[0])

    def _image_sums(self, pred: np.ndarray, gt: np.ndarray, user: np.ndarray | None) -> np.ndarray | None:
        """The pixel sums of one `(h, w)` image in the scored window, or None when no pixel is valid."""
        if not self._aligns:
            return image_pixel_sums(pred, gt, self._scoring, user)
        mask = self._scoring.range_mask(gt)  # alignment needs the whole image's valid pixels first
        if user is not None:
            mask &= user
        if not np.count_nonzero(mask):
            return None
        return image_pixel_sums(self._aligned(pred, gt, mask), gt, self._scoring, mask)

    def _in_scoring_frame(
        self, pred: ArrayLike, gt: ArrayLike, valid_mask: ArrayLike | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """`(B, H, W)` prediction and GT in the protocol's scoring frame and the user mask there (or None); a
        prediction that must be resized or pasted is turned into float64 first."""
        pred_b = _as_batch(_as_cpu_tensor(pred), "pred")
        gt_b = _as_batch(_as_cpu_tensor(gt), "gt")
        if pred_b.shape[0] != gt_b.shape[0]:
            raise ValueError(
                f"pred shape {tuple(pred_b.shape)} and gt shape {tuple(gt_b.shape)} have different batch sizes"
            )
        user = None if valid_mask is None else _as_batch(_as_cpu_tensor(valid_mask).bool(), "valid_mask")
        if user is not None and user.shape != gt_b.shape:
            raise ValueError(f"valid_mask shape {tuple(user.shape)} does not match gt shape {tuple(gt_b.shape)}")
        if pred_b.shape[-2:] != gt_b.shape[-2:]:
            pred_b = pred_b.double()
        return _to_scoring_frame(pred_b, gt_b, user, self.protocol)

    def scored(self, pred: ArrayLike, gt: ArrayLike, valid_mask: ArrayLike | None = None) -> tuple[Tensor, Tensor]:
        """One `(H, W)` prediction exactly as `update` scores it (in the GT's frame, aligned, sanitised and
        clipped) and its valid mask, e.g. for per-pixel error maps. Under a `kb_crop="crop"` protocol a full-frame
        GT's pixels outside the KB crop are NaN and not valid. Raises ValueError if no pixel is valid."""
        pred_b, gt_b, user = self._in_scoring_frame(pred, gt, valid_mask)
        if pred_b.shape[0] != 1:
            raise ValueError(f"scored takes one image; got pred {tuple(pred_b.shape)} and gt {tuple(gt_b.shape)}")
        gt_frame = gt_b[0].double().numpy()
        mask = self._scoring.range_mask(gt_frame) & crop_mask(self.protocol.crop, *gt_frame.shape).numpy()
        mask = mask if user is None else mask & user[0].numpy()
        if not mask.any():
            raise ValueError("no valid ground-truth pixels under this protocol")
        aligned = self._aligned(pred_b[0].numpy(), gt_frame, mask)
        scored = sanitized_and_clipped(aligned, *self.protocol.pred_clip, np.dtype(np.float64))
        return _in_gt_frame(torch.from_numpy(scored), torch.from_numpy(mask), _as_cpu_tensor(gt).shape[-2:])

    def _aligned(self, pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """`pred` aligned to `gt` over `mask` (in float64) and turned into depth; as it is when neither is asked."""
        if not self._aligns:
            return pred
        aligned = align(
            torch.from_numpy(pred).to(torch.float64), torch.from_numpy(gt).to(torch.float64),
            torch.from_numpy(mask), self.alignment, self.alignment_space, self.prediction_type,
        )
        return aligned.numpy()

    def sum_across_processes(self) -> None:
        """Add up the accumulators of every process of a multi-process run (`mde_hub.inference.distributed`), so each
        holds the sums of the whole run: N processes scoring disjoint shards give the metrics of one process that
        scored everything (float64 sums, so only their order differs)."""
        counts = torch.tensor([self.num_images, self.num_skipped, self.num_pixels], dtype=torch.float64)
        total = sum_across_processes(torch.cat([torch.from_numpy(self._sums), counts]))
        self._sums = total[: len(self._sums)].numpy()
        self.num_images, self.num_skipped, self.num_pixels = (round(value) for value in total[len(self._sums) :].tolist())

    def compute(self) -> dict[str, float]:
        """The 9 metrics (keys `METRIC_NAMES`) over everything added since the last `reset`; where the protocol's
        AbsRel divides by the prediction, `abs_rel` is that one and `abs_rel_standard` (divided by the GT)
        follows."""
        if self.num_images == 0:
            raise ValueError(f"no valid pixels to score ({self.num_skipped} image(s) had none)")
        values = _metrics_from_sums(self._sums) if self.reduction == "pooled" else self._sums / self.num_images
        *nine, abs_rel_by_prediction = values.tolist()
        metrics = dict(zip(METRIC_NAMES, nine))
        if self.protocol.abs_rel_denominator == "prediction":
            metrics[ABS_REL_STANDARD], metrics["abs_rel"] = metrics["abs_rel"], abs_rel_by_prediction
        return metrics


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
    """One-shot metrics of single or batched predictions; `reduction=None` uses the protocol default."""
    accumulator = DepthMetricAccumulator(protocol, reduction, alignment, alignment_space, prediction_type)
    accumulator.update(pred, gt, valid_mask)
    return accumulator.compute()
