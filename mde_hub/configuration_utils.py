"""`DepthConfig`: the fields every mde-hub model shares, stating what `predicted_depth` means."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

DEPTH_ESTIMATION_TYPES = ("metric", "relative")


@strict
class DepthConfig(PreTrainedConfig):
    r"""
    min_depth (`float`, defaults to 1e-3):
        Smallest depth in metres the model predicts and the loss treats as valid ground truth.
    max_depth (`float`, defaults to 10.0):
        Largest depth in metres the model predicts (10 m for NYU Depth v2, 80 m for KITTI).
    depth_estimation_type (`str`, defaults to "metric"):
        "metric": `predicted_depth` is depth in metres. "relative": it is only defined up to an unknown scale and
        shift (see the model's docstring for whether it is depth or inverse depth).
    """

    min_depth: float = 1e-3
    max_depth: float = 10.0
    depth_estimation_type: str = "metric"

    def validate_architecture(self) -> None:
        """Part of `@strict` validation: the depth range and type must make sense."""
        if self.depth_estimation_type not in DEPTH_ESTIMATION_TYPES:
            raise ValueError(f"depth_estimation_type must be one of {DEPTH_ESTIMATION_TYPES}; got {self.depth_estimation_type!r}.")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"Need 0 < min_depth < max_depth; got min_depth={self.min_depth}, max_depth={self.max_depth}.")

    @classmethod
    def tiny(cls, **overrides: Any) -> "DepthConfig":
        """A configuration small enough for fast CPU tests (same layers, far fewer channels)."""
        raise NotImplementedError(f"{cls.__name__} has no tiny configuration.")

    def image_processor_kwargs(self) -> dict[str, Any]:
        """Arguments of the `DepthImageProcessor` this model is trained and evaluated with."""
        raise NotImplementedError(f"{type(self).__name__} must say how its images are pre-processed.")
