"""What the page says of each model beside its result, read from the model's own files (never written per model here):
its config (architecture, output meaning, depth range), its `training_record.json` (data, steps, hardware) and its
`results*.json` (held-out numbers without alignment). A model without those files is described from its config alone.

Out-of-range rule (`range_warning`): a metric model's output is bounded by its `min_depth` and `max_depth`; when at
least `CAP_SHARE` of the valid pixels lie at or beyond `CAP_FRACTION` of the cap, the scene is deeper than the model
can express, and when as many lie at or below `min_depth / CAP_FRACTION`, it is nearer (a street model on a
tabletop); the page says so. An indoor model on a street often stays inside its range (it predicts 1-6 m for a
street 5-85 m away): no rule on the output can see that, so each model's description says what it was trained on
and its held-out numbers on rooms and streets.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from mde_hub.evaluation.evaluate import folder_evaluations
from mde_hub.models.depth_meaning import depth_meaning_of
from mde_hub.models.registry import display_name

CAP_FRACTION = 0.95
"""A metric depth at or beyond this fraction of the model's `max_depth` counts as at its cap."""
CAP_SHARE = 0.05
"""The share of valid pixels at the cap from which a prediction is flagged as outside the model's range."""
HELD_OUT_METRICS = ("abs_rel", "delta1")


def _read_json(path: str) -> dict[str, Any]:
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _training_line(record: dict[str, Any]) -> str:
    """'trained from scratch on 625 frames (synthetic indoor, icl_livingroom1, 7scenes_redkitchen), 1200 steps
    on 2 CPU cores' from a training record; "" without one."""
    if not record:
        return ""
    arguments = record.get("arguments", {})
    data, model = arguments.get("data", {}), arguments.get("model", {})
    start = "from a pretrained backbone" if model.get("backbone_pretrained") else "from scratch"
    sources = []
    if data.get("dataset") in ("synthetic", "mix"):
        sources.append(f"synthetic {data.get('synthetic_kind', '')}".strip())
    sources += [os.path.basename(os.path.normpath(entry.split(":", 1)[-1])) for entry in data.get("mix_folders") or []]
    if data.get("dataset_path"):
        sources.append(os.path.basename(os.path.normpath(data["dataset_path"])))
    if not sources and data.get("dataset"):
        sources.append(str(data["dataset"]))
    frames = f"{record['train_samples']} frames" if record.get("train_samples") else "its data"
    line = f"trained {start} on {frames}" + (f" ({', '.join(sources)})" if sources else "")
    if record.get("global_step"):
        line += f", {record['global_step']} steps"
    if record.get("hardware"):
        line += f" on {record['hardware']}"
    return line


def _held_out_line(folder: str) -> str:
    """'held out, no alignment: icl_livingroom1 abs_rel 0.353 δ1 0.539 (42 frames); ...' from the folder's
    evaluation JSONs; "" without any."""
    parts = []
    for _, result in folder_evaluations(folder):
        if result.settings.get("alignment", "none") != "none":
            continue
        label = result.dataset_label
        values = " ".join(
            f"{'δ1' if name == 'delta1' else name} {result.metrics[name]:.3f}"
            for name in HELD_OUT_METRICS
            if name in result.metrics
        )
        parts.append(f"{label} {values} ({result.num_images} frames)")
    return "held out, no alignment: " + "; ".join(parts) if parts else ""


@dataclass(frozen=True)
class ModelFacts:
    """One model's description for the page: `summary` (architecture and output), `training`, `held_out`
    (empty when its folder has no record), and `max_depth` and `min_depth`, the range of a metric model's output
    (None otherwise)."""

    name: str
    summary: str
    training: str
    held_out: str
    max_depth: float | None
    min_depth: float | None = None

    @classmethod
    def read(cls, name: str, config: Any, folder: str | None) -> ModelFacts:
        """The facts of model `name` from its `config` and, when it is a local checkpoint, its `folder`."""
        meaning = depth_meaning_of(config)
        model_type = getattr(config, "model_type", "") or "?"
        max_depth = getattr(config, "max_depth", None) if meaning.is_metric else None
        summary = f"{display_name(model_type)}, {meaning.describe()}"
        if max_depth:
            min_depth = getattr(config, "min_depth", None)
            summary += f" from {min_depth:g} to {max_depth:g} m" if min_depth else f" up to {max_depth:g} m"
            summary += f"; it cannot see farther than {max_depth:g} m, so deeper scenes are beyond it"
        elif not meaning.is_metric:
            summary += "; no unit: compare shapes, not values"
        has_folder = folder is not None and os.path.isdir(folder)
        training = _training_line(_read_json(os.path.join(folder, "training_record.json"))) if has_folder else ""
        held_out = _held_out_line(folder) if has_folder else ""
        min_depth = getattr(config, "min_depth", None) if max_depth else None
        return cls(name, summary, training, held_out, float(max_depth) if max_depth else None,
                   float(min_depth) if min_depth else None)

    def describe(self) -> str:
        """One line: what it is, what it was trained on and its held-out numbers."""
        parts = [self.summary, self.training or "no training record in its folder", self.held_out]
        return f"**{self.name}**: " + "; ".join(part for part in parts if part) + "."

    def cap_share(self, depth: np.ndarray) -> float:
        """The share of valid pixels of `depth` (metres) at or beyond `CAP_FRACTION` of `max_depth` (0 without one)."""
        valid = depth[np.isfinite(depth) & (depth > 0)]
        if self.max_depth is None or valid.size == 0:
            return 0.0
        return float(np.mean(valid >= CAP_FRACTION * self.max_depth))

    def floor_share(self, depth: np.ndarray) -> float:
        """The share of valid pixels of `depth` (metres) at or below `min_depth / CAP_FRACTION` (0 without one)."""
        valid = depth[np.isfinite(depth) & (depth > 0)]
        if self.min_depth is None or valid.size == 0:
            return 0.0
        return float(np.mean(valid <= self.min_depth / CAP_FRACTION))

    def range_warning(self, depth: np.ndarray) -> str:
        """A warning when `depth` is outside the model's range (`cap_share` or `floor_share` at least `CAP_SHARE`),
        else ""."""
        share, floor = self.cap_share(depth), self.floor_share(depth)
        if share >= CAP_SHARE:
            return (
                f"⚠️ **{self.name}**: {share:.0%} of the pixels sit at its {self.max_depth:g} m cap: this scene is "
                "deeper than the model can see, so its depth here is wrong (too near)"
            )
        if floor >= CAP_SHARE:
            return (
                f"⚠️ **{self.name}**: {floor:.0%} of the pixels sit at its {self.min_depth:g} m floor: this scene is "
                "nearer than the model can see, so its depth here is wrong (too far)"
            )
        return ""
