"""The checkpoints shipped under checkpoints/ (issue 7, train/ship_checkpoints.sh): one per family, fp16 storage
within the size budget, loading as float32 through transformers' Auto classes and pipeline, cards and README table
that agree with the evaluation JSONs, and `mde-hub evaluate` reproducing a recorded evaluation."""

import hashlib
import importlib.util
import json
from collections import Counter
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from huggingface_hub import ModelCard
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForDepthEstimation, pipeline

from mde_hub import BaselineConfig, BaselineForDepthEstimation
from mde_hub.models.auto import image_processor_for
from mde_hub.cli import main
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.training import load_recipe

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = sorted(path.parent for path in (ROOT / "checkpoints").glob("*/config.json"))
NAMES = [path.name for path in CHECKPOINTS]
RESULTS = [f"results_{split}_{kind}.json" for split in ("synthetic", "icl", "7scenes") for kind in ("raw", "median")]
_spec = importlib.util.spec_from_file_location("ship", ROOT / "train" / "ship.py")
ship = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ship)


def _results(name: str) -> dict[str, dict]:
    return {file: json.loads((ROOT / "checkpoints" / name / file).read_text()) for file in RESULTS}


def _test_image(height: int = 240, width: int = 320) -> PIL.Image.Image:
    """A room-like picture: a bright floor gradient under a darker wall, with a box."""
    rows = np.linspace(0, 1, height)[:, None, None]
    image = np.broadcast_to(np.where(rows > 0.55, 120 + 120 * rows, 90), (height, width, 3)).copy()
    image[100:170, 60:140] = (170, 60, 40)
    return PIL.Image.fromarray(image.astype(np.uint8))


def test_export_fp16_stores_half_weights_that_load_as_float32(tmp_path):
    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32)).eval()
    model.save_pretrained(tmp_path / "run")
    image_processor_for(model.config).save_pretrained(tmp_path / "run")
    (tmp_path / "run" / "training_record.json").write_text('{"global_step": 1}')
    ship.export_fp16(tmp_path / "run", tmp_path / "shipped")
    with safe_open(tmp_path / "shipped" / "model.safetensors", "pt") as weights:
        assert {weights.get_slice(key).get_dtype() for key in weights.keys()} == {"F16"}
    loaded = AutoModelForDepthEstimation.from_pretrained(tmp_path / "shipped").eval()
    assert loaded.dtype == torch.float32
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor.half().float()), name
    pixels = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        full, half = (m(pixel_values=pixels).predicted_depth for m in (model, loaded))
    assert torch.allclose(full, half, rtol=1e-2) and not torch.equal(full, half)
    assert json.loads((tmp_path / "shipped" / "training_record.json").read_text()) == {"global_step": 1}


def test_one_checkpoint_per_family_within_the_size_budget():
    types = Counter(AutoConfig.from_pretrained(path).model_type for path in CHECKPOINTS)
    assert types == Counter(["mde_baseline", "mde_densedepth", "mde_bts", "mde_adabins", "mde_dpt"])
    sizes = [(path / "model.safetensors").stat().st_size for path in CHECKPOINTS]
    assert max(sizes) <= 15e6 and sum(sizes) <= 60e6


@pytest.mark.parametrize("name", NAMES)
def test_files_and_fp16_storage(name):
    folder = ROOT / "checkpoints" / name
    assert {*ship.SHIPPED_FILES, "README.md", *RESULTS} <= {path.name for path in folder.iterdir()}
    with safe_open(folder / "model.safetensors", "pt") as weights:
        dtypes = {weights.get_slice(key).get_dtype() for key in weights.keys()}
    assert dtypes <= {"F16", "I64"} and "F16" in dtypes
    assert json.loads((folder / "config.json").read_text())["dtype"] == "float32"


