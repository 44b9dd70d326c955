"""`SyntheticDepthDataset`: procedurally generated RGB-D frames, deterministic in (seed, index)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from ..sample import DepthSample, Intrinsics
from .indoor import indoor_scene
from .lidar import lidar_mask
from .outdoor import outdoor_scene
from .render import RenderOutput, render_scenes
from .scene import Scene, SceneKind, camera_intrinsics, scene_rng

_LIDAR_STREAM = 1
"""The random stream (see `scene_rng`) of a frame's LiDAR pattern, apart from its scene's."""


def make_scene(kind: SceneKind, seed: int, index: int, height: int, width: int) -> Scene:
    """Scene `index` of `seed`: the same numbers for the same arguments, whatever else was generated."""
    if kind not in ("indoor", "outdoor"):
        raise ValueError(f"kind must be 'indoor' or 'outdoor', got {kind!r}")
    generator = indoor_scene if kind == "indoor" else outdoor_scene
    return generator(scene_rng(kind, seed, index), height, width)


class SyntheticDepthDataset(torch.utils.data.Dataset):
    """`size` synthetic frames of `kind` "indoor" (NYU camera, valid depth 0.5-10 m) or "outdoor" (KITTI camera,
    valid depth up to 80 m, sky invalid), rendered on `device` at `height` x `width`.

    Frame `index` depends only on (kind, seed, index) and the size: the same on every call, in any batch, on any
    device (up to float rounding between devices). `sparse=True` (outdoor only) keeps depth on a KITTI-like LiDAR
    scan pattern (`lidar.lidar_mask`, about 4 % of the pixels). `render_batch` renders many frames in one pass;
    `__getitem__` renders one. ids are `"synthetic/<kind>/seed<seed>/<index, 6 digits>"`.
    """

    def __init__(
        self,
        kind: Literal["indoor", "outdoor"] = "indoor",
        size: int = 1000,
        height: int = 240,
        width: int = 320,
        seed: int = 0,
        sparse: bool = False,
        device: str | torch.device = "cpu",
    ) -> None:
        if kind not in ("indoor", "outdoor"):
            raise ValueError(f"kind must be 'indoor' or 'outdoor', got {kind!r}")
        if sparse and kind != "outdoor":
            raise ValueError("sparse=True simulates KITTI's LiDAR and is only available for kind='outdoor'")
        if size < 0 or height < 8 or width < 8 or seed < 0:
            raise ValueError(
                f"need size >= 0, height and width >= 8 and seed >= 0; got {size}, {height}x{width}, seed {seed}"
            )
        self.kind, self.size, self.height, self.width = kind, size, height, width
        self.seed, self.sparse, self.device = seed, sparse, torch.device(device)

    def __len__(self) -> int:
        return self.size

    @property
    def intrinsics(self) -> Intrinsics:
        """The camera of every frame: NYU's or KITTI's, scaled to `width` x `height`."""
        return camera_intrinsics(self.kind, self.height, self.width)

    @property
    def max_depth(self) -> float:
        return 10.0 if self.kind == "indoor" else 80.0

    def _index(self, index: int) -> int:
        if not -self.size <= index < self.size:
            raise IndexError(f"index {index} out of range for a synthetic dataset of {self.size} frames")
        return index % self.size

    def scene(self, index: int) -> Scene:
        """The scene description of frame `index`."""
        return make_scene(self.kind, self.seed, self._index(index), self.height, self.width)

    def render_tensors(self, indices: Sequence[int]) -> RenderOutput:
        """Frames `indices` rendered in one batch, as tensors on the dataset's device (LiDAR mask applied)."""
        indices = [self._index(i) for i in indices]
        output = render_scenes([self.scene(i) for i in indices], self.device)
        if self.sparse:
            masks = np.stack(
                [
                    lidar_mask(
                        self.intrinsics, self.height, self.width, scene_rng(self.kind, self.seed, i, _LIDAR_STREAM)
                    )
                    for i in indices
                ]
            )
            keep = output.valid & torch.from_numpy(masks).to(self.device)
            output = RenderOutput(output.image, torch.where(keep, output.depth, 0.0), keep, output.surface)
        return output

    def sample_id(self, index: int) -> str:
        return f"synthetic/{self.kind}/seed{self.seed}/{self._index(index):06d}"

    def render_batch(self, indices: Sequence[int]) -> list[DepthSample]:
        """Frames `indices` as `DepthSample`s (numpy arrays on the CPU), rendered in one batch."""
        output = self.render_tensors(indices)
        images, depths, valids = (x.cpu().numpy() for x in (output.image, output.depth, output.valid))
        k = self.intrinsics
        return [DepthSample(images[j], depths[j], valids[j], k, self.sample_id(i)) for j, i in enumerate(indices)]

    def __getitem__(self, index: int) -> DepthSample:
        return self.render_batch([index])[0]
