"""`DepthPredictor`: one image in, the model's depth map out (its meaning from `mde_hub.models.depth_meaning`), for
`evaluate`, the app and the command line."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import AutoConfig, AutoImageProcessor, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from ..data.images import CHANNELS_LAST, ImageLike, to_rgb, to_rgb_uint8
from ..models.auto import image_processor_for
from ..models.configuration_utils import scales_depth_by_focal
from ..models.depth_meaning import DepthMeaning, depth_meaning_of
from ..models.loading import load_depth_model
from ..models.modeling_utils import DepthEstimationPreTrainedModel
from ..processing.image_processing_depth import DepthImageProcessor
from .backends import BACKENDS

if TYPE_CHECKING:
    from .onnx_runtime import OnnxDepthModel



@dataclass
class DepthPrediction:
    """A model's `predicted_depth` for one image, at the image's size. `values` mean what `meaning` says: metres
    for a metric model, relative (inverse) depth otherwise; `meaning.to_depth(values)` is depth-valued."""

    values: np.ndarray  # (H, W) float32
    latency_s: float
    meaning: DepthMeaning

    @property
    def depth(self) -> np.ndarray:
        """Depth-valued output: `values` for depth models, their reciprocal for inverse-depth ones (see
        `DepthMeaning.to_depth`: only up to scale and shift for a relative model)."""
        return self.meaning.to_depth(self.values)


class DepthPredictor:
    """Wraps a model and its image processor; `predict` returns depth at the input's size.

    Works for mde-hub models and for transformers' own depth models (DPT, GLPN, Depth Anything, ZoeDepth), whose
    processors are given the uint8 image and rescale it themselves.
    """

    def __init__(self, model: PreTrainedModel | OnnxDepthModel, processor: BaseImageProcessor, name: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.meaning = depth_meaning_of(model.config)

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, backend: str = "pytorch", allow_pickle: bool = False
    ) -> "DepthPredictor":
        """`backend="onnxruntime"` runs the checkpoint's `model.onnx` (`mde-hub export onnx`) instead of PyTorch,
        with the same image processor and config. Weights load as `load_depth_model` says (safetensors only unless
        `allow_pickle`); no checkpoint's own Python code is ever run."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
        if backend == "onnxruntime":
            from .onnx_export import ONNX_FILENAME
            from .onnx_runtime import OnnxDepthModel

            config = AutoConfig.from_pretrained(path, trust_remote_code=False)
            model = OnnxDepthModel(os.path.join(path, ONNX_FILENAME), config)
        else:
            model = load_depth_model(path, allow_pickle)
        processor = AutoImageProcessor.from_pretrained(path, trust_remote_code=False)
        return cls(model, processor, name=os.path.basename(os.path.normpath(str(path))))

    @classmethod
    def from_model(cls, model: DepthEstimationPreTrainedModel, name: str) -> "DepthPredictor":
        return cls(model, image_processor_for(model.config), name=name)

    @torch.inference_mode()
    def predict(
        self, image: ImageLike, focal: float | None = None, input_data_format: str | None = None
    ) -> DepthPrediction:
        """Depth for one image. `focal`: the camera's horizontal focal length in pixels (fx) for this image, passed
        (rescaled to the network's input width) to models that scale depth by it; other models ignore it.
        `input_data_format` ("channels_first" or "channels_last") says where an array's channels are; without it
        `mde_hub.data.images` infers them (when both ends could be: first for a tensor, last for a numpy array). The
        image is converted to RGB once, here, and handed to the processor as (H, W, 3) with its layout stated, so it
        is never guessed again."""
        rgb = to_rgb(image, input_data_format)
        height, width = rgb.shape[:2]
        start = time.perf_counter()
        if isinstance(self.processor, DepthImageProcessor):
            inputs = self.processor(rgb, input_data_format=CHANNELS_LAST)
        else:
            inputs = self.processor(
                images=to_rgb_uint8(rgb, CHANNELS_LAST), input_data_format=CHANNELS_LAST, return_tensors="pt"
            )
        pixel_values = inputs["pixel_values"].to(self.model.device, self.model.dtype)
        extra = {}
        if focal is not None and scales_depth_by_focal(self.model.config):
            if not np.isfinite(focal) or focal <= 0:
                raise ValueError(f"the focal length must be a positive number of pixels; got {focal}")
            network_focal = focal * pixel_values.shape[-1] / width
            extra["focal"] = torch.tensor([network_focal], dtype=self.model.dtype, device=self.model.device)
        outputs = self.model(pixel_values=pixel_values, **extra)
        depth = self.processor.post_process_depth_estimation(outputs, [(height, width)])[0]["predicted_depth"]
        latency = time.perf_counter() - start
        return DepthPrediction(depth.float().cpu().numpy(), latency, self.meaning)
