"""The checks every architecture must pass, run on each registered model's tiny configuration."""

from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation, Trainer, TrainingArguments, pipeline
from transformers.modeling_outputs import DepthEstimatorOutput

from mde_hub import MODEL_CLASSES, image_processor_for

MODEL_TYPES = sorted(MODEL_CLASSES)
LEARNING_RATE, STEPS = 5e-3, 20  # Adam on one fixed batch: enough for every tiny model to show a clear decrease


def build(model_type: str, seed: int = 0):
    config_class, model_class = MODEL_CLASSES[model_type]
    torch.manual_seed(seed)
    return model_class(config_class.tiny()).eval()


def synthetic_batch(batch: int, height: int, width: int, max_depth: float, seed: int = 0):
    """Blocky scenes whose brightness encodes depth (a learnable mapping), with some invalid (zero) label pixels."""
    generator = torch.Generator().manual_seed(seed)
    blocks = torch.rand(batch, 1, height // 16, width // 16, generator=generator)
    depth = (0.1 + 0.8 * torch.nn.functional.interpolate(blocks, size=(height, width), mode="nearest"))[:, 0] * max_depth
    pixels = (depth / max_depth)[:, None].expand(batch, 3, height, width).clone()
    pixels += 0.02 * torch.randn(pixels.shape, generator=generator)
    labels = depth.clone()
    labels[:, :4, :4] = 0.0
    return pixels, labels


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize("size", [(480, 640), (352, 1216)])
def test_output_shape_is_input_resolution_in_metres(model_type: str, size: tuple[int, int]) -> None:
    model = build(model_type)
    with torch.no_grad():
        output = model(pixel_values=torch.rand(1, 3, *size))
    assert isinstance(output, DepthEstimatorOutput)
    assert output.predicted_depth.shape == (1, *size)
    depth = output.predicted_depth
    assert torch.isfinite(depth).all()
    if model.config.depth_estimation_type == "metric":
        assert depth.min() >= 0 and depth.max() <= model.config.max_depth + 1e-4


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_loss_goes_down_on_a_fixed_batch(model_type: str) -> None:
    model = build(model_type).train()
    pixels, labels = synthetic_batch(2, 64, 96, model.config.max_depth)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    losses = []
    for _ in range(STEPS):
        loss = model(pixel_values=pixels, labels=labels).loss
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.95 * losses[0], losses


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_save_and_load_round_trip_keeps_weights_bit_identical(model_type: str, tmp_path) -> None:
    model = build(model_type)
    image_processor_for(model.config).save_pretrained(tmp_path)
    model.save_pretrained(tmp_path)
    assert {"config.json", "preprocessor_config.json", "model.safetensors"} <= {p.name for p in tmp_path.iterdir()}
    saved = load_file(tmp_path / "model.safetensors")
    assert AutoConfig.from_pretrained(tmp_path).model_type == model_type
    loaded = AutoModelForDepthEstimation.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for key, value in state.items():
        assert torch.equal(value, loaded_state[key]), key
        if key in saved:
            assert torch.equal(value, saved[key]), key
    pixels = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        # Weights are compared bit for bit above; kernel outputs only to a tolerance, since oneDNN may pick
        # differently vectorised kernels for the two copies (1.9e-6 apart on AMD EPYC).
        torch.testing.assert_close(
            loaded(pixel_values=pixels).predicted_depth, model(pixel_values=pixels).predicted_depth, rtol=1e-5, atol=1e-5
        )
    assert type(AutoImageProcessor.from_pretrained(tmp_path)).__name__ == "DepthImageProcessor"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_pipeline_returns_depth_at_the_image_size(model_type: str, tmp_path) -> None:
    model = build(model_type)
    model.save_pretrained(tmp_path)
    image_processor_for(model.config).save_pretrained(tmp_path)
    estimator = pipeline("depth-estimation", model=str(tmp_path), device="cpu")
    image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    result = estimator(image)
    assert result["predicted_depth"].shape == (120, 160)
    assert result["depth"].size == (160, 120) and result["depth"].mode == "L"
    assert torch.isfinite(result["predicted_depth"]).all()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_batch_of_two_equals_one_at_a_time(model_type: str) -> None:
    model = build(model_type)
    pixels = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        together = model(pixel_values=pixels).predicted_depth
        apart = torch.cat([model(pixel_values=pixels[i : i + 1]).predicted_depth for i in range(2)])
    torch.testing.assert_close(together, apart, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_trainer_reduces_the_loss(model_type: str, tmp_path) -> None:
    model = build(model_type).train()
    pixels, labels = synthetic_batch(4, 64, 96, model.config.max_depth, seed=1)
    dataset = [{"pixel_values": p, "labels": l} for p, l in zip(pixels, labels)]
    with torch.no_grad():
        before = model(pixel_values=pixels, labels=labels).loss.item()
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=STEPS, learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant", logging_steps=5, save_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True, seed=0,
    )
    Trainer(model=model, args=args, train_dataset=dataset).train()
    with torch.no_grad():
        after = model(pixel_values=pixels, labels=labels).loss.item()
    assert after < 0.95 * before, (before, after)
