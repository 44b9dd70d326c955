"""The base class of every mde-hub model: initialisation, label handling and the output convention."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init

from .configuration_utils import DepthConfig


class DepthEstimationPreTrainedModel(PreTrainedModel):
    """Shared behaviour of the depth models.

    `predicted_depth` is always (batch, height, width) at the input's resolution, in metres when
    `config.depth_estimation_type == "metric"`. `labels` are depth maps in metres, (batch, height, width) or
    (batch, 1, height, width); pixels that are 0, negative, NaN or infinite are ignored by every loss.
    """

    config_class = DepthConfig
    base_model_prefix = "model"
    main_input_name = "pixel_values"
    input_modalities = ("image",)

    def _init_weights(self, module: nn.Module) -> None:
        """PyTorch's default schemes (Kaiming-uniform weights), instead of transformers' normal(0, 0.02).

        Only modules whose tensors are not flagged `_is_hf_initialized` are touched, so pretrained backbones that a
        model loads in `__init__` keep their weights.
        """
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                fan_in = nn.init._calculate_fan_in_and_fan_out(module.weight)[0]
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if module.weight is not None:
                init.ones_(module.weight)
                init.zeros_(module.bias)

    @staticmethod
    def prepare_labels(labels: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """Labels as (batch, height, width) float, checked against the prediction's batch size."""
        if labels.ndim == 4 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 3 or labels.shape[0] != prediction.shape[0]:
            raise ValueError(
                f"labels must have shape (batch, height, width) with batch {prediction.shape[0]}; got {tuple(labels.shape)}."
            )
        return labels.to(prediction.dtype)

    @staticmethod
    def resize_prediction(prediction: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bilinearly resize a (batch, height, width) prediction, e.g. to the labels' size for the loss."""
        if tuple(prediction.shape[-2:]) == tuple(size):
            return prediction
        return F.interpolate(prediction[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
