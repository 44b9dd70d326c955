#!/usr/bin/env python
"""Packaging of the shipped checkpoints (train/ship_checkpoints.sh): fp16 export, README table, prediction figure.

    python train/ship.py export runs/ship/NAME checkpoints/NAME   # fp16 weights + configs + training record
    python train/ship.py table [checkpoints]                      # the README's results table (markdown)
    python train/ship.py readme [checkpoints]                     # put that table into README.md
    python train/ship.py figure docs/predictions.png --frames ... # input | ground truth | each checkpoint's depth

Weights are stored in float16 while config.json keeps `dtype: float32`, so `from_pretrained` (whose default
`dtype="auto"` follows the config in transformers 5) returns a float32 model that runs on any CPU; pass
`dtype=torch.float16` to keep half precision.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont
import torch
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

from mde_hub.data.sample import DepthSample
from mde_hub.data.files import atomic_output
from mde_hub.evaluation.evaluate import read_evaluation
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.colormaps import colorize_depth

SHIPPED_FILES = ("config.json", "preprocessor_config.json", "model.safetensors", "training_record.json")
SPLITS = {"synthetic": "synthetic", "icl": "ICL-NUIM", "7scenes": "7-Scenes"}  # results_<split>_*.json -> column label
TABLE_START, TABLE_END = "<!-- shipped-checkpoints-table:start -->", "<!-- shipped-checkpoints-table:end -->"
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


def results_table(root: str | Path = "checkpoints") -> str:
    """Markdown: per checkpoint, its weights' size and AbsRel / δ1 on each held-out split, raw and median-aligned."""
    header = ["checkpoint", "weights"] + [f"{label}: {kind}" for label in SPLITS.values() for kind in ("raw", "median")]
    lines = ["| " + " | ".join(header) + " |", "|---|---:|" + "---:|" * (len(header) - 2)]
    for checkpoint in shipped_checkpoints(root):
        results = read_results(checkpoint)
        cells = [f"`{checkpoint.name}`", f"{(checkpoint / 'model.safetensors').stat().st_size / 1e6:.1f} MB"]
        for split in SPLITS:
            for kind in ("raw", "median"):
                metrics = results.get((split, kind))
                cells.append(f"{metrics['abs_rel']:.3f} / {metrics['delta1']:.3f}" if metrics else "–")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def update_readme(readme: str | Path, table: str) -> None:
    """Replace the text between the table markers of `readme` with `table`."""
    readme = Path(readme)
    text = readme.read_text()
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"{readme}: no {TABLE_START} ... {TABLE_END} block to fill")
    with atomic_output(readme) as temporary:
        temporary.write_text(text[: start + len(TABLE_START)] + "\n" + table + "\n" + text[end:])


def _label(text: str, width: int, height: int = 16) -> np.ndarray:
    """A white strip with `text` in PIL's built-in font (no font file needed)."""
    strip = PIL.Image.new("RGB", (width, height), "white")
    PIL.ImageDraw.Draw(strip).text((4, 2), text, fill="black", font=PIL.ImageFont.load_default())
    return np.asarray(strip)


def predictions_figure(checkpoints: Sequence[Path], samples: Sequence[DepthSample], height: int = 120) -> PIL.Image.Image:
    """One row per sample: the image, its ground truth, then each checkpoint's depth (Spectral, near = red, one
    shared 0.5-5 m scale, invalid ground truth black), every panel `height` px high, under a row of titles."""
    predictors = [DepthPredictor.from_pretrained(path) for path in checkpoints]
    titles = ["input", "ground truth", *(p.model.config.model_type.removeprefix("mde_") for p in predictors)]
    width = round(samples[0].image.shape[1] * height / samples[0].image.shape[0])
    rows = [np.concatenate([_label(title, width) for title in titles], axis=1)]
    for sample in samples:
        depths = [sample.depth, *(predictor.predict(sample.image).depth for predictor in predictors)]
        panels = [sample.image, *(colorize_depth(depth, value_range=(0.5, 5.0)) for depth in depths)]
        resized = [np.asarray(PIL.Image.fromarray(panel).resize((width, height), PIL.Image.BILINEAR)) for panel in panels]
        rows.append(np.concatenate(resized, axis=1))
    return PIL.Image.fromarray(np.concatenate(rows, axis=0))


def _samples(specs: Sequence[str]) -> list[DepthSample]:
    """Frames given as frame specs (`mde_hub.data.specs`): LAYOUT:PATH@INDEX (a folder's frame), synthetic:SEED@INDEX
    (a synthetic indoor frame) or synthetic:KIND:N[:SEED]@INDEX."""
    from mde_hub.data.specs import open_frame

    return [open_frame(spec) for spec in specs]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export")
    export.add_argument("run_dir")
    export.add_argument("out_dir")
    for name in ("table", "readme"):
        commands.add_parser(name).add_argument("checkpoints", nargs="?", default="checkpoints")
    figure = commands.add_parser("figure")
    figure.add_argument("output")
    figure.add_argument("--frames", nargs="+", required=True, help="frame specs: LAYOUT:PATH@INDEX or synthetic:SEED@INDEX")
    figure.add_argument("--checkpoints", default="checkpoints")
    args = parser.parse_args(argv)
    if args.command == "export":
        print(f"exported {export_fp16(args.run_dir, args.out_dir)}")
    elif args.command == "table":
        print(results_table(args.checkpoints))
    elif args.command == "readme":
        update_readme("README.md", results_table(args.checkpoints))
        print("updated README.md")
    else:
        image = predictions_figure(shipped_checkpoints(args.checkpoints), _samples(args.frames))
        with atomic_output(args.output) as temporary:
            image.save(temporary, format="PNG", optimize=True)
        print(f"wrote {args.output} ({image.width}x{image.height})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
