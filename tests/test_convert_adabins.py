"""Converting the AdaBins authors' released models (format `adabins`): fixtures in the released container (the
dict AdaBins:model_io.py `save_checkpoint` writes: `model` with `module.`-prefixed keys, in the current or the older
block naming that `load_checkpoint` renames, `optimizer`, `epoch`), made from a tiny model with random weights;
completeness, a round trip through an independent renaming (bit-identical weights, same depth), and the
post-processing of the authors' infer.py (clip, align_corners=True upsampling) as config fields."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from release_fixtures import adamw_state, assert_same_model, randomize_batchnorms
from transformers import AutoConfig

from mde_hub import AdaBinsConfig, AdaBinsForDepthEstimation
from mde_hub.models.adabins.convert_adabins_from_release import convert_adabins_release
from mde_hub.models.conversion import convert_checkpoint

SHIPPED_ADABINS = Path(__file__).resolve().parent.parent / "checkpoints" / "adabins-mobilenetv2-mix-scratch"
TINY_FIELDS = (
    "backbone", "encoder_taps", "decoder_features", "num_decoded_channels", "patch_size", "embedding_dim",
    "num_attention_heads", "transformer_feedforward_dim", "n_query_channels", "regressor_hidden_dim",
)
TINY_SETTINGS = {field: getattr(AdaBinsConfig.tiny(), field) for field in TINY_FIELDS}
"""The tiny model's architecture, passed to the converter (which reads the depth range and n_bins itself)."""


def random_model(kitti: bool = False, seed: int = 0) -> AdaBinsForDepthEstimation:
    """A tiny AdaBins whose every tensor (BatchNorm statistics included) is random."""
    torch.manual_seed(seed)
    config = AdaBinsConfig.kitti(**TINY_SETTINGS, n_bins=16) if kitti else AdaBinsConfig.tiny()
    return randomize_batchnorms(AdaBinsForDepthEstimation(config).eval())


def authors_names(model: AdaBinsForDepthEstimation, older_names: bool) -> dict[str, torch.Tensor]:
    """Our state dict under the names of AdaBins' `UnetAdaptiveBins` wrapped in DataParallel; `older_names` uses the
    block names that model_io.load_checkpoint renames (`embedding_conv`, `embedding_encoder`)."""
    conv3x3, patch_embedding = ("embedding_conv", "embedding_encoder") if older_names else ("conv3x3", "embedding_convPxP")
    released = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("encoder.backbone."):
            name = "encoder.original_model." + key.removeprefix("encoder.backbone.")
        elif match := re.fullmatch(r"decoder\.up_blocks\.(\d)\.convs\.(.+)", key):
            name = f"decoder.up{int(match[1]) + 1}._net.{match[2]}"
        elif key.startswith("mini_vit.patch_transformer.embedding_conv."):
            name = f"adaptive_bins_layer.patch_transformer.{patch_embedding}." + key.rpartition(".")[2]
        elif key.startswith("mini_vit.conv3x3."):
            name = f"adaptive_bins_layer.{conv3x3}." + key.rpartition(".")[2]
        elif key.startswith("mini_vit."):
            name = "adaptive_bins_layer." + key.removeprefix("mini_vit.")
        elif key.startswith("conv_out."):
            name = "conv_out.0." + key.removeprefix("conv_out.")
        else:
            name = key
        released["module." + name] = tensor.clone()
    return released


def write_release(path: Path, model: AdaBinsForDepthEstimation, older_names: bool = False) -> Path:
    """What model_io.save_checkpoint writes: model state, AdamW state (train.py's two groups), epoch."""
    state = authors_names(model, older_names)
    encoder = sum(key.startswith("module.encoder.") and tensor.is_floating_point() for key, tensor in state.items())
    groups = [{"lr": 3.57e-5, "weight_decay": 0.1}, {"lr": 3.57e-4, "weight_decay": 0.1}]  # train.py: encoder at lr / 10
    torch.save({"model": state, "optimizer": adamw_state(state, groups, encoder), "epoch": 24}, path)
    return path


