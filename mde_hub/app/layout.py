"""The Gradio page: Compare, Evaluate and Benchmarks tabs wired to the Gradio-free handlers of `handlers`.

API endpoints (`gradio_client`): `/compare`, `/recolour`, `/inspect`, `/load_model`, `/evaluate`, `/benchmarks`.
A new image or example runs the comparison at once; a new colormap or colour range redraws the kept depth
(`compare.DepthStore`) without running the models.
Bad input raises `gr.Error` with a message naming the problem and logs one line (`user_error`); other exceptions keep
Gradio's traceback in the server log. The server keeps serving.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr
import PIL.Image
from huggingface_hub import constants as hub_constants

from mde_hub.evaluation.alignment import ALIGNMENT_METHODS, ALIGNMENT_SPACES
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.protocols import PROTOCOLS
from mde_hub.outputs.colormaps import COLORMAPS

from .benchmarks import PROTOCOL_FILTERS
from .compare import DepthStore
from .examples import SamplePair
from .handlers import (
    OWN_SPACE,
    RANGE_MODES,
    add_model,
    benchmarks_table,
    compare_view,
    depth_at,
    evaluate_view,
    inspect_view,
    recolour_view,
)
from .inputs import GT_ENCODINGS, ImageLimits, ScratchSpace
from .registry import ModelRegistry

ANALYTICS_ENABLED = False
CSS = """
#depth-gallery .caption-label, #error-gallery .caption-label {
  position: static; max-width: 100%; white-space: normal; overflow: visible; text-overflow: clip; border: none;
}
#depth-gallery .thumbnail-lg, #error-gallery .thumbnail-lg { display: flex; flex-direction: column; height: auto; }
#depth-gallery, #error-gallery { height: auto !important; }
#depth-gallery .grid-wrap, #error-gallery .grid-wrap { height: auto !important; max-height: none !important; overflow: visible; }
#depth-gallery .grid-container, #error-gallery .grid-container { grid-template-rows: none; grid-auto-rows: auto; }
@media (max-width: 900px) {
  #metrics-table th, #metrics-table .body-cell, #bench-table th, #bench-table .body-cell {
    width: 92px !important; min-width: 92px !important; max-width: 92px !important; flex: 0 0 92px !important;
  }
  #metrics-table th *, #metrics-table .body-cell *, #bench-table th *, #bench-table .body-cell * {
    word-break: normal !important; overflow-wrap: break-word !important;
  }
  #metrics-table th:first-child, #metrics-table .body-cell:first-child {
    width: 150px !important; min-width: 150px !important; max-width: 150px !important; flex: 0 0 150px !important;
  }
  #bench-table th:last-child, #bench-table .body-cell:last-child {
    width: 320px !important; min-width: 320px !important; max-width: 320px !important; flex: 0 0 320px !important;
  }
}
"""
"""Gallery captions wrap instead of being cut off, so every map stays labelled however long its model's name; on a
narrow screen the tables keep readable columns and scroll sideways instead of squeezing them to one letter."""

HEAD_ON_VIEW = (90.0, 90.0)
POINT_CLOUD_VIEW = (55.0, 65.0, None)
"""The 3D view's opening camera (alpha, beta in degrees, radius; None keeps the viewer's framing distance). The
cloud is written in glTF axes as the photo's camera saw it, so `HEAD_ON_VIEW` would show little more than the
photo; this orbits 35 degrees to the side and 25 degrees above, where the depth shows as relief."""

LOGGER = logging.getLogger("mde_hub.app")


class CheckedImage(gr.Image):
    """`gr.Image` whose unreadable uploads become a clear `gr.Error` instead of an internal exception."""

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except PIL.Image.DecompressionBombError as error:
            raise user_error("upload", f"The image has too many pixels: {error}") from None
        except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError):
            name = getattr(payload, "orig_name", None) or "The upload"
            message = f"{name} is not an image file this app can read (PNG, JPEG, WebP, BMP, TIFF, ...)"
            raise user_error("upload", message) from None


def user_error(where: str, message: str) -> gr.Error:
    """A bad input's message for the page, logged as one line (Gradio prints a traceback only for real faults)."""
    LOGGER.warning("%s refused: %s", where, " ".join(message.split()))
    return gr.Error(message, print_exception=False)


def event(function: Callable, *bound: Any) -> Callable:
    """`function` as Gradio calls it: its first arguments fixed to `bound` (registry, scratch space, limits), the
    rest the input components' values, which the API names after `function`'s parameters; a ValueError or OSError
    is shown in the page (`gr.Error`), other exceptions stay internal errors."""

    def handler(*values: Any) -> Any:
        try:
            return function(*bound, *values)
        except (ValueError, OSError) as error:
            raise user_error(function.__name__, str(error)) from None

    signature = inspect.signature(function)
    handler.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(bound):])
    handler.__name__ = handler.__qualname__ = function.__name__
    return handler


