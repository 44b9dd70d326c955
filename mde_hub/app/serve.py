"""Serving the page (`python app.py`, `python -m mde_hub.app.screenshots`): the model registry the command line
asks for, the address to bind, and the page with its rendered examples, per-request files and Gradio's cache of
uploads in a temporary folder removed afterwards, also when the server is stopped with SIGTERM (as service managers
and Hugging Face Spaces do)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import tempfile
from collections.abc import Iterator, Mapping

import gradio as gr

from mde_hub.inference.device import resolve_device, resolve_dtype

from .allocator import fix_mmap_threshold
from .examples import SamplePair, photo_examples, write_examples
from .inputs import ImageLimits, ScratchSpace
from .layout import build_demo, launch
from .registry import DEFAULT_MAX_MODEL_BYTES, ModelRegistry, discover_sources, load_predictor, zoo_sources

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
DEFAULT_MAX_SCRATCH_BYTES = 2**30
"""Per-request result files kept on disk before the oldest are evicted (`ScratchSpace`)."""


def server_address(host: str | None, port: int | None, environ: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """The interface and port to bind: `host`/`port` when given (--host/--port), else `GRADIO_SERVER_NAME`/
    `GRADIO_SERVER_PORT` (which Hugging Face Spaces set), else 127.0.0.1:7860."""
    host = host or environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST
    if port is None:
        text = environ.get("GRADIO_SERVER_PORT") or str(DEFAULT_PORT)
        if not text.isdigit() or not 0 < int(text) < 65536:
            raise ValueError(f"GRADIO_SERVER_PORT must be a port number (1-65535); got {text!r}")
        port = int(text)
    return host, port


def stop_on_sigterm() -> None:
    """Make SIGTERM stop the server as Ctrl+C does: Gradio closes it and the temporary folder's context exits.
    By default SIGTERM ends the process at once, leaving the folder behind."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def open_registry(
    models: list[str] | None,
    checkpoints_dir: str | None,
    max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES,
    backend: str = "pytorch",
    allow_local_paths: bool = False,
    online: bool = False,
    device: str = "cpu",
    dtype: str = "float32",
    online_models: frozenset[str] | None = None,
) -> ModelRegistry:
    """The registry of `models` (checkpoint directories, folders of them, Hub ids; by default the checkpoints in
    `checkpoints_dir`, else the untrained Baseline), keeping at most `max_model_bytes` of weights loaded; with
    `backend="onnxruntime"` local checkpoints that hold a model.onnx run it. `online` also lists the model zoo's
    models, each fetched on first use. PyTorch models run on `device` in `dtype` (`DepthPredictor`); both are
    checked here, before anything loads. `online_models`, if given, are the only Hub ids the page may load when
    typed in."""
    resolve_dtype(dtype, resolve_device(device))
    if backend == "onnxruntime" and (device, dtype) != ("cpu", "float32"):
        raise ValueError(f"the onnxruntime backend runs on the cpu in float32; got device {device!r} and dtype {dtype!r}")
    sources = discover_sources(models, checkpoints_dir)
    return ModelRegistry(
        zoo_sources(sources) if online else sources,
        max_bytes=max_model_bytes,
        loader=functools.partial(load_predictor, backend=backend, device=device, dtype=dtype),
        allow_local_paths=allow_local_paths,
        online_models=online_models,
    )


@contextlib.contextmanager
def gradio_cache_in(folder: str) -> Iterator[None]:
    """Make Gradio keep uploads and returned files in `folder` (GRADIO_TEMP_DIR, read when components and the server
    are created; by default a `gradio` folder in the system's temporary folder that outlives the app), restoring
    the variable afterwards. An operator's GRADIO_TEMP_DIR is replaced too: the app's files go where TMPDIR says."""
    previous = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = folder
    try:
        yield
    finally:
        if previous is None:
            del os.environ["GRADIO_TEMP_DIR"]
        else:
            os.environ["GRADIO_TEMP_DIR"] = previous


@contextlib.contextmanager
def temporary_page(
    registry: ModelRegistry,
    limits: ImageLimits = ImageLimits(),
    prefix: str = "mde-hub-app-",
    max_scratch_bytes: int = DEFAULT_MAX_SCRATCH_BYTES,
) -> Iterator[tuple[gr.Blocks, list[SamplePair]]]:
    """The page (`build_demo`) and its example pairs (the shipped photos, then the rendered ones) in a temporary folder
    that also holds the per-request files (the oldest evicted beyond `max_scratch_bytes`) and, while the context
    lasts, Gradio's cache of uploads and returned files (`gradio_cache_in`); the folder is removed when it ends."""
    with tempfile.TemporaryDirectory(prefix=prefix) as work, gradio_cache_in(os.path.join(work, "gradio")):
        examples = os.path.join(work, "examples")
        samples = photo_examples(examples) + write_examples(examples)
        scratch = ScratchSpace(root=os.path.join(work, "requests"), max_bytes=max_scratch_bytes)
        yield build_demo(registry, scratch, limits, samples), samples


def serve(
    registry: ModelRegistry,
    limits: ImageLimits = ImageLimits(),
    host: str = DEFAULT_HOST,
    port: int | None = DEFAULT_PORT,
    share: bool = False,
    max_file_size: str = "50mb",
    concurrency: int = 2,
    max_scratch_bytes: int = DEFAULT_MAX_SCRATCH_BYTES,
) -> None:
    """Serve the page until interrupted (Ctrl+C or SIGTERM), as a long-running server: glibc's mmap threshold fixed
    first (`allocator`), then `temporary_page` launched with `launch`'s options."""
    fix_mmap_threshold()  # keep the heap from fragmenting (mde_hub/app/allocator.py)
    stop_on_sigterm()
    with temporary_page(registry, limits, max_scratch_bytes=max_scratch_bytes) as (demo, _):
        launch(demo, host, port, share, max_file_size, concurrency)
