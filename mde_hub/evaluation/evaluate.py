"""Evaluating a `DepthPredictor` on a dataset of `DepthSample`s under a named protocol (docs/MODELS.md §6).

`evaluate` streams the dataset in batches (a torch DataLoader): each sample is predicted at its image size
(optionally with horizontal-flip test-time augmentation, always where the protocol says so), scored into a
`DepthMetricAccumulator` and dropped, so memory does not grow with the dataset. Under a KITTI protocol (`kb_crop`
"paste" or "crop") samples are full frames and the network sees their 352x1216 KB crop; the accumulator then scores
the protocol's frame (docs/MODELS.md §6.2).
The returned `EvaluationResult` records the metrics together with everything needed to reproduce them: protocol,
settings, model and dataset identity, library versions.

The evaluation JSON (`mde-hub evaluate --output`, e.g. `results.json`) has one writer, `EvaluationResult.to_json`,
and one reader, `EvaluationResult.from_json` (`read_evaluation`), which every consumer uses: the model card, the
app's Benchmarks tab and train/ship.py. The reader checks the file and accepts the older forms it has had (a
boolean `kb_crop`, protocols from before a field existed, no `versions`).
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import math
import os
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
import transformers

from .. import __version__
from ..data.batches import check_batching, dataset_batches
from ..data.files import atomic_output
from ..data.sample import DepthSample
from ..inference.distributed import ProcessShard
from ..inference.predictor import DepthPredictor
from ..models.depth_meaning import PredictionType
from .alignment import AlignmentMethod, AlignmentSpace
from .metrics import METRIC_NAMES, DepthMetricAccumulator, MetricsKernel
from .protocols import (
    AbsoluteCrop,
    EvalProtocol,
    FractionalCrop,
    check_kb_frame,
    get_protocol,
    is_full_kitti_frame,
    kb_crop_box,
)
from .saved_predictions import PredictionFolder


def _predict_with_tta(
    predictor: DepthPredictor,
    images: list[np.ndarray],
    flip_tta: bool,
    clip: tuple[float, float] | None,
    focals: list[float | None],
) -> list[np.ndarray]:
    """The model's output values of each image (one `predict_batch`), or with `flip_tta` the mean of them and the
    flipped-back outputs of the mirrored images (a second batch; averaged in float64 in the model's own space: depth
    or inverse depth). `clip` bounds each pass before the mean, as AdaBins' predict_tta and DenseDepth's evaluate do
    with metric depth. `focals` (fx in pixels, unchanged by the mirror) go to models that scale depth by it."""
    values = [prediction.values for prediction in predictor.predict_batch(images, focals)]
    if not flip_tta:
        return values
    mirrored_images = [np.ascontiguousarray(image[:, ::-1]) for image in images]
    mirrored = [prediction.values[:, ::-1] for prediction in predictor.predict_batch(mirrored_images, focals)]
    averaged = []
    for plain, flipped in zip(values, mirrored):
        passes = [np.asarray(output, dtype=np.float64) for output in (plain, flipped)]
        if clip is not None:
            passes = [np.clip(output, *clip) for output in passes]
        averaged.append(0.5 * (passes[0] + passes[1]))
    return averaged


def _network_input(image: np.ndarray, protocol: EvalProtocol) -> np.ndarray:
    """The image the network sees: under a KITTI protocol the KB crop of a full frame (an AdaBins-convention
    protocol also takes an already cropped one); otherwise the image itself. A sample's depth has its image's size."""
    height, width = image.shape[:2]
    check_kb_frame(protocol, height, width)
    if protocol.kb_crop == "none" or not is_full_kitti_frame(height, width):
        return image
    top, left, crop_height, crop_width = kb_crop_box(height, width)
    return image[top : top + crop_height, left : left + crop_width]


def _json_safe(value: Any) -> Any:
    """Tuples to lists and infinite floats to `"inf"`/`"-inf"`, recursively."""
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _model_identity(predictor: DepthPredictor) -> dict[str, Any]:
    """Name, path, type, parameter count and (for a model loaded from a directory) the weights' sha256."""
    model = predictor.model
    config = model.config
    path = getattr(config, "_name_or_path", "") or None
    weights = os.path.join(path, "model.safetensors") if path else None
    return {
        "name": predictor.name,
        "path": path,
        "model_type": getattr(config, "model_type", None),
        "depth_estimation_type": predictor.meaning.depth_estimation_type,
        "output": predictor.meaning.kind,
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "weights_sha256": file_sha256(weights) if weights and os.path.isfile(weights) else None,
    }


