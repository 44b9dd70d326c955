"""`OnnxDepthModel`: an exported `model.onnx` run by ONNX Runtime behind the model interface `DepthPredictor` uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.modeling_outputs import DepthEstimatorOutput

from ..models.configuration_utils import scales_depth_by_focal
from .onnx_export import FOCAL_NAME, INPUT_NAME, OUTPUT_NAME, onnx_session


class OnnxDepthModel:
    """Callable like a depth model: `model(pixel_values=..., focal=None)` returns a `DepthEstimatorOutput` whose
    `predicted_depth` comes from ONNX Runtime (CPU). `config` is the checkpoint's, for what the depth means. A graph
    with a `focal` input (BTS KITTI) gets the config's `reference_focal` when no focal is given: no scaling."""

    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(self, path: str | os.PathLike, config: Any, threads: int | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no ONNX model at {path}; write one with `mde-hub export onnx CHECKPOINT`")
        self.path = path
        self.config = config
        self.session = onnx_session(path, threads)
        inputs = {graph_input.name: graph_input for graph_input in self.session.get_inputs()}
        expected = [INPUT_NAME, FOCAL_NAME] if scales_depth_by_focal(config) else [INPUT_NAME]
        if sorted(inputs) != sorted(expected):
            raise ValueError(
                f"{path}: the graph's inputs are {sorted(inputs)}, but this model needs {expected}; export it again "
                "with `mde-hub export onnx CHECKPOINT`"
            )
        self._input = inputs[INPUT_NAME]

    @property
    def num_bytes(self) -> int:
        """Size of the graph file (its weights are inside it)."""
        return self.path.stat().st_size

    def eval(self) -> "OnnxDepthModel":
        return self

    def __call__(self, pixel_values: torch.Tensor, focal: torch.Tensor | None = None) -> DepthEstimatorOutput:
        height, width = self._input.shape[2:]
        if isinstance(height, int) and tuple(pixel_values.shape[-2:]) != (height, width):
            raise ValueError(
                f"{self.path} was exported for {height}x{width} inputs; got {tuple(pixel_values.shape[-2:])}. "
                "Use the checkpoint's image processor (it resizes to that size)"
            )
        feed = {INPUT_NAME: pixel_values.float().cpu().numpy()}
        if scales_depth_by_focal(self.config):
            batch = pixel_values.shape[0]
            focal = np.full(batch, self.config.reference_focal) if focal is None else focal.float().cpu().numpy()
            feed[FOCAL_NAME] = np.broadcast_to(focal, (batch,)).astype(np.float32)
        (depth,) = self.session.run([OUTPUT_NAME], feed)
        return DepthEstimatorOutput(predicted_depth=torch.from_numpy(np.ascontiguousarray(depth)))
