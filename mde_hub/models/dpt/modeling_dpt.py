"""DPT: Ranftl, Bochkovskiy, Koltun, "Vision Transformers for Dense Prediction", ICCV 2021 (arXiv:2103.13413).

Transformer encoder -> Reassemble (Read, Concatenate, Resample) at 1/4, 1/8, 1/16, 1/32 -> four RefineNet-style
Fusion blocks (1/32 -> 1/2) -> Head (conv, bilinear x2, conv, ReLU, conv, ReLU). The head's output, at the input
resolution, is a non-negative inverse depth (disparity): with `depth_estimation_type="relative"` it is returned as
`predicted_depth` unchanged (scale- and shift-ambiguous, bigger = nearer); with "metric" it is mapped to metres by
the fixed affine map of the fine-tuned checkpoints, depth = 1 / max(metric_scale * out + metric_shift, 1e-8), at the
network's resolution, as `DPTDepthModel.forward` does (`run_monodepth.py` then interpolates the depth bicubically to
the image size: the image processor's post-processing). Not clipped to [min_depth, max_depth] unless `clip_depth`.
No upsampling is needed: the head already predicts at the input resolution.

Choices where the paper, the reference code (isl-org/DPT) and ../shared/docs/MODELS.md differ or are silent:

* Hooks are the code's 0-indexed blocks: DPT-Large taps [5, 11, 17, 23] (the paper's "{5, 12, 18, 24}" would make
  the first tap block 4); DPT-Hybrid taps ResNet stages 0 and 1 and ViT blocks 8 and 11.
* Position embeddings are resized bilinearly (align_corners=False, no antialiasing) to the token grid of any input
  whose sides are multiples of 32, as DPT's `_resize_pos_embed`; timm's own `dynamic_img_size` would resize them
  bicubically with antialiasing, so the ViT is run block by block here rather than through timm's forward (nor
  through `FeatureTaps`, which cannot express the embedding step between the patch projection and the blocks).
* The deepest fusion block has no skip input, so it has no skip Residual Conv Unit (the reference code builds one and
  never uses it; transformers' checkpoints carry its weights, which the converter drops).
* The ViT's final LayerNorm is kept (part of the timm model) but unused, as in the reference code.
* Each fusion block applies its 1x1 projection before, not after, its x2 bilinear upsampling (the two commute, see
  `FeatureFusionBlock`): the same outputs up to float rounding, with the projection at a quarter of the pixels.
* Loss "ssi" (MiDaS pre-training): `ScaleAndShiftInvariantLoss` (median / mean-absolute-deviation alignment, 20 %
  trimmed MAE, gradient matching at 4 scales, alpha 0.5) between the raw output and 1 / labels.
  Loss "silog" (NYU/KITTI fine-tuning, which the paper describes as "the loss of Eigen et al." plus gradient matching,
  disabled on KITTI): `silog_loss` on the metric depth with lambda 0.5 (Eigen et al.) and scale 10 (BTS's
  convention), plus `gradient_matching_weight` (0.5, MiDaS's alpha) x MiDaS's gradient-matching term on the aligned
  disparities. The fine-tuning constants are not in the paper's main text: lambda, scale and weight are [unverified].
* Labels are valid where finite and > `min_depth`; both losses are computed at the input resolution.
* Input resolution follows DPT:run_monodepth.py per checkpoint, not the 384x384 of pre-training: the NYU model sees
  480x640 (NYU frames unchanged) and the KITTI model the 352x1216 KB crop (`DptConfig.inference_size`); the
  MiDaS-trained relative models 384 on the short side ("minimal" resize, aspect kept, multiples of 32).
* The hybrid's ResNet standardises its conv weights as timm 0.4.5 (isl-org/DPT's pinned version, the released
  weights' own graph): (w - mean) / (std + 1e-5). timm's current hybrid and transformers' BiT use
  (w - mean) / sqrt(var + 1e-8), a slightly different function (`hybrid_weight_standardization`).
* Defaults are the released graphs as `run_monodepth.py` runs them: metric depth is not clipped (`clip_depth=False`;
  the KITTI model's reaches 172.7 m); the image is resized by OpenCV's INTER_CUBIC exactly (float32-rounded source
  positions, float64 sums; torch's bicubic differs by up to 4e-5 on non-integer scales) and the prediction by bicubic
  `F.interpolate`, neither antialiased nor clamped (`reference_resizing=True`). Configs saved before these fields
  existed load with the earlier behaviour (clipped; torch's bicubic, antialiased when shrinking, clamped at 0; timm's
  current weight standardisation). `run_monodepth.py`'s x256 (KITTI) and x1000 (NYU) before writing 16-bit PNGs are
  that file encoding, not part of the depth.
* Released weights (isl-org/DPT's `.pt` files) convert with `convert_dpt_isl.convert_dpt_isl_checkpoint`; their
  ImageNet classifier head (`pretrained.model.head`) and the deepest fusion block's skip unit, never run, are dropped.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import LayerNorm, StdConv2dSame, resample_abs_pos_embed
from timm.layers.hybrid_embed import HybridEmbed
from timm.layers.padding import pad_same
from torch import nn
from transformers.modeling_outputs import DepthEstimatorOutput

from ..backbones import create_backbone_from_config
from ..depth_meaning import MIN_INVERSE_DEPTH
from ..losses import DptLoss
from ..modeling_utils import DepthEstimationPreTrainedModel
from .configuration_dpt import DptConfig

TOKEN_STRIDE = 16  # pixels per token side; the four reassembled levels are then at 1/4, 1/8, 1/16, 1/32
RESAMPLE_FACTORS = (4, 2, 1, 0.5)  # Resample_s: ConvTranspose 4x4/4, ConvTranspose 2x2/2, identity, Conv 3x3/2
STD_PLUS_EPS = 1e-5  # timm 0.4.5's StdConv2dSame epsilon, added to the standard deviation


class CachedStdConv2dSame(StdConv2dSame):
    """timm's weight-standardised "same" conv, (w - mean) / sqrt(var + eps), whose standardised weight is computed
    once and reused while no gradient is recorded and the stored weight is unchanged (same tensor, device, dtype and
    version counter): inference skips re-standardising the ResNet's weights at every forward. The parameter stays
    stored unstandardised, so state dicts and training are unaffected; the cache costs one copy of the weights."""

    def standardised_weight(self) -> torch.Tensor:
        return F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=self.eps
        ).reshape_as(self.weight)

    def _forward_weight(self) -> torch.Tensor:
        weight = self.weight
        if (torch.is_grad_enabled() and weight.requires_grad) or weight.is_inference():
            return self.standardised_weight()
        key = (weight.data_ptr(), weight.device, weight.dtype, weight._version, self.eps)
        cached = self.__dict__.get("_standardised_cache")
        if cached is None or cached[0] != key:
            cached = (key, self.standardised_weight())
            self.__dict__["_standardised_cache"] = cached
        return cached[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad:
            x = pad_same(x, self.kernel_size, self.stride, self.dilation)
        return F.conv2d(x, self._forward_weight(), self.bias, self.stride, self.padding, self.dilation, self.groups)


class StdPlusEpsConv2dSame(CachedStdConv2dSame):
    """timm 0.4.5's weight-standardised "same" conv, which isl-org/DPT pins: (w - mean) / (std + 1e-5), the standard
    deviation biased. timm's current `StdConv2dSame` (and transformers' BiT) divide by sqrt(var + 1e-8) instead,
    which moves the hybrid's outputs by about 5e-4 of their range (measured on random weights)."""

    def standardised_weight(self) -> torch.Tensor:
        std, mean = torch.std_mean(self.weight, dim=(1, 2, 3), keepdim=True, unbiased=False)
        return (self.weight - mean) / (std + self.eps)


