"""Loading a depth model from a checkpoint safely: safetensors only unless pickles are allowed, never remote code,
and never a model silently completed with random weights."""

from __future__ import annotations

import os

from safetensors import SafetensorError
from transformers import AutoModelForDepthEstimation, PreTrainedModel

from .modeling_utils import check_loaded_weights


def load_depth_model(path: str | os.PathLike, allow_pickle: bool = False) -> PreTrainedModel:
    """A depth model from a checkpoint directory or Hub id, loaded safely: safetensors weights only unless
    `allow_pickle` (a pickled `pytorch_model.bin` can run code when unpickled), never with `trust_remote_code`, and
    refused, not randomly completed, when the weights lack tensors the model needs or have other shapes."""
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
            path, use_safetensors=None if allow_pickle else True, trust_remote_code=False, output_loading_info=True
        )
    except SafetensorError as error:
        raise ValueError(f"cannot load {path}: its model.safetensors is damaged or not a safetensors file ({error})") from None
    except RuntimeError as error:  # transformers raises it for tensors whose shapes differ from the config's model
        raise ValueError(
            f"cannot load {path}: the shape of its weights does not match the model its config.json describes ({error})"
        ) from None
    check_loaded_weights(info, path, unexpected=False)  # mde-hub models checked both; transformers' own, missing ones
    return model
