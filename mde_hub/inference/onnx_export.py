"""Export an mde-hub checkpoint to ONNX (`pixel_values` -> `predicted_depth`), checked against PyTorch.

The graph holds the whole model, depth parameterisation included: its `predicted_depth` is what the PyTorch model
returns (metres for metric models). Pre- and post-processing stay in `DepthImageProcessor`, so
`DepthPredictor.from_pretrained(..., backend="onnxruntime")` feeds the graph exactly what the PyTorch model gets.

Height and width are dynamic where the architecture allows (the batch is dynamic for every architecture): any
multiple of the model's `input_side_multiple` in the model registry (`mde_hub.models.registry`; each model folder's
`registration.py` says why): 8 for the Baseline, 32 for DenseDepth, BTS and DPT. AdaBins' is None: its graph is fixed
at the processor's `image_size`, which the processor resizes every image to anyway.

Models that scale depth by the camera's focal length (BTS's KITTI models) take a second input, `focal` (batch,),
in pixels at the network's input width; `OnnxDepthModel` feeds the config's `reference_focal` (no scaling) when a
caller gives none, as the PyTorch model applies no scaling without one.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..data.files import atomic_output
from ..models.configuration_utils import scales_depth_by_focal
from ..models.modeling_utils import DepthEstimationPreTrainedModel
from ..models.registry import find_entry

ONNX_FILENAME = "model.onnx"
CHECK_SUFFIX = ".check.json"
INPUT_NAME, OUTPUT_NAME, FOCAL_NAME = "pixel_values", "predicted_depth", "focal"
MAX_SIDE = 4096
MIN_OPSET, MAX_OPSET = 18, 23
"""The opsets `export_graph` writes: torch.onnx's exporter builds every graph at 18 (its torchlib's opset) and
converts it to the one asked for with onnx's version converter, which cannot take every operator below 18 and then
keeps 18 without saying so; torch 2.14 supports none above 23 (`torch.onnx._constants.ONNX_MAX_OPSET`)."""


def side_multiple(model_type: str) -> int | None:
    """The multiple a graph's dynamic height and width take: the registry entry's `input_side_multiple`; None (a
    graph fixed at one size) for a fixed-size model or one the registry does not know."""
    entry = find_entry(model_type)
    return None if entry is None else entry.input_side_multiple


class PredictedDepth(nn.Module):
    """The model as a function of `pixel_values` (and `focal` for focal-scaling models), returning `predicted_depth`
    (what ONNX exports)."""

    def __init__(self, model: DepthEstimationPreTrainedModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor, focal: torch.Tensor | None = None) -> torch.Tensor:
        extra = {} if focal is None else {"focal": focal}
        return self.model(pixel_values=pixel_values, return_dict=True, **extra).predicted_depth


def graph_inputs(model: DepthEstimationPreTrainedModel, pixel_values: torch.Tensor, focal_factor: float = 1.0) -> dict:
    """The graph's inputs for `pixel_values`: with a focal-scaling model also `focal` = `focal_factor` x its
    reference focal for every image."""
    inputs = {INPUT_NAME: pixel_values}
    if scales_depth_by_focal(model.config):
        inputs[FOCAL_NAME] = torch.full((pixel_values.shape[0],), focal_factor * model.config.reference_focal)
    return inputs


def check_opset(opset: int | None) -> None:
    """Refuse an opset outside `MIN_OPSET`-`MAX_OPSET` (None, torch's default, is accepted)."""
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(
            f"opset {opset} is outside {MIN_OPSET}-{MAX_OPSET}, the opsets torch.onnx exports these models at"
        )


def graph_opset(path: str | os.PathLike) -> int:
    """The default-domain (`ai.onnx`) opset an ONNX file imports."""
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)
    return next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))


@dataclass
class OnnxExport:
    """Where the graph went, whether its sides are dynamic, and how closely ONNX Runtime matches PyTorch."""

    path: str
    model_type: str
    opset: int  # the one the written file imports
    dynamic_sides: bool
    side_multiple: int | None
    checked_sizes: list[list[int]]
    max_abs_diff: list[float]
    max_abs_output: float

    def to_json(self, path: str | os.PathLike) -> None:
        with atomic_output(path) as temporary:
            temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")


def export_size(model: DepthEstimationPreTrainedModel) -> tuple[int, int]:
    """(height, width) the image processor gives a square-ish image: the size the graph is traced (and, if fixed, run) at."""
    size = model.config.image_processor_kwargs()["size"]
    return size["height"], size["width"]


def check_sizes(model: DepthEstimationPreTrainedModel) -> list[tuple[int, int]]:
    """The export size, and for dynamic graphs a second size (one multiple taller, two wider)."""
    height, width = export_size(model)
    multiple = side_multiple(model.config.model_type)
    return [(height, width)] if multiple is None else [(height, width), (height + multiple, width + 2 * multiple)]


