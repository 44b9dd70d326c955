"""Configuration of DenseDepth (Alhashim & Wonka, arXiv:1812.11941)."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict

from ..configuration_utils import FixedSizeBackboneDepthConfig


@strict
class DenseDepthConfig(FixedSizeBackboneDepthConfig):
    r"""
    DenseDepth: a DenseNet-169 encoder and a decoder of bilinear up-sampling blocks with skip connections, trained to
    regress `max_depth / depth` at half the input resolution. Defaults equal the released Keras model on NYU Depth v2.

    backbone (`str`, defaults to "densenet169"): timm DenseNet name of the encoder; `backbone_kwargs` may set e.g.
        `growth_rate` and `block_config` (the other backbone fields and `image_size`: see
        `FixedSizeBackboneDepthConfig`).
    decoder_width_factor (`float`, defaults to 0.5): width of the decoder's first conv (`conv2`) as a fraction of the
        encoder's output channels; the four up-sampling blocks halve it in turn. 0.5 is the released Keras model
        (`is_halffeatures=True`: 1664 -> 832, then 416/208/104/52); 1.0 is the full-width decoder whose parameter count
        (42.7 M) matches the paper's 42.6 M.
    min_depth (`float`, defaults to 0.1) and max_depth (`float`, defaults to 10.0): the depth range in metres. The
        network regresses `max_depth / depth`, in [1, max_depth / min_depth] (DenseDepth's DepthNorm with
        minDepth 10 cm, maxDepth 10 m: [1, 100]); predictions are clipped to [min_depth, max_depth].
    ssim_weight (`float`, defaults to 1.0), gradient_weight (`float`, defaults to 1.0), l1_weight (`float`, defaults
        to 0.1): weights of the loss terms.
    """

    model_type = "mde_densedepth"

    backbone: str = "densenet169"
    decoder_width_factor: float = 0.5
    min_depth: float = 0.1
    max_depth: float = 10.0
    ssim_weight: float = 1.0
    gradient_weight: float = 1.0
    l1_weight: float = 0.1

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if self.decoder_width_factor <= 0:
            raise ValueError(f"decoder_width_factor must be positive; got {self.decoder_width_factor}.")

    @classmethod
    def tiny(cls, **overrides: Any) -> "DenseDepthConfig":
        # DenseNet with growth rate 8 and two layers per dense block: 16/16/16/16/32 channels at the five taps.
        tiny_backbone = {"growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2}
        return cls(**{"backbone_kwargs": tiny_backbone, "decoder_width_factor": 2.0, **overrides})

    def image_processor_kwargs(self) -> dict[str, Any]:
        height, width = self.image_size
        return {"size": {"height": height, "width": width}, "keep_aspect_ratio": False, "do_normalize": False}
