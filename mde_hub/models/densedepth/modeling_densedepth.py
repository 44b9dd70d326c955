"""DenseDepth: I. Alhashim and P. Wonka, "High Quality Monocular Depth Estimation via Transfer Learning",
arXiv:1812.11941 (2018).

The default graph is the one of the authors' released Keras models `nyu.h5` and `kitti.h5` (published 2019-01-01,
built by the first committed `model.py` of ialhashim/DenseDepth, 2019-01-03; `convert_densedepth_keras` converts
them, docs/CONVERSION.md records the check against the authors' code). Their later code is reachable through config
fields (`DenseDepthConfig`):

* encoder: timm `densenet169`, tapped after the stem's BN+ReLU (`features.norm0`, Keras `conv1/relu`, /2), the
  stem max-pool (`pool0`, Keras `pool1`, /4), the first two transitions after their average pool (`transition1`,
  Keras `pool2_pool`, /8; `transition2`, `pool3_pool`, /16) and the final BN+ReLU (`norm5`, Keras `relu`, /32).
  timm's `features_only` taps (before the transitions) are not these, so the taps are named modules of `features`
  (`DenseNetFeatureTaps`, shared with BTS). Tap widths are measured when the model is built, so the tiny test
  DenseNet shares this code path. Its batch norms use Keras DenseNet's epsilon 1.001e-5 (`encoder_batch_norm_eps`).
* decoder: `conv2` 1x1 to `decode_filters = int(C * decoder_width_factor)` channels (C = 1664 for DenseNet-169;
  factor 1.0 in the released models), then four up-sampling blocks `up1..up4` of decode_filters/2, /4, /8, /16
  channels with skips transition2, transition1, pool0, norm0 (each: bilinear x2 to the skip's size, concatenation,
  3x3 conv `convA`, 3x3 conv `convB`, LeakyReLU 0.2; `leaky_relu_after_conv_a` adds one after `convA`), then
  `conv3` 3x3 to one channel with no activation. The native output is H/2 x W/2.
* DepthNorm: the network regresses y = max_depth / depth (10 / depth_m on NYU, in [1, 100]; 80 / depth_m on KITTI,
  in [1, 80]); the depth is clamp(max_depth / y, min_depth, max_depth), the authors' `predict` (`output_clip =
  "depth"`), then up-sampled 2x bilinearly (half-pixel centres, mirrored at the border) for `predicted_depth`.
* loss (at half resolution, on y): 1.0 x clip((1 - SSIM) / 2, 0, 1) with value range max_depth / min_depth = 100
  (DD's `maxDepthVal = 1000 / 10`), + 1.0 x edge term (forward-difference gradients) + 0.1 x L1
  (`losses.DenseDepthLoss`).
* input: RGB / 255 with no mean/std normalisation; 480x640 on NYU, 384x1248 on KITTI (`DenseDepthConfig.kitti()`).
  Height and width must be multiples of 32.

Choices where the paper, the reference code and MODELS.md disagree, or where we had to choose:

* which graph: the released weights came from the first `model.py`: full-width decoder (`is_halffeatures=False`,
  1664 -> 832/416/208/104: 42.7 M parameters, the paper's 42.6 M), one LeakyReLU per up-block after `convB`, and
  `BilinearUpSampling2D` = `tf.image.resize_images(..., align_corners=True)`; the authors' own PyTorch port
  (`PyTorch/model.py`, loaded from `nyu.h5` by `PyTorch/load_weight_from_keras.py`) has the same graph. The authors
  added the LeakyReLU after `convA` on 2019-03-11, made the half-width decoder the default on 2019-03-14 (21.4 M)
  and moved to half-pixel `tf.image.resize` in 2020; no published weights came from those. mde-hub's DenseDepth
  followed that later graph before issue 17 (`FIELDS_BEFORE_RELEASED_GRAPH`: half width, both LeakyReLUs,
  `upsample_align_corners=False`, y clipped to [1, 100] before the division, timm's BN epsilon 1e-5); saved configs
  without the new fields load with those values, so e.g. checkpoints/densedepth-densenet121-k16-mix-scratch keeps
  its outputs.
* output mapping: the authors' predict divides first and clips the depth, so a negative y gives the near limit
  (0.1 m on NYU) and y = +0 the far one. Clipping y first (`output_clip="regressed"`) gives the far limit for every
  non-positive y; both agree wherever y > 0.
* KITTI: the repository has no KITTI code; the authors answered that `kitti.h5` takes 384x1248 inputs (issue #12)
  and maps y with minDepth 1 m, maxDepth 80 m (issue #69, the same day their `predict` started to use maxDepth).
* full-resolution depth: the authors' `evaluate` up-samples the half-resolution depth with skimage's `resize`
  (order 1, mode "reflect", i.e. mirrored about the border pixels; its anti-aliasing does nothing when enlarging).
  `predicted_depth` does the same (`upsample2x_reflect`: one mirrored pixel of padding, torch's half-pixel bilinear
  resize, the padding's share cropped), where torch's resize alone would repeat the border pixels and differ on the
  outermost row and column. Checkpoints saved before keep that (`upsample_output_border="replicate"`).
* ground truth to half resolution: DD DepthNorms the metric map, then shrinks it with skimage's anti-aliased
  `resize`. We DepthNorm the valid pixels (depth clipped to [min_depth, max_depth], as DD's data loaders clip, so
  the target lies in [1, 100]), then take a masked 2x2 average: the mean of the valid pixels of each 2x2 cell, a
  cell without a valid pixel staying invalid. This stands in for the anti-aliased resize and is safe for sparse
  ground truth (KITTI), where blurring zeros into valid pixels would corrupt the target. Labels must have the
  input's (even) size.
* invalid labels (0, negative, NaN, inf) are masked out of every loss term; DD's dense NYU maps have none.
* the edge term averages over valid forward-difference pairs (H-1 rows, W-1 columns), where
  `tf.image.image_gradients` zero-pads and averages over H x W (see `losses.gradient_loss`).
* weights of the decoder start from PyTorch's default (Kaiming-uniform) scheme, not Keras' Glorot-uniform with zero
  biases; the encoder keeps timm's initialisation or its ImageNet weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_outputs import DepthEstimatorOutput

from ..backbones import DenseNetFeatureTaps
from ..layers import UpsampleConcatBlock
from ..losses import DenseDepthLoss, valid_depth_mask
from ..modeling_utils import DepthEstimationPreTrainedModel
from .configuration_densedepth import DenseDepthConfig

ENCODER_STRIDE = 32


def masked_average_pool2x2(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Halve (batch, H, W) maps by averaging the valid pixels of each 2x2 cell.

    Returns the pooled values (0 where a cell has no valid pixel) and the pooled mask (a cell is valid when at least
    one of its pixels is). Invalid pixels may hold anything, NaN included: they are never read.
    """
    weights = mask.to(values.dtype)[:, None]
    total = F.avg_pool2d(torch.where(mask, values, 0)[:, None], 2)
    count = F.avg_pool2d(weights, 2)
    pooled_mask = count > 0
    return torch.where(pooled_mask, total / count.clamp_min(1e-12), 0)[:, 0], pooled_mask[:, 0]


