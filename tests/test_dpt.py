"""DPT: conversion from transformers, depth parameterisation, readouts, losses, position embeddings, sizes (the
checks every architecture shares are in test_architectures.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers
from huggingface_hub.errors import StrictDataclassClassValidationError
from timm.layers import StdConv2dSame
from timm.layers.padding import pad_same
from torch import nn

from mde_hub.models.dpt import DptConfig, DptForDepthEstimation
from mde_hub.models.dpt.convert_dpt_from_transformers import convert_dpt_from_transformers, dpt_config_from_transformers
from mde_hub.models.dpt.modeling_dpt import ReadoutProject, StdPlusEpsConv2dSame, use_cached_standardisation
from mde_hub.processing.image_processing_depth import DepthImageProcessor

SMALL_HF = dict(
    hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16,
    backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
)
SMALL_HYBRID_VIT = {"embed_dim": 32, "depth": 4, "num_heads": 2, "mlp_ratio": 2.0}
HYBRID_ATOL = 3e-4
"""Ours runs the hybrid's ResNet channels-last, transformers' NCHW: the convolutions and group norms sum in another
order, which on these random tiny weights moves outputs of magnitude 1-7 by up to 1.3e-4."""


def build(seed: int = 0, **overrides) -> DptForDepthEstimation:
    torch.manual_seed(seed)
    return DptForDepthEstimation(DptConfig.tiny(**overrides)).eval()


def randomised(model: transformers.DPTForDepthEstimation, seed: int = 0) -> transformers.DPTForDepthEstimation:
    """transformers initialises biases to zero and weights small, which makes the ReLU head mostly 0: use O(1) ones."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            std = parameter[0].numel() ** -0.5 if parameter.ndim > 1 else 0.1
            offset = 1.0 if "norm" in name and name.endswith("weight") else 0.0
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * std + offset)
        model.head.head[4].bias.fill_(0.1)
    return model.eval()


@pytest.mark.parametrize("readout_type", ["project", "add", "ignore", "hybrid"])
def test_converted_transformers_model_predicts_the_same(readout_type: str) -> None:
    hybrid = readout_type == "hybrid"
    kwargs = dict(SMALL_HF, readout_type="project" if hybrid else readout_type)
    if hybrid:  # transformers' hybrid needs the exact image size; its ResNet maps are 256 and 512 wide
        kwargs.update(is_hybrid=True, neck_hidden_sizes=[256, 512, 32, 32], backbone_featmap_shape=[1, 1024, 4, 4])
    torch.manual_seed(0)
    hf_model = randomised(transformers.DPTForDepthEstimation(transformers.DPTConfig(**kwargs)))
    model = convert_dpt_from_transformers(hf_model)
    assert model.config.depth_estimation_type == "relative" and model.config.is_hybrid == hybrid
    size = 64 if hybrid else 96  # 96: transformers' (square-only) ViT resizes its 4x4 position embeddings to 6x6
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf_model(pixel_values=pixels).predicted_depth
        predicted = model(pixel_values=pixels).predicted_depth
    assert (expected > 0).float().mean() > 0.1  # a non-trivial output
    torch.testing.assert_close(predicted, expected, rtol=1e-5, atol=HYBRID_ATOL if hybrid else 1e-5)


