"""The `densedepth-keras` converter: DenseDepth's released Keras HDF5 models (nyu.h5, kitti.h5) read with h5py.

Fixtures are small Keras HDF5 files written in the released files' layout (`densedepth_keras_fixture`) from a tiny
random mde-hub DenseDepth. Checked: the round trip model -> h5 -> model is bit-identical; the converted model's output
equals an independent float64 NumPy execution of the Keras graph the file holds; every missing, extra or misshapen
weight is named; optimizer weights are skipped and listed.
"""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from densedepth_keras_fixture import densedepth_keras_layers, run_keras_graph, write_densedepth_h5

from mde_hub import DenseDepthConfig, DenseDepthForDepthEstimation
from mde_hub.models.conversion import CONVERTERS, convert_checkpoint
from mde_hub.models.densedepth.convert_densedepth_keras import _target_module, convert_densedepth_keras

KERAS_DENSENET169_DECODER_LAYERS = 617  # layers of the authors' first model.py: DenseNet-169 + full decoder
KERAS_DENSENET169_WEIGHTED_LAYERS = 347


def tiny_source(seed: int = 0, **overrides) -> DenseDepthForDepthEstimation:
    """A tiny DenseDepth with every tensor random (batch-norm statistics included), conv3 scaled so that about 5% of
    y lies below 0 and 5% above 110 on a random image: both depth limits, the unclipped range and the negative-y
    rule are exercised."""
    torch.manual_seed(seed)
    model = DenseDepthForDepthEstimation(DenseDepthConfig.tiny(**overrides)).eval()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif name.endswith(("running_mean", "bias")):
                tensor.uniform_(-0.1, 0.1)
            elif ".norm" in name and name.endswith(".weight"):
                tensor.uniform_(0.8, 1.2)
        y = model.decoder(model.encoder(torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(1))))[0]
        low, high = torch.quantile(y.flatten(), torch.tensor([0.05, 0.95]))
        scale = 115 / (high - low)  # the 5% quantile to -5, the 95% one to 110
        model.decoder.conv3.weight *= scale
        model.decoder.conv3.bias.copy_(scale * (model.decoder.conv3.bias - low) - 5)
    return model


@pytest.fixture
def tiny_h5(tmp_path):
    model = tiny_source()
    path = tmp_path / "nyu.h5"
    write_densedepth_h5(path, model)
    return model, path


def test_registered_as_densedepth_keras(tiny_h5) -> None:
    assert CONVERTERS["densedepth-keras"].endswith("convert_densedepth_keras:convert_densedepth_keras")
    result = convert_checkpoint("densedepth-keras", tiny_h5[1])
    assert isinstance(result.model, DenseDepthForDepthEstimation) and not result.model.training
    assert result.source == "nyu.h5 (DenseDepth Keras HDF5, nyu)" and result.skipped == []


@pytest.mark.parametrize("text", ["bytes", "str"], ids=["keras-2.2.4-bytes", "tf-keras-str"])
def test_round_trip_is_bit_identical_and_optimizer_weights_are_listed(tmp_path, text: str) -> None:
    source = tiny_source(leaky_relu_after_conv_a=True)
    path = tmp_path / "model.h5"
    write_densedepth_h5(path, source, text=text, optimizer=True)
    result = convert_densedepth_keras(path, align_corners=False)
    converted = result.model
    expected = {"decoder_width_factor": 2.0, "leaky_relu_after_conv_a": True, "upsample_align_corners": False,
                "output_clip": "depth", "encoder_batch_norm_eps": 1.001e-5, "backbone": "densenet121",
                "backbone_kwargs": {"growth_rate": 8, "block_config": [2, 2, 2, 2], "bn_size": 2}}
    assert {key: getattr(converted.config, key) for key in expected} == expected
    own = converted.state_dict()
    assert own.keys() == source.state_dict().keys()
    for key, tensor in source.state_dict().items():
        assert torch.equal(own[key], tensor), key
    with h5py.File(path) as file:
        optimizer_names = len(file["optimizer_weights"].attrs["weight_names"])
    assert len(result.skipped) == optimizer_names > 1
    assert result.skipped[0] == "optimizer_weights/Adam/iterations:0 (optimizer state)"