def upsample2x_reflect(depth: torch.Tensor) -> torch.Tensor:
    """Up-sample (batch, h, w) maps 2x bilinearly with half-pixel centres, mirroring about the border pixels
    (skimage's `resize(order=1, mode="reflect")`; torch's own resize repeats them). Output pixel i reads input
    coordinate (i + 0.5) / 2 - 0.5, so after one pixel of mirrored padding the resize to (2h + 4, 2w + 4) puts the
    output at the same coordinates two pixels in: exact for the factor 2."""
    height, width = depth.shape[-2:]
    padded = F.pad(depth[:, None], (1, 1, 1, 1), mode="reflect")
    upsampled = F.interpolate(padded, size=(2 * height + 4, 2 * width + 4), mode="bilinear", align_corners=False)
    return upsampled[:, 0, 2:-2, 2:-2]


class Decoder(nn.Module):
    """`conv2` (1x1), four up-sampling blocks `up1..up4` fed by the skips, and `conv3` (3x3 to one channel)."""

    def __init__(self, encoder_channels: list[int], config: DenseDepthConfig) -> None:
        super().__init__()
        *skip_channels, bottleneck_channels = encoder_channels
        decode_filters = int(bottleneck_channels * config.decoder_width_factor)
        self.conv2 = nn.Conv2d(bottleneck_channels, decode_filters, kernel_size=1)
        widths = [decode_filters // 2**level for level in range(5)]
        self.upsample_blocks = nn.ModuleList(
            UpsampleConcatBlock(
                c_in,
                c_skip,
                c_out,
                negative_slope=0.2,
                batch_norm=False,
                align_corners=config.upsample_align_corners,
                activate_first=config.leaky_relu_after_conv_a,
            )
            for c_in, c_skip, c_out in zip(widths[:-1], reversed(skip_channels), widths[1:])
        )
        self.conv3 = nn.Conv2d(widths[-1], 1, kernel_size=3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Encoder taps (fine to coarse) -> (batch, 1, H/2, W/2) regressed y, and each decoder stage's output."""
        *skips, bottleneck = features
        hidden = self.conv2(bottleneck)
        stages = [hidden]
        for block, skip in zip(self.upsample_blocks, reversed(skips)):
            hidden = block(hidden, skip)
            stages.append(hidden)
        return self.conv3(hidden), stages


class DenseDepthForDepthEstimation(DepthEstimationPreTrainedModel):
    config_class = DenseDepthConfig

    def __init__(self, config: DenseDepthConfig) -> None:
        super().__init__(config)
        self.encoder = DenseNetFeatureTaps(config)
        for module in self.encoder.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eps = config.encoder_batch_norm_eps
        self.decoder = Decoder(self.encoder.channels, config)
        self.loss_fn = DenseDepthLoss(
            config.ssim_weight,
            config.gradient_weight,
            config.l1_weight,
            value_range=self.depth_norm_range,
        )
        self.post_init()

    @property
    def depth_norm_range(self) -> float:
        """Largest DepthNorm value, max_depth / min_depth (100 on NYU); the smallest is 1."""
        return self.config.max_depth / self.config.min_depth

    def depth_norm(self, depth: torch.Tensor) -> torch.Tensor:
        """Metric depth -> the regressed y = max_depth / depth, with depth clipped to [min_depth, max_depth]."""
        return self.config.max_depth / depth.clamp(self.config.min_depth, self.config.max_depth)

    def inverse_depth_norm(self, y: torch.Tensor) -> torch.Tensor:
        """Regressed y -> metric depth in [min_depth, max_depth]: clamp(max_depth / y, min_depth, max_depth) (the
        authors' `predict`, `output_clip="depth"`) or max_depth / clamp(y, 1, max_depth / min_depth) ("regressed")."""
        if self.config.output_clip == "depth":
            return (self.config.max_depth / y).clamp(self.config.min_depth, self.config.max_depth)
        return self.config.max_depth / y.clamp(1.0, self.depth_norm_range)

    def prepare_targets(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Full-resolution metric labels -> half-resolution DepthNorm targets and their validity mask."""
        valid = valid_depth_mask(labels)
        return masked_average_pool2x2(self.depth_norm(torch.where(valid, labels, self.config.max_depth)), valid)

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DepthEstimatorOutput | tuple:
        height, width = self.check_input_multiple(pixel_values, ENCODER_STRIDE)
        features = self.encoder(pixel_values)
        regressed, decoder_states = self.decoder(features)
        regressed = regressed[:, 0]
        depth = self.inverse_depth_norm(regressed)
        if self.config.upsample_output_border == "reflect":
            predicted_depth = upsample2x_reflect(depth)
        else:
            predicted_depth = self.resize_prediction(depth, (height, width))

        loss = None
        if labels is not None:
            labels = self.prepare_labels(labels, predicted_depth)
            if tuple(labels.shape[-2:]) != (height, width):
                raise ValueError(f"labels must have the input's size {height}x{width}; got {tuple(labels.shape[-2:])}")
            target, mask = self.prepare_targets(labels)
            loss = self.loss_fn(regressed, target, mask)

        output = DepthEstimatorOutput(
            loss=loss,
            predicted_depth=predicted_depth,
            hidden_states=(*features, *decoder_states) if self.wants_hidden_states(output_hidden_states) else None,
        )
        return self.format_output(output, return_dict)
