"""DPT's entry in the model registry (`mde_hub.models.registry`): presets, ONNX input multiple, model-card fields
and the paper's published numbers."""

from __future__ import annotations

from ..registry import KITTI_FULL_FRAME, PER_IMAGE_RAW, CardFields, ModelEntry, Preset, PublishedResult, register
from .configuration_dpt import DptConfig
from .modeling_dpt import DptForDepthEstimation

MODEL_TYPE = DptConfig.model_type
_NYU_480x640 = f"{PER_IMAGE_RAW}, 480x640 network input, no flip TTA"

PUBLISHED = (
    PublishedResult(
        model=MODEL_TYPE,
        variant="DPT-Hybrid",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="DPT paper, Table 2 (MODELS.md §3.5)",
        metrics={"delta1": 0.904, "delta2": 0.988, "delta3": 0.998, "abs_rel": 0.110, "rmse": 0.357, "log10": 0.045},
        notes=_NYU_480x640,
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="DPT-Hybrid",
        dataset="nyu_depth_v2",
        protocol="nyu_eigen",
        source="DPT repository re-run, EVALUATION.md (MODELS.md §3.5)",
        metrics={"abs_rel": 0.109, "sq_rel": 0.054, "rmse_log": 0.129, "silog": 9.521},
        notes=_NYU_480x640,
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="DPT-Hybrid",
        dataset="kitti",
        protocol="kitti_garg",
        source="DPT paper, Table 3 (MODELS.md §3.5)",
        metrics={"delta1": 0.959, "delta2": 0.995, "delta3": 0.999, "abs_rel": 0.062, "rmse": 2.573, "rmse_log": 0.092},
        notes=f"{KITTI_FULL_FRAME}; no flip TTA",
    ),
    PublishedResult(
        model=MODEL_TYPE,
        variant="DPT-Hybrid",
        dataset="kitti",
        protocol="kitti_garg",
        source="DPT repository re-run, EVALUATION.md (MODELS.md §3.5)",
        metrics={"rmse": 2.575, "sq_rel": 0.222, "log10": 0.027, "silog": 8.282},
        notes=f"{KITTI_FULL_FRAME}; no flip TTA",
    ),
)


def output_constants(config: DptConfig) -> str:
    """A metric DPT's inverse-depth constants and the largest depth they allow, for its model card."""
    largest = f"{1 / config.metric_shift:g}" if config.metric_shift else "∞"
    return (
        f"Its output constants are s = {config.metric_scale:g} and t = {config.metric_shift:g}: "
        f"depth = 1 / (s · out + t), at most 1 / t = {largest} m."
    )


ENTRY = register(
    ModelEntry(
        name="DPT",
        paper='Ranftl, Bochkovskiy & Koltun, "Vision Transformers for Dense Prediction", ICCV 2021, arXiv:2103.13413',
        arxiv="2103.13413",
        config_class=DptConfig,
        model_class=DptForDepthEstimation,
        presets={
            "default": Preset(DptConfig, "nyu_depth_v2", "DPT-Hybrid fine-tuned on NYU (as hybrid)"),
            "hybrid": Preset(DptConfig.hybrid, "nyu_depth_v2", "DPT-Hybrid fine-tuned on NYU, run at 480x640"),
            "kitti": Preset(DptConfig.kitti, "kitti", "DPT-Hybrid fine-tuned on KITTI, run at the 352x1216 KB crop"),
            "large": Preset(DptConfig.large, None, "DPT-Large (ViT-L/16), MiDaS-trained as released"),
            "base": Preset(DptConfig.base, None, "DPT-Base (ViT-B/16), MiDaS-trained"),
            "tiny": Preset(DptConfig.tiny, None, "a 4-block ViT with 32-d tokens, for tests"),
        },
        # Any multiple of 32; the position embeddings are resized inside the graph. It must be dynamic: DPT's
        # processor keeps the aspect ratio, so the input size follows the image.
        input_side_multiple=32,
        card=CardFields(
            summary_fields=(
                "backbone", "backbone_kwargs", "is_hybrid", "backbone_out_indices", "readout_type", "position_embedding_size",
                "inference_size",
            ),
            tags=("dpt",),
            reference_licence="MIT",
            output_note=output_constants,
        ),
        published=PUBLISHED,
        benchmark_presets=("hybrid", "large"),
    )
)
