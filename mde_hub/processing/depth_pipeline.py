"""`pipeline("depth-estimation", model=...)` for mde-hub checkpoints, reading images as `DepthPredictor` does.

transformers' `DepthEstimationPipeline` opens every input with Pillow's `convert("RGB")`, which clips a 16-bit image
at 255 (nearly white) and turns a float image into 0s and 1s, before the image processor sees it. For a model whose
processor is a `DepthImageProcessor`, this pipeline instead opens a local file with `mde_hub.data.images.load_image`
(damaged files, decompression bombs and the `pixel_limit` refused; EXIF orientation applied) and hands the image,
unconverted, to the processor, whose one conversion (`mde_hub.data.images.to_rgb`) reads 16-bit images as value / 257
and refuses float images with values outside [0, 1], NaN or infinity. URLs and base64 strings are still opened by
transformers. Every other model gets transformers' pipeline unchanged. `mde_hub.models.auto.register_auto_classes`
makes it the task's pipeline.
"""

from __future__ import annotations

import os
from typing import Any

import PIL.Image
import PIL.ImageOps
from transformers.pipelines.depth_estimation import DepthEstimationPipeline as TransformersDepthEstimationPipeline

from ..data.images import load_image
from .image_processing_depth import DepthImageProcessor


class DepthEstimationPipeline(TransformersDepthEstimationPipeline):
    """transformers' depth-estimation pipeline; for mde-hub models, images are read as the module docstring says."""

    def preprocess(self, image: Any, timeout: float | None = None) -> Any:
        if not isinstance(self.image_processor, DepthImageProcessor):
            return super().preprocess(image, timeout)
        if isinstance(image, (str, os.PathLike)) and os.path.isfile(image):
            path, image = image, load_image(image)
        elif isinstance(image, PIL.Image.Image):
            path, image = None, PIL.ImageOps.exif_transpose(image)  # the size the depth comes back at
        else:
            return super().preprocess(image, timeout)
        try:
            model_inputs = self.image_processor(images=image, return_tensors="pt").to(self.dtype)
        except ValueError as error:
            if path is None:
                raise
            raise ValueError(f"{path}: {error}") from None
        model_inputs["target_size"] = image.size[::-1]
        return model_inputs
