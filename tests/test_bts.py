"""BTS-specific checks: encoder taps, local planar guidance, dense ASPP, focal scaling, loss, size (the checks every
architecture shares are in test_architectures.py)."""

from __future__ import annotations

import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from torch import nn

from mde_hub import BtsConfig, BtsForDepthEstimation, image_processor_for
from mde_hub.models.bts.modeling_bts import AtrousConv, LocalPlanarGuidance, Reduction1x1
from mde_hub.models.losses import SILogLoss, silog_loss

PAPER_PARAMETERS = 47.0e6  # BTS README model zoo: DenseNet-161 BTS


def tiny_model(seed: int = 0, **overrides) -> BtsForDepthEstimation:
    torch.manual_seed(seed)
    return BtsForDepthEstimation(BtsConfig.tiny(**overrides)).eval()


def full_model_on_meta() -> BtsForDepthEstimation:
    with torch.device("meta"):
        return BtsForDepthEstimation(BtsConfig())


def test_full_model_parameter_count_matches_the_paper() -> None:
    count = sum(p.numel() for p in full_model_on_meta().parameters())
    assert abs(count - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.02, count


def test_encoder_tap_channels_and_strides() -> None:
    encoder = full_model_on_meta().encoder
    assert encoder.channels == [96, 96, 192, 384, 2208] and encoder.strides == [2, 4, 8, 16, 32]
    model = tiny_model()
    with torch.no_grad():
        features = model.encoder(torch.rand(1, 3, 64, 96))
    assert [f.shape[1] for f in features] == model.encoder.channels
    assert [tuple(f.shape[-2:]) for f in features] == [(64 // s, 96 // s) for s in (2, 4, 8, 16, 32)]
    assert (features[0] >= 0).all() and (features[-1] >= 0).all()  # relu0 and relu(norm5)


def test_lpg_fronto_parallel_plane_gives_constant_depth() -> None:
    plane = torch.tensor([0.0, 0.0, 1.0, 3.5]).view(1, 4, 1, 1).expand(2, 4, 2, 3)
    depth = LocalPlanarGuidance(8)(plane)
    assert depth.shape == (2, 16, 24)
    torch.testing.assert_close(depth, torch.full_like(depth, 3.5))


def test_lpg_tilted_plane_follows_the_cell_offsets() -> None:
    # k = 2: u = (j - 0.5) / 2 = -0.25, +0.25 for the cell's columns j (v likewise for rows).
    plane_u = torch.tensor([0.6, 0.0, 0.8, 2.0]).view(1, 4, 1, 1).expand(1, 4, 2, 2)
    depth = LocalPlanarGuidance(2)(plane_u)[0]
    expected_row = torch.tensor([2 / 0.65, 2 / 0.95] * 2)  # 2 / (0.6 u + 0.8)
    torch.testing.assert_close(depth, expected_row.expand(4, 4))

    plane_v = torch.tensor([0.0, 0.6, 0.8, 2.0]).view(1, 4, 1, 1)
    torch.testing.assert_close(LocalPlanarGuidance(2)(plane_v)[0], torch.tensor([[2 / 0.65] * 2, [2 / 0.95] * 2]))

    # k = 4: inverse depth is linear in u and v, u = (j - 1.5) / 4.
    n1, n2, n3, n4 = 0.3, -0.2, math.sqrt(1 - 0.13), 5.0
    depth = LocalPlanarGuidance(4)(torch.tensor([n1, n2, n3, n4]).view(1, 4, 1, 1))[0]
    offsets = (torch.arange(4.0) - 1.5) / 4
    expected = n4 / (n1 * offsets[None, :] + n2 * offsets[:, None] + n3)
    torch.testing.assert_close(depth, expected)


def test_reduction_gives_unit_normals_and_bounded_distance() -> None:
    torch.manual_seed(0)
    reduction = Reduction1x1(16, 16, max_depth=10.0)
    plane = reduction(10 * torch.randn(2, 16, 4, 4))
    assert plane.shape == (2, 4, 4, 4)
    torch.testing.assert_close(plane[:, :3].norm(dim=1), torch.ones(2, 4, 4))
    assert (plane[:, 2] >= 0.5 - 1e-6).all()  # theta <= pi / 3
    assert (plane[:, 3] > 0).all() and (plane[:, 3] < 10).all()
    final = Reduction1x1(32, 16, max_depth=10.0, is_final=True)
    assert [m.out_channels for m in final.modules() if isinstance(m, nn.Conv2d)] == [16, 8, 1]


def test_reduction_widths_of_the_full_model() -> None:
    decoder = full_model_on_meta().decoder
    widths = {
        name: [m.out_channels for m in getattr(decoder, name).modules() if isinstance(m, nn.Conv2d)]
        for name in ("reduc8x8", "reduc4x4", "reduc2x2", "reduc1x1")
    }
    assert widths == {
        "reduc8x8": [128, 64, 32, 16, 8, 3],
        "reduc4x4": [64, 32, 16, 8, 3],
        "reduc2x2": [32, 16, 8, 3],
        "reduc1x1": [16, 8, 1],
    }


def test_dense_aspp_dilations_and_dense_inputs() -> None:
    daspp = full_model_on_meta().decoder.daspp
    convs = [branch.conv for branch in daspp.branches]
    assert [c.dilation for c in convs] == [(d, d) for d in (3, 6, 12, 18, 24)]
    assert [c.padding for c in convs] == [(d, d) for d in (3, 6, 12, 18, 24)]
    assert all(c.out_channels == 128 and c.kernel_size == (3, 3) for c in convs)
    assert [branch.reduce.in_channels for branch in daspp.branches] == [256, 576, 704, 832, 960]
    assert [branch.reduce.out_channels for branch in daspp.branches] == [256] * 5
    assert not hasattr(daspp.branches[0], "norm_in") and all(hasattr(b, "norm_in") for b in daspp.branches[1:])
    assert daspp.daspp_conv[0].in_channels == 896 and daspp.daspp_conv[0].out_channels == 128


def test_atrous_branch_keeps_the_resolution() -> None:
    branch = AtrousConv(8, 4, dilation=6)
    assert branch(torch.rand(1, 8, 5, 7)).shape == (1, 4, 5, 7)


def test_focal_scaling() -> None:
    pixels = torch.rand(2, 3, 64, 96)
    focal = torch.tensor([2 * 715.0873, 715.0873])  # BTS:pytorch/bts.py divides by 715.0873
    with torch.no_grad():
        plain = tiny_model()(pixel_values=pixels).predicted_depth
        ignored = tiny_model()(pixel_values=pixels, focal=focal).predicted_depth
        kitti = tiny_model(focal_scaling=True)
        scaled = kitti(pixel_values=pixels, focal=focal).predicted_depth
        unscaled = kitti(pixel_values=pixels).predicted_depth
    torch.testing.assert_close(ignored, plain)
    torch.testing.assert_close(unscaled, plain)
    torch.testing.assert_close(scaled, plain * torch.tensor([2.0, 1.0]).view(2, 1, 1))


def test_loss_is_silog_on_ground_truth_above_the_loss_min_depth() -> None:
    model = tiny_model()
    pixels = torch.rand(2, 3, 64, 96)
    labels = 0.05 + 9.0 * torch.rand(2, 64, 96)
    labels[:, :8] = 0.08  # valid for the 1e-3 threshold, not for BTS's 0.1 m
    labels[0, -4:] = 0.0
    with torch.no_grad():
        output = model(pixel_values=pixels, labels=labels)
    expected = silog_loss(output.predicted_depth, labels, labels > 0.1, variance_focus=0.85, scale=10.0)
    torch.testing.assert_close(output.loss, expected)
    torch.testing.assert_close(output.loss, SILogLoss(0.85, 10.0, min_depth=0.1)(output.predicted_depth, labels))
    assert not torch.isclose(output.loss, SILogLoss(0.85, 10.0)(output.predicted_depth, labels))


def test_hidden_states_are_the_taps_then_the_lpg_maps() -> None:
    model = tiny_model()
    with torch.no_grad():
        output = model(pixel_values=torch.rand(1, 3, 64, 96), output_hidden_states=True)
    assert len(output.hidden_states) == 9
    assert all(h.shape == (1, 1, 64, 96) for h in output.hidden_states[5:])


def test_training_recipe_helpers() -> None:
    model = tiny_model()
    model.freeze_encoder_layers()
    features = model.encoder.backbone.features
    assert not features.conv0.weight.requires_grad and not features.norm5.weight.requires_grad
    assert features.transition1.conv.weight.requires_grad
    encoder_group, decoder_group = model.optimizer_parameter_groups(weight_decay=1e-2)
    assert encoder_group["weight_decay"] == 1e-2 and decoder_group["weight_decay"] == 0.0
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert sum(p.numel() for p in encoder_group["params"] + decoder_group["params"]) == trainable


def test_kitti_setting_and_image_processor() -> None:
    kitti = BtsConfig.kitti()
    assert (kitti.max_depth, kitti.loss_min_depth, kitti.focal_scaling) == (80.0, 1.0, True)
    assert image_processor_for(kitti).size == {"height": 352, "width": 1216}
    processor = image_processor_for(BtsConfig())
    assert processor.size == {"height": 480, "width": 640} and processor.ensure_multiple_of == 32
    assert processor.image_mean == pytest.approx([0.485, 0.456, 0.406])
    with pytest.raises(StrictDataclassClassValidationError, match="multiples of 32"):
        BtsConfig(image_size=[480, 630])
    with pytest.raises(StrictDataclassClassValidationError, match="DenseNet"):
        BtsConfig(backbone="resnet50")
