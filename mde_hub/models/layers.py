"""Layers that more than one architecture uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class UpsampleConcatBlock(nn.Module):
    """Upsample to the skip connection's size, concatenate it, then two 3x3 convs with LeakyReLU.

    DenseDepth's up-projection (no norm, slope 0.2, bilinear; its released Keras models activate only after the
    second conv: `activate_first=False`) and AdaBins' `UpSampleBN` (BatchNorm after each conv, slope 0.01, bilinear
    with `align_corners=True`) are both this block. Without the first activation its place in `convs` holds an
    `nn.Identity`, so the weights keep their names.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        negative_slope: float,
        batch_norm: bool,
        align_corners: bool,
        activate_first: bool = True,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        layers: list[nn.Module] = []
        channels = in_channels + skip_channels
        for activate in (activate_first, True):
            layers.append(nn.Conv2d(channels, out_channels, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.LeakyReLU(negative_slope) if activate else nn.Identity())
            channels = out_channels
        self.convs = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        upsampled = F.interpolate(features, size=skip.shape[-2:], mode="bilinear", align_corners=self.align_corners)
        return self.convs(torch.cat([upsampled, skip], dim=1))
