"""Convert DenseDepth's released Keras models (`nyu.h5`, `kitti.h5`, published 2019-01-01) to mde-hub's DenseDepth.

The files are Keras HDF5 model files, read here with h5py (no TensorFlow): a `model_weights` group holding one group
per layer, named as the layer (`conv1/conv`, `conv2_block1_0_bn`, ..., `pool2_conv`, ..., `bn` for the DenseNet of
keras.applications; `conv2`, `up1_convA`, `up1_convB`, ..., `conv3` for the decoder), each with a `weight_names`
attribute naming its datasets (`conv1/conv/kernel:0`, `conv1/bn/gamma:0`, ...); the `layer_names` attribute lists the
layers, weightless ones included. Conv kernels are stored height x width x in x out and become PyTorch's
out x in x height x width; a BatchNormalization's gamma, beta, moving_mean and moving_variance become weight, bias,
running_mean and running_var. The root's `model_config` attribute (the Keras graph as JSON) tells where the
LeakyReLUs sit and the batch norms' epsilon; a file saved with `save_weights` (layers at the root, no graph) converts
with the released graph's values. An `optimizer_weights` group, where a file has one, is skipped and listed.

The converted graph is read from the file: the DenseNet's depth, growth rate and bottleneck from its layers, the
decoder width from `conv2`, the LeakyReLU placement from the graph. Not in the file: the up-sampling's interpolation
(`BilinearUpSampling2D` stores only its factor); the released models ran `tf.image.resize_images(...,
align_corners=True)` (the authors' `layers.py` until 2020), the default here. Nor the data set: `dataset="nyu"`
(depth in [0.1, 10] m, y = 10 / depth, 480x640) or `"kitti"` ([1, 80] m, y = 80 / depth, 384x1248); by default it
is read from the file name.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np
import torch

from ..conversion import ConversionResult
from .configuration_densedepth import KERAS_BATCH_NORM_EPS, DenseDepthConfig
from .modeling_densedepth import DenseDepthForDepthEstimation

DATASETS = ("nyu", "kitti")

# Keras layer name -> our module; `{n}` groups of the pattern fill the target (dense blocks and transitions count
# from 2 in Keras, from 1 in timm; the decoder's up-blocks from 1 in Keras, from 0 here).
_LAYER_RULES = [
    (r"conv1/conv", "encoder.backbone.features.conv0"),
    (r"conv1/bn", "encoder.backbone.features.norm0"),
    (r"conv(\d+)_block(\d+)_0_bn", "encoder.backbone.features.denseblock{b}.denselayer{i}.norm1"),
    (r"conv(\d+)_block(\d+)_1_conv", "encoder.backbone.features.denseblock{b}.denselayer{i}.conv1"),
    (r"conv(\d+)_block(\d+)_1_bn", "encoder.backbone.features.denseblock{b}.denselayer{i}.norm2"),
    (r"conv(\d+)_block(\d+)_2_conv", "encoder.backbone.features.denseblock{b}.denselayer{i}.conv2"),
    (r"pool(\d+)_bn", "encoder.backbone.features.transition{b}.norm"),
    (r"pool(\d+)_conv", "encoder.backbone.features.transition{b}.conv"),
    (r"bn", "encoder.backbone.features.norm5"),
    (r"conv2", "decoder.conv2"),
    (r"up(\d+)_conv([AB])", "decoder.upsample_blocks.{u}.convs.{c}"),
    (r"conv3", "decoder.conv3"),
]
_WEIGHT_NAMES = {
    "kernel": "weight",
    "bias": "bias",
    "gamma": "weight",
    "beta": "bias",
    "moving_mean": "running_mean",
    "moving_variance": "running_var",
}
# keras.applications' DenseNets as timm names them (growth rate 32, bottleneck 4 x 32).
_TIMM_DENSENETS = {(6, 12, 24, 16): "densenet121", (6, 12, 32, 32): "densenet169", (6, 12, 48, 32): "densenet201"}


@dataclass
class KerasWeights:
    """What a Keras HDF5 file holds: each layer's weights by short name (`kernel`, `gamma`, ...), the graph (the
    root's `model_config`, None in a weights-only file), the Keras version, and the entries that are not weights."""

    layers: dict[str, dict[str, np.ndarray]]
    model_config: dict[str, Any] | None
    keras_version: str
    skipped: list[str]


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _attribute_list(group: h5py.Group, name: str) -> list[str]:
    """A list attribute; Keras splits one too large for an HDF5 header into `name0`, `name1`, ..."""
    if name in group.attrs:
        return [_text(value) for value in group.attrs[name]]
    values: list[str] = []
    chunk = 0
    while f"{name}{chunk}" in group.attrs:
        values += [_text(value) for value in group.attrs[f"{name}{chunk}"]]
        chunk += 1
    return values


