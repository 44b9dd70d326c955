"""Looking at a dataset: depth statistics and a preview grid of images above their colourised depth."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import PIL.Image

from ..data.files import atomic_output
from ..data.sample import DepthSample
from .colormaps import colorize_depth


@dataclass(frozen=True)
class DepthStatistics:
    num_samples: int
    image_sizes: dict[tuple[int, int], int]  # (height, width) -> count
    valid_fraction: float  # valid depth pixels over all pixels
    min_depth: float
    max_depth: float
    mean_depth: float
    median_depth: float  # median of the per-image medians

    def format(self) -> str:
        sizes = ", ".join(f"{h}x{w} ({n})" for (h, w), n in sorted(self.image_sizes.items()))
        return (
            f"samples       {self.num_samples}\n"
            f"image sizes   {sizes}\n"
            f"valid depth   {100 * self.valid_fraction:.1f}% of pixels\n"
            f"depth (m)     min {self.min_depth:.3f}, median {self.median_depth:.3f}, "
            f"mean {self.mean_depth:.3f}, max {self.max_depth:.3f}"
        )


def depth_statistics(samples: Iterable[DepthSample]) -> DepthStatistics:
    """Counts and depth statistics over valid pixels, streaming over the samples (one in memory at a time)."""
    sizes: dict[tuple[int, int], int] = {}
    pixels = valid_pixels = 0
    total, low, high, medians = 0.0, np.inf, -np.inf, []
    for sample in samples:
        size = sample.depth.shape
        sizes[size] = sizes.get(size, 0) + 1
        pixels += sample.depth.size
        values = sample.depth[sample.valid]
        valid_pixels += values.size
        if values.size:
            total += float(values.sum(dtype=np.float64))
            low, high = min(low, float(values.min())), max(high, float(values.max()))
            medians.append(float(np.median(values)))
    if not medians:
        raise ValueError("no valid depth pixel in the dataset")
    return DepthStatistics(
        num_samples=sum(sizes.values()),
        image_sizes=sizes,
        valid_fraction=valid_pixels / pixels,
        min_depth=low,
        max_depth=high,
        mean_depth=total / valid_pixels,
        median_depth=float(np.median(medians)),
    )


def preview_grid(samples: Sequence[DepthSample], columns: int = 4, tile_width: int = 256, colormap: str = "Spectral") -> PIL.Image.Image:
    """Each sample as its image above its colourised depth (shared depth range; invalid depth in black)."""
    if not samples:
        raise ValueError("no samples to preview")
    valid_values = np.concatenate([s.depth[s.valid] for s in samples])
    value_range = tuple(np.percentile(valid_values, [2, 98])) if valid_values.size else (0.0, 1.0)
    tiles = []
    for sample in samples:
        height = round(sample.image.shape[0] * tile_width / sample.image.shape[1])
        depth = np.where(sample.valid, sample.depth, np.nan)
        pair = [sample.image, colorize_depth(depth, colormap, value_range)]
        tiles.append(np.concatenate([np.asarray(PIL.Image.fromarray(p).resize((tile_width, height), PIL.Image.BILINEAR)) for p in pair]))
    tile_height = max(tile.shape[0] for tile in tiles)
    rows = -(-len(tiles) // columns)
    grid = np.zeros((rows * tile_height, columns * tile_width, 3), dtype=np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        grid[row * tile_height : row * tile_height + tile.shape[0], column * tile_width : (column + 1) * tile_width] = tile
    return PIL.Image.fromarray(grid)


def write_preview(dataset: Any, path: str | os.PathLike, total: int, count: int = 8) -> None:
    """The `preview_grid` of (at most) `count` samples evenly spaced over the first `total` of `dataset`,
    written atomically as a PNG at `path`. `count` and `total` must be at least 1."""
    if count < 1 or total < 1:
        raise ValueError(f"a preview needs at least one sample; got {count} to show of the first {total}")
    step = max(1, total // count)
    grid = preview_grid([dataset[index] for index in range(0, total, step)][:count])
    with atomic_output(path) as temporary:
        grid.save(temporary, format="PNG")
