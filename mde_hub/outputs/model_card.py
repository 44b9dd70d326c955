"""Hub model cards for mde-hub checkpoints: `render_model_card` fills the architecture's template in model_cards/.

The card states what the checkpoint is (config.json), how it was trained (`training_record.json` written by
train/train.py, when present), how it was evaluated (evaluation JSONs from `mde-hub evaluate`) and the papers'
published numbers beside ours (`mde_hub.evaluation.published`). What the card says of an architecture (its name,
summary fields, tags, published rows to compare with, template) comes from its entry in `mde_hub.models.registry`. The YAML front matter is built with huggingface_hub's
`ModelCardData`/`EvalResult`, so the model-index follows the Hub's schema.
"""

from __future__ import annotations

import json
import math
import os
import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers import AutoConfig

from ..data.files import atomic_output
from ..evaluation.evaluate import EvaluationResult, file_sha256
from ..evaluation.metrics import ABS_REL_STANDARD, HIGHER_IS_BETTER, METRIC_NAMES
from ..evaluation.protocols import AbsoluteCrop, EvalProtocol
from ..evaluation.published import DATASET_NAMES, PublishedResult
from ..models.auto import image_processor_for
from ..models.configuration_utils import DepthConfig
from ..models.depth_meaning import depth_meaning_of
from ..models.registry import display_name, entries, find_entry, get_entry, published_to_compare

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "model_cards"
TRAINING_RECORD = "training_record.json"
CONVERSION_RECORD = "conversion_record.json"
CONVERSION_RECORD_KEYS = ("format", "source", "source_file", "skipped", "notes", "license")
DEFAULT_LICENSE = "apache-2.0"
TRAINING_RECORD_KEYS = (
    "recipe", "arguments", "command", "dataset", "train_samples", "global_step", "epochs", "hardware", "wall_time_s",
    "final_eval",
)
METRIC_LABELS = {
    "abs_rel": "AbsRel", "sq_rel": "SqRel", "rmse": "RMSE (m)", "rmse_log": "RMSE log", "log10": "log10",
    "silog": "SILog", "delta1": "δ1", "delta2": "δ2", "delta3": "δ3",
}
METRIC_TITLES = {
    "abs_rel": "Absolute relative error", "sq_rel": "Squared relative error", "rmse": "Root mean squared error (m)",
    "rmse_log": "RMSE of log depth", "log10": "Mean absolute log10 error", "silog": "Scale-invariant log error",
    "delta1": "δ < 1.25", "delta2": "δ < 1.25²", "delta3": "δ < 1.25³",
}
# Dataset key of mde_hub.evaluation.published -> the word naming it in protocol names and training-record descriptions.
_DATASET_WORDS = {"nyu_depth_v2": "nyu", "kitti": "kitti"}

LIBRARY_NAME = "mde-hub"
"""The card's `library_name`: the snippets need mde-hub (it registers the model type with transformers), so the Hub's
own transformers snippet, which `library_name: transformers` would offer, fails without it."""

INSTALL = (
    "The snippets need **mde-hub**, which registers this model type with transformers' Auto classes and "
    "pipeline; transformers alone cannot load it. Install it from a checkout of the mde-hub repository, as its "
    "README says: `pip install -r requirements.txt -e .`"
)

_LOCAL_DATA_PATH = re.compile(r"(?:\.\./)+shared/(?:[\w.-]+/)*([\w.-]+)")
"""A data folder of the training machine, outside the repository (`../shared/data/rgbd/NAME`): a Hub reader sees
only its folder name."""

_PRIVATE_SOURCE = re.compile(r" \(MODELS\.md §[\d.]+\)")
"""The registry's pointer to mde-hub's internal notes on a published number, replaced in cards by the paper's arXiv id."""
_DATASET_CLASSES = {"NyuDenseDepth": "nyu_depth_v2", "NyuLabeledMat": "nyu_depth_v2", "NyuSyncFolder": "nyu_depth_v2",
                    "KittiEigenSplit": "kitti"}
