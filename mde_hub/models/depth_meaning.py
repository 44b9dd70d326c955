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
models mostly declare nothing: `TRANSFORMERS_DEPTH_MODELS` classifies every `model_type` of transformers'
`AutoModelForDepthEstimation`, each with the reason read from its modelling code, and a type missing from it is
an error that names it.
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

@dataclass(frozen=True)
class DepthMeaning:
    """The meaning of one model's `predicted_depth`."""

    kind: MeaningKind
    quantity: str = "depth"
    """What a metric output measures: "depth" (along the optical axis) unless the model says otherwise."""

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
            "metric_depth": f"metric {self.quantity} in metres",
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


@dataclass(frozen=True)
class TransformersDepthModel:
    """How mde-hub reads the `predicted_depth` of one of transformers' depth model types (after the processor's
    `post_process_depth_estimation`, as `DepthPredictor` runs it): `meaning`, unless the config declares
    `depth_estimation_type="metric"` and `metric_when_declared`; `why` cites the modelling code."""

    meaning: DepthMeaning
    why: str
    metric_when_declared: bool = False

    def meaning_of(self, config: Any) -> DepthMeaning:
        declared = getattr(config, "depth_estimation_type", None)
        return METRIC_DEPTH if self.metric_when_declared and declared == "metric" else self.meaning


TRANSFORMERS_DEPTH_MODELS: dict[str, TransformersDepthModel] = {
    "dpt": TransformersDepthModel(
        RELATIVE_INVERSE_DEPTH, "MiDaS-trained head (ReLU), inverse depth up to scale and shift"
    ),
    "depth_anything": TransformersDepthModel(
        RELATIVE_INVERSE_DEPTH,
        "relative head (ReLU) gives inverse depth up to scale and shift; a metric config's head gives "
        "sigmoid x max_depth metres",
        metric_when_declared=True,
    ),
    "prompt_depth_anything": TransformersDepthModel(
        RELATIVE_DEPTH,
        "depth normalised to the prompt depth's min-max range, rescaled to metres only by a prompt depth (LiDAR); "
        "mde-hub passes none, so the output is depth up to scale and shift whatever depth_estimation_type says",
    ),
    "glpn": TransformersDepthModel(METRIC_DEPTH, "sigmoid x max_depth metres"),
    "zoedepth": TransformersDepthModel(METRIC_DEPTH, "metric bins between min_depth and max_depth metres"),
    "depth_pro": TransformersDepthModel(
        METRIC_DEPTH,
        "canonical inverse depth, turned into metres by the processor with the field of view: the model's own "
        "estimate (use_fov_model) or the one DepthPredictor derives from a given focal length",
    ),
    "tipsv2_dpt": TransformersDepthModel(METRIC_DEPTH, "bins between min_depth and max_depth metres"),
    "chmv2": TransformersDepthModel(
        DepthMeaning("metric_depth", quantity="canopy height above the ground (not distance from the camera)"),
        "canopy height model for aerial and satellite images: bins up to max_depth metres of height",
    ),
}
"""Every `model_type` of transformers' `AutoModelForDepthEstimation` (transformers 5.24), by what its output means."""


def depth_meaning_of(config: Any) -> DepthMeaning:
    """The meaning of `predicted_depth` for a model with configuration `config` (mde-hub's or transformers')."""
    declared = getattr(config, "depth_estimation_type", None)
    relative_output = getattr(config, "relative_output", None)
    model_type = getattr(config, "model_type", None)
    if model_type in TRANSFORMERS_DEPTH_MODELS:
        return TRANSFORMERS_DEPTH_MODELS[model_type].meaning_of(config)
    if declared is not None and declared not in ("metric", "relative"):
        raise ValueError(f"depth_estimation_type must be 'metric' or 'relative'; the {model_type} config says {declared!r}")
    if declared == "metric":
        return METRIC_DEPTH
    if relative_output is not None:  # a relative mde-hub model
        if relative_output not in PREDICTION_TYPES:
            raise ValueError(f"relative_output must be one of {PREDICTION_TYPES}; got {relative_output!r}")
        return RELATIVE_INVERSE_DEPTH if relative_output == "inverse_depth" else RELATIVE_DEPTH
    raise ValueError(
        f"mde-hub cannot tell what a {model_type!r} model's predicted_depth means (metric depth, relative depth or "
        f"relative inverse depth): its config declares no depth_estimation_type and transformers' depth models "
        f"known to mde-hub are {', '.join(sorted(TRANSFORMERS_DEPTH_MODELS))}"
    )
