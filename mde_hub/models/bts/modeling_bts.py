"""BTS: Jin Han Lee, Myung-Kyu Han, Dong Wook Ko, Il Hong Suh, "From Big to Small: Multi-Scale Local Planar
Guidance for Monocular Depth Estimation", arXiv:1907.10326 (2019).

Written from the paper and ../shared/docs/MODELS.md §5 (a description of the reference PyTorch code); no code is
copied from the GPL-3.0 reference repository.

Architecture (`bts_size` = `num_features` = 512 by default, `c0..c4` = encoder tap widths):

* encoder (`DenseNetFeatureTaps`, shared with DenseDepth): timm DenseNet taps `features.norm0` (c0 @ /2),
  `features.pool0` (c1 @ /4), `features.transition1` (c2 @ /8), `features.transition2` (c3 @ /16) and
  `features.norm5` (c4 @ /32). timm's `norm0`/`norm5` fuse BN and ReLU, so they equal the reference's torchvision
  `relu0` and `relu(norm5)`.
* `Decoder`: `UpConv` (nearest x2, 3x3 conv without bias, ELU) to 512 -> BN -> concat c3 -> 3x3 conv + ELU;
  `UpConv` to 256 -> BN -> concat c2 (= "concat4") -> 3x3 conv + ELU -> BN (= "iconv4"); `DenseAspp`;
  `Reduction1x1` + `LocalPlanarGuidance` at 1/8 (k = 8); `UpConv` to 128 -> BN -> concat c1 and the 8x8 LPG depth
  -> 3x3 conv + ELU; reduction + LPG at 1/4 (k = 4); `UpConv` to 64 -> BN -> concat c0 and the 4x4 LPG depth ->
  3x3 conv + ELU; reduction + LPG at 1/2 (k = 2); `UpConv` to 32 at full resolution; `Reduction1x1` to one
  sigmoid map ("reduc1x1"); concat [upconv1, reduc1x1, lpg2x2, lpg4x4, lpg8x8] -> 3x3 conv (32) + ELU -> 3x3 conv
  to 1 -> sigmoid x `max_depth`. All decoder convs are bias-free.
* `DenseAspp`: 5 atrous branches, dilations 3, 6, 12, 18, 24. Branch = [BN] -> ReLU -> 1x1 conv to 256 -> BN ->
  ReLU -> dilated 3x3 conv to 128. The first branch reads iconv4 and has no leading BN (iconv4 is already
  normalised); branch i > 0 reads concat4 plus the outputs of all earlier branches (dense connections), so its
  input width is 256 + c2 + 128 i. `daspp_conv` (3x3 + ELU) maps [iconv4, the 5 branch outputs] (256 + 5 x 128 =
  896 channels) to 128.
* `Reduction1x1`: 1x1 convs (ELU) halving the width from its start value while it is >= 8, then a final 1x1 conv to
  3 values (theta, phi, distance), or to 1 sigmoid map for "reduc1x1". With theta = sigmoid * pi/3, phi = sigmoid *
  2 pi, n4 = sigmoid * max_depth and n = (sin theta cos phi, sin theta sin phi, cos theta), L2-normalised, it returns
  the 4 plane coefficients (n1, n2, n3, n4).
* `LocalPlanarGuidance` (paper eq. 2): every k x k cell gets depth n4 / (n1 u + n2 v + n3), with
  u = (j - (k - 1) / 2) / k for the cell's column j and v = (i - (k - 1) / 2) / k for its row i (0 <= i, j < k).
  Outputs are divided by `max_depth`; the 8x8 one is nearest-downsampled to 1/4, the 4x4 one to 1/2, and all three
  go to the last conv at full resolution.

The output is at the input resolution natively (no upsampling). Inputs must have height and width divisible by 32.

Choices where the sources or the brief disagree, or say nothing:

* The reductions end in 3 channels (theta, phi, distance; paper and MODELS.md), which become 4 plane coefficients;
  the normal is built from 2 angles, not 3 free values.
* The reduction rule is generalised so a final conv always exists: for `bts_size` >= 128 it is exactly the
  reference's stack (e.g. 128 -> 128 -> 64 -> 32 -> 16 -> 8 -> 3); the tiny test config (`bts_size` 32) gets shorter
  stacks instead of the reference's degenerate empty ones.
* The LPG denominator is not clamped (as in the reference). theta <= pi/3 keeps n3 >= 0.5, but at the corners of
  an 8x8 cell |n1 u + n2 v| can reach 0.54, so extreme planes can give negative or very large guidance values; the
  final depth stays in (0, max_depth) because of the sigmoid.
* Decoder BatchNorms use the reference's TensorFlow-like momentum 0.01 and eps 1.1e-5 (not in MODELS.md), except
  the one between each dense ASPP branch's 1x1 and dilated convs, which keeps PyTorch's default eps 1e-5 in the
  reference (`config.daspp_inner_norm_eps`; our first checkpoints, saved before that field, keep the 1.1e-5 they
  were trained with). Decoder convs are Xavier-uniform initialised (MODELS.md §5.2); the encoder keeps timm's init or
  loaded weights.
* The authors' released models (`bts_nyu_v2_pytorch_densenet161.zip`, `bts_eigen_v2_pytorch_densenet161.zip`,
  DenseNet-121 ones alike) convert exactly with `convert_checkpoint("bts", path)` (`convert_bts_from_release.py`,
  docs/CONVERSION.md): torchvision's DenseNet and timm's have the same parameter names, so only the decoder's module
  names are mapped. In eval mode the model is the graph of the authors' `bts_test.py`, which also runs `model.eval()`:
  every BatchNorm, the encoder's included, uses its running statistics. (During training the reference updates the
  encoder's BatchNorm statistics unless `--bn_no_track_stats`; our recipes keep them fixed, see below.)
* KITTI focal scaling: with `config.focal_scaling` and a `focal` tensor (pixels, per image) given to `forward`,
  depth is multiplied by focal / 715.0873 (`config.reference_focal`; BTS's KITTI models only; the depth may then
  exceed `max_depth`). Without `focal` no scaling is applied. The reference passes the focal to the LPG layers but
  never uses it there. The focal must be the one of the image the network sees: our processor resizes to
  `image_size`, so callers scale the camera's fx by network width / image width (1 for KITTI's 352x1216 KB crop).
* Loss: SILog (variance focus 0.85, x10) on the full-resolution prediction, ground truth > `loss_min_depth`
  (0.1 m NYU, 1.0 m KITTI). Labels of another size get a bilinearly resized prediction (BTS's labels match).
* `hidden_states` (when requested): the 5 encoder taps, then the LPG outputs at 8x8, 4x4, 2x2 and reduc1x1, each
  (batch, 1, H, W) at full resolution, depth divided by `max_depth` (the maps the paper visualises).
* Training recipe (belongs to the trainer): AdamW, weight decay 1e-2 on the encoder only, eps 1e-3, lr 1e-4 with
  polynomial decay (power 0.9) to 1e-5, 50 epochs, batch 4; the encoder's conv0 and BatchNorm parameters frozen.
  `freeze_encoder_layers()` and `optimizer_parameter_groups()` give the freezing and the two weight-decay groups;
  the reference also keeps the encoder's BN statistics fixed, which is left to the trainer.
* Parameter count: the full config has 47.0 M parameters (DenseNet-161 features 26.47 M + decoder 20.5 M), the
  figure BTS's README gives for its DenseNet-161 model; the ImageNet classifier is not part of the model.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init
from transformers.modeling_outputs import DepthEstimatorOutput

from ..backbones import DenseNetFeatureTaps
from ..losses import SILogLoss
from ..modeling_utils import DepthEstimationPreTrainedModel
from .configuration_bts import BtsConfig

BN_MOMENTUM, BN_EPS = 0.01, 1.1e-5


def batch_norm(channels: int, eps: float = BN_EPS) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=eps)


def conv_elu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv without bias, then ELU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.ELU())


def downsample_nearest(depth: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour downsampling to `like`'s size (keeps the top-left pixel of each block)."""
    return F.interpolate(depth, size=like.shape[-2:], mode="nearest")


