"""The checks every architecture must pass, as transformers' ModelTesterMixin runs them: each test is parametrised
over `architectures()` (tests/architectures.py, the suite's one parametrisation point) and runs on the
architecture's `tiny()` preset at 64x96.

* forward: a `DepthEstimatorOutput` at the input's size, also as a tuple and with hidden states; the papers'
  NYU resolution (KITTI's with `-m slow`); sizes the encoder cannot take are refused; the tiny preset stays small;
* (a) save_pretrained / from_pretrained: every weight bit-identical, outputs within 1e-5, nothing missing or
  unexpected, the Auto classes and the pipeline;
* (b) a batch of 3 gives what 3 single calls give;
* (c) eval mode is deterministic, and so is construction under a seed;
* (d) every preset's config round-trips through to_dict / from_dict, JSON and save_pretrained / from_pretrained;
* (e) the loss gives every trainable parameter a finite gradient (except the documented unused ones) and a small
  step against it lowers the loss; a backbone weights file survives `post_init`;
* (f) what `predicted_depth` means (`depth_meaning_of`), and its range: metric depth within
  [min_depth, max_depth] (sigmoid models: [0, max_depth]; focal scaling: max_depth x focal / reference), relative
  inverse depth non-negative;
* (g) ONNX export matching PyTorch: `tests/test_onnx.py::test_export_matches_pytorch`, parametrised over the same
  `architectures()` (it shares that module's exported graphs with the ONNX Runtime tests);
* slow (`-m slow`): 20 Adam steps, by hand and through `Trainer`, lower the loss on a fixed batch; KITTI's
  352x1216.

Kernel outputs are compared with tolerances, never bit for bit: oneDNN may pick differently vectorised kernels for
two copies of a model or two batch sizes (Intel and AMD differ). Everything written goes under pytest's temporary
folders.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import PIL.Image
import pytest
import torch
from architectures import (
    INPUT_SIZE,
    SIGMOID_METRIC_OUTPUT,
    UNUSED_PARAMETERS,
    architectures,
    model_types,
    presets,
    tiny_config,
    tiny_model,
    variant_id,
    variants,
)
from huggingface_hub.errors import StrictDataclassClassValidationError
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoImageProcessor, AutoModelForDepthEstimation, pipeline
from transformers.modeling_outputs import DepthEstimatorOutput

from mde_hub import image_processor_for
from mde_hub.models.configuration_utils import scales_depth_by_focal
from mde_hub.models.depth_meaning import depth_meaning_of

MODEL_TYPES = model_types()
TOLERANCE = {"rtol": 1e-5, "atol": 1e-5}
BATCH_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}  # another batch size may take other kernels
LEARNING_RATE, STEPS = 5e-3, 20  # Adam on one fixed batch: enough for every tiny model to show a clear decrease


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


def pixels(batch: int, seed: int = 0, size: tuple[int, int] = INPUT_SIZE) -> torch.Tensor:
    return torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def model():
    """model_type -> its tiny model (seed 0, eval mode), built once per module. Tests must not change it."""
    cache: dict[str, torch.nn.Module] = {}

    def get(model_type: str) -> torch.nn.Module:
        if model_type not in cache:
            cache[model_type] = tiny_model(model_type)
        return cache[model_type]

    return get


@pytest.fixture(scope="module")
def checkpoint(model, tmp_path_factory):
    """model_type -> a folder with that tiny model and its image processor saved, written once per module."""
    cache: dict[str, object] = {}

    def get(model_type: str):
        if model_type not in cache:
            folder = tmp_path_factory.mktemp(model_type)
            model(model_type).save_pretrained(folder)
            image_processor_for(model(model_type).config).save_pretrained(folder)
            cache[model_type] = folder
        return cache[model_type]

    return get


# ---------------------------------------------------------------------------------------------------- forward


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_forward_returns_depth_at_the_input_size_as_output_or_tuple(model_type: str, model) -> None:
    network, inputs = model(model_type), pixels(2)
    with torch.no_grad():
        output = network(pixel_values=inputs, output_hidden_states=True)
        as_tuple = network(pixel_values=inputs, return_dict=False)
    assert isinstance(output, DepthEstimatorOutput) and output.loss is None
    depth = output.predicted_depth
    assert depth.shape == (2, *INPUT_SIZE) and depth.dtype == torch.float32
    assert isinstance(as_tuple, tuple)
    torch.testing.assert_close(as_tuple[0], depth, **TOLERANCE)
    assert output.hidden_states and all(h.shape[0] == 2 and torch.isfinite(h).all() for h in output.hidden_states)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
@pytest.mark.parametrize(
    "size", [pytest.param((480, 640), id="nyu"), pytest.param((352, 1216), id="kitti", marks=pytest.mark.slow)]
)
def test_papers_resolutions_give_depth_at_that_size(model_type: str, size: tuple[int, int], model) -> None:
    with torch.no_grad():
        depth = model(model_type)(pixel_values=torch.rand(1, 3, *size)).predicted_depth
    assert depth.shape == (1, *size) and torch.isfinite(depth).all()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_sizes_the_encoder_cannot_take_are_refused(model_type: str, model) -> None:
    with pytest.raises(ValueError, match=r"divisible by \d+; got 64x100"):  # 100: a multiple of neither 8 nor 32
        model(model_type)(pixel_values=torch.rand(1, 3, 64, 100))


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_tiny_preset_is_small(model_type: str, model) -> None:
    assert sum(p.numel() for p in model(model_type).parameters()) < 1_000_000


# ------------------------------------------------------------------------------------------- (a) save and load


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_save_and_load_round_trip_keeps_weights_bit_identical(model_type: str, model, checkpoint) -> None:
    original, folder = model(model_type), checkpoint(model_type)
    assert {"config.json", "preprocessor_config.json", "model.safetensors"} <= {p.name for p in folder.iterdir()}
    saved = load_file(folder / "model.safetensors")
    assert AutoConfig.from_pretrained(folder).model_type == model_type
    loaded, info = AutoModelForDepthEstimation.from_pretrained(folder, output_loading_info=True)
    assert type(loaded) is type(original) and not loaded.training
    assert not any(info.values()), info  # nothing missing, unexpected or mismatched
    state, loaded_state = original.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    for key, value in state.items():
        assert torch.equal(value, loaded_state[key]), key
        if key in saved:
            assert torch.equal(value, saved[key]), key
    inputs = pixels(1)
    with torch.no_grad():
        # Weights are compared bit for bit above; kernel outputs only to a tolerance, since oneDNN may pick
        # differently vectorised kernels for the two copies (1.9e-6 apart on AMD EPYC).
        torch.testing.assert_close(
            loaded(pixel_values=inputs).predicted_depth, original(pixel_values=inputs).predicted_depth, **TOLERANCE
        )
    assert type(AutoImageProcessor.from_pretrained(folder)).__name__ == "DepthImageProcessor"


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_pipeline_returns_depth_at_the_image_size(model_type: str, checkpoint) -> None:
    estimator = pipeline("depth-estimation", model=str(checkpoint(model_type)), device="cpu")
    image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))
    result = estimator(image)
    assert result["predicted_depth"].shape == (120, 160)
    assert result["depth"].size == (160, 120) and result["depth"].mode == "L"
    assert torch.isfinite(result["predicted_depth"]).all()


# ------------------------------------------------------------------------------------- (b) batch, (c) determinism


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_batch_of_three_equals_three_single_calls(model_type: str, model) -> None:
    network, inputs = model(model_type), pixels(3, seed=1)
    with torch.no_grad():
        together = network(pixel_values=inputs).predicted_depth
        apart = torch.cat([network(pixel_values=inputs[i : i + 1]).predicted_depth for i in range(3)])
    torch.testing.assert_close(together, apart, **BATCH_TOLERANCE)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_eval_mode_is_deterministic(model_type: str, model) -> None:
    network, inputs = model(model_type), pixels(2, seed=2)
    assert not any(module.training for module in network.modules())
    with torch.no_grad():
        first = network(pixel_values=inputs).predicted_depth
        torch.manual_seed(12345)  # dropout, were any left on, would draw other masks
        second = network(pixel_values=inputs).predicted_depth
    torch.testing.assert_close(second, first, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_same_seed_gives_bit_identical_weights(model_type: str, model) -> None:
    again = tiny_model(model_type, seed=0).state_dict()
    for key, value in model(model_type).state_dict().items():
        assert torch.equal(value, again[key]), key
    other = tiny_model(model_type, seed=1).state_dict()
    assert any(not torch.equal(value, other[key]) for key, value in again.items() if value.is_floating_point())


# ----------------------------------------------------------------------------------------------- (d) configuration


def without_path(config: dict) -> dict:
    """A config dict without `_name_or_path`, which from_pretrained sets to the folder it read."""
    return {key: value for key, value in config.items() if key != "_name_or_path"}


@pytest.mark.parametrize(
    "model_type, preset", [(model_type, preset) for model_type in MODEL_TYPES for preset in presets(model_type)]
)
def test_config_round_trips(model_type: str, preset: str, tmp_path) -> None:
    config_class, _ = architectures()[model_type]
    config = getattr(config_class, preset)()
    assert type(config) is config_class and config.model_type == model_type
    as_dict = config.to_dict()
    assert config_class.from_dict(as_dict).to_dict() == as_dict
    assert config_class(**config.to_diff_dict()).to_dict() == as_dict
    config.to_json_file(tmp_path / "config.json")
    assert config_class.from_json_file(tmp_path / "config.json").to_dict() == as_dict
    config.save_pretrained(tmp_path / "saved")
    for loaded in (config_class.from_pretrained(tmp_path / "saved"), AutoConfig.from_pretrained(tmp_path / "saved")):
        assert type(loaded) is config_class and without_path(loaded.to_dict()) == without_path(as_dict)
    assert image_processor_for(config).to_dict() == image_processor_for(config_class.from_dict(as_dict)).to_dict()


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_configs_refuse_non_finite_numbers_and_a_bad_depth_range(model_type: str) -> None:
    """Every float field, set to NaN or infinity, is refused by name (a NaN or infinite max_depth made every
    prediction NaN); so is a depth range that is not 0 < min_depth < max_depth."""
    config = tiny_config(model_type)
    floats = [field.name for field in dataclasses.fields(config) if isinstance(getattr(config, field.name), float)]
    assert {"min_depth", "max_depth"} <= set(floats)
    for name in floats:
        for value in (float("nan"), float("inf"), -float("inf")):
            message = f"{name} must be a finite number; got {value}"
            with pytest.raises(StrictDataclassClassValidationError, match=message):
                tiny_config(model_type, **{name: value})
    for min_depth, max_depth in ((1e-3, 0.0), (1e-3, -5.0), (0.0, 10.0), (20.0, 10.0)):
        with pytest.raises(StrictDataclassClassValidationError, match="need 0 < min_depth < max_depth"):
            tiny_config(model_type, min_depth=min_depth, max_depth=max_depth)


# ---------------------------------------------------------------------------------------------------- (e) gradients


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_loss_gives_every_trainable_parameter_a_gradient(model_type: str) -> None:
    network = tiny_model(model_type).train()
    inputs, labels = synthetic_batch(2, *INPUT_SIZE, network.config.max_depth)

    def loss() -> torch.Tensor:
        torch.manual_seed(0)  # the same dropout masks on every call
        return network(pixel_values=inputs, labels=labels).loss

    value = loss()
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    trainable = {name: p for name, p in network.named_parameters() if p.requires_grad}
    without = sorted(name for name, p in trainable.items() if p.grad is None)
    assert without == sorted(UNUSED_PARAMETERS.get(model_type, set())), f"no gradient: {without}"
    not_finite = [name for name, p in trainable.items() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not not_finite, f"non-finite gradient: {not_finite}"

    # a small step against the gradient lowers the loss: the gradient is the loss's own, not detached or flipped
    with torch.no_grad():
        gradients = {name: p.grad.clone() for name, p in trainable.items() if p.grad is not None}
        norm = torch.sqrt(sum(g.pow(2).sum() for g in gradients.values()))
        assert norm > 0
        before = {name: trainable[name].clone() for name in gradients}
        losses = []
        for step in (1e-2, 1e-3, 1e-4):
            for name, gradient in gradients.items():
                trainable[name].copy_(before[name] - step * gradient / norm)
            losses.append(loss().item())
    assert min(losses) < value.item(), (value.item(), losses)


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_backbone_weights_file_survives_post_init(model_type: str, tmp_path) -> None:
    if not hasattr(tiny_config(model_type), "backbone_weights"):
        pytest.skip(f"{model_type} has no pretrained encoder to load")

    def backbone(network: torch.nn.Module) -> torch.nn.Module:
        (found,) = [module for name, module in network.named_modules() if name.split(".")[-1] == "backbone"]
        return found

    source = backbone(tiny_model(model_type, seed=1))
    with torch.no_grad():
        for tensor in source.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.randn_like(tensor).abs() + 0.1)  # unlike any initialisation scheme
    path = tmp_path / "backbone.safetensors"
    weights = {key: value.contiguous() for key, value in source.state_dict().items()}
    save_file(weights, str(path))
    loaded = backbone(tiny_model(model_type, seed=0, backbone_weights=str(path))).state_dict()
    assert loaded.keys() == weights.keys()
    for key, value in weights.items():
        assert torch.equal(loaded[key], value), key


# --------------------------------------------------------------------------------------------- (f) meaning and range


@pytest.mark.parametrize("variant", variants(), ids=variant_id)
def test_output_meaning_and_range(variant, model, tmp_path) -> None:
    model_type, overrides = variant
    network = tiny_model(model_type, **overrides) if overrides else model(model_type)
    config = network.config
    meaning = depth_meaning_of(config)
    assert meaning.is_metric == (config.depth_estimation_type == "metric")
    config.save_pretrained(tmp_path)
    assert depth_meaning_of(AutoConfig.from_pretrained(tmp_path)) == meaning  # a checkpoint keeps its meaning

    inputs = torch.cat([pixels(2, seed=3), 10 * torch.randn(1, 3, *INPUT_SIZE, generator=torch.Generator().manual_seed(4))])
    calls = [({}, torch.ones(3))]
    if scales_depth_by_focal(config):  # BTS's KITTI scaling: depth x focal / reference_focal, per image
        factors = torch.tensor([0.5, 1.0, 2.0])
        calls.append(({"focal": factors * config.reference_focal}, factors))
    for extra, factor in calls:
        with torch.no_grad():
            depth = network(pixel_values=inputs, **extra).predicted_depth
        assert torch.isfinite(depth).all(), extra
        if not meaning.is_metric:  # relative depth or inverse depth (DPT's ReLU head): non-negative, no unit
            assert depth.min() >= 0, depth.min()
            continue
        lower = 0.0 if model_type in SIGMOID_METRIC_OUTPUT else config.min_depth
        per_image_max, per_image_min = depth.flatten(1).max(1).values, depth.flatten(1).min(1).values
        assert (per_image_min >= lower * factor - 1e-6).all(), (per_image_min, lower, extra)
        assert (per_image_max <= config.max_depth * factor * (1 + 1e-6)).all(), (per_image_max, config.max_depth, extra)


# ------------------------------------------------------------------------------------------------- slow: learning


@pytest.mark.slow
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_loss_goes_down_on_a_fixed_batch(model_type: str) -> None:
    network = tiny_model(model_type).train()
    inputs, labels = synthetic_batch(2, *INPUT_SIZE, network.config.max_depth)
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    losses = []
    for _ in range(STEPS):
        loss = network(pixel_values=inputs, labels=labels).loss
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert min(losses[-3:]) < 0.95 * losses[0], losses


@pytest.mark.slow
@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_trainer_reduces_the_loss(model_type: str, tmp_path) -> None:
    from transformers import Trainer, TrainingArguments

    network = tiny_model(model_type).train()
    inputs, labels = synthetic_batch(4, *INPUT_SIZE, network.config.max_depth, seed=1)
    dataset = [{"pixel_values": p, "labels": l} for p, l in zip(inputs, labels)]
    with torch.no_grad():
        before = network(pixel_values=inputs, labels=labels).loss.item()
    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=STEPS, learning_rate=LEARNING_RATE,
        lr_scheduler_type="constant", logging_steps=5, save_strategy="no", report_to=[], use_cpu=True,
        dataloader_num_workers=0, disable_tqdm=True, seed=0,
    )
    Trainer(model=network, args=args, train_dataset=dataset).train()
    with torch.no_grad():
        after = network(pixel_values=inputs, labels=labels).loss.item()
    assert after < 0.95 * before, (before, after)
