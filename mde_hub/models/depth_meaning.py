"""What a model's `predicted_depth` means: the one place in mde-hub that decides it.

Every surface (`evaluate`, `mde-hub predict` and `evaluate`, the app, the ONNX Runtime backend, model cards)
asks `depth_meaning_of` and converts with `DepthMeaning.to_depth`; none of them guesses from a model type.

Three meanings exist:

* `metric_depth`: depth in metres along the optical axis;
* `relative_depth`: depth up to an unknown per-image scale (and shift);
* `relative_inverse_depth`: inverse depth (disparity-like: larger is nearer) up to an unknown per-image scale and
  shift, as MiDaS, DPT and Depth Anything predict. Such an output is aligned to ground truth *in inverse-depth space*
  and only then turned into depth (`mde_hub.evaluation.alignment`).

mde-hub configurations declare `depth_estimation_type` ("metric" or "relative"); a relative mde-hub model says in
its configuration class whether it outputs depth or inverse depth (`relative_output`). transformers' own depth
models mostly declare nothing, so they are classified here by `model_type`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

MeaningKind = Literal["metric_depth", "relative_depth", "relative_inverse_depth"]
PredictionType = Literal["depth", "inverse_depth"]

PREDICTION_TYPES: tuple[str, ...] = ("depth", "inverse_depth")
"""What a prediction's values are, whatever their scale: depth, or inverse depth (1 / depth)."""

MIN_INVERSE_DEPTH = 1e-8
"""Inverse depths are clamped to at least this before their reciprocal is taken, so depth stays finite."""

# transformers' own depth models: predicted_depth is relative inverse depth unless the config says "metric"
# (Depth Anything's metric checkpoints carry depth_estimation_type="metric" and output metres).
_RELATIVE_INVERSE_UNLESS_DECLARED_METRIC = ("dpt", "depth_anything")
# transformers' own depth models whose predicted_depth is depth in metres.
_METRIC_MODEL_TYPES = ("glpn", "zoedepth", "depth_pro", "prompt_depth_anything")


@dataclass(frozen=True)
class DepthMeaning:
    """The meaning of one model's `predicted_depth`."""

    kind: MeaningKind

    @property
    def is_metric(self) -> bool:
        """True when the values are depth in metres."""
        return self.kind == "metric_depth"

    @property
    def prediction_type(self) -> PredictionType:
        """`"inverse_depth"` for relative inverse depth, `"depth"` otherwise."""
        return "inverse_depth" if self.kind == "relative_inverse_depth" else "depth"

    @property
    def depth_estimation_type(self) -> str:
        """`"metric"` or `"relative"`, the vocabulary of configurations and the Hub's tags."""
        return "metric" if self.is_metric else "relative"

    @property
    def unit(self) -> str:
        """`"m"` for metric depth, `""` (no unit) otherwise."""
        return "m" if self.is_metric else ""

    def describe(self) -> str:
        """A short phrase for captions, logs and cards."""
        return {
            "metric_depth": "metric depth in metres",
            "relative_depth": "relative depth (unknown scale and shift, no unit)",
            "relative_inverse_depth": "relative inverse depth (larger = nearer; unknown scale and shift, no unit)",
        }[self.kind]

    def to_depth(self, values: np.ndarray) -> np.ndarray:
        """Depth-valued version of a prediction, for viewing and point clouds: metres for a metric model, depth up to
        scale for relative depth, and `1 / values` (0 where `values <= 0`, i.e. infinitely far) for inverse depth,
        which is depth only up to an unknown scale *and* an unknown shift of its inverse. Never use it to score an
        inverse-depth model: align first (`mde_hub.evaluation.alignment`)."""
        if self.prediction_type == "depth":
            return values
        positive = values > 0
        return np.where(positive, 1 / np.where(positive, values, 1), 0).astype(values.dtype)


METRIC_DEPTH = DepthMeaning("metric_depth")
RELATIVE_DEPTH = DepthMeaning("relative_depth")
RELATIVE_INVERSE_DEPTH = DepthMeaning("relative_inverse_depth")


def depth_meaning_of(config: Any) -> DepthMeaning:
    """The meaning of `predicted_depth` for a model with configuration `config` (mde-hub's or transformers')."""
    declared = getattr(config, "depth_estimation_type", None)
    relative_output = getattr(config, "relative_output", None)
    model_type = getattr(config, "model_type", None)
    if declared is not None and declared not in ("metric", "relative"):
        raise ValueError(f"depth_estimation_type must be 'metric' or 'relative'; the {model_type} config says {declared!r}")
    if declared == "metric":
        return METRIC_DEPTH
    if relative_output is not None:  # a relative mde-hub model
        if relative_output not in PREDICTION_TYPES:
            raise ValueError(f"relative_output must be one of {PREDICTION_TYPES}; got {relative_output!r}")
        return RELATIVE_INVERSE_DEPTH if relative_output == "inverse_depth" else RELATIVE_DEPTH
    if model_type in _RELATIVE_INVERSE_UNLESS_DECLARED_METRIC:
        return RELATIVE_INVERSE_DEPTH
    if model_type in _METRIC_MODEL_TYPES:
        return METRIC_DEPTH
    raise ValueError(
        f"mde-hub cannot tell what a {model_type!r} model's predicted_depth means (metric depth, relative depth or "
        "relative inverse depth)"
    )
