"""Our DPT-Hybrid against `transformers.DPTForDepthEstimation` with the same configuration and weights.

transformers' model is built as `Intel/dpt-hybrid-midas` is configured (BiT ResNet-50 with "same" padding, ViT-B/16,
hooks 2/5/8/11 with the first two taken from the ResNet, neck 256/512/768/768, fusion 256), randomly initialised
(nothing is downloaded), and converted to ours with `convert_dpt_from_transformers`, so both compute the same function
on the same input. transformers' hybrid embeddings accept only the configured image size (384 x 384).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch
import transformers

from ..models.dpt.convert_dpt_from_transformers import convert_dpt_from_transformers
from .measure import median_seconds

BIT_RESNET50 = {
    "layer_type": "bottleneck",
    "depths": [3, 4, 9],
    "hidden_sizes": [256, 512, 1024, 2048],
    "out_features": ["stage1", "stage2", "stage3"],
    "global_padding": "same",
    "embedding_dynamic_padding": True,
}
HYBRID = {"is_hybrid": True, "neck_hidden_sizes": [256, 512, 768, 768], "backbone_featmap_shape": [1, 1024, 24, 24]}
# A 4-block, 32-wide ViT on the same BiT for the smoke test (64 x 64 inputs).
SMALL_HYBRID = {
    "is_hybrid": True, "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 64,
    "image_size": 64, "neck_hidden_sizes": [256, 512, 32, 32], "fusion_hidden_size": 16,
    "backbone_featmap_shape": [1, 1024, 4, 4], "backbone_out_indices": [0, 1, 2, 3],
}


@dataclass
class DptComparison:
    size: int
    parameters_ours: int
    parameters_transformers: int
    ours_ms: float
    transformers_ms: float
    max_abs_diff: float
    max_abs_output: float
    output_shape: tuple[int, ...]

    @property
    def ratio(self) -> float:
        """Our latency over transformers' (below 1: ours is faster)."""
        return self.ours_ms / self.transformers_ms


def hybrid_models(quick: bool) -> tuple[transformers.DPTForDepthEstimation, torch.nn.Module]:
    """transformers' DPT-Hybrid (random weights) and ours converted from it, both in eval mode."""
    torch.manual_seed(0)
    settings = SMALL_HYBRID if quick else HYBRID
    hf_model = transformers.DPTForDepthEstimation(transformers.DPTConfig(**settings, backbone_config=dict(BIT_RESNET50))).eval()
    return hf_model, convert_dpt_from_transformers(hf_model)


def compare_dpt_hybrid(quick: bool, repeats: int) -> DptComparison:
    """Latency of both at batch 1 (runs alternate, in alternating order, so load changes hit both alike) and their
    output difference."""
    hf_model, ours = hybrid_models(quick)
    size = hf_model.config.image_size
    pixel_values = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        theirs, mine = hf_model(pixel_values=pixel_values).predicted_depth, ours(pixel_values=pixel_values).predicted_depth
        if mine.shape != theirs.shape:
            raise ValueError(f"DPT-Hybrid output shapes differ: ours {tuple(mine.shape)}, transformers' {tuple(theirs.shape)}")
        difference = float((mine - theirs).abs().max())
        times: dict[str, list[float]] = {"ours": [], "transformers": []}
        for repeat in range(repeats):
            order = (("transformers", hf_model), ("ours", ours))
            for name, model in order if repeat % 2 == 0 else reversed(order):
                times[name].append(median_seconds(lambda: model(pixel_values=pixel_values), 1, warmup=0))  # noqa: B023
    return DptComparison(
        size=size,
        parameters_ours=sum(p.numel() for p in ours.parameters()),
        parameters_transformers=sum(p.numel() for p in hf_model.parameters()),
        ours_ms=1000 * statistics.median(times["ours"]),
        transformers_ms=1000 * statistics.median(times["transformers"]),
        max_abs_diff=difference,
        max_abs_output=float(theirs.abs().max()),
        output_shape=tuple(mine.shape),
    )