def _compare_outputs(view) -> tuple:
    inspect_model = gr.Dropdown(choices=view.models, value=view.models[0])
    return view.gallery, view.notes, inspect_model, view.slider, view.slider[1], view.cloud, view.downloads, view.state


def run_compare(registry, scratch, limits, store, image_path, names, colormap, range_mode, focal):
    """`compare_view` as the Compare tab's outputs, its models offered in the inspect dropdown."""
    return _compare_outputs(compare_view(registry, scratch, limits, store, image_path, names, colormap, range_mode, focal))


def run_on_new_image(registry, scratch, limits, store, image_path, names, colormap, range_mode, focal):
    """`run_compare` for a new image or example; a cleared image clears the results instead of asking for one."""
    if image_path is None:
        return [], "", gr.Dropdown(choices=[], value=None), None, None, None, None, None
    return run_compare(registry, scratch, limits, store, image_path, names, colormap, range_mode, focal)


def run_recolour(scratch, store, state, colormap, range_mode):
    """`recolour_view` as the Compare tab's outputs; before any comparison a colour change leaves the page as it is."""
    if not state:
        return tuple(gr.skip() for _ in range(8))
    return _compare_outputs(recolour_view(scratch, store, state, colormap, range_mode))


def run_inspect(state, name):
    """`inspect_view` as the slider, the clickable map and the 3D view."""
    slider, cloud = inspect_view(state, name)
    return slider, slider[1], cloud


def run_evaluate(registry, scratch, limits, image_path, gt_path, encoding, names, protocol, alignment, alignment_space):
    """`evaluate_view` as the Evaluate tab's outputs, each model that could not be scored also a warning toast."""
    view = evaluate_view(registry, scratch, limits, image_path, gt_path, encoding, names, protocol, alignment, alignment_space)
    for warning in view.warnings:
        gr.Warning(warning)
    return view.table, view.error_maps, view.notes


def load_model(registry, location, compare_selected, evaluate_selected):
    """`add_model` as both tabs' model selections and the status line."""
    added = add_model(registry, location, compare_selected, evaluate_selected)
    return (
        gr.CheckboxGroup(choices=added.names, value=added.compare_selected),
        gr.CheckboxGroup(choices=added.names, value=added.evaluate_selected),
        added.status,
    )


def _image_input(label: str, elem_id: str) -> CheckedImage:
    return CheckedImage(
        label=label, type="filepath", image_mode=None, sources=["upload", "webcam", "clipboard"], height=300,
        elem_id=elem_id,
    )


def _examples_label(samples: list[SamplePair], title: str = "Examples") -> str:
    """`title` naming what the examples are: photos (those with an attribution) first, then synthetic frames."""
    photos = sum(bool(s.attribution) for s in samples)
    kinds = [f"{photos} ICL-NUIM photos" if photos else "", "synthetic" if photos < len(samples) else ""]
    return f"{title} ({', then '.join(kind for kind in kinds if kind)})"


def _attribution(samples: list[SamplePair]) -> None:
    """The examples' attribution lines (their licences ask for it), in small print below them."""
    for line in dict.fromkeys(s.attribution for s in samples if s.attribution):
        gr.Markdown(f"<small>{line}</small>", elem_classes="attribution")


def _header(registry: ModelRegistry) -> None:
    gr.Markdown(
        "# mde-hub: monocular depth estimation\n"
        "One RGB image in, a metric depth map in metres out. Compare models side by side, score them against "
        "ground truth, and see the papers' numbers beside ours."
    )
    if registry.untrained_only:
        gr.Markdown(
            "**No trained checkpoint found**: the only model is an untrained Baseline with random weights, so its "
            "depth is meaningless. Start with `--models DIR` or put checkpoints in `./checkpoints/`."
        )


def _model_loader() -> tuple[gr.Textbox, gr.Button, gr.Markdown]:
    """The "Add a model" accordion: its location box, Load button and status line (wired once both tabs exist)."""
    with gr.Accordion("Add a model: Hub id or local checkpoint directory", open=False):
        offline = " (offline: only models already in the local cache; start with --online to download)"
        with gr.Row():
            location = gr.Textbox(
                label="Model", placeholder="owner/name or /path/to/checkpoint" + (offline if hub_constants.HF_HUB_OFFLINE else ""),
                scale=4, elem_id="model-location",
            )
            load_button = gr.Button("Load", scale=1, elem_id="model-load")
        load_status = gr.Markdown(elem_id="load-status")
    return location, load_button, load_status


