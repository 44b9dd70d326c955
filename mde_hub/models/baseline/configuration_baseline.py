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
    image_size (`list[int]`, defaults to [256, 256]): (height, width) the image processor resizes to, as in every
        family (both multiples of 8; an int means a square, as configs saved before issue 16 hold).
    ssim_weight (`float`, defaults to 1.0) and l1_weight (`float`, defaults to 0.1): loss weights.
    """

    model_type = "mde_baseline"

    num_channels: int = 3
    encoder_channels: list[int] | tuple[int, ...] = (64, 128, 256)
    kernel_size: int = 4
    image_size: int | list[int] | tuple[int, ...] = (256, 256)
    ssim_weight: float = 1.0
    l1_weight: float = 0.1

    def __post_init__(self, **kwargs: Any) -> None:
        if isinstance(self.image_size, int):
            self.image_size = (self.image_size, self.image_size)
        super().__post_init__(**kwargs)

    def validate_architecture(self) -> None:
        super().validate_architecture()
        if len(self.image_size) != 2 or any(side < 8 or side % 8 for side in self.image_size):
            raise ValueError(f"image_size must be (height, width), both positive multiples of 8; got {self.image_size}")
        if len(self.encoder_channels) != 3:
            raise ValueError(f"the Baseline has exactly 3 encoder layers; got encoder_channels={self.encoder_channels}")

    @classmethod
    def tiny(cls, **overrides: Any) -> "BaselineConfig":
        return cls(**{"encoder_channels": [8, 16, 32], **overrides})

    def image_processor_kwargs(self) -> dict[str, Any]:
        height, width = self.image_size
        return {"size": {"height": height, "width": width}, "keep_aspect_ratio": False}
