"""DenseDepth's entry in the model registry (`mde_hub.models.registry`): presets, ONNX input multiple, model-card
fields and the paper's published numbers."""

from __future__ import annotations

from ..registry import CardFields, ModelEntry, Preset, PublishedResult, register
from .configuration_densedepth import DenseDepthConfig
from .modeling_densedepth import DenseDepthForDepthEstimation

MODEL_TYPE = DenseDepthConfig.model_type

PUBLISHED = (
    PublishedResult(
        model=MODEL_TYPE,
        variant="DenseNet-169",
        dataset="nyu_depth_v2",
        protocol="nyu_densedepth",
        source="DenseDepth paper, as tabulated by third parties (MODELS.md §2.5)",
        metrics={"delta1": 0.846, "delta2": 0.974, "delta3": 0.994, "abs_rel": 0.123, "rmse": 0.465, "log10": 0.053},
        notes="in-painted (dense) ground truth, all pixels pooled, flip TTA; AbsRel divides by the prediction "
        "(DenseDepth's swapped compute_errors arguments), as nyu_densedepth's abs_rel does (abs_rel_standard is the "
        "usual one)",
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="DenseNet-169",
        dataset="kitti",
        protocol="kitti_garg",
        source="DenseDepth paper table (MODELS.md §2.5)",
        metrics={
            "delta1": 0.886,
            "delta2": 0.965,
            "delta3": 0.986,
            "abs_rel": 0.093,
            "sq_rel": 0.589,
            "rmse": 4.170,
            "rmse_log": 0.171,
        },
        notes="[unverified]: numbers recorded from memory; DenseDepth's repository has no KITTI evaluation code "
        "(evaluate.py and utils.py evaluate() score only NYU's nyu_test.zip), so its crop, frame and cap are "
        "undocumented and kitti_garg is only the papers' usual protocol; trained on in-painted LiDAR depth",
    ),
)

ENTRY = register(
    ModelEntry(
        name="DenseDepth",
        paper='Alhashim & Wonka, "High Quality Monocular Depth Estimation via Transfer Learning", arXiv:1812.11941',
        arxiv="1812.11941",
        config_class=DenseDepthConfig,
        model_class=DenseDepthForDepthEstimation,
        presets={
            "default": Preset(DenseDepthConfig, "nyu_depth_v2", "the released Keras model: DenseNet-169, 480x640"),
            "tiny": Preset(DenseDepthConfig.tiny, None, "a two-layer-per-block DenseNet, for tests"),
        },
        input_side_multiple=32,  # a stride-32 encoder
        card=CardFields(
            summary_fields=(
                "backbone", "backbone_kwargs", "decoder_width_factor", "leaky_relu_after_conv_a",
                "upsample_align_corners", "output_clip", "image_size",
            ),
            tags=("densedepth",),
            reference_licence="GPL-3.0",
        ),
        published=PUBLISHED,
    )
)
