"""Which models the app offers and which of them sit in memory.

Sources: the bundled checkpoints (`./checkpoints/*`), directories given with `--models` (a checkpoint, or a folder
of checkpoints), Hub ids (given with `--models` or typed into the page), and transformers' own depth models (DPT,
GLPN, Depth Anything, ZoeDepth) by Hub id or local directory; with `--online`, the model zoo's models too
(`zoo_sources`), each downloaded, converted and cached on first use. With none of these, an untrained Baseline with
random weights is offered, labelled as such. Models load on first use and stay in an LRU cache bounded by the bytes of
their parameters and buffers.

A local path typed into the page loads only if it lies inside a folder that holds one of the served local
checkpoints (symbolic links resolved), unless the app runs with `--allow-local-paths`: a visitor cannot make the
server read arbitrary folders. Anything that is not a path must be a valid Hub id (`owner/name`: no `..`, no
extra `/`), so an id cannot point into the file system either, and one of `--online-models` when the app was given
that list. Online, a Hub model's weights are measured from their safetensors headers before anything is downloaded,
and a model larger than the memory bound is refused then.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from huggingface_hub import constants as hub_constants
from huggingface_hub.utils import HFValidationError, validate_repo_id

from mde_hub import BaselineConfig, BaselineForDepthEstimation
from mde_hub.inference.onnx_export import ONNX_FILENAME
from mde_hub.inference.onnx_runtime import OnnxDepthModel
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.loading import check_checkpoint_path, hub_weights_bytes

UNTRAINED_NAME = "baseline (untrained, random weights)"
DEFAULT_MAX_MODEL_BYTES = 4 * 1024**3

SourceKind = Literal["local", "hub", "zoo", "untrained"]


@dataclass(frozen=True)
class ModelSource:
    """A model the app can load: `name` is its label in the page, `location` a directory or Hub id."""

    name: str
    location: str
    kind: SourceKind


def is_checkpoint(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json"))


def model_bytes(model: torch.nn.Module | OnnxDepthModel) -> int:
    """Bytes held by a model's parameters and buffers (an ONNX model: its graph file's size)."""
    if isinstance(model, OnnxDepthModel):
        return model.num_bytes
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def discover_sources(models: list[str] | None, checkpoints_dir: str | None) -> list[ModelSource]:
    """Sources for `--models` entries (checkpoint dirs, folders of them, Hub ids), else the checkpoints in
    `checkpoints_dir`, else the untrained Baseline. Names are directory basenames, made unique."""
    entries = list(models or [])
    if not entries and checkpoints_dir and os.path.isdir(checkpoints_dir):
        entries = [os.path.join(checkpoints_dir, name) for name in sorted(os.listdir(checkpoints_dir))]
        entries = [entry for entry in entries if is_checkpoint(entry)]
    sources: list[ModelSource] = []
    for entry in entries:
        if is_checkpoint(entry):
            sources.append(ModelSource(os.path.basename(os.path.normpath(entry)), os.path.abspath(entry), "local"))
        elif os.path.isdir(entry):
            found = sorted(name for name in os.listdir(entry) if is_checkpoint(os.path.join(entry, name)))
            if not found:
                raise ValueError(f"--models {entry}: no checkpoint (a folder with config.json) in it or below it")
            sources += [ModelSource(name, os.path.abspath(os.path.join(entry, name)), "local") for name in found]
        elif os.path.exists(entry) or entry.startswith((".", "/", "~")):
            raise ValueError(f"--models {entry}: not a checkpoint directory (no config.json)")
        else:
            sources.append(ModelSource(check_hub_id(entry), entry, "hub"))
    if not sources:
        return [ModelSource(UNTRAINED_NAME, "", "untrained")]
    return _unique_names(sources)


def zoo_sources(sources: list[ModelSource]) -> list[ModelSource]:
    """`sources` (without the untrained placeholder) and the zoo models that convert here and download without a
    person, or are fetched already; a zoo model's location is its zoo name."""
    from mde_hub.models.conversion import CONVERTERS
    from mde_hub.zoo import ZOO, fetched

    zoo = [
        ModelSource(entry.name, entry.name, "zoo")
        for entry in ZOO.values()
        if entry.format in CONVERTERS and (entry.url is not None or fetched(entry))
    ]
    return _unique_names([source for source in sources if source.kind != "untrained"] + zoo) or sources


