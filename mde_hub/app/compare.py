"""The Compare tab's logic, free of Gradio: depth from several models, colourised with one range or one each,
labelled, and written by `mde_hub.outputs.prediction_files` as `mde-hub predict` writes them (16-bit millimetre PNG, .npy
named by meaning, colour PNG, GLB point cloud), named after the model.

Focal length, when none is typed: the camera of the data set the model was made for, scaled to the image width
(`mde_hub.models.registry.default_focal`: NYU's colour camera up to a 10 m depth range, KITTI's beyond). It sets
the point cloud's geometry and goes to models that scale depth by it (BTS's KITTI models, `focal_scaling`), which
assume their `reference_focal` at that camera's width.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.configuration_utils import scales_depth_by_focal
from mde_hub.models.depth_meaning import DepthMeaning
from mde_hub.models.registry import default_focal
from mde_hub.outputs.prediction_files import PredictionFiles, write_prediction_files

from .registry import ModelRegistry

MAX_POINTS = 250_000
"""Point clouds keep every k-th row and column so that at most this many points reach the browser."""


@dataclass
class ModelDepth:
    """One model's output for one image: `values` as the model gave them and what they mean (`meaning`, from
    `mde_hub.models.depth_meaning`); `depth` is their depth-valued version for viewing and point clouds. `focal`:
    the focal length in pixels assumed for the image (the model got it if it scales depth by it)."""

    name: str
    values: np.ndarray
    latency_s: float
    meaning: DepthMeaning
    config: Any
    focal: float

    @property
    def metric(self) -> bool:
        return self.meaning.is_metric

    @property
    def depth(self) -> np.ndarray:
        return self.meaning.to_depth(self.values)

    def valid_range(self) -> tuple[float, float] | None:
        depth = self.depth
        valid = depth[np.isfinite(depth) & (depth > 0)]
        return (float(valid.min()), float(valid.max())) if valid.size else None

    def caption(self) -> str:
        span = self.valid_range()
        if span is None:
            values = "no valid depth"
        elif self.metric:
            values = f"{span[0]:.2f}-{span[1]:.2f} m"
        else:
            values = f"relative depth {span[0]:.3g}-{span[1]:.3g} (no unit)"
        return f"{self.name} | {self.latency_s * 1000:.0f} ms | {values}"


def predict_depth(predictor: DepthPredictor, image: np.ndarray, focal: float | None = None) -> ModelDepth:
    """Run one model on an image seen with `focal` pixels (None or 0: the model's default, `default_focal`)."""
    config = predictor.model.config
    focal = focal or default_focal(config, image.shape[1])
    prediction = predictor.predict(image, focal)
    values = prediction.values.astype(np.float32)
    return ModelDepth(predictor.name, values, prediction.latency_s, prediction.meaning, config, focal)


def shared_range(depths: list[np.ndarray]) -> tuple[float, float] | None:
    """The 2nd-98th percentile of the valid pixels of all maps together (the range `colorize_depth` uses for one)."""
    valid = [d[np.isfinite(d) & (d > 0)] for d in depths]
    pooled = np.concatenate(valid) if valid else np.empty(0)
    if pooled.size == 0:
        return None
    near, far = np.percentile(pooled, [2, 98])
    return float(near), float(far)


def point_stride(height: int, width: int, max_points: int = MAX_POINTS) -> int:
    """The smallest stride k with ceil(H / k) * ceil(W / k) <= max_points."""
    stride = 1
    while -(-height // stride) * -(-width // stride) > max_points:
        stride += 1
    return stride


APP_FORMATS = ("png16", "npy", "color", "glb")
"""What the Compare tab writes for each model."""


def file_stems(names: list[str]) -> dict[str, str]:
    """Model names as safe file name stems, made unique (`-2`, `-3`, ...) so no model's files replace another's."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"
        unique, count = stem, 1
        while unique.casefold() in taken:
            count += 1
            unique = f"{stem}-{count}"
        taken.add(unique.casefold())
        stems[name] = unique
    return stems


@dataclass
class ModelFiles:
    """What was written for one model."""

    files: PredictionFiles

    @property
    def color_png(self) -> Path:
        return self.files.written["color"]

    @property
    def glb(self) -> Path | None:
        return self.files.written.get("glb")


def write_model_files(
    result: ModelDepth,
    image: np.ndarray,
    base: Path,
    colormap: str,
    value_range: tuple[float, float] | None,
) -> ModelFiles:
    """Write one model's `APP_FORMATS` at `base` (`folder/STEM`) with `write_prediction_files`, its point cloud
    seen with the result's focal length and thinned to at most `MAX_POINTS`."""
    height, width = result.values.shape
    files = write_prediction_files(
        result.values, result.meaning, image, base, APP_FORMATS, colormap, value_range, result.focal,
        point_stride(height, width),
    )
    return ModelFiles(files)


@dataclass
class Comparison:
    """Everything the Compare tab shows for one request."""

    results: list[ModelDepth]
    files: dict[str, ModelFiles]
    value_range: tuple[float, float] | None

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(self.files[r.name].color_png), r.caption()) for r in self.results]

    def downloads(self) -> list[str]:
        return [str(path) for r in self.results for path in self.files[r.name].files.written.values()]

    def notes(self) -> str:
        lines = []
        if self.value_range is not None:
            lines.append(
                f"Metric maps share one colour range: {self.value_range[0]:.3g} to {self.value_range[1]:.3g} m "
                "(relative maps keep their own)."
            )
        for r in self.results:
            kind = r.meaning.describe() + ("" if r.meaning.prediction_type == "depth" else ", shown as its reciprocal")
            focal = f"focal length {r.focal:.1f} px"
            uses = f"depth scaled by its {focal}" if scales_depth_by_focal(r.config) else f"3D view with {focal}"
            lines.append(f"{r.name}: {kind}; {uses}.")
            lines += [f"{r.name}: {note}" for note in self.files[r.name].files.notes]
        return "\n".join(f"- {line}" for line in lines)


def compare(
    registry: ModelRegistry,
    names: list[str],
    image: np.ndarray,
    folder: Path,
    colormap: str = "Spectral",
    shared: bool = True,
    focal: float | None = None,
) -> Comparison:
    """Depth of `image` from each model in `names`, written under `folder`. With `shared` the metric maps
    share one colour range (relative maps, whose units differ, always keep their own). `focal` None or 0: each
    model's default."""
    if not names:
        raise ValueError("pick at least one model")
    if focal is not None and focal < 0:
        raise ValueError(f"the focal length must be positive (pixels), or 0 for each model's default; got {focal}")
    results = [predict_depth(registry.get(name), image, focal) for name in dict.fromkeys(names)]
    value_range = shared_range([r.depth for r in results if r.metric]) if shared else None
    stems = file_stems([r.name for r in results])
    files = {
        r.name: write_model_files(r, image, folder / stems[r.name], colormap, value_range if r.metric else None)
        for r in results
    }
    return Comparison(results, files, value_range)
