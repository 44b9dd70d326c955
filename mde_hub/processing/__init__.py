"""Processing: `DepthImageProcessor`, the resize and normalisation between an RGB image and a model's input, and the
resize of a prediction back to the image's size."""

from .image_processing_depth import DepthImageProcessor

__all__ = ["DepthImageProcessor"]