def _unique_names(sources: list[ModelSource]) -> list[ModelSource]:
    seen: dict[str, int] = {}
    unique = []
    for source in sources:
        count = seen[source.name] = seen.get(source.name, 0) + 1
        name = source.name if count == 1 else f"{source.name} ({count})"
        unique.append(ModelSource(name, source.location, source.kind))
    return unique


def check_hub_id(repo_id: str) -> str:
    """`repo_id` stripped, or ValueError saying why it cannot be a Hub model id."""
    repo_id = repo_id.strip()
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"{repo_id!r} is neither a checkpoint directory nor a valid Hub model id: {error}") from None
    return repo_id


def parse_online_models(text: str | None) -> frozenset[str] | None:
    """`--online-models`: comma-separated Hub ids (None: any id; an empty text: none)."""
    if text is None:
        return None
    return frozenset(check_hub_id(repo_id) for repo_id in text.split(",") if repo_id.strip())


def looks_like_path(location: str) -> bool:
    """True for what the page must treat as a local path: anything that exists on disk, starts like a path
    (`/`, `.`, `~`) or holds a `..` or `\\`."""
    return (
        os.path.exists(location) or location.startswith(("/", ".", "~")) or ".." in location or "\\" in location
    )


def load_predictor(
    source: ModelSource, backend: str = "pytorch", device: str = "cpu", dtype: str = "float32"
) -> DepthPredictor:
    """Load a source, turning every failure into a ValueError that says what to do. With
    `backend="onnxruntime"`, local checkpoints that hold a `model.onnx` run it with ONNX Runtime; others PyTorch,
    on `device` in `dtype` (`DepthPredictor`)."""
    if source.kind == "untrained":
        torch.manual_seed(0)
        return DepthPredictor.from_model(BaselineForDepthEstimation(BaselineConfig()), source.name, device, dtype)
    if source.kind == "zoo":  # downloaded and converted on first use, then read from the cache
        from mde_hub.zoo import fetch_zoo_model

        try:
            source = ModelSource(source.name, str(fetch_zoo_model(source.location)), "local")
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot fetch {source.name} from the model zoo: {error}") from None
    if source.kind != "local" or not os.path.isfile(os.path.join(source.location, ONNX_FILENAME)):
        backend = "pytorch"
    try:
        predictor = DepthPredictor.from_pretrained(source.location, backend=backend, device=device, dtype=dtype)
    except OSError as error:
        if source.kind == "hub" and hub_constants.HF_HUB_OFFLINE:
            raise ValueError(
                f"offline: start the app with --online to download {source.location!r} from the Hub (there is no "
                "local directory of that name, and offline only models already in the Hugging Face cache load)"
            ) from None
        raise ValueError(f"cannot load {source.location!r}: {error}") from None
    except (ValueError, KeyError) as error:
        raise ValueError(f"cannot load {source.location!r} as a depth model: {error}") from None
    predictor.name = source.name
    return predictor


