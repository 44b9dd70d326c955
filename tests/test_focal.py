"""BTS's KITTI focal scaling reaches the model from every surface: `DepthPredictor`, `evaluate`, training inputs, the
app and the command line (ONNX: tests/test_onnx.py). The model multiplies its depth by focal / 715.0873, with the
focal of the image the network sees (the camera's fx scaled by network width / image width)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from mde_hub import BtsConfig, BtsForDepthEstimation, image_processor_for
from mde_hub.app import ModelRegistry, discover_sources
from mde_hub.app.compare import compare, default_focal
from mde_hub.cli import main as cli_main
from mde_hub.data.sample import DepthSample, Intrinsics, ModelInputDataset
from mde_hub.evaluation.evaluate import evaluate
from mde_hub.inference.predictor import DepthPredictor

NETWORK = (64, 96)  # (height, width) the tiny KITTI model's processor resizes to
REFERENCE_FOCAL = 715.0873  # BTS:pytorch/bts.py


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = BtsForDepthEstimation(BtsConfig.tiny(focal_scaling=True, image_size=list(NETWORK), max_depth=80.0)).eval()
    path = tmp_path_factory.mktemp("models") / "bts-kitti"
    model.save_pretrained(path)
    image_processor_for(model.config).save_pretrained(path)
    return path


def _image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_predictor_passes_the_focal_at_the_network_width(checkpoint) -> None:
    predictor = DepthPredictor.from_pretrained(checkpoint)
    assert predictor.model.config.reference_focal == REFERENCE_FOCAL
    image = _image(*NETWORK)
    plain = predictor.predict(image).values
    np.testing.assert_allclose(predictor.predict(image, REFERENCE_FOCAL).values, plain, rtol=1e-6)
    np.testing.assert_allclose(predictor.predict(image, 2 * REFERENCE_FOCAL).values, 2 * plain, rtol=1e-5)
    half_width = _image(64, 48)  # resized to 96 px wide: its focal doubles on the way in
    np.testing.assert_allclose(
        predictor.predict(half_width, REFERENCE_FOCAL).values, 2 * predictor.predict(half_width).values, rtol=1e-5
    )
    with pytest.raises(ValueError, match="focal length must be a finite positive number of pixels; got -1"):
        predictor.predict(image, -1.0)


def test_a_model_without_focal_scaling_ignores_the_focal(tmp_path) -> None:
    torch.manual_seed(0)
    predictor = DepthPredictor.from_model(BtsForDepthEstimation(BtsConfig.tiny(image_size=list(NETWORK))), "bts")
    image = _image(*NETWORK)
    np.testing.assert_array_equal(predictor.predict(image, 3 * REFERENCE_FOCAL).values, predictor.predict(image).values)


def test_evaluate_gives_each_sample_its_own_focal(checkpoint) -> None:
    predictor = DepthPredictor.from_pretrained(checkpoint)
    focals = [REFERENCE_FOCAL, 1.5 * REFERENCE_FOCAL, 0.5 * REFERENCE_FOCAL]
    samples = []
    for index, focal in enumerate(focals):
        image = _image(*NETWORK, seed=index)
        depth = predictor.predict(image, focal).values  # the oracle: what the model predicts with this focal
        samples.append(DepthSample.from_depth(image, depth, Intrinsics(focal, focal, 47.5, 31.5), f"frame{index}"))
    scored = evaluate(predictor, samples, protocol="none").metrics
    assert scored["abs_rel"] < 1e-6 and scored["delta1"] == 1.0
    unknown = [DepthSample(s.image, s.depth, s.valid, None, s.id) for s in samples]  # no intrinsics: no scaling
    assert evaluate(predictor, unknown, protocol="none").metrics["abs_rel"] > 0.1


def test_training_inputs_carry_the_focal_at_the_network_width(checkpoint) -> None:
    processor = image_processor_for(BtsConfig.tiny(focal_scaling=True, image_size=list(NETWORK)))
    depth = np.full((32, 48), 5.0, dtype=np.float32)
    sample = DepthSample.from_depth(_image(32, 48), depth, Intrinsics(700.0, 700.0, 23.5, 15.5), "half")
    item = ModelInputDataset([sample], processor, with_focal=True)[0]
    assert item["focal"].item() == pytest.approx(1400.0)  # 48 -> 96 px wide
    assert "focal" not in ModelInputDataset([sample], processor)[0]
    batch = {key: value[None] for key, value in item.items()}
    model = BtsForDepthEstimation.from_pretrained(checkpoint)
    with torch.no_grad():
        scaled = model(**batch).predicted_depth
        plain = model(pixel_values=batch["pixel_values"]).predicted_depth
    torch.testing.assert_close(scaled, plain * 1400.0 / REFERENCE_FOCAL)
    blind = DepthSample(sample.image, sample.depth, sample.valid, None, "no-camera")
    with pytest.raises(ValueError, match="no-camera: the model scales its depth by the focal length"):
        ModelInputDataset([blind], processor, with_focal=True)[0]


def test_app_compare_passes_the_typed_or_default_focal(checkpoint, tmp_path) -> None:
    registry = ModelRegistry(discover_sources([str(checkpoint.parent)], None))
    (name,) = registry.names
    image = _image(48, 124)
    predictor = DepthPredictor.from_pretrained(checkpoint)
    default = default_focal(predictor.model.config, 124)
    assert default == pytest.approx(REFERENCE_FOCAL * 124 / 1242)  # KITTI's 1242 px frame, scaled
    for typed, focal in ((0, default), (900.0, 900.0)):
        result = compare(registry, [name], image, tmp_path / str(typed), focal=typed)
        np.testing.assert_allclose(result.results[0].values, predictor.predict(image, focal).values, rtol=1e-6)
        assert f"depth scaled by its focal length {focal:.1f} px" in result.notes()


def test_app_refuses_a_focal_that_is_not_a_finite_positive_number(checkpoint, tmp_path) -> None:
    """Before, a NaN typed into the app went on to a GLB whose JSON held NaN."""
    registry = ModelRegistry(discover_sources([str(checkpoint.parent)], None))
    for focal in (float("nan"), float("inf"), -5.0):
        message = f"must be a finite positive number of pixels, or 0 for each model's default; got {focal}"
        with pytest.raises(ValueError, match=re.escape(message)):
            compare(registry, registry.names, _image(48, 124), tmp_path / "out", focal=focal)
    assert not (tmp_path / "out").exists()


def test_predict_cli_passes_the_focal(checkpoint, tmp_path) -> None:
    from PIL import Image

    Image.fromarray(_image(*NETWORK)).save(tmp_path / "frame.png")
    for focal in ("715.0873", "1430.1746"):
        out = tmp_path / focal
        assert cli_main(["predict", str(tmp_path / "frame.png"), "--model", str(checkpoint), "--out", str(out),
                         "--formats", "npy", "--focal", focal]) == 0
    ratio = np.load(tmp_path / "1430.1746" / "frame.depth.npy") / np.load(tmp_path / "715.0873" / "frame.depth.npy")
    np.testing.assert_allclose(ratio, 2.0, rtol=1e-5)


def test_a_focal_scaling_model_trains_and_evaluates_with_each_frames_focal(tmp_path) -> None:
    from mde_hub.training import build_trainer, parse_arguments

    parsed = parse_arguments([
        "--recipe", "train/recipes/bts_kitti.json", "--config_preset", "tiny", "--backbone_pretrained", "false",
        "--config_overrides", '{"focal_scaling": true, "image_size": [32, 32]}', "--train_image_size", "32", "32",
        "--dataset", "synthetic", "--synthetic_kind", "outdoor", "--synthetic_size", "2", "--synthetic_eval_size",
        "2", "--synthetic_height", "32", "--synthetic_width", "32", "--output_dir", str(tmp_path), "--max_steps",
        "1", "--per_device_train_batch_size", "2", "--dataloader_num_workers", "0", "--disable_tqdm", "true",
        "--use_cpu", "true", "--augmentation", "none", "--eval_strategy", "no", "--save_strategy", "no", "--eval_protocol", "none",
    ])
    trainer, data = build_trainer(parsed.model, parsed.data, parsed.training)
    assert data.train.with_focal and data.eval.with_focal
    assert trainer.train().training_loss > 0
    assert np.isfinite(trainer.evaluate()["eval_abs_rel"])
