"""DenseDepth specifics: taps, decoder widths, DepthNorm, the full-resolution up-sampling, the half-resolution loss
and parameter counts (the checks every architecture shares are in test_architectures.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassClassValidationError

from mde_hub import DenseDepthConfig, DenseDepthForDepthEstimation, image_processor_for
from mde_hub.models.densedepth.configuration_densedepth import FIELDS_BEFORE_RELEASED_GRAPH
from mde_hub.models.densedepth.modeling_densedepth import masked_average_pool2x2, upsample2x_reflect
from mde_hub.models.losses import DenseDepthLoss

PAPER_PARAMETERS = 42.6e6
RELEASED_PARAMETERS = 42_657_689  # nyu.h5/kitti.h5: DenseNet-169 features 12,484,480 + full-width decoder
KERAS_HALF_WIDTH_PARAMETERS = 21_365_405  # the authors' later default: + half-width decoder 8,880,925


def build_on_meta(**overrides) -> DenseDepthForDepthEstimation:
    with torch.device("meta"):
        return DenseDepthForDepthEstimation(DenseDepthConfig(**overrides))


def tiny_model(seed: int = 0, **overrides) -> DenseDepthForDepthEstimation:
    torch.manual_seed(seed)
    return DenseDepthForDepthEstimation(DenseDepthConfig.tiny(**overrides)).eval()


def regressed(model: DenseDepthForDepthEstimation, pixels: torch.Tensor) -> torch.Tensor:
    """The decoder's native output y (batch, H/2, W/2)."""
    return model.decoder(model.encoder(pixels))[0][:, 0]