def _compare_tab(
    names: list[str], samples: list[SamplePair], run: Callable, run_new: Callable, recolour: Callable, store: DepthStore
) -> gr.CheckboxGroup:
    """The Compare tab: an image (or an example) and the models to run, their labelled depth maps, notes, one
    model's slider, clickable map and 3D view, and the files. Its button calls `run` (`/compare`), a new image
    `run_new`, a colour change `recolour` (`/recolour`). Returns its model selection."""
    with gr.Tab("Compare"):
        with gr.Row():
            with gr.Column(scale=1):
                compare_image = _image_input("Input image", "compare-image")
                if samples:
                    gr.Examples([[s.image] for s in samples], [compare_image], label=_examples_label(samples))
                    _attribution(samples)
                compare_models = gr.CheckboxGroup(names, value=names[:2], label="Models", elem_id="compare-models")
                colormap = gr.Radio(
                    list(COLORMAPS), value="Spectral", label="Colormap (near = warm/bright)", elem_id="compare-colormap"
                )
                range_mode = gr.Radio(list(RANGE_MODES), value="shared", label="Colour range")
                focal = gr.Number(
                    value=0,
                    label="Camera focal length (px), 0 = the photo's EXIF, else each model's default",
                    info="Sets the 3D view, and the depth of models that scale by it (BTS KITTI).",
                )
                compare_button = gr.Button("Estimate depth", variant="primary", elem_id="compare-run")
            with gr.Column(scale=2):
                gallery = gr.Gallery(
                    label="Depth maps (name, latency and range above each map, its colour bar below)", columns=2,
                    height="auto", object_fit="contain", elem_id="depth-gallery",
                )
                compare_notes = gr.Markdown(elem_id="compare-notes")
                inspect_model = gr.Dropdown(choices=[], label="Inspect one model (slider, depth at a pixel, 3D view)")
                slider = gr.ImageSlider(label="Input | depth", type="filepath")
                with gr.Row():
                    pick = gr.Image(
                        label="Click the map to read its depth", type="filepath", interactive=False, elem_id="depth-pick"
                    )
                    pick_value = gr.Markdown("Click a point of the map to read its depth.", elem_id="depth-value")
                cloud = gr.Model3D(
                    label="3D point cloud (GLB)", clear_color=(0.1, 0.1, 0.12, 1.0), height=360,
                    camera_position=POINT_CLOUD_VIEW, elem_id="point-cloud",
                )
                downloads = gr.File(
                    label="Downloads at the working size: NAME.depth.png (16-bit, mm), NAME.depth.npy (the model's "
                    "values), NAME.color.png, NAME.glb (3D)",
                    file_count="multiple",
                )
        compare_state = gr.State()
        inputs = [compare_image, compare_models, colormap, range_mode, focal]
        outputs = [gallery, compare_notes, inspect_model, slider, pick, cloud, downloads, compare_state]
        compare_button.click(run, inputs, outputs, api_name="compare")
        compare_image.change(run_new, inputs, outputs, api_name=False)
        gr.on([colormap.input, range_mode.input], recolour, [compare_state, colormap, range_mode], outputs, api_name="recolour")
        inspect_model.input(event(run_inspect), [compare_state, inspect_model], [slider, pick, cloud], api_name="inspect")

        def read_pixel(state: dict | None, name: str | None, evt: gr.SelectData) -> str:
            try:
                return depth_at(store, state, name, *evt.index)
            except ValueError as error:
                raise gr.Error(str(error)) from None

        pick.select(read_pixel, [compare_state, inspect_model], [pick_value], api_name=False)
    return compare_models


