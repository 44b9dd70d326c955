"""Configuration of BTS (From Big to Small: multi-scale local planar guidance)."""

from __future__ import annotations

from dataclasses import field
from typing import Any

from huggingface_hub.dataclasses import strict

from ...configuration_utils import DepthConfig
from ...image_processing_depth import IMAGENET_MEAN, IMAGENET_STD


@strict
class BtsConfig(DepthConfig):
    r"""
    BTS (Lee et al., arXiv:1907.10326): a DenseNet encoder, a decoder with dense ASPP and local planar guidance
    (LPG) layers at 1/8, 1/4 and 1/2 resolution, trained with the scale-invariant log loss. Defaults equal the
    paper's DenseNet-161 model on NYU Depth v2; `BtsConfig.kitti()` gives the KITTI setting.

    backbone (`str`, defaults to "densenet161"): timm DenseNet name (torchvision's DenseNet-161, as `.tv_in1k`).
    backbone_pretrained (`bool`, defaults to False): load timm's ImageNet weights (needs internet).
    backbone_weights (`str`, *optional*): local file with the encoder's weights (safetensors or .pth).
    backbone_kwargs (`dict`, defaults to {}): extra timm arguments (e.g. `growth_rate`, `block_config`, `bn_size`).
    bts_size (`int`, defaults to 512): decoder width `num_features`; the decoder uses /2, /4, /8, /16 and /32 of it.
    daspp_dilations (`list[int]`, defaults to [3, 6, 12, 18, 24]): dilations of the dense ASPP branches.
    loss_min_depth (`float`, defaults to 0.1): ground truth at or below this depth (metres) is left out of the
        loss (0.1 m for NYU, 1.0 m for KITTI).
    variance_focus (`float`, defaults to 0.85) and silog_scale (`float`, defaults to 10.0): the SILog loss
        `silog_scale * sqrt(mean g^2 - variance_focus * (mean g)^2)`.
    focal_scaling (`bool`, defaults to False): multiply the depth by `focal / 715.0873` when `forward` is given a
        per-image focal length in pixels (BTS's KITTI models only).
    image_size (`list[int]`, defaults to [480, 640]): (height, width) the image processor resizes to; both
        multiples of 32.
    """

    model_type = "mde_bts"

    backbone: str = "densenet161"
    backbone_pretrained: bool = False
    backbone_weights: str | None = None
    backbone_kwargs: dict = field(default_factory=dict)
    bts_size: int = 512
    daspp_dilations: list[int] | tuple[int, ...] = (3, 6, 12, 18, 24)
    loss_min_depth: float = 0.1
    variance_focus: float = 0.85
    silog_scale: float = 10.0
    focal_scaling: bool = False
    image_size: list[int] | tuple[int, ...] = (480, 640)

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if not self.backbone.startswith("densenet"):
            raise ValueError(f"BTS taps a timm DenseNet (norm0 ... norm5); got backbone={self.backbone!r}.")
        if self.bts_size < 32 or self.bts_size % 32:
            raise ValueError(f"bts_size must be a positive multiple of 32; got {self.bts_size}.")
        if not self.daspp_dilations or min(self.daspp_dilations) < 1:
            raise ValueError(f"daspp_dilations must be positive integers; got {self.daspp_dilations}.")
        if len(self.image_size) != 2 or any(side < 32 or side % 32 for side in self.image_size):
            raise ValueError(f"image_size must be (height, width), multiples of 32; got {self.image_size}.")
        if self.loss_min_depth < 0:
            raise ValueError(f"loss_min_depth must be >= 0; got {self.loss_min_depth}.")

    @classmethod
    def tiny(cls, **overrides: Any) -> "BtsConfig":
        backbone_kwargs = {"growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2}
        return cls(**{"backbone_kwargs": backbone_kwargs, "bts_size": 32, **overrides})

    @classmethod
    def kitti(cls, **overrides: Any) -> "BtsConfig":
        """The KITTI (Eigen split) setting: depth up to 80 m, loss on GT > 1 m, focal scaling, 352x1216 input."""
        settings = {"max_depth": 80.0, "loss_min_depth": 1.0, "focal_scaling": True, "image_size": [352, 1216]}
        return cls(**{**settings, **overrides})

    def image_processor_kwargs(self) -> dict[str, Any]:
        height, width = self.image_size
        return {
            "size": {"height": height, "width": width},
            "keep_aspect_ratio": False,
            "ensure_multiple_of": 32,
            "do_normalize": True,
            "image_mean": list(IMAGENET_MEAN),
            "image_std": list(IMAGENET_STD),
        }
