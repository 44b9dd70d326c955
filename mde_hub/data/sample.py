"""The one sample type every dataset yields, and what a model's `Trainer` needs from it."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch


def check_focal(focal: float) -> float:
    """`focal`, a focal length in pixels, if finite and positive; else a ValueError (a NaN one would make every
    back-projected point NaN, a negative one mirror the scene)."""
    if not (math.isfinite(focal) and focal > 0):
        raise ValueError(f"the focal length must be a finite positive number of pixels; got {focal}")
    return focal


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera intrinsics in pixels for the image they come with."""

    fx: float
    fy: float
    cx: float
    cy: float

    def scaled(self, scale_x: float, scale_y: float) -> "Intrinsics":
        """Intrinsics of the image resized by (scale_x, scale_y), mapping pixel centres: x' = (x + 0.5) s - 0.5.

        This is how `torch` (align_corners=False) and PIL resize images, and the convention `flipped` uses.
        """
        return Intrinsics(
            self.fx * scale_x, self.fy * scale_y, (self.cx + 0.5) * scale_x - 0.5, (self.cy + 0.5) * scale_y - 0.5
        )

    def cropped(self, top: int, left: int) -> "Intrinsics":
        """Intrinsics of the crop whose top-left corner is (top, left)."""
        return Intrinsics(self.fx, self.fy, self.cx - left, self.cy - top)

    def flipped(self, width: int) -> "Intrinsics":
        """Intrinsics of the horizontally mirrored image of the given width."""
        return Intrinsics(self.fx, self.fy, width - 1 - self.cx, self.cy)

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])


@dataclass(frozen=True)
class DepthSample:
    """One RGB-D pair.

    image: (H, W, 3) uint8 RGB. depth: (H, W) float32 metres, 0 wherever `valid` is False. valid: (H, W) bool.
    intrinsics: the camera of `image` (None when unknown). id: a stable name, e.g. the file's relative path.
    """

    image: np.ndarray
    depth: np.ndarray
    valid: np.ndarray
    intrinsics: Intrinsics | None
    id: str

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[-1] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"{self.id}: image must be (H, W, 3) uint8; got {self.image.shape} {self.image.dtype}")
        if self.depth.shape != self.image.shape[:2] or self.valid.shape != self.depth.shape:
            raise ValueError(
                f"{self.id}: image {self.image.shape[:2]}, depth {self.depth.shape} and valid mask {self.valid.shape} "
                "must have the same height and width"
            )

    @classmethod
    def from_depth(cls, image: np.ndarray, depth: np.ndarray, intrinsics: Intrinsics | None, id: str) -> "DepthSample":
        """A sample whose valid pixels are the finite, positive depths; the others are set to 0."""
        depth = np.asarray(depth, dtype=np.float32)
        valid = np.isfinite(depth) & (depth > 0)
        return cls(np.ascontiguousarray(image), np.where(valid, depth, 0.0).astype(np.float32), valid, intrinsics, id)

    def with_arrays(self, image: np.ndarray, depth: np.ndarray, valid: np.ndarray, intrinsics: Intrinsics | None) -> "DepthSample":
        """The same sample with transformed arrays (used by augmentations)."""
        return replace(self, image=image, depth=np.where(valid, depth, 0.0).astype(np.float32), valid=valid, intrinsics=intrinsics)


def to_model_inputs(sample: DepthSample, processor: Any, with_focal: bool = False) -> dict[str, torch.Tensor]:
    """`pixel_values` (3, h, w) and `labels` (h, w) in metres (0 = invalid) through a `DepthImageProcessor`; with
    `with_focal` also `focal`, the camera's fx at the network's input width (for BTS's KITTI focal scaling)."""
    batch = processor(sample.image, depth_maps=sample.depth, input_data_format="channels_last")  # (H, W, 3): never guessed
    inputs = {"pixel_values": batch["pixel_values"][0], "labels": batch["labels"][0]}
    if with_focal:
        if sample.intrinsics is None:
            raise ValueError(
                f"{sample.id}: the model scales its depth by the focal length, but this sample has no camera intrinsics"
            )
        network_focal = sample.intrinsics.fx * inputs["pixel_values"].shape[-1] / sample.image.shape[1]
        inputs["focal"] = torch.tensor(network_focal, dtype=torch.float32)
    return inputs


class ModelInputDataset(torch.utils.data.Dataset):
    """Wraps a dataset of `DepthSample`s for `Trainer`: optional augmentation, then the model's image processor.

    `augmentation` is a callable `(sample, rng) -> sample`; each item draws its randomness from a fresh generator
    seeded by (`seed`, epoch, index, the number of times that index was read in this epoch), so runs are
    reproducible yet every epoch sees new augmentations. `set_epoch` (called by the trainer at each epoch) makes
    the draws independent of the process that reads them: DataLoader workers get a copy of the dataset, and a run
    resumed mid-epoch repeats the augmentations of an uninterrupted one. `with_focal`: items carry each sample's
    focal length (see `to_model_inputs`), for models with `focal_scaling`.
    """

    def __init__(
        self,
        samples: torch.utils.data.Dataset,
        processor: Any,
        augmentation: Any = None,
        seed: int = 0,
        with_focal: bool = False,
    ) -> None:
        self.samples = samples
        self.processor = processor
        self.augmentation = augmentation
        self.seed = seed
        self.with_focal = with_focal
        self.epoch = 0
        self._reads: dict[int, int] = {}

    def set_epoch(self, epoch: int) -> None:
        """Start epoch `epoch`: its augmentations are drawn afresh, whatever was read before."""
        self.epoch = epoch
        self._reads = {}

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        if self.augmentation is not None:
            reads = self._reads.get(index, 0)
            self._reads[index] = reads + 1
            sample = self.augmentation(sample, np.random.default_rng((self.seed, self.epoch, index, reads)))
        return to_model_inputs(sample, self.processor, self.with_focal)
