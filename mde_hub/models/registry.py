"""The model registry: one `ModelEntry` per model folder, holding every fact about a model besides its code.

timm's `default_cfg` and `register_model` are the pattern. Each folder `mde_hub/models/<name>/` registers its
entry in its `registration.py` (imported by the folder's `__init__.py`); `entries` imports every folder, so
a new model is one new folder. The Auto classes and `MODEL_CLASSES`, training presets, `mde-hub models`, ONNX
export, model cards, the app, `mde-hub bench` and the published results all read the entries; none keeps a table
of its own. An entry states:

* the model's name and paper, its config and model classes (`model_type` is the config class's);
* its presets: named configuration factories, each with the data set (and so the camera, `camera_of`) it was
  made for, and which of them `mde-hub bench` measures;
* `input_side_multiple`: the multiple its input's height and width may take in an exported ONNX graph, or None for
  a graph fixed at one size;
* its model card's fields: the config fields that tell checkpoints apart, tags, the licence of the authors' code and
  a note on what the output's numbers are;
* the papers' published results (`PublishedResult`) its checkpoints are compared with.

What a model's `predicted_depth` means is not an entry's fact: `mde_hub.models.depth_meaning.depth_meaning_of`
decides it from the configuration alone (so `mde-hub models` lists each preset's meaning by asking it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..data.frames import DATASET_CAMERAS, DatasetCamera
from .configuration_utils import DepthConfig, scales_depth_by_focal
from .modeling_utils import DepthEstimationPreTrainedModel

PER_IMAGE_RAW = "raw Kinect depth, metrics averaged per image"
"""How the papers' NYU numbers are scored (a note shared by the BTS, AdaBins and DPT rows)."""
KITTI_FULL_FRAME = "352x1216 KB-crop prediction pasted into the full ground-truth frame; 652 of 697 images have GT"
"""How BTS's and DPT's KITTI numbers are scored."""


@dataclass(frozen=True)
class PublishedResult:
    """One published row: a model variant's metrics on one dataset under one protocol.

    Attributes:
        model: mde-hub `model_type` of the architecture, e.g. `mde_bts`.
        variant: the published model's encoder or size, e.g. `"DenseNet-161"`.
        dataset: `"nyu_depth_v2"` or `"kitti"` (keys of `mde_hub.data.frames.DATASET_CAMERAS`).
        protocol: name of the closest `mde_hub.evaluation.protocols` protocol.
        source: where the numbers come from, with the MODELS.md section that records them.
        metrics: metric name -> value, only the metrics the source gives.
        notes: how the source's evaluation differs from `protocol`, and what could not be verified.
    """

    model: str
    variant: str
    dataset: str
    protocol: str
    source: str
    metrics: dict[str, float] = field(default_factory=dict, hash=False)
    notes: str = ""

    def __post_init__(self) -> None:
        if self.dataset not in DATASET_CAMERAS:
            raise ValueError(f"published row of {self.model}: dataset {self.dataset!r} is not one of {list(DATASET_CAMERAS)}")


@dataclass(frozen=True)
class Preset:
    """A named configuration: `build(**overrides)` returns it (the config class itself or one of its classmethods).
    `dataset`: the key of `mde_hub.data.frames.DATASET_CAMERAS` whose camera and depth range it was made for;
    None for neither (the tests' tiny configurations, DPT's models trained on the MiDaS mix)."""

    build: Callable[..., DepthConfig]
    dataset: str | None
    description: str


@dataclass(frozen=True)
class CardFields:
    """What a model card says of the architecture beyond its template.

    Attributes:
        summary_fields: config fields that tell checkpoints of the architecture apart, in the order the card lists them.
        tags: Hub tags naming the architecture (besides the task's, the depth type's and `mde-hub`).
        reference_licence: licence of the authors' code and released weights, which mde-hub does not copy (None: the
            model has no reference code).
        output_note: for a metric checkpoint, a sentence on how the output's numbers are made (DPT's inverse-depth
            constants), or None.
    """

    summary_fields: tuple[str, ...]
    tags: tuple[str, ...]
    reference_licence: str | None
    output_note: Callable[[Any], str] | None = None


