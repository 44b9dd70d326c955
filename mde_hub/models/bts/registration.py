"""BTS's entry in the model registry (`mde_hub.models.registry`): presets, ONNX input multiple, model-card fields
and the published numbers."""

from __future__ import annotations

from ..registry import KITTI_FULL_FRAME, PER_IMAGE_RAW, CardFields, ModelEntry, Preset, PublishedResult, register
from .configuration_bts import BtsConfig
from .modeling_bts import BtsForDepthEstimation

MODEL_TYPE = BtsConfig.model_type

PUBLISHED = (
    PublishedResult(
        model=MODEL_TYPE,
        variant="DenseNet-161",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="BTS README model zoo (MODELS.md §5.4)",
        metrics={
            "delta1": 0.885,
            "delta2": 0.978,
            "delta3": 0.994,
            "abs_rel": 0.110,
            "sq_rel": 0.066,
            "rmse": 0.392,
            "rmse_log": 0.142,
            "silog": 11.533,
            "log10": 0.047,
        },
        notes=f"{PER_IMAGE_RAW}, no flip TTA",
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="DenseNet-161",
        dataset="kitti",
        protocol="kitti_garg",
        source="BTS README model zoo (MODELS.md §5.4)",
        metrics={
            "delta1": 0.955,
            "delta2": 0.993,
            "delta3": 0.998,
            "abs_rel": 0.060,
            "sq_rel": 0.249,
            "rmse": 2.798,
            "rmse_log": 0.096,
        },
        notes=f"{KITTI_FULL_FRAME}; no flip TTA",
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="ResNeXt-101",
        dataset="kitti",
        protocol="kitti_garg",
        source="BTS row of the DPT and AdaBins papers (MODELS.md §5.4)",
        metrics={"delta1": 0.956, "abs_rel": 0.059, "sq_rel": 0.245, "rmse": 2.756, "rmse_log": 0.096},
        notes=f"{KITTI_FULL_FRAME}; no flip TTA; a ResNeXt-101 encoder, which mde-hub's BTS (DenseNet only) "
        "does not build",
    ),
)

ENTRY = register(
    ModelEntry(
        name="BTS",
        paper='Lee, Han, Ko & Suh, "From Big to Small: Multi-Scale Local Planar Guidance for Monocular Depth '
        'Estimation", arXiv:1907.10326',
        arxiv="1907.10326",
        config_class=BtsConfig,
        model_class=BtsForDepthEstimation,
        presets={
            "default": Preset(BtsConfig, "nyu_depth_v2", "DenseNet-161, 480x640"),
            "tiny": Preset(BtsConfig.tiny, None, "a two-layer-per-block DenseNet and a 32-wide decoder, for tests"),
            "kitti": Preset(BtsConfig.kitti, "kitti", "DenseNet-161 at the 352x1216 KB crop, focal scaling"),
        },
        input_side_multiple=32,  # a stride-32 encoder; the local planar guidance works per cell
        card=CardFields(
            summary_fields=("backbone", "backbone_kwargs", "bts_size", "focal_scaling", "image_size"),
            tags=("bts",),
            reference_licence="GPL-3.0",
        ),
        published=PUBLISHED,
    )
)