_SYNTHETIC = ("mde_hub_synthetic", "mde-hub synthetic scenes")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object from `path`; errors name the file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{what} {path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} must hold a JSON object, not {type(data).__name__}")
    return data


def _require_keys(data: dict[str, Any], keys: Sequence[str], path: Path, what: str) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise ValueError(f"{what} {path} lacks {', '.join(missing)}")


@dataclass(frozen=True)
class CardEvaluation:
    """One evaluation JSON, checked and read for the card."""

    path: Path
    metrics: dict[str, float]
    protocol: EvalProtocol
    settings: dict[str, Any]
    num_images: int
    num_skipped: int
    dataset_type: str
    dataset_name: str
    dataset_split: str | None
    versions: dict[str, str]


def _split_text(split: str | None) -> str:
    """`, split NAME` for an evaluation of a named part of its data set (not its test split); "" otherwise."""
    return f", split `{split}`" if split and split != "test" else ""


def _dataset_identity(dataset: dict[str, Any], protocol: EvalProtocol) -> tuple[str, str]:
    """(type, name) of the evaluated data: from the dataset class, else from the protocol's dataset, else the
    recorded source's folder name."""
    kind = dataset.get("class", "")
    if kind == "SyntheticDepthDataset":
        return _SYNTHETIC
    key = _DATASET_CLASSES.get(kind) or next(
        (key for key, word in _DATASET_WORDS.items() if protocol.name.startswith(f"{word}_")), None
    )
    if key is not None:
        return key, DATASET_NAMES[key]
    source = dataset.get("source")
    if source:  # e.g. a folder of frames, or the held-out tail of one (a Subset): named after its folder
        return Path(source).name, Path(source).name
    return kind or "unknown", f"{kind or 'unknown'} dataset"


def load_evaluation(path: str | os.PathLike, model_type: str, weights: Path | None = None) -> CardEvaluation:
    """Read an evaluation JSON of `mde-hub evaluate`, checking it scored a `model_type` model (and `weights`)."""
    path = Path(path)
    result = EvaluationResult.from_json(path)
    scored = result.model.get("model_type")
    if scored != model_type:
        raise ValueError(f"evaluation JSON {path} scored a {scored!r} model, but the checkpoint is {model_type!r}")
    scored_sha = result.model.get("weights_sha256")
    if scored_sha and weights is not None and weights.is_file() and file_sha256(str(weights)) != scored_sha:
        raise ValueError(
            f"evaluation JSON {path} scored other weights than {weights} (sha256 differs): "
            "evaluate this checkpoint again"
        )
    protocol = result.eval_protocol
    dataset_type, dataset_name = _dataset_identity(result.dataset, protocol)
    return CardEvaluation(
        path=path,
        metrics={name: result.metrics[name] for name in (*METRIC_NAMES, ABS_REL_STANDARD) if name in result.metrics},
        protocol=protocol,
        settings=result.settings,
        num_images=result.num_images,
        num_skipped=result.num_skipped,
        dataset_type=dataset_type,
        dataset_name=dataset_name,
        dataset_split=result.dataset.get("split"),
        versions=result.versions,
    )


def load_training_record(checkpoint_dir: Path) -> dict[str, Any] | None:
    """`training_record.json` of the checkpoint (None when there is none), with every expected key."""
    path = checkpoint_dir / TRAINING_RECORD
    if not path.exists():
        return None
    record = _read_json(path, "training record")
    _require_keys(record, TRAINING_RECORD_KEYS, path, "training record")
    for key in ("train_samples", "global_step", "epochs", "wall_time_s"):
        if not isinstance(record[key], (int, float)):
            raise ValueError(f"training record {path}: {key} must be a number, got {record[key]!r}")
    return record


def load_conversion_record(checkpoint_dir: Path) -> dict[str, Any] | None:
    """`conversion_record.json` of a checkpoint converted from released weights (None when there is none), with
    every expected key."""
    path = checkpoint_dir / CONVERSION_RECORD
    if not path.exists():
        return None
    record = _read_json(path, "conversion record")
    _require_keys(record, CONVERSION_RECORD_KEYS, path, "conversion record")
    return record


