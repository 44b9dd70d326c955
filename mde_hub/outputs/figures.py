"""Figures of predictions: each sample's image, its ground truth and each model's depth side by side, as the README's
docs/predictions.png shows the shipped checkpoints (`mde_hub.training.shipping`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from ..data.sample import DepthSample
from ..inference.predictor import DepthPredictor
from .colormaps import colorize_depth

FIGURE_DEPTH_RANGE = (0.5, 5.0)
"""Metres at the two ends of the figure's one shared colour scale (indoor scenes)."""


def title_strip(text: str, width: int, height: int = 16) -> np.ndarray:
    """A white strip with `text` in PIL's built-in font (no font file needed)."""
    strip = PIL.Image.new("RGB", (width, height), "white")
    PIL.ImageDraw.Draw(strip).text((4, 2), text, fill="black", font=PIL.ImageFont.load_default())
    return np.asarray(strip)


def predictions_figure(
    predictors: Sequence[DepthPredictor],
    samples: Sequence[DepthSample],
    height: int = 120,
    value_range: tuple[float, float] = FIGURE_DEPTH_RANGE,
) -> PIL.Image.Image:
    """One row per sample: the image, its ground truth, then each predictor's depth (Spectral, near = red, one shared
    `value_range` in metres, invalid ground truth black), every panel `height` px high, under a row of titles
    (each model's type without its `mde_` prefix)."""
    if not samples:
        raise ValueError("a predictions figure needs at least one sample")
    titles = ["input", "ground truth", *(p.model.config.model_type.removeprefix("mde_") for p in predictors)]
    width = round(samples[0].image.shape[1] * height / samples[0].image.shape[0])
    rows = [np.concatenate([title_strip(title, width) for title in titles], axis=1)]
    for sample in samples:
        depths = [sample.depth, *(predictor.predict(sample.image).depth for predictor in predictors)]
        panels = [sample.image, *(colorize_depth(depth, value_range=value_range) for depth in depths)]
        resized = [np.asarray(PIL.Image.fromarray(panel).resize((width, height), PIL.Image.BILINEAR)) for panel in panels]
        rows.append(np.concatenate(resized, axis=1))
    return PIL.Image.fromarray(np.concatenate(rows, axis=0))
