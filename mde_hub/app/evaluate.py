"""The Evaluate tab's logic, free of Gradio: each model's nine metrics against one ground-truth depth map under a
protocol and an alignment (`mde_hub.evaluation.metrics`), the best value of each metric marked, and absolute relative error
maps on one shared colour scale."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

from mde_hub.evaluation.alignment import AlignmentMethod, AlignmentSpace
from mde_hub.evaluation.metrics import HIGHER_IS_BETTER, METRIC_NAMES, DepthMetricAccumulator, compute_depth_metrics
from mde_hub.outputs.colormaps import colorize_error

from .compare import ModelDepth, predict_depth
from .inputs import check_same_size
from .registry import ModelRegistry

BEST_MARK = " ★"
BEST_STYLE = "font-weight: bold; background-color: rgba(255, 200, 0, 0.35)"


@dataclass
class ModelScore:
    """One model's metrics (None when it could not be scored, `note` says why) and abs-rel error map."""

    name: str
    metrics: dict[str, float] | None
    abs_rel_map: np.ndarray | None  # (H, W) |pred - gt| / gt on valid pixels, NaN elsewhere
    note: str = ""


def score_model(
    result: ModelDepth,
    gt: np.ndarray,
    protocol: str,
    alignment: AlignmentMethod,
    alignment_space: AlignmentSpace | None,
) -> ModelScore:
    """Metrics exactly as `compute_depth_metrics` gives them, and the per-pixel abs-rel of the same prediction.
    The model's output is scored as what it means (an inverse-depth one aligned in inverse-depth space unless
    `alignment_space` names another)."""
    if not result.metric and alignment == "none":
        return ModelScore(result.name, None, None, "relative depth: pick the median or scale_shift alignment")
    prediction_type = result.meaning.prediction_type
    metrics = compute_depth_metrics(
        result.values, gt, protocol, alignment=alignment, alignment_space=alignment_space, prediction_type=prediction_type
    )
    accumulator = DepthMetricAccumulator(
        protocol, alignment=alignment, alignment_space=alignment_space, prediction_type=prediction_type
    )
    pred, mask = accumulator.scored(result.values, gt)
    gt64 = np.asarray(gt, dtype=np.float64)
    error = np.full(gt64.shape, np.nan)
    valid = mask.numpy()
    error[valid] = np.abs(pred.numpy()[valid] - gt64[valid]) / gt64[valid]
    return ModelScore(result.name, metrics, error)


def shown(value: float) -> float:
    """A metric as the table shows it, to 3 significant digits: ties are judged on what the visitor sees."""
    return float(f"{value:.3g}")


def best_values(scores: list[ModelScore]) -> dict[str, float]:
    """The best shown value of each metric over the scored models (the lowest error, the highest delta accuracy),
    for the metrics whose shown values differ: every model that reaches it is best, and a column where all models
    tie (one model, or delta1 = 0 for each) has none."""
    scored = [s.metrics for s in scores if s.metrics is not None]
    pick = {True: max, False: min}
    best = {}
    for name in METRIC_NAMES:
        values = {shown(m[name]) for m in scored if np.isfinite(m[name])}
        if len(values) > 1:
            best[name] = pick[HIGHER_IS_BETTER[name]](values)
    return best


def metrics_frame(scores: list[ModelScore]) -> pd.DataFrame:
    """One row per model: `model`, the nine metrics (NaN when not scored) and `note`."""
    rows = [
        {"model": s.name, **{name: (s.metrics or {}).get(name, np.nan) for name in METRIC_NAMES}, "note": s.note}
        for s in scores
    ]
    return pd.DataFrame(rows, columns=["model", *METRIC_NAMES, "note"])


def metrics_table(scores: list[ModelScore]) -> Styler:
    """The metrics frame styled for the page: 3 significant digits (so nine metrics fit beside the model names at
    1400 px), the best values of each column (`best_values`) bold and starred."""
    frame = metrics_frame(scores)
    best = best_values(scores)

    def is_best(name: str, value: float) -> bool:
        return bool(np.isfinite(value)) and shown(value) == best.get(name)

    def display(name: str):
        return lambda v: "" if np.isnan(v) else f"{v:.3g}{BEST_MARK if is_best(name, v) else ''}"

    def highlight(column: pd.Series) -> list[str]:
        return [BEST_STYLE if is_best(column.name, v) else "" for v in column]

    styler = frame.style.format({name: display(name) for name in METRIC_NAMES})
    return styler.apply(highlight, subset=list(METRIC_NAMES))


def shared_error_scale(scores: list[ModelScore]) -> float:
    """Abs-rel value shown at the bright end of every error map: the median over the models of each map's 98th
    percentile (at least 1e-3), so one model far off (a street model on a room) does not turn the others black."""
    tops = [float(np.nanpercentile(s.abs_rel_map, 98)) for s in scores if s.abs_rel_map is not None]
    return max(float(np.median(tops)) if tops else 0.0, 1e-3)


@dataclass
class PairEvaluation:
    scores: list[ModelScore]
    error_scale: float

    def error_maps(self, colormap: str = "magma") -> list[tuple[np.ndarray, str]]:
        return [
            (colorize_error(s.abs_rel_map, self.error_scale, colormap), f"{s.name} | abs rel, 0 to {self.error_scale:.3g}")
            for s in self.scores
            if s.abs_rel_map is not None
        ]


def evaluate_pair(
    registry: ModelRegistry,
    names: list[str],
    image: np.ndarray,
    gt: np.ndarray,
    protocol: str = "none",
    alignment: AlignmentMethod = "none",
    alignment_space: AlignmentSpace | None = None,
) -> PairEvaluation:
    """Score each model in `names` on one RGB image and its ground truth (metres, 0 = invalid, same size)."""
    if not names:
        raise ValueError("pick at least one model")
    check_same_size(image, gt)
    scores = [
        score_model(predict_depth(registry.get(name), image), gt, protocol, alignment, alignment_space)
        for name in dict.fromkeys(names)
    ]
    return PairEvaluation(scores, shared_error_scale(scores))
