"""ONNX export of every architecture (checked against PyTorch, dynamic sides where claimed; check (g) of the
architecture suite, parametrised over the same `architectures()` as tests/test_architectures.py) and the ONNX Runtime
backend of `DepthPredictor`, `mde-hub predict` and the app registry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from architectures import model_types
from architectures import tiny_model as architecture_tiny_model

from mde_hub.app.registry import ModelSource, load_predictor, model_bytes
from mde_hub.cli import main
from mde_hub.inference.onnx_export import CHECK_SUFFIX, ONNX_FILENAME, export_checkpoint, export_graph, graph_opset
from mde_hub.inference.onnx_runtime import OnnxDepthModel
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.registry import get_entry

# Overrides of the tiny configurations: small processor sizes (the size the graph is traced and checked at). An
# architecture without an entry is exported at its tiny preset's processor size.
SMALL = {
    "mde_baseline": {"image_size": 64},
    "mde_densedepth": {"image_size": [64, 96]},
    "mde_bts": {"image_size": [64, 96], "focal_scaling": True},  # KITTI's focal scaling: a second graph input
    "mde_adabins": {"image_size": [64, 96]},
    "mde_dpt": {"depth_estimation_type": "relative"},  # raw disparity: metric depth is nearly constant here
}


def tiny_model(model_type: str, seed: int = 0) -> torch.nn.Module:
    model = architecture_tiny_model(model_type, seed, **SMALL.get(model_type, {}))
    if model_type == "mde_densedepth":
        with torch.no_grad():  # random weights regress ~0, which clips every pixel to max_depth: move into range
            model.decoder.conv3.bias.fill_(20.0)
    return model


def save_checkpoint(model: torch.nn.Module, path) -> None:
    from mde_hub.models.auto import image_processor_for

    model.save_pretrained(path)
    image_processor_for(model.config).save_pretrained(path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """model_type -> (checkpoint folder with model.onnx, the export's check), each exported once per module."""
    cache: dict[str, tuple] = {}

    def get(model_type: str):
        if model_type not in cache:
            checkpoint = tmp_path_factory.mktemp(model_type)
            save_checkpoint(tiny_model(model_type), checkpoint)
            cache[model_type] = checkpoint, export_checkpoint(checkpoint)
        return cache[model_type]

    return get


@pytest.mark.parametrize("model_type", model_types())
def test_export_matches_pytorch(model_type: str, exported) -> None:
    checkpoint, result = exported(model_type)
    multiple = get_entry(model_type).input_side_multiple  # the registry's; None: a fixed-size graph
    dynamic = multiple is not None
    assert result.dynamic_sides == dynamic and result.side_multiple == multiple
    assert (checkpoint / ONNX_FILENAME).stat().st_size > 10_000
    assert len(result.checked_sizes) == (2 if dynamic else 1)
    if dynamic:  # the second size differs in both sides and keeps the architecture's multiple
        (h0, w0), (h1, w1) = result.checked_sizes
        assert h1 != h0 and w1 != w0 and h1 % multiple == 0 and w1 % multiple == 0
    assert max(result.max_abs_diff) < 1e-4 * max(1.0, result.max_abs_output), result
    check = json.loads((checkpoint / (ONNX_FILENAME + CHECK_SUFFIX)).read_text())
    assert check["max_abs_diff"] == result.max_abs_diff
    assert check["opset"] == result.opset == graph_opset(checkpoint / ONNX_FILENAME)  # recorded as written
    # the outputs are not a constant (a clipped output would make the comparison meaningless)
    with torch.inference_mode():
        depth = tiny_model(model_type)(pixel_values=torch.randn(1, 3, *result.checked_sizes[0])).predicted_depth
    assert float(depth.std()) > 1e-4


def test_fixed_size_graph_rejects_other_sizes(exported, tmp_path) -> None:
    checkpoint, _ = exported("mde_adabins")
    onnx_model = OnnxDepthModel(checkpoint / ONNX_FILENAME, tiny_model("mde_adabins").config)
    with pytest.raises(ValueError, match="exported for 64x96 inputs"):
        onnx_model(pixel_values=torch.zeros(1, 3, 96, 96))
    with pytest.raises(FileNotFoundError, match="mde-hub export onnx"):
        OnnxDepthModel(tmp_path / "missing.onnx", onnx_model.config)


@pytest.mark.parametrize("model_type", ["mde_dpt", "mde_adabins"])  # aspect-keeping dynamic graph; fixed-size graph
def test_onnxruntime_predictor_equals_pytorch(model_type: str, exported) -> None:
    checkpoint, _ = exported(model_type)
    image = np.random.default_rng(0).integers(0, 256, size=(45, 70, 3), dtype=np.uint8)
    reference = DepthPredictor.from_pretrained(checkpoint).predict(image)
    onnx = DepthPredictor.from_pretrained(checkpoint, backend="onnxruntime")
    assert isinstance(onnx.model, OnnxDepthModel)
    prediction = onnx.predict(image)
    assert prediction.depth.shape == reference.depth.shape == (45, 70)
    assert prediction.meaning == reference.meaning
    np.testing.assert_allclose(prediction.depth, reference.depth, rtol=1e-5, atol=1e-5)
    assert float(reference.depth.std()) > 1e-4


def test_focal_scaling_graph_takes_each_images_focal(exported) -> None:
    checkpoint, _ = exported("mde_bts")
    image = np.random.default_rng(2).integers(0, 256, size=(64, 96, 3), dtype=np.uint8)  # the network's size
    pytorch = DepthPredictor.from_pretrained(checkpoint)
    onnx = DepthPredictor.from_pretrained(checkpoint, backend="onnxruntime")
    reference_focal = pytorch.model.config.reference_focal
    plain = pytorch.predict(image).depth
    for focal in (None, reference_focal, 2 * reference_focal):
        expected = pytorch.predict(image, focal).depth
        np.testing.assert_allclose(onnx.predict(image, focal).depth, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(expected, plain * (focal or reference_focal) / reference_focal, rtol=1e-5)
    graph_inputs = [graph_input.name for graph_input in onnx.model.session.get_inputs()]
    assert graph_inputs == ["pixel_values", "focal"]


def test_graph_without_the_focal_input_is_refused(exported) -> None:
    checkpoint, _ = exported("mde_baseline")
    bts_config = tiny_model("mde_bts").config
    with pytest.raises(ValueError, match=r"needs \['pixel_values', 'focal'\]; export it again"):
        OnnxDepthModel(checkpoint / ONNX_FILENAME, bts_config)


def test_predict_cli_and_app_registry_use_onnxruntime(tmp_path, capsys) -> None:
    from PIL import Image

    checkpoint = tmp_path / "baseline"
    save_checkpoint(tiny_model("mde_baseline"), checkpoint)
    image = tmp_path / "images" / "room.png"
    image.parent.mkdir()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)).save(image)
    source = ModelSource("baseline", str(checkpoint), "local")
    assert not isinstance(load_predictor(source, backend="onnxruntime").model, OnnxDepthModel)  # no model.onnx yet

    assert main(["export", "onnx", str(checkpoint)]) == 0
    printed = capsys.readouterr().out
    assert f"dynamic height and width (multiples of 8), opset {graph_opset(checkpoint / ONNX_FILENAME)})" in printed
    assert "dynamic height and width (multiples of 8)" in printed and "max |onnxruntime - pytorch| at 64x64" in printed
    for backend in ("pytorch", "onnxruntime"):
        assert main(["predict", str(image), "--model", str(checkpoint), "--out", str(tmp_path / backend),
                     "--formats", "npy", "--backend", backend]) == 0
    depths = [np.load(tmp_path / backend / "room.depth.npy") for backend in ("pytorch", "onnxruntime")]
    assert depths[0].shape == (48, 64)
    np.testing.assert_allclose(depths[1], depths[0], rtol=1e-5, atol=1e-5)

    predictor = load_predictor(source, backend="onnxruntime")
    assert isinstance(predictor.model, OnnxDepthModel) and predictor.name == "baseline"
    assert model_bytes(predictor.model) == (checkpoint / ONNX_FILENAME).stat().st_size
    assert not isinstance(load_predictor(source).model, OnnxDepthModel)


