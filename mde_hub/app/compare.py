"""The Compare tab's logic, free of Gradio: depth from several models, colourised with one range or one each,
labelled, and written by `mde_hub.outputs.prediction_files` as `mde-hub predict` writes them (16-bit millimetre PNG, .npy
named by meaning, colour PNG, GLB point cloud), named after the model.

Focal length: the one typed, else the photo's EXIF focal length (`mde_hub.data.exif_focal`, read by the handler),
else the camera of the data set the model was made for, scaled to the image width
(`mde_hub.models.registry.default_focal`: NYU's colour camera up to a 10 m depth range, KITTI's beyond). It sets
the point cloud's geometry and goes to models that scale depth by it (BTS's KITTI models, `focal_scaling`), which
assume their `reference_focal` at that camera's width.
"""

from __future__ import annotations

import math
import re
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import PIL.Image

from mde_hub.data.files import atomic_output
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.configuration_utils import scales_depth_by_focal
from mde_hub.models.depth_meaning import DepthMeaning
from mde_hub.models.registry import default_focal
from mde_hub.outputs.depth_files import PNG_COMPRESS_LEVEL
from mde_hub.outputs.prediction_files import PredictionFiles, write_prediction_files

from .labelled import labelled_map
from .model_facts import ModelFacts
from .registry import ModelRegistry

MAX_POINTS = 250_000
"""Point clouds keep every k-th row and column so that at most this many points reach the browser."""
WORKING_SIDE_FACTOR = 2
MIN_WORKING_SIDE = 640
"""A photo is downscaled before inference to a longer side of max(`MIN_WORKING_SIDE`, `WORKING_SIDE_FACTOR` x the
largest network input side of the chosen models) (`working_side`)."""
DEFAULT_STORE_BYTES = 512 * 2**20
"""Bytes of kept images and depth maps (`DepthStore`) for recolouring without re-running the models."""
STEM_LENGTH = 20


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

    def caption_lines(self) -> list[str]:
        """The model's name, then its latency and depth range, as drawn above its map."""
        span = self.valid_range()
        if span is None:
            values = "no valid depth"
        elif self.metric:
            values = f"{span[0]:.2f}-{span[1]:.2f} m"
        else:
            values = f"relative depth {span[0]:.3g}-{span[1]:.3g} (no unit)"
        return [self.name, f"{self.latency_s * 1000:.0f} ms | {values}"]


def predict_depth(predictor: DepthPredictor, image: np.ndarray, focal: float | None = None) -> ModelDepth:
    """Run one model on an image seen with `focal` pixels (None or 0: the model's default, `default_focal`)."""
    config = predictor.model.config
    focal = focal or default_focal(config, image.shape[1])
    prediction = predictor.predict(image, focal)
    values = prediction.values.astype(np.float32)
    return ModelDepth(predictor.name, values, prediction.latency_s, prediction.meaning, config, focal)


def shared_range(depths: list[np.ndarray]) -> tuple[float, float] | None:
    """One colour range for several maps: the median, over the maps, of each map's 2nd-98th percentile of valid
    pixels (the range `colorize_depth` uses for one map), so a map far off the others (a street model on a room
    predicting 10-40 m beside indoor ones at 1-5 m) does not flatten them all to one colour."""
    ranges = [np.percentile(valid, [2, 98]) for d in depths if (valid := d[np.isfinite(d) & (d > 0)]).size]
    if not ranges:
        return None
    near, far = np.median(np.array(ranges), axis=0)
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
    """Model names as short safe file name stems (their first two `-` parts, at most `STEM_LENGTH` characters, so a
    phone shows the `.color.png` / `.depth.png` ends), made unique (`-2`, `-3`, ...) so no model's files replace
    another's."""
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        short = "-".join(name.split("-")[:2])[:STEM_LENGTH]
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", short).strip("._-") or "model"
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


