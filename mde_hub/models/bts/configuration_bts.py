"""Configuration of BTS (From Big to Small: multi-scale local planar guidance)."""

from __future__ import annotations

from typing import Any, ClassVar

from huggingface_hub.dataclasses import strict

from ..configuration_utils import FixedSizeBackboneDepthConfig

KITTI_REFERENCE_FOCAL = 715.0873  # BTS:pytorch/bts.py: depth * focal / 715.0873 for its KITTI models


@strict
class BtsConfig(FixedSizeBackboneDepthConfig):
    r"""
    BTS (Lee et al., arXiv:1907.10326): a DenseNet encoder, a decoder with dense ASPP and local planar guidance
    (LPG) layers at 1/8, 1/4 and 1/2 resolution, trained with the scale-invariant log loss. Defaults equal the
    paper's DenseNet-161 model on NYU Depth v2; `BtsConfig.kitti()` gives the KITTI setting.

    backbone (`str`, defaults to "densenet161"): timm DenseNet name (torchvision's DenseNet-161, as `.tv_in1k`);
        `backbone_kwargs` may set e.g. `growth_rate`, `block_config` and `bn_size` (the other backbone fields and
        `image_size`: see `FixedSizeBackboneDepthConfig`).
    bts_size (`int`, defaults to 512): decoder width `num_features`; the decoder uses /2, /4, /8, /16 and /32 of it.
    daspp_dilations (`list[int]`, defaults to [3, 6, 12, 18, 24]): dilations of the dense ASPP branches.
    daspp_inner_norm_eps (`float`, defaults to 1e-5): eps of the BatchNorm between each dense ASPP branch's 1x1 and
        dilated convs. The reference keeps PyTorch's default there (every other decoder BatchNorm has 1.1e-5); configs
        saved before this field existed (our first checkpoints) used 1.1e-5 and keep it when loaded.
    loss_min_depth (`float`, defaults to 0.1): ground truth at or below this depth (metres) is left out of the
        loss (0.1 m for NYU, 1.0 m for KITTI).
    variance_focus (`float`, defaults to 0.85) and silog_scale (`float`, defaults to 10.0): the SILog loss
        `silog_scale * sqrt(mean g^2 - variance_focus * (mean g)^2)`.
    focal_scaling (`bool`, defaults to False): multiply the depth by `focal / reference_focal` when `forward` is given
        a per-image focal length in pixels (BTS's KITTI models only). `DepthPredictor`, `evaluate`, training and the
        app pass each image's focal (its intrinsics' fx at the network's input size); without one, no scaling.
    reference_focal (`float`, defaults to 715.0873): the focal length in pixels at which focal scaling leaves the depth
        unchanged (BTS:pytorch/bts.py divides by 715.0873).
    """

    model_type = "mde_bts"
    saved_before_field: ClassVar[dict[str, Any]] = {"daspp_inner_norm_eps": 1.1e-5}

    backbone: str = "densenet161"
    bts_size: int = 512
    daspp_dilations: list[int] | tuple[int, ...] = (3, 6, 12, 18, 24)
    daspp_inner_norm_eps: float = 1e-5
    loss_min_depth: float = 0.1
    variance_focus: float = 0.85
    silog_scale: float = 10.0
    focal_scaling: bool = False
    reference_focal: float = KITTI_REFERENCE_FOCAL

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if not self.backbone.startswith("densenet"):
            raise ValueError(f"BTS taps a timm DenseNet (norm0 ... norm5); got backbone={self.backbone!r}")
        if self.bts_size < 32 or self.bts_size % 32:
            raise ValueError(f"bts_size must be a positive multiple of 32; got {self.bts_size}")
        if not self.daspp_dilations or min(self.daspp_dilations) < 1:
            raise ValueError(f"daspp_dilations must be positive integers; got {self.daspp_dilations}")
        if self.daspp_inner_norm_eps <= 0:
            raise ValueError(f"daspp_inner_norm_eps must be > 0; got {self.daspp_inner_norm_eps}")
        if self.loss_min_depth < 0:
            raise ValueError(f"loss_min_depth must be >= 0; got {self.loss_min_depth}")
        if self.reference_focal <= 0:
            raise ValueError(f"reference_focal must be a positive focal length in pixels; got {self.reference_focal}")

    @classmethod
    def tiny(cls, **overrides: Any) -> "BtsConfig":
        backbone_kwargs = {"growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2}
        return cls(**{"backbone_kwargs": backbone_kwargs, "bts_size": 32, **overrides})

    @classmethod
    def kitti(cls, **overrides: Any) -> "BtsConfig":
        """The KITTI (Eigen split) setting: depth up to 80 m, loss on GT > 1 m, focal scaling, 352x1216 input."""
        settings = {"max_depth": 80.0, "loss_min_depth": 1.0, "focal_scaling": True, "image_size": [352, 1216]}
        return cls(**{**settings, **overrides})