def conversion_summary(record: dict[str, Any]) -> str:
    """A paragraph on where converted weights come from: the released file, what was skipped, the notes."""
    file = record["source_file"] or {}
    identity = [f"sha256 `{file['sha256']}`"] if file.get("sha256") else []
    identity += [f"{file['bytes']:,} bytes"] if file.get("bytes") else []
    released = f"`{file.get('name', record['source'])}`" + (f" ({', '.join(identity)})" if identity else "")
    origin = record.get("origin") or {}
    licence = record["license"] + (f" ({origin['license_note']})" if origin.get("license_note") else "")
    lines = [
        f"**converted from released weights, not trained by mde-hub**: {released}, "
        + (f"read as format `{record['format']}` " if record["format"] else "")
        + f"by mde-hub {record.get('mde_hub_version', '?')}'s conversion. Source: "
        f"{record['source']}. Licence of the weights: {licence}.",
    ]
    if origin:
        where = [f"zoo entry `{origin['name']}`"] if origin.get("name") else []
        where += [f"downloaded from {origin['url']}"] if origin.get("url") else []
        where += [f"published in {origin['reference']}"] if origin.get("reference") else []
        where += [f"paper: {origin['paper']}"] if origin.get("paper") else []
        lines += ["", "; ".join(where) + "."]
    skipped = record["skipped"]
    if skipped:
        lines += ["", "Entries of the file that are not model weights, skipped:", "", *[f"* {entry}" for entry in skipped]]
    else:
        lines += ["", "Entries of the file that are not model weights: none (every entry is a model weight)."]
    if record["notes"]:
        lines += ["", "Conversion notes:", "", *[f"* {note}" for note in record["notes"]]]
    return "\n".join(lines)


def _number(value: float) -> str:
    return f"{value:g}" if math.isfinite(value) else "∞"


def config_summary(config: DepthConfig) -> str:
    """The architecture's summary fields (its registry entry's) and the parameter count (the model is built on the
    meta device)."""
    entry = get_entry(config.model_type)
    local = {"backbone_weights": None, "backbone_pretrained": False} if hasattr(config, "backbone_weights") else {}
    with torch.device("meta"):
        model = entry.model_class(replace(config, **local) if local else config)
    count = sum(parameter.numel() for parameter in model.parameters())
    fields = [
        f"`{name}={json.dumps(getattr(config, name))}`"
        for name in entry.card.summary_fields
        if getattr(config, name) not in ({}, None)
    ]
    return f"{', '.join(fields)}; {count / 1e6:.2f} M parameters ({count:,})."


def input_size(checkpoint_dir: Path, config: DepthConfig) -> str:
    """The network input size of the checkpoint's image processor (its `preprocessor_config.json`, else the one the
    config implies), e.g. `128×128`."""
    path = checkpoint_dir / "preprocessor_config.json"
    size = json.loads(path.read_text()).get("size") if path.is_file() else image_processor_for(config).size
    if not isinstance(size, dict) or not {"height", "width"} <= size.keys():
        raise ValueError(f"{path} gives no fixed input size (height and width): {size!r}")
    return f"{size['height']}×{size['width']}"


def training_data(record: dict[str, Any] | None) -> str:
    """The training data of `training_record.json`, in a phrase (local data folders by their names)."""
    if record is None:
        return "data this checkpoint's folder does not record (no training record)"
    return public_paths(str(record["dataset"]))


def public_paths(text: str) -> str:
    """`text` with the training machine's data folders outside the repository named by their folder names."""
    return _LOCAL_DATA_PATH.sub(r"\1", text)


