"""`DepthPredictor`: one image in, a metric depth map out, for the app and the command line."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from safetensors import SafetensorError
from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from .auto import image_processor_for
from .image_processing_depth import DepthImageProcessor
from .image_utils import ImageLike, rgb_tensor_to_uint8, to_rgb_tensor
from .modeling_utils import DepthEstimationPreTrainedModel

if TYPE_CHECKING:
    from .onnx_runtime import OnnxDepthModel


BACKENDS = ("pytorch", "onnxruntime")
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


def load_depth_model(path: str | os.PathLike, allow_pickle: bool = False) -> PreTrainedModel:
    """A depth model from a checkpoint directory or Hub id, loaded safely: safetensors weights only unless
    `allow_pickle` (a pickled `pytorch_model.bin` can run code when unpickled), never with `trust_remote_code`, and
    refused, not randomly completed, when the weights lack tensors the model needs or have other shapes."""
    local = os.path.isdir(path)
    if local and not allow_pickle and not any(
        os.path.isfile(os.path.join(path, name)) for name in ("model.safetensors", "model.safetensors.index.json")
    ):
        pickled = sorted(name for name in os.listdir(path) if name.startswith("pytorch_model") and name.endswith(".bin"))
        if pickled:
            raise ValueError(
                f"{path} holds pickled {pickled[0]} weights only, and pickle files can run code when loaded: convert "
                "them to model.safetensors, or pass allow_pickle=True (--allow-pickle) if you trust their source"
            )
        raise FileNotFoundError(f"{path} has no model.safetensors (or model.safetensors.index.json): no weights to load")
    try:
        model, info = AutoModelForDepthEstimation.from_pretrained(
            path, use_safetensors=None if allow_pickle else True, trust_remote_code=False, output_loading_info=True
        )
    except SafetensorError as error:
        raise ValueError(f"cannot load {path}: its model.safetensors is damaged or not a safetensors file ({error})") from None
    except RuntimeError as error:  # transformers raises it for tensors whose shapes differ from the config's model
        raise ValueError(
            f"cannot load {path}: the shape of its weights does not match the model its config.json describes ({error})"
        ) from None
    missing = info.get("missing_keys") or []
    if missing:
        names = sorted(missing)
        raise ValueError(
            f"{path}: the checkpoint lacks {len(names)} of the model's weights (e.g. {names[0]}); refusing to fill "
            "them with random values"
        )
    return model


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

    def __init__(self, model: PreTrainedModel | OnnxDepthModel, processor: BaseImageProcessor, name: str) -> None:
        self.model = model.eval()
        self.processor = processor
        self.name = name

    @classmethod
    def from_pretrained(
        cls, path: str | os.PathLike, backend: str = "pytorch", allow_pickle: bool = False
    ) -> "DepthPredictor":
        """`backend="onnxruntime"` runs the checkpoint's `model.onnx` (`mde-hub export onnx`) instead of PyTorch,
        with the same image processor and config. Weights load as `load_depth_model` says (safetensors only unless
        `allow_pickle`); no checkpoint's own Python code is ever run."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}.")
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
    def predict(self, image: ImageLike) -> DepthPrediction:
        rgb = to_rgb_tensor(image)
        start = time.perf_counter()
        if isinstance(self.processor, DepthImageProcessor):
            inputs = self.processor(rgb)
        else:
            inputs = self.processor(images=rgb_tensor_to_uint8(rgb), return_tensors="pt")
        outputs = self.model(pixel_values=inputs["pixel_values"].to(self.model.device, self.model.dtype))
        depth = self.processor.post_process_depth_estimation(outputs, [tuple(rgb.shape[-2:])])[0]["predicted_depth"]
        latency = time.perf_counter() - start
        return DepthPrediction(depth.float().cpu().numpy(), latency, depth_estimation_type_of(self.model.config))
