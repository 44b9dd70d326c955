"""Loading a depth model from a checkpoint safely: safetensors only unless pickles are allowed, never remote code,
never a model silently completed with random weights, and never a config, processor config or weights holding values
(NaN, infinite, out of range) that would make every prediction meaningless; and the size of a Hub model's weights,
read before any download."""

from __future__ import annotations

import os
import re

import httpx2
import torch
from huggingface_hub import HfApi
from huggingface_hub.errors import NotASafetensorsRepoError, SafetensorsParsingError, StrictDataclassError
from safetensors import SafetensorError
from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation, PretrainedConfig, PreTrainedModel
from transformers.image_processing_utils import BaseImageProcessor
from transformers.utils import IMAGE_PROCESSOR_NAME

from .modeling_utils import check_loaded_weights


def check_checkpoint_path(path: str | os.PathLike) -> None:
    """Refuse a file given where a checkpoint folder (or Hub id) is expected, e.g. `CHECKPOINT/config.json`:
    transformers would try to read it as pickled weights."""
    if os.path.isfile(path):
        folder = os.path.dirname(os.path.abspath(path))
        raise ValueError(
            f"{path} is a file, not a checkpoint folder: give the folder that holds config.json and the weights "
            f"(e.g. {folder})"
        )


def invalid_config(path: str | os.PathLike, error: Exception) -> ValueError:
    """A config.json whose values transformers refuses (a wrong type, a failed validator) as one ValueError naming
    the checkpoint and the field."""
    return ValueError(f"cannot load {path}: its config.json is invalid: {' '.join(str(error).split())}")


def load_depth_config(path: str | os.PathLike) -> PretrainedConfig:
    """The config of a checkpoint folder or Hub id (never remote code); a file path or an invalid config.json is a
    ValueError naming it."""
    check_checkpoint_path(path)
    try:
        return AutoConfig.from_pretrained(path, trust_remote_code=False)
    except (StrictDataclassError, TypeError) as error:
        raise invalid_config(path, error) from None


def load_image_processor(path: str | os.PathLike) -> BaseImageProcessor:
    """A checkpoint's image processor, never with `trust_remote_code`; one its own checks refuse (a NaN
    `image_mean`, an `image_std` <= 0, ...) is a ValueError naming the file."""
    try:
        return AutoImageProcessor.from_pretrained(path, trust_remote_code=False)
    except ValueError as error:
        raise ValueError(f"cannot load {path}: its {IMAGE_PROCESSOR_NAME} is invalid: {error}") from None


def check_finite_weights(model: torch.nn.Module, source: str | os.PathLike) -> None:
    """Refuse a model whose floating-point weights or buffers hold NaN or infinite values: its predictions would be
    NaN. Names the first such tensor and how many there are."""
    state = model.state_dict()
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:
        name, tensor = broken[0], state[broken[0]]
        count = int((~torch.isfinite(tensor)).sum())
        others = f" and {len(broken) - 1} other tensor(s)" if len(broken) > 1 else ""
        raise ValueError(
            f"cannot load {source}: weight {name} holds {count} NaN or infinite value(s) of {tensor.numel()}{others}; "
            "refusing weights that would make predictions NaN"
        )


def load_depth_model(path: str | os.PathLike, allow_pickle: bool = False) -> PreTrainedModel:
    """A depth model from a checkpoint directory or Hub id, loaded safely: safetensors weights only unless
    `allow_pickle` (a pickled `pytorch_model.bin` can run code when unpickled), never with `trust_remote_code`, and
    refused, not randomly completed, when the weights lack tensors the model needs or have other shapes. A file
    path, an invalid config.json (`load_depth_config`) or weights holding NaN or infinite values
    (`check_finite_weights`) is a ValueError."""
    config = load_depth_config(path)
    local = os.path.isdir(path)
    if local and not allow_pickle and not any(
        os.path.isfile(os.path.join(path, name)) for name in ("model.safetensors", "model.safetensors.index.json")
    ):
        pickled = sorted(name for name in os.listdir(path) if name.startswith("pytorch_model") and name.endswith(".bin"))
        if pickled:
            raise ValueError(
                f"{path} holds pickled {pickled[0]} weights only, and pickle files can run code when loaded: convert "
                "them to model.safetensors, or pass allow_pickle=True (--allow-pickle) if you trust their source"
            )
        raise FileNotFoundError(f"{path} has no model.safetensors (or model.safetensors.index.json): no weights to load")
    try:
        model, info = AutoModelForDepthEstimation.from_pretrained(
            path, config=config, use_safetensors=None if allow_pickle else True, trust_remote_code=False,
            output_loading_info=True,
        )
    except TypeError as error:  # a config value of the right type for its validators that the layers cannot take
        raise invalid_config(path, error) from None
    except SafetensorError as error:
        raise ValueError(f"cannot load {path}: its model.safetensors is damaged or not a safetensors file ({error})") from None
    except RuntimeError as error:  # transformers raises it for tensors whose shapes differ from the config's model
        raise ValueError(
            f"cannot load {path}: the shape of its weights does not match the model its config.json describes ({error})"
        ) from None
    check_loaded_weights(info, path, unexpected=False)  # mde-hub models checked both; transformers' own, missing ones
    check_finite_weights(model, path)
    return model


def _dtype_bytes(dtype: str) -> float:
    """Bytes per element of a safetensors dtype (F32, BF16, I64, F8_E4M3, BOOL, ...)."""
    bits = re.match(r"[A-Z]+?(\d+)", dtype)
    return int(bits.group(1)) / 8 if bits else 1


def hub_weights_bytes(repo_id: str, revision: str | None = None) -> int:
    """Bytes of the safetensors weights of the Hub model `repo_id`, from their headers (one small request per
    file; nothing is downloaded): ValueError for a repo without safetensors weights, OSError when the Hub cannot
    answer."""
    try:
        metadata = HfApi().get_safetensors_metadata(repo_id, revision=revision)
    except (NotASafetensorsRepoError, SafetensorsParsingError) as error:
        raise ValueError(f"{repo_id} has no readable safetensors weights on the Hub: {error}") from None
    except httpx2.HTTPError as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise OSError(f"cannot read the size of {repo_id}'s weights from the Hub: {first_line}") from None
    return round(sum(count * _dtype_bytes(dtype) for dtype, count in metadata.parameter_count.items()))