def protocol_from_dict(data: dict[str, Any]) -> EvalProtocol:
    """The `EvalProtocol` an evaluation JSON recorded: infinite bounds are stored as `"inf"`, and older JSONs
    recorded `kb_crop` as a bool (False: `"none"`, True: `"paste"`) and lack fields added since (their
    defaults apply)."""
    crop = data.get("crop")
    if crop is not None:
        crop = AbsoluteCrop(**{**crop, "frame": tuple(crop["frame"])}) if "frame" in crop else FractionalCrop(**crop)
    bounds = {key: float(data[key]) for key in ("min_depth", "max_depth") if key in data}
    recorded = data.get("kb_crop", "none")
    kb_crop = {False: "none", True: "paste"}.get(recorded, recorded)
    clip = {"pred_clip": tuple(map(float, data["pred_clip"]))} if "pred_clip" in data else {}
    return EvalProtocol(**{**data, **bounds, **clip, "crop": crop, "kb_crop": kb_crop})


_REQUIRED_KEYS = ("metrics", "num_images", "num_skipped", "protocol", "settings", "model", "dataset")


@dataclasses.dataclass
class EvaluationResult:
    """Metrics of one evaluation run and what produced them. `to_json` writes the evaluation JSON and `from_json`
    reads it back (the only reader: see the module docstring)."""

    metrics: dict[str, float]
    num_images: int
    num_skipped: int
    protocol: dict[str, Any]
    settings: dict[str, Any]
    model: dict[str, Any]
    dataset: dict[str, Any]
    versions: dict[str, str]
    timestamp: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dictionary of every field."""
        return _json_safe(dataclasses.asdict(self))

    def to_json(self, path: str | os.PathLike) -> None:
        """Write the result as indented JSON, atomically."""
        with atomic_output(path) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, data: Any, source: str = "evaluation result") -> "EvaluationResult":
        """The result a `to_dict` dictionary (or an older form of it) records, checked: a number for each of the
        nine metrics, the run's counts, a readable protocol (stored normalised: `kb_crop` a string, infinities
        as `"inf"`). Errors are ValueErrors that begin with `source`."""
        if not isinstance(data, dict):
            raise ValueError(f"{source} must hold a JSON object, not {type(data).__name__}")
        missing = [key for key in _REQUIRED_KEYS if key not in data]
        if missing:
            raise ValueError(f"{source} lacks {', '.join(missing)}")
        metrics = data["metrics"]
        if not isinstance(metrics, dict) or any(
            not isinstance(metrics.get(name), (int, float)) or isinstance(metrics.get(name), bool) for name in METRIC_NAMES
        ):
            raise ValueError(f"{source}: 'metrics' must give a number for each of {', '.join(METRIC_NAMES)}")
        for key in ("protocol", "settings", "model", "dataset"):
            if not isinstance(data[key], dict):
                raise ValueError(f"{source}: {key!r} must be a JSON object, not {type(data[key]).__name__}")
        try:
            protocol = protocol_from_dict(data["protocol"])
            counts = {key: int(data[key]) for key in ("num_images", "num_skipped")}
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{source} has an unreadable protocol or image count: {error}") from None
        return cls(
            metrics={name: float(value) for name, value in metrics.items() if isinstance(value, (int, float))},
            **counts,
            protocol=_json_safe(dataclasses.asdict(protocol)),
            settings=dict(data["settings"]),
            model=dict(data["model"]),
            dataset=dict(data["dataset"]),
            versions=dict(data.get("versions") or {}),
            timestamp=str(data.get("timestamp") or ""),
        )

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "EvaluationResult":
        """Read an evaluation JSON written by `to_json` (`mde-hub evaluate`); errors name the file."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            raise FileNotFoundError(f"evaluation JSON not found: {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"evaluation JSON {path} is not valid JSON: {error}") from None
        return cls.from_dict(data, f"evaluation JSON {path}")

    @property
    def dataset_label(self) -> str:
        """The scored data for people: the base name of its folder or file, a spec as given (`synthetic:...`), or
        the data set's class, followed by the named split it was scored on where that is a part of it (not `test`
        or a `tail:` fraction), e.g. `extra_real heldout_streets`."""
        source = self.dataset.get("source")
        label = os.path.basename(os.path.normpath(source)) if source and os.sep in source else str(
            source or self.dataset.get("class") or "?"
        )
        split = self.dataset.get("split")
        return f"{label} {split}" if split and split != "test" and not str(split).startswith("tail:") else label

    @property
    def eval_protocol(self) -> EvalProtocol:
        """The recorded protocol as an `EvalProtocol`."""
        return protocol_from_dict(self.protocol)

    def format_table(self) -> str:
        """A one-row markdown table of the 9 metrics."""
        header = "| " + " | ".join(METRIC_NAMES) + " |"
        rule = "|" + "|".join("---:" for _ in METRIC_NAMES) + "|"
        row = "| " + " | ".join(f"{self.metrics[name]:.4f}" for name in METRIC_NAMES) + " |"
        return "\n".join([header, rule, row])


