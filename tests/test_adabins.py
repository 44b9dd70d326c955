"""AdaBins-specific checks: encoder taps, adaptive bins, hybrid regression, token pooling, loss, size (the checks
every architecture shares are in test_architectures.py)."""

from __future__ import annotations

import logging

import pytest
import torch
import torch.nn.functional as F
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers.testing_utils import CaptureLogger

from mde_hub import AdaBinsConfig, AdaBinsForDepthEstimation
from mde_hub.models.adabins import AdaBinsDepthEstimatorOutput, modeling_adabins
from mde_hub.models.adabins.modeling_adabins import adaptive_bin_edges, hybrid_regression, pooled_token_grid
from mde_hub.models.losses import AdaBinsLoss


def tiny_model(seed: int = 0, **overrides) -> AdaBinsForDepthEstimation:
    torch.manual_seed(seed)
    return AdaBinsForDepthEstimation(AdaBinsConfig.tiny(**overrides)).eval()


@pytest.fixture(scope="module")
def full_meta_model() -> AdaBinsForDepthEstimation:
    with torch.device("meta"):
        return AdaBinsForDepthEstimation(AdaBinsConfig()).eval()


def embedding_input_shapes(model: AdaBinsForDepthEstimation) -> list[torch.Size]:
    """Record the shape of every input the mini-ViT's patch embedding sees."""
    shapes = []
    model.mini_vit.patch_transformer.embedding_conv.register_forward_pre_hook(lambda _, args: shapes.append(args[0].shape))
    return shapes


def test_encoder_taps_channels_and_strides(full_meta_model) -> None:
    assert full_meta_model.config.backbone == "tf_efficientnet_b5.ap_in1k"
    assert full_meta_model.encoder.channels == [24, 40, 64, 176, 2048]
    assert full_meta_model.encoder.strides == [2, 4, 8, 16, 32]
    model = tiny_model()
    assert model.encoder.channels == [16, 24, 32, 48, 256]
    assert model.encoder.strides == [2, 4, 8, 16, 32]
    with torch.no_grad():
        hidden = model(pixel_values=torch.rand(1, 3, 64, 96), output_hidden_states=True).hidden_states
    assert [tuple(h.shape[1:]) for h in hidden[:5]] == [(16, 32, 48), (24, 16, 24), (32, 8, 12), (48, 4, 6), (256, 2, 3)]
    assert tuple(hidden[5].shape[1:]) == (16, 32, 48)  # decoded features at H/2


def test_bin_edges_are_monotonic_and_span_the_depth_range() -> None:
    model = tiny_model()
    with torch.no_grad():
        output = model(pixel_values=torch.randn(2, 3, 64, 96))
    config = model.config
    assert isinstance(output, AdaBinsDepthEstimatorOutput)
    edges = output.bin_edges
    assert edges.shape == (2, config.n_bins + 1)
    assert (edges[:, 1:] > edges[:, :-1]).all()
    torch.testing.assert_close(edges[:, 0], torch.full((2,), config.min_depth), rtol=0, atol=1e-4)
    torch.testing.assert_close(edges[:, -1], torch.full((2,), config.max_depth), rtol=0, atol=1e-4)
    torch.testing.assert_close(output.bin_centers, (edges[:, 1:] + edges[:, :-1]) / 2)