class UpConv(nn.Module):
    """Nearest-neighbour x2 upsampling, 3x3 conv without bias, ELU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.act = nn.ELU()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(F.interpolate(hidden, scale_factor=2, mode="nearest")))


class AtrousConv(nn.Sequential):
    """One dense ASPP branch: [BN] -> ReLU -> 1x1 conv to 2 x out -> BN (eps `inner_eps`) -> ReLU -> dilated 3x3 conv
    to out."""

    def __init__(
        self, in_channels: int, out_channels: int, dilation: int, norm_first: bool = True, inner_eps: float = 1e-5
    ) -> None:
        layers: list[tuple[str, nn.Module]] = [("norm_in", batch_norm(in_channels))] if norm_first else []
        layers += [
            ("act_in", nn.ReLU()),
            ("reduce", nn.Conv2d(in_channels, 2 * out_channels, 1, bias=False)),
            ("norm", batch_norm(2 * out_channels, eps=inner_eps)),
            ("act", nn.ReLU()),
            ("conv", nn.Conv2d(2 * out_channels, out_channels, 3, padding=dilation, dilation=dilation, bias=False)),
        ]
        super().__init__(OrderedDict(layers))


class DenseAspp(nn.Module):
    """Densely connected atrous spatial pyramid pooling (DenseASPP) of BTS, then `daspp_conv`.

    Branch 0 reads `features` (iconv4); branch i > 0 reads `context` (concat4) concatenated with the outputs of
    branches 0..i-1. The fusion conv reads `features` and all branch outputs.
    """

    def __init__(
        self,
        in_channels: int,
        context_channels: int,
        branch_channels: int,
        dilations: Sequence[int],
        inner_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.branches = nn.ModuleList(
            AtrousConv(in_channels, branch_channels, dilation, norm_first=False, inner_eps=inner_eps)
            if index == 0
            else AtrousConv(context_channels + index * branch_channels, branch_channels, dilation, inner_eps=inner_eps)
            for index, dilation in enumerate(dilations)
        )
        self.daspp_conv = conv_elu(in_channels + len(dilations) * branch_channels, branch_channels)

    def forward(self, features: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        outputs = []
        for index, branch in enumerate(self.branches):
            outputs.append(branch(features if index == 0 else torch.cat([context, *outputs], dim=1)))
        return self.daspp_conv(torch.cat([features, *outputs], dim=1))


class Reduction1x1(nn.Module):
    """1x1 convs (no bias, ELU) halving the width from `hidden_channels` while it is >= 8, then a final 1x1 conv.

    Not final: the last conv gives (theta, phi, distance) and the output is the plane (n1, n2, n3, n4), with
    theta = sigmoid * pi/3, phi = sigmoid * 2 pi, n = (sin theta cos phi, sin theta sin phi, cos theta) L2-normalised
    and n4 = sigmoid * max_depth. Final: one sigmoid map in (0, 1).
    """

    def __init__(self, in_channels: int, hidden_channels: int, max_depth: float, is_final: bool = False) -> None:
        super().__init__()
        self.max_depth, self.is_final = max_depth, is_final
        layers: list[nn.Module] = []
        width = hidden_channels
        while width >= 8:
            layers += [nn.Conv2d(in_channels, width, 1, bias=False), nn.ELU()]
            in_channels, width = width, width // 2
        layers.append(nn.Conv2d(in_channels, 1 if is_final else 3, 1, bias=False))
        self.reduc = nn.Sequential(*layers)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        values = torch.sigmoid(self.reduc(hidden))
        if self.is_final:
            return values
        theta, phi, distance = values[:, 0] * (math.pi / 3), values[:, 1] * (2 * math.pi), values[:, 2] * self.max_depth
        normal = torch.stack([theta.sin() * phi.cos(), theta.sin() * phi.sin(), theta.cos()], dim=1)
        return torch.cat([F.normalize(normal, dim=1), distance[:, None]], dim=1)


class LocalPlanarGuidance(nn.Module):
    """Expands a (batch, 4, h, w) plane map to (batch, k h, k w) depth with one plane per k x k cell (paper eq. 2).

    depth = n4 / (n1 u + n2 v + n3), u = (j - (k - 1) / 2) / k and v = (i - (k - 1) / 2) / k for the pixel in
    column j and row i of its cell, so u and v lie in (-1/2, 1/2) and are symmetric about the cell's centre.
    """

    def __init__(self, upratio: int) -> None:
        super().__init__()
        self.upratio = upratio

    def forward(self, plane: torch.Tensor) -> torch.Tensor:
        k = self.upratio
        n1, n2, n3, n4 = plane.repeat_interleave(k, dim=2).repeat_interleave(k, dim=3).unbind(dim=1)
        offsets = (torch.arange(k, device=plane.device, dtype=plane.dtype) - (k - 1) / 2) / k
        u = offsets.repeat(plane.shape[-1])
        v = offsets.repeat(plane.shape[-2])[:, None]
        return n4 / (n1 * u + n2 * v + n3)


class Decoder(nn.Module):
    """BTS decoder: up-convolutions, dense ASPP, and local planar guidance at 1/8, 1/4 and 1/2 resolution."""

    def __init__(self, config: BtsConfig, skip_channels: Sequence[int]) -> None:
        super().__init__()
        c0, c1, c2, c3, c4 = skip_channels
        width, max_depth = config.bts_size, config.max_depth
        self.max_depth = max_depth
        self.upconv5, self.bn5 = UpConv(c4, width), batch_norm(width)
        self.conv5 = conv_elu(width + c3, width)
        self.upconv4, self.bn4 = UpConv(width, width // 2), batch_norm(width // 2)
        self.conv4, self.bn4_2 = conv_elu(width // 2 + c2, width // 2), batch_norm(width // 2)
        self.daspp = DenseAspp(
            width // 2, width // 2 + c2, width // 4, config.daspp_dilations, config.daspp_inner_norm_eps
        )
        self.reduc8x8, self.lpg8x8 = Reduction1x1(width // 4, width // 4, max_depth), LocalPlanarGuidance(8)
        self.upconv3, self.bn3 = UpConv(width // 4, width // 4), batch_norm(width // 4)
        self.conv3 = conv_elu(width // 4 + c1 + 1, width // 4)
        self.reduc4x4, self.lpg4x4 = Reduction1x1(width // 4, width // 8, max_depth), LocalPlanarGuidance(4)
        self.upconv2, self.bn2 = UpConv(width // 4, width // 8), batch_norm(width // 8)
        self.conv2 = conv_elu(width // 8 + c0 + 1, width // 8)
        self.reduc2x2, self.lpg2x2 = Reduction1x1(width // 8, width // 16, max_depth), LocalPlanarGuidance(2)
        self.upconv1 = UpConv(width // 8, width // 16)
        self.reduc1x1 = Reduction1x1(width // 16, width // 32, max_depth, is_final=True)
        self.conv1 = conv_elu(width // 16 + 4, width // 16)
        self.get_depth = nn.Conv2d(width // 16, 1, 3, padding=1, bias=False)

    def forward(self, features: Sequence[torch.Tensor]) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Depth (batch, H, W) in metres and the guidance maps (lpg8x8, lpg4x4, lpg2x2, reduc1x1), (batch, 1, H, W)."""
        skip0, skip1, skip2, skip3, dense_features = features
        iconv5 = self.conv5(torch.cat([self.bn5(self.upconv5(dense_features)), skip3], dim=1))
        concat4 = torch.cat([self.bn4(self.upconv4(iconv5)), skip2], dim=1)
        iconv4 = self.bn4_2(self.conv4(concat4))
        daspp_feat = self.daspp(iconv4, concat4)
        lpg8x8 = self.lpg8x8(self.reduc8x8(daspp_feat))[:, None] / self.max_depth

        upconv3 = self.bn3(self.upconv3(daspp_feat))
        iconv3 = self.conv3(torch.cat([upconv3, skip1, downsample_nearest(lpg8x8, upconv3)], dim=1))
        lpg4x4 = self.lpg4x4(self.reduc4x4(iconv3))[:, None] / self.max_depth

        upconv2 = self.bn2(self.upconv2(iconv3))
        iconv2 = self.conv2(torch.cat([upconv2, skip0, downsample_nearest(lpg4x4, upconv2)], dim=1))
        lpg2x2 = self.lpg2x2(self.reduc2x2(iconv2))[:, None] / self.max_depth

        upconv1 = self.upconv1(iconv2)
        reduc1x1 = self.reduc1x1(upconv1)
        iconv1 = self.conv1(torch.cat([upconv1, reduc1x1, lpg2x2, lpg4x4, lpg8x8], dim=1))
        depth = torch.sigmoid(self.get_depth(iconv1))[:, 0] * self.max_depth
        return depth, (lpg8x8, lpg4x4, lpg2x2, reduc1x1)


