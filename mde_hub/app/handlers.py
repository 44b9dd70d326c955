"""What each control of the page does, free of Gradio: one function per event of `layout`.

Each takes what it works with explicitly (the model registry, the scratch space for per-request files, the image
limits), then the values of the event's input components, and returns plain values; `layout` binds the first, turns
the results into Gradio's outputs and shows a ValueError or OSError as a message in the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
from pandas.io.formats.style import Styler

from mde_hub.data.files import atomic_output
from mde_hub.evaluation.alignment import AlignmentMethod
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.protocols import PROTOCOLS
from mde_hub.outputs.depth_files import check_ground_truth

from .benchmarks import benchmarks_frame
from .compare import Comparison, DepthStore, render, run_models
from .evaluate import evaluate_pair, metrics_table
from .inputs import ImageLimits, ScratchSpace, read_exif_focal, read_ground_truth, read_image
from .registry import ModelRegistry

RANGE_MODES = ("shared", "per image")
"""The Compare tab's colour ranges: one shared by the metric maps, or one per map."""
OWN_SPACE = "the model's own space"
"""The Evaluate tab's alignment space that lets each model's alignment fit in its own output's space."""


def gallery_files(images: list[tuple[np.ndarray, str]], folder: Path, stem: str) -> list[tuple[str, str]]:
    """Gallery images as PNG files in `folder`. Gradio caches a returned numpy image under the hash of its bytes and
    rewrites that file in place, so two requests that return the same image can serve each other a truncated file;
    a returned file is copied into its cache under a temporary name and renamed, which is safe."""
    files = []
    for index, (image, caption) in enumerate(images):
        path = folder / f"{stem}_{index}.png"
        with atomic_output(path) as temporary:
            PIL.Image.fromarray(image).save(temporary, format="PNG")
        files.append((str(path), caption))
    return files


Views = dict[str, tuple[str, str]]
"""Model name -> (its colour PNG, its GLB point cloud or "")."""


@dataclass
class CompareView:
    """What the Compare tab shows after a run: the gallery, notes, the models to inspect (the first shown in the slider
    and the 3D view), the downloads, and the state that `inspect_view` reads."""

    gallery: list[tuple[str, str]]
    notes: str
    models: list[str]
    slider: tuple[str, str]
    cloud: str | None
    downloads: list[str]
    state: dict


def compare_view(
    registry: ModelRegistry,
    scratch: ScratchSpace,
    limits: ImageLimits,
    store: DepthStore,
    image_path: str | None,
    names: list[str] | None,
    colormap: str,
    range_mode: str,
    focal: float | None,
) -> CompareView:
    """The Compare run (a new image, an example, the button): depth of the uploaded image from each model in
    `names`, kept in `store` for recolouring and written to a new scratch folder. The focal length is `focal` when
    typed (non-zero), else the photo's EXIF focal length where it has one, else each model's default."""
    if image_path is None:
        raise ValueError("upload an image first (or pick an example)")
    image = read_image(image_path, limits)
    if range_mode not in RANGE_MODES:
        raise ValueError(f"range must be one of {RANGE_MODES}; got {range_mode!r}")
    source = "typed" if focal else "exif"
    focal = focal or read_exif_focal(image_path)
    kept = run_models(registry, names or [], image, focal, source)
    result = render(kept, scratch.new_dir(), colormap, range_mode == "shared", image.shape[:2])
    return _view(result, image_path, store.put(kept))


def recolour_view(
    scratch: ScratchSpace, store: DepthStore, state: dict | None, colormap: str, range_mode: str
) -> CompareView:
    """A new colormap or colour range: the last comparison (`state`) redrawn from its kept depth, no model run."""
    if not state:
        raise ValueError("run a comparison first, then change its colours")
    if range_mode not in RANGE_MODES:
        raise ValueError(f"range must be one of {RANGE_MODES}; got {range_mode!r}")
    kept = store.get(state["key"])
    result = render(kept, scratch.new_dir(), colormap, range_mode == "shared", tuple(state["size"]))
    return _view(result, state["image"], state["key"])


def _view(result: Comparison, image_path: str, key: str) -> CompareView:
    views = {
        r.name: (str(result.files[r.name].color_png), str(result.files[r.name].glb or ""))
        for r in result.results
    }
    first = result.results[0].name
    slider, cloud = model_view(views, first, image_path)
    state = {"image": image_path, "views": views, "key": key, "size": list(result.original_size)}
    return CompareView(result.gallery(), result.notes(), list(views), slider, cloud, result.downloads(), state)


