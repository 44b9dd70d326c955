"""Configuration of DenseDepth (Alhashim & Wonka, arXiv:1812.11941)."""

from __future__ import annotations

from typing import Any, ClassVar

from huggingface_hub.dataclasses import strict

from ..configuration_utils import FixedSizeBackboneDepthConfig

OUTPUT_CLIPS = ("depth", "regressed")
UPSAMPLE_OUTPUT_BORDERS = ("reflect", "replicate")

KERAS_BATCH_NORM_EPS = 1.001e-5
"""The epsilon of every BatchNormalization in keras.applications' DenseNet (timm's and PyTorch's default: 1e-5)."""

FIELDS_BEFORE_RELEASED_GRAPH: dict[str, Any] = {
    "decoder_width_factor": 0.5,
    "leaky_relu_after_conv_a": True,
    "upsample_align_corners": False,
    "output_clip": "regressed",
    "encoder_batch_norm_eps": 1e-5,
    "upsample_output_border": "replicate",
}
"""The graph mde-hub built before its default became the released one (issue 17): the authors' later half-width
decoder with two LeakyReLUs per block and half-pixel up-sampling, y clipped before the division, timm's BN epsilon,
and the full-resolution depth up-sampled with repeated border pixels.
A saved config that lacks one of these fields was written then, and `from_dict` gives it this value, so checkpoints
saved before (e.g. checkpoints/densedepth-densenet121-k16-mix-scratch) keep their outputs."""


@strict
class DenseDepthConfig(FixedSizeBackboneDepthConfig):
    r"""
    DenseDepth: a DenseNet-169 encoder and a decoder of bilinear up-sampling blocks with skip connections, trained to
    regress `max_depth / depth` at half the input resolution. Defaults are the graph of the released Keras models
    `nyu.h5` and `kitti.h5` (the authors' first committed `model.py`), with NYU's depth range and input size;
    `kitti()` gives KITTI's.

    backbone (`str`, defaults to "densenet169"): timm DenseNet name of the encoder; `backbone_kwargs` may set e.g.
        `growth_rate` and `block_config` (the other backbone fields and `image_size`: see
        `FixedSizeBackboneDepthConfig`).
    decoder_width_factor (`float`, defaults to 1.0): width of the decoder's first conv (`conv2`) as a fraction of the
        encoder's output channels; the four up-sampling blocks halve it in turn. 1.0 is the released models (1664 ->
        832/416/208/104, the paper's 42.6 M parameters); 0.5 is the authors' later default (`is_halffeatures=True`,
        from 2019-03-14: 832 -> 416/208/104/52, 21.4 M).
    leaky_relu_after_conv_a (`bool`, defaults to False): whether each up-sampling block applies LeakyReLU(0.2) after
        its first 3x3 conv (`convA`) as well as after the second (`convB`). The released models have only the one
        after `convB`; the authors added the other on 2019-03-11.
    upsample_align_corners (`bool`, defaults to True): bilinear up-sampling with `align_corners=True`, as the
        released models' `tf.image.resize_images(..., align_corners=True)`; False is half-pixel centres, as
        `tf.image.resize` in the authors' code from 2020.
    output_clip (`str`, defaults to "depth"): how the regressed y becomes depth. "depth": clip(max_depth / y,
        min_depth, max_depth), the authors' `predict` (a negative y gives min_depth); "regressed": max_depth /
        clip(y, 1, max_depth / min_depth) (a non-positive y gives max_depth). They differ only where y <= 0.
    encoder_batch_norm_eps (`float`, defaults to 1.001e-5): epsilon of the encoder's batch norms, Keras DenseNet's
        (timm's own is 1e-5).
    upsample_output_border (`str`, defaults to "reflect"): how the half-resolution depth is up-sampled 2x (bilinear,
        half-pixel centres) to `predicted_depth` at the border. "reflect": mirrored about the border pixel, as
        skimage's `resize(order=1, mode="reflect")` in the authors' `evaluate` (`scale_up`); "replicate": the
        border pixel repeated, torch's bilinear resize. They differ only on the outermost row and column.
    min_depth (`float`, defaults to 0.1) and max_depth (`float`, defaults to 10.0): the depth range in metres. The
        network regresses `max_depth / depth`, in [1, max_depth / min_depth] (DenseDepth's DepthNorm with
        minDepth 10 cm, maxDepth 10 m: [1, 100]); predictions lie in [min_depth, max_depth].
    ssim_weight (`float`, defaults to 1.0), gradient_weight (`float`, defaults to 1.0), l1_weight (`float`, defaults
        to 0.1): weights of the loss terms.

    A saved config without one of the fields that choose the graph was written before these defaults, and loads with
    its old value (`FIELDS_BEFORE_RELEASED_GRAPH`).
    """

    model_type = "mde_densedepth"
    saved_before_field: ClassVar[dict[str, Any]] = FIELDS_BEFORE_RELEASED_GRAPH  # a saved config lacking them

    backbone: str = "densenet169"
    decoder_width_factor: float = 1.0
    leaky_relu_after_conv_a: bool = False
    upsample_align_corners: bool = True
    output_clip: str = "depth"
    encoder_batch_norm_eps: float = KERAS_BATCH_NORM_EPS
    upsample_output_border: str = "reflect"
    min_depth: float = 0.1
    max_depth: float = 10.0
    ssim_weight: float = 1.0
    gradient_weight: float = 1.0
    l1_weight: float = 0.1

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if self.decoder_width_factor <= 0:
            raise ValueError(f"decoder_width_factor must be positive; got {self.decoder_width_factor}")
        if self.output_clip not in OUTPUT_CLIPS:
            raise ValueError(f"output_clip must be one of {OUTPUT_CLIPS}; got {self.output_clip!r}")
        if self.encoder_batch_norm_eps <= 0:
            raise ValueError(f"encoder_batch_norm_eps must be positive; got {self.encoder_batch_norm_eps}")
        if self.upsample_output_border not in UPSAMPLE_OUTPUT_BORDERS:
            raise ValueError(
                f"upsample_output_border must be one of {UPSAMPLE_OUTPUT_BORDERS}; got {self.upsample_output_border!r}"
            )

    @classmethod
    def kitti(cls, **overrides: Any) -> "DenseDepthConfig":
        """The released `kitti.h5`: depth in [1, 80] m (y = 80 / depth) at 384x1248, as the authors answered in
        their repository's issues #69 and #12 (their code has no KITTI inference or evaluation)."""
        return cls(**{"min_depth": 1.0, "max_depth": 80.0, "image_size": (384, 1248), **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> "DenseDepthConfig":
        # DenseNet with growth rate 8 and two layers per dense block: 16/16/16/16/32 channels at the five taps.
        tiny_backbone = {"growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2}
        return cls(**{"backbone_kwargs": tiny_backbone, "decoder_width_factor": 2.0, **overrides})

    def image_processor_kwargs(self) -> dict[str, Any]:
        height, width = self.image_size
        return {"size": {"height": height, "width": width}, "keep_aspect_ratio": False, "do_normalize": False}
