"""DenseDepth's Keras HDF5 model files for tests: a writer, and a NumPy interpreter of the Keras graph they hold.

`write_densedepth_h5(path, model)` writes an mde-hub `DenseDepthForDepthEstimation` (a tiny one in the fast tests)
as Keras 2.2.4 saved the released `nyu.h5` and `kitti.h5` with `model.save`: root attributes `keras_version`,
`backend`, `model_config` (the functional graph as JSON: every layer's name, class, config and inbound nodes);
a `model_weights` group with `layer_names` (every layer, weightless ones included, in graph order), and one group
per layer (a name with "/" nests, as `conv1/conv`) with a `weight_names` attribute and one dataset per weight at that
path (`conv1/conv/kernel:0`); conv kernels height x width x in x out; batch norms gamma, beta, moving_mean,
moving_variance; optionally an `optimizer_weights` group (Keras 2.2.4's Adam: `Adam/iterations:0`,
`training/Adam/Variable_N:0`). Layer names are keras.applications' DenseNet (`conv1/conv`, `conv1/bn`,
`conv1/relu`, `pool1`, `conv2_block1_0_bn` ... `pool2_pool`, ..., `bn`, `relu`) and the authors' decoder (`conv2`,
`upN_upsampling2d`, `upN_concat`, `upN_convA`, `upN_convB`, `leaky_re_lu_N`, `conv3`). Keras 2.2.4 stored text
attributes as fixed-length bytes; tf.keras 2.x stores str (`text="str"`).

`run_keras_graph(path, images)` executes the file's `model_config` graph layer by layer in float64 NumPy with the
file's weights, Keras' semantics (NHWC, explicit zero padding, "same"/"valid" convs, TF1's bilinear
`resize_images(align_corners=True)` for `BilinearUpSampling2D`): an independent path to the network's output.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import h5py
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

KERAS_EPSILON = 1.001e-5
BN_FIELDS = (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"), ("moving_variance", "running_var"))


@dataclass
class KerasLayer:
    name: str
    class_name: str
    inbound: list[str]
    config: dict = field(default_factory=dict)
    weights: list[tuple[str, str]] = field(default_factory=list)  # (Keras short name, our state-dict key)


def densedepth_keras_layers(model: torch.nn.Module) -> list[KerasLayer]:
    """The Keras graph of `model` (an mde-hub DenseDepth), in the order Keras lists its layers."""
    features = "encoder.backbone.features"
    backbone = model.encoder.backbone.features
    config = model.config
    layers: list[KerasLayer] = []

    def add(name, class_name, inbound, module=None, kind=None, **layer_config):
        weights = []
        if kind == "conv":
            weights = [("kernel", f"{module}.weight")]
            if getattr(model.get_submodule(module), "bias", None) is not None:
                weights.append(("bias", f"{module}.bias"))
        elif kind == "bn":
            weights = [(short, f"{module}.{ours}") for short, ours in BN_FIELDS]
            layer_config = {"axis": 3, "momentum": 0.99, "epsilon": KERAS_EPSILON, **layer_config}
        layers.append(KerasLayer(name, class_name, list(inbound), {"name": name, **layer_config}, weights))
        return name

    def conv(name, inbound, module, strides=1, padding="same"):
        conv_module = model.get_submodule(module)
        return add(name, "Conv2D", [inbound], module, "conv", filters=conv_module.out_channels,
                   kernel_size=list(conv_module.kernel_size), strides=[strides, strides], padding=padding,
                   use_bias=conv_module.bias is not None)

    x = add("input_1", "InputLayer", [], batch_input_shape=[None, None, None, 3])
    x = add("zero_padding2d_1", "ZeroPadding2D", [x], padding=[[3, 3], [3, 3]])
    x = conv("conv1/conv", x, f"{features}.conv0", strides=2, padding="valid")
    x = add("conv1/bn", "BatchNormalization", [x], f"{features}.norm0", "bn")
    x = add("conv1/relu", "Activation", [x], activation="relu")
    x = add("zero_padding2d_2", "ZeroPadding2D", [x], padding=[[1, 1], [1, 1]])
    x = add("pool1", "MaxPooling2D", [x], pool_size=[3, 3], strides=[2, 2], padding="valid")
    blocks = [name for name, _ in backbone.named_children() if name.startswith("denseblock")]
    for number, block in enumerate(blocks, start=1):
        for layer_number in range(1, len(getattr(backbone, block)) + 1):
            prefix, ours = f"conv{number + 1}_block{layer_number}", f"{features}.{block}.denselayer{layer_number}"
            y = add(f"{prefix}_0_bn", "BatchNormalization", [x], f"{ours}.norm1", "bn")
            y = add(f"{prefix}_0_relu", "Activation", [y], activation="relu")
            y = conv(f"{prefix}_1_conv", y, f"{ours}.conv1", padding="valid")
            y = add(f"{prefix}_1_bn", "BatchNormalization", [y], f"{ours}.norm2", "bn")
            y = add(f"{prefix}_1_relu", "Activation", [y], activation="relu")
            y = conv(f"{prefix}_2_conv", y, f"{ours}.conv2")
            x = add(f"{prefix}_concat", "Concatenate", [x, y], axis=3)
        if number < len(blocks):
            prefix, ours = f"pool{number + 1}", f"{features}.transition{number}"
            x = add(f"{prefix}_bn", "BatchNormalization", [x], f"{ours}.norm", "bn")
            x = add(f"{prefix}_relu", "Activation", [x], activation="relu")
            x = conv(f"{prefix}_conv", x, f"{ours}.conv", padding="valid")
            x = add(f"{prefix}_pool", "AveragePooling2D", [x], pool_size=[2, 2], strides=[2, 2], padding="valid")
    x = add("bn", "BatchNormalization", [x], f"{features}.norm5", "bn")
    x = add("relu", "Activation", [x], activation="relu")
    x = conv("conv2", x, "decoder.conv2")
    leaky = 0
    for number, skip in enumerate(["pool3_pool", "pool2_pool", "pool1", "conv1/relu"], start=1):
        block = f"decoder.upsample_blocks.{number - 1}.convs"
        x = add(f"up{number}_upsampling2d", "BilinearUpSampling2D", [x], size=[2, 2], data_format="channels_last")
        x = add(f"up{number}_concat", "Concatenate", [x, skip], axis=-1)
        for conv_name, index, activate in (("convA", 0, config.leaky_relu_after_conv_a), ("convB", 2, True)):
            x = conv(f"up{number}_{conv_name}", x, f"{block}.{index}")
            if activate:
                leaky += 1
                x = add(f"leaky_re_lu_{leaky}", "LeakyReLU", [x], alpha=0.2)
    conv("conv3", x, "decoder.conv3")
    return layers


def _keras_array(short_name: str, tensor: torch.Tensor) -> np.ndarray:
    array = tensor.detach().cpu().numpy()
    return array.transpose(2, 3, 1, 0) if short_name == "kernel" else array  # out x in x h x w -> h x w x in x out


def write_densedepth_h5(path, model: torch.nn.Module, text: str = "bytes", optimizer: bool = False,
                        weights_only: bool = False) -> list[KerasLayer]:
    """Write `model` as a Keras HDF5 file (see the module docstring); returns the layers written."""

    def encode(value):  # Keras 2.2.4 with h5py 2: fixed-length byte strings; tf.keras 2 with h5py 3: str
        if text == "str":
            return value
        if isinstance(value, list):
            return np.array([item.encode("utf8") for item in value], dtype=bytes) if value else np.zeros(0, "S1")
        return np.bytes_(value.encode("utf8"))

    layers = densedepth_keras_layers(model)
    state = model.state_dict()
    with h5py.File(path, "w") as file:
        if weights_only:  # Keras' `save_weights`: the layers at the root, no graph
            weights_group = file
        else:
            graph = {
                "class_name": "Model",
                "config": {
                    "name": "model_1",
                    "layers": [
                        {"name": layer.name, "class_name": layer.class_name, "config": layer.config,
                         "inbound_nodes": [[[name, 0, 0, {}] for name in layer.inbound]] if layer.inbound else []}
                        for layer in layers
                    ],
                    "input_layers": [["input_1", 0, 0]],
                    "output_layers": [["conv3", 0, 0]],
                },
            }
            file.attrs["keras_version"] = encode("2.2.4")
            file.attrs["backend"] = encode("tensorflow")
            file.attrs["model_config"] = encode(json.dumps(graph))
            weights_group = file.create_group("model_weights")
        weights_group.attrs["layer_names"] = encode([layer.name for layer in layers])
        weights_group.attrs["backend"] = encode("tensorflow")
        weights_group.attrs["keras_version"] = encode("2.2.4")
        for layer in layers:
            group = weights_group.create_group(layer.name)
            names = [f"{layer.name}/{short}:0" for short, _ in layer.weights]
            group.attrs["weight_names"] = encode(names)
            for name, (short, key) in zip(names, layer.weights):
                group.create_dataset(name, data=_keras_array(short, state[key]))
        if optimizer:
            file.attrs["training_config"] = encode(json.dumps({"optimizer_config": {"class_name": "Adam"}}))
            group = file.create_group("optimizer_weights")
            slots = [key for layer in layers for _, key in layer.weights if not key.endswith(("mean", "var"))]
            names = ["Adam/iterations:0"] + [f"training/Adam/Variable_{i}:0" for i in range(2 * len(slots))]
            group.attrs["weight_names"] = encode(names)
            group.create_dataset(names[0], data=np.array(1, dtype=np.int64))
            for i, key in enumerate(slots * 2):
                group.create_dataset(names[i + 1], data=np.zeros(tuple(state[key].shape), dtype=np.float32))
    return layers


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _conv(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides: int, padding: str) -> np.ndarray:
    kh, kw = kernel.shape[:2]
    if padding == "same":
        x = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::strides, ::strides]  # n, h, w, c, kh, kw
    out = np.einsum("nhwcij,ijco->nhwo", windows, kernel)
    return out if bias is None else out + bias


def _pool(x: np.ndarray, size: int, strides: int, reduce) -> np.ndarray:
    windows = sliding_window_view(x, (size, size), axis=(1, 2))[:, ::strides, ::strides]
    return reduce(windows, axis=(-2, -1))


def _align_corners_matrix(size: int, out: int) -> np.ndarray:
    """Rows: output positions; bilinear weights with corners aligned (source = i * (size - 1) / (out - 1))."""
    source = np.arange(out) * ((size - 1) / (out - 1) if out > 1 else 0.0)
    low = np.floor(source).astype(int).clip(0, size - 1)
    high = (low + 1).clip(0, size - 1)
    matrix = np.zeros((out, size))
    matrix[np.arange(out), low] += 1 - (source - low)
    matrix[np.arange(out), high] += source - low
    return matrix


def run_keras_graph(path, images: np.ndarray) -> np.ndarray:
    """Execute the Keras model in `path` on NHWC `images` (float64 NumPy); returns its output (n, h, w, 1)."""
    with h5py.File(path, "r") as file:
        graph = json.loads(_text(file.attrs["model_config"]))["config"]
        weights_group = file["model_weights"]
        weights = {}
        for layer in graph["layers"]:
            group = weights_group[layer["name"]]
            weights[layer["name"]] = {
                _text(name).rsplit("/", 1)[-1].split(":")[0]: np.asarray(group[_text(name)][()], dtype=np.float64)
                for name in group.attrs["weight_names"]
            }
    outputs: dict[str, np.ndarray] = {}
    for layer in graph["layers"]:
        name, kind, config = layer["name"], layer["class_name"], layer["config"]
        inputs = [outputs[node[0]] for nodes in layer["inbound_nodes"] for node in nodes]
        w = weights[name]
        if kind == "InputLayer":
            out = images.astype(np.float64)
        elif kind == "ZeroPadding2D":
            (top, bottom), (left, right) = config["padding"]
            out = np.pad(inputs[0], ((0, 0), (top, bottom), (left, right), (0, 0)))
        elif kind == "Conv2D":
            out = _conv(inputs[0], w["kernel"], w.get("bias"), config["strides"][0], config["padding"])
        elif kind == "BatchNormalization":
            scale = w["gamma"] / np.sqrt(w["moving_variance"] + config["epsilon"])
            out = (inputs[0] - w["moving_mean"]) * scale + w["beta"]
        elif kind == "Activation":
            assert config["activation"] == "relu", config
            out = np.maximum(inputs[0], 0)
        elif kind == "LeakyReLU":
            out = np.where(inputs[0] > 0, inputs[0], config["alpha"] * inputs[0])
        elif kind == "MaxPooling2D":
            out = _pool(inputs[0], config["pool_size"][0], config["strides"][0], np.max)
        elif kind == "AveragePooling2D":
            out = _pool(inputs[0], config["pool_size"][0], config["strides"][0], np.mean)
        elif kind == "Concatenate":
            out = np.concatenate(inputs, axis=-1)
        elif kind == "BilinearUpSampling2D":
            _, height, width, _ = inputs[0].shape
            rows = _align_corners_matrix(height, height * config["size"][0])
            cols = _align_corners_matrix(width, width * config["size"][1])
            out = np.einsum("oh,nhwc,pw->nopc", rows, inputs[0], cols)
        else:
            raise NotImplementedError(kind)
        outputs[name] = out
    return outputs[graph["output_layers"][0][0]]
