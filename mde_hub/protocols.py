"""Named depth-evaluation protocols, stored as data (see docs/MODELS.md §6.1-6.3).

A protocol fixes everything that differs between codebases when scoring a prediction against ground truth:
the GT validity range, the prediction clip, the evaluation crop, the reduction over images, the resize mode and
whether the network saw the KITTI KB crop. ``PROTOCOLS`` maps names to :class:`EvalProtocol` instances.

Conventions: the GT valid range is ``min_depth < gt <= max_depth`` (and finite); crop boxes are half-open
``[top:bottom, left:right]`` index ranges.
"""

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["per_image", "pooled"]
ResizeMode = Literal["bilinear", "bicubic", "nearest"]

REDUCTIONS: tuple[str, ...] = ("per_image", "pooled")
RESIZE_MODES: tuple[str, ...] = ("bilinear", "bicubic", "nearest")

KB_CROP_HEIGHT = 352
KB_CROP_WIDTH = 1216


@dataclass(frozen=True)
class AbsoluteCrop:
    """A fixed pixel box ``[top:bottom, left:right]`` valid only on a ``frame`` of ``(height, width)``."""

    top: int
    bottom: int
    left: int
    right: int
    frame: tuple[int, int]

    def bounds(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Return ``(top, bottom, left, right)``; raise if the GT is not the reference frame size."""
        if (height, width) != tuple(self.frame):
            raise ValueError(
                f"crop [{self.top}:{self.bottom}, {self.left}:{self.right}] is defined on a "
                f"{self.frame[0]}x{self.frame[1]} frame, but the ground truth is {height}x{width}"
            )
        return self.top, self.bottom, self.left, self.right


@dataclass(frozen=True)
class FractionalCrop:
    """A box given as fractions of the GT height/width; indices are ``int(fraction * size)`` (truncation)."""

    top: float
    bottom: float
    left: float
    right: float

    def bounds(self, height: int, width: int) -> tuple[int, int, int, int]:
        """Return ``(top, bottom, left, right)`` for a ``height`` x ``width`` ground truth."""
        return int(self.top * height), int(self.bottom * height), int(self.left * width), int(self.right * width)


CropSpec = AbsoluteCrop | FractionalCrop


def crop_mask(crop: CropSpec | None, height: int, width: int) -> Tensor:
    """Boolean ``(height, width)`` mask that is True inside ``crop`` (everywhere when ``crop`` is None)."""
    if crop is None:
        return torch.ones(height, width, dtype=torch.bool)
    top, bottom, left, right = crop.bounds(height, width)
    mask = torch.zeros(height, width, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    return mask


def kb_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """KITTI KB crop of a ``height`` x ``width`` frame as ``(top, left, 352, 1216)``: bottom rows, centred columns."""
    if height < KB_CROP_HEIGHT or width < KB_CROP_WIDTH:
        raise ValueError(
            f"the KB crop needs a frame of at least {KB_CROP_HEIGHT}x{KB_CROP_WIDTH}, got {height}x{width}"
        )
    return height - KB_CROP_HEIGHT, (width - KB_CROP_WIDTH) // 2, KB_CROP_HEIGHT, KB_CROP_WIDTH


@dataclass(frozen=True)
class EvalProtocol:
    """One evaluation protocol.

    Attributes:
        name: registry key.
        description: where the protocol comes from.
        min_depth, max_depth: GT pixels count when finite and ``min_depth < gt <= max_depth``.
        pred_clip: ``(low, high)`` clip applied to predictions; ``low`` must be > 0 so logs stay finite.
        crop: evaluation crop, or None for the whole frame.
        reduction: default reduction, ``"per_image"`` (mean of per-image metrics) or ``"pooled"`` (all pixels).
        resize_mode: interpolation used to resize a prediction to the GT size.
        align_corners: ``align_corners`` of that interpolation (ignored for ``"nearest"``).
        kb_crop: the network saw the KITTI KB crop, so a 352x1216 prediction is pasted into a zero canvas of the
            GT frame (BTS convention) instead of being resized.
    """

    name: str
    description: str
    min_depth: float = 1e-3
    max_depth: float = math.inf
    pred_clip: tuple[float, float] = (1e-3, math.inf)
    crop: CropSpec | None = None
    reduction: Reduction = "per_image"
    resize_mode: ResizeMode = "bilinear"
    align_corners: bool = False
    kb_crop: bool = False

    def __post_init__(self) -> None:
        low, high = self.pred_clip
        if not 0 < low <= high:
            raise ValueError(f"pred_clip must satisfy 0 < low <= high, got {self.pred_clip}")
        if not 0 <= self.min_depth < self.max_depth:
            raise ValueError(f"need 0 <= min_depth < max_depth, got {self.min_depth}, {self.max_depth}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {self.resize_mode!r}")


NYU_FRAME = (480, 640)
GARG_CROP = FractionalCrop(top=0.40810811, bottom=0.99189189, left=0.03594771, right=0.96405229)
EIGEN_KITTI_CROP = FractionalCrop(top=0.3324324, bottom=0.91351351, left=0.03594771, right=0.96405229)

PROTOCOLS: dict[str, EvalProtocol] = {
    p.name: p
    for p in (
        EvalProtocol(
            name="nyu_eigen",
            description="NYU v2 Eigen crop [45:471, 41:601] as in BTS/AdaBins/DPT; GT (1e-3, 10], pred clip "
            "[1e-3, 10], mean over images",
            max_depth=10.0,
            pred_clip=(1e-3, 10.0),
            crop=AbsoluteCrop(top=45, bottom=471, left=41, right=601, frame=NYU_FRAME),
        ),
        EvalProtocol(
            name="nyu_densedepth",
            description="NYU v2 DenseDepth crop rows 20..459, cols 24..615 inclusive; pred clip [0.1, 10], "
            "all pixels pooled",
            max_depth=10.0,
            pred_clip=(0.1, 10.0),
            crop=AbsoluteCrop(top=20, bottom=460, left=24, right=616, frame=NYU_FRAME),
            reduction="pooled",
        ),
        EvalProtocol(
            name="kitti_garg",
            description="KITTI Eigen split, Garg crop, 80 m cap, KB-crop predictions pasted into the GT frame "
            "(BTS/AdaBins/DPT reporting)",
            max_depth=80.0,
            pred_clip=(1e-3, 80.0),
            crop=GARG_CROP,
            kb_crop=True,
        ),
        EvalProtocol(
            name="kitti_eigen",
            description="KITTI Eigen split, Eigen crop, 80 m cap, KB-crop predictions pasted into the GT frame",
            max_depth=80.0,
            pred_clip=(1e-3, 80.0),
            crop=EIGEN_KITTI_CROP,
            kb_crop=True,
        ),
        EvalProtocol(
            name="none",
            description="no crop, GT (1e-3, inf), predictions clipped below at 1e-3 only, mean over images",
        ),
    )
}


def get_protocol(name: str) -> EvalProtocol:
    """Return the registered protocol ``name``."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown evaluation protocol {name!r}; valid names: {', '.join(PROTOCOLS)}") from None
