"""Named depth-evaluation protocols, stored as data (see docs/MODELS.md §6.1-6.3).

A protocol fixes everything that differs between codebases when scoring a prediction against ground truth:
the GT validity range and whether its cap is exclusive, the prediction clip, the evaluation crop, the reduction over
images, the resize mode, which KITTI frame is scored (`kb_crop`), forced flip averaging and the AbsRel denominator.
`PROTOCOLS` maps names to `EvalProtocol` instances; each description names the reference script it follows.

Conventions: the GT valid range is `min_depth < gt <= max_depth` (and finite), or `min_depth < gt < max_depth`
when `max_depth_exclusive` (BTS's and AdaBins' `min_depth_eval < gt < max_depth_eval`); crop boxes are half-open
`[top:bottom, left:right]` index ranges.

KITTI frames. BTS and DPT (BTS's `eval_with_pngs.py`) feed the network the 352x1216 KB crop, paste its prediction
into a zero canvas of the full ground-truth frame and take the crop fractions of the *full* frame (`kb_crop="paste"`);
AdaBins (`evaluate.py`) crops image and ground truth and takes the fractions of the *cropped* frame
(`kb_crop="crop"`), a slightly smaller region. Both need full-frame samples (`KittiEigenSplit(kb_crop=False)`).
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ..data.frames import NYU_FRAME, AbsoluteCrop, CropSpec, FractionalCrop, is_full_kitti_frame, kb_crop_box

Reduction = Literal["per_image", "pooled"]
ResizeMode = Literal["bilinear", "bicubic", "nearest"]
KbCrop = Literal["none", "paste", "crop"]
AbsRelDenominator = Literal["gt", "prediction"]

REDUCTIONS: tuple[str, ...] = ("per_image", "pooled")
RESIZE_MODES: tuple[str, ...] = ("bilinear", "bicubic", "nearest")
KB_CROPS: tuple[str, ...] = ("none", "paste", "crop")
ABS_REL_DENOMINATORS: tuple[str, ...] = ("gt", "prediction")



def crop_mask(crop: CropSpec | None, height: int, width: int) -> Tensor:
    """Boolean `(height, width)` mask that is True inside `crop` (everywhere when `crop` is None)."""
    if crop is None:
        return torch.ones(height, width, dtype=torch.bool)
    top, bottom, left, right = crop.bounds(height, width)
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


@dataclass(frozen=True)
class EvalProtocol:
    """One evaluation protocol.

    Attributes:
        name: registry key.
        description: where the protocol comes from (the reference script) and what it does.
        min_depth, max_depth: GT pixels count when finite and `min_depth < gt <= max_depth`
            (`< max_depth` when `max_depth_exclusive`).
        max_depth_exclusive: the cap excludes `gt == max_depth`, as BTS's and AdaBins' scripts do.
        pred_clip: `(low, high)` clip applied to predictions; `low` must be > 0 so logs stay finite.
        crop: evaluation crop, or None for the whole frame.
        reduction: default reduction, `"per_image"` (mean of per-image metrics) or `"pooled"` (all pixels).
        resize_mode: interpolation used to resize a prediction to the GT size.
        align_corners: `align_corners` of that interpolation (ignored for `"nearest"`).
        kb_crop: the KITTI KB crop: `"none"`; `"paste"` (BTS/DPT): the network sees the 352x1216 crop and its
            prediction is pasted into a zero canvas of the full GT frame, which the crop fractions refer to;
            `"crop"` (AdaBins): image, GT and valid mask are cropped to 352x1216, the frame the fractions refer to
            (a GT no larger than the crop is taken as already cropped).
        flip_tta: the reference always averages with the flipped image's prediction, so `evaluate` does too.
        abs_rel_denominator: `"gt"` (standard AbsRel) or `"prediction"` (DenseDepth's swapped arguments); with
            `"prediction"` the standard value is reported beside it as `abs_rel_standard`.
    """

    name: str
    description: str
    min_depth: float = 1e-3
    max_depth: float = math.inf
    max_depth_exclusive: bool = False
    pred_clip: tuple[float, float] = (1e-3, math.inf)
    crop: CropSpec | None = None
    reduction: Reduction = "per_image"
    resize_mode: ResizeMode = "bilinear"
    align_corners: bool = False
    kb_crop: KbCrop = "none"
    flip_tta: bool = False
    abs_rel_denominator: AbsRelDenominator = "gt"

    def __post_init__(self) -> None:
        low, high = self.pred_clip
        if not 0 < low <= high:
            raise ValueError(f"pred_clip must satisfy 0 < low <= high, got {self.pred_clip}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        for field, value, allowed in (
            ("reduction", self.reduction, REDUCTIONS),
            ("resize_mode", self.resize_mode, RESIZE_MODES),
            ("kb_crop", self.kb_crop, KB_CROPS),
            ("abs_rel_denominator", self.abs_rel_denominator, ABS_REL_DENOMINATORS),
        ):
            if value not in allowed:
                raise ValueError(f"{field} must be one of {allowed}, got {value!r}")

    def gt_range_text(self) -> str:
        """The scored GT range, e.g. `"0.001 < gt < 80"`."""
        high = "" if math.isinf(self.max_depth) else f" {'<' if self.max_depth_exclusive else '<='} {self.max_depth:g}"
        return f"{self.min_depth:g} < gt{high}"


def check_kb_frame(protocol: EvalProtocol, height: int, width: int) -> None:
    """Raise unless a `height` x `width` ground truth suits `protocol`'s KB crop: a paste protocol scores the
    full KITTI frame, so its GT must be larger than the 352x1216 crop."""
    if protocol.kb_crop == "paste" and not is_full_kitti_frame(height, width):
        raise ValueError(
            f"protocol {protocol.name!r} pastes the 352x1216 KB-crop prediction into the full KITTI frame (BTS "
            f"convention), but the ground truth is {height}x{width}: give full-frame samples (e.g. "
            "KittiEigenSplit(kb_crop=False)); ground truth already cropped to 352x1216 is AdaBins' convention "
            "(a protocol with kb_crop='crop', e.g. kitti_garg_adabins)"
        )


# Fractions as BTS's eval_with_pngs.py / bts_eval.py and AdaBins' evaluate.py write them: the Eigen crop's left
# fraction is 0.0359477 there, the Garg crop's 0.03594771.
GARG_CROP = FractionalCrop(top=0.40810811, bottom=0.99189189, left=0.03594771, right=0.96405229)
EIGEN_KITTI_CROP = FractionalCrop(top=0.3324324, bottom=0.91351351, left=0.0359477, right=0.96405229)

_BTS_KITTI = (
    "KITTI Eigen split, BTS/DPT convention (BTS utils/eval_with_pngs.py and pytorch/bts_eval.py {flag} --do_kb_crop): "
    "the network sees the 352x1216 KB crop, its prediction is pasted into a zero canvas of the full ground-truth "
    "frame, {crop} crop fractions of the full frame, 1e-3 < gt < 80, pred clip [1e-3, 80], mean over images"
)
_ADABINS_KITTI = (
    "KITTI Eigen split, AdaBins convention (AdaBins evaluate.py {flag} --do_kb_crop): image and ground truth both "
    "KB-cropped to 352x1216, {crop} crop fractions of the cropped frame (a smaller region than the BTS convention's), "
    "1e-3 < gt < 80, pred clip [1e-3, 80], bilinear align_corners=True, mean over images"
)
_KITTI = {"max_depth": 80.0, "max_depth_exclusive": True, "pred_clip": (1e-3, 80.0)}

PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol(
            name="nyu_eigen",
            description="NYU v2 as BTS utils/eval_with_pngs.py --eigen_crop (also AdaBins evaluate.py; DPT scores "
            "with BTS's script): crop [45:471, 41:601], 1e-3 < gt < 10, pred clip [1e-3, 10], mean over images",
            max_depth=10.0,
            max_depth_exclusive=True,
            pred_clip=(1e-3, 10.0),
            crop=AbsoluteCrop(top=45, bottom=471, left=41, right=601, frame=NYU_FRAME),
        ),
        EvalProtocol(
            name="nyu_densedepth",
            description="NYU v2 as DenseDepth utils.py evaluate(): crop rows 20..459, cols 24..615 inclusive "
            "(eigen_test_crop.npy), no GT mask or cap (the in-painted GT is dense), predictions clipped to [0.1, 10] "
            "and always averaged with the flipped image's, all pixels pooled; abs_rel divides by the prediction, as "
            "DenseDepth's swapped compute_errors(predictions, testSetDepths) call does (the standard AbsRel is "
            "abs_rel_standard)",
            min_depth=0.0,
            pred_clip=(0.1, 10.0),
            crop=AbsoluteCrop(top=20, bottom=460, left=24, right=616, frame=NYU_FRAME),
            reduction="pooled",
            flip_tta=True,
            abs_rel_denominator="prediction",
        ),
        EvalProtocol(
            name="kitti_garg",
            description=_BTS_KITTI.format(flag="--garg_crop", crop="Garg"),
            crop=GARG_CROP,
            kb_crop="paste",
            **_KITTI,
        ),
        EvalProtocol(
            name="kitti_eigen",
            description=_BTS_KITTI.format(flag="--eigen_crop", crop="Eigen"),
            crop=EIGEN_KITTI_CROP,
            kb_crop="paste",
            **_KITTI,
        ),
        EvalProtocol(
            name="kitti_garg_adabins",
            description=_ADABINS_KITTI.format(flag="--garg_crop", crop="Garg"),
            crop=GARG_CROP,
            align_corners=True,
            kb_crop="crop",
            **_KITTI,
        ),
        EvalProtocol(
            name="kitti_eigen_adabins",
            description=_ADABINS_KITTI.format(flag="--eigen_crop", crop="Eigen"),
            crop=EIGEN_KITTI_CROP,
            align_corners=True,
            kb_crop="crop",
            **_KITTI,
        ),
        EvalProtocol(
            name="none",
            description="no crop, GT (1e-3, inf), predictions clipped below at 1e-3 only, mean over images",
        ),
    )
}


def get_protocol(name: str) -> EvalProtocol:
    """Return the registered protocol `name`."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; valid names: {', '.join(PROTOCOLS)}") from None
