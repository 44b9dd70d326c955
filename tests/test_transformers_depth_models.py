"""Every one of transformers' depth model types runs in mde-hub: tiny random-weight instances of all eight, built from
their configs, are predicted by `DepthPredictor`, their output meaning is the one documented in
`mde_hub.models.depth_meaning.TRANSFORMERS_DEPTH_MODELS`, and `evaluate` scores them (relative ones aligned)."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers
from transformers import AutoModelForDepthEstimation
from transformers.image_processing_utils import BaseImageProcessor
from transformers.models.auto.modeling_auto import MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES

from mde_hub.data.sample import DepthSample
from mde_hub.evaluation.evaluate import evaluate
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.depth_meaning import TRANSFORMERS_DEPTH_MODELS, depth_meaning_of

T = transformers
HEIGHT, WIDTH = 64, 80  # GLPN's processor rounds each side down to a multiple of 32
_VIT = dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37)
_DINOV2 = dict(model_type="dinov2", image_size=28, patch_size=14, out_indices=[1, 2], reshape_hidden_states=False,
               hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
_ANYTHING = dict(backbone_config=_DINOV2, neck_hidden_sizes=[8, 16], reassemble_factors=[2, 1], reassemble_hidden_size=32,
                 fusion_hidden_size=16, head_hidden_size=8)
_DEPTH_PRO_ENCODER = dict(model_type="dinov2", num_hidden_layers=2, hidden_size=16, num_attention_heads=1, patch_size=4,
                          intermediate_size=32)


def _depth_pro(use_fov_model: bool = True) -> T.DepthProConfig:
    return T.DepthProConfig(
        patch_size=16, fusion_hidden_size=16, intermediate_hook_ids=[1, 0], intermediate_feature_dims=[10, 8],
        scaled_images_ratios=[0.5, 1.0], scaled_images_overlap_ratios=[0.0, 0.2], scaled_images_feature_dims=[12, 12],
        use_fov_model=use_fov_model, image_model_config=dict(_DEPTH_PRO_ENCODER),
        patch_model_config=dict(_DEPTH_PRO_ENCODER), fov_model_config=dict(_DEPTH_PRO_ENCODER),
    )


TINY: dict[str, tuple[Callable[[], object], Callable[[], BaseImageProcessor]]] = {
    "dpt": (
        lambda: T.DPTConfig(image_size=32, patch_size=16, backbone_out_indices=[0, 1, 2, 3],
                            neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, **_VIT),
        lambda: T.DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False),
    ),
    "depth_anything": (
        lambda: T.DepthAnythingConfig(**_ANYTHING),
        lambda: T.DPTImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=False),
    ),
    "prompt_depth_anything": (
        lambda: T.PromptDepthAnythingConfig(**_ANYTHING),
        lambda: T.PromptDepthAnythingImageProcessor(size={"height": 28, "width": 28}, keep_aspect_ratio=False),
    ),
    "glpn": (
        lambda: T.GLPNConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                             patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                             decoder_hidden_size=8, head_in_index=-1),
        lambda: T.GLPNImageProcessor(),
    ),
    "zoedepth": (
        lambda: T.ZoeDepthConfig(
            backbone_config=dict(model_type="beit", image_size=32, patch_size=16, out_indices=[1, 2, 3, 4],
                                 use_relative_position_bias=True, reshape_hidden_states=False, add_fpn=False, **_VIT),
            neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, bottleneck_features=16,
            num_attractors=[4, 4, 4, 4], bin_embedding_dim=8, num_relative_features=8,
            bin_configurations=[{"n_bins": 8, "min_depth": 0.001, "max_depth": 10.0}],
        ),
        lambda: T.ZoeDepthImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False),
    ),
    "depth_pro": (_depth_pro, lambda: T.DepthProImageProcessor(size={"height": 64, "width": 64})),
    "chmv2": (
        lambda: T.CHMv2Config(
            backbone_config=dict(model_type="dinov3_vit", image_size=32, patch_size=16, num_register_tokens=1,
                                 out_indices=[1, 2, 3, 4], reshape_hidden_states=True, apply_layernorm=True,
                                 return_class_token=True, **_VIT),
            patch_size=16, post_process_channels=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8,
            number_output_channels=16,
        ),
        lambda: T.CHMv2ImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False),
    ),
    "tipsv2_dpt": (
        lambda: T.Tipsv2DptConfig(
            backbone_config=dict(model_type="tipsv2_vision_model", image_size=28, patch_size=14,
                                 out_indices=[1, 2, 3, 4], apply_layernorm=True, reshape_hidden_states=False, **_VIT),
            neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, num_depth_bins=16,
        ),
        lambda: T.Tipsv2DptImageProcessor(size={"height": 28, "width": 28}),
    ),
}

# What each model type outputs, read from its modelling code (not from the table under test).
EXPECTED = {
    "dpt": "relative_inverse_depth",
    "depth_anything": "relative_inverse_depth",
    "prompt_depth_anything": "relative_depth",  # no prompt depth is passed
    "glpn": "metric_depth",
    "zoedepth": "metric_depth",
    "depth_pro": "metric_depth",
    "chmv2": "metric_depth",  # canopy height in metres
    "tipsv2_dpt": "metric_depth",
}


def _save(path, model_type: str, config=None) -> DepthPredictor:
    make_config, make_processor = TINY[model_type]
    torch.manual_seed(0)
    AutoModelForDepthEstimation.from_config(config or make_config()).save_pretrained(path)
    make_processor().save_pretrained(path)
    return DepthPredictor.from_pretrained(path)


def _samples(n: int = 2) -> list[DepthSample]:
    rng = np.random.default_rng(0)
    return [
        DepthSample.from_depth(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8),
                               rng.uniform(0.5, 5.0, (HEIGHT, WIDTH)).astype(np.float32), None, f"s{i}")
        for i in range(n)
    ]


def test_the_table_covers_every_depth_model_type_of_transformers() -> None:
    assert set(TRANSFORMERS_DEPTH_MODELS) == set(MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES) == set(TINY) == set(EXPECTED)
    for model_type, entry in TRANSFORMERS_DEPTH_MODELS.items():
        assert entry.meaning.kind == EXPECTED[model_type] and entry.why


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_predictor_runs_each_model_type_and_evaluate_scores_it(model_type, tmp_path) -> None:
    predictor = _save(tmp_path, model_type)
    assert predictor.meaning.kind == EXPECTED[model_type]
    samples = _samples()
    values = [prediction.values for prediction in predictor.predict_batch([s.image for s in samples])]
    assert all(v.shape == (HEIGHT, WIDTH) and v.dtype == np.float32 and np.isfinite(v).all() for v in values)
    if predictor.meaning.is_metric:
        result = evaluate(predictor, samples, protocol="none")
        # protocol "none": every valid pixel, predictions clipped to >= 1e-3, the mean over images of each image's mean
        by_hand = np.mean([np.mean(np.abs(np.maximum(v, 1e-3) - s.depth)[s.valid] / s.depth[s.valid])
                           for v, s in zip(values, samples)])
        assert result.metrics["abs_rel"] == pytest.approx(by_hand, rel=1e-4)
    else:
        with pytest.raises(ValueError, match="relative"):
            evaluate(predictor, samples, protocol="none")
        result = evaluate(predictor, samples, protocol="none", alignment="scale_shift")
        assert all(np.isfinite(value) for value in result.metrics.values())
    assert result.num_images == 2 and result.model["model_type"] == model_type


def test_depth_pro_turns_a_given_focal_into_its_field_of_view(tmp_path) -> None:
    predictor = _save(tmp_path / "fov", "depth_pro")
    image = _samples(1)[0].image
    near, far = predictor.predict(image, focal=100.0).values, predictor.predict(image, focal=200.0).values
    unclamped = (near < 1e3) & (far < 2e3)  # the processor clamps inverse depth to [1e-4, 1e4]
    assert unclamped.mean() > 0.5
    np.testing.assert_allclose(far[unclamped] / near[unclamped], 2.0, rtol=1e-4)  # depth = focal / canonical inverse
    estimated = predictor.predict(image).values  # its own field-of-view estimate: another focal, same shape
    assert not np.allclose(estimated, near) and np.isfinite(estimated).all()
    blind = _save(tmp_path / "no-fov", "depth_pro", _depth_pro(use_fov_model=False))
    np.testing.assert_allclose(blind.predict(image, focal=100.0).values.shape, (HEIGHT, WIDTH))
    with pytest.raises(ValueError, match="no-fov is a depth_pro model without a field-of-view head.*focal length"):
        blind.predict(image)


def test_config_declarations_and_unknown_types() -> None:
    assert depth_meaning_of(SimpleNamespace(model_type="depth_anything", depth_estimation_type="metric")).is_metric
    # Prompt Depth Anything reaches metres only through a prompt depth, which mde-hub never passes
    declared_metric = T.PromptDepthAnythingConfig(**_ANYTHING, depth_estimation_type="metric")
    assert depth_meaning_of(declared_metric).kind == "relative_depth"
    assert "canopy height" in depth_meaning_of(TINY["chmv2"][0]()).describe()
    with pytest.raises(ValueError, match=r"'marigold'.*known to mde-hub are chmv2, depth_anything"):
        depth_meaning_of(SimpleNamespace(model_type="marigold"))
