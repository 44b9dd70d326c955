"""Configuration of DPT (Ranftl, Bochkovskiy, Koltun, "Vision Transformers for Dense Prediction", ICCV 2021)."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

from huggingface_hub.dataclasses import strict

from ..configuration_utils import BackboneDepthConfig

READOUT_TYPES = ("ignore", "add", "project")
# What a saved config that lacks these fields did: process at the position embeddings' size, clip metric depth,
# antialias and clamp when resizing, standardise the hybrid's conv weights as timm's current version.
EARLIER_BEHAVIOUR = {
    "inference_size": None,
    "clip_depth": True,
    "reference_resizing": False,
    "hybrid_weight_standardization": "sqrt_var_plus_eps",
}
RENAMED_FIELDS = {"image_size": "position_embedding_size"}
"""Old field name -> new one. `image_size` is the processor's size in the other families; DPT's processor size is
`inference_size`. A saved config with the old name loads under the new one; the old keyword in code still works for
one release, with a FutureWarning."""
WEIGHT_STANDARDIZATIONS = ("std_plus_eps", "sqrt_var_plus_eps")
LOSS_TYPES = ("ssi", "silog")

# Inverse-depth constants of the released fine-tuned checkpoints (DPT:run_monodepth.py): depth = 1 / (s * out + t).
NYU_METRIC_SCALE, NYU_METRIC_SHIFT = 0.000305, 0.1378
KITTI_METRIC_SCALE, KITTI_METRIC_SHIFT = 0.00006016, 0.00579


@strict
class DptConfig(BackboneDepthConfig):
    r"""
    DPT: a Vision Transformer (optionally on a ResNet-50 stem, "hybrid") whose tokens from four blocks are reassembled
    into image-like maps at 1/4, 1/8, 1/16 and 1/32 of the input and fused by RefineNet-style blocks into a dense
    prediction at the input resolution. The network's raw output is a non-negative INVERSE depth (disparity).

    Defaults equal DPT-Hybrid fine-tuned on NYU Depth v2 (`dpt_hybrid_nyu`), run as the authors' `run_monodepth.py`
    runs it. `DptConfig.hybrid()` (the NYU model), `.kitti()` (the KITTI fine-tune), `.hybrid_midas()` and `.large()`
    (the two MiDaS-trained relative models) are the four graphs isl-org/DPT released; `.base()` is the paper's
    DPT-Base (no released weights). Keyword overrides apply on top.

    backbone (`str`, defaults to "vit_base_r50_s16_384"): timm ViT name (`vit_large_patch16_384` for DPT-Large,
        `vit_base_patch16_384` for DPT-Base). Its tokens must cover 16x16 pixels. `backbone_kwargs` may set e.g.
        `embed_dim`, `depth` and `num_heads` (the other backbone fields: see `BackboneDepthConfig`).
    position_embedding_size (`int`, defaults to 384): the square image size the ViT's position embeddings were
        trained at (`image_size` before; transformers' `DPTConfig.image_size`). Other input sizes (multiples of 32)
        work: the embeddings are resized bilinearly.
    inference_size (`list[int]`, defaults to [480, 640]): (height, width) the image processor resizes towards, keeping
        the aspect ratio ("minimal" resize, multiples of 32). The reference (DPT:run_monodepth.py) runs
        `dpt_hybrid_nyu` at 480x640 (NYU frames unchanged) and `dpt_hybrid_kitti` at 352x1216 (the KB crop unchanged);
        `None` means position_embedding_size squared, as for the MiDaS-trained relative models (384x384), and for configs saved
        before this field existed.
    is_hybrid (`bool`, defaults to True): the backbone is a ResNet-50 + ViT hybrid; its first two reassembled levels are
        then the raw ResNet stage outputs.
    backbone_out_indices (`list[int]`, defaults to [0, 1, 8, 11]): 0-indexed hooks. Hybrid: two ResNet stages, then two
        ViT blocks; otherwise four ViT blocks ([5, 11, 17, 23] for DPT-Large, [2, 5, 8, 11] for DPT-Base).
    hybrid_weight_standardization (`str`, defaults to "std_plus_eps"): how the hybrid's ResNet standardises its conv
        weights. "std_plus_eps": (w - mean) / (std + 1e-5), timm 0.4.5's, which isl-org/DPT pins and its released
        weights run with. "sqrt_var_plus_eps": (w - mean) / sqrt(var + 1e-8), timm's current one and transformers'
        BiT (what `dpt-transformers` conversions reproduce, and what a saved config without this field loads with).
    layer_norm_eps (`float`, defaults to 1e-6): epsilon of the ViT's LayerNorms (timm's; transformers' DPT uses 1e-12).
    readout_type (`str`, defaults to "project"): how the class token enters the other tokens: "ignore" (dropped),
        "add" (added to each), "project" (concatenated to each, then Linear(2D -> D) + GELU).
    reassemble_widths (`list[int]`, defaults to [256, 512, 768, 768]): channels of the four reassembled maps
        ([256, 512, 1024, 1024] for DPT-Large, [96, 192, 384, 768] for DPT-Base). Hybrid: the first two are the ResNet
        stages' widths.
    fusion_features (`int`, defaults to 256): channels of the fusion blocks.
    head_features (`int`, defaults to 32): channels of the head's last 3x3 conv.
    depth_estimation_type (`str`, defaults to "metric"):
        "metric": `predicted_depth` is depth in metres, 1 / (metric_scale * out + metric_shift) (denominator clamped at
        1e-8), clipped to [min_depth, max_depth] only with `clip_depth`.
        "relative": `predicted_depth` IS NOT DEPTH: it is the raw, non-negative relative INVERSE depth (disparity, bigger
        = nearer), defined only up to an unknown scale and shift, as output by the MiDaS-trained DPT models.
    metric_scale (`float`, defaults to 0.000305) and metric_shift (`float`, defaults to 0.1378): the fixed affine map
        from the network's disparity to metric inverse depth (NYU; KITTI: 0.00006016 and 0.00579). With NYU's
        constants the largest depth the model can express is 1 / 0.1378 = 7.26 m.
    clip_depth (`bool`, defaults to False): clip the metric depth to [min_depth, max_depth]. The released models do
        not (`DPTDepthModel.forward`): the NYU model's depth stays below 1 / 0.1378 = 7.26 m by construction, the KITTI
        model's reaches 1 / 0.00579 = 172.7 m (evaluation protocols clip predictions themselves). A saved config without
        this field (written before it existed) loads with True, its earlier behaviour.
    reference_resizing (`bool`, defaults to True): the image processor resizes as `run_monodepth.py` does: the image
        by OpenCV's `INTER_CUBIC` exactly (`resample="opencv_bicubic"`, in float64), the prediction by bicubic
        `F.interpolate`, neither antialiased nor clamped. False: torch's bicubic for both, antialiased when shrinking
        and clamped at 0 (mde-hub's earlier processing; what a saved config without this field loads with).
    loss_type (`str`, defaults to "silog" for metric and "ssi" for relative models):
        "ssi": MiDaS's scale- and shift-invariant trimmed MAE + gradient matching on disparity (pre-training loss):
        the raw output against 1 / labels, both aligned by median and mean absolute deviation per image.
        "silog": fine-tuning loss: scale-invariant log loss on metric depth + gradient matching (MiDaS's term on the
        aligned disparities) weighted by `gradient_matching_weight`. Needs a metric model.
    gradient_matching_weight (`float`, defaults to 0.5): weight of the gradient-matching term (MiDaS alpha = 0.5;
        0 for KITTI, whose ground truth is sparse).
    gradient_matching_scales (`int`, defaults to 4) and trim_ratio (`float`, defaults to 0.2): MiDaS's 4 scales and
        20 % trimmed residuals.
    silog_variance_focus (`float`, defaults to 0.5) and silog_scale (`float`, defaults to 10.0): the SILog lambda
        (Eigen et al.'s 0.5) and scale of `losses.silog_loss` [unverified: the fine-tuning constants are not in the
        paper's main text].
    min_depth (`float`, defaults to 1e-3) and max_depth (`float`, defaults to 10.0): the depth range in metres
        (80 m for KITTI); labels at or below `min_depth` are invalid.
    """

    model_type = "mde_dpt"
    saved_before_field: ClassVar[dict[str, Any]] = EARLIER_BEHAVIOUR  # a saved config lacking them
    relative_output = "inverse_depth"  # a relative DPT returns its raw disparity (`mde_hub.models.depth_meaning`)

    backbone: str = "vit_base_r50_s16_384"
    position_embedding_size: int = 384
    inference_size: list[int] | tuple[int, ...] | None = (480, 640)
    is_hybrid: bool = True
    hybrid_weight_standardization: str = "std_plus_eps"
    backbone_out_indices: list[int] | tuple[int, ...] = (0, 1, 8, 11)
    layer_norm_eps: float = 1e-6
    readout_type: str = "project"
    reassemble_widths: list[int] | tuple[int, ...] = (256, 512, 768, 768)
    fusion_features: int = 256
    head_features: int = 32
    metric_scale: float = NYU_METRIC_SCALE
    metric_shift: float = NYU_METRIC_SHIFT
    clip_depth: bool = False
    reference_resizing: bool = True
    loss_type: str | None = None
    gradient_matching_weight: float = 0.5
    gradient_matching_scales: int = 4
    trim_ratio: float = 0.2
    silog_variance_focus: float = 0.5
    silog_scale: float = 10.0

    @classmethod
    def from_dict(cls, config_dict: dict[str, Any], **kwargs: Any) -> "DptConfig":
        renamed = {RENAMED_FIELDS.get(key, key): value for key, value in config_dict.items()}
        return super().from_dict(renamed, **kwargs)

    def __post_init__(self, **kwargs: Any) -> None:
        for old, new in RENAMED_FIELDS.items():
            if old in kwargs:
                warnings.warn(f"DptConfig({old}=...) is deprecated; use {new}=...", FutureWarning, stacklevel=3)
                setattr(self, new, kwargs.pop(old))
        if self.loss_type is None:
            self.loss_type = "silog" if self.depth_estimation_type == "metric" else "ssi"
        super().__post_init__(**kwargs)

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if len(self.backbone_out_indices) != 4 or len(self.reassemble_widths) != 4:
            raise ValueError(
                "DPT reassembles exactly four levels: backbone_out_indices and reassemble_widths need 4 entries; got "
                f"{self.backbone_out_indices} and {self.reassemble_widths}"
            )
        if any(index < 0 for index in self.backbone_out_indices):
            raise ValueError(f"backbone_out_indices must be non-negative; got {self.backbone_out_indices}")
        block_hooks = self.backbone_out_indices[2:] if self.is_hybrid else self.backbone_out_indices
        if list(block_hooks) != sorted(set(block_hooks)):
            raise ValueError(f"the ViT block hooks must be strictly increasing; got {self.backbone_out_indices}")
        if self.is_hybrid and not 0 <= self.backbone_out_indices[0] < self.backbone_out_indices[1] <= 2:
            raise ValueError(f"hybrid hooks start with two increasing ResNet stages in 0..2; got {self.backbone_out_indices}")
        if self.hybrid_weight_standardization not in WEIGHT_STANDARDIZATIONS:
            raise ValueError(
                f"hybrid_weight_standardization must be one of {WEIGHT_STANDARDIZATIONS}; "
                f"got {self.hybrid_weight_standardization!r}"
            )
        if self.readout_type not in READOUT_TYPES:
            raise ValueError(f"readout_type must be one of {READOUT_TYPES}; got {self.readout_type!r}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"loss_type must be one of {LOSS_TYPES}; got {self.loss_type!r}")
        if self.loss_type == "silog" and self.depth_estimation_type != "metric":
            raise ValueError('loss_type="silog" compares metric depths; a relative model trains with loss_type="ssi"')
        if self.metric_scale <= 0 or self.metric_shift < 0:
            raise ValueError(f"need metric_scale > 0 and metric_shift >= 0; got {self.metric_scale}, {self.metric_shift}")
        if self.position_embedding_size <= 0 or self.position_embedding_size % 32:
            raise ValueError(
                f"position_embedding_size must be a positive multiple of 32; got {self.position_embedding_size}"
            )
        if self.inference_size is not None and (
            len(self.inference_size) != 2 or any(side <= 0 or side % 32 for side in self.inference_size)
        ):
            raise ValueError(f"inference_size must be (height, width), positive multiples of 32; got {self.inference_size}")
        if self.gradient_matching_weight < 0 or not 0 <= self.trim_ratio < 1:
            raise ValueError("need gradient_matching_weight >= 0 and 0 <= trim_ratio < 1")

    @classmethod
    def hybrid(cls, **overrides: Any) -> "DptConfig":
        """DPT-Hybrid fine-tuned on NYU Depth v2 (the defaults): metric depth up to 10 m, SILog + gradient matching."""
        return cls(**overrides)

    @classmethod
    def kitti(cls, **overrides: Any) -> "DptConfig":
        """DPT-Hybrid fine-tuned on KITTI: KITTI's inverse-depth constants, 80 m, no gradient matching (sparse GT),
        run at the 352x1216 KB crop."""
        kitti = {
            "inference_size": (352, 1216),
            "metric_scale": KITTI_METRIC_SCALE,
            "metric_shift": KITTI_METRIC_SHIFT,
            "max_depth": 80.0,
            "gradient_matching_weight": 0.0,
        }
        return cls(**{**kitti, **overrides})

    @classmethod
    def hybrid_midas(cls, **overrides: Any) -> "DptConfig":
        """DPT-Hybrid as released after MiDaS training (`dpt_hybrid-midas`): relative inverse depth, run at 384
        ("minimal" resize)."""
        return cls(**{"depth_estimation_type": "relative", "inference_size": None, **overrides})

    @classmethod
    def large(cls, **overrides: Any) -> "DptConfig":
        """DPT-Large (ViT-L/16, hooks 5/11/17/23), relative inverse depth as released (MiDaS training)."""
        large = {
            "backbone": "vit_large_patch16_384",
            "is_hybrid": False,
            "backbone_out_indices": (5, 11, 17, 23),
            "reassemble_widths": (256, 512, 1024, 1024),
            "depth_estimation_type": "relative",
            "inference_size": None,
        }
        return cls(**{**large, **overrides})

    @classmethod
    def base(cls, **overrides: Any) -> "DptConfig":
        """DPT-Base (ViT-B/16, hooks 2/5/8/11), relative inverse depth."""
        base = {
            "backbone": "vit_base_patch16_384",
            "is_hybrid": False,
            "backbone_out_indices": (2, 5, 8, 11),
            "reassemble_widths": (96, 192, 384, 768),
            "depth_estimation_type": "relative",
            "inference_size": None,
        }
        return cls(**{**base, **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> "DptConfig":
        # A 4-block ViT with 32-d tokens on 64x64 position embeddings; the model has about 0.1 M parameters.
        tiny = {
            "backbone": "vit_tiny_patch16_384",
            "backbone_kwargs": {"embed_dim": 32, "depth": 4, "num_heads": 2, "mlp_ratio": 2.0},
            "position_embedding_size": 64,
            "inference_size": None,
            "is_hybrid": False,
            "backbone_out_indices": (0, 1, 2, 3),
            "reassemble_widths": (8, 16, 32, 32),
            "fusion_features": 16,
            "head_features": 8,
        }
        return cls(**{**tiny, **overrides})

    def image_processor_kwargs(self) -> dict[str, Any]:
        # run_monodepth.py: MiDaS's "minimal" resize (keep the aspect ratio, scale as little as possible towards the
        # inference size, round each side to a multiple of 32) with cv2.INTER_CUBIC, mean = std = 0.5; the prediction
        # goes back to the image size by bicubic F.interpolate (after the metric map, which the model applies).
        height, width = self.inference_size or (self.position_embedding_size, self.position_embedding_size)
        return {
            "size": {"height": height, "width": width},
            "keep_aspect_ratio": True,
            "ensure_multiple_of": 32,
            "resample": "opencv_bicubic" if self.reference_resizing else "bicubic",
            "image_mean": (0.5, 0.5, 0.5),
            "image_std": (0.5, 0.5, 0.5),
            "depth_resample": "bicubic",
            "antialias": not self.reference_resizing,
            "clamp_bicubic": not self.reference_resizing,
        }