class BtsForDepthEstimation(DepthEstimationPreTrainedModel):
    config_class = BtsConfig

    def __init__(self, config: BtsConfig) -> None:
        super().__init__(config)
        self.encoder = DenseNetFeatureTaps(config)
        self.decoder = Decoder(config, self.encoder.channels)
        self.loss_fn = SILogLoss(config.variance_focus, config.silog_scale, min_depth=config.loss_min_depth)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Xavier-uniform convs (BTS's decoder init); norms as in the base class. Backbone tensors are skipped."""
        if isinstance(module, nn.Conv2d):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        else:
            super()._init_weights(module)

    def freeze_encoder_layers(self) -> None:
        """BTS's default fine-tuning: no gradient for the encoder's first conv (conv0) and its BatchNorm parameters."""
        self.encoder.backbone.features.conv0.requires_grad_(False)
        for module in self.encoder.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.requires_grad_(False)

    def optimizer_parameter_groups(self, weight_decay: float = 1e-2) -> list[dict]:
        """AdamW groups of BTS's recipe: `weight_decay` on the trainable encoder parameters, none on the decoder."""
        return [
            {"params": [p for p in self.encoder.parameters() if p.requires_grad], "weight_decay": weight_decay},
            {"params": [p for p in self.decoder.parameters() if p.requires_grad], "weight_decay": 0.0},
        ]

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        focal: torch.Tensor | None = None,
        **kwargs,
    ) -> DepthEstimatorOutput | tuple:
        r"""
        focal (`torch.Tensor` of shape (batch,), *optional*): focal length of each image in pixels; used only when
            `config.focal_scaling` is set (KITTI), to multiply the depth by focal / `config.reference_focal`.
        """
        self.check_input_multiple(pixel_values, 32)
        features = self.encoder(pixel_values)
        predicted_depth, guidance = self.decoder(features)
        if self.config.focal_scaling and focal is not None:
            focal = torch.as_tensor(focal, dtype=predicted_depth.dtype, device=predicted_depth.device)
            predicted_depth = predicted_depth * focal.reshape(-1, 1, 1) / self.config.reference_focal

        loss = None
        if labels is not None:
            labels = self.prepare_labels(labels, predicted_depth)
            loss = self.loss_fn(self.resize_prediction(predicted_depth, tuple(labels.shape[-2:])), labels)

        output = DepthEstimatorOutput(
            loss=loss,
            predicted_depth=predicted_depth,
            hidden_states=(*features, *guidance) if self.wants_hidden_states(output_hidden_states) else None,
        )
        return self.format_output(output, return_dict)
