"""`OnnxDepthModel`: an exported `model.onnx` run by ONNX Runtime behind the model interface `DepthPredictor` uses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.modeling_outputs import DepthEstimatorOutput

from .onnx_export import INPUT_NAME, OUTPUT_NAME, onnx_session


class OnnxDepthModel:
    """Callable like a depth model: `model(pixel_values=...)` returns a `DepthEstimatorOutput` whose
    `predicted_depth` comes from ONNX Runtime (CPU). `config` is the checkpoint's, for what the depth means."""

    device = torch.device("cpu")
    dtype = torch.float32

    def __init__(self, path: str | os.PathLike, config: Any, threads: int | None = None) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No ONNX model at {path}; write one with `mde-hub export onnx CHECKPOINT`.")
        self.path = path
        self.config = config
        self.session = onnx_session(path, threads)
        (self._input,) = self.session.get_inputs()
        if self._input.name != INPUT_NAME:
            raise ValueError(f"{path}: the graph's input is {self._input.name!r}, not {INPUT_NAME!r}.")

    @property
    def num_bytes(self) -> int:
        """Size of the graph file (its weights are inside it)."""
        return self.path.stat().st_size

    def eval(self) -> "OnnxDepthModel":
        return self

    def __call__(self, pixel_values: torch.Tensor) -> DepthEstimatorOutput:
        height, width = self._input.shape[2:]
        if isinstance(height, int) and tuple(pixel_values.shape[-2:]) != (height, width):
            raise ValueError(
                f"{self.path} was exported for {height}x{width} inputs; got {tuple(pixel_values.shape[-2:])}. "
                "Use the checkpoint's image processor (it resizes to that size)."
            )
        (depth,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: pixel_values.float().cpu().numpy()})
        return DepthEstimatorOutput(predicted_depth=torch.from_numpy(np.ascontiguousarray(depth)))