@dataclasses.dataclass(frozen=True)
class DatasetRecord:
    """What the evaluation JSON records of the scored data: `source` (a path or `synthetic:indoor:N`), `split`
    and the options it was opened with (e.g. `depth_field`, `split_file`)."""

    source: str | None = None
    split: str | None = None
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def opened(cls, source: str, split: str | None, dataset: Any, options: dict[str, Any]) -> DatasetRecord:
        """The record of `dataset`, opened from `source` with layout `options` (None values left out). The
        labeled .mat's `depth_field`, which ground truth was scored (raw or in-painted), is recorded even when it
        was the default."""
        recorded = {key: value for key, value in options.items() if value is not None}
        if hasattr(dataset, "depth_field"):
            recorded["depth_field"] = dataset.depth_field
        return cls(source, split, recorded)


def read_evaluation(path: str | os.PathLike) -> EvaluationResult:
    """`EvaluationResult.from_json`: the evaluation JSON at `path`."""
    return EvaluationResult.from_json(path)


def folder_evaluations(folder: str | os.PathLike) -> list[tuple[str, EvaluationResult]]:
    """`(path, result)` of each evaluation JSON (`results*.json`) in a checkpoint folder, in name order; a file
    that is not one (unreadable, or another JSON) is skipped."""
    found = []
    for path in sorted(glob.glob(os.path.join(glob.escape(os.fspath(folder)), "results*.json"))):
        try:
            found.append((path, read_evaluation(path)))
        except (OSError, ValueError):
            continue
    return found


