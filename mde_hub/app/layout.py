"""The Gradio page: Compare, Evaluate and Benchmarks tabs over the Gradio-free logic of this package.

API endpoints (``gradio_client``): ``/compare``, ``/inspect``, ``/load_model``, ``/evaluate``, ``/benchmarks``.
Bad input raises ``gr.Error`` with a message naming the problem; the server keeps serving.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import PIL.Image
from huggingface_hub import constants as hub_constants

from mde_hub.evaluation.alignment import ALIGNMENT_METHODS, ALIGNMENT_SPACES
from mde_hub.outputs.depth_files import check_ground_truth
from mde_hub.data.files import atomic_output
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.protocols import PROTOCOLS
from mde_hub.outputs.colormaps import COLORMAPS

from .benchmarks import PROTOCOL_FILTERS, benchmarks_frame
from .compare import compare
from .evaluate import evaluate_pair, metrics_table
from .examples import SamplePair
from .inputs import GT_ENCODINGS, ImageLimits, ScratchSpace, read_ground_truth, read_image
from .registry import ModelRegistry

RANGE_MODES = ("shared", "per image")
OWN_SPACE = "the model's own space"
ANALYTICS_ENABLED = False


class CheckedImage(gr.Image):
    """``gr.Image`` whose unreadable uploads become a clear ``gr.Error`` instead of an internal exception."""

    is_template = True  # rendered by the frontend's Image component

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except PIL.Image.DecompressionBombError as error:
            raise gr.Error(f"The image has too many pixels: {error}") from None
        except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError):
            name = getattr(payload, "orig_name", None) or "The upload"
            raise gr.Error(f"{name} is not an image file this app can read (PNG, JPEG, WebP, BMP, TIFF, ...)") from None


def gallery_files(images: list[tuple[np.ndarray, str]], folder: Path, stem: str) -> list[tuple[str, str]]:
    """Gallery images as PNG files in ``folder``. Gradio caches a returned numpy image under the hash of its bytes and
    rewrites that file in place, so two requests that return the same image can serve each other a truncated file;
    a returned file is copied into its cache under a temporary name and renamed, which is safe."""
    files = []
    for index, (image, caption) in enumerate(images):
        path = folder / f"{stem}_{index}.png"
        with atomic_output(path) as temporary:
            PIL.Image.fromarray(image).save(temporary, format="PNG")
        files.append((str(path), caption))
    return files


def user_errors(function: Callable) -> Callable:
    """Show ValueError/OSError messages in the page (``gr.Error``); other exceptions stay internal errors."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except (ValueError, OSError) as error:
            raise gr.Error(str(error)) from None

    return wrapper


def _image_input(label: str, elem_id: str) -> CheckedImage:
    return CheckedImage(
        label=label, type="filepath", image_mode=None, sources=["upload", "webcam", "clipboard"], height=300,
        elem_id=elem_id,
    )


