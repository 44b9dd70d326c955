"""The base class of every mde-hub model: initialisation, label handling and the output convention."""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_utils import DepthConfig

_SHOWN_KEYS = 5


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:_SHOWN_KEYS]) + (", ..." if len(keys) > _SHOWN_KEYS else "")


def check_loaded_weights(info: dict[str, Any], source: str | os.PathLike | None, unexpected: bool = True) -> None:
    """ValueError naming `source` and the keys when transformers' loading `info` (`output_loading_info=True`) says
    the checkpoint lacks tensors of the model (`missing_keys`, which transformers fills with random values) or, with
    `unexpected`, holds tensors the model has no place for (`unexpected_keys`, which it drops)."""
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        raise ValueError(
            f"{source}: the checkpoint lacks {len(missing)} of the model's weights ({_some(missing)}); refusing to "
            "fill them with random values"
        )
    extra = sorted(info.get("unexpected_keys") or []) if unexpected else []
    if extra:
        raise ValueError(
            f"{source}: the checkpoint holds {len(extra)} weights the model has no place for ({_some(extra)}): it was "
            "saved from another architecture or configuration"
        )


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

    @classmethod
    def from_pretrained(
        cls, pretrained_model_name_or_path: str | os.PathLike | None, *model_args: Any, strict_weights: bool = True,
        **kwargs: Any,
    ) -> DepthEstimationPreTrainedModel | tuple[DepthEstimationPreTrainedModel, dict[str, Any]]:
        """transformers' `from_pretrained` (also what `AutoModelForDepthEstimation` and `pipeline(...)` call), that
        refuses with a ValueError naming the keys a checkpoint lacking tensors of the model (transformers would fill
        them with random values and only print a load report) or holding tensors the model has no place for.
        `strict_weights=False` accepts both, as transformers does, e.g. to start training from a checkpoint of
        another head. A new model (training from scratch) is made from its config, not here."""
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(
            pretrained_model_name_or_path, *model_args, output_loading_info=True, **kwargs
        )
        if strict_weights:
            check_loaded_weights(info, pretrained_model_name_or_path)
        return (model, info) if wants_info else model

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

    def check_input_multiple(self, pixel_values: torch.Tensor, multiple: int) -> tuple[int, int]:
        """The input's (height, width); a ValueError naming the model and the size unless both divide by `multiple`."""
        height, width = pixel_values.shape[-2:]
        if height % multiple or width % multiple:
            raise ValueError(
                f"{type(self).__name__} needs height and width divisible by {multiple}; got {height}x{width}"
            )
        return height, width

    def wants_hidden_states(self, output_hidden_states: bool | None) -> bool:
        """`output_hidden_states` as passed to `forward`, or the config's when it is None."""
        return output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states

    def format_output(self, output: ModelOutput, return_dict: bool | None) -> ModelOutput | tuple:
        """`output` itself, or `output.to_tuple()` when `return_dict` (or, if None, the config's) is false."""
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        return output if return_dict else output.to_tuple()

    @staticmethod
    def prepare_labels(labels: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
        """Labels as (batch, height, width) float, checked against the prediction's batch size."""
        if labels.ndim == 4 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 3 or labels.shape[0] != prediction.shape[0]:
            raise ValueError(
                f"labels must have shape (batch, height, width) with batch {prediction.shape[0]}; got {tuple(labels.shape)}"
            )
        return labels.to(prediction.dtype)

    @staticmethod
    def resize_prediction(prediction: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bilinearly resize a (batch, height, width) prediction, e.g. to the labels' size for the loss."""
        if tuple(prediction.shape[-2:]) == tuple(size):
            return prediction
        return F.interpolate(prediction[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