def _score_dataset(
    predict: Callable[[list[DepthSample]], list[np.ndarray]],
    dataset: Any,
    accumulator: DepthMetricAccumulator,
    limit: int | None,
    progress: Callable[[int, int], None] | None,
    batch_size: int,
    num_workers: int,
    shard: ProcessShard,
) -> None:
    """Add `predict(samples)` of this process's shard of the first `limit` samples of `dataset`, loaded in batches
    of `batch_size` by `num_workers` processes (`mde_hub.data.batches`), to `accumulator` one sample at a time, in
    order; each batch is dropped once scored. In a multi-process run the accumulators are then summed across the
    processes, so every process ends with the metrics of the whole run."""
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    check_batching(batch_size, num_workers)
    indices = shard.indices(len(dataset) if limit is None else min(limit, len(dataset)))
    part = dataset if len(indices) == len(dataset) else torch.utils.data.Subset(dataset, indices)
    if progress is not None:
        progress(0, len(indices))
    done = 0
    for samples in dataset_batches(part, len(indices), batch_size, num_workers):
        for sample, prediction in zip(samples, predict(samples), strict=True):
            accumulator.update(prediction, sample.depth, valid_mask=sample.valid)
            done += 1
            if progress is not None:
                progress(done, len(indices))
    if shard.is_distributed:
        accumulator.sum_across_processes()


def _result(
    accumulator: DepthMetricAccumulator,
    settings: dict[str, Any],
    model: dict[str, Any],
    dataset: Any,
    record: DatasetRecord,
) -> EvaluationResult:
    return EvaluationResult(
        metrics=accumulator.compute(),
        num_images=accumulator.num_images,
        num_skipped=accumulator.num_skipped,
        protocol=_json_safe(dataclasses.asdict(accumulator.protocol)),
        settings={
            **settings,
            "alignment": accumulator.alignment,
            "alignment_space": accumulator.alignment_space,
            "prediction_type": accumulator.prediction_type,
        },
        model=model,
        dataset={"class": type(dataset).__name__, "len": len(dataset), **_json_safe(dataclasses.asdict(record))},
        versions={"mde_hub": __version__, "transformers": transformers.__version__},
        timestamp=datetime.now(timezone.utc).isoformat(),
    )


def evaluate(
    predictor: DepthPredictor,
    dataset: Any,
    protocol: str | EvalProtocol = "nyu_eigen",
    flip_tta: bool = False,
    alignment: AlignmentMethod = "none",
    alignment_space: AlignmentSpace | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    record: DatasetRecord = DatasetRecord(),
    batch_size: int = 1,
    num_workers: int = 0,
    shard: ProcessShard = ProcessShard(),
    metrics_kernel: MetricsKernel = "numpy",
) -> EvaluationResult:
    """Score `predictor` on the first `limit` samples (all when None) of an indexable `dataset`.

    `record` (the data's source, split and options) is stored with the dataset's class and length, so the JSON
    says which data was scored.

    Samples are loaded `batch_size` at a time by `num_workers` DataLoader processes (0: in this one) and predicted
    as a batch (`DepthPredictor.predict_batch`, the flip pass as a second batch); the metrics are those of batch 1
    up to the float rounding of batched kernels; the settings record `batch_size` and the predictor's device and
    dtype. `progress(done, total)` is called before the first sample and after each. `metrics_kernel` scores the
    pixels in numpy or in a loop compiled by `torch.compile` (`DepthMetricAccumulator`; recorded in the settings).

    In a run of several processes (`torchrun` or `accelerate launch`; `shard` from
    `mde_hub.inference.distributed.join_launched_processes`) each process scores its shard of the samples and the
    metric sums are added up across the processes: every process returns the metrics of the whole data set.

    The model's output is scored as what it means (`predictor.meaning`): a relative model needs
    `alignment="median"` or `"scale_shift"` (without it a ValueError is raised, since its metric numbers would be
    meaningless), and an inverse-depth output is aligned in inverse-depth space (`alignment_space` None) and then
    turned into depth.

    A protocol with `flip_tta` (`nyu_densedepth`) turns flip TTA on whatever `flip_tta` says; the settings record
    what ran. With flip TTA a metric prediction scored without alignment is clipped to the protocol's `pred_clip`
    in each pass before the two are averaged. Each sample's focal length (its intrinsics' fx) goes to models that
    scale depth by it (BTS's KITTI models, as BTS's test script passes the list's focal). KITTI protocols take full-frame samples (`KittiEigenSplit(kb_crop=
    False)`) and predict on their KB crop; a BTS-convention ("paste") protocol refuses ground truth that is not a
    full frame.
    """
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    meaning = predictor.meaning
    if not meaning.is_metric and alignment == "none":
        raise ValueError(
            f"{predictor.name} predicts {meaning.describe()}, so metric errors without alignment are meaningless; "
            'pass alignment="median" or alignment="scale_shift"'
        )
    accumulator = DepthMetricAccumulator(
        protocol, alignment=alignment, alignment_space=alignment_space, prediction_type=meaning.prediction_type,
        kernel=metrics_kernel,
    )
    flip_tta = flip_tta or protocol.flip_tta
    clip = protocol.pred_clip if meaning.is_metric and alignment == "none" else None

    def predict(samples: list[DepthSample]) -> list[np.ndarray]:
        images = [_network_input(sample.image, protocol) for sample in samples]
        # each sample's fx (the KB crop keeps it)
        focals = [sample.intrinsics.fx if sample.intrinsics is not None else None for sample in samples]
        return _predict_with_tta(predictor, images, flip_tta, clip, focals)

    model_identity = _model_identity(predictor)
    _score_dataset(predict, dataset, accumulator, limit, progress, batch_size, num_workers, shard)
    settings = {
        "flip_tta": flip_tta, "limit": limit, "batch_size": batch_size, "device": str(predictor.device),
        "dtype": predictor.dtype, "processes": shard.world_size, "metrics_kernel": metrics_kernel,
    }
    return _result(accumulator, settings, model_identity, dataset, record)


