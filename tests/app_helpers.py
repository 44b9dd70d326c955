"""Tiny random checkpoints and an in-process app for the app tests (gradio_client and browser)."""

from __future__ import annotations

from pathlib import Path

import torch
import transformers
from safetensors.torch import load_file, save_file
from transformers import DPTImageProcessor

from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
from mde_hub.app import ImageLimits, ModelRegistry, ScratchSpace, build_demo, discover_sources, launch, write_examples

TINY_HF_DPT = dict(
    hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=32, patch_size=16,
    backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
)


def save_baseline(path: Path, seed: int) -> Path:
    """A tiny random mde-hub Baseline (metric, up to 10 m) saved with its processor."""
    torch.manual_seed(seed)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32))
    model.save_pretrained(path)
    image_processor_for(model.config).save_pretrained(path)
    return path


def save_exploding_baseline(path: Path) -> Path:
    """A tiny Baseline whose weights are finite, so it loads, but scaled by 1e30: its activations overflow to
    infinity and every depth value it outputs is NaN."""
    save_baseline(path, 0)
    weights = load_file(path / "model.safetensors")
    scaled = {name: value * 1e30 for name, value in weights.items()}
    save_file(scaled, path / "model.safetensors", metadata={"format": "pt"})
    return path


def save_hf_dpt(path: Path, seed: int = 0) -> Path:
    """A tiny random transformers DPT: relative inverse depth."""
    torch.manual_seed(seed)
    transformers.DPTForDepthEstimation(transformers.DPTConfig(**TINY_HF_DPT)).save_pretrained(path)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(path)
    return path


def make_checkpoints(root: Path) -> Path:
    """`root` holding baseline-a, baseline-b (metric) and hf-dpt (transformers' relative DPT)."""
    save_baseline(root / "baseline-a", 0)
    save_baseline(root / "baseline-b", 1)
    save_hf_dpt(root / "hf-dpt")
    return root


def start_app(models: Path, work: Path, limits: ImageLimits = ImageLimits(), max_bytes: int = 2**30, **launch_kwargs):
    """Build and launch the app on a free loopback port without blocking; returns (demo, registry, samples)."""
    registry = ModelRegistry(discover_sources([str(models)], None), max_bytes=max_bytes)
    samples = write_examples(work / "examples", indoor=2, outdoor=1)
    demo = build_demo(registry, ScratchSpace(keep=8, root=str(work / "requests")), limits, samples)
    launch(demo, port=None, prevent_thread_lock=True, quiet=True, **launch_kwargs)
    return demo, registry, samples
