"""`DepthPredictor`: one image in, a metric depth map out, for the app and the command line."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from typing import Any

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForDepthEstimation, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from .auto import image_processor_for
from .image_processing_depth import DepthImageProcessor
from .image_utils import ImageLike, to_rgb_tensor
from .modeling_utils import DepthEstimationPreTrainedModel


# transformers' own depth models whose configs do not say what they predict.
_RELATIVE_BY_DEFAULT = ("dpt", "depth_anything")
_METRIC_MODEL_TYPES = ("glpn", "zoedepth")


def depth_estimation_type_of(config: Any) -> str:
    """``"metric"`` or ``"relative"`` for a model configuration.

    mde-hub configurations carry ``depth_estimation_type``; transformers' own depth models mostly do not, so they
    are classified by ``model_type``: DPT and Depth Anything are relative unless the config says ``"metric"``,
    GLPN and ZoeDepth are metric.
    """
    declared = getattr(config, "depth_estimation_type", None)
    if declared is not None:
        return declared
    model_type = getattr(config, "model_type", None)
    if model_type in _RELATIVE_BY_DEFAULT:
        return "relative"
    if model_type in _METRIC_MODEL_TYPES:
        return "metric"
    raise ValueError(f"cannot tell whether model type {model_type!r} predicts metric or relative depth")


def predicts_inverse_depth(config: Any) -> bool:
    """True for transformers' relative DPT and Depth Anything, whose ``predicted_depth`` is relative inverse depth
    (disparity-like: larger is nearer), so ``1 / predicted_depth`` is depth up to scale. mde-hub models always
    predict depth."""
    return getattr(config, "model_type", None) in _RELATIVE_BY_DEFAULT and depth_estimation_type_of(config) == "relative"


@dataclass
class DepthPrediction:
    depth: np.ndarray  # (H, W) float32 at the input image's size, in metres for metric models
    latency_s: float
    depth_estimation_type: str


class DepthPredictor:
    """Wraps a model and its image processor; `predict` returns depth at the input's size.

    Works for mde-hub models and for transformers' own depth models (DPT, GLPN, Depth Anything, ZoeDepth), whose
    processors are given the uint8 image and rescale it themselves.
    """

    def __init__(self, model: PreTrainedModel, processor: BaseImageProcessor, name: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike) -> "DepthPredictor":
        model = AutoModelForDepthEstimation.from_pretrained(path)
        processor = AutoImageProcessor.from_pretrained(path)
        return cls(model, processor, name=os.path.basename(os.path.normpath(str(path))))

    @classmethod
    def from_model(cls, model: DepthEstimationPreTrainedModel, name: str) -> "DepthPredictor":
        return cls(model, image_processor_for(model.config), name=name)

    @torch.inference_mode()
    def predict(self, image: ImageLike) -> DepthPrediction:
        rgb = to_rgb_tensor(image)
        start = time.perf_counter()
        if isinstance(self.processor, DepthImageProcessor):
            inputs = self.processor(rgb)
        else:
            rgb_uint8 = (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
            inputs = self.processor(images=rgb_uint8, return_tensors="pt")
        outputs = self.model(pixel_values=inputs["pixel_values"].to(self.model.device, self.model.dtype))
        depth = self.processor.post_process_depth_estimation(outputs, [tuple(rgb.shape[-2:])])[0]["predicted_depth"]
        latency = time.perf_counter() - start
        return DepthPrediction(depth.float().cpu().numpy(), latency, depth_estimation_type_of(self.model.config))
