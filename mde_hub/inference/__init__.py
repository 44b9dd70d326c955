"""Inference: `DepthPredictor` (one image in, the model's output at the image's size, with its meaning), the safe
checkpoint loader, and the ONNX export and ONNX Runtime backend."""

from ..models.loading import load_depth_model
from .predictor import BACKENDS, DepthPrediction, DepthPredictor

__all__ = ["BACKENDS", "DepthPrediction", "DepthPredictor", "load_depth_model"]