@pytest.mark.parametrize("after_conv_a", [False, True], ids=["released-convB-only", "later-convA-and-convB"])
def test_converted_model_equals_numpy_execution_of_the_keras_graph(tmp_path, after_conv_a: bool) -> None:
    source = tiny_source(seed=3, leaky_relu_after_conv_a=after_conv_a)
    path = tmp_path / "nyu.h5"
    write_densedepth_h5(path, source)
    model = convert_densedepth_keras(path).model  # LeakyReLU placement read from the file's graph
    assert model.config.leaky_relu_after_conv_a is after_conv_a and model.config.upsample_align_corners
    images = np.random.default_rng(0).random((2, 64, 96, 3))
    keras_y = run_keras_graph(path, images)[..., 0]
    with torch.no_grad():
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float()
        y = model.decoder(model.encoder(pixels))[0][:, 0]
        depth = model(pixel_values=pixels).predicted_depth
    np.testing.assert_allclose(y.numpy(), keras_y, atol=1e-4 * np.ptp(keras_y), rtol=0)
    # The authors' predict: clip(1000 / y, 10, 1000) / 1000, x 10 m; a negative y gives the near limit.
    keras_depth = np.clip(1000 / keras_y, 10, 1000) / 1000 * 10
    half = model.inverse_depth_norm(y).numpy()
    clear = np.abs(keras_y) > 1e-3 * np.ptp(keras_y)  # pixels whose sign float32 rounding cannot flip
    assert (keras_y[clear] < 0).mean() > 0.01 and ((keras_y > 1) & (keras_y < 100)).mean() > 0.1
    assert np.isclose(half[clear & (keras_y < 0)], 0.1).all()
    np.testing.assert_allclose(half[clear], keras_depth[clear], atol=1e-3 * 9.9, rtol=0)
    assert depth.shape == (2, 64, 96) and depth.min() >= 0.1 and depth.max() <= 10


def test_full_densenet169_names_cover_the_model_one_to_one() -> None:
    """On the meta device: the released graph's Keras layers (617, 347 with weights, as Keras lists them) map onto
    every weight of DenseDepthConfig() exactly once, through the converter's rules."""
    with torch.device("meta"):
        model = DenseDepthForDepthEstimation(DenseDepthConfig())
    layers = densedepth_keras_layers(model)
    assert len(layers) == KERAS_DENSENET169_DECODER_LAYERS
    assert sum(bool(layer.weights) for layer in layers) == KERAS_DENSENET169_WEIGHTED_LAYERS
    assert [layer.name for layer in layers][-6:] == [
        "up4_upsampling2d", "up4_concat", "up4_convA", "up4_convB", "leaky_re_lu_4", "conv3"
    ]
    keys = [key for layer in layers for _, key in layer.weights]
    assert sorted(keys) == sorted(key for key in model.state_dict() if not key.endswith("num_batches_tracked"))
    for layer in layers:
        for _, key in layer.weights:
            assert key.rsplit(".", 1)[0] == _target_module(layer.name), layer.name
    names = {layer.name for layer in layers}
    assert {"conv1/conv", "conv4_block32_2_conv", "pool4_conv", "bn", "conv2", "up1_convA", "up4_convB", "conv3"} <= names


