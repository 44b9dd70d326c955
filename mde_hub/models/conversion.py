"""Converting the authors' released weights into mde-hub models: the formats, and what a conversion returns.

Each format's converter lives in its model's folder (`models/<name>/convert_<name>_<source>.py`) and is named in
`CONVERTERS`; `convert_checkpoint(format, path)` imports it on demand and returns a `ConversionResult`. Writing the
result as a checkpoint folder (weights, config, image processor, card) is the outputs stage's job
(`mde_hub.outputs.conversion`).

A converter reads pickled files with `torch.load(weights_only=True)` only, consumes every tensor of the model state
in the file and fills every weight of the model, or raises a ValueError naming the keys; what the released file
carries besides the model state (optimizer states, training counters) is skipped and listed in `skipped`.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the command line lists CONVERTERS without importing torch
    from transformers import BaseImageProcessor, PreTrainedModel

    from .modeling_utils import DepthEstimationPreTrainedModel


@dataclass
class ConversionResult:
    """A converted model and what the conversion did. `source` names the released file (and its variant);
    `skipped` lists the entries of the file that are not model weights (optimizer states, counters), each with what
    it was; `notes` are facts the model card should state (e.g. which reference graph the weights belong to);
    `image_processor` is the processor to save beside the model, when it is not the one
    `mde_hub.models.auto.image_processor_for(model.config)` gives (a model that is not mde-hub's must bring its own)."""

    model: DepthEstimationPreTrainedModel | PreTrainedModel
    source: str
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image_processor: BaseImageProcessor | None = None


CONVERTERS: dict[str, str] = {
    "densedepth-keras": "mde_hub.models.densedepth.convert_densedepth_keras:convert_densedepth_keras",
    "dpt-isl": "mde_hub.models.dpt.convert_dpt_isl:convert_dpt_isl_checkpoint",
    "dpt-transformers": "mde_hub.models.dpt.convert_dpt_from_transformers:convert_dpt_checkpoint",
    "bts": "mde_hub.models.bts.convert_bts_from_release:convert_bts_release",
    "adabins": "mde_hub.models.adabins.convert_adabins_from_release:convert_adabins_release",
}
"""Format name -> `module:function`; the function takes the released file (or folder) and keyword options and
returns a `ConversionResult`."""


def convert_checkpoint(format: str, path: str | os.PathLike, **options: object) -> ConversionResult:
    """Convert the released file at `path` in `format` (one of `CONVERTERS`)."""
    if format not in CONVERTERS:
        raise ValueError(f"unknown conversion format {format!r}; choose one of {', '.join(sorted(CONVERTERS))}")
    module_name, function_name = CONVERTERS[format].split(":")
    converter = getattr(importlib.import_module(module_name), function_name)
    return converter(path, **options)