def working_image(image: np.ndarray, max_side: int) -> np.ndarray:
    """`image` downscaled (area-averaged, aspect kept) so its longer side is at most `max_side`; unchanged if it fits."""
    height, width = image.shape[:2]
    if max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(PIL.Image.fromarray(image).resize(size, PIL.Image.Resampling.BOX))


def network_side(predictor: DepthPredictor) -> int:
    """The longer side of the image the model's processor feeds the network (0 when its config does not say)."""
    size = getattr(predictor.processor, "size", None) or {}
    sides = [value for key, value in dict(size).items() if key in ("height", "width", "shortest_edge", "longest_edge")]
    return max([int(side) for side in sides if side] or [0])


def working_side(predictors: list[DepthPredictor]) -> int:
    """The longest side the Compare tab keeps: `WORKING_SIDE_FACTOR` x the largest network input side, at least
    `MIN_WORKING_SIDE`. The models see no more than their input size, so a larger photo only costs time and disk."""
    return max(MIN_WORKING_SIDE, WORKING_SIDE_FACTOR * max(network_side(p) for p in predictors))


@dataclass
class KeptDepths:
    """One comparison's inputs and outputs kept for recolouring and reading pixels: the working-size image, each
    model's depth, each model's facts, and where the focal length came from (`focal_note`)."""

    image: np.ndarray
    results: list[ModelDepth]
    facts: dict[str, ModelFacts]
    focal_note: str = ""

    @property
    def num_bytes(self) -> int:
        return self.image.nbytes + sum(r.values.nbytes for r in self.results)


class DepthStore:
    """Kept comparisons by key, least recently used evicted beyond `max_bytes` (the newest always stays). Thread-safe."""

    def __init__(self, max_bytes: int = DEFAULT_STORE_BYTES) -> None:
        if max_bytes <= 0:
            raise ValueError(f"the depth store bound must be positive; got {max_bytes} bytes")
        self.max_bytes = max_bytes
        self._kept: OrderedDict[str, KeptDepths] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, kept: KeptDepths) -> str:
        key = uuid.uuid4().hex
        with self._lock:
            self._kept[key] = kept
            while len(self._kept) > 1 and sum(k.num_bytes for k in self._kept.values()) > self.max_bytes:
                self._kept.popitem(last=False)
        return key

    def get(self, key: str | None) -> KeptDepths:
        with self._lock:
            if key not in self._kept:
                raise ValueError("this comparison is no longer kept on the server: run it again")
            self._kept.move_to_end(key)
            return self._kept[key]

    def __len__(self) -> int:
        return len(self._kept)


@dataclass
class Comparison:
    """Everything the Compare tab shows for one request."""

    kept: KeptDepths
    files: dict[str, ModelFiles]
    labelled: dict[str, Path]
    value_range: tuple[float, float] | None
    original_size: tuple[int, int]

    @property
    def results(self) -> list[ModelDepth]:
        return self.kept.results

    def gallery(self) -> list[tuple[str, str]]:
        return [(str(self.labelled[r.name]), " | ".join(r.caption_lines())) for r in self.results]

    def downloads(self) -> list[str]:
        return [str(path) for r in self.results for path in self.files[r.name].files.written.values()]

    def notes(self) -> str:
        height, width = self.kept.image.shape[:2]
        lines = [self.kept.facts[r.name].range_warning(r.depth) for r in self.results]
        lines = [line for line in lines if line] + ([self.kept.focal_note] if self.kept.focal_note else [])
        if (height, width) != self.original_size:
            lines.append(
                f"The photo ({self.original_size[1]}x{self.original_size[0]}) was downscaled to {width}x{height}, "
                "twice the largest network input, before inference: maps, downloads and the 3D view are at that size."
            )
        if self.value_range is not None:
            lines.append(
                f"Metric maps share one colour range: {self.value_range[0]:.3g} to {self.value_range[1]:.3g} m "
                "(relative maps keep their own). Click a map below the gallery to read its depth at a pixel."
            )
        for r in self.results:
            kind = r.meaning.describe() + ("" if r.meaning.prediction_type == "depth" else ", shown as its reciprocal")
            focal = f"focal length {r.focal:.1f} px"
            uses = f"depth scaled by its {focal}" if scales_depth_by_focal(r.config) else f"3D view with {focal}"
            lines.append(self.kept.facts[r.name].describe() + f" Shown: {kind}; {uses}.")
            lines += [f"{r.name}: {note}" for note in self.files[r.name].files.notes]
        return "\n".join(f"- {line}" for line in lines)


