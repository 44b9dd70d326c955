"""Processing: `DepthImageProcessor`, the resize and normalisation between an RGB image and a model's input, and the
resize of a prediction back to the image's size; `depth_pipeline`, transformers' depth-estimation pipeline reading
mde-hub models' images as `DepthPredictor` does."""

from .image_processing_depth import DepthImageProcessor

__all__ = ["DepthImageProcessor"]