def read_keras_h5(path: str | os.PathLike) -> KerasWeights:
    """Read a Keras HDF5 model (or `save_weights`) file without TensorFlow."""
    path = os.fspath(path)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"{path} is not an HDF5 file: {error}") from None
    with file:
        weights_group = file["model_weights"] if "model_weights" in file else file
        layer_names = _attribute_list(weights_group, "layer_names")
        if not layer_names:
            raise ValueError(f"{path} is not a Keras HDF5 model: no model_weights group with a layer_names attribute")
        layers: dict[str, dict[str, np.ndarray]] = {}
        for layer_name in layer_names:
            if layer_name not in weights_group:
                raise ValueError(f"{path}: layer {layer_name!r} is listed in layer_names but has no group")
            layer_group = weights_group[layer_name]
            weights: dict[str, np.ndarray] = {}
            for weight_name in _attribute_list(layer_group, "weight_names"):
                short = weight_name.rsplit("/", 1)[-1].split(":")[0]
                if short in weights:
                    raise ValueError(f"{path}: layer {layer_name!r} holds two weights named {short!r}")
                weights[short] = np.asarray(layer_group[weight_name][()])
            if weights:
                layers[layer_name] = weights
        skipped = []
        if "optimizer_weights" in file:
            names = _attribute_list(file["optimizer_weights"], "weight_names")
            skipped = [f"optimizer_weights/{name} (optimizer state)" for name in names]
        model_config = json.loads(_text(file.attrs["model_config"])) if "model_config" in file.attrs else None
        keras_version = _text(file.attrs.get("keras_version", weights_group.attrs.get("keras_version", "unknown")))
    return KerasWeights(layers, model_config, keras_version, skipped)


def _target_module(layer_name: str) -> str | None:
    """Our module for a Keras layer, or None for a layer the DenseDepth graph does not have."""
    for pattern, target in _LAYER_RULES:
        match = re.fullmatch(pattern, layer_name)
        if match is None:
            continue
        groups = [int(group) if group.isdigit() else group for group in match.groups()]
        if target.endswith("{u}.convs.{c}"):
            return target.format(u=groups[0] - 1, c=0 if groups[1] == "A" else 2)
        if "{i}" in target:
            return target.format(b=groups[0] - 1, i=groups[1])
        return target.format(b=groups[0] - 1) if groups else target
    return None


def _to_torch(short_name: str, array: np.ndarray) -> torch.Tensor:
    if short_name == "kernel":
        array = array.transpose(3, 2, 0, 1)  # height x width x in x out -> out x in x height x width
    return torch.from_numpy(np.ascontiguousarray(array))


def _graph_layers(model_config: dict[str, Any] | None) -> list[dict[str, Any]]:
    if model_config is None:
        return []
    return model_config.get("config", {}).get("layers", [])


def _inbound_names(layer: dict[str, Any]) -> list[str]:
    """Names of the layers feeding `layer` (Keras 2's `inbound_nodes`: [[[name, node, tensor, kwargs], ...]])."""
    return [entry[0] for node in layer.get("inbound_nodes", []) for entry in node if isinstance(entry, list)]


def _leaky_relu_after_conv_a(model_config: dict[str, Any] | None) -> bool:
    """Whether the graph applies LeakyReLU to the up-blocks' `convA` (False without a graph: the released one)."""
    fed_by = {
        name
        for layer in _graph_layers(model_config)
        if layer.get("class_name") == "LeakyReLU"
        for name in _inbound_names(layer)
    }
    return any(re.fullmatch(r"up\d+_convA", name) for name in fed_by)


def _batch_norm_eps(model_config: dict[str, Any] | None) -> float:
    epsilons = {
        layer["config"]["epsilon"]
        for layer in _graph_layers(model_config)
        if layer.get("class_name") == "BatchNormalization"
    }
    if len(epsilons) > 1:
        raise ValueError(f"the encoder's batch norms use different epsilons {sorted(epsilons)}; one is supported")
    return epsilons.pop() if epsilons else KERAS_BATCH_NORM_EPS


def _require(layers: dict[str, dict[str, np.ndarray]], name: str, weight: str) -> np.ndarray:
    if name not in layers or weight not in layers[name]:
        raise ValueError(f"not a DenseDepth Keras model: it has no {name}/{weight}")
    return layers[name][weight]


def _backbone_fields(layers: dict[str, dict[str, np.ndarray]]) -> dict[str, Any]:
    """The timm DenseNet the file's keras.applications DenseNet equals: depth, growth rate, bottleneck width."""
    block_config = []
    for block in range(2, 6):
        count = 0
        while f"conv{block}_block{count + 1}_0_bn" in layers:
            count += 1
        block_config.append(count)
    if 0 in block_config:
        raise ValueError(f"not a DenseNet encoder: dense blocks of {block_config} layers (conv2..conv5_block*)")
    growth_rate = int(_require(layers, "conv2_block1_2_conv", "kernel").shape[3])
    bn_size = int(_require(layers, "conv2_block1_1_conv", "kernel").shape[3]) // growth_rate
    stem = int(_require(layers, "conv1/conv", "kernel").shape[3])
    if stem != 2 * growth_rate:
        raise ValueError(f"conv1/conv has {stem} filters; timm's DenseNet needs twice the growth rate {growth_rate}")
    name = _TIMM_DENSENETS.get(tuple(block_config))
    if name is not None and (growth_rate, bn_size) == (32, 4):
        return {"backbone": name, "backbone_kwargs": {}}
    kwargs = {"growth_rate": growth_rate, "block_config": block_config, "bn_size": bn_size}
    return {"backbone": "densenet121", "backbone_kwargs": kwargs}


