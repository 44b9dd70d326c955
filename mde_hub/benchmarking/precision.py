"""`mde-hub bench --precision`: what the reduced-precision path (`DepthPredictor(dtype="bfloat16")`, autocast)
costs in accuracy and gains (or loses) in speed, per shipped checkpoint, on real RGB-D frames.

Each model predicts the same frames in float32 and in the reduced precision, one frame at a time, the two taking
turns on each frame. The table gives
the largest and the median per-pixel relative difference |d_low - d_fp32| / d_fp32 of the predicted depth, delta1
against the frames' ground truth under protocol `none` (raw metric depth, and median-aligned) in float32 and its
change, and the time per frame in each precision with their ratio.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data.files import atomic_output
from ..data.sample import DepthSample
from ..data.specs import open_spec
from ..evaluation.metrics import DepthMetricAccumulator
from ..evaluation.protocols import get_protocol
from ..inference.device import NATIVE_BF16_CPU_FLAGS, cpu_flags
from ..inference.predictor import DepthPredictor
from .suite import cpu_model

RGBD_SCENES = ("icl_livingroom1", "7scenes_redkitchen")
"""Folders of ../shared/data/rgbd scored: a rendered room and a real Kinect kitchen, 640x480 (its MANIFEST.md)."""
ALIGNMENTS = ("none", "median")
PRECISION_COLUMNS = (
    "model", "frames", "max rel. depth diff", "median rel. depth diff", "delta1 fp32 raw", "delta1 change raw",
    "delta1 fp32 median-aligned", "delta1 change median-aligned", "fp32 (ms/frame)", "LOW (ms/frame)", "LOW / fp32 time",
)


@dataclass
class PrecisionRow:
    model: str
    frames: int
    max_relative_difference: float
    median_relative_difference: float
    delta1: dict[str, dict[str, float]]  # alignment -> dtype -> delta1
    seconds_per_frame: dict[str, float]  # dtype -> median seconds per frame

    def cells(self, dtype: str) -> list[str]:
        change = {alignment: self.delta1[alignment][dtype] - self.delta1[alignment]["float32"] for alignment in ALIGNMENTS}
        fp32_ms, low_ms = (1000 * self.seconds_per_frame[name] for name in ("float32", dtype))
        return [
            self.model, str(self.frames), f"{self.max_relative_difference:.2e}", f"{self.median_relative_difference:.2e}",
            f"{self.delta1['none']['float32']:.4f}", f"{change['none']:+.4f}", f"{self.delta1['median']['float32']:.4f}",
            f"{change['median']:+.4f}", f"{fp32_ms:.0f}", f"{low_ms:.0f}", f"{low_ms / fp32_ms:.2f}x",
        ]


def rgbd_frames(root: str | Path, per_scene: int) -> list[DepthSample]:
    """`per_scene` frames of each of `RGBD_SCENES` under `root`, evenly spaced through each video."""
    if per_scene < 1:
        raise ValueError(f"frames per scene must be at least 1; got {per_scene}")
    samples = []
    for scene in RGBD_SCENES:
        dataset, _ = open_spec(str(Path(root) / scene))
        indices = np.unique(np.linspace(0, len(dataset) - 1, per_scene).round().astype(int))
        samples += [dataset[int(index)] for index in indices]
    return samples


def _interleaved_predictions(
    predictors: dict[str, DepthPredictor], samples: list[DepthSample]
) -> tuple[dict[str, list[np.ndarray]], dict[str, float]]:
    """Each predictor's depth of each sample, and its median seconds per frame: the predictors take turns on each
    frame (after one untimed warm-up frame each), so a load that changes during the run slows them alike."""
    depths: dict[str, list[np.ndarray]] = {name: [] for name in predictors}
    seconds: dict[str, list[float]] = {name: [] for name in predictors}
    for predictor in predictors.values():
        predictor.predict(samples[0].image)
    for sample in samples:
        for name, predictor in predictors.items():
            start = time.perf_counter()
            depths[name].append(predictor.predict(sample.image).depth)
            seconds[name].append(time.perf_counter() - start)
    return depths, {name: statistics.median(times) for name, times in seconds.items()}


def compare_precision(checkpoint: str | Path, samples: list[DepthSample], dtype: str = "bfloat16") -> PrecisionRow:
    """One checkpoint's `PrecisionRow` on `samples` (metric models: raw delta1 needs metres)."""
    predictors = {name: DepthPredictor.from_pretrained(checkpoint, dtype=name) for name in ("float32", dtype)}
    meaning = predictors["float32"].meaning
    if not meaning.is_metric:
        raise ValueError(f"{checkpoint} predicts {meaning.describe()}; the precision table scores metric depth")
    depths, seconds = _interleaved_predictions(predictors, samples)
    relative = np.concatenate(
        [(np.abs(low - full) / np.abs(full)).ravel() for low, full in zip(depths[dtype], depths["float32"])]
    )
    protocol = get_protocol("none")
    delta1: dict[str, dict[str, float]] = {}
    for alignment in ALIGNMENTS:
        delta1[alignment] = {}
        for name, predictions in depths.items():
            accumulator = DepthMetricAccumulator(protocol, alignment=alignment)
            for prediction, sample in zip(predictions, samples):
                accumulator.update(prediction, sample.depth, valid_mask=sample.valid)
            delta1[alignment][name] = accumulator.compute()["delta1"]
    return PrecisionRow(
        Path(checkpoint).name, len(samples), float(relative.max()), float(np.median(relative)), delta1, seconds
    )