@dataclass(frozen=True)
class ModelEntry:
    """Every fact about one model that is not its code (see the module docstring).

    Attributes:
        name: the architecture's name for people, e.g. `"BTS"`.
        paper: the paper, cited briefly (authors, venue, arXiv id), or what the model comes from.
        arxiv: the paper's arXiv id; entries are listed in its order, a model without one first.
        config_class, model_class: the configuration and `...ForDepthEstimation` classes.
        presets: preset name -> `Preset`; `"default"` (the config class's defaults, the paper's NYU model)
            and `"tiny"` (for tests) always exist.
        input_side_multiple: an exported ONNX graph takes any height and width that are multiples of this; None: the
            graph is fixed at the image processor's size (AdaBins). The registration says why.
        card: the model card's fields (`CardFields`).
        published: the paper's published results, in table order.
        benchmark_presets: the presets `mde-hub bench` measures as paper models.
    """

    name: str
    paper: str
    arxiv: str | None
    config_class: type[DepthConfig]
    model_class: type[DepthEstimationPreTrainedModel]
    presets: Mapping[str, Preset]
    input_side_multiple: int | None
    card: CardFields
    published: tuple[PublishedResult, ...] = ()
    benchmark_presets: tuple[str, ...] = ("default",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "presets", MappingProxyType(dict(self.presets)))
        problems = [f"no {name!r} preset" for name in ("default", "tiny") if name not in self.presets]
        problems += [
            f"preset {name!r} names an unknown data set {preset.dataset!r}"
            for name, preset in self.presets.items()
            if preset.dataset is not None and preset.dataset not in DATASET_CAMERAS
        ]
        problems += [f"benchmark preset {name!r} is not a preset" for name in self.benchmark_presets if name not in self.presets]
        problems += [f"a published row is of {row.model!r}" for row in self.published if row.model != self.model_type]
        if self.input_side_multiple is not None and self.input_side_multiple < 1:
            problems.append(f"input_side_multiple must be positive or None, not {self.input_side_multiple}")
        if problems:
            raise ValueError(f"registry entry of {self.model_type}: {'; '.join(problems)}")

    @property
    def model_type(self) -> str:
        return self.config_class.model_type

    @property
    def slug(self) -> str:
        """The short name (`"bts"`): its model-card template `model_cards/<slug>.md`, Hub tag and bench rows."""
        return self.model_type.removeprefix("mde_")

    def config(self, preset: str = "default", **overrides: Any) -> DepthConfig:
        """The configuration of `preset` with `overrides` applied."""
        if preset not in self.presets:
            raise ValueError(f"{self.config_class.__name__} has no {preset!r} preset; its presets: {', '.join(self.presets)}")
        return self.presets[preset].build(**overrides)

    def benchmark_name(self, preset: str) -> str:
        """The row name of a preset in `mde-hub bench`: the slug for the default, `slug-preset` otherwise."""
        return self.slug if preset == "default" else f"{self.slug}-{preset}"


_ENTRIES: dict[str, ModelEntry] = {}
_FOLDERS_IMPORTED = False


def register(entry: ModelEntry) -> ModelEntry:
    """Add `entry` to the registry (each model folder's `registration.py` calls this once) and return it."""
    known = _ENTRIES.get(entry.model_type)
    if known is not None and known is not entry:
        raise ValueError(
            f"model_type {entry.model_type!r} is registered twice: by {known.config_class.__module__} and "
            f"{entry.config_class.__module__}"
        )
    _ENTRIES[entry.model_type] = entry
    return entry


def _import_model_folders() -> None:
    """Import every model folder (a sub-package of `mde_hub.models`): each registers its entry on import."""
    global _FOLDERS_IMPORTED
    if not _FOLDERS_IMPORTED:
        for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
            if module.ispkg:
                importlib.import_module(f"{__package__}.{module.name}")
        _FOLDERS_IMPORTED = True


def entries() -> tuple[ModelEntry, ...]:
    """Every registered model: the Baseline, then in the order the papers appeared (arXiv id)."""
    _import_model_folders()
    return tuple(sorted(_ENTRIES.values(), key=lambda entry: entry.arxiv or ""))


def find_entry(model_type: str) -> ModelEntry | None:
    """The entry of `model_type`, or None for a model mde-hub does not define (e.g. transformers' `dpt`)."""
    _import_model_folders()
    return _ENTRIES.get(model_type)


def get_entry(model_type: str) -> ModelEntry:
    """The entry of `model_type`; KeyError naming the registered ones if there is none."""
    entry = find_entry(model_type)
    if entry is None:
        raise KeyError(f"no mde-hub model has model_type {model_type!r}; registered: {', '.join(_ENTRIES)}")
    return entry


def display_name(model_type: str) -> str:
    """The architecture's name for people (`"BTS"`); other models keep their `model_type`."""
    entry = find_entry(model_type)
    return entry.name if entry is not None else model_type


def published_to_compare(model_type: str) -> tuple[PublishedResult, ...]:
    """The published rows a `model_type` checkpoint is compared with: its paper's. A model without published
    numbers (the Baseline) is compared with every paper's rows on the data sets its presets were made for."""
    entry = get_entry(model_type)
    if entry.published:
        return entry.published
    datasets = {preset.dataset for preset in entry.presets.values() if preset.dataset is not None}
    return tuple(row for other in entries() for row in other.published if row.dataset in datasets)


def camera_of(config: Any) -> DatasetCamera:
    """The data set (and camera) a model of `config` (mde-hub's or transformers') was made for: the first of
    `mde_hub.data.frames.DATASET_CAMERAS` whose depth range holds its `max_depth` (NYU up to 10 m, KITTI
    beyond), NYU without a `max_depth`. Every preset's configuration falls on its preset's data set."""
    cameras = list(DATASET_CAMERAS.values())
    max_depth = getattr(config, "max_depth", None)
    if max_depth is None:
        return cameras[0]
    return next((camera for camera in cameras if max_depth <= camera.max_depth), cameras[-1])


def default_focal(config: Any, width: int) -> float:
    """The focal length in pixels assumed for a `width`-pixel-wide image seen by a `config` model when none is
    given: its data set's camera (`camera_of`) scaled to `width`. A model that scales depth by the focal
    (BTS's KITTI models, `focal_scaling`) assumes its `reference_focal` at its camera's width instead, so by
    default its depth is not rescaled."""
    camera = camera_of(config)
    if scales_depth_by_focal(config):
        return config.reference_focal * width / camera.frame[1]
    return camera.focal_at_width(width)