@pytest.mark.parametrize("name", NAMES)
def test_loads_as_float32_and_predicts_metric_depth_through_the_pipeline(name):
    path = str(ROOT / "checkpoints" / name)
    model = AutoModelForDepthEstimation.from_pretrained(path)
    assert model.dtype == torch.float32
    with safe_open(Path(path) / "model.safetensors", "pt") as weights:
        key = next(key for key in weights.keys() if weights.get_slice(key).get_dtype() == "F16")
        assert torch.equal(model.state_dict()[key], weights.get_tensor(key).float())
    image = _test_image()
    depth = pipeline("depth-estimation", model=path)(image)["predicted_depth"]
    assert depth.shape == (240, 320) and torch.isfinite(depth).all()
    assert 0 < depth.min() and depth.max() <= model.config.max_depth
    # the app's and CLI's path gives the same metric depth
    np.testing.assert_allclose(DepthPredictor.from_pretrained(path).predict(image).depth, depth.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_results_score_these_weights_on_the_held_out_splits(name):
    sha = hashlib.sha256((ROOT / "checkpoints" / name / "model.safetensors").read_bytes()).hexdigest()
    for file, result in _results(name).items():
        assert result["model"]["weights_sha256"] == sha, file
        assert result["settings"]["alignment"] == ("median" if file.endswith("_median.json") else "none"), file
        assert result["settings"]["limit"] is None and result["protocol"]["name"] == "none"
        expected = {"synthetic": (None, 32), "icl": ("tail:0.2", 42), "7scenes": ("tail:0.2", 50)}[file.split("_")[1]]
        assert (result["dataset"]["split"], result["num_images"]) == expected, file


@pytest.mark.parametrize("name", NAMES)
def test_card_numbers_equal_the_results_jsons(name):
    folder = ROOT / "checkpoints" / name
    card = ModelCard.load(folder / "README.md")
    results = _results(name).values()
    in_card = Counter((result.metric_type, result.metric_value) for result in card.data.eval_results)
    assert in_card == Counter((metric, value) for result in results for metric, value in result["metrics"].items())
    for result in results:  # and every metric appears in the card's table, rounded as printed there
        row = " | ".join(f"{result['metrics'][metric]:.4f}" for metric in METRIC_NAMES)
        assert row in card.text
    assert card.data.license == "cc-by-nc-4.0"
    record = json.loads((folder / "training_record.json").read_text())
    assert record["command"] in card.text and f"{record['global_step']:,} optimiser steps" in card.text
    assert record["global_step"] == load_recipe(ROOT / record["recipe"])["max_steps"]


def test_densedepth_checkpoint_keeps_its_graph_and_outputs():
    """Saved before DenseDepth's default became the released Keras graph (issue 17): its config has no field for the
    LeakyReLU placement, the up-sampling, the output clipping or the BN epsilon, so it loads with the earlier graph,
    and predicts what it predicted then (values recorded with the code before the change)."""
    path = ROOT / "checkpoints" / "densedepth-densenet121-k16-mix-scratch"
    assert not {"leaky_relu_after_conv_a", "upsample_align_corners", "output_clip"} & json.loads(
        (path / "config.json").read_text()).keys()
    model = AutoModelForDepthEstimation.from_pretrained(path).eval()
    config = model.config
    assert (config.decoder_width_factor, config.leaky_relu_after_conv_a, config.upsample_align_corners,
            config.output_clip, config.encoder_batch_norm_eps) == (0.5, True, False, "regressed", 1e-5)
    pixels = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        depth = model(pixel_values=pixels).predicted_depth[0, ::24, ::32]
    recorded = [[3.14642, 3.44849, 3.80922, 3.42178], [2.4674, 2.96164, 3.11953, 3.01647],
                [2.27504, 2.62858, 2.58134, 2.78101], [1.88304, 2.0087, 1.84418, 1.9107]]
    np.testing.assert_allclose(depth.numpy(), recorded, rtol=1e-4, atol=1e-5)


def test_readme_table_is_generated_from_the_results():
    readme = (ROOT / "README.md").read_text()
    table = ship.results_table(ROOT / "checkpoints")
    assert f"{ship.TABLE_START}\n{table}\n{ship.TABLE_END}" in readme
    assert table.count("\n") == 1 + len(CHECKPOINTS) and "–" not in table


def _reevaluate(name: str, file: str, tmp_path: Path, layout: str | None) -> None:
    """Run `mde-hub evaluate` again with the settings recorded in results JSON `file`; its metrics must match."""
    recorded = _results(name)[file]
    settings, dataset = recorded["settings"], recorded["dataset"]
    source = dataset["source"] if dataset["source"].startswith("synthetic:") else str(ROOT / dataset["source"])
    argv = ["evaluate", "--model", str(ROOT / "checkpoints" / name), "--dataset", source, "--protocol",
            recorded["protocol"]["name"], "--align", settings["alignment"], "--align-space", settings["alignment_space"],
            "--output", str(tmp_path / "again.json")]
    argv += ["--layout", layout, "--split", dataset["split"]] if layout else []
    argv += ["--flip-tta"] if settings["flip_tta"] else []
    assert main(argv) == 0
    again = json.loads((tmp_path / "again.json").read_text())
    assert again["num_images"] == recorded["num_images"]
    for metric, value in recorded["metrics"].items():
        assert again["metrics"][metric] == pytest.approx(value, rel=1e-5, abs=1e-5), metric


def test_mde_hub_evaluate_reproduces_the_held_out_icl_numbers(shared_rgbd, tmp_path):
    _reevaluate("baseline-256-mix-scratch", "results_icl_raw.json", tmp_path, "icl")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_mde_hub_evaluate_reproduces_the_synthetic_numbers(name, tmp_path):
    _reevaluate(name, "results_synthetic_raw.json", tmp_path, None)