class ModelRegistry:
    """Named model sources, loaded lazily and kept in an LRU cache of at most `max_bytes` parameter bytes.

    A newly loaded model evicts the least recently used ones until everything fits; a model larger than the whole
    bound is refused (while it loads, memory briefly holds it beside the cached ones), a Hub model online before it
    is downloaded, by the size of its safetensors weights. Hub ids typed into the page (`add`) must be among
    `online_models` unless that is None. Thread-safe.
    """

    def __init__(
        self,
        sources: list[ModelSource],
        max_bytes: int = DEFAULT_MAX_MODEL_BYTES,
        loader: Callable[[ModelSource], DepthPredictor] = load_predictor,
        allow_local_paths: bool = False,
        online_models: frozenset[str] | None = None,
    ) -> None:
        if max_bytes <= 0:
            raise ValueError(f"the model memory bound must be positive; got {max_bytes} bytes")
        self.sources: dict[str, ModelSource] = {source.name: source for source in sources}
        self.allow_local_paths = allow_local_paths
        self.online_models = online_models
        self.local_roots = sorted(
            {os.path.dirname(os.path.realpath(source.location)) for source in sources if source.kind == "local"}
        )
        self.max_bytes = max_bytes
        self._loader = loader
        self._cache: OrderedDict[str, tuple[DepthPredictor, int]] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    @property
    def untrained_only(self) -> bool:
        return [source.kind for source in self.sources.values()] == ["untrained"]

    def folder_of(self, name: str) -> str | None:
        """The local checkpoint folder of `name`, whose records describe it (None for Hub, zoo and untrained models)."""
        source = self.sources.get(name)
        return source.location if source is not None and source.kind == "local" else None

    def loaded(self) -> list[str]:
        """Names of the models in memory, least recently used first."""
        with self._lock:
            return list(self._cache)

    def loaded_bytes(self) -> int:
        with self._lock:
            return sum(size for _, size in self._cache.values())

    def add(self, location: str) -> str:
        """Register (and load, so errors show at once) a checkpoint directory or Hub id; returns its name."""
        location = location.strip()
        if not location:
            raise ValueError("type a Hub model id (owner/name) or a local checkpoint directory")
        with self._lock:
            for source in self.sources.values():
                if source.location in (location, os.path.abspath(location)):
                    self.get(source.name)
                    return source.name
            if looks_like_path(location):
                self._check_local_path(location)
            if is_checkpoint(location):
                source = ModelSource(os.path.basename(os.path.normpath(location)), os.path.abspath(location), "local")
            elif os.path.isdir(location):
                raise ValueError(f"{location} is a directory without config.json: not a checkpoint")
            else:
                check_checkpoint_path(location)  # a file, e.g. CHECKPOINT/config.json
                source = ModelSource(self._check_hub_id(location), location, "hub")
            if source.name in self.sources:
                source = ModelSource(source.location, source.location, source.kind)
            self._load(source)
            self.sources[source.name] = source
            return source.name

    def _check_local_path(self, location: str) -> None:
        """Refuse a typed local path outside the served folders (unless `allow_local_paths`)."""
        if self.allow_local_paths:
            return
        real = os.path.realpath(os.path.expanduser(location))
        if not any(os.path.commonpath([real, root]) == root for root in self.local_roots):
            raise ValueError(
                f"{location}: the page loads local checkpoints only from the folders the app serves (--models or "
                "./checkpoints); start the app with --allow-local-paths to load others, or type a Hub id (owner/name)"
            )

    def _check_hub_id(self, location: str) -> str:
        """A typed Hub id, refused unless it is among `online_models` (when the app was given that list)."""
        repo_id = check_hub_id(location)
        if self.online_models is not None and repo_id not in self.online_models:
            allowed = ", ".join(sorted(self.online_models)) or "none"
            raise ValueError(f"{repo_id}: this app loads only the Hub models it was started with (--online-models: "
                             f"{allowed})")
        return repo_id

    def _check_hub_size(self, source: ModelSource) -> None:
        """Online, refuse a Hub model whose weights exceed the bound before downloading them."""
        if source.kind != "hub" or hub_constants.HF_HUB_OFFLINE:
            return
        try:
            size = hub_weights_bytes(source.location)
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot load {source.location!r}: {error}") from None
        self._check_size(source, size, " (by the Hub's metadata; nothing was downloaded)")

    def _check_size(self, source: ModelSource, size: int, how: str = "") -> None:
        if size > self.max_bytes:
            raise ValueError(
                f"{source.name} needs {size / 2**20:.1f} MiB for its weights{how}, more than the app's model memory "
                f"bound of {self.max_bytes / 2**20:.1f} MiB (--max-model-memory)"
            )

    def get(self, name: str) -> DepthPredictor:
        """The predictor of `name`, loading it (and evicting others) if it is not in memory."""
        with self._lock:
            if name in self._cache:
                self._cache.move_to_end(name)
                return self._cache[name][0]
            if name not in self.sources:
                raise ValueError(f"unknown model {name!r}; available: {', '.join(self.sources)}")
            return self._load(self.sources[name])

    def _load(self, source: ModelSource) -> DepthPredictor:
        self._check_hub_size(source)
        predictor = self._loader(source)
        size = model_bytes(predictor.model)
        self._check_size(source, size)
        while self._cache and self.loaded_bytes() + size > self.max_bytes:
            self._cache.popitem(last=False)
        self._cache[source.name] = (predictor, size)
        return predictor
