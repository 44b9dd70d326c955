"""The papers' training augmentations as named presets (docs/MODELS.md §1, §2.4, §3.3, §4.4, §5.2).

An augmentation is a callable `(sample: DepthSample, rng: np.random.Generator) -> DepthSample`. The presets in
`AUGMENTATIONS` are compositions (`Compose`) of the small operations below; all randomness comes from
`rng`, so a fixed seed gives the same sample.

Geometric operations move the image, depth, valid mask and intrinsics together: the image is resampled bilinearly,
the depth and mask with nearest neighbour from the same sampling positions, so no depth is ever interpolated and an
invalid pixel (depth 0) stays 0. Sparse depth is shrunk to the nearest valid return inside each target pixel
(`resize_sample(sparse=True)`), and `fit_sample` centre-crops a frame to the target aspect ratio before resizing.
Photometric operations change the image only.

Conventions: pixel coordinates are array indices (pixel `(x, y)` is the centre of `image[y, x]`), as in
`Intrinsics.flipped`. Crops and flips update the intrinsics exactly (`Intrinsics.cropped`/`flipped`); resizing
maps pixel centres, `x' = (x + 0.5) * scale - 0.5`. A rotation of the image about its centre is exactly a roll of
the camera about its optical axis (depth unchanged) when `fx == fy`: the principal point turns about the image
centre and the focal lengths stay. With `fx != fy` the same intrinsics are only approximate (an error of order
`|fx - fy| / fx` times the distance to the principal point; ~0.1 % for NYU's Kinect).

Presets:

* `"none"`: identity.
* `"baseline"`: horizontal flip p = 0.5 (§1: DenseDepth's data "with a random horizontal flip"; the processor
  resizes to 256x256).
* `"densedepth"`: horizontal flip p = 0.5, then with p = 0.5 a random one of the 6 RGB channel orders (identity
  included), as in DenseDepth's code. The paper reportedly says 0.25 for the colour swap **[unverified]**.
* `"bts_nyu"` = `"adabins_nyu"` (AdaBins copied BTS's loader): PIL box (43, 45, 608, 472) = (left, top, right,
  bottom) of the 640x480 frame, i.e. rows 45:472 and cols 43:608 (427x565), dropping the registration border;
  rotation U[-2.5, 2.5] degrees; random crop 416x544; flip p = 0.5; with p = 0.5 gamma U[0.9, 1.1], brightness
  U[0.75, 1.25], per-channel colour U[0.9, 1.1], clipped to [0, 1].
* `"bts_kitti"` = `"adabins_kitti"`: KB crop to 352x1216 (a no-op on frames the KITTI loader already cropped);
  rotation U[-1, 1] degrees; random crop 352x704; flip p = 0.5; the same photometric jitter with brightness U[0.9, 1.1].
* `"dpt"`: DPT pre-training (§3.3): the paper resizes "so the longer side is 384" and takes random 384x384 crops,
  which cannot fit in a non-square image; we resize so the *shorter* side equals the crop size (up or down), then
  take a random square crop and flip with p = 0.5. `dpt_augmentation(crop_size)` builds other sizes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .frames import kb_crop_box
from .sample import DepthSample, Intrinsics

__all__ = [
    "AUGMENTATIONS",
    "CHANNEL_PERMUTATIONS",
    "NYU_BORDER_CROP",
    "SPARSE_VALID_FRACTION",
    "Augmentation",
    "BoxCrop",
    "ChannelPermutation",
    "Compose",
    "HorizontalFlip",
    "KBCrop",
    "PhotometricJitter",
    "RandomApply",
    "RandomCrop",
    "RandomRotation",
    "ResizeShorterSide",
    "centre_crop_to_aspect",
    "crop_sample",
    "dpt_augmentation",
    "fit_sample",
    "flip_sample",
    "get_augmentation",
    "jitter_image",
    "nearest_returns",
    "resize_sample",
    "rotate_sample",
]

Augmentation = Callable[[DepthSample, np.random.Generator], DepthSample]
CHANNEL_PERMUTATIONS: tuple[tuple[int, ...], ...] = tuple(itertools.permutations(range(3)))


# Deterministic transforms of one sample.


def crop_sample(sample: DepthSample, top: int, left: int, height: int, width: int) -> DepthSample:
    """Rows `top:top+height` and cols `left:left+width`; ValueError when the box leaves the sample."""
    frame_height, frame_width = sample.depth.shape
    if top < 0 or left < 0 or top + height > frame_height or left + width > frame_width:
        raise ValueError(
            f"{sample.id}: crop of {height}x{width} at (top {top}, left {left}) does not fit in a "
            f"{frame_height}x{frame_width} sample"
        )
    rows, cols = slice(top, top + height), slice(left, left + width)
    intrinsics = sample.intrinsics.cropped(top, left) if sample.intrinsics is not None else None
    image = np.ascontiguousarray(sample.image[rows, cols])
    return sample.with_arrays(image, sample.depth[rows, cols], sample.valid[rows, cols].copy(), intrinsics)


def flip_sample(sample: DepthSample) -> DepthSample:
    """Left-right mirror image."""
    width = sample.depth.shape[1]
    intrinsics = sample.intrinsics.flipped(width) if sample.intrinsics is not None else None
    image, valid = np.ascontiguousarray(sample.image[:, ::-1]), np.ascontiguousarray(sample.valid[:, ::-1])
    return sample.with_arrays(image, sample.depth[:, ::-1], valid, intrinsics)


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.tensor(image, dtype=torch.float64).permute(2, 0, 1)[None]


def _image_array(image: torch.Tensor) -> np.ndarray:
    return image[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def _depth_and_valid_tensor(sample: DepthSample) -> torch.Tensor:
    return torch.from_numpy(np.stack([sample.depth, sample.valid]).astype(np.float64))[None]


def rotate_sample(sample: DepthSample, degrees: float) -> DepthSample:
    """Rotate by `degrees` counter-clockwise as displayed (PIL's `Image.rotate` sense) about the image centre.

    Output pixel q takes input position `c + R^T (q - c)`: the image bilinearly, depth and mask by nearest neighbour
    (`torch.nn.functional.grid_sample`, one grid, zero padding): positions outside the input give a black image and
    invalid depth. The principal point turns with the image (exact for `fx == fy`; see the module docstring).
    """
    height, width = sample.depth.shape
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=torch.float64) - centre_y,
        torch.arange(width, dtype=torch.float64) - centre_x,
        indexing="ij",
    )
    source_x, source_y = centre_x + cos * xs - sin * ys, centre_y + sin * xs + cos * ys
    grid = torch.stack([(2 * source_x + 1) / width - 1, (2 * source_y + 1) / height - 1], dim=-1)[None]
    image = F.grid_sample(_image_tensor(sample.image), grid, mode="bilinear", align_corners=False)
    depth, valid = F.grid_sample(_depth_and_valid_tensor(sample), grid, mode="nearest", align_corners=False)[0]
    intrinsics = None
    if sample.intrinsics is not None:
        k = sample.intrinsics
        offset_x, offset_y = k.cx - centre_x, k.cy - centre_y
        intrinsics = Intrinsics(
            k.fx, k.fy, centre_x + cos * offset_x + sin * offset_y, centre_y - sin * offset_x + cos * offset_y
        )
    return sample.with_arrays(_image_array(image), depth.to(torch.float32).numpy(), valid.numpy() > 0.5, intrinsics)


def resize_sample(sample: DepthSample, height: int, width: int, sparse: bool = False) -> DepthSample:
    """Resize to `height` x `width` mapping pixel centres: image bilinear (antialiased when shrinking), depth and
    mask `nearest-exact`; with `sparse` (LiDAR-like depth) each pixel instead takes the nearest valid return that
    falls in it (`nearest_returns`), so shrinking keeps the sparse points that nearest-neighbour would drop."""
    frame_height, frame_width = sample.depth.shape
    image = F.interpolate(
        _image_tensor(sample.image), size=(height, width), mode="bilinear", align_corners=False, antialias=True
    )
    if sparse:
        depth, valid = nearest_returns(sample.depth, sample.valid, height, width)
    else:
        depth, valid = F.interpolate(_depth_and_valid_tensor(sample), size=(height, width), mode="nearest-exact")[0]
    intrinsics = None if sample.intrinsics is None else sample.intrinsics.scaled(width / frame_width, height / frame_height)
    return sample.with_arrays(_image_array(image), depth.to(torch.float32).numpy(), valid.numpy() > 0.5, intrinsics)


def nearest_returns(depth: np.ndarray, valid: np.ndarray, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(depth, valid)` at `height` x `width`: each valid source pixel falls in the one target pixel that holds its
    centre, and a target pixel keeps the smallest depth among them (the nearest return, as a z-buffer does); it is
    invalid where none falls. No point is dropped unless a nearer one shares its target pixel, and none is copied."""
    frame_height, frame_width = depth.shape
    rows, cols = np.nonzero(valid)
    target_rows = np.minimum(((rows + 0.5) * height / frame_height).astype(np.int64), height - 1)
    target_cols = np.minimum(((cols + 0.5) * width / frame_width).astype(np.int64), width - 1)
    nearest = torch.full((height * width,), math.inf, dtype=torch.float64)
    nearest.scatter_reduce_(
        0, torch.from_numpy(target_rows * width + target_cols), torch.from_numpy(depth[rows, cols].astype(np.float64)), "amin"
    )
    found = torch.isfinite(nearest)
    return torch.where(found, nearest, 0.0).reshape(height, width), found.reshape(height, width)


def centre_crop_to_aspect(sample: DepthSample, height: int, width: int) -> DepthSample:
    """The largest centred crop of `sample` with the aspect ratio of `height` x `width` (the sample itself when it
    already has it), so that resizing it to that size keeps the geometry undistorted."""
    frame_height, frame_width = sample.depth.shape
    crop_height = min(frame_height, round(frame_width * height / width))
    crop_width = min(frame_width, round(frame_height * width / height))
    if (crop_height, crop_width) == (frame_height, frame_width):
        return sample
    return crop_sample(sample, (frame_height - crop_height) // 2, (frame_width - crop_width) // 2, crop_height, crop_width)


SPARSE_VALID_FRACTION = 0.3
"""A frame with a smaller fraction of valid depth pixels is sparse (projected LiDAR: 2-24 %, sampled points); dense
sensors and renders keep well over half (Kinect, RealSense, organised clouds cropped to a table: 52-100 %)."""


def fit_sample(sample: DepthSample, height: int, width: int) -> DepthSample:
    """`sample` as a `height` x `width` frame: centre-cropped to that aspect ratio, then resized (`resize_sample`,
    `sparse` when under `SPARSE_VALID_FRACTION` of its pixels are valid)."""
    cropped = centre_crop_to_aspect(sample, height, width)
    return resize_sample(cropped, height, width, sparse=bool(cropped.valid.mean() < SPARSE_VALID_FRACTION))


def jitter_image(image: np.ndarray, gamma: float, brightness: float, colour: np.ndarray) -> np.ndarray:
    """BTS/AdaBins photometric jitter on a uint8 image: `clip((x / 255) ** gamma * brightness * colour, 0, 1)`,
    rounded back to uint8 (`colour` holds one factor per RGB channel)."""
    scaled = (image.astype(np.float64) / 255) ** gamma * brightness * np.asarray(colour, dtype=np.float64)
    return np.rint(np.clip(scaled, 0.0, 1.0) * 255).astype(np.uint8)


# Operations: frozen dataclasses, each `(sample, rng) -> sample`.


@dataclass(frozen=True)
class Compose:
    """Apply `ops` in order (no ops: identity)."""

    ops: tuple[Augmentation, ...]

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        for op in self.ops:
            sample = op(sample, rng)
        return sample


@dataclass(frozen=True)
class RandomApply:
    """Apply `op` with probability `p` (one draw from `rng` per call, before `op`'s own draws)."""

    op: Augmentation
    p: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"probability must lie in [0, 1], got {self.p}")

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        return self.op(sample, rng) if rng.random() < self.p else sample


@dataclass(frozen=True)
class HorizontalFlip:
    """Mirror left-right (always; wrap in `RandomApply` for a coin flip)."""

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        return flip_sample(sample)


@dataclass(frozen=True)
class BoxCrop:
    """Fixed PIL-style box `(left, top, right, bottom)`, right/bottom exclusive, defined on a `frame` of
    (height, width) only."""

    left: int
    top: int
    right: int
    bottom: int
    frame: tuple[int, int]

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        if sample.depth.shape != tuple(self.frame):
            raise ValueError(
                f"{sample.id}: the crop box {(self.left, self.top, self.right, self.bottom)} is defined on a "
                f"{self.frame[0]}x{self.frame[1]} frame, got {sample.depth.shape[0]}x{sample.depth.shape[1]}"
            )
        return crop_sample(sample, self.top, self.left, self.bottom - self.top, self.right - self.left)


@dataclass(frozen=True)
class KBCrop:
    """KITTI KB crop: the bottom 352 rows and the centred 1216 columns (`mde_hub.data.frames.kb_crop_box`)."""

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        try:
            box = kb_crop_box(*sample.depth.shape)
        except ValueError as error:
            raise ValueError(f"{sample.id}: {error}") from None
        return crop_sample(sample, *box)


@dataclass(frozen=True)
class RandomCrop:
    """A `height` x `width` window at a uniformly drawn position (top first, then left)."""

    height: int
    width: int

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        frame_height, frame_width = sample.depth.shape
        if self.height > frame_height or self.width > frame_width:
            raise ValueError(
                f"{sample.id}: random crop of {self.height}x{self.width} needs a sample at least that large, "
                f"got {frame_height}x{frame_width}"
            )
        top = int(rng.integers(0, frame_height - self.height + 1))
        left = int(rng.integers(0, frame_width - self.width + 1))
        return crop_sample(sample, top, left, self.height, self.width)


@dataclass(frozen=True)
class RandomRotation:
    """Rotate by an angle drawn from U[-max_degrees, max_degrees] (see `rotate_sample`)."""

    max_degrees: float

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        return rotate_sample(sample, float(rng.uniform(-self.max_degrees, self.max_degrees)))


@dataclass(frozen=True)
class ResizeShorterSide:
    """Resize, keeping the aspect ratio, so the shorter side equals `size` (the longer one is rounded)."""

    size: int

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        height, width = sample.depth.shape
        scale = self.size / min(height, width)
        if scale == 1.0:
            return sample
        return resize_sample(sample, round(height * scale), round(width * scale))


@dataclass(frozen=True)
class ChannelPermutation:
    """Reorder the RGB channels by one of the 6 permutations, drawn uniformly (identity included; DenseDepth)."""

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        order = list(CHANNEL_PERMUTATIONS[int(rng.integers(len(CHANNEL_PERMUTATIONS)))])
        image = np.ascontiguousarray(sample.image[..., order])
        return sample.with_arrays(image, sample.depth, sample.valid, sample.intrinsics)


@dataclass(frozen=True)
class PhotometricJitter:
    """BTS/AdaBins colour augmentation: draws gamma, brightness, then three colour factors uniformly from their
    ranges and applies `jitter_image`."""

    gamma: tuple[float, float] = (0.9, 1.1)
    brightness: tuple[float, float] = (0.9, 1.1)
    colour: tuple[float, float] = (0.9, 1.1)

    def __call__(self, sample: DepthSample, rng: np.random.Generator) -> DepthSample:
        gamma = rng.uniform(*self.gamma)
        brightness = rng.uniform(*self.brightness)
        colour = rng.uniform(*self.colour, size=3)
        image = jitter_image(sample.image, gamma, brightness, colour)
        return sample.with_arrays(image, sample.depth, sample.valid, sample.intrinsics)


# Presets.

NYU_BORDER_CROP = BoxCrop(43, 45, 608, 472, frame=(480, 640))
_FLIP = RandomApply(HorizontalFlip(), p=0.5)

_BTS_NYU = Compose(
    (
        NYU_BORDER_CROP,
        RandomRotation(2.5),
        RandomCrop(416, 544),
        _FLIP,
        RandomApply(PhotometricJitter(brightness=(0.75, 1.25)), p=0.5),
    )
)
_BTS_KITTI = Compose(
    (
        KBCrop(),
        RandomRotation(1.0),
        RandomCrop(352, 704),
        _FLIP,
        RandomApply(PhotometricJitter(brightness=(0.9, 1.1)), p=0.5),
    )
)


def dpt_augmentation(crop_size: int = 384) -> Compose:
    """DPT pre-training: shorter side to `crop_size`, random `crop_size` square crop, flip p = 0.5."""
    return Compose((ResizeShorterSide(crop_size), RandomCrop(crop_size, crop_size), _FLIP))


AUGMENTATIONS: dict[str, Augmentation] = {
    "none": Compose(()),
    "baseline": Compose((_FLIP,)),
    "densedepth": Compose((_FLIP, RandomApply(ChannelPermutation(), p=0.5))),
    "bts_nyu": _BTS_NYU,
    "adabins_nyu": _BTS_NYU,
    "bts_kitti": _BTS_KITTI,
    "adabins_kitti": _BTS_KITTI,
    "dpt": dpt_augmentation(),
}


def get_augmentation(name: str) -> Augmentation:
    """The preset `name` from `AUGMENTATIONS`."""
    try:
        return AUGMENTATIONS[name]
    except KeyError:
        raise ValueError(f"unknown augmentation {name!r}; valid names: {', '.join(AUGMENTATIONS)}") from None