def test_converts_the_hybrid_as_intel_dpt_hybrid_midas_configures_it() -> None:
    """Intel/dpt-hybrid-midas's config.json, as transformers' convert_dpt_hybrid_to_pytorch.py writes it (BiT
    ResNet-50 with "same" padding, hooks [2, 5, 8, 11] of which the first two are never used, reassemble_factors
    [1, 1, 1, 0.5] of which the first two are never used), with the ViT and the decoder made tiny."""
    released = dict(
        embedding_type="hybrid", is_hybrid=True, backbone_out_indices=[2, 5, 8, 11], neck_ignore_stages=[0, 1],
        reassemble_factors=[1, 1, 1, 0.5], readout_type="project", use_batch_norm_in_fusion_residual=False,
        patch_size=16, num_labels=150, num_hidden_layers=12, qkv_bias=True, layer_norm_eps=1e-12, hidden_act="gelu",
        backbone_config={"model_type": "bit", "global_padding": "same", "layer_type": "bottleneck", "depths": [3, 4, 9],
                         "out_features": ["stage1", "stage2", "stage3"], "embedding_dynamic_padding": True},
    )
    tiny = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64, image_size=64, fusion_hidden_size=16,
                neck_hidden_sizes=[256, 512, 32, 32], backbone_featmap_shape=[1, 1024, 4, 4])
    torch.manual_seed(0)
    hf_model = randomised(transformers.DPTForDepthEstimation(transformers.DPTConfig(**released, **tiny)))
    model = convert_dpt_from_transformers(hf_model)
    assert list(model.config.backbone_out_indices) == [0, 1, 8, 11] and model.config.is_hybrid
    pixels = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf_model(pixel_values=pixels).predicted_depth
        predicted = model(pixel_values=pixels).predicted_depth
    assert (expected > 0).float().mean() > 0.1
    torch.testing.assert_close(predicted, expected, rtol=1e-5, atol=HYBRID_ATOL)
    with pytest.raises(ValueError, match=r"reassemble_factors\[2:\]"):
        dpt_config_from_transformers(transformers.DPTConfig(**{**released, **tiny, "reassemble_factors": [1, 1, 2, 0.5]}))
    with pytest.raises(ValueError, match="not 4, 2, 1, 0.5"):
        dpt_config_from_transformers(transformers.DPTConfig(**SMALL_HF, reassemble_factors=[1, 1, 1, 0.5]))


def test_converter_rejects_what_is_not_the_papers_model() -> None:
    with pytest.raises(ValueError, match="add_projection"):
        dpt_config_from_transformers(transformers.DPTConfig(**SMALL_HF, add_projection=True))
    with pytest.raises(ValueError, match="batch norm"):
        dpt_config_from_transformers(transformers.DPTConfig(**SMALL_HF, use_batch_norm_in_fusion_residual=True))
    config = dpt_config_from_transformers(transformers.DPTConfig(**SMALL_HF), depth_estimation_type="metric")
    assert config.depth_estimation_type == "metric" and config.loss_type == "silog" and config.layer_norm_eps == 1e-12


def test_metric_depth_is_the_fixed_inverse_of_the_relative_output() -> None:
    relative = build(depth_estimation_type="relative")
    kitti = {key: getattr(DptConfig.kitti(), key) for key in ("metric_scale", "metric_shift", "max_depth")}
    for metric_config in (DptConfig.tiny(), DptConfig.tiny(**kitti), DptConfig.tiny(**kitti, clip_depth=True)):
        metric = DptForDepthEstimation(metric_config).eval()
        metric.load_state_dict(relative.state_dict())
        pixels = torch.rand(2, 3, 64, 96)
        with torch.no_grad():
            disparity = relative(pixel_values=pixels).predicted_depth
            depth = metric(pixel_values=pixels).predicted_depth
        c = metric.config
        by_hand = 1.0 / (c.metric_scale * disparity + c.metric_shift).clamp(min=1e-8)
        torch.testing.assert_close(depth, by_hand.clamp(c.min_depth, c.max_depth) if c.clip_depth else by_hand)
        assert disparity.min() >= 0 and depth.max() <= (c.max_depth if c.clip_depth else 1 / c.metric_shift)
    assert metric.config.max_depth == 80.0 and torch.all(depth == 80.0)  # KITTI: 1 / 0.00579 = 173 m clips to 80 m


@pytest.mark.parametrize("readout_type", ["ignore", "add", "project"])
def test_readouts_give_the_same_shapes(readout_type: str) -> None:
    model = build(readout_type=readout_type)
    with torch.no_grad():
        output = model(pixel_values=torch.rand(2, 3, 64, 96), output_hidden_states=True)
    assert output.predicted_depth.shape == (2, 64, 96)
    assert [tuple(h.shape) for h in output.hidden_states] == [(2, 1 + 4 * 6, 32)] * 4
    has_projection = [isinstance(layer.readout, ReadoutProject) for layer in model.reassemble.layers]
    assert has_projection == [readout_type == "project"] * 4
    assert torch.isfinite(output.predicted_depth).all()