def depth_at(store: DepthStore, state: dict | None, name: str | None, x: int, y: int) -> str:
    """The clicked pixel (`x`, `y` on the working-size map of model `name`) read from the kept depth."""
    if not state or not name:
        raise ValueError("run a comparison first, then click a map")
    kept = store.get(state["key"])
    result = next((r for r in kept.results if r.name == name), None)
    if result is None:
        raise ValueError(f"{name!r} is not in the last comparison; pick one of its models")
    height, width = result.values.shape
    if not (0 <= x < width and 0 <= y < height):
        raise ValueError(f"pixel ({x}, {y}) is outside the {width}x{height} map")
    value = float(result.depth[y, x])
    if not np.isfinite(value) or value <= 0:
        return f"**{name}** at ({x}, {y}): no valid depth"
    unit = " m" if result.metric else " (relative, no unit)"
    return f"**{name}** at ({x}, {y}) of {width}x{height}: **{value:.3g}{unit}**"


def model_view(views: Views, name: str, image_path: str) -> tuple[tuple[str, str], str | None]:
    """The slider's (input image, depth colour PNG) and the 3D view's GLB (None without one) of model `name`."""
    color_png, glb = views[name]
    return (image_path, color_png), (glb or None)


def inspect_view(state: dict | None, name: str) -> tuple[tuple[str, str], str | None]:
    """The inspect dropdown: `model_view` of one model of the last comparison (`state`, `CompareView.state`)."""
    if not state or name not in state["views"]:
        raise ValueError("run a comparison first, then pick one of its models")
    return model_view(state["views"], name, state["image"])


@dataclass
class ModelChoices:
    """The models both tabs offer after one was added, what each tab has selected, and a status line."""

    names: list[str]
    compare_selected: list[str]
    evaluate_selected: list[str]
    status: str


def add_model(
    registry: ModelRegistry, location: str | None, compare_selected: list[str] | None, evaluate_selected: list[str] | None
) -> ModelChoices:
    """The Load button: register (and load) a Hub id or checkpoint directory, and select it in both tabs."""
    name = registry.add(location or "")
    status = f"Loaded **{name}** ({registry.sources[name].kind}); it is now selectable in both tabs."
    return ModelChoices(
        registry.names,
        list(dict.fromkeys([*(compare_selected or []), name])),
        list(dict.fromkeys([*(evaluate_selected or []), name])),
        status,
    )


@dataclass
class EvaluateView:
    """What the Evaluate tab shows: the metrics table, the error-map gallery, notes, and warnings (a ground truth
    that looks read in the wrong encoding, each model that could not be scored)."""

    table: Styler
    error_maps: list[tuple[str, str]]
    notes: str
    warnings: list[str]


def evaluate_view(
    registry: ModelRegistry,
    scratch: ScratchSpace,
    limits: ImageLimits,
    image_path: str | None,
    gt_path: str | None,
    encoding: str,
    names: list[str] | None,
    protocol: str,
    alignment: AlignmentMethod,
    alignment_space: str,
) -> EvaluateView:
    """The Evaluate button: each model in `names` scored on the uploaded image against the uploaded ground truth;
    the error maps are written to a new scratch folder."""
    if image_path is None or gt_path is None:
        raise ValueError("upload an RGB image and its ground-truth depth (or pick a sample pair)")
    image = read_image(image_path, limits)
    gt, encoding_warning = read_ground_truth(gt_path, encoding, limits)
    summary = check_ground_truth(gt, Path(gt_path).name, PROTOCOLS.get(protocol))
    space = None if alignment_space == OWN_SPACE else alignment_space
    result = evaluate_pair(registry, names or [], image, gt, protocol, alignment, space)
    skipped = [f"{s.name}: {s.note}" for s in result.scores if s.metrics is None]
    encoding_warnings = [f"{Path(gt_path).name}: {encoding_warning}"] if encoding_warning else []
    note = (
        f"Protocol **{protocol}**: {PROTOCOLS[protocol].description}. Alignment: {alignment}"
        + (f" (fitted in {alignment_space})" if alignment != "none" else "")
        + ". ★ marks the best value of each column (lowest error, highest delta), none where all models tie."
        + f"\nGround truth as decoded: {summary}."
    )
    error_maps = gallery_files(result.error_maps(), scratch.new_dir(), "abs_rel")
    notes = "\n".join([*(f"**Warning**: {line}." for line in encoding_warnings), note, *(f"- {line}" for line in skipped)])
    return EvaluateView(metrics_table(result.scores), error_maps, notes, [*encoding_warnings, *skipped])


def benchmarks_table(registry: ModelRegistry, protocols: str) -> Styler:
    """The Benchmarks tab's table under the `protocols` filter, its metrics to three significant digits."""
    return benchmarks_frame(registry, protocols).style.format("{:.3g}", subset=list(METRIC_NAMES), na_rep="")
