"""AdaBins: S. F. Bhat, I. Alhashim, P. Wonka, "AdaBins: Depth Estimation using Adaptive Bins", CVPR 2021
(arXiv:2011.14141). Implemented from the paper and ../shared/docs/MODELS.md §4 (no reference code copied).

Architecture:

* encoder: a timm EfficientNet (B5 AdvProp, `tf_efficientnet_b5.ap_in1k`), tapped by module name at blocks.0 (/2),
  blocks.1 (/4), blocks.2 (/8), blocks.4 (/16) and conv_head (/32, before bn2/act). The tap channels and strides
  are read off the backbone, not hard-coded;
* decoder: a 1x1 conv on the bottleneck, four `UpsampleConcatBlock`s (bilinear, align_corners=True, to the skip's
  size; concat; 2 x [3x3 conv, BatchNorm, LeakyReLU(0.01)]) with widths F/2, F/4, F/8, F/16 (F = 2048), and a 3x3
  conv to the 128 decoded channels at H/2;
* mini-ViT: p x p patch embedding (p = 16) of the decoded features + a learned positional table, 4 post-norm
  transformer layers (E = 128, 4 heads, feed-forward 1024, dropout 0.1). Output token 0 -> MLP -> N bin widths;
  tokens 1..128 are queries whose dot products with a 3x3 conv of the decoded features give 128 range-attention
  maps at H/2;
* hybrid regression: a 1x1 conv (128 -> N) and a softmax over bins give per-pixel probabilities p_k; the widths,
  scaled to (max_depth - min_depth) and left-padded with min_depth, cumulate to N + 1 bin edges; the depth at H/2 is
  sum_k p_k c_k over the bin centres c_k, clipped to [min_depth, max_depth] (NaN -> min_depth), then bilinearly
  upsampled (align_corners=True) to the input size: the post-processing of the authors' `infer.py`
  (`config.clamp_output`, `config.upsample_align_corners`), whose horizontal-flip averaging is an evaluation option
  (`evaluate(..., flip_tta=True)`, `--flip-tta`), not part of the model.

Choices where the paper, the reference code and MODELS.md disagree, or where we had to decide:

* the output clip: the bin centres lie inside [min_depth, max_depth], so their probability-weighted mean does too and
  the clip only matters for rounding and non-finite values; configs saved before `clamp_output` existed (our first
  checkpoints) do not clip, as they did when they were saved. The loss always sees the unclipped depth, as in the
  reference's training.
* the authors' released models (`AdaBins_nyu.pt`, `AdaBins_kitti.pt`) convert exactly with
  `convert_checkpoint("adabins", path)` (`convert_adabins_from_release.py`, docs/CONVERSION.md): gen-efficientnet's
  `tf_efficientnet_b5_ap` and timm's `tf_efficientnet_b5.ap_in1k` have the same parameter names and graph (TF "same"
  padding, BN eps 1e-3), so only the decoder and mini-ViT names are mapped.

* bin widths ("linear" norm): relu(y) + eps, normalised to sum 1, with eps = 0.1 as in the code (the published
  numbers come from it); the paper writes eps = 1e-3. Configurable as `bin_width_eps`.
* the decoder's first 1x1 conv keeps the reference's padding = 1, which grows the bottleneck map by 2 pixels; it is
  harmless because every upsampling matches the skip's size, and keeps the weights compatible.
* "token 0" is the embedding of the first (top-left) patch, not a dedicated class token, as in the code.
* the positional table has `max_tokens` = 500 rows. The reference code fails when the (H/2p) x (W/2p) token grid
  has more tokens; here the decoded features fed to the patch embedding are area-averaged (adaptive average
  pooling) to the largest grid of the same aspect ratio with at most 500 tokens, and a warning is logged once per
  grid. Only the mini-ViT's input sampling changes (it yields global bin widths and the query vectors); the
  range-attention maps and the output keep the full resolution. 480x640 gives 15 x 20 = 300 tokens and 352x1216
  gives 11 x 38 = 418, so the paper's settings are never pooled. Inputs with fewer than 1 + n_query_channels
  (129) tokens cannot provide the queries and raise a ValueError naming the minimum input size (384x384 for a
  square input).
* inputs must be multiples of 32 (the encoder's stride and 2p); the reference accepts any size and silently
  truncates the patch grid.
* loss: SILog (variance focus 0.85, scale 10) on the H/2 prediction bilinearly upsampled (align_corners=True) to
  the labels' size, on GT > min_depth, + 0.1 x bidirectional bin-centre Chamfer against the valid GT depths
  (`losses.AdaBinsLoss`). The reference's SILog uses the unbiased variance (a factor N/(N-1) on it); ours is biased.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import DepthEstimatorOutput
from transformers.utils import logging

from ..backbones import FeatureTaps, create_backbone_from_config
from ..layers import UpsampleConcatBlock
from ..losses import AdaBinsLoss
from ..modeling_utils import DepthEstimationPreTrainedModel
from .configuration_adabins import AdaBinsConfig

logger = logging.get_logger(__name__)

DECODER_NEGATIVE_SLOPE = 0.01  # LeakyReLU of the decoder's upsampling blocks


@dataclass
class AdaBinsDepthEstimatorOutput(DepthEstimatorOutput):
    r"""
    `DepthEstimatorOutput` plus the adaptive bins of each image.

    loss (`torch.Tensor` of shape `()`, *optional*, returned when `labels` is provided):
        SILog + chamfer_weight x bin-centre Chamfer.
    predicted_depth (`torch.Tensor` of shape `(batch_size, height, width)`):
        Depth in metres at the input resolution, within [min_depth, max_depth].
    hidden_states (`tuple(torch.Tensor)`, *optional*, returned when `output_hidden_states=True`):
        The five encoder taps (shallowest first) and the decoded features at H/2.
    bin_edges (`torch.Tensor` of shape `(batch_size, n_bins + 1)`):
        Increasing bin edges in metres, from min_depth to max_depth.
    bin_centers (`torch.Tensor` of shape `(batch_size, n_bins)`):
        Midpoints of consecutive bin edges, in metres.
    """

    bin_edges: torch.Tensor | None = None
    bin_centers: torch.Tensor | None = None


def adaptive_bin_edges(normalized_widths: torch.Tensor, min_depth: float, max_depth: float) -> torch.Tensor:
    """(batch, N) widths summing to 1 -> (batch, N + 1) edges from min_depth to max_depth (cumulative sum)."""
    widths = F.pad((max_depth - min_depth) * normalized_widths, (1, 0), value=min_depth)
    return torch.cumsum(widths, dim=1)


def hybrid_regression(probabilities: torch.Tensor, bin_centers: torch.Tensor) -> torch.Tensor:
    """Depth = sum_k p_k c_k: (batch, N, h, w) probabilities and (batch, N) centres -> (batch, h, w)."""
    return torch.einsum("bkhw,bk->bhw", probabilities, bin_centers)


def pooled_token_grid(grid_height: int, grid_width: int, max_tokens: int) -> tuple[int, int]:
    """The token grid itself if it has at most `max_tokens` tokens, else the largest one of its aspect ratio that does."""
    if grid_height * grid_width <= max_tokens:
        return grid_height, grid_width
    scale = math.sqrt(max_tokens / (grid_height * grid_width))
    height = max(1, math.floor(grid_height * scale))
    return height, max(1, min(math.floor(grid_width * scale), max_tokens // height))


class Decoder(nn.Module):
    """The U-Net decoder (`DecoderBN`): bottleneck 1x1 conv, four upsample-concat blocks, 3x3 conv; output at H/2."""

    def __init__(self, tap_channels: list[int], features: int, out_channels: int) -> None:
        super().__init__()
        *skip_channels, bottleneck_channels = tap_channels
        # padding=1 on a 1x1 conv grows the map by 2 px (reference quirk, kept for weight compatibility).
        self.conv2 = nn.Conv2d(bottleneck_channels, features, kernel_size=1, padding=1)
        widths = [features // 2**k for k in range(5)]
        self.up_blocks = nn.ModuleList(
            UpsampleConcatBlock(
                widths[k], skip, widths[k + 1], negative_slope=DECODER_NEGATIVE_SLOPE, batch_norm=True, align_corners=True
            )
            for k, skip in enumerate(reversed(skip_channels))
        )
        self.conv3 = nn.Conv2d(widths[-1], out_channels, kernel_size=3, padding=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        *skips, bottleneck = features
        hidden = self.conv2(bottleneck)
        for block, skip in zip(self.up_blocks, reversed(skips)):
            hidden = block(hidden, skip)
        return self.conv3(hidden)


class PatchTransformerEncoder(nn.Module):
    """p x p patch embedding + learned positional table + transformer encoder; returns (batch, tokens, E)."""

    def __init__(self, config: AdaBinsConfig) -> None:
        super().__init__()
        self.patch_size = config.patch_size
        self.embedding_conv = nn.Conv2d(
            config.num_decoded_channels, config.embedding_dim, kernel_size=config.patch_size, stride=config.patch_size
        )
        self.positional_encodings = nn.Parameter(torch.empty(config.max_tokens, config.embedding_dim))
        layer = nn.TransformerEncoderLayer(
            config.embedding_dim,
            config.num_attention_heads,
            dim_feedforward=config.transformer_feedforward_dim,
            dropout=config.transformer_dropout,
            batch_first=True,
        )
        self.transformer_encoder = nn.TransformerEncoder(
            layer, num_layers=config.num_transformer_layers, enable_nested_tensor=False
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        grid = (features.shape[-2] // p, features.shape[-1] // p)
        pooled = pooled_token_grid(*grid, self.positional_encodings.shape[0])
        if pooled != grid:
            logger.warning_once(
                f"AdaBins: the {grid[0]}x{grid[1]} token grid exceeds the {self.positional_encodings.shape[0]}-row "
                f"positional table; the mini-ViT's input is average-pooled to {pooled[0]}x{pooled[1]} tokens."
            )
            features = F.adaptive_avg_pool2d(features, (pooled[0] * p, pooled[1] * p))
        embeddings = self.embedding_conv(features).flatten(2).transpose(1, 2)
        embeddings = embeddings + self.positional_encodings[: embeddings.shape[1]]
        return self.transformer_encoder(embeddings)


class MiniViT(nn.Module):
    """The mini-ViT (`mViT`): global bin widths from output token 0, range-attention maps from the query tokens."""

    def __init__(self, config: AdaBinsConfig) -> None:
        super().__init__()
        self.n_query_channels = config.n_query_channels
        self.bin_width_eps = config.bin_width_eps
        self.patch_transformer = PatchTransformerEncoder(config)
        self.conv3x3 = nn.Conv2d(config.num_decoded_channels, config.embedding_dim, kernel_size=3, padding=1)
        hidden = config.regressor_hidden_dim
        self.regressor = nn.Sequential(
            nn.Linear(config.embedding_dim, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(),
            nn.Linear(hidden, config.n_bins),
        )

    def forward(self, decoded: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns the normalised bin widths (batch, N) and the range-attention maps (batch, n_query, h, w)."""
        tokens = self.patch_transformer(decoded)
        queries = tokens[:, 1 : 1 + self.n_query_channels]
        range_attention_maps = torch.einsum("bchw,bqc->bqhw", self.conv3x3(decoded), queries)
        widths = torch.relu(self.regressor(tokens[:, 0])) + self.bin_width_eps
        return widths / widths.sum(dim=1, keepdim=True), range_attention_maps