def test_hybrid_reassembles_the_resnet_stages() -> None:
    torch.manual_seed(0)
    config = DptConfig(backbone_kwargs=SMALL_HYBRID_VIT, position_embedding_size=64, backbone_out_indices=(0, 1, 2, 3),
                       reassemble_widths=(256, 512, 32, 32), fusion_features=16)
    model = DptForDepthEstimation(config).eval()
    with torch.no_grad():
        output = model(pixel_values=torch.rand(1, 3, 64, 96), output_hidden_states=True)
    assert output.predicted_depth.shape == (1, 64, 96)
    assert [tuple(h.shape) for h in output.hidden_states] == [(1, 256, 16, 24), (1, 512, 8, 12), (1, 25, 32), (1, 25, 32)]
    assert len(model.reassemble.layers) == 2  # only the two token levels have Reassemble layers
    with pytest.raises(ValueError, match="ResNet stage widths"):
        DptForDepthEstimation(DptConfig(**{**config.to_diff_dict(), "reassemble_widths": (8, 16, 32, 32)}))


def test_position_embeddings_are_resized_bilinearly_for_other_sizes() -> None:
    encoder = build().encoder
    table = encoder.backbone.pos_embed  # (1, 1 + 4*4, 32) for the tiny 64x64 ViT
    assert torch.equal(encoder.position_embeddings((4, 4)), table)
    resized = encoder.position_embeddings((30, 40))  # a 480x640 input
    grid = table[:, 1:].reshape(1, 4, 4, -1).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(30, 40), mode="bilinear", align_corners=False).flatten(2).transpose(1, 2)
    torch.testing.assert_close(resized, torch.cat([table[:, :1], expected], dim=1))


def test_losses_are_finite_and_ssi_ignores_scale_and_shift() -> None:
    generator = torch.Generator().manual_seed(0)
    labels = 1.0 + 8.0 * torch.rand(2, 64, 96, generator=generator)
    labels[:, :4, :4] = 0.0
    disparity = torch.rand(2, 64, 96, generator=generator, requires_grad=True)
    ssi = build(depth_estimation_type="relative")
    assert ssi.config.loss_type == "ssi"
    loss = ssi.loss_fn(disparity, disparity, labels)
    torch.testing.assert_close(ssi.loss_fn(3.0 * disparity + 0.7, disparity, labels), loss)
    silog = build()
    assert silog.config.loss_type == "silog"
    silog_loss = silog.loss_fn(disparity, silog.disparity_to_depth(1000 * disparity), labels)
    for value in (loss, silog_loss):
        assert torch.isfinite(value) and value > 0
        (gradient,) = torch.autograd.grad(value, disparity)
        assert torch.isfinite(gradient).all() and gradient.abs().sum() > 0
    pixels = torch.rand(2, 3, 64, 96)
    for model in (ssi, silog):
        assert torch.isfinite(model(pixel_values=pixels, labels=labels).loss)
    with pytest.raises(StrictDataclassClassValidationError, match="silog"):
        DptConfig.tiny(depth_estimation_type="relative", loss_type="silog")


def test_presets() -> None:
    hybrid, large, base, kitti = DptConfig.hybrid(), DptConfig.large(), DptConfig.base(), DptConfig.kitti()
    assert hybrid.to_dict() == DptConfig().to_dict()
    assert (hybrid.depth_estimation_type, hybrid.loss_type, hybrid.metric_scale, hybrid.metric_shift) == (
        "metric", "silog", 0.000305, 0.1378)
    assert (kitti.metric_scale, kitti.metric_shift, kitti.max_depth, kitti.gradient_matching_weight) == (
        0.00006016, 0.00579, 80.0, 0.0)
    assert (large.loss_type, base.loss_type, large.depth_estimation_type) == ("ssi", "ssi", "relative")
    kwargs = hybrid.image_processor_kwargs()
    assert kwargs["keep_aspect_ratio"] and kwargs["ensure_multiple_of"] == 32
    assert tuple(kwargs["image_mean"]) == tuple(kwargs["image_std"]) == (0.5, 0.5, 0.5)
    with pytest.raises(StrictDataclassClassValidationError, match="inference_size"):
        DptConfig(inference_size=(480, 630))


