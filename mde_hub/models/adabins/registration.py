"""AdaBins's entry in the model registry (`mde_hub.models.registry`): presets, ONNX input size, model-card fields
and the paper's published numbers."""

from __future__ import annotations

from ..registry import PER_IMAGE_RAW, CardFields, ModelEntry, Preset, PublishedResult, register
from .configuration_adabins import AdaBinsConfig
from .modeling_adabins import AdaBinsForDepthEstimation

MODEL_TYPE = AdaBinsConfig.model_type

PUBLISHED = (
    PublishedResult(
        model=MODEL_TYPE,
        variant="EfficientNet-B5",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="AdaBins paper and mmsegmentation's AdaBins README (MODELS.md §4.6)",
        metrics={"delta1": 0.903, "delta2": 0.984, "delta3": 0.997, "abs_rel": 0.103, "rmse": 0.364, "log10": 0.044},
        notes=f"{PER_IMAGE_RAW}, flip TTA",
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="EfficientNet-B5",
        dataset="kitti",
        protocol="kitti_garg_adabins",
        source="AdaBins paper and mmsegmentation's AdaBins README (MODELS.md §4.6)",
        metrics={
            "delta1": 0.964,
            "delta2": 0.995,
            "delta3": 0.999,
            "abs_rel": 0.058,
            "sq_rel": 0.190,
            "rmse": 2.360,
            "rmse_log": 0.088,
        },
        notes="flip TTA; image and ground truth KB-cropped, Garg fractions of the 352x1216 cropped frame (AdaBins "
        "evaluate.py), a slightly smaller region than kitti_garg's",
    ),
)

ENTRY = register(
    ModelEntry(
        name="AdaBins",
        paper='Bhat, Alhashim & Wonka, "AdaBins: Depth Estimation using Adaptive Bins", CVPR 2021, arXiv:2011.14141',
        arxiv="2011.14141",
        config_class=AdaBinsConfig,
        model_class=AdaBinsForDepthEstimation,
        presets={
            "default": Preset(AdaBinsConfig, "nyu_depth_v2", "EfficientNet-B5, 480x640"),
            "tiny": Preset(AdaBinsConfig.tiny, None, "timm's test_efficientnet and a narrow head, for tests"),
            "kitti": Preset(AdaBinsConfig.kitti, "kitti", "EfficientNet-B5 at the 352x1216 KB crop"),
        },
        # Fixed at the processor's image_size, which every image is resized to anyway: the mini-ViT's token grid is
        # pooled to at most max_tokens tokens by a size computed with a square root, which the exporter cannot trace
        # symbolically.
        input_side_multiple=None,
        card=CardFields(
            summary_fields=("backbone", "backbone_kwargs", "n_bins", "patch_size", "embedding_dim", "image_size"),
            tags=("adabins",),
            reference_licence="GPL-3.0",
        ),
        published=PUBLISHED,
    )
)
