"""The papers' published results, as data (docs/MODELS.md §2.5, §3.5, §4.6, §5.4), gathered from the model registry.

Each model folder's `registration.py` holds its paper's rows (`PublishedResult`, defined in
`mde_hub.models.registry`). Each row holds exactly the numbers its source gives (no derived values), keyed by
`mde_hub.evaluation.metrics.METRIC_NAMES`, and names the `mde_hub.evaluation.protocols` protocol that comes
closest to how the source scored them; `notes` says where the source's evaluation differs from that protocol. Model
cards and the app's benchmarks tab read these rows and put this project's own measurements beside them.
"""

from __future__ import annotations

from ..data.frames import DATASET_CAMERAS
from ..models.registry import PublishedResult, entries

__all__ = ["DATASET_NAMES", "PUBLISHED_RESULTS", "PublishedResult", "published_results"]

DATASET_NAMES: dict[str, str] = {key: camera.name for key, camera in DATASET_CAMERAS.items()}
"""Dataset key -> human-readable name."""

PUBLISHED_RESULTS: tuple[PublishedResult, ...] = tuple(row for entry in entries() for row in entry.published)
"""Every registered model's published rows, in the registry's order (the papers' order)."""


def published_results(model_type: str | None = None, dataset: str | None = None) -> tuple[PublishedResult, ...]:
    """The published rows of `model_type` on `dataset` (either filter left out when None), in table order."""
    if dataset is not None and dataset not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {dataset!r}; published results exist for {', '.join(DATASET_NAMES)}")
    return tuple(
        result
        for result in PUBLISHED_RESULTS
        if (model_type is None or result.model == model_type) and (dataset is None or result.dataset == dataset)
    )
