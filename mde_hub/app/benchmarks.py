"""The Benchmarks tab's table: the papers' published numbers (`mde_hub.evaluation.published`) beside this project's own
measurements of the served checkpoints.

Own measurements are found in each local checkpoint folder:

* `results*.json`: evaluation results as `mde-hub evaluate --output CHECKPOINT/results_NAME.json` writes them
  (`EvaluationResult.to_json`, read by `read_evaluation`); the protocol is the one recorded in the file;
* `README.md`, when there is no such JSON: a model card's `model-index` results (metric types named as `mde_hub.evaluation.metrics.METRIC_NAMES`),
  labelled with the dataset (and split) the card names and the protocol it gives as each metric's config.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd
from huggingface_hub import ModelCard

from mde_hub.evaluation.evaluate import folder_evaluations
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.published import DATASET_NAMES, published_results
from mde_hub.models.registry import display_name

from .registry import ModelRegistry

COLUMNS = ["source", "model", "variant / checkpoint", "dataset", "protocol", *METRIC_NAMES, "notes"]
PROTOCOL_FILTERS = {
    "all": lambda protocol: True,
    "NYU Depth v2 protocols": lambda protocol: protocol.startswith("nyu"),
    "KITTI protocols": lambda protocol: protocol.startswith("kitti"),
    "other protocols": lambda protocol: not protocol.startswith(("nyu", "kitti")),
}


def _row(source: str, model: str, variant: str, dataset: str, protocol: str, metrics: dict, notes: str) -> dict:
    values = {name: float(metrics[name]) if name in metrics else np.nan for name in METRIC_NAMES}
    return {
        "source": source,
        "model": display_name(model),
        "variant / checkpoint": variant,
        "dataset": dataset,
        "protocol": protocol,
        **values,
        "notes": notes,
    }


def published_rows() -> list[dict]:
    return [
        _row("published", r.model, r.variant, DATASET_NAMES[r.dataset], r.protocol, r.metrics, f"{r.source}; {r.notes}")
        for r in published_results()
    ]


def evaluation_json_rows(checkpoint: str, name: str) -> list[dict]:
    """Rows for the `results*.json` files in a checkpoint folder; a file that is not an evaluation result is skipped."""
    rows = []
    for path, result in folder_evaluations(checkpoint):
        metrics, protocol, dataset, settings = result.metrics, result.protocol["name"], result.dataset, result.settings
        label = result.dataset_label
        if dataset.get("split"):
            label += f" ({dataset['split']})"
        if settings.get("alignment", "none") != "none":
            protocol += f" + {settings['alignment']} alignment"
        notes = (
            f"{os.path.basename(path)}: {result.num_images} images, alignment "
            f"{settings.get('alignment', 'none')}, flip TTA {settings.get('flip_tta', False)}"
        )
        model_type = result.model.get("model_type") or ""
        rows.append(_row("measured (eval JSON)", model_type, name, str(label), protocol, metrics, notes))
    return rows


def model_card_rows(checkpoint: str, name: str, model_type: str) -> list[dict]:
    """Rows for the `model-index` results of the checkpoint's model card, one per dataset and config."""
    path = os.path.join(checkpoint, "README.md")
    if not os.path.isfile(path):
        return []
    try:
        results = ModelCard.load(path).data.eval_results or []
    except (ValueError, TypeError, KeyError):
        return []
    grouped: dict[tuple[str, str], dict[str, float]] = {}
    for result in results:
        metric = str(result.metric_type).lower()
        if metric in METRIC_NAMES:
            dataset = result.dataset_name or result.dataset_type
            if result.dataset_split:
                dataset += f" ({result.dataset_split})"
            grouped.setdefault((dataset, result.metric_config or ""), {})[metric] = float(result.metric_value)
    return [
        _row("measured (model card)", model_type, name, dataset, protocol or "see the model card", metrics, path)
        for (dataset, protocol), metrics in grouped.items()
    ]


def _model_type(checkpoint: str) -> str:
    try:
        with open(os.path.join(checkpoint, "config.json")) as handle:
            return json.load(handle).get("model_type", "")
    except (OSError, ValueError):
        return ""


def measured_rows(checkpoints: Iterable[tuple[str, str]]) -> list[dict]:
    """Own results of each `(name, checkpoint folder)`: its evaluation JSONs, or, without any, its model card's
    (a card written by `mde-hub card` repeats its JSONs' numbers, so it is read only when they are absent)."""
    rows = []
    for name, folder in checkpoints:
        rows += evaluation_json_rows(folder, name) or model_card_rows(folder, name, _model_type(folder))
    return rows


def benchmarks_frame(registry: ModelRegistry, protocols: str = "all") -> pd.DataFrame:
    """Published and measured rows whose protocol passes the `protocols` filter (a key of `PROTOCOL_FILTERS`)."""
    if protocols not in PROTOCOL_FILTERS:
        raise ValueError(f"unknown filter {protocols!r}; choose one of {', '.join(PROTOCOL_FILTERS)}")
    local = [(s.name, s.location) for s in registry.sources.values() if s.kind == "local"]
    rows = [row for row in published_rows() + measured_rows(local) if PROTOCOL_FILTERS[protocols](row["protocol"])]
    return pd.DataFrame(rows, columns=COLUMNS)