def _edit(path, drop: str | None = None, add: tuple[str, str, np.ndarray] | None = None) -> None:
    """Remove layer `drop`, or add weight (layer, short name, array), keeping `layer_names` and `weight_names`."""
    with h5py.File(path, "r+") as file:
        group = file["model_weights"]
        names = [name.decode() for name in group.attrs["layer_names"]]  # fixed-length bytes, as Keras 2.2.4
        if drop:
            del group[drop]
            names.remove(drop)
        if add:
            layer, short, array = add
            if layer not in group:
                group.create_group(layer).attrs["weight_names"] = np.zeros(0, "S1")
                names.append(layer)
            weight_names = [name.decode() for name in group[layer].attrs["weight_names"]]
            group[layer].create_dataset(f"{layer}/{short}:0", data=array)
            group[layer].attrs["weight_names"] = np.array([*weight_names, f"{layer}/{short}:0"], dtype=bytes)
        group.attrs["layer_names"] = np.array(names, dtype=bytes)


@pytest.mark.parametrize(
    "edit, named",
    [
        ({"drop": "up2_convB"}, ["decoder.upsample_blocks.1.convs.2.weight", "decoder.upsample_blocks.1.convs.2.bias"]),
        ({"drop": "conv3_block2_1_bn"}, ["encoder.backbone.features.denseblock2.denselayer2.norm2.running_var"]),
        ({"add": ("up5_convA", "kernel", np.zeros((3, 3, 4, 4), np.float32))}, ["up5_convA/kernel"]),
        ({"add": ("conv3", "gamma", np.ones(1, np.float32))}, ["conv3/gamma"]),
    ],
    ids=["missing-decoder-layer", "missing-encoder-bn", "extra-layer", "extra-weight"],
)
def test_missing_or_extra_weights_are_named(tiny_h5, edit: dict, named: list[str]) -> None:
    _, path = tiny_h5
    _edit(path, **edit)
    with pytest.raises(ValueError) as error:
        convert_densedepth_keras(path)
    assert all(name in str(error.value) for name in named), str(error.value)


def test_wrong_shape_is_named(tiny_h5) -> None:
    _, path = tiny_h5
    with h5py.File(path, "r+") as file:
        group = file["model_weights/up1_convB"]
        data = group["up1_convB/bias:0"][()]
        del group["up1_convB/bias:0"]
        group.create_dataset("up1_convB/bias:0", data=np.concatenate([data, data]))
    with pytest.raises(ValueError, match=r"up1_convB/bias \(64,\) for decoder.upsample_blocks.0.convs.2.bias \(32,\)"):
        convert_densedepth_keras(path)


def test_weights_only_file_converts_with_the_released_graph(tmp_path) -> None:
    source = tiny_source()
    path = tmp_path / "weights.h5"
    write_densedepth_h5(path, source, weights_only=True)
    result = convert_densedepth_keras(path)
    assert not result.model.config.leaky_relu_after_conv_a and "weights only" in result.notes[0]
    for key, tensor in source.state_dict().items():
        assert torch.equal(result.model.state_dict()[key], tensor), key


def test_dataset_from_the_file_name_or_given(tmp_path) -> None:
    source = tiny_source()
    write_densedepth_h5(tmp_path / "kitti.h5", source)
    kitti = convert_densedepth_keras(tmp_path / "kitti.h5").model.config
    assert (kitti.min_depth, kitti.max_depth, list(kitti.image_size)) == (1.0, 80.0, [384, 1248])
    nyu = convert_densedepth_keras(tmp_path / "kitti.h5", dataset="nyu").model.config
    assert (nyu.min_depth, nyu.max_depth, list(nyu.image_size)) == (0.1, 10.0, [480, 640])
    with pytest.raises(ValueError, match="dataset must be one of"):
        convert_densedepth_keras(tmp_path / "kitti.h5", dataset="make3d")


def test_files_that_are_not_densedepth_keras_models_are_refused(tmp_path) -> None:
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        convert_densedepth_keras(tmp_path / "text.h5")
    with h5py.File(tmp_path / "empty.h5", "w") as file:
        file.create_group("data")
    with pytest.raises(ValueError, match="not a Keras HDF5 model"):
        convert_densedepth_keras(tmp_path / "empty.h5")
