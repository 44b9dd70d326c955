"""`DepthPredictor`: images in (one or a batch, on any device, in any precision), the model's depth maps out (their
meaning from `mde_hub.models.depth_meaning`), for `evaluate`, the app and the command line."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from transformers import PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor

from ..data.images import CHANNELS_LAST, ImageLike, to_rgb, to_rgb_uint8
from ..data.sample import check_focal
from ..models.auto import image_processor_for
from ..models.configuration_utils import scales_depth_by_focal
from ..models.depth_meaning import DepthMeaning, depth_meaning_of
from ..models.loading import load_depth_config, load_depth_model, load_image_processor
from ..models.modeling_utils import DepthEstimationPreTrainedModel
from ..processing.image_processing_depth import DepthImageProcessor
from .backends import BACKENDS
from .device import DTYPES, resolve_device, resolve_dtype

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
    """Wraps a model and its image processor; `predict` returns depth at the input's size, `predict_batch` the same
    for many images at once.

    Works for mde-hub models and for every one of transformers' own depth model types
    (`mde_hub.models.depth_meaning.TRANSFORMERS_DEPTH_MODELS`), whose processors are given the uint8 image and
    rescale it themselves. Depth Pro is given the field of view of a known focal length (else it uses its own
    estimate); Prompt Depth Anything is given no prompt depth (its output is then relative depth). `device` ("cpu", "cuda", "cuda:N", "mps") is
    where the model runs; `dtype` ("float32", "bfloat16", "float16", or "auto": `mde_hub.inference.device.auto_dtype`)
    the precision its ops run in under `torch.autocast` (the weights stay float32). Outputs are float32 numpy
    arrays whatever the precision. The ONNX Runtime backend runs on the CPU in float32 only. An output with even one
    NaN or infinite pixel is a `ValueError` naming the model, never a prediction (`predict`, `evaluate` and the app
    all run models through here); the metric functions' own handling of non-finite pixels is for arrays given to
    them directly.
    """

    def __init__(
        self,
        model: PreTrainedModel | OnnxDepthModel,
        processor: BaseImageProcessor,
        name: str,
        device: str | torch.device = "cpu",
        dtype: str = "float32",
    ) -> None:
        self.device = resolve_device(device)
        parameters = sum(p.numel() for p in model.parameters()) if isinstance(model, torch.nn.Module) else None
        self.dtype = resolve_dtype(dtype, self.device, parameters)
        if not isinstance(model, torch.nn.Module):
            if self.device.type != "cpu" or self.dtype != "float32":
                raise ValueError(
                    f"the onnxruntime backend runs on the cpu in float32; got device {str(self.device)!r} and dtype "
                    f"{self.dtype!r}"
                )
        else:
            model = model.to(self.device)
        self.model = model.eval()
        self.processor = processor
        self.name = name
        self.meaning = depth_meaning_of(model.config)

    @classmethod
    def from_pretrained(
        cls,
        path: str | os.PathLike,
        backend: str = "pytorch",
        allow_pickle: bool = False,
        device: str | torch.device = "cpu",
        dtype: str = "float32",
    ) -> "DepthPredictor":
        """`backend="onnxruntime"` runs the checkpoint's `model.onnx` (`mde-hub export onnx`) instead of PyTorch,
        with the same image processor and config. Weights load as `load_depth_model` says (safetensors only unless
        `allow_pickle`); no checkpoint's own Python code is ever run. `device` and `dtype` as the class says; both
        are checked before the weights load."""
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")
        resolve_dtype(dtype, resolve_device(device))
        if backend == "onnxruntime":
            from .onnx_export import ONNX_FILENAME
            from .onnx_runtime import OnnxDepthModel

            config = load_depth_config(path)
            model = OnnxDepthModel(os.path.join(path, ONNX_FILENAME), config)
        else:
            model = load_depth_model(path, allow_pickle)
        processor = load_image_processor(path)
        return cls(model, processor, os.path.basename(os.path.normpath(str(path))), device, dtype)

    @classmethod
    def from_model(
        cls,
        model: DepthEstimationPreTrainedModel,
        name: str,
        device: str | torch.device = "cpu",
        dtype: str = "float32",
    ) -> "DepthPredictor":
        return cls(model, image_processor_for(model.config), name, device, dtype)

    def predict(
        self, image: ImageLike, focal: float | None = None, input_data_format: str | None = None
    ) -> DepthPrediction:
        """Depth for one image: `predict_batch` of one. `focal`: the camera's horizontal focal length in pixels
        (fx) for this image, passed (rescaled to the network's input width) to models that scale depth by it, and
        to Depth Pro as the field of view that turns its output into metres (in place of its own estimate); other
        models ignore it. `input_data_format` ("channels_first" or "channels_last") says where an array's
        channels are; without it `mde_hub.data.images` infers them (when both ends could be: first for a tensor,
        last for a numpy array)."""
        return self.predict_batch([image], None if focal is None else [focal], input_data_format)[0]

    @torch.inference_mode()
    def predict_batch(
        self,
        images: Sequence[ImageLike],
        focals: Sequence[float | None] | None = None,
        input_data_format: str | None = None,
    ) -> list[DepthPrediction]:
        """Depth for each of `images`, in order, each at its own size. Each image is converted to RGB once, here,
        (handed to the processor as (H, W, 3) with its layout stated, so it is never guessed again) and resized by
        the processor on its own; images whose network inputs have one shape run as one forward batch.
        `focals`: one per image (None: no scaling for that image, or Depth Pro's own field-of-view estimate), as
        `predict` says. Each prediction's
        `latency_s` is its share of the whole call's time."""
        images = list(images)
        focals = [None] * len(images) if focals is None else list(focals)
        if len(focals) != len(images):
            raise ValueError(f"got {len(images)} images but {len(focals)} focal lengths")
        start = time.perf_counter()
        scaled = scales_depth_by_focal(self.model.config) or _uses_field_of_view(self.model.config)
        for focal in focals:
            if scaled and focal is not None:
                check_focal(focal)
        rgbs = [to_rgb(image, input_data_format) for image in images]
        pixel_values = [self._pixel_values(rgb) for rgb in rgbs]
        groups: dict[tuple[tuple[int, ...], bool], list[int]] = {}
        for index, pixels in enumerate(pixel_values):
            groups.setdefault((tuple(pixels.shape), scaled and focals[index] is not None), []).append(index)
        values: list[np.ndarray] = [np.empty(0)] * len(images)
        for (_, with_focal), indices in groups.items():
            sizes = [rgbs[index].shape[:2] for index in indices]
            batch = torch.cat([pixel_values[index] for index in indices])
            group_focals = [focals[index] for index in indices] if with_focal else None
            for index, depth in zip(indices, self._forward(batch, sizes, group_focals)):
                values[index] = depth
        for index, depth in enumerate(values):
            self._check_finite(depth, index, len(values))
        latency = (time.perf_counter() - start) / max(len(images), 1)
        return [DepthPrediction(depth, latency, self.meaning) for depth in values]

    def _check_finite(self, values: np.ndarray, index: int, count: int) -> None:
        """Refuse an output with any NaN or infinite pixel: no model computes one from a valid input, so it means
        broken weights or config (or a precision that overflowed), and a partly NaN map would be written or scored
        as if it were depth."""
        bad = int(values.size - np.isfinite(values).sum())
        if bad:
            which = f" for image {index + 1} of a batch of {count}" if count > 1 else ""
            cause = "its weights or config are broken" + (
                f", or its {self.dtype} arithmetic overflowed (try float32)" if self.dtype != "float32" else ""
            )
            raise ValueError(
                f"model {self.name} produced {bad} NaN or infinite depth value(s) of {values.size}{which}: {cause}"
            )

    def _pixel_values(self, rgb: np.ndarray) -> torch.Tensor:
        """The processor's (1, 3, h, w) network input of one (H, W, 3) RGB image."""
        if isinstance(self.processor, DepthImageProcessor):
            return self.processor(rgb, input_data_format=CHANNELS_LAST)["pixel_values"]
        uint8 = to_rgb_uint8(rgb, CHANNELS_LAST)
        return self.processor(images=uint8, input_data_format=CHANNELS_LAST, return_tensors="pt")["pixel_values"]

    def _forward(
        self, pixel_values: torch.Tensor, sizes: list[tuple[int, int]], focals: list[float] | None
    ) -> list[np.ndarray]:
        """One forward pass of a batch of same-shape inputs (under autocast unless float32), each output resized
        back to its image's `sizes` entry in float32. `focals` (fx of each original image) are rescaled to the
        network's input width."""
        pixel_values = pixel_values.to(self.model.device, self.model.dtype)
        extra = {}
        if focals is not None and scales_depth_by_focal(self.model.config):
            network = [focal * pixel_values.shape[-1] / width for focal, (_, width) in zip(focals, sizes)]
            extra["focal"] = torch.tensor(network, dtype=self.model.dtype, device=self.model.device)
        precision = DTYPES[self.dtype]
        with torch.autocast(self.device.type, dtype=precision, enabled=precision != torch.float32):
            outputs = self.model(pixel_values=pixel_values, **extra)
        outputs["predicted_depth"] = outputs.predicted_depth.float()
        if _uses_field_of_view(self.model.config):
            outputs["field_of_view"] = self._field_of_view(outputs.get("field_of_view"), sizes, focals)
        results = self.processor.post_process_depth_estimation(outputs, sizes)
        return [result["predicted_depth"].float().cpu().numpy() for result in results]

    def _field_of_view(
        self, estimated: torch.Tensor | None, sizes: list[tuple[int, int]], focals: list[float] | None
    ) -> torch.Tensor:
        """Depth Pro's horizontal field of view in degrees for each image, which its processor uses to turn the
        output into metres: that of the image's focal length where one is given, else the model's own estimate."""
        if focals is not None:
            angles = [math.degrees(2 * math.atan(width / (2 * focal))) for focal, (_, width) in zip(focals, sizes)]
            return torch.tensor(angles)
        if estimated is None:
            raise ValueError(
                f"{self.name} is a depth_pro model without a field-of-view head (use_fov_model is false): give the "
                "camera's focal length in pixels to get metres"
            )
        return estimated.float()


def _uses_field_of_view(config: object) -> bool:
    """Whether the processor turns the output into metres with a field of view (Depth Pro)."""
    return getattr(config, "model_type", None) == "depth_pro"
