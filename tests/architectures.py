"""The architectures the common suite checks (`tests/test_architectures.py`, and the ONNX export in
`tests/test_onnx.py`), and the few facts about each that a check cannot read off the model.

`architectures()` is the suite's one parametrisation point: every common check runs once per entry, on the entry's
`config_class.tiny()` preset. It reads the model registry (`mde_hub.models.registry.entries()`): an architecture
registered there is checked by the whole suite with no edit to the tests; the fact tables below default to the
strict reading (every parameter trained, a metric output within
[min_depth, max_depth], no extra configuration) and only list the documented exceptions.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch

from mde_hub.models.registry import entries

INPUT_SIZE = (64, 96)
"""(height, width) of the suite's inputs: a multiple of 32 (every encoder's stride) that gives AdaBins' tiny mini-ViT
16x24 = 384 tokens (it needs at least 1 + n_query_channels), and a non-square shape so height and width cannot be
swapped unnoticed."""

UNUSED_PARAMETERS: dict[str, set[str]] = {
    # tapped at conv_head, before bn2/act (modeling_adabins.py: "conv_head (/32, before bn2/act)")
    "mde_adabins": {"encoder.backbone.bn2.weight", "encoder.backbone.bn2.bias"},
    # "The ViT's final LayerNorm is kept (part of the timm model) but unused, as in the reference code."
    "mde_dpt": {"encoder.backbone.norm.weight", "encoder.backbone.norm.bias"},
}
"""Trainable parameters that get no gradient, by design (each model's docstring says why). Every other trainable
parameter must get a finite gradient from the loss."""

SIGMOID_METRIC_OUTPUT = {"mde_baseline", "mde_bts"}
"""Metric models whose depth is sigmoid x max_depth, in (0, max_depth], not clipped at min_depth (their docstrings).
The others clip to [min_depth, max_depth]."""

VARIANTS: dict[str, list[dict[str, Any]]] = {
    "mde_bts": [{"focal_scaling": True}],  # KITTI's focal scaling: depth x focal / reference_focal, may pass max_depth
    "mde_dpt": [{"depth_estimation_type": "relative"}],  # the raw head: non-negative relative inverse depth
}
"""Configurations besides the tiny preset whose output meaning or range differs (`tiny(**overrides)`)."""


def architectures() -> dict[str, tuple[type, type]]:
    """model_type -> (config class, model class) of every architecture the suite checks, sorted by model_type."""
    return {entry.model_type: (entry.config_class, entry.model_class) for entry in sorted(entries(), key=lambda e: e.model_type)}


def model_types() -> list[str]:
    return list(architectures())


def tiny_config(model_type: str, **overrides: Any):
    config_class, _ = architectures()[model_type]
    return config_class.tiny(**overrides)


def tiny_model(model_type: str, seed: int = 0, **overrides: Any) -> torch.nn.Module:
    """The architecture's tiny preset (with `overrides`), weights drawn after `torch.manual_seed(seed)`, in eval mode."""
    _, model_class = architectures()[model_type]
    config = tiny_config(model_type, **overrides)
    torch.manual_seed(seed)
    return model_class(config).eval()


def variants() -> list[tuple[str, dict[str, Any]]]:
    """(model_type, overrides of the tiny preset): every tiny preset, then the `VARIANTS`."""
    return [(model_type, overrides) for model_type in model_types() for overrides in [{}, *VARIANTS.get(model_type, [])]]


def variant_id(variant: tuple[str, dict[str, Any]]) -> str:
    model_type, overrides = variant
    return "-".join([model_type, *(f"{key}={value}" for key, value in overrides.items())])


def presets(model_type: str) -> list[str]:
    """Names of the preset constructors a config class defines itself (`tiny`, `kitti`, `hybrid`, ...): its public
    classmethods that need no argument, other than `from_*`."""
    config_class, _ = architectures()[model_type]
    names = []
    for name, attribute in vars(config_class).items():
        if not isinstance(attribute, classmethod) or name.startswith(("from_", "_")):
            continue
        parameters = list(inspect.signature(attribute.__func__).parameters.values())[1:]
        if all(p.kind is p.VAR_KEYWORD or p.default is not p.empty for p in parameters):
            names.append(name)
    return names
