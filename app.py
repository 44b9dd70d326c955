"""mde-hub demo: upload a photo, get a metric depth map.

A first, minimal page (the full comparison app comes later). It serves the checkpoints found under ./checkpoints
(or directories given with --models); with none, it falls back to a randomly initialised Baseline and says so.
Runs offline and sends no analytics.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mde_hub import BaselineConfig, BaselineForDepthEstimation  # noqa: E402
from mde_hub.inference import DepthPredictor  # noqa: E402
from mde_hub.visualization import COLORMAPS, colorize_depth  # noqa: E402

CHECKPOINTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoints")
UNTRAINED_NAME = "baseline (untrained, random weights)"


def discover_models(paths: list[str] | None) -> dict[str, DepthPredictor]:
    """Predictors for the given directories, else ./checkpoints/*, else an untrained Baseline."""
    if not paths and os.path.isdir(CHECKPOINTS_DIR):
        paths = sorted(
            os.path.join(CHECKPOINTS_DIR, name)
            for name in os.listdir(CHECKPOINTS_DIR)
            if os.path.isfile(os.path.join(CHECKPOINTS_DIR, name, "config.json"))
        )
    if paths:
        return {predictor.name: predictor for predictor in map(DepthPredictor.from_pretrained, paths)}
    torch.manual_seed(0)
    return {UNTRAINED_NAME: DepthPredictor.from_model(BaselineForDepthEstimation(BaselineConfig()), UNTRAINED_NAME)}


def build_demo(predictors: dict[str, DepthPredictor]) -> gr.Blocks:
    def run(image: np.ndarray | None, model_name: str, colormap: str):
        if image is None:
            raise gr.Error("Upload an image first.")
        if model_name not in predictors:
            raise gr.Error(f"Unknown model {model_name!r}.")
        try:
            prediction = predictors[model_name].predict(image)
        except ValueError as error:
            raise gr.Error(str(error)) from None
        depth = prediction.depth
        summary = (
            f"{model_name}: {prediction.depth_estimation_type} depth, {depth.min():.2f} to {depth.max():.2f} m, "
            f"{prediction.latency_s * 1000:.0f} ms"
        )
        return colorize_depth(depth, colormap), summary

    with gr.Blocks(title="mde-hub") as demo:
        gr.Markdown("# mde-hub: monocular depth estimation\nOne RGB image in, a metric depth map (metres) out.")
        if UNTRAINED_NAME in predictors:
            gr.Markdown("**No trained checkpoint found**: showing an untrained Baseline, so its depth is meaningless.")
        with gr.Row():
            image = gr.Image(label="Input image", type="numpy")
            depth = gr.Image(label="Depth (near = warm/bright)", type="numpy")
        with gr.Row():
            model = gr.Dropdown(list(predictors), value=next(iter(predictors)), label="Model")
            colormap = gr.Dropdown(list(COLORMAPS), value="Spectral", label="Colormap")
        summary = gr.Textbox(label="Result", interactive=False)
        gr.Button("Estimate depth", variant="primary").click(run, [image, model, colormap], [depth, summary], api_name="predict")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1, local only)")
    parser.add_argument("--port", type=int, default=7860)
    parser.add_argument("--share", action="store_true", help="create a public Gradio link (needs internet)")
    parser.add_argument("--models", nargs="*", help="checkpoint directories to serve (default: ./checkpoints/*)")
    args = parser.parse_args(argv)
    demo = build_demo(discover_models(args.models))
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port, share=args.share)


if __name__ == "__main__":
    main()
