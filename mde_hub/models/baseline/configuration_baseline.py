"""Configuration of the Baseline encoder-decoder."""

from __future__ import annotations

from typing import Any

from huggingface_hub.dataclasses import strict

from ..configuration_utils import DepthConfig


@strict
class BaselineConfig(DepthConfig):
    r"""
    The seed slides' Baseline: 3 strided conv layers down, 3 transposed conv layers up, ReLU, 256x256 in and out,
    trained with SSIM + L1. Defaults equal the slide's model on NYU Depth v2 (depth in metres up to 10 m).

    num_channels (`int`, defaults to 3): input channels.
    encoder_channels (`list[int]`, defaults to [64, 128, 256]): widths of the three encoder convs; the decoder
        mirrors them back down to one channel.
    kernel_size (`int`, defaults to 4): kernel of every conv and transposed conv (stride 2, padding 1).
    image_size (`int`, defaults to 256): the square input size the image processor resizes to.
    ssim_weight (`float`, defaults to 1.0) and l1_weight (`float`, defaults to 0.1): loss weights.
    """

    model_type = "mde_baseline"

    num_channels: int = 3
    encoder_channels: list[int] | tuple[int, ...] = (64, 128, 256)
    kernel_size: int = 4
    image_size: int = 256
    ssim_weight: float = 1.0
    l1_weight: float = 0.1

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if len(self.encoder_channels) != 3:
            raise ValueError(f"The Baseline has exactly 3 encoder layers; got encoder_channels={self.encoder_channels}.")

    @classmethod
    def tiny(cls, **overrides: Any) -> "BaselineConfig":
        return cls(**{"encoder_channels": [8, 16, 32], **overrides})

    def image_processor_kwargs(self) -> dict[str, Any]:
        return {"size": {"height": self.image_size, "width": self.image_size}, "keep_aspect_ratio": False}