def _evaluate_tab(names: list[str], samples: list[SamplePair], run: Callable) -> gr.CheckboxGroup:
    """The Evaluate tab: an image, its ground truth and how to score it, the metrics table and error maps; its button
    calls `run` (`/evaluate`). Returns its model selection."""
    with gr.Tab("Evaluate"):
        with gr.Row():
            with gr.Column(scale=1):
                eval_image = _image_input("RGB image", "eval-image")
                gt_file = gr.File(
                    label="Ground-truth depth (16-bit PNG or .npy in metres)", file_types=[".png", ".npy"], elem_id="gt-file"
                )
                encoding = gr.Radio(list(GT_ENCODINGS), value=next(iter(GT_ENCODINGS)), label="PNG depth encoding")
                protocol = gr.Dropdown(list(PROTOCOLS), value="none", label="Protocol", elem_id="eval-protocol", render=False)
                if samples:  # a pair sets its encoding and the protocol that fits its frame
                    gr.Examples(
                        [[s.image, s.depth, s.encoding, s.protocol] for s in samples],
                        [eval_image, gt_file, encoding, protocol],
                        label=_examples_label(samples, "Sample pairs"),
                    )
                    _attribution(samples)
                eval_models = gr.CheckboxGroup(names, value=names[:2], label="Models", elem_id="eval-models")
                protocol.render()
                alignment = gr.Radio(list(ALIGNMENT_METHODS), value="none", label="Alignment")
                alignment_space = gr.Radio(
                    [OWN_SPACE, *ALIGNMENT_SPACES], value=OWN_SPACE, label="Alignment fits in",
                    info="the model's own space: inverse depth for MiDaS-style models, depth otherwise",
                )
                eval_button = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
            with gr.Column(scale=2):
                table = gr.Dataframe(
                    label="Metrics", interactive=False, wrap=True, elem_id="metrics-table",
                    column_widths=["18%", *["8%"] * len(METRIC_NAMES), "10%"],
                )
                eval_notes = gr.Markdown()
                error_maps = gr.Gallery(
                    label="Absolute relative error (dark = 0)", columns=2, height="auto", format="png",
                    object_fit="contain", elem_id="error-gallery",
                )
        eval_button.click(
            run,
            [eval_image, gt_file, encoding, eval_models, protocol, alignment, alignment_space],
            [table, error_maps, eval_notes],
            api_name="evaluate",
        )
    return eval_models


def _benchmarks_tab(run: Callable) -> None:
    """The Benchmarks tab: published and measured numbers, filtered by protocol with `run` (`/benchmarks`), which
    also fills the table when the tab is opened."""
    with gr.Tab("Benchmarks") as benchmarks_tab:
        gr.Markdown(
            "Published numbers (from the papers and their repositories, `mde_hub/evaluation/published.py`) beside this "
            "project's own measurements of the served checkpoints (`results*.json` and model cards in each "
            "checkpoint folder). Compare rows only within one dataset and protocol."
        )
        protocol_filter = gr.Radio(list(PROTOCOL_FILTERS), value="all", label="Show")
        bench_table = gr.Dataframe(
            label="Benchmarks", interactive=False, wrap=True, max_height=1600, elem_id="bench-table",
            column_widths=["8%", "7%", "10%", "9%", "9%", *["4.5%"] * len(METRIC_NAMES), "16.5%"],
        )
        protocol_filter.change(run, [protocol_filter], [bench_table], api_name="benchmarks")
        benchmarks_tab.select(run, [protocol_filter], [bench_table], api_name=False)


def build_demo(
    registry: ModelRegistry,
    scratch: ScratchSpace,
    limits: ImageLimits = ImageLimits(),
    samples: list[SamplePair] | None = None,
    delete_cache: tuple[int, int] = (600, 3600),
    store: DepthStore | None = None,
) -> gr.Blocks:
    """The app. `scratch` holds per-request files; Gradio's own cache is pruned per `delete_cache`
    (every first-value seconds, files older than second-value seconds); `store` keeps the last comparisons' depth
    for recolouring (default: a `DepthStore` of its default bound). Each tab's events call the handlers of
    `handlers` with the registry, the scratch space, the store and the image limits bound here."""
    samples = samples or []
    store = store or DepthStore()
    with gr.Blocks(
        title="mde-hub", analytics_enabled=ANALYTICS_ENABLED, delete_cache=delete_cache, fill_width=True
    ) as demo:
        _header(registry)
        location, load_button, load_status = _model_loader()
        compare_models = _compare_tab(
            registry.names, samples, event(run_compare, registry, scratch, limits, store),
            event(run_on_new_image, registry, scratch, limits, store), event(run_recolour, scratch, store), store,
        )
        eval_models = _evaluate_tab(registry.names, samples, event(run_evaluate, registry, scratch, limits))
        _benchmarks_tab(event(benchmarks_table, registry))
        load_button.click(  # a refused model marks the status line only, never both tabs' model lists
            event(load_model, registry), [location, compare_models, eval_models], [compare_models, eval_models, load_status],
            api_name="load_model", show_progress_on=[load_status],
        )
    return demo


def launch(
    demo: gr.Blocks,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    share: bool = False,
    max_file_size: str = "50mb",
    concurrency: int = 2,
    **kwargs: Any,
):
    """Queue with `concurrency` workers per event and launch with an upload size limit and the page's `CSS`."""
    return demo.queue(default_concurrency_limit=concurrency).launch(
        server_name=host, server_port=port, share=share, max_file_size=max_file_size, css=CSS, **kwargs
    )
