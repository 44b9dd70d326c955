"""The markdown report of a benchmark run."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .dpt_transformers import DptComparison
from .models import OPTIMISED_PATHS, ModelResult

MODEL_COLUMNS = (
    "model", "config", "params (M)", "GFLOPs", "eager fp32 (ms)", "channels_last (ms)", "torch.compile (ms)",
    "ONNX Runtime (ms)", "best path", "speed-up", "peak forward memory (MiB)", "training (images/s)",
)


@dataclass
class BenchReport:
    machine: dict[str, Any]
    options: dict[str, Any]
    models: list[ModelResult]
    compact_note: str | None
    dpt_comparison: DptComparison | None
    data: list[dict[str, Any]]
    gpu: dict[str, Any] | None
    startup: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for row, result in zip(data["models"], self.models):
            row["best_path"], row["best_ms"] = result.best_path
        if self.dpt_comparison is not None:
            data["dpt_comparison"]["ratio"] = self.dpt_comparison.ratio
        return data


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: tuple[str, ...] | list[str], rows: list[list[str]], numeric_from: int = 1) -> list[str]:
    align = ["---" if index < numeric_from else "---:" for index in range(len(header))]
    return [_row(list(header)), _row(align), *(_row(row) for row in rows)]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def _path_cell(result: ModelResult, path: str) -> str:
    if path in result.paths_ms:
        return _ms(result.paths_ms[path])
    return "failed" if path in result.path_errors else "skipped"


def model_rows(results: list[ModelResult]) -> list[list[str]]:
    rows = []
    for result in results:
        best, best_ms = result.best_path
        train = "-" if result.train_images_per_s is None else f"{result.train_images_per_s:.2f}"
        rows.append([
            result.name, result.kind, f"{result.parameters / 1e6:.2f}", f"{result.gflops:.1f}", _ms(result.eager_ms),
            *(_path_cell(result, path) for path in OPTIMISED_PATHS), best, f"{result.eager_ms / best_ms:.2f}x",
            "-" if result.peak_forward_mib is None else f"{result.peak_forward_mib:.0f}", train,
        ])
    return rows


def model_notes(results: list[ModelResult]) -> list[str]:
    notes = []
    for result in results:
        parts = []
        if result.compile_s is not None:
            parts.append(f"first torch.compile call {result.compile_s:.0f} s")
        if result.onnx_export_s is not None:
            parts.append(f"ONNX export {result.onnx_export_s:.0f} s")
        diffs = ", ".join(f"{path} {diff:.1e}" for path, diff in result.paths_max_abs_diff.items())
        if diffs:
            parts.append(f"max |path - eager|: {diffs} (max |eager output| {result.max_abs_output:.3g})")
        parts += [f"{path} failed: {error}" for path, error in result.path_errors.items()]
        if result.train_error:
            parts.append(f"training failed: {result.train_error}")
        notes.append(f"- {result.name}: " + "; ".join(parts))
    return notes


def render_markdown(report: BenchReport) -> str:
    machine, versions = report.machine, report.machine["versions"]
    height, width = report.models[0].input_size
    train_height, train_width = report.models[0].train_size
    lines = [
        "## Machine",
        "",
        f"- date: {machine['date_utc']}",
        f"- CPU: {machine['cpu']}, {machine['cpu_cores']} cores, {machine['torch_threads']} torch threads",
        f"- GPU: {machine['gpu'] or 'none (no GPU figures in this run)'}",
        f"- platform: {machine['platform']}",
        "- versions: " + ", ".join(f"{name} {version}" for name, version in versions.items()),
        f"- command: `{report.options['command']}`",
        "",
        f"## Models (CPU, batch 1, fp32, {height}x{width}; median of {report.options['repeats']} runs after a warm-up)",
        "",
        *_table(MODEL_COLUMNS, model_rows(report.models), numeric_from=2),
        "",
        f"Training: AdamW steps (forward with labels, the model's loss, backward) on batches of "
        f"{report.models[0].train_batch} at {train_height}x{train_width}. Speed-up: eager over the best path.",
    ]
    if report.compact_note:
        lines += ["", f"Note: {report.compact_note}."]
    lines += ["", *model_notes(report.models)]
    comparison = report.dpt_comparison
    if comparison is not None:
        lines += [
            "",
            f"## DPT-Hybrid: mde-hub against transformers' DPTForDepthEstimation (CPU, batch 1, {comparison.size}x{comparison.size})",
            "",
            *_table(
                ("params ours / transformers (M)", "ours (ms)", "transformers (ms)", "ratio ours / transformers",
                 "max abs difference (max abs output)"),
                [[
                    f"{comparison.parameters_ours / 1e6:.2f} / {comparison.parameters_transformers / 1e6:.2f}",
                    _ms(comparison.ours_ms), _ms(comparison.transformers_ms), f"{comparison.ratio:.3f}",
                    f"{comparison.max_abs_diff:.1e} ({comparison.max_abs_output:.3g})",
                ]],
                numeric_from=0,
            ),
        ]
    lines += [
        "",
        "## Data and evaluation",
        "",
        *_table(("what", "size (H x W)", "throughput"), [
            [row["what"], f"{row['size'][0]} x {row['size'][1]}", f"{row['per_second']:.1f} {row['unit']}"] for row in report.data
        ], numeric_from=2),
    ]
    if report.startup:
        lines += [
            "",
            "## Command line start-up (a fresh process; median wall time)",
            "",
            *_table(("what", "seconds"), [[row["what"], f"{row['seconds']:.2f}"] for row in report.startup]),
        ]
    if report.gpu is not None:
        figures = report.gpu
        lines += [
            "",
            f"## GPU: {figures['device']}, bf16 autocast (measured bf16 matmul peak {figures['matmul_bf16_peak_tflops']:.0f} TFLOP/s)",
            "",
            *_table(
                ("model", "batch x size", "inference (images/s)", "inference TFLOP/s (% of peak)", "training (images/s)",
                 "training TFLOP/s (% of peak)"),
                [[
                    row["name"], f"{row['batch']} x {row['size'][0]}x{row['size'][1]}", f"{row['inference_images_per_s']:.1f}",
                    f"{row['inference_tflops']:.1f} ({100 * row['inference_tflops'] / figures['matmul_bf16_peak_tflops']:.0f} %)",
                    f"{row['training_images_per_s']:.1f}",
                    f"{row['training_tflops']:.1f} ({100 * row['training_tflops'] / figures['matmul_bf16_peak_tflops']:.0f} %)",
                ] for row in figures["models"]],
            ),
        ]
    return "\n".join(lines) + "\n"