def test_export_errors_name_the_problem(tmp_path, capsys) -> None:
    assert main(["export", "onnx", str(tmp_path)]) == 2
    assert "no config.json" in capsys.readouterr().err
    with pytest.raises(ValueError, match="backend must be one of"):
        DepthPredictor.from_pretrained(tmp_path, backend="tensorrt")


def test_an_opset_outside_the_exporters_range_is_refused_before_the_checkpoint_is_read(tmp_path, capsys) -> None:
    """Before, `--opset 1` exited 0 with a graph of opset 18 and a check recording 1."""
    for opset in ("1", "17", "24"):
        assert main(["export", "onnx", str(tmp_path / "no-such-checkpoint"), "--opset", opset]) == 2
        err = capsys.readouterr().err
        assert err == f"mde-hub: error: opset {opset} is outside 18-23, the opsets torch.onnx exports these models at\n"
    assert list(tmp_path.iterdir()) == []


def test_a_graph_without_the_asked_opset_is_refused_and_not_written(tmp_path, monkeypatch) -> None:
    """An exporter that writes another opset than asked (as torch.onnx does when onnx's converter cannot convert)."""
    import onnx
    from onnx import TensorProto, helper

    def export(module, args, f, opset_version=None, **kwargs) -> None:
        value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [value],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), f)

    monkeypatch.setattr(torch.onnx, "export", export)
    with pytest.raises(ValueError, match="torch.onnx wrote opset 18, not the 20 asked for: nothing written to"):
        export_graph(tiny_model("mde_baseline"), tmp_path / "model.onnx", opset=20)
    assert list(tmp_path.iterdir()) == []
    export_graph(tiny_model("mde_baseline"), tmp_path / "model.onnx", opset=18)
    assert graph_opset(tmp_path / "model.onnx") == 18
