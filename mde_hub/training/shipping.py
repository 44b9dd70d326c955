"""Packaging trained checkpoints for shipping (train/ship.py, run by train/ship_checkpoints.sh): fp16 export, the
README's results table, and the predictions figure (docs/predictions.png).

Weights are stored in float16 while config.json keeps `dtype: float32`, so `from_pretrained` (whose default
`dtype="auto"` follows the config in transformers 5) returns a float32 model that runs on any CPU; pass
`dtype=torch.float16` to keep half precision.

Results: each shipped checkpoint holds `results_<split>_<raw|median>.json`, written by `mde-hub evaluate` on the
held-out splits of `TABLES` without and with median alignment: the development splits (synthetic frames of another
seed, the tails of the two videos) and the held-out real scenes of extra_real (rooms, close range, streets), one
README table each.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import PIL.Image
import torch
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

from ..data.files import atomic_output
from ..data.sample import DepthSample
from ..evaluation.evaluate import read_evaluation
from ..inference.predictor import DepthPredictor
from ..outputs.figures import predictions_figure

SHIPPED_FILES = ("config.json", "preprocessor_config.json", "model.safetensors", "training_record.json")
TABLES: dict[str, dict[str, str]] = {  # README table marker -> results_<split>_*.json -> column label
    "shipped-checkpoints-table": {"synthetic": "synthetic", "icl": "ICL-NUIM", "7scenes": "7-Scenes"},
    "shipped-checkpoints-real-table": {"rooms": "real rooms", "close": "close range", "streets": "streets"},
}
FP16_MAX = float(torch.finfo(torch.float16).max)


def export_fp16(run_dir: str | Path, out_dir: str | Path) -> Path:
    """Save the trained model of `run_dir` to `out_dir` with float16 weights (integer buffers unchanged), its image
    processor and training record; the reloaded weights are checked against the float32 ones."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    model = AutoModelForDepthEstimation.from_pretrained(run_dir, dtype=torch.float32)
    state = model.state_dict()
    too_large = [name for name, tensor in state.items() if tensor.is_floating_point() and tensor.abs().max() > FP16_MAX]
    if too_large:
        raise ValueError(f"{run_dir}: {too_large[:3]} exceed float16's range; cannot store them as fp16")
    half = {name: tensor.half() if tensor.is_floating_point() else tensor for name, tensor in state.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, state_dict=half)  # config.json keeps the model's dtype: float32
    AutoImageProcessor.from_pretrained(run_dir).save_pretrained(out_dir)
    shutil.copyfile(run_dir / "training_record.json", out_dir / "training_record.json")
    reloaded = AutoModelForDepthEstimation.from_pretrained(out_dir).state_dict()
    for name, tensor in state.items():
        if reloaded[name].dtype != tensor.dtype or not torch.equal(reloaded[name], half[name].to(tensor.dtype)):
            raise ValueError(f"{out_dir}: {name} did not reload as the float16-rounded {tensor.dtype} tensor")
    return out_dir


def read_results(checkpoint: Path) -> dict[tuple[str, str], dict[str, float]]:
    """(split, "raw" or "median") -> metrics, from the checkpoint's results_<split>_<raw|median>.json files."""
    results = {}
    for path in sorted(checkpoint.glob("results_*_*.json")):
        match = re.fullmatch(r"results_(.+)_(raw|median)\.json", path.name)
        if match:
            results[match[1], match[2]] = read_evaluation(path).metrics
    return results


def shipped_checkpoints(root: str | Path) -> list[Path]:
    """The checkpoint folders (with a config.json) under `root`, by name."""
    return sorted(path.parent for path in Path(root).glob("*/config.json"))


def results_table(root: str | Path = "checkpoints", table: str = "shipped-checkpoints-table") -> str:
    """Markdown: per checkpoint, its weights' size and AbsRel / δ1 on each held-out split of `TABLES[table]`, raw and
    median-aligned ("–" where it was not scored)."""
    splits = TABLES[table]
    header = ["checkpoint", "weights"] + [f"{label}: {kind}" for label in splits.values() for kind in ("raw", "median")]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    for checkpoint in shipped_checkpoints(root):
        results = read_results(checkpoint)
        cells = [f"`{checkpoint.name}`", f"{(checkpoint / 'model.safetensors').stat().st_size / 1e6:.1f} MB"]
        for split in splits:
            for kind in ("raw", "median"):
                metrics = results.get((split, kind))
                cells.append(f"{metrics['abs_rel']:.3f} / {metrics['delta1']:.3f}" if metrics else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(readme: str | Path, root: str | Path = "checkpoints") -> None:
    """Fill every table of `TABLES` between its markers (`<!-- NAME:start -->` ... `<!-- NAME:end -->`) of `readme`
    with the results of the checkpoints under `root`."""
    readme = Path(readme)
    text = readme.read_text()
    for table in TABLES:
        start_marker, end_marker = f"<!-- {table}:start -->", f"<!-- {table}:end -->"
        start, end = text.find(start_marker), text.find(end_marker)
        if start < 0 or end < start:
            raise ValueError(f"{readme}: no {start_marker} ... {end_marker} block to fill")
        text = text[: start + len(start_marker)] + "\n" + results_table(root, table) + "\n" + text[end:]
    with atomic_output(readme) as temporary:
        temporary.write_text(text)


def figure_samples(specs: Sequence[str]) -> list[DepthSample]:
    """Frames given as frame specs (`mde_hub.data.specs`): LAYOUT:PATH@INDEX (a folder's frame) or
    synthetic:SEED@INDEX (a synthetic indoor frame)."""
    from ..data.specs import open_frame

    return [open_frame(spec) for spec in specs]


def write_predictions_figure(output: str | Path, checkpoints: str | Path, frames: Sequence[str]) -> PIL.Image.Image:
    """`predictions_figure` of every checkpoint under `checkpoints` on the `figure_samples` of `frames`, written to
    `output` as an optimised PNG; returns the image."""
    samples = figure_samples(frames)
    image = predictions_figure([DepthPredictor.from_pretrained(path) for path in shipped_checkpoints(checkpoints)], samples)
    with atomic_output(output) as temporary:
        image.save(temporary, format="PNG", optimize=True)
    return image