class AdaBinsForDepthEstimation(DepthEstimationPreTrainedModel):
    """AdaBins; `predicted_depth` is metric depth in [min_depth, max_depth] at the input resolution.

    The network predicts depth at H/2 (the decoder's resolution) as the probability-weighted mean of N adaptive bin
    centres; it is bilinearly upsampled (align_corners=True) to the input size. The per-image bins are returned as
    `bin_edges` and `bin_centers`. Inputs must have sides that are multiples of 32 and give the mini-ViT at least
    1 + n_query_channels tokens ((H/2p) x (W/2p) >= 129 in the paper's setting, e.g. 384x384); grids of more than
    `max_tokens` (500) tokens are average-pooled before the patch embedding, with a warning (see the module
    docstring).
    """

    config_class = AdaBinsConfig

    def __init__(self, config: AdaBinsConfig) -> None:
        super().__init__(config)
        backbone = create_backbone_from_config(config)
        missing = [name for name in ("conv_stem", "bn1", "blocks", "conv_head") if not hasattr(backbone, name)]
        if missing:
            raise ValueError(f"AdaBins needs a timm EfficientNet backbone; {config.backbone!r} lacks {missing}")
        stages = ["conv_stem", "bn1", *(f"blocks.{i}" for i in range(len(backbone.blocks))), "conv_head"]
        self.encoder = FeatureTaps(backbone, stages, config.encoder_taps)
        self.decoder = Decoder(self.encoder.channels, config.decoder_features, config.num_decoded_channels)
        self.mini_vit = MiniViT(config)
        self.conv_out = nn.Conv2d(config.n_query_channels, config.n_bins, kernel_size=1)
        self.loss_fn = AdaBinsLoss(
            config.chamfer_weight, config.variance_focus, config.silog_scale, min_depth=config.min_depth
        )
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.MultiheadAttention):
            module._reset_parameters()  # PyTorch's scheme: xavier in-projection, zero biases
        elif isinstance(module, PatchTransformerEncoder):
            init.uniform_(module.positional_encodings, 0.0, 1.0)  # torch.rand, as the reference

    def check_input_size(self, pixel_values: torch.Tensor) -> tuple[int, int]:
        """The input's (height, width); a ValueError unless it fits the strides and gives the mini-ViT enough tokens."""
        decoder_stride, patch = self.encoder.strides[0], self.config.patch_size
        multiple = math.lcm(max(self.encoder.strides), decoder_stride * patch)
        height, width = self.check_input_multiple(pixel_values, multiple)
        grid = (height // (decoder_stride * patch), width // (decoder_stride * patch))
        tokens = math.prod(pooled_token_grid(*grid, self.config.max_tokens))
        needed = 1 + self.config.n_query_channels
        if tokens < needed:
            side = math.ceil(math.ceil(math.sqrt(needed)) * decoder_stride * patch / multiple) * multiple
            raise ValueError(
                f"AdaBins' mini-ViT needs at least {needed} tokens (1 for the bin widths + {needed - 1} queries), but a "
                f"{height}x{width} input gives (H/{decoder_stride * patch}) x (W/{decoder_stride * patch}) = "
                f"{grid[0]}x{grid[1]} = {tokens}; the minimum input size is {side}x{side} for a square image, or any "
                f"size with (H/{decoder_stride * patch}) x (W/{decoder_stride * patch}) >= {needed}"
            )
        return height, width

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> AdaBinsDepthEstimatorOutput | tuple:
        height, width = self.check_input_size(pixel_values)
        features = self.encoder(pixel_values)
        decoded = self.decoder(features)
        normalized_widths, range_attention_maps = self.mini_vit(decoded)
        probabilities = torch.softmax(self.conv_out(range_attention_maps), dim=1)
        bin_edges = adaptive_bin_edges(normalized_widths, self.config.min_depth, self.config.max_depth)
        bin_centers = 0.5 * (bin_edges[:, :-1] + bin_edges[:, 1:])
        depth = hybrid_regression(probabilities, bin_centers)  # at H/2
        output_depth = self._clamp(depth) if self.config.clamp_output else depth
        predicted_depth = self._upsample(output_depth, (height, width))

        loss = None
        if labels is not None:
            labels = self.prepare_labels(labels, predicted_depth)
            loss = self.loss_fn(self._upsample(depth, tuple(labels.shape[-2:])), labels, bin_centers)

        output = AdaBinsDepthEstimatorOutput(
            loss=loss,
            predicted_depth=predicted_depth,
            hidden_states=(*features, decoded) if self.wants_hidden_states(output_hidden_states) else None,
            bin_edges=bin_edges,
            bin_centers=bin_centers,
        )
        return self.format_output(output, return_dict)

    def _clamp(self, depth: torch.Tensor) -> torch.Tensor:
        """infer.py's post-processing: NaN -> min_depth, everything else clipped to [min_depth, max_depth]."""
        depth = torch.where(torch.isnan(depth), torch.full_like(depth, self.config.min_depth), depth)
        return depth.clamp(self.config.min_depth, self.config.max_depth)

    def _upsample(self, depth: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bilinear (align_corners from the config, True as the reference), (batch, h, w) -> (batch, *size)."""
        align_corners = self.config.upsample_align_corners
        return F.interpolate(depth[:, None], size=size, mode="bilinear", align_corners=align_corners)[:, 0]
