"""The Baseline's entry in the model registry (`mde_hub.models.registry`). It has no paper, so no published numbers:
its cards show every paper's NYU Depth v2 rows."""

from __future__ import annotations

from ..registry import CardFields, ModelEntry, Preset, register
from .configuration_baseline import BaselineConfig
from .modeling_baseline import BaselineForDepthEstimation

ENTRY = register(
    ModelEntry(
        name="Baseline",
        paper="the seed slides' Baseline encoder-decoder (no paper)",
        arxiv=None,
        config_class=BaselineConfig,
        model_class=BaselineForDepthEstimation,
        presets={
            "default": Preset(BaselineConfig, "nyu_depth_v2", "the slides' model: 256x256"),
            "tiny": Preset(BaselineConfig.tiny, None, "8/16/32 channels, for tests"),
        },
        input_side_multiple=8,  # three stride-2 convs and their transposes
        card=CardFields(
            summary_fields=("encoder_channels", "kernel_size", "image_size"), tags=("baseline",), reference_licence=None
        ),
    )
)