def evaluate_predictions(
    predictions: str | os.PathLike,
    dataset: Any,
    protocol: str | EvalProtocol = "nyu_eigen",
    prediction_type: PredictionType = "depth",
    alignment: AlignmentMethod = "none",
    alignment_space: AlignmentSpace | None = None,
    limit: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    record: DatasetRecord = DatasetRecord(),
    batch_size: int = 1,
    num_workers: int = 0,
    shard: ProcessShard = ProcessShard(),
    metrics_kernel: MetricsKernel = "numpy",
) -> EvaluationResult:
    """Score saved `.npy` predictions (`mde_hub.evaluation.saved_predictions`: one file per sample, matched by name) exactly
    as `evaluate` scores a model's output: same protocol, alignment and metrics.

    `prediction_type` says what the files hold: `"depth"` or `"inverse_depth"`; without alignment they must be
    metric (metres, or 1/m). Files are scored as saved: a prediction of a KITTI protocol is either the 352x1216 KB
    crop's (pasted or scored in place, as the protocol says) or the full frame's; flip averaging is the saver's job,
    so a protocol that demands it (`nyu_densedepth`) is refused. Samples load as `evaluate` loads them
    (`batch_size`, `num_workers`, `shard`) and are scored by `metrics_kernel` as there.
    """
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    if protocol.flip_tta:
        raise ValueError(
            f"protocol {protocol.name} averages each prediction with that of the mirrored image; saved predictions "
            "are scored as saved, so save the flip-averaged ones and score them with a protocol without forced flip"
        )
    folder = PredictionFolder(predictions)
    accumulator = DepthMetricAccumulator(
        protocol, alignment=alignment, alignment_space=alignment_space, prediction_type=prediction_type,
        kernel=metrics_kernel,
    )

    def load(samples: list[DepthSample]) -> list[np.ndarray]:
        return [folder.load(sample.id) for sample in samples]

    _score_dataset(load, dataset, accumulator, limit, progress, batch_size, num_workers, shard)
    model = {"name": folder.root.name, "path": str(folder.root.resolve()), "saved_predictions": len(folder)}
    settings = {
        "flip_tta": False, "limit": limit, "batch_size": batch_size, "processes": shard.world_size,
        "metrics_kernel": metrics_kernel,
    }
    return _result(accumulator, settings, model, dataset, record)