def depth_meaning(config: DepthConfig) -> str:
    """What this checkpoint's `predicted_depth` is, from `depth_estimation_type` and the depth range (and for a
    metric checkpoint the registry entry's `output_note`)."""
    if depth_meaning_of(config).is_metric:
        clipped = getattr(config, "clip_depth", True)  # DPT's released metric models are not clipped
        meaning = (
            f"This checkpoint predicts **metric depth in metres** (`depth_estimation_type: metric`), "
            f"{'between' if clipped else 'not clipped to its configured range of'} {_number(config.min_depth)} m "
            f"{'and' if clipped else 'to'} {_number(config.max_depth)} m{'' if clipped else ', as its authors released it'}."
        )
        note = get_entry(config.model_type).card.output_note
        return f"{meaning} {note(config)}" if note is not None else meaning
    meaning = depth_meaning_of(config)
    fit = "inverse-depth" if meaning.prediction_type == "inverse_depth" else "depth"
    return (
        f"This checkpoint predicts **{meaning.describe()}** (`depth_estimation_type: relative`): it is not in metres. "
        f"Align it to ground truth per image in {fit} space before scoring (`mde-hub evaluate --align scale_shift`)."
    )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _metric_list(values: dict[str, Any]) -> str:
    """`δ1 0.912, AbsRel 0.105, ...` for the known metrics among `values` (Trainer's `eval_` prefix allowed)."""
    plain = {key.removeprefix("eval_"): value for key, value in values.items()}
    return ", ".join(f"{METRIC_LABELS[name]} {plain[name]:.4f}" for name in METRIC_NAMES if name in plain)


def training_summary(record: dict[str, Any] | None) -> str:
    """A paragraph on the training run of `training_record.json` (command, data, steps, hardware, wall time)."""
    if record is None:
        return (
            f"no `{TRAINING_RECORD}` was found, so this checkpoint is untrained or was trained outside mde-hub; "
            "its training is not documented here."
        )
    recipe = f"recipe `{record['recipe']}`" if record["recipe"] else "no recipe file"
    final = _metric_list(record["final_eval"] or {})
    final = f"Evaluation at the end of training: {final}." if final else "No evaluation was recorded after training."
    arguments = json.dumps(record["arguments"], indent=2, sort_keys=True)
    return public_paths("\n".join([
        f"trained with mde-hub's `train/train.py` ({recipe}) on {record['dataset']} ({record['train_samples']:,} "
        f"training samples): {record['global_step']:,} optimiser steps ({record['epochs']:g} epochs) on "
        f"{record['hardware']} in {_duration(record['wall_time_s'])}. {final}",
        "",
        "```bash",
        record["command"],
        "```",
        "",
        "<details><summary>All training arguments</summary>",
        "",
        "```json",
        arguments,
        "```",
        "",
        "</details>",
    ]))


def _crop_text(protocol: EvalProtocol) -> str:
    crop = protocol.crop
    if crop is None:
        return "no crop"
    if isinstance(crop, AbsoluteCrop):
        return (f"crop rows {crop.top}-{crop.bottom - 1}, cols {crop.left}-{crop.right - 1} of the "
                f"{crop.frame[0]}×{crop.frame[1]} frame")
    return f"crop rows {crop.top}·H to {crop.bottom}·H, cols {crop.left}·W to {crop.right}·W"


def _gt_range_text(protocol: EvalProtocol) -> str:
    low, high = protocol.min_depth, protocol.max_depth
    if math.isinf(high):
        return f"gt > {_number(low)} m"
    return f"{_number(low)} m < gt {'<' if protocol.max_depth_exclusive else '≤'} {_number(high)} m"


_FRAME_TEXT = {
    "none": "resized to the ground truth",
    "paste": "the network sees the 352×1216 KB crop and its prediction is pasted into a zero canvas of the full "
    "ground-truth frame (BTS convention); other sizes are resized to the crop first",
    "crop": "the network sees the 352×1216 KB crop and the ground truth is cropped to it (AdaBins convention); other "
    "sizes are resized",
}


def _abs_rel_text(evaluation: CardEvaluation) -> list[str]:
    """A bullet for a protocol whose AbsRel divides by the prediction (DenseDepth), with the standard value."""
    if evaluation.protocol.abs_rel_denominator != "prediction":
        return []
    standard = evaluation.metrics.get(ABS_REL_STANDARD)
    value = f": {standard:.4f} for this checkpoint" if standard is not None else ""
    return [f"* AbsRel: divided by the prediction, as DenseDepth's evaluation computes it; the standard AbsRel "
            f"(divided by the ground truth) is reported beside it{value}"]


