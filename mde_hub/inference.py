"""`DepthPredictor`: one image in, a metric depth map out, for the app and the command line."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

from .auto import image_processor_for
from .image_processing_depth import DepthImageProcessor
from .image_utils import ImageLike, to_rgb_tensor
from .modeling_utils import DepthEstimationPreTrainedModel


@dataclass
class DepthPrediction:
    depth: np.ndarray  # (H, W) float32 at the input image's size, in metres for metric models
    latency_s: float
    depth_estimation_type: str


class DepthPredictor:
    """Wraps a model and its image processor; `predict` returns depth at the input's size."""

    def __init__(self, model: DepthEstimationPreTrainedModel, processor: DepthImageProcessor, name: str) -> None:
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
        inputs = self.processor(rgb)
        outputs = self.model(pixel_values=inputs["pixel_values"].to(self.model.device, self.model.dtype))
        depth = self.processor.post_process_depth_estimation(outputs, [tuple(rgb.shape[-2:])])[0]["predicted_depth"]
        latency = time.perf_counter() - start
        return DepthPrediction(depth.float().cpu().numpy(), latency, self.model.config.depth_estimation_type)