@pytest.mark.parametrize("older_names", [False, True], ids=["current names", "older names"])
def test_nyu_release_converts_every_tensor_and_round_trips_bit_identically(tmp_path, older_names) -> None:
    original = random_model()
    path = write_release(tmp_path / "AdaBins_nyu.pt", original, older_names)
    result = convert_checkpoint("adabins", path, **TINY_SETTINGS)
    config = result.model.config
    assert (config.min_depth, config.max_depth, config.n_bins, list(config.image_size)) == (1e-3, 10.0, 16, [480, 640])
    assert config.clamp_output and config.upsample_align_corners and not result.model.training
    assert_same_model(result.model, original, ["predicted_depth", "bin_edges"])
    assert result.skipped[0].startswith("optimizer: optimizer state (2 parameter groups") and result.skipped[1:] == ["epoch = 24"]
    assert "AdaBins_nyu.pt" in result.source and any("flip" in note for note in result.notes)


def test_kitti_release_is_the_80_m_model_at_the_kb_crop(tmp_path) -> None:
    original = random_model(kitti=True, seed=2)
    result = convert_adabins_release(write_release(tmp_path / "AdaBins_kitti.pt", original), **TINY_SETTINGS)
    config = result.model.config
    assert (config.max_depth, list(config.image_size)) == (80.0, [352, 1216])
    assert_same_model(result.model, original, ["predicted_depth", "bin_edges"])


def test_unconsumed_and_missing_tensors_are_named(tmp_path) -> None:
    original = random_model()
    path = write_release(tmp_path / "AdaBins_nyu.pt", original)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"]["module.adaptive_bins_layer.extra.weight"] = torch.ones(1)
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"match no conversion rule: \[adaptive_bins_layer\.extra\.weight\]"):
        convert_adabins_release(path, **TINY_SETTINGS)
    del checkpoint["model"]["module.adaptive_bins_layer.extra.weight"]
    del checkpoint["model"]["module.conv_out.0.bias"]
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match=r"missing 1 weights \[conv_out\.bias\]"):
        convert_adabins_release(path, **TINY_SETTINGS)


def test_both_namings_at_once_are_refused(tmp_path) -> None:
    path = write_release(tmp_path / "AdaBins_nyu.pt", random_model())
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["model"]["module.adaptive_bins_layer.embedding_conv.bias"] = torch.zeros(16)
    torch.save(checkpoint, path)
    with pytest.raises(ValueError, match="several tensors map onto one weight"):
        convert_adabins_release(path, **TINY_SETTINGS)


def test_the_output_is_clipped_as_infer_py_does() -> None:
    model = random_model()
    depth = torch.tensor([[float("nan"), -1.0, 5.0, float("inf"), 1e9]])
    torch.testing.assert_close(model._clamp(depth), torch.tensor([[1e-3, 1e-3, 5.0, 10.0, 10.0]]))


@pytest.mark.parametrize("align_corners", [True, False])
def test_the_half_resolution_depth_is_upsampled_as_the_config_says(align_corners) -> None:
    model = random_model()
    model.config.upsample_align_corners = align_corners
    halves = []
    upsample = model._upsample
    model._upsample = lambda depth, size: halves.append(depth) or upsample(depth, size)
    with torch.no_grad():
        predicted = model(pixel_values=torch.rand(1, 3, 32, 64)).predicted_depth
    expected = F.interpolate(halves[0][:, None], size=(32, 64), mode="bilinear", align_corners=align_corners)[:, 0]
    assert halves[0].shape == (1, 16, 32)
    torch.testing.assert_close(predicted, expected, rtol=0, atol=0)


def test_configs_saved_before_the_clamp_field_do_not_clip() -> None:
    saved = AdaBinsConfig.tiny().to_dict()
    saved.pop("clamp_output")
    assert AdaBinsConfig.from_dict(saved).clamp_output is False and AdaBinsConfig.tiny().clamp_output is True
    assert AdaBinsConfig.from_dict(AdaBinsConfig.tiny().to_dict()).clamp_output is True
    if SHIPPED_ADABINS.is_dir():
        shipped = AutoConfig.from_pretrained(SHIPPED_ADABINS)
        assert shipped.clamp_output is False and shipped.upsample_align_corners is True