def describe_evaluation(evaluation: CardEvaluation) -> str:
    """The protocol (name, description, every setting) and run settings of one evaluation, as a list."""
    protocol, settings = evaluation.protocol, evaluation.settings
    low, high = protocol.pred_clip
    clip = f"clipped to [{_number(low)}, {_number(high)}] m" if math.isfinite(high) else f"clipped to ≥ {_number(low)} m"
    ground_truth = f"finite and {_gt_range_text(protocol)}; {_crop_text(protocol)}"
    scored = f"{evaluation.num_images} images scored, {evaluation.num_skipped} skipped"
    resize = f"{_FRAME_TEXT[protocol.kb_crop]} ({protocol.resize_mode})"
    alignment = settings.get("alignment", "none")
    space = settings.get("alignment_space", "depth").replace("_", " ")
    aligned = {
        "none": "none (depth scored as predicted)",
        "median": f"per-image median scaling in {space} space",
        "scale_shift": f"per-image least-squares scale and shift in {space} space",
    }.get(alignment, f"alignment {alignment!r}")
    versions = ", ".join(f"{name} {version}" for name, version in evaluation.versions.items())
    return "\n".join([
        f"**{evaluation.dataset_name}{_split_text(evaluation.dataset_split)}, protocol `{protocol.name}`**: "
        f"{protocol.description}.",
        "",
        f"* ground truth: {ground_truth}",
        f"* predictions: {clip}; {resize}",
        f"* averaging: {'per image, then the mean' if protocol.reduction == 'per_image' else 'all pixels pooled'}",
        *_abs_rel_text(evaluation),
        f"* test-time augmentation: {'horizontal flip' if settings.get('flip_tta') else 'none (one forward pass)'}",
        f"* alignment: {aligned}",
        f"* {scored}; {versions}" if versions else f"* {scored}",
    ])


def _protocol_label(evaluation: CardEvaluation) -> str:
    extras = ["flip TTA"] if evaluation.settings.get("flip_tta") else []
    if evaluation.settings.get("alignment", "none") != "none":
        extras.append(f"{evaluation.settings['alignment']} alignment")
    return ", ".join([f"`{evaluation.protocol.name}`", *extras])


def _header(first: Sequence[str]) -> list[str]:
    labels = [f"{METRIC_LABELS[name]} {'↑' if HIGHER_IS_BETTER[name] else '↓'}" for name in METRIC_NAMES]
    return ["| " + " | ".join([*first, *labels]) + " |", "|" + "---|" * len(first) + "---:|" * len(METRIC_NAMES)]


def results_table(evaluations: Sequence[CardEvaluation]) -> str:
    """All nine metrics of every evaluation, one row each."""
    if not evaluations:
        return "_No measured results: this card was written without an evaluation JSON._"
    rows = _header(["data set", "protocol", "images"])
    for evaluation in evaluations:
        values = [f"{evaluation.metrics[name]:.4f}" for name in METRIC_NAMES]
        rows.append(f"| {evaluation.dataset_name} | {_protocol_label(evaluation)} | {evaluation.num_images} | "
                    + " | ".join(values) + " |")
    return "\n".join(rows)


def _published_label(result: PublishedResult) -> str:
    architecture = display_name(result.model)
    name = result.variant if result.variant.startswith(architecture) else f"{architecture} {result.variant}"
    return f"{name}, {public_source(result)}"


def public_source(result: PublishedResult) -> str:
    """Where a published row comes from, for a Hub reader: the registry's source with its pointer to mde-hub's
    internal notes replaced by the paper's arXiv id."""
    arxiv = get_entry(result.model).arxiv
    return _PRIVATE_SOURCE.sub(f" (arXiv:{arxiv})" if arxiv else "", result.source)