def _dynamic_shapes(model_type: str, input_names: list[str]) -> dict[str, dict[int, object]]:
    dim = torch.export.Dim
    batch = dim("batch", min=1, max=1024)
    shapes: dict[int, object] = {0: batch}
    multiple = side_multiple(model_type)
    if multiple is not None:
        steps = MAX_SIDE // multiple
        shapes[2] = multiple * dim("height_steps", min=1, max=steps)
        shapes[3] = multiple * dim("width_steps", min=1, max=steps)
    return {INPUT_NAME: shapes, **({FOCAL_NAME: {0: batch}} if FOCAL_NAME in input_names else {})}


def onnx_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session (`threads` intra-op threads; default: torch's thread count)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.log_severity_level = 3
    return onnxruntime.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])


def export_graph(
    model: DepthEstimationPreTrainedModel,
    path: str | os.PathLike,
    opset: int | None = None,
    size: tuple[int, int] | None = None,
) -> Path:
    """Write `model`'s ONNX graph to `path` (atomically), traced at `size` (default: `export_size`), with dynamic
    sides where the architecture allows (a fixed-size graph then only takes `size`). An `opset` outside
    `check_opset`'s range, or one the written graph does not import, is a ValueError and nothing is written."""
    if not isinstance(model, DepthEstimationPreTrainedModel):
        raise ValueError(f"only mde-hub models export to ONNX here; got {type(model).__name__}")
    check_opset(opset)
    traced = graph_inputs(model, torch.randn(2, 3, *(size or export_size(model))))  # batch 2: sizes of 1 specialise
    path = Path(path)
    with atomic_output(path) as temporary, contextlib.redirect_stdout(io.StringIO()):
        torch.onnx.export(
            PredictedDepth(model.eval()).eval(),
            tuple(traced.values()),
            temporary,
            input_names=list(traced),
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamic_shapes=_dynamic_shapes(model.config.model_type, list(traced)),
            dynamo=True,
            external_data=False,
        )
        written = graph_opset(temporary)
        if opset is not None and written != opset:
            raise ValueError(f"torch.onnx wrote opset {written}, not the {opset} asked for: nothing written to {path}")
    return path


def export_model(
    model: DepthEstimationPreTrainedModel, path: str | os.PathLike, opset: int | None = None, seed: int = 0
) -> OnnxExport:
    """`export_graph`, then compare ONNX Runtime with PyTorch on random inputs.

    The check feeds N(0, 1) pixel values of each `check_sizes` size (batch 1; a focal-scaling model also gets a focal
    of 1.25 x its reference) to both and records the largest absolute difference of `predicted_depth`; a mismatch of
    shape raises a ValueError. The result records the opset the written file imports.
    """
    path = export_graph(model, path, opset)
    model_type = model.config.model_type
    multiple = side_multiple(model_type)
    wrapped = PredictedDepth(model.eval()).eval()
    sizes = check_sizes(model)
    generator = torch.Generator().manual_seed(seed)
    inputs = [torch.randn(1, 3, *size, generator=generator) for size in sizes]
    session = onnx_session(path)
    differences, largest = [], 0.0
    with torch.inference_mode():
        for pixel_values in inputs:
            feed = graph_inputs(model, pixel_values, focal_factor=1.25)
            expected = wrapped(*feed.values()).numpy()
            (actual,) = session.run([OUTPUT_NAME], {name: value.numpy() for name, value in feed.items()})
            if actual.shape != expected.shape:
                raise ValueError(f"{path}: ONNX output shape {actual.shape} differs from PyTorch's {expected.shape}")
            differences.append(float(np.abs(actual - expected).max()))
            largest = max(largest, float(np.abs(expected).max()))
    return OnnxExport(
        path=str(path),
        model_type=model_type,
        opset=graph_opset(path),
        dynamic_sides=multiple is not None,
        side_multiple=multiple,
        checked_sizes=[list(size) for size in sizes],
        max_abs_diff=differences,
        max_abs_output=largest,
    )


def export_checkpoint(checkpoint: str | os.PathLike, output: str | os.PathLike | None = None, opset: int | None = None) -> OnnxExport:
    """Export a checkpoint directory to `output` (default: CHECKPOINT/model.onnx) and write the check beside it
    (`model.onnx.check.json`)."""
    from ..models.loading import load_depth_model  # safetensors only, never remote code

    check_opset(opset)  # before the model loads
    checkpoint = Path(checkpoint)
    if not (checkpoint / "config.json").is_file():
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint directory (no config.json)")
    model = load_depth_model(checkpoint)
    result = export_model(model, Path(output) if output else checkpoint / ONNX_FILENAME, opset)
    result.to_json(result.path + CHECK_SUFFIX)
    return result
