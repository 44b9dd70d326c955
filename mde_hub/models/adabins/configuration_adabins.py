"""Configuration of AdaBins (depth estimation with adaptive bins)."""

from __future__ import annotations

from typing import Any, ClassVar

from huggingface_hub.dataclasses import strict

from ..configuration_utils import FixedSizeBackboneDepthConfig


@strict
class AdaBinsConfig(FixedSizeBackboneDepthConfig):
    r"""
    AdaBins (Bhat, Alhashim, Wonka, CVPR 2021, arXiv:2011.14141): an EfficientNet encoder, a U-Net decoder to
    H/2, and a mini-ViT that predicts per-image adaptive bin widths and per-pixel bin probabilities. Defaults equal
    the paper's NYU Depth v2 model (EfficientNet-B5 AdvProp, 256 bins, 1e-3 to 10 m); `AdaBinsConfig.kitti()` gives
    the KITTI setting.

    backbone (`str`, defaults to "tf_efficientnet_b5.ap_in1k"): timm EfficientNet name (B5 with AdvProp weights;
        the other backbone fields and `image_size`: see `FixedSizeBackboneDepthConfig`).
    encoder_taps (`list[str]`, defaults to ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "conv_head"]): encoder
        modules whose outputs feed the decoder, shallowest first (strides 2, 4, 8, 16, 32); the last is the
        bottleneck, the others are skip connections.
    decoder_features (`int`, defaults to 2048): `num_features` of the decoder; its four upsampling blocks output
        1/2, 1/4, 1/8 and 1/16 of it.
    num_decoded_channels (`int`, defaults to 128): channels of the decoded features at H/2 fed to the mini-ViT.
    patch_size (`int`, defaults to 16): patch size p of the mini-ViT's patch embedding (on the H/2 features).
    embedding_dim (`int`, defaults to 128): width E of the mini-ViT tokens and of the range-attention keys.
    num_attention_heads (`int`, defaults to 4), num_transformer_layers (`int`, defaults to 4),
    transformer_feedforward_dim (`int`, defaults to 1024), transformer_dropout (`float`, defaults to 0.1):
        the mini-ViT's `nn.TransformerEncoder` (post-norm, ReLU).
    max_tokens (`int`, defaults to 500): rows of the learned positional table; larger token grids are pooled.
    n_query_channels (`int`, defaults to 128): number of query tokens, i.e. of range-attention maps.
    regressor_hidden_dim (`int`, defaults to 256): hidden width of the MLP that maps token 0 to the bin widths.
    n_bins (`int`, defaults to 256): number of adaptive bins N.
    bin_width_eps (`float`, defaults to 0.1): added to relu(y) before normalising the bin widths (the code's 0.1;
        the paper writes 1e-3).
    upsample_align_corners (`bool`, defaults to True): the H/2 depth is bilinearly upsampled to the input size with
        `align_corners=True`, as the authors' `infer.py` and `evaluate.py` do; False gives half-pixel centres.
    clamp_output (`bool`, defaults to True): clip the H/2 depth to [min_depth, max_depth] before upsampling and
        replace NaN by min_depth, as `infer.py` does (`np.clip`, then its inf/NaN replacement); the loss sees the
        unclipped depth. Configs saved before this field existed (our first checkpoints) did not clip and keep not
        clipping when loaded.
    chamfer_weight (`float`, defaults to 0.1): weight of the bin-centre Chamfer loss.
    variance_focus (`float`, defaults to 0.85) and silog_scale (`float`, defaults to 10.0): the SILog loss
        `silog_scale * sqrt(mean g^2 - variance_focus * (mean g)^2)`.
    """

    model_type = "mde_adabins"
    saved_before_field: ClassVar[dict[str, Any]] = {"clamp_output": False}

    backbone: str = "tf_efficientnet_b5.ap_in1k"
    encoder_taps: list[str] | tuple[str, ...] = ("blocks.0", "blocks.1", "blocks.2", "blocks.4", "conv_head")
    decoder_features: int = 2048
    num_decoded_channels: int = 128
    patch_size: int = 16
    embedding_dim: int = 128
    num_attention_heads: int = 4
    num_transformer_layers: int = 4
    transformer_feedforward_dim: int = 1024
    transformer_dropout: float = 0.1
    max_tokens: int = 500
    n_query_channels: int = 128
    regressor_hidden_dim: int = 256
    n_bins: int = 256
    bin_width_eps: float = 0.1
    upsample_align_corners: bool = True
    clamp_output: bool = True
    chamfer_weight: float = 0.1
    variance_focus: float = 0.85
    silog_scale: float = 10.0

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if len(self.encoder_taps) != 5:
            raise ValueError(f"AdaBins taps 4 skip connections and a bottleneck (5 modules); got {self.encoder_taps}")
        if self.decoder_features < 16 or self.decoder_features % 16:
            raise ValueError(f"decoder_features must be a positive multiple of 16; got {self.decoder_features}")
        if self.embedding_dim % self.num_attention_heads:
            raise ValueError(
                f"embedding_dim ({self.embedding_dim}) must be divisible by num_attention_heads ({self.num_attention_heads})"
            )
        if min(self.num_decoded_channels, self.patch_size, self.n_query_channels, self.regressor_hidden_dim) < 1:
            raise ValueError("num_decoded_channels, patch_size, n_query_channels and regressor_hidden_dim must be >= 1")
        if self.n_bins < 2:
            raise ValueError(f"n_bins must be >= 2; got {self.n_bins}")
        if self.max_tokens < 1 + self.n_query_channels:
            raise ValueError(
                f"max_tokens ({self.max_tokens}) must hold the regression token and the {self.n_query_channels} queries"
            )
        if self.bin_width_eps <= 0:
            raise ValueError(f"bin_width_eps must be > 0 (it keeps every bin open); got {self.bin_width_eps}")

    @classmethod
    def tiny(cls, **overrides: Any) -> "AdaBinsConfig":
        """timm's minimal `test_efficientnet` (0.1 M parameters; taps blocks 0-3 and conv_head) and a narrow head.

        timm's EfficientNet-B0 family cannot be narrowed through `backbone_kwargs` (its constructors fix
        `channel_multiplier` and `depth_multiplier`), and B0 alone has 4 M parameters. Patch size 2 keeps 384 tokens
        at 64x96; 2 attention heads keep the CPU tests fast.
        """
        settings = {
            "backbone": "test_efficientnet",
            "encoder_taps": ["blocks.0", "blocks.1", "blocks.2", "blocks.3", "conv_head"],
            "decoder_features": 256,
            "num_decoded_channels": 16,
            "patch_size": 2,
            "embedding_dim": 16,
            "num_attention_heads": 2,
            "transformer_feedforward_dim": 32,
            "n_query_channels": 8,
            "regressor_hidden_dim": 32,
            "n_bins": 16,
        }
        return cls(**{**settings, **overrides})

    @classmethod
    def kitti(cls, **overrides: Any) -> "AdaBinsConfig":
        """The KITTI (Eigen split) setting: depth up to 80 m at the KB-cropped 352x1216 input."""
        return cls(**{"max_depth": 80.0, "image_size": [352, 1216], **overrides})