FOCAL_SOURCES = {"typed": "as typed", "exif": "from the photo's EXIF"}
"""Where a given focal length came from, as the notes say it."""


def focal_note(focal: float | None, source: str, width: int) -> str:
    """The notes' line on the focal length: `focal` pixels at the photo's `width` from `source` (`FOCAL_SOURCES`), or
    none given (each model's default)."""
    if not focal:
        return "No focal length typed or in the photo's EXIF: each model assumes its data set's camera (below)."
    return f"Focal length {focal:.1f} px {FOCAL_SOURCES[source]} (at the photo's width, {width} px)."


def run_models(
    registry: ModelRegistry, names: list[str], image: np.ndarray, focal: float | None = None, focal_source: str = "typed"
) -> KeptDepths:
    """Depth of `image`, downscaled to the models' `working_side`, from each model in `names`; `focal` (pixels at the
    original image's width, from `focal_source`, a key of `FOCAL_SOURCES`) None or 0: each model's default."""
    if not names:
        raise ValueError("pick at least one model")
    if focal is not None and not (math.isfinite(focal) and focal >= 0):
        raise ValueError(
            f"the focal length must be a finite positive number of pixels, or 0 for each model's default; got {focal}"
        )
    predictors = [registry.get(name) for name in dict.fromkeys(names)]
    small = working_image(image, working_side(predictors))
    working_focal = focal * small.shape[1] / image.shape[1] if focal else None
    results = [predict_depth(predictor, small, working_focal) for predictor in predictors]
    facts = {r.name: ModelFacts.read(r.name, r.config, registry.folder_of(r.name)) for r in results}
    return KeptDepths(small, results, facts, focal_note(focal, focal_source, image.shape[1]))


def render(
    kept: KeptDepths, folder: Path, colormap: str = "Spectral", shared: bool = True, original_size: tuple[int, int] | None = None
) -> Comparison:
    """Write `kept`'s maps under `folder` in `colormap`: each model's `APP_FORMATS` and its labelled map (caption and
    colour bar). With `shared` the metric maps share one colour range (relative maps, whose units differ, always keep
    their own)."""
    value_range = shared_range([r.depth for r in kept.results if r.metric]) if shared else None
    stems = file_stems([r.name for r in kept.results])
    files, labelled = {}, {}
    for r in kept.results:
        own_range = value_range if r.metric and value_range else shared_range([r.depth]) or (0.0, 1.0)
        files[r.name] = write_model_files(r, kept.image, folder / stems[r.name], colormap, own_range)
        color = np.asarray(PIL.Image.open(files[r.name].color_png).convert("RGB"))
        picture = labelled_map(color, r.caption_lines(), own_range, colormap, "m" if r.metric else "relative")
        labelled[r.name] = folder / f"{stems[r.name]}.shown.png"
        with atomic_output(labelled[r.name]) as temporary:
            PIL.Image.fromarray(picture).save(temporary, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return Comparison(kept, files, labelled, value_range, original_size or kept.image.shape[:2])


def compare(
    registry: ModelRegistry,
    names: list[str],
    image: np.ndarray,
    folder: Path,
    colormap: str = "Spectral",
    shared: bool = True,
    focal: float | None = None,
) -> Comparison:
    """`run_models` then `render`: depth of `image` from each model in `names`, written under `folder`."""
    return render(run_models(registry, names, image, focal), folder, colormap, shared, image.shape[:2])