def build_demo(
    registry: ModelRegistry,
    scratch: ScratchSpace,
    limits: ImageLimits = ImageLimits(),
    samples: list[SamplePair] | None = None,
    delete_cache: tuple[int, int] = (600, 3600),
) -> gr.Blocks:
    """The app. ``scratch`` holds per-request files; Gradio's own cache is pruned per ``delete_cache``
    (every first-value seconds, files older than second-value seconds)."""
    samples = samples or []

    @user_errors
    def run_compare(image_path, names, colormap, range_mode, focal):
        if image_path is None:
            raise ValueError("Upload an image first (or pick an example).")
        image = read_image(image_path, limits)
        if range_mode not in RANGE_MODES:
            raise ValueError(f"range must be one of {RANGE_MODES}; got {range_mode!r}")
        result = compare(registry, names or [], image, scratch.new_dir(), colormap, range_mode == "shared", focal)
        views = {
            r.name: (str(result.files[r.name].color_png), str(result.files[r.name].glb or ""))
            for r in result.results
        }
        first = result.results[0].name
        slider, cloud = inspect(views, first, image_path)
        return (
            result.gallery(),
            result.notes(),
            gr.Dropdown(choices=list(views), value=first),
            slider,
            cloud,
            result.downloads(),
            {"image": image_path, "views": views},
        )

    def inspect(views: dict, name: str, image_path: str):
        color_png, glb = views[name]
        return (image_path, color_png), (glb or None)

    @user_errors
    def run_inspect(state, name):
        if not state or name not in state["views"]:
            raise ValueError("Run a comparison first, then pick one of its models.")
        return inspect(state["views"], name, state["image"])

    @user_errors
    def load_model(location, compare_selected, evaluate_selected):
        name = registry.add(location or "")
        status = f"Loaded **{name}** ({registry.sources[name].kind}); it is now selectable in both tabs."
        return (
            gr.CheckboxGroup(choices=registry.names, value=list(dict.fromkeys([*(compare_selected or []), name]))),
            gr.CheckboxGroup(choices=registry.names, value=list(dict.fromkeys([*(evaluate_selected or []), name]))),
            status,
        )

    @user_errors
    def run_evaluate(image_path, gt_path, encoding, names, protocol, alignment, alignment_space):
        if image_path is None or gt_path is None:
            raise ValueError("Upload an RGB image and its ground-truth depth (or pick a sample pair).")
        image = read_image(image_path, limits)
        gt = read_ground_truth(gt_path, encoding)
        summary = check_ground_truth(gt, Path(gt_path).name, PROTOCOLS.get(protocol))
        space = None if alignment_space == OWN_SPACE else alignment_space
        result = evaluate_pair(registry, names or [], image, gt, protocol, alignment, space)
        skipped = [f"- {s.name}: {s.note}" for s in result.scores if s.metrics is None]
        for line in skipped:
            gr.Warning(line[2:])
        note = (
            f"Protocol **{protocol}**: {PROTOCOLS[protocol].description}. Alignment: {alignment}"
            + (f" (fitted in {alignment_space})" if alignment != "none" else "")
            + ". ★ marks the best value of each column (lowest error, highest delta)."
            + f"\nGround truth as decoded: {summary}."
        )
        error_maps = gallery_files(result.error_maps(), scratch.new_dir(), "abs_rel")
        return metrics_table(result.scores), error_maps, "\n".join([note, *skipped])

    @user_errors
    def run_benchmarks(protocols):
        return benchmarks_frame(registry, protocols).style.format("{:.4g}", subset=list(METRIC_NAMES), na_rep="")

    with gr.Blocks(
        title="mde-hub", analytics_enabled=ANALYTICS_ENABLED, delete_cache=delete_cache, fill_width=True
    ) as demo:
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
        with gr.Accordion("Add a model: Hub id or local checkpoint directory", open=False):
            offline = " (offline: only models already in the local cache; start with --online to download)"
            with gr.Row():
                location = gr.Textbox(
                    label="Model", placeholder="owner/name or /path/to/checkpoint" + (offline if hub_constants.HF_HUB_OFFLINE else ""),
                    scale=4,
                )
                load_button = gr.Button("Load", scale=1)
            load_status = gr.Markdown()

        with gr.Tab("Compare"):
            with gr.Row():
                with gr.Column(scale=1):
                    compare_image = _image_input("Input image", "compare-image")
                    if samples:
                        gr.Examples([[s.image] for s in samples], [compare_image], label="Examples (synthetic)")
                    compare_models = gr.CheckboxGroup(
                        registry.names, value=registry.names[:2], label="Models", elem_id="compare-models"
                    )
                    colormap = gr.Radio(list(COLORMAPS), value="Spectral", label="Colormap (near = warm/bright)")
                    range_mode = gr.Radio(list(RANGE_MODES), value="shared", label="Colour range")
                    focal = gr.Number(
                        value=0,
                        label="Camera focal length (px), 0 = each model's default",
                        info="Sets the 3D view, and the depth of models that scale by it (BTS KITTI).",
                    )
                    compare_button = gr.Button("Estimate depth", variant="primary", elem_id="compare-run")
                with gr.Column(scale=2):
                    gallery = gr.Gallery(
                        label="Depth maps", columns=3, height="auto", object_fit="contain", elem_id="depth-gallery"
                    )
                    compare_notes = gr.Markdown()
                    inspect_model = gr.Dropdown(choices=[], label="Inspect one model (slider and 3D view)")
                    slider = gr.ImageSlider(label="Input | depth", type="filepath")
                    cloud = gr.Model3D(label="3D point cloud (GLB)", clear_color=(0.1, 0.1, 0.12, 1.0), height=360)
                    downloads = gr.File(label="Downloads: 16-bit PNG (mm), .npy (the model's values), colour PNG, GLB", file_count="multiple")
            compare_state = gr.State()
            compare_button.click(
                run_compare,
                [compare_image, compare_models, colormap, range_mode, focal],
                [gallery, compare_notes, inspect_model, slider, cloud, downloads, compare_state],
                api_name="compare",
            )
            inspect_model.input(run_inspect, [compare_state, inspect_model], [slider, cloud], api_name="inspect")

        with gr.Tab("Evaluate"):
            with gr.Row():
                with gr.Column(scale=1):
                    eval_image = _image_input("RGB image", "eval-image")
                    gt_file = gr.File(
                        label="Ground-truth depth (16-bit PNG or .npy in metres)", file_types=[".png", ".npy"], elem_id="gt-file"
                    )
                    encoding = gr.Radio(list(GT_ENCODINGS), value=next(iter(GT_ENCODINGS)), label="PNG depth encoding")
                    if samples:
                        gr.Examples(
                            [[s.image, s.depth, s.encoding] for s in samples],
                            [eval_image, gt_file, encoding],
                            label="Sample pairs (synthetic)",
                        )
                    eval_models = gr.CheckboxGroup(
                        registry.names, value=registry.names[:2], label="Models", elem_id="eval-models"
                    )
                    protocol = gr.Dropdown(list(PROTOCOLS), value="none", label="Protocol")
                    alignment = gr.Radio(list(ALIGNMENT_METHODS), value="none", label="Alignment")
                    alignment_space = gr.Radio(
                        [OWN_SPACE, *ALIGNMENT_SPACES], value=OWN_SPACE, label="Alignment fits in",
                        info="the model's own space: inverse depth for MiDaS-style models, depth otherwise",
                    )
                    eval_button = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
                with gr.Column(scale=2):
                    table = gr.Dataframe(label="Metrics", interactive=False, wrap=True, elem_id="metrics-table")
                    eval_notes = gr.Markdown()
                    error_maps = gr.Gallery(
                        label="Absolute relative error (dark = 0)", columns=3, height="auto", format="png",
                        elem_id="error-gallery",
                    )
            eval_button.click(
                run_evaluate,
                [eval_image, gt_file, encoding, eval_models, protocol, alignment, alignment_space],
                [table, error_maps, eval_notes],
                api_name="evaluate",
            )

        with gr.Tab("Benchmarks") as benchmarks_tab:
            gr.Markdown(
                "Published numbers (from the papers and their repositories, `mde_hub/evaluation/published.py`) beside this "
                "project's own measurements of the served checkpoints (`results*.json` and model cards in each "
                "checkpoint folder). Compare rows only within one dataset and protocol."
            )
            protocol_filter = gr.Radio(list(PROTOCOL_FILTERS), value="all", label="Show")
            bench_table = gr.Dataframe(
                label="Benchmarks", interactive=False, wrap=True, max_height=1600, elem_id="bench-table"
            )
            protocol_filter.change(run_benchmarks, [protocol_filter], [bench_table], api_name="benchmarks")
            benchmarks_tab.select(run_benchmarks, [protocol_filter], [bench_table], api_name=False)

        load_button.click(
            load_model, [location, compare_models, eval_models], [compare_models, eval_models, load_status],
            api_name="load_model",
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
    """Queue with ``concurrency`` workers per event and launch with an upload size limit."""
    return demo.queue(default_concurrency_limit=concurrency).launch(
        server_name=host, server_port=port, share=share, max_file_size=max_file_size, **kwargs
    )