def _dataset_from_name(path: str) -> str:
    return "kitti" if "kitti" in os.path.basename(path).lower() else "nyu"


def convert_densedepth_keras(
    path: str | os.PathLike,
    dataset: str | None = None,
    align_corners: bool = True,
    leaky_relu_after_conv_a: bool | None = None,
) -> ConversionResult:
    """Convert a DenseDepth Keras HDF5 file (`nyu.h5`, `kitti.h5`, or one trained with the authors' `train.py`).

    dataset: "nyu" or "kitti" (depth range and input size); None reads it from the file name ("kitti" in it).
    align_corners: the up-sampling's interpolation, which the file does not record: True for the released models
        (`tf.image.resize_images(..., align_corners=True)`), False for files saved with the authors' `layers.py` from
        2020 on (`tf.image.resize`, half-pixel centres).
    leaky_relu_after_conv_a: None reads it from the file's graph (False where the file has none: the released models);
        True or False overrides.
    Raises a ValueError naming every weight of the file that has no place in the model and every weight of the
    model that the file does not fill.
    """
    path = os.fspath(path)
    dataset_from_name = dataset is None
    dataset = _dataset_from_name(path) if dataset_from_name else dataset
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}; got {dataset!r}")
    keras = read_keras_h5(path)
    layers = keras.layers

    encoder_channels = int(_require(layers, "bn", "gamma").shape[0])
    decode_filters = int(_require(layers, "conv2", "kernel").shape[3])
    width_factor = decode_filters / encoder_channels
    if int(encoder_channels * width_factor) != decode_filters:
        raise ValueError(f"conv2's {decode_filters} filters are no width factor of the encoder's {encoder_channels}")
    if leaky_relu_after_conv_a is None:
        leaky_relu_after_conv_a = _leaky_relu_after_conv_a(keras.model_config)
    fields = {
        **_backbone_fields(layers),
        "decoder_width_factor": width_factor,
        "leaky_relu_after_conv_a": leaky_relu_after_conv_a,
        "upsample_align_corners": align_corners,
        "output_clip": "depth",
        "encoder_batch_norm_eps": _batch_norm_eps(keras.model_config),
    }
    config = DenseDepthConfig.kitti(**fields) if dataset == "kitti" else DenseDepthConfig(**fields)
    model = DenseDepthForDepthEstimation(config)
    own = model.state_dict()

    state: dict[str, torch.Tensor] = {}
    unused, wrong_shape = [], []
    for layer_name, weights in layers.items():
        module = _target_module(layer_name)
        for short_name, array in weights.items():
            key = f"{module}.{_WEIGHT_NAMES.get(short_name, short_name)}" if module else None
            if key is None or key not in own:
                unused.append(f"{layer_name}/{short_name}")
                continue
            tensor = _to_torch(short_name, array)
            if tensor.shape != own[key].shape:
                wrong_shape.append(f"{layer_name}/{short_name} {tuple(array.shape)} for {key} {tuple(own[key].shape)}")
            state[key] = tensor
    missing = [key for key in own if key not in state and not key.endswith("num_batches_tracked")]
    problems = []
    if unused:
        problems.append(f"weights of the file with no place in the model: {', '.join(unused)}")
    if wrong_shape:
        problems.append(f"weights whose shape differs: {', '.join(wrong_shape)}")
    if missing:
        problems.append(f"weights of the model the file does not fill: {', '.join(missing)}")
    if problems:
        raise ValueError(f"Cannot convert {path} to DenseDepth: " + "; ".join(problems) + ".")
    model.load_state_dict(state, strict=False)
    model.eval()

    top = f"clip({config.max_depth:g} / y, {config.min_depth:g}, {config.max_depth:g}) m"
    notes = [
        f"Converted from a Keras {keras.keras_version} HDF5 file ({'model' if keras.model_config else 'weights only'}).",
        f"Graph: {config.backbone}{' ' + json.dumps(config.backbone_kwargs) if config.backbone_kwargs else ''} encoder "
        f"(batch-norm epsilon {config.encoder_batch_norm_eps:g}), decoder width {decode_filters} "
        f"(factor {width_factor:g}), LeakyReLU(0.2) after {'convA and ' if leaky_relu_after_conv_a else ''}convB, "
        f"bilinear up-sampling with align_corners={align_corners} (not recorded in the file).",
        f"Data set {dataset}{' (from the file name)' if dataset_from_name else ''}: input "
        f"{config.image_size[0]}x{config.image_size[1]} RGB / 255, depth = {top} at half resolution.",
    ]
    return ConversionResult(model=model, source=f"{os.path.basename(path)} (DenseDepth Keras HDF5, {dataset})",
                            skipped=keras.skipped, notes=notes)