def published_table(model_type: str, evaluations: Sequence[CardEvaluation]) -> str:
    """Per dataset, the published rows the registry compares `model_type` with (its paper's; the Baseline's: every
    paper's NYU Depth v2 rows) beside this checkpoint's rows on the same dataset, with the rows' notes."""
    published = published_to_compare(model_type)
    blocks = []
    for dataset, name in DATASET_NAMES.items():
        rows = [result for result in published if result.dataset == dataset]
        if not rows:
            continue
        lines = [f"**{name}**", "", *_header(["published (source) or measured", "protocol"])]
        for result in rows:
            values = [f"{result.metrics[m]:.3f}" if m in result.metrics else "–" for m in METRIC_NAMES]
            lines.append(f"| {_published_label(result)} | `{result.protocol}` | " + " | ".join(values) + " |")
        ours = [evaluation for evaluation in evaluations if evaluation.dataset_type == dataset]
        for evaluation in ours:
            values = [f"{evaluation.metrics[m]:.3f}" for m in METRIC_NAMES]
            lines.append(f"| this checkpoint | {_protocol_label(evaluation)} | " + " | ".join(values) + " |")
        lines.append("")
        lines.extend(f"* {_published_label(result)}: {result.notes}." for result in rows if result.notes)
        if not ours:
            usual = Counter(result.protocol for result in rows).most_common(1)[0][0]
            lines.append(f"* this checkpoint: not evaluated on {name} (`mde-hub evaluate --protocol {usual}`).")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _check_distinct(evaluations: Sequence[CardEvaluation]) -> None:
    """Two evaluations of one dataset under the same protocol and settings would give the card two answers."""
    seen: dict[tuple[Any, ...], Path] = {}
    for evaluation in evaluations:
        key = (evaluation.dataset_type, evaluation.dataset_split, evaluation.protocol.name,
               json.dumps(evaluation.settings, sort_keys=True))
        if key in seen:
            raise ValueError(
                f"evaluation JSONs {seen[key]} and {evaluation.path} both score {evaluation.dataset_name} under "
                f"protocol {evaluation.protocol.name!r} with the same settings: pass one of them"
            )
        seen[key] = evaluation.path


def _eval_paths(eval_json: str | os.PathLike | Sequence[str | os.PathLike] | None) -> list[Path]:
    if eval_json is None:
        return []
    if isinstance(eval_json, (str, os.PathLike)):
        return [Path(eval_json)]
    return [Path(path) for path in eval_json]


def template_path(model_type: str) -> Path:
    """The model-card template of a registered `model_type`: `model_cards/<slug>.md`."""
    return TEMPLATE_DIR / f"{get_entry(model_type).slug}.md"


