"""`DepthConfig`: the fields every mde-hub model shares, stating what `predicted_depth` means; `BackboneDepthConfig`
and `FixedSizeBackboneDepthConfig` add the fields of models built on a timm encoder."""

from __future__ import annotations

import math
from dataclasses import field, fields
from typing import Any, ClassVar

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from ..processing.image_processing_depth import IMAGENET_MEAN, IMAGENET_STD

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
        shift; the class attribute `relative_output` says whether it is then depth or inverse depth
        (`mde_hub.models.depth_meaning` reads both).
    """

    relative_output: ClassVar[str] = "depth"
    """What a relative model of this family outputs: "depth" or "inverse_depth" (a fact of the architecture)."""

    saved_before_field: ClassVar[dict[str, Any]] = {}
    """Fields added after checkpoints were saved -> the value that keeps those checkpoints' behaviour: a saved config
    (`from_dict`, `from_pretrained`) without the field gets this value; a config built in code gets the default."""

    min_depth: float = 1e-3
    max_depth: float = 10.0
    depth_estimation_type: str = "metric"

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "DepthConfig":
        absent = {key: value for key, value in cls.saved_before_field.items() if key not in config_dict}
        return super().from_dict({**absent, **config_dict}, **kwargs)

    def validate_architecture(self) -> None:
        """Part of `@strict` validation: every number is finite, and the depth range and type make sense."""
        non_finite = _non_finite_fields(self)
        if non_finite:
            name, value = non_finite[0]
            raise ValueError(f"{name} must be a finite number; got {value}")
        if self.depth_estimation_type not in DEPTH_ESTIMATION_TYPES:
            raise ValueError(f"depth_estimation_type must be one of {DEPTH_ESTIMATION_TYPES}; got {self.depth_estimation_type!r}")
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError(f"need 0 < min_depth < max_depth; got min_depth={self.min_depth}, max_depth={self.max_depth}")

    @classmethod
    def tiny(cls, **overrides: Any) -> "DepthConfig":
        """A configuration small enough for fast CPU tests (same layers, far fewer channels)."""
        raise NotImplementedError(f"{cls.__name__} has no tiny configuration")

    def image_processor_kwargs(self) -> dict[str, Any]:
        """Arguments of the `DepthImageProcessor` this model is trained and evaluated with."""
        raise NotImplementedError(f"{type(self).__name__} must say how its images are pre-processed")


@strict
class BackboneDepthConfig(DepthConfig):
    r"""
    A `DepthConfig` whose encoder is a timm model (see `backbones.create_backbone_from_config`).

    backbone (`str`): timm name of the encoder. Required here; every model redeclares it with its own default.
    backbone_pretrained (`bool`, defaults to False): load timm's ImageNet weights (needs internet).
    backbone_weights (`str`, *optional*): a local weights file for the encoder (safetensors or a PyTorch state dict).
    backbone_kwargs (`dict`, defaults to {}): extra timm arguments.
    """

    backbone: str = field(kw_only=True)
    backbone_pretrained: bool = False
    backbone_weights: str | None = None
    backbone_kwargs: dict = field(default_factory=dict)


@strict
class FixedSizeBackboneDepthConfig(BackboneDepthConfig):
    r"""
    A `BackboneDepthConfig` whose images are resized to one (height, width) that the stride-32 encoder divides.

    image_size (`list[int]`, defaults to [480, 640]): (height, width) the image processor resizes to; both positive
        multiples of 32.
    """

    image_size: list[int] | tuple[int, ...] = (480, 640)

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if len(self.image_size) != 2 or any(side < 32 or side % 32 for side in self.image_size):
            raise ValueError(
                f"image_size must be (height, width), both positive multiples of 32; got {self.image_size}"
            )

    def image_processor_kwargs(self) -> dict[str, Any]:
        """Resize to exactly `image_size`, then normalise with ImageNet's mean and std (the timm encoders')."""
        height, width = self.image_size
        return {
            "size": {"height": height, "width": width},
            "keep_aspect_ratio": False,
            "ensure_multiple_of": 32,
            "do_normalize": True,
            "image_mean": list(IMAGENET_MEAN),
            "image_std": list(IMAGENET_STD),
        }


def _non_finite_fields(config: PreTrainedConfig) -> list[tuple[str, Any]]:
    """(name, value) of each field holding a NaN or infinite float, alone or in a list or tuple."""
    def finite(value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return all(finite(item) for item in value)
        return not isinstance(value, float) or math.isfinite(value)

    return [(f.name, getattr(config, f.name)) for f in fields(config) if not finite(getattr(config, f.name, None))]


def scales_depth_by_focal(config: Any) -> bool:
    """Whether the model multiplies its depth by focal / `config.reference_focal` when given each image's focal length
    in pixels (BTS's KITTI models, `focal_scaling`). Callers pass the focal at the network's input width."""
    return bool(getattr(config, "focal_scaling", False))
