"""`mde-hub bench`: run every measurement, print the markdown report, write it and the raw numbers (JSON)."""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..data.files import atomic_output
from ..models.registry import entries
from . import gpu
from .dpt_transformers import DptComparison, compare_dpt_hybrid
from .measure import count_flops
from .models import ModelResult, ModelSpec, benchmark_model, compact_specs, paper_specs
from .pipeline import (
    NYU_SIZE,
    NYU_TEST_PAIRS,
    evaluate_images_per_second,
    frames_per_second,
    metric_pairs_per_second,
    metrics_first_call_seconds,
)
from .report import BenchReport, render_markdown
from .startup import startup_rows

FULL_SIZE, QUICK_SIZE = NYU_SIZE, (64, 96)
TRAIN_BATCH, FULL_TRAIN_SIZE = 2, (384, 384)  # 384 x 384: DPT's training crop, and enough tokens for AdaBins
GPU_BATCH = 8
EVALUATE_BATCH_SIZES = (1, 8)  # evaluate throughput at batch 8 against batch 1 (issue 18)
COMPILE_CHOICES = ("none", "compact", "all")
PACKAGES = ("torch", "transformers", "timm", "onnx", "onnxruntime", "onnxscript", "numpy")


@dataclass
class BenchOptions:
    models: list[str] | None = None
    quick: bool = False
    repeats: int = 3
    threads: int | None = None
    compile: str = "compact"  # rows timed with torch.compile: "none", "compact" or "all" (and the metrics kernel)
    checkpoints: str = "checkpoints"
    command: str = field(default_factory=lambda: "mde-hub " + " ".join(sys.argv[1:]))


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "versions": versions,
    }


def _data_rows(quick: bool, compiled_metrics: bool) -> list[dict[str, Any]]:
    size = QUICK_SIZE if quick else NYU_SIZE
    seconds, batch = (0.1, 1) if quick else (3.0, 2)
    rows = []
    devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    for device in devices:
        for kind in ("indoor", "outdoor"):
            fps = frames_per_second(kind, *size, batch=batch, device=device, seconds=seconds)
            rows.append({"what": f"synthetic {kind} frames ({device}, batch {batch})", "size": list(size), "per_second": fps,
                         "unit": "frames/s"})
    pairs = 16 if quick else NYU_TEST_PAIRS
    feeds = [("numpy", 1, "one update per pair"), ("numpy", 8, "updates of 8")]
    if compiled_metrics:
        first_call_s = metrics_first_call_seconds("compiled")
        feeds.append(("compiled", 8, f"updates of 8, compiled kernel (first call {first_call_s:.1f} s)"))
    for kernel, batch, feed in feeds:
        rate, _ = metric_pairs_per_second(pairs=pairs, batch=batch, kernel=kernel)
        rows.append({"what": f"nine metrics, nyu_eigen, {pairs} pairs, {feed}: {pairs / rate:.2f} s", "size": list(NYU_SIZE),
                     "per_second": rate, "unit": "pairs/s"})
    frames = 4 if quick else 32
    smallest = entries()[0]  # the registry lists the model without a paper first: the Baseline
    rates = evaluate_images_per_second(EVALUATE_BATCH_SIZES, frames, size, smallest, rounds=1 if quick else 2)
    for batch_size, rate in rates.items():
        ratio = rate / rates[EVALUATE_BATCH_SIZES[0]]
        rows.append({"what": f"evaluate, {smallest.name}, {frames} frames, batch {batch_size}: {ratio:.2f}x batch 1",
                     "size": list(size), "per_second": rate, "unit": "images/s"})
    return rows


def _gpu_figures(specs: list[ModelSpec], size: tuple[int, int], repeats: int) -> dict[str, Any]:
    figures: dict[str, Any] = {"device": torch.cuda.get_device_name(), "matmul_bf16_peak_tflops": gpu.matmul_peak_tflops()}
    rows = []
    for spec in specs:
        flops = count_flops(spec.build, (1, 3, *size))
        torch.manual_seed(0)
        infer_rate, infer_tflops = gpu.bf16_inference(spec.build(), flops, GPU_BATCH, size, repeats)
        train_rate, train_tflops = gpu.bf16_training(spec.build(), flops, GPU_BATCH, size, repeats, spec.config.max_depth)
        rows.append({"name": spec.name, "batch": GPU_BATCH, "size": list(size), "inference_images_per_s": infer_rate,
                     "inference_tflops": infer_tflops, "training_images_per_s": train_rate, "training_tflops": train_tflops})
        torch.cuda.empty_cache()
    figures["models"] = rows
    return figures


def run_benchmark_suite(
    options: BenchOptions, output: str | os.PathLike, progress: Callable[[int, int, str], None] | None = None
) -> BenchReport:
    """Run the suite, print the markdown report, write it to `output` and the raw numbers to `output` with .json.
    `progress(done, total, step)` is called as each step (a model row, the DPT comparison, the data rows, the
    start-up times, the GPU figures) starts, and once all are done."""
    if options.compile not in COMPILE_CHOICES:
        raise ValueError(f"compile must be one of {COMPILE_CHOICES}; got {options.compile!r}")
    if options.repeats < 1:
        raise ValueError(f"--repeats must be at least 1; got {options.repeats}")
    if options.threads:
        torch.set_num_threads(options.threads)
    machine = machine_info()
    specs = paper_specs(options.models, options.quick)
    compact_note = "compact rows are not part of --quick" if options.quick else None
    if not options.quick:
        compact, compact_note = compact_specs(options.checkpoints, options.models)
        specs += compact
    if not specs:
        raise ValueError(f"--models {options.models} matches no model row")
    size = QUICK_SIZE if options.quick else FULL_SIZE
    train_size = QUICK_SIZE if options.quick else FULL_TRAIN_SIZE
    steps = len(specs) + 3 + torch.cuda.is_available()
    report_step = progress or (lambda done, total, step: None)
    results = []
    for done, spec in enumerate(specs):
        report_step(done, steps, spec.name)
        compile_model = options.compile == "all" or (options.compile == "compact" and spec.kind == "compact")
        results.append(benchmark_model(spec, size, options.repeats, compile_model, train_size, TRAIN_BATCH))
    report_step(len(specs), steps, "DPT-Hybrid against transformers")
    comparison = compare_dpt_hybrid(options.quick, max(options.repeats, 5))
    report_step(len(specs) + 1, steps, "the data generator and the metrics")
    data = _data_rows(options.quick, compiled_metrics=options.compile != "none")
    report_step(len(specs) + 2, steps, "command line start-up")
    startup = startup_rows(options.repeats, options.quick)
    gpu_figures = None
    if torch.cuda.is_available():
        report_step(len(specs) + 3, steps, "GPU throughput")
        gpu_figures = _gpu_figures(specs, size, options.repeats)
    report_step(steps, steps, "done")
    report = BenchReport(
        machine, dataclasses.asdict(options), results, compact_note, comparison, data, gpu_figures, startup
    )
    markdown = render_markdown(report)
    print(markdown, end="")
    output = Path(output)
    with atomic_output(output) as temporary:
        temporary.write_text(markdown)
    with atomic_output(output.with_suffix(".json")) as temporary:
        temporary.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    return report