def test_bins_and_depth_by_hand() -> None:
    edges = adaptive_bin_edges(torch.tensor([[0.25, 0.25, 0.5]]), min_depth=1.0, max_depth=5.0)
    torch.testing.assert_close(edges, torch.tensor([[1.0, 2.0, 3.0, 5.0]]))
    centres = torch.tensor([[1.5, 2.5, 4.0]])
    probabilities = torch.tensor([[0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]).T.reshape(1, 3, 1, 2)
    expected = torch.tensor([[[0.2 * 1.5 + 0.3 * 2.5 + 0.5 * 4.0, 1.5]]])
    torch.testing.assert_close(hybrid_regression(probabilities, centres), expected)


def test_predicted_depth_is_probability_weighted_bin_centres() -> None:
    model = tiny_model()
    logits = []
    model.conv_out.register_forward_hook(lambda _, __, out: logits.append(out))
    with torch.no_grad():
        output = model(pixel_values=torch.randn(1, 3, 64, 96))
    probabilities = torch.softmax(logits[0], dim=1)
    assert probabilities.shape == (1, model.config.n_bins, 32, 48)
    depth = sum(probabilities[:, k] * output.bin_centers[:, k, None, None] for k in range(model.config.n_bins))
    upsampled = F.interpolate(depth[:, None], size=(64, 96), mode="bilinear", align_corners=True)[:, 0]
    torch.testing.assert_close(output.predicted_depth, upsampled)


def test_paper_resolutions_need_no_token_pooling(full_meta_model) -> None:
    shapes = embedding_input_shapes(full_meta_model)
    with torch.no_grad():
        for size in [(480, 640), (352, 1216)]:
            output = full_meta_model(pixel_values=torch.zeros(1, 3, *size, device="meta"))
            assert output.predicted_depth.shape == (1, *size)
    assert [tuple(s[-2:]) for s in shapes] == [(240, 320), (176, 608)]  # 15x20 = 300 and 11x38 = 418 patches of 16
    assert pooled_token_grid(15, 20, 500) == (15, 20) and pooled_token_grid(11, 38, 500) == (11, 38)


def test_large_token_grids_are_pooled_with_one_warning() -> None:
    model = tiny_model()
    shapes = embedding_input_shapes(model)
    logging.Logger.warning_once.cache_clear()
    with CaptureLogger(modeling_adabins.logger) as captured, torch.no_grad():
        for _ in range(2):
            output = model(pixel_values=torch.rand(1, 3, 480, 640))
    assert captured.out.count("average-pooled to 19x25 tokens") == 1, captured.out
    assert "120x160 token grid" in captured.out
    assert output.predicted_depth.shape == (1, 480, 640)
    assert tuple(shapes[0]) == (1, 16, 38, 50)  # 19 x 25 = 475 <= 500 tokens of 2x2, aspect ratio kept
    assert pooled_token_grid(88, 304, 500) == (12, 41)  # 352x1216 with the tiny config
    with torch.no_grad():
        assert model(pixel_values=torch.rand(1, 3, 64, 96)) is not None  # 16x24 = 384 tokens: not pooled
    assert tuple(shapes[-1]) == (1, 16, 32, 48)


def test_too_few_tokens_and_bad_sizes_raise(full_meta_model) -> None:
    with pytest.raises(ValueError, match=r"at least 129 tokens.*384x384"):
        full_meta_model.check_input_size(torch.empty(1, 3, 256, 256, device="meta"))
    assert full_meta_model.check_input_size(torch.empty(1, 3, 384, 384, device="meta")) == (384, 384)
    with pytest.raises(ValueError, match="divisible by 32"):
        full_meta_model.check_input_size(torch.empty(1, 3, 480, 650, device="meta"))
    with pytest.raises(ValueError, match="at least 101 tokens"):
        tiny_model(n_query_channels=100)(pixel_values=torch.rand(1, 3, 32, 32))
    with pytest.raises(StrictDataclassClassValidationError, match="multiples of 32"):
        AdaBinsConfig(image_size=[480, 630])


def test_loss_is_adabins_loss_on_the_upsampled_prediction() -> None:
    model = tiny_model()
    pixels = torch.rand(2, 3, 64, 96)
    labels = 0.5 + 9 * torch.rand(2, 64, 96)
    labels[:, :5, :5] = 0.0
    with torch.no_grad():
        output = model(pixel_values=pixels, labels=labels)
        expected = AdaBinsLoss(0.1, 0.85, 10.0, min_depth=1e-3)(output.predicted_depth, labels, output.bin_centers)
        torch.testing.assert_close(output.loss, expected)
        low_res_labels = labels[:, ::2, ::2]  # labels at H/2: the prediction is brought to their size
        low_res = model(pixel_values=pixels, labels=low_res_labels)
    logits = []
    model.conv_out.register_forward_hook(lambda _, __, out: logits.append(out))
    with torch.no_grad():
        model(pixel_values=pixels)
    native = hybrid_regression(torch.softmax(logits[0], dim=1), output.bin_centers)
    expected = AdaBinsLoss()(native, low_res_labels, output.bin_centers)
    torch.testing.assert_close(low_res.loss, expected)


def test_positional_table_and_return_tuple() -> None:
    model = tiny_model()
    table = model.mini_vit.patch_transformer.positional_encodings
    assert table.shape == (500, 16) and table.min() >= 0 and table.max() < 1 and table.std() > 0.2
    with torch.no_grad():
        output = model(pixel_values=torch.rand(1, 3, 64, 96), return_dict=False)
    assert isinstance(output, tuple) and output[0].shape == (1, 64, 96) and output[1].shape == (1, 17)


def test_parameter_count_matches_the_paper(full_meta_model) -> None:
    def count(module: torch.nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    total = count(full_meta_model)
    assert abs(total - 78e6) / 78e6 < 0.02, total  # paper: ~78 M
    assert total == 78_257_328
    assert count(full_meta_model.encoder) == 28_340_784  # paper: 28 M (EfficientNet-B5 without classifier)
    assert count(full_meta_model.decoder) == 43_993_472  # paper: 44 M
    assert count(full_meta_model.mini_vit) + count(full_meta_model.conv_out) == 5_923_072  # paper: 5.8 M


def test_config_settings() -> None:
    config = AdaBinsConfig()
    assert (config.n_bins, config.min_depth, config.max_depth, config.bin_width_eps) == (256, 1e-3, 10.0, 0.1)
    kwargs = config.image_processor_kwargs()
    assert kwargs["size"] == {"height": 480, "width": 640} and kwargs["image_mean"] == [0.485, 0.456, 0.406]
    kitti = AdaBinsConfig.kitti()
    assert kitti.max_depth == 80.0 and kitti.image_processor_kwargs()["size"] == {"height": 352, "width": 1216}