@pytest.mark.parametrize(
    ("preset", "frame", "network_input"),
    [
        ("hybrid", (480, 640), (480, 640)),  # DPT:run_monodepth.py dpt_hybrid_nyu: net 480x640, NYU frames unchanged
        ("kitti", (352, 1216), (352, 1216)),  # dpt_hybrid_kitti: net 352x1216, the KB crop unchanged
        ("large", (480, 640), (384, 512)),  # MiDaS-trained: 384 "minimal", aspect kept
        ("base", (352, 1216), (384, 1312)),  # 1216 * 384 / 352 = 1326.5, rounded to a multiple of 32
    ],
)
def test_each_preset_processes_at_its_reference_resolution(preset: str, frame: tuple, network_input: tuple) -> None:
    processor = DepthImageProcessor(**getattr(DptConfig, preset)().image_processor_kwargs())
    image = np.random.default_rng(0).integers(0, 256, (*frame, 3), dtype=np.uint8)
    assert tuple(processor(image, return_tensors="pt")["pixel_values"].shape[-2:]) == network_input
    with pytest.raises(ValueError, match="is_hybrid"):
        DptForDepthEstimation(DptConfig.tiny(is_hybrid=True, backbone_out_indices=(0, 1, 2, 3)))


def test_parameter_counts() -> None:
    counts = {}
    for name in ("hybrid", "large", "base"):
        with torch.device("meta"):
            model = DptForDepthEstimation(getattr(DptConfig, name)())
        counts[name] = sum(parameter.numel() for parameter in model.parameters())
    assert abs(counts["hybrid"] / 123e6 - 1) < 0.02, counts  # paper: 123 M (ours 121.2 M)
    assert abs(counts["large"] / 344e6 - 1) < 0.02, counts  # paper: 344 M (ours 341.9 M)
    assert counts["base"] == 109_697_921, counts  # not in the paper


def test_image_size_is_renamed_position_embedding_size_with_a_deprecation(tmp_path) -> None:
    # Saved configs hold the old name: they load under the new one without a warning.
    saved = DptConfig.tiny().to_dict()
    saved["image_size"] = saved.pop("position_embedding_size")
    assert DptConfig.from_dict(saved).position_embedding_size == 64
    # The old keyword in code still works for one release, with a FutureWarning naming the new one.
    with pytest.warns(FutureWarning, match="position_embedding_size"):
        config = DptConfig.tiny(image_size=96)
    assert config.position_embedding_size == 96 and "image_size" not in config.to_dict()
    assert config.image_processor_kwargs()["size"] == {"height": 96, "width": 96}


@pytest.mark.parametrize("std_plus_eps", [False, True])
def test_cached_weight_standardisation_matches_and_follows_weight_changes(std_plus_eps):
    torch.manual_seed(0)
    reference = StdConv2dSame(4, 6, kernel_size=3, stride=2)
    cached = nn.Sequential(copy.deepcopy(reference))
    use_cached_standardisation(cached, std_plus_eps)
    if std_plus_eps:  # the uncached timm 0.4.5 formula
        reference.eps = 1e-5
        reference.forward = lambda x: F.conv2d(
            pad_same(x, reference.kernel_size, reference.stride), StdPlusEpsConv2dSame.standardised_weight(reference),
            None, reference.stride,
        )
    x = torch.randn(2, 4, 9, 11)
    with torch.inference_mode():
        first, again = cached(x), cached(x)
        assert "_standardised_cache" in cached[0].__dict__
    torch.testing.assert_close(first, reference(x), rtol=0, atol=1e-6)
    assert torch.equal(first, again)
    with torch.no_grad():  # an in-place weight change (e.g. load_state_dict) invalidates the cache
        for module in (cached[0], reference):
            module.weight.mul_(torch.linspace(0.5, 2.0, 6).view(6, 1, 1, 1)).add_(0.1)
        torch.testing.assert_close(cached(x), reference(x), rtol=0, atol=1e-6)
    cached(x).sum().backward()  # training recomputes it, with gradients
    assert cached[0].weight.grad is not None and cached[0].weight.grad.abs().sum() > 0