def use_cached_standardisation(resnet: nn.Module, std_plus_eps: bool) -> None:
    """Give every weight-standardised conv of `resnet` the inference cache, dividing by std + 1e-5 (timm 0.4.5) if
    `std_plus_eps`, else as timm's current conv (parameters and names unchanged)."""
    for module in resnet.modules():
        if type(module) is StdConv2dSame:
            module.__class__ = StdPlusEpsConv2dSame if std_plus_eps else CachedStdConv2dSame
            if std_plus_eps:
                module.eps = STD_PLUS_EPS


class Encoder(nn.Module):
    """The transformer encoder: (hybrid: ResNet-50 stages ->) patch embedding -> [CLS] + position embedding -> blocks.

    Returns the four hooked activations (ResNet maps (B, C, h, w) for a hybrid's first two, tokens (B, 1 + h*w, D)
    otherwise) and the token grid (h, w) = (H / 16, W / 16).
    """

    def __init__(self, config: DptConfig) -> None:
        super().__init__()
        self.backbone = create_backbone_from_config(
            config, img_size=config.position_embedding_size, norm_layer=partial(LayerNorm, eps=config.layer_norm_eps)
        )
        patch_embed = self.backbone.patch_embed
        self.is_hybrid = isinstance(patch_embed, HybridEmbed)
        if self.is_hybrid != config.is_hybrid:
            raise ValueError(f"config.is_hybrid={config.is_hybrid}, but timm's {config.backbone!r} has it {self.is_hybrid}")
        stride = tuple(patch_embed.patch_size)
        if self.is_hybrid:
            stride = tuple(ratio * size for ratio, size in zip(patch_embed.feature_ratio, patch_embed.patch_size))
        if stride != (TOKEN_STRIDE, TOKEN_STRIDE):
            raise ValueError(f"DPT needs tokens of {TOKEN_STRIDE}x{TOKEN_STRIDE} pixels; {config.backbone!r}: {stride}")
        if self.backbone.num_prefix_tokens != 1 or not self.backbone.has_class_token or self.backbone.no_embed_class:
            raise ValueError(f"DPT needs a ViT with one class token that has a position embedding, unlike {config.backbone!r}")
        if not isinstance(getattr(patch_embed, "norm", nn.Identity()), nn.Identity):
            raise ValueError(f"DPT expects a patch embedding without normalisation; {config.backbone!r} has one")
        hooks = list(config.backbone_out_indices)
        self.stage_hooks = hooks[:2] if self.is_hybrid else []
        self.block_hooks = hooks[2:] if self.is_hybrid else hooks
        if self.block_hooks[-1] >= len(self.backbone.blocks):
            raise ValueError(f"hook {self.block_hooks[-1]} is past the last of {len(self.backbone.blocks)} ViT blocks")
        self.embed_dim = self.backbone.embed_dim
        self.stage_channels: list[int] = []
        if self.is_hybrid:
            use_cached_standardisation(
                patch_embed.backbone, config.hybrid_weight_standardization == "std_plus_eps"
            )
            resnet_info = patch_embed.backbone.feature_info
            stages = [info["num_chs"] for info in resnet_info if info["module"].startswith("stages.")]
            self.stage_channels = [stages[index] for index in self.stage_hooks]

    def position_embeddings(self, grid: tuple[int, int]) -> torch.Tensor:
        """The [CLS] + grid position embeddings, bilinearly resized to `grid` (DPT's `_resize_pos_embed`)."""
        return resample_abs_pos_embed(
            self.backbone.pos_embed,
            new_size=grid,
            old_size=self.backbone.patch_embed.grid_size,
            num_prefix_tokens=1,
            interpolation="bilinear",
            antialias=False,
        )

    def forward(self, pixel_values: torch.Tensor) -> tuple[list[torch.Tensor], tuple[int, int]]:
        vit = self.backbone
        hooked: list[torch.Tensor] = []
        # Channels-last: oneDNN/cuDNN run the convolutions without reordering to and from NCHW at each one (the
        # values are the same up to float rounding; DPT-Hybrid at 384x384 on a 2-core CPU: about 3 % faster).
        features = pixel_values.contiguous(memory_format=torch.channels_last)
        if self.is_hybrid:
            resnet = vit.patch_embed.backbone
            features = resnet.stem(features)
            for index, stage in enumerate(resnet.stages):
                features = stage(features)
                if index in self.stage_hooks:
                    hooked.append(features)
            features = resnet.norm(features)
        features = vit.patch_embed.proj(features)
        grid = (features.shape[-2], features.shape[-1])
        tokens = features.flatten(2).transpose(1, 2)
        tokens = torch.cat([vit.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = vit.norm_pre(vit.pos_drop(tokens + self.position_embeddings(grid)))
        for index, block in enumerate(vit.blocks[: self.block_hooks[-1] + 1]):
            tokens = block(tokens)
            if index in self.block_hooks:
                hooked.append(tokens)
        return hooked, grid


class ReadoutIgnore(nn.Module):
    """Read: drop the class token."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, 1:]


class ReadoutAdd(nn.Module):
    """Read: add the class token to every other token."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, 1:] + tokens[:, :1]


class ReadoutProject(nn.Module):
    """Read: concatenate the class token to every other token, then Linear(2D -> D) and GELU."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.projection = nn.Linear(2 * embed_dim, embed_dim)
        self.activation = nn.GELU()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        patches = tokens[:, 1:]
        readout = tokens[:, :1].expand_as(patches)
        return self.activation(self.projection(torch.cat([patches, readout], dim=-1)))


READOUTS: dict[str, type[nn.Module]] = {"ignore": ReadoutIgnore, "add": ReadoutAdd, "project": ReadoutProject}


class ReassembleLayer(nn.Module):
    """Reassemble_s for tokens: Read, Concatenate (tokens to the h x w grid), Resample (1x1 conv, then resize)."""

    def __init__(self, readout_type: str, embed_dim: int, width: int, factor: float) -> None:
        super().__init__()
        self.readout = READOUTS[readout_type](embed_dim)
        self.projection = nn.Conv2d(embed_dim, width, kernel_size=1)
        if factor > 1:
            self.resample = nn.ConvTranspose2d(width, width, kernel_size=int(factor), stride=int(factor))
        elif factor == 1:
            self.resample = nn.Identity()
        else:
            self.resample = nn.Conv2d(width, width, kernel_size=3, stride=int(1 / factor), padding=1)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        patches = self.readout(tokens)
        # (B, h*w, D) tokens seen as a (B, D, h, w) map without a copy: a channels-last view, so the neck's
        # convolutions and resizes run channels-last too.
        image = patches.reshape(patches.shape[0], *grid, patches.shape[2]).permute(0, 3, 1, 2)
        return self.resample(self.projection(image))


class ReassembleStage(nn.Module):
    """The four Reassemble layers (a hybrid's two ResNet maps pass through as they are: `layers` holds only the
    token levels), each level followed by a 3x3 conv without bias to the fusion width."""

    def __init__(self, config: DptConfig, embed_dim: int, stage_channels: list[int]) -> None:
        super().__init__()
        if stage_channels and list(config.reassemble_widths[: len(stage_channels)]) != stage_channels:
            raise ValueError(
                f"a hybrid's first reassemble_widths are its ResNet stage widths {stage_channels}; "
                f"got {list(config.reassemble_widths)}"
            )
        self.cnn_levels = len(stage_channels)
        self.layers = nn.ModuleList(
            ReassembleLayer(config.readout_type, embed_dim, width, RESAMPLE_FACTORS[level])
            for level, width in enumerate(config.reassemble_widths)
            if level >= self.cnn_levels
        )
        self.projections = nn.ModuleList(
            nn.Conv2d(width, config.fusion_features, kernel_size=3, padding=1, bias=False)
            for width in config.reassemble_widths
        )

    def forward(self, hooked: list[torch.Tensor], grid: tuple[int, int]) -> list[torch.Tensor]:
        maps = hooked[: self.cnn_levels] + [
            layer(tokens, grid) for layer, tokens in zip(self.layers, hooked[self.cnn_levels :])
        ]
        return [projection(feature) for projection, feature in zip(self.projections, maps)]


class ResidualConvUnit(nn.Module):
    """ReLU -> conv 3x3 -> ReLU -> conv 3x3, plus the input (no batch norm)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features + self.conv2(F.relu(self.conv1(F.relu(features))))


class FeatureFusionBlock(nn.Module):
    """RefineNet-style fusion: [+ RCU(skip)] -> RCU -> bilinear x2 (align_corners=True) -> 1x1 conv.

    The 1x1 conv runs before the upsampling: a per-pixel affine map commutes with bilinear interpolation (whose
    weights sum to 1), so the output is the reference order's up to float rounding, for a quarter of the work.
    """

    def __init__(self, features: int, has_skip: bool) -> None:
        super().__init__()
        self.skip_unit = ResidualConvUnit(features) if has_skip else None
        self.residual_unit = ResidualConvUnit(features)
        self.projection = nn.Conv2d(features, features, kernel_size=1)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if self.skip_unit is not None:
            path = path + self.skip_unit(skip)
        path = self.residual_unit(path)
        return F.interpolate(self.projection(path), scale_factor=2, mode="bilinear", align_corners=True)


class FusionStage(nn.Module):
    """Four fusion blocks along the path 1/32 -> 1/16 -> 1/8 -> 1/4 -> 1/2 (blocks[0] is the deepest)."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(FeatureFusionBlock(features, has_skip=index > 0) for index in range(4))

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        deepest, *skips = reversed(features)
        path = self.blocks[0](deepest)
        for block, skip in zip(self.blocks[1:], skips):
            path = block(path, skip)
        return path


class DepthHead(nn.Module):
    """Conv 3x3 (F -> F/2) -> bilinear x2 (align_corners=True) -> conv 3x3 (-> 32) -> ReLU -> conv 1x1 (-> 1) -> ReLU."""

    def __init__(self, features: int, head_features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features // 2, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(features // 2, head_features, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(head_features, 1, kernel_size=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = F.interpolate(self.conv1(features), scale_factor=2, mode="bilinear", align_corners=True)
        return F.relu(self.conv3(F.relu(self.conv2(features))))[:, 0]


class DptForDepthEstimation(DepthEstimationPreTrainedModel):
    """DPT with its monocular depth head.

    `predicted_depth` (batch, height, width), at the input resolution:
    * `depth_estimation_type="metric"`: depth in metres, 1 / (metric_scale * out + metric_shift) (in
      [min_depth, max_depth] with `clip_depth`);
    * `depth_estimation_type="relative"`: NOT DEPTH. The raw relative INVERSE depth (disparity): non-negative, bigger
      = nearer, defined only up to an unknown scale and shift. Align it to ground truth (in disparity) before use.

    Input sides must be multiples of 32 (mean = std = 0.5 normalisation).
    """

    config_class = DptConfig

    def __init__(self, config: DptConfig) -> None:
        super().__init__(config)
        self.encoder = Encoder(config)
        self.reassemble = ReassembleStage(config, self.encoder.embed_dim, self.encoder.stage_channels)
        self.fusion = FusionStage(config.fusion_features)
        self.head = DepthHead(config.fusion_features, config.head_features)
        self.loss_fn = DptLoss(
            config.loss_type,
            config.gradient_matching_weight,
            config.gradient_matching_scales,
            config.trim_ratio,
            config.silog_variance_focus,
            config.silog_scale,
            min_depth=config.min_depth,
        )
        self.post_init()

    def disparity_to_depth(self, disparity: torch.Tensor) -> torch.Tensor:
        """Metric depth from the raw output: 1 / (s * out + t), denominator clamped at 1e-8 (clipped to the depth range
        with `clip_depth`)."""
        config = self.config
        inverse_depth = (config.metric_scale * disparity + config.metric_shift).clamp(min=MIN_INVERSE_DEPTH)
        depth = inverse_depth.reciprocal()
        return depth.clamp(config.min_depth, config.max_depth) if config.clip_depth else depth

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DepthEstimatorOutput | tuple:
        self.check_input_multiple(pixel_values, 32)
        hooked, grid = self.encoder(pixel_values)
        disparity = self.head(self.fusion(self.reassemble(hooked, grid)))
        metric = self.config.depth_estimation_type == "metric"
        predicted_depth = self.disparity_to_depth(disparity) if metric else disparity

        loss = None
        if labels is not None:
            labels = self.prepare_labels(labels, disparity)
            size = tuple(labels.shape[-2:])
            disparity, predicted = self.resize_prediction(disparity, size), self.resize_prediction(predicted_depth, size)
            loss = self.loss_fn(disparity, predicted, labels)

        output = DepthEstimatorOutput(
            loss=loss,
            predicted_depth=predicted_depth,
            hidden_states=tuple(hooked) if self.wants_hidden_states(output_hidden_states) else None,
        )
        return self.format_output(output, return_dict)
