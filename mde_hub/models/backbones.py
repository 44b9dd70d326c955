"""timm encoders with the feature taps the papers use, and their pretrained weights.

timm's own `features_only` taps are not the papers' (DenseNet taps before the transitions, EfficientNet's `bn1`
fuses BN and activation), so models name the exact modules to tap. Weights come from timm (`pretrained=True`, which
needs internet) or a local file, loaded before `post_init`; every backbone tensor is flagged `_is_hf_initialized` so
transformers' weight initialisation leaves it alone (randomly initialised backbones keep timm's own init scheme).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import chain

import timm
import torch
from safetensors.torch import load_file
from torch import nn

from .configuration_utils import BackboneDepthConfig


def load_backbone_weights(backbone: nn.Module, path: str | os.PathLike) -> None:
    """Load a local state dict (safetensors, or a `.pth`/`.bin` read with `weights_only=True`) into `backbone`.

    Keys absent from the backbone (a classifier head, say) are ignored; a file that matches no key, or whose shapes
    disagree, raises an error naming the file.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"backbone weights file not found: {path}")
    try:
        state = load_file(path) if path.endswith(".safetensors") else torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any reader failure is reported with the file name
        raise ValueError(f"cannot read backbone weights {path}: {error}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    state = {key.removeprefix("module."): value for key, value in state.items()}
    own = backbone.state_dict()
    matched = {key: value for key, value in state.items() if key in own}
    if not matched:
        raise ValueError(f"no tensor in {path} matches the backbone's parameter names (e.g. {next(iter(own))!r})")
    wrong = [key for key, value in matched.items() if value.shape != own[key].shape]
    if wrong:
        raise ValueError(f"shape mismatch in {path} for {wrong[:5]}: is this the right architecture?")
    backbone.load_state_dict(matched, strict=False)


def mark_initialized(module: nn.Module) -> None:
    """Flag every tensor so `PreTrainedModel.post_init` does not re-initialise it."""
    for tensor in (*module.parameters(), *module.buffers()):
        tensor._is_hf_initialized = True


def create_backbone(
    name: str, pretrained: bool = False, weights_path: str | None = None, **timm_kwargs
) -> nn.Module:
    """A timm model without classifier, with timm's own initialisation or ImageNet weights (timm or a local file).

    Under `from_pretrained` transformers builds the model on the meta device and then loads the checkpoint, which
    already holds the backbone: no weights are fetched or read then.
    """
    building_on_meta_device = torch.empty(0).device.type == "meta"
    backbone = timm.create_model(name, pretrained=pretrained and not building_on_meta_device, num_classes=0, **timm_kwargs)
    if weights_path and not building_on_meta_device:
        load_backbone_weights(backbone, weights_path)
    mark_initialized(backbone)
    return backbone


def create_backbone_from_config(config: BackboneDepthConfig, **default_timm_kwargs) -> nn.Module:
    """`create_backbone` with the config's backbone fields; `config.backbone_kwargs` override `default_timm_kwargs`."""
    timm_kwargs = {**default_timm_kwargs, **config.backbone_kwargs}
    return create_backbone(config.backbone, config.backbone_pretrained, config.backbone_weights, **timm_kwargs)


class FeatureTaps(nn.Module):
    """Runs the named child modules of `backbone` in order and returns the outputs of the tapped ones.

    `stages` are dotted module names (e.g. "features.norm0", "blocks.2") in execution order; running stops at the
    last tap, so later stages (a classifier, an unused head) cost nothing. `channels` and `strides` give each tap's
    width and downsampling factor, measured once at construction.
    """

    def __init__(self, backbone: nn.Module, stages: Sequence[str], taps: Sequence[str], in_channels: int = 3) -> None:
        super().__init__()
        missing = [tap for tap in taps if tap not in stages]
        if missing:
            raise ValueError(f"taps {missing} are not among the stages {list(stages)}")
        self.backbone = backbone
        last = max(stages.index(tap) for tap in taps)
        self.stages = list(stages[: last + 1])
        self.taps = list(taps)
        self.channels, self.strides = self._probe(in_channels=in_channels)

    def _probe(self, in_channels: int, size: int = 64) -> tuple[list[int], list[int]]:
        """Channels and strides of the taps, from a forward pass on the meta device: no compute, no BN update."""
        state = {name: tensor.to("meta") for name, tensor in chain(self.named_parameters(), self.named_buffers())}
        probe = torch.zeros(1, in_channels, size, size, device="meta")
        with torch.no_grad():
            features = torch.func.functional_call(self, state, (probe,))
        return [feature.shape[1] for feature in features], [size // feature.shape[-1] for feature in features]

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        features = {}
        hidden = pixel_values
        for name in self.stages:
            hidden = self.backbone.get_submodule(name)(hidden)
            if name in self.taps:
                features[name] = hidden
        return [features[tap] for tap in self.taps]


class DenseNetFeatureTaps(FeatureTaps):
    """The config's timm DenseNet, tapped where DenseDepth and BTS tap it.

    Taps: the stem's BN+ReLU (`features.norm0`, /2), the stem max-pool (`pool0`, /4), the first two transitions after
    their average pool (`transition1`, /8; `transition2`, /16) and the final BN+ReLU (`norm5`, /32).
    """

    TAPS = ("features.norm0", "features.pool0", "features.transition1", "features.transition2", "features.norm5")

    def __init__(self, config: BackboneDepthConfig) -> None:
        backbone = create_backbone_from_config(config)
        stages = [f"features.{name}" for name, _ in backbone.features.named_children()]
        super().__init__(backbone, stages, self.TAPS)
