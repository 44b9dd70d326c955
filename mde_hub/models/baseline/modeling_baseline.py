"""The Baseline encoder-decoder from the seed slides.

The slide fixes only "3 conv + 3 deconv layers, ReLU, 256x256 in and out, loss SSIM + L1, Adam 2e-4, batch 32,
30 epochs". The remaining choices follow ../shared/docs/MODELS.md section 1 and are ours:

* encoder: 3 x [Conv 4x4, stride 2, padding 1, ReLU], widths 3 -> 64 -> 128 -> 256 (256 -> 32 px);
* decoder: 3 x ConvTranspose 4x4, stride 2, padding 1, widths 256 -> 128 -> 64 -> 1, ReLU after the first two;
* output: sigmoid x `max_depth`, so `predicted_depth` is metric depth in (0, max_depth] metres;
* loss: 1.0 x clip((1 - SSIM) / 2, 0, 1) + 0.1 x L1 (DenseDepth's weights; SSIM 11x11 Gaussian, sigma 1.5, value
  range `max_depth`), computed on valid ground-truth pixels only.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import DepthEstimatorOutput

from ..losses import SSIML1Loss
from ..modeling_utils import DepthEstimationPreTrainedModel
from .configuration_baseline import BaselineConfig


class BaselineForDepthEstimation(DepthEstimationPreTrainedModel):
    config_class = BaselineConfig

    def __init__(self, config: BaselineConfig) -> None:
        super().__init__(config)
        k = config.kernel_size
        widths = [config.num_channels, *config.encoder_channels]
        self.encoder = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, k, stride=2, padding=1), nn.ReLU(inplace=True))
            for c_in, c_out in zip(widths[:-1], widths[1:])
        )
        decoder_widths = [*reversed(config.encoder_channels), 1]
        self.decoder = nn.ModuleList(
            nn.ConvTranspose2d(c_in, c_out, k, stride=2, padding=1)
            for c_in, c_out in zip(decoder_widths[:-1], decoder_widths[1:])
        )
        self.loss_fn = SSIML1Loss(ssim_weight=config.ssim_weight, l1_weight=config.l1_weight, value_range=config.max_depth)
        self.post_init()

    def forward(
        self,
        pixel_values: torch.Tensor,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> DepthEstimatorOutput | tuple:
        self.check_input_multiple(pixel_values, 8)
        hidden_states = []
        features = pixel_values
        for layer in self.encoder:
            features = layer(features)
            hidden_states.append(features)
        for index, layer in enumerate(self.decoder):
            features = layer(features)
            if index < len(self.decoder) - 1:
                features = torch.relu(features)
        predicted_depth = torch.sigmoid(features[:, 0]) * self.config.max_depth

        loss = None
        if labels is not None:
            labels = self.prepare_labels(labels, predicted_depth)
            prediction = self.resize_prediction(predicted_depth, tuple(labels.shape[-2:]))
            loss = self.loss_fn(prediction, labels)

        output = DepthEstimatorOutput(
            loss=loss,
            predicted_depth=predicted_depth,
            hidden_states=tuple(hidden_states) if self.wants_hidden_states(output_hidden_states) else None,
        )
        return self.format_output(output, return_dict)