def render_precision_table(rows: list[PrecisionRow], dtype: str, machine: str) -> str:
    low = "bf16" if dtype == "bfloat16" else "fp16"
    header = [column.replace("LOW", low) for column in PRECISION_COLUMNS]
    lines = [
        f"## {low} autocast against fp32 on real frames ({machine})",
        "",
        "| " + " | ".join(header) + " |",
        "| --- | " + " | ".join("---:" for _ in header[1:]) + " |",
        *("| " + " | ".join(row.cells(dtype)) + " |" for row in rows),
        "",
    ]
    return "\n".join(lines)


def run_precision_benchmark(
    checkpoints: str | Path,
    rgbd_root: str | Path,
    per_scene: int,
    output: str | Path | None,
    dtype: str = "bfloat16",
    progress: Callable[[int, int | None, str | None], None] | None = None,
) -> list[PrecisionRow]:
    """Compare every checkpoint folder under `checkpoints` on `rgbd_frames(rgbd_root, per_scene)`; print the table
    (and write it to `output` with the raw numbers beside it as .json). Without the frames, say so and do nothing.
    `progress(done, total, label)` is told of each checkpoint compared."""
    if dtype not in ("bfloat16", "float16"):
        raise ValueError(f"the precision table compares bfloat16 or float16 with float32; got {dtype!r}")
    if not all((Path(rgbd_root) / scene).is_dir() for scene in RGBD_SCENES):
        print(f"skipped the precision table: no {' and '.join(RGBD_SCENES)} under {rgbd_root}", file=sys.stderr)
        return []
    folders = sorted(path.parent for path in Path(checkpoints).glob("*/config.json"))
    if not folders:
        raise ValueError(f"no checkpoint folders (*/config.json) under {checkpoints}")
    samples = rgbd_frames(rgbd_root, per_scene)
    rows = []
    for done, folder in enumerate(folders):
        if progress is not None:
            progress(done, len(folders), f"float32 and {dtype} on {folder.name}")
        rows.append(compare_precision(folder, samples, dtype))
    if progress is not None:
        progress(len(folders), len(folders), None)
    native = sorted(cpu_flags() & NATIVE_BF16_CPU_FLAGS) or ["no native bf16"]
    markdown = render_precision_table(rows, dtype, f"{cpu_model()}, {', '.join(native)}")
    print(markdown, end="")
    if output is not None:
        output = Path(output)
        raw: dict[str, Any] = {"dtype": dtype, "machine": cpu_model(), "rows": [asdict(row) for row in rows]}
        with atomic_output(output) as temporary:
            temporary.write_text(markdown)
        with atomic_output(output.with_suffix(".json")) as temporary:
            temporary.write_text(json.dumps(raw, indent=2) + "\n")
    return rows
