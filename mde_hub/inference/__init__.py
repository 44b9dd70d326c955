"""Inference: `DepthPredictor` (one image in, the model's output at the image's size, with its meaning), the safe
checkpoint loader, and the ONNX export and ONNX Runtime backend. Exported lazily (PEP 562), so `backends` imports
without torch."""

from typing import TYPE_CHECKING

from .._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from ..models.loading import load_depth_model
    from .backends import BACKENDS
    from .predictor import DepthPrediction, DepthPredictor

__getattr__, __dir__ = lazy_exports(__name__, {
    "..models.loading": ("load_depth_model",),
    ".backends": ("BACKENDS",),
    ".predictor": ("DepthPrediction", "DepthPredictor"),
})

__all__ = ["BACKENDS", "DepthPrediction", "DepthPredictor", "load_depth_model"]
