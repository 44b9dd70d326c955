"""Per-model measurements: size, FLOPs, CPU latency of eager fp32 and of the optimised paths, memory, training."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig

from ..inference.onnx_export import INPUT_NAME, OUTPUT_NAME, export_graph, onnx_session
from ..models.configuration_utils import DepthConfig
from ..models.registry import entries, get_entry
from .measure import count_flops, median_seconds, peak_memory_bytes, training_images_per_second

OPTIMISED_PATHS = ("channels_last", "compile", "onnxruntime")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    kind: str  # "paper", "compact" or "tiny"
    config: DepthConfig

    def build(self) -> torch.nn.Module:
        return get_entry(self.config.model_type).model_class(self.config)


@dataclass
class ModelResult:
    name: str
    kind: str
    model_type: str
    parameters: int
    gflops: float
    input_size: tuple[int, int]
    eager_ms: float
    max_abs_output: float  # of the eager output: the scale of the paths' differences
    peak_forward_mib: float | None
    paths_ms: dict[str, float] = field(default_factory=dict)
    paths_max_abs_diff: dict[str, float] = field(default_factory=dict)
    path_errors: dict[str, str] = field(default_factory=dict)
    compile_s: float | None = None
    onnx_export_s: float | None = None
    train_images_per_s: float | None = None
    train_batch: int = 0
    train_size: tuple[int, int] = (0, 0)
    train_error: str | None = None

    @property
    def best_path(self) -> tuple[str, float]:
        """The fastest optimised path and its latency (eager if none ran)."""
        if not self.paths_ms:
            return "eager", self.eager_ms
        return min(self.paths_ms.items(), key=lambda item: item[1])


def paper_specs(names: list[str] | None, quick: bool) -> list[ModelSpec]:
    """The paper configurations (each registry entry's `benchmark_presets`: "bts", "dpt-hybrid", "dpt-large", ...),
    or with `quick` each architecture's tiny preset ("NAME-tiny")."""
    if quick:
        specs = [ModelSpec(entry.benchmark_name("tiny"), "tiny", entry.config("tiny")) for entry in entries()]
    else:
        specs = [
            ModelSpec(entry.benchmark_name(preset), "paper", entry.config(preset))
            for entry in entries()
            for preset in entry.benchmark_presets
        ]
    return [spec for spec in specs if _wanted(spec.name, names)]


def compact_specs(checkpoints: str | Path, names: list[str] | None) -> tuple[list[ModelSpec], str | None]:
    """One row per `checkpoints/*/config.json` (their configurations, random weights), and a note if there is none."""
    folders = sorted(path.parent for path in Path(checkpoints).glob("*/config.json"))
    if not folders:
        return [], f"no compact configurations: {checkpoints}/*/config.json not found"
    specs = [ModelSpec(f.name, "compact", AutoConfig.from_pretrained(f)) for f in folders]
    return [spec for spec in specs if _wanted(spec.name, names) or (names and "compact" in names)], None


def _wanted(name: str, names: list[str] | None) -> bool:
    return not names or name in names or any(name.startswith(f"{wanted}-") for wanted in names)


def _max_abs_diff(output: torch.Tensor, reference: torch.Tensor) -> float:
    return float((output.float() - reference).abs().max())


def _time_path(
    result: ModelResult, path: str, run: Callable[[], torch.Tensor], reference: torch.Tensor, repeats: int
) -> None:
    """Record `path`'s median latency and its difference from eager, or why it failed."""
    try:
        result.paths_max_abs_diff[path] = _max_abs_diff(run(), reference)
        result.paths_ms[path] = 1000 * median_seconds(run, repeats, warmup=0)
    except Exception as error:  # noqa: BLE001 - a path that does not work on this machine is reported, not fatal
        result.path_errors[path] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def benchmark_model(
    spec: ModelSpec, size: tuple[int, int], repeats: int, compile_model: bool, train_size: tuple[int, int], train_batch: int
) -> ModelResult:
    """Every CPU measurement of one model at batch 1 and `size` (see BENCHMARKS.md for the method)."""
    torch.manual_seed(0)
    model = spec.build().eval()
    pixel_values = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))

    def forward(module: Callable[..., Any], inputs: torch.Tensor) -> Callable[[], torch.Tensor]:
        def run() -> torch.Tensor:
            with torch.inference_mode():
                return module(pixel_values=inputs).predicted_depth

        return run

    eager = forward(model, pixel_values)
    reference = eager()
    result = ModelResult(
        name=spec.name,
        kind=spec.kind,
        model_type=spec.config.model_type,
        parameters=sum(p.numel() for p in model.parameters()),
        gflops=count_flops(spec.build, (1, 3, *size)) / 1e9,
        input_size=size,
        eager_ms=1000 * median_seconds(eager, repeats),
        max_abs_output=float(reference.abs().max()),
        peak_forward_mib=None,
    )
    peak = peak_memory_bytes(eager)
    result.peak_forward_mib = None if peak is None else peak / 2**20

    model.to(memory_format=torch.channels_last)
    _time_path(result, "channels_last", forward(model, pixel_values.contiguous(memory_format=torch.channels_last)), reference, repeats)
    model.to(memory_format=torch.contiguous_format)

    if compile_model:
        compiled = forward(torch.compile(model), pixel_values)
        try:
            start = time.perf_counter()
            compiled()
            result.compile_s = time.perf_counter() - start  # compilation plus one run
        except Exception as error:  # noqa: BLE001
            result.path_errors["compile"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
        else:
            _time_path(result, "compile", compiled, reference, repeats)
        del compiled
        torch._dynamo.reset()

    with tempfile.TemporaryDirectory(prefix="mde-hub-bench-") as work:
        try:
            start = time.perf_counter()
            export_graph(model, Path(work) / "model.onnx", size=size)
            result.onnx_export_s = time.perf_counter() - start
            session = onnx_session(Path(work) / "model.onnx")
            inputs = {INPUT_NAME: pixel_values.numpy()}
            _time_path(result, "onnxruntime", lambda: torch.from_numpy(session.run([OUTPUT_NAME], inputs)[0]), reference, repeats)
        except Exception as error:  # noqa: BLE001
            result.path_errors["onnxruntime"] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"

    result.train_batch, result.train_size = train_batch, train_size
    try:
        steps = max(1, repeats // 2)  # training steps cost about 3 forwards each
        result.train_images_per_s = training_images_per_second(model, train_batch, train_size, steps, spec.config.max_depth)
    except Exception as error:  # noqa: BLE001
        result.train_error = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return result