@pytest.mark.parametrize(
    "model, channels",
    [
        (lambda: build_on_meta(), [64, 64, 128, 256, 1664]),
        (lambda: tiny_model(), [16, 16, 16, 16, 32]),
    ],
    ids=["full-meta", "tiny"],
)
def test_tap_channels_and_strides(model, channels: list[int]) -> None:
    model = model()
    assert model.encoder.taps == [
        "features.norm0", "features.pool0", "features.transition1", "features.transition2", "features.norm5"
    ]
    assert model.encoder.channels == channels
    device = next(model.parameters()).device
    with torch.no_grad():
        features = model.encoder(torch.zeros(1, 3, 64, 96, device=device))
    assert [feature.shape[1] for feature in features] == channels
    assert [64 // feature.shape[2] for feature in features] == [2, 4, 8, 16, 32]
    assert [96 // feature.shape[3] for feature in features] == [2, 4, 8, 16, 32]


@pytest.mark.parametrize("factor, widths", [(1.0, [1664, 832, 416, 208, 104]), (0.5, [832, 416, 208, 104, 52])])
def test_decoder_widths(factor: float, widths: list[int]) -> None:
    decoder = build_on_meta(decoder_width_factor=factor).decoder
    assert (decoder.conv2.in_channels, decoder.conv2.kernel_size) == (1664, (1, 1))
    blocks = decoder.upsample_blocks
    assert [decoder.conv2.out_channels] + [block.convs[-2].out_channels for block in blocks] == widths
    assert [block.convs[0].in_channels for block in blocks] == [
        widths[0] + 256, widths[1] + 128, widths[2] + 64, widths[3] + 64
    ]
    assert (decoder.conv3.in_channels, decoder.conv3.out_channels, decoder.conv3.kernel_size) == (widths[-1], 1, (3, 3))


def test_default_is_the_released_graph_and_the_later_one_is_reachable() -> None:
    released = build_on_meta()
    assert released.config.decoder_width_factor == 1.0 and released.config.output_clip == "depth"
    for block in released.decoder.upsample_blocks:  # LeakyReLU after convB only; corners aligned
        assert isinstance(block.convs[1], torch.nn.Identity) and block.convs[3].negative_slope == 0.2
        assert block.align_corners
    batch_norms = [m for m in released.encoder.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(batch_norms) == 1 + 2 * (6 + 12 + 32 + 32) + 3 + 1 and {m.eps for m in batch_norms} == {1.001e-5}
    later = build_on_meta(**FIELDS_BEFORE_RELEASED_GRAPH)
    for block in later.decoder.upsample_blocks:
        assert block.convs[1].negative_slope == 0.2 and block.convs[3].negative_slope == 0.2
        assert not block.align_corners
    assert {m.eps for m in later.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)} == {1e-5}
    # the same weights either way: a checkpoint of one graph loads into the other
    assert released.state_dict().keys() == build_on_meta(leaky_relu_after_conv_a=True).state_dict().keys()


def test_saved_configs_without_the_graph_fields_keep_the_earlier_graph(tmp_path) -> None:
    DenseDepthConfig.tiny().save_pretrained(tmp_path / "now")
    assert DenseDepthConfig.from_pretrained(tmp_path / "now").to_dict() == DenseDepthConfig.tiny().to_dict()
    saved = DenseDepthConfig.tiny().to_dict()
    for key in FIELDS_BEFORE_RELEASED_GRAPH:
        saved.pop(key)
    old = DenseDepthConfig.from_dict(saved)
    assert {key: getattr(old, key) for key in FIELDS_BEFORE_RELEASED_GRAPH} == FIELDS_BEFORE_RELEASED_GRAPH
    overridden = DenseDepthConfig.from_dict(saved, output_clip="depth")
    assert overridden.output_clip == "depth" and overridden.leaky_relu_after_conv_a
    with pytest.raises(StrictDataclassClassValidationError, match="output_clip"):
        DenseDepthConfig(output_clip="y")
    with pytest.raises(StrictDataclassClassValidationError, match="upsample_output_border.*'zeros'"):
        DenseDepthConfig(upsample_output_border="zeros")
    DenseDepthConfig.tiny(upsample_output_border="replicate").save_pretrained(tmp_path / "replicate")
    assert DenseDepthConfig.from_pretrained(tmp_path / "replicate").upsample_output_border == "replicate"
    assert DenseDepthConfig.from_pretrained(tmp_path / "now").upsample_output_border == "reflect"


def test_kitti_preset_is_the_released_kitti_model() -> None:
    config = DenseDepthConfig.kitti()
    assert (config.min_depth, config.max_depth, tuple(config.image_size)) == (1.0, 80.0, (384, 1248))
    assert config.decoder_width_factor == 1.0 and not config.leaky_relu_after_conv_a
    assert image_processor_for(config).size == {"height": 384, "width": 1248}


def test_native_output_is_half_resolution_and_predicted_depth_full() -> None:
    model = tiny_model()
    pixels = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        assert regressed(model, pixels).shape == (2, 32, 48)
        output = model(pixel_values=pixels, output_hidden_states=True)
    assert output.predicted_depth.shape == (2, 64, 96)
    assert len(output.hidden_states) == 10  # 5 encoder taps, conv2 and up1..up4


def mirror_index(k: int, n: int) -> int:
    """Index k of n pixels mirrored about the border pixels: -1 -> 1, n -> n - 2."""
    return -k if k < 0 else 2 * (n - 1) - k if k >= n else k


def linear_taps(i: int, n: int) -> list[tuple[int, float]]:
    """Input pixels and weights of output pixel i when n pixels are up-sampled 2x: coordinate (i + 0.5) / 2 - 0.5."""
    coordinate = (i + 0.5) / 2 - 0.5
    left = math.floor(coordinate)
    return [(mirror_index(left, n), 1 - (coordinate - left)), (mirror_index(left + 1, n), coordinate - left)]


def mirrored_upsample2x(values: np.ndarray) -> np.ndarray:
    """Linear 2x up-sampling of (..., h, w) maps mirrored about the border pixels (skimage's `resize(order=1,
    mode="reflect")`, the authors' `scale_up(2, ...)`), pixel by pixel in float64."""
    *batch, height, width = values.shape
    upsampled = np.zeros((*batch, 2 * height, 2 * width))
    for i in range(2 * height):
        for j in range(2 * width):
            for row, row_weight in linear_taps(i, height):
                for column, column_weight in linear_taps(j, width):
                    upsampled[..., i, j] += row_weight * column_weight * values[..., row, column]
    return upsampled


def test_upsample2x_reflect_hand_worked() -> None:
    # columns -0.25, 0.25, 0.75, 1.25 read [x1, x0], [x0, x1], [x0, x1], [x1, x0] with weights 1/4, 3/4 or 3/4, 1/4:
    # row [0, 4] -> [1, 1, 3, 3], row [8, 12] -> [9, 9, 11, 11]; rows likewise
    values = torch.tensor([[[0.0, 4.0], [8.0, 12.0]]])
    mirrored = [[3.0, 3.0, 5.0, 5.0], [3.0, 3.0, 5.0, 5.0], [7.0, 7.0, 9.0, 9.0], [7.0, 7.0, 9.0, 9.0]]
    torch.testing.assert_close(upsample2x_reflect(values), torch.tensor([mirrored]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(mirrored_upsample2x(values.numpy()), [mirrored], rtol=0, atol=1e-12)
    # torch's resize repeats the border pixel instead (the columns read [x0, x0] first)
    repeated = [[0.0, 1.0, 3.0, 4.0], [2.0, 3.0, 5.0, 6.0], [6.0, 7.0, 9.0, 10.0], [8.0, 9.0, 11.0, 12.0]]
    torch.testing.assert_close(DenseDepthForDepthEstimation.resize_prediction(values, (4, 4)), torch.tensor([repeated]))


def test_upsample2x_reflect_equals_the_per_pixel_formula() -> None:
    values = torch.rand(2, 5, 7, generator=torch.Generator().manual_seed(0)) * 10
    np.testing.assert_allclose(upsample2x_reflect(values).numpy(), mirrored_upsample2x(values.numpy()), atol=1e-5)


def test_predicted_depth_is_the_half_resolution_depth_mirrored_up() -> None:
    model = tiny_model()
    with torch.no_grad():
        model.decoder.conv3.weight *= 300  # y around 20 and spread: a depth that varies up to the border
        model.decoder.conv3.bias.fill_(20.0)
        pixels = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
        depth = model.inverse_depth_norm(regressed(model, pixels))
        predicted = model(pixel_values=pixels).predicted_depth
    assert model.config.upsample_output_border == "reflect" and depth.std() > 0.01
    np.testing.assert_allclose(predicted.numpy(), mirrored_upsample2x(depth.numpy()), atol=1e-5)


def test_saved_configs_without_the_border_field_repeat_the_border() -> None:
    saved = DenseDepthConfig.tiny().to_dict()
    saved.pop("upsample_output_border")
    old = DenseDepthConfig.from_dict(saved)
    assert old.upsample_output_border == "replicate" and old.output_clip == "depth"  # only the missing field
    torch.manual_seed(0)
    model = DenseDepthForDepthEstimation(old).eval()
    pixels = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        depth = model.inverse_depth_norm(regressed(model, pixels))
        repeated = F.interpolate(depth[:, None], size=(64, 96), mode="bilinear", align_corners=False)[:, 0]
        assert torch.equal(model(pixel_values=pixels).predicted_depth, repeated)  # torch's resize, as before


def test_labels_must_have_the_inputs_size() -> None:
    model = tiny_model()
    with pytest.raises(ValueError, match="input's size 64x96"):
        model(pixel_values=torch.rand(1, 3, 64, 96), labels=torch.rand(1, 32, 48))


def test_depth_norm_round_trip_and_clipping() -> None:
    model = tiny_model()
    labels = torch.tensor([[[0.05, 0.1, 0.5, 1.0], [2.5, 10.0, 20.0, 0.0]]]).repeat(1, 2, 1)
    target, mask = model.prepare_targets(labels)
    assert target[mask].min() >= 1 and target[mask].max() <= 100
    depth = torch.linspace(0.1, 10.0, 50)
    torch.testing.assert_close(model.inverse_depth_norm(model.depth_norm(depth)), depth)
    clipped = model.depth_norm(torch.tensor([0.01, 0.1, 1.0, 10.0, 80.0]))
    torch.testing.assert_close(clipped, torch.tensor([100.0, 100, 10, 1, 1]))
    pixels = torch.rand(1, 3, 64, 96)
    # y far above 100, just above 0, far below 1 and below 0: the released mapping clips the depth (a negative y
    # gives the near limit, as the authors' predict); the earlier one clips y (a non-positive y gives the far limit).
    cases = {"depth": [(1e4, 0.1), (1e-6, 10.0), (0.5, 10.0), (-1e4, 0.1)],
             "regressed": [(1e4, 0.1), (1e-6, 10.0), (0.5, 10.0), (-1e4, 10.0)]}
    for output_clip, expected_depths in cases.items():
        model = tiny_model(output_clip=output_clip)
        with torch.no_grad():
            model.decoder.conv3.weight.zero_()
            for bias, expected in expected_depths:
                model.decoder.conv3.bias.fill_(bias)
                depth = model(pixel_values=pixels).predicted_depth
                torch.testing.assert_close(depth, torch.full_like(depth, expected), msg=f"{output_clip}, y={bias}")


def test_masked_average_pool2x2_hand_worked() -> None:
    values = torch.tensor([[[1.0, 3.0, 5.0, float("nan")], [5.0, 7.0, 0.0, 0.0]]])
    mask = torch.tensor([[[True, True, True, False], [True, True, False, False]]])
    pooled, pooled_mask = masked_average_pool2x2(values, mask)
    torch.testing.assert_close(pooled, torch.tensor([[[4.0, 5.0]]]))  # (1+3+5+7)/4, then the only valid pixel 5
    assert pooled_mask.tolist() == [[[True, True]]]
    _, empty = masked_average_pool2x2(values, torch.zeros_like(mask))
    assert empty.tolist() == [[[False, False]]]


def test_loss_equals_densedepth_loss_on_hand_prepared_targets() -> None:
    model = tiny_model().train()
    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 64, 96, generator=generator)
    labels = 0.5 + 9 * torch.rand(2, 64, 96, generator=generator)
    labels[0, 0, 0] = 0.0  # one invalid pixel: its 2x2 cell averages the other three
    labels[1, 10:12, 20:22] = float("nan")  # a whole invalid cell
    y = 10.0 / labels
    cells = y.reshape(2, 32, 2, 48, 2)
    target = cells.nanmean(dim=(2, 4))
    target[0, 0, 0] = (y[0, 0, 1] + y[0, 1, 0] + y[0, 1, 1]) / 3
    mask = torch.isfinite(target)
    target = torch.nan_to_num(target)
    loss = model(pixel_values=pixels, labels=labels).loss
    expected = DenseDepthLoss(value_range=100.0)(regressed(model, pixels), target, mask)
    torch.testing.assert_close(loss, expected)
    prepared, prepared_mask = model.prepare_targets(labels)
    assert torch.equal(prepared_mask, mask)
    torch.testing.assert_close(prepared[mask], target[mask])


def test_parameter_counts() -> None:
    released = sum(p.numel() for p in build_on_meta().parameters())
    assert abs(released - PAPER_PARAMETERS) / PAPER_PARAMETERS < 0.02, released
    assert released == RELEASED_PARAMETERS
    assert sum(p.numel() for p in build_on_meta(decoder_width_factor=0.5).parameters()) == KERAS_HALF_WIDTH_PARAMETERS


def test_image_processor_is_rgb_over_255_at_480x640() -> None:
    kwargs = DenseDepthConfig().image_processor_kwargs()
    assert kwargs["size"] == {"height": 480, "width": 640} and kwargs["do_normalize"] is False
    processor = image_processor_for(DenseDepthConfig())
    image = torch.randint(0, 256, (3, 480, 640), dtype=torch.uint8)
    pixels = processor(image, return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(pixels[0], image.float() / 255)
    with pytest.raises(StrictDataclassClassValidationError, match="multiples of 32"):
        DenseDepthConfig(image_size=[480, 650])