def _template(model_type: str, checkpoint_dir: Path) -> string.Template:
    entry = find_entry(model_type)
    if entry is None:
        raise ValueError(
            f"no model-card template for model_type {model_type!r} ({checkpoint_dir / 'config.json'}); templates "
            f"exist for {', '.join(sorted(known.model_type for known in entries()))}"
        )
    path = template_path(entry.model_type)
    try:
        return string.Template(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(
            f"model-card template {path} is missing: the templates ship in mde-hub's source tree"
        ) from None


def _alignment_suffix(evaluation: CardEvaluation, before: str, after: str) -> str:
    """`before + "median-aligned" + after` for an aligned evaluation (its method's name), "" for a raw one, so
    that the model-index labels a raw and an aligned result of one data set differently."""
    method = evaluation.settings.get("alignment", "none")
    return "" if method == "none" else f"{before}{method.replace('_', '-')}-aligned{after}"


def _card_data(
    config: DepthConfig, name: str, license: str, evaluations: Sequence[CardEvaluation], record: dict[str, Any] | None
) -> ModelCardData:
    """The front matter: pipeline, library, licence, datasets, tags and one model-index result per evaluation."""
    # `datasets` is meant for Hub dataset ids; NYU Depth v2 and KITTI have no verified canonical id, so the card
    # lists the short names of mde-hub's published tables (the schema takes any string) and leaves synthetic data out.
    trained_on = str(record["dataset"]).lower() if record else ""
    datasets = [key for key, word in _DATASET_WORDS.items() if word in trained_on]
    for evaluation in evaluations:
        if evaluation.dataset_type in DATASET_NAMES and evaluation.dataset_type not in datasets:
            datasets.append(evaluation.dataset_type)
    results = [
        EvalResult(
            task_type="depth-estimation",
            task_name="Depth Estimation",
            dataset_type=evaluation.dataset_type,
            dataset_name=evaluation.dataset_name,
            dataset_split=evaluation.dataset_split,
            metric_type=metric,
            metric_name=f"{METRIC_TITLES[metric]}{_alignment_suffix(evaluation, ' (', ')')}",
            metric_value=evaluation.metrics[metric],
            metric_config=f"{evaluation.protocol.name}{_alignment_suffix(evaluation, ', ', '')}",
        )
        for evaluation in evaluations
        for metric in METRIC_NAMES
    ]
    tags = ["depth-estimation", "monocular-depth-estimation", f"{depth_meaning_of(config).depth_estimation_type}-depth", "mde-hub",
            *get_entry(config.model_type).card.tags]
    return ModelCardData(
        model_name=name,
        pipeline_tag="depth-estimation",
        library_name=LIBRARY_NAME,
        license=license,
        datasets=datasets or None,
        tags=tags,
        eval_results=results or None,
    )


def render_model_card(
    checkpoint_dir: str | os.PathLike,
    eval_json: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    location: str | os.PathLike | None = None,
) -> str:
    """The Hub model card (YAML front matter + the architecture's template, filled) of a saved checkpoint.

    `license` defaults to the one a converted checkpoint's `conversion_record.json` records, else apache-2.0;
    `location` is where the checkpoint will be read from (its name and usage paths; default: `checkpoint_dir`).
    """
    checkpoint_dir = Path(checkpoint_dir)
    location = Path(location) if location is not None else checkpoint_dir
    if not (checkpoint_dir / "config.json").is_file():
        raise FileNotFoundError(f"no config.json in {checkpoint_dir}: not a saved checkpoint")
    config = AutoConfig.from_pretrained(checkpoint_dir)
    template = _template(config.model_type, checkpoint_dir)
    weights = checkpoint_dir / "model.safetensors"
    evaluations = [load_evaluation(path, config.model_type, weights) for path in _eval_paths(eval_json)]
    _check_distinct(evaluations)
    record = load_training_record(checkpoint_dir)
    conversion = load_conversion_record(checkpoint_dir)
    if license is None:
        license = conversion["license"] if conversion else DEFAULT_LICENSE
    name = repo_id or location.resolve().name
    body = template.substitute(
        model_name=name,
        config_summary=config_summary(config),
        depth_meaning=depth_meaning(config),
        training_summary=conversion_summary(conversion) if conversion and not record else training_summary(record),
        evaluation_protocol="\n\n".join(map(describe_evaluation, evaluations))
        or "This checkpoint has not been evaluated: run `mde-hub evaluate` and pass its JSON to `mde-hub card --eval`.",
        results_table=results_table(evaluations),
        published_table=published_table(config.model_type, evaluations),
        usage_path=repo_id or str(location),
        install=INSTALL,
        input_size=input_size(checkpoint_dir, config),
        training_data=training_data(record),
    )
    data = _card_data(config, name, license, evaluations, record)
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")
    return str(card)


def write_model_card(
    checkpoint_dir: str | os.PathLike,
    eval_json: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    repo_id: str | None = None,
    license: str | None = None,
    output: str | os.PathLike | None = None,
    location: str | os.PathLike | None = None,
) -> Path:
    """Render the card and write it atomically to `output` (default: the checkpoint's README.md)."""
    text = render_model_card(checkpoint_dir, eval_json, repo_id, license, location)
    path = Path(output) if output is not None else Path(checkpoint_dir) / "README.md"
    with atomic_output(path) as temporary:
        temporary.write_text(text)
    return path
