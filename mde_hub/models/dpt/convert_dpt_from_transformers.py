"""Convert `transformers.DPTForDepthEstimation` (e.g. `Intel/dpt-large`, `Intel/dpt-hybrid-midas`) to mde-hub's DPT.

Both the plain ViT and the hybrid (BiT ResNet-50 + ViT) kinds convert exactly: transformers' BiT is timm's
ResNetV2 with weight-standardised "same"-padded convs and the same parameter layout, and its ViT is timm's ViT with
separate query/key/value projections, which are concatenated into timm's fused `qkv`. The hybrid's first two
`reassemble_factors` are never used (those levels are the ResNet stages) and may be anything: `Intel/dpt-hybrid-midas`
has [1, 1, 1, 0.5], as transformers' conversion script writes it. transformers' BiT standardises its conv weights by
sqrt(var + 1e-8), as timm's current ResNetV2, so the converted hybrid does too (`hybrid_weight_standardization=
"sqrt_var_plus_eps"`); isl-org/DPT's own code (timm 0.4.5) divides by std + 1e-5, which `dpt-isl` conversions use,
and which moves the output by about 5e-4 of its range. The converted model is
`depth_estimation_type="relative"` by default: transformers' checkpoints output MiDaS's relative inverse depth,
which is exactly our raw output. Pass `depth_estimation_type="metric"` (and the `metric_scale`/`metric_shift` of the
checkpoint's fine-tuning) for a metric checkpoint. Only the deepest fusion block's unused skip unit is dropped.

transformers' DPT variants that are not the paper's model (DINOv2/BEiT/Swin backbones, batch norm in the fusion
units, the extra head projection) raise a ValueError.
"""

from __future__ import annotations

import os
import re
from typing import Any

import torch
import transformers

from ..conversion import ConversionResult
from .configuration_dpt import DptConfig
from .modeling_dpt import RESAMPLE_FACTORS, DptForDepthEstimation

# timm architectures the ViT is built from; backbone_kwargs override whatever differs from the checkpoint.
_TIMM_VITS = {
    "vit_base_patch16_384": {"embed_dim": 768, "depth": 12, "num_heads": 12, "mlp_ratio": 4.0, "qkv_bias": True},
    "vit_large_patch16_384": {"embed_dim": 1024, "depth": 24, "num_heads": 16, "mlp_ratio": 4.0, "qkv_bias": True},
}
_TIMM_HYBRID = "vit_base_r50_s16_384"
# The ResNet-50 (stages 3, 4, 9) of timm's hybrid, as a transformers BitConfig must describe it.
_BIT_ARCHITECTURE = {
    "layer_type": "bottleneck",
    "global_padding": "SAME",
    "embedding_dynamic_padding": True,
    "embedding_size": 64,
    "num_groups": 32,
    "width_factor": 1,
    "hidden_act": "relu",
    "depths": [3, 4, 9],
    "hidden_sizes[:3]": [256, 512, 1024],
    "out_features": ["stage1", "stage2", "stage3"],
}

# (transformers pattern, our pattern) for tensors that map one to one; `{n}` groups are carried over.
_VIT_RULES = [
    (r"dpt\.embeddings\.cls_token", "cls_token"),
    (r"dpt\.embeddings\.position_embeddings", "pos_embed"),
    (r"dpt\.embeddings\.patch_embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"dpt\.embeddings\.projection\.(weight|bias)", r"patch_embed.proj.\1"),
    (r"dpt\.embeddings\.backbone\.bit\.embedder\.convolution\.weight", "patch_embed.backbone.stem.conv.weight"),
    (r"dpt\.embeddings\.backbone\.bit\.embedder\.norm\.(weight|bias)", r"patch_embed.backbone.stem.norm.\1"),
    (r"dpt\.embeddings\.backbone\.bit\.encoder\.stages\.(\d+)\.layers\.(\d+)\.(.+)", r"patch_embed.backbone.stages.\1.blocks.\2.\3"),
    (r"dpt\.encoder\.layer\.(\d+)\.layernorm_before\.(weight|bias)", r"blocks.\1.norm1.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.attention\.output\.dense\.(weight|bias)", r"blocks.\1.attn.proj.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.layernorm_after\.(weight|bias)", r"blocks.\1.norm2.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.intermediate\.dense\.(weight|bias)", r"blocks.\1.mlp.fc1.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.output\.dense\.(weight|bias)", r"blocks.\1.mlp.fc2.\2"),
    (r"dpt\.layernorm\.(weight|bias)", r"norm.\1"),
]
_QKV = re.compile(r"dpt\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(weight|bias)")
_DECODER_RULES = [
    (r"neck\.convs\.(\d+)\.weight", r"reassemble.projections.\1.weight"),
    (r"neck\.fusion_stage\.layers\.(\d+)\.projection\.(weight|bias)", r"fusion.blocks.\1.projection.\2"),
    (r"neck\.fusion_stage\.layers\.(\d+)\.residual_layer1\.convolution(\d)\.(weight|bias)", r"fusion.blocks.\1.skip_unit.conv\2.\3"),
    (r"neck\.fusion_stage\.layers\.(\d+)\.residual_layer2\.convolution(\d)\.(weight|bias)", r"fusion.blocks.\1.residual_unit.conv\2.\3"),
    (r"head\.head\.0\.(weight|bias)", r"head.conv1.\1"),
    (r"head\.head\.2\.(weight|bias)", r"head.conv2.\1"),
    (r"head\.head\.4\.(weight|bias)", r"head.conv3.\1"),
]
_REASSEMBLE = re.compile(r"neck\.reassemble_stage\.(layers|readout_projects)\.(\d+)\.(projection|resize|0)\.(weight|bias)")
_REASSEMBLE_PARTS = {"projection": "projection", "resize": "resample", "0": "readout.projection"}


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(f"cannot convert this transformers DPT checkpoint: {message}")


def _check_bit(bit_config: Any) -> None:
    """The hybrid's BiT must be timm's ResNet-50 (3, 4, 9) with same padding."""
    for field, expected in _BIT_ARCHITECTURE.items():
        name = field.removesuffix("[:3]")
        value = getattr(bit_config, name, None)
        value = list(value)[:3] if field.endswith("[:3]") and value is not None else value
        value = list(value) if isinstance(value, (list, tuple)) else value
        _check(value == expected, f"the hybrid's BiT backbone has {name}={value}, but timm's ResNet-50 needs {expected}")


def dpt_config_from_transformers(hf_config: transformers.DPTConfig, **overrides: Any) -> DptConfig:
    """Our `DptConfig` for a `transformers.DPTConfig` (relative inverse depth unless overridden)."""
    _check(hf_config.model_type == "dpt", f"model_type is {hf_config.model_type!r}, not 'dpt'")
    _check(not hf_config.add_projection, "add_projection=True (the DINOv2 head) is not the paper's head")
    _check(hf_config.head_in_index == -1, "the head must read the last fusion output (head_in_index=-1)")
    _check(not hf_config.use_batch_norm_in_fusion_residual, "batch norm in the fusion units is not DPT's depth model")
    _check(hf_config.use_bias_in_fusion_residual in (None, True), "the fusion units must have biases")
    factors = [float(factor) for factor in hf_config.reassemble_factors]
    if hf_config.is_hybrid:
        # The hybrid's first two levels are the ResNet stages, passed through (transformers' layers are identities),
        # so their factors are never used: transformers' conversion writes [1, 1, 1, 0.5] (Intel/dpt-hybrid-midas).
        _check(factors[2:] == list(RESAMPLE_FACTORS[2:]), f"the hybrid's reassemble_factors[2:] are {factors[2:]}, not 1, 0.5")
        _check(list(hf_config.neck_ignore_stages) == [0, 1], "the hybrid's first two levels must be its ResNet stages")
    else:
        _check(factors == list(RESAMPLE_FACTORS), f"reassemble_factors are {factors}, not 4, 2, 1, 0.5")
    _check(hf_config.hidden_act == "gelu", f"hidden_act is {hf_config.hidden_act!r}, timm's ViT uses exact GELU")
    _check(hf_config.num_channels == 3, "the input must be RGB")
    _check(hf_config.is_hybrid or hf_config.backbone_config is None, "only ViT and BiT-hybrid backbones are DPT's")
    _check(hf_config.patch_size == 16, f"patch_size is {hf_config.patch_size}; DPT's tokens cover 16x16 pixels")
    image_size = hf_config.image_size
    if isinstance(image_size, (list, tuple)):
        _check(image_size[0] == image_size[1], f"image_size {image_size} is not square")
        image_size = image_size[0]

    if hf_config.is_hybrid:
        _check_bit(hf_config.backbone_config)
        _check(hf_config.backbone_featmap_shape[1] == 1024, "the hybrid's projected feature map must have 1024 channels")
        backbone, reference = _TIMM_HYBRID, _TIMM_VITS["vit_base_patch16_384"]
        out_indices = [0, 1, *hf_config.backbone_out_indices[2:]]
    else:
        backbone = "vit_large_patch16_384" if hf_config.hidden_size == 1024 else "vit_base_patch16_384"
        reference = _TIMM_VITS[backbone]
        out_indices = list(hf_config.backbone_out_indices)
    architecture = {
        "embed_dim": hf_config.hidden_size,
        "depth": hf_config.num_hidden_layers,
        "num_heads": hf_config.num_attention_heads,
        "mlp_ratio": hf_config.intermediate_size / hf_config.hidden_size,
        "qkv_bias": bool(hf_config.qkv_bias),
    }
    backbone_kwargs = {key: value for key, value in architecture.items() if value != reference[key]}
    config = {
        "backbone": backbone,
        "backbone_kwargs": backbone_kwargs,
        "position_embedding_size": image_size,
        "inference_size": None,  # the MiDaS-trained checkpoints run at the position embeddings' size
        "is_hybrid": hf_config.is_hybrid,
        "hybrid_weight_standardization": "sqrt_var_plus_eps",  # transformers' BiT: (w - mean) / sqrt(var + 1e-8)
        "backbone_out_indices": out_indices,
        "layer_norm_eps": hf_config.layer_norm_eps,
        "readout_type": hf_config.readout_type,
        "reassemble_widths": list(hf_config.neck_hidden_sizes),
        "fusion_features": hf_config.fusion_hidden_size,
        "head_features": 32,
        "depth_estimation_type": "relative",
    }
    return DptConfig(**{**config, **overrides})


def convert_dpt_state_dict(hf_state_dict: dict[str, torch.Tensor], hf_config: transformers.DPTConfig) -> dict[str, torch.Tensor]:
    """Rename (and fuse q, k, v of) a transformers DPT state dict into our `DptForDepthEstimation` keys."""
    cnn_levels = 2 if hf_config.is_hybrid else 0
    converted: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    unknown = []
    for key, tensor in hf_state_dict.items():
        if match := _QKV.fullmatch(key):
            qkv.setdefault((int(match[1]), match[3]), {})[match[2]] = tensor
            continue
        if match := _REASSEMBLE.fullmatch(key):
            level = int(match[2]) - cnn_levels
            converted[f"reassemble.layers.{level}.{_REASSEMBLE_PARTS[match[3]]}.{match[4]}"] = tensor.clone()
            continue
        if re.fullmatch(r"neck\.fusion_stage\.layers\.0\.residual_layer1\..+", key):
            continue  # the deepest fusion block has no skip input; transformers keeps an unused unit
        for pattern, replacement in _VIT_RULES:
            if re.fullmatch(pattern, key):
                converted["encoder.backbone." + re.sub(pattern, replacement, key)] = tensor.clone()
                break
        else:
            for pattern, replacement in _DECODER_RULES:
                if re.fullmatch(pattern, key):
                    converted[re.sub(pattern, replacement, key)] = tensor.clone()
                    break
            else:
                unknown.append(key)
    _check(not unknown, f"unexpected tensors {unknown[:5]}")
    for (layer, kind), parts in qkv.items():
        _check(set(parts) == {"query", "key", "value"}, f"layer {layer} lacks some of query/key/value {kind}")
        converted[f"encoder.backbone.blocks.{layer}.attn.qkv.{kind}"] = torch.cat(
            [parts["query"], parts["key"], parts["value"]], dim=0
        )
    return converted


def convert_dpt_from_transformers(
    hf_model_or_path: transformers.DPTForDepthEstimation | str | os.PathLike, **config_overrides: Any
) -> DptForDepthEstimation:
    """An mde-hub `DptForDepthEstimation` (in eval mode) with the weights of a `transformers.DPTForDepthEstimation`.

    `hf_model_or_path` is a loaded model, or a local folder / Hub id for `transformers.DPTForDepthEstimation.from_pretrained`.
    `config_overrides` go to `DptConfig` (e.g. `depth_estimation_type="metric"`, `metric_scale`, `metric_shift`).
    """
    hf_model = hf_model_or_path
    if not isinstance(hf_model, transformers.DPTForDepthEstimation):
        hf_model = transformers.DPTForDepthEstimation.from_pretrained(os.fspath(hf_model_or_path))
    config = dpt_config_from_transformers(hf_model.config, **config_overrides)
    state_dict = convert_dpt_state_dict(hf_model.state_dict(), hf_model.config)
    with torch.device("meta"):
        model = DptForDepthEstimation(config)
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.eval()


def convert_dpt_checkpoint(path: str | os.PathLike, **config_overrides: Any) -> ConversionResult:
    """`mde-hub convert dpt-transformers FOLDER`: a transformers DPT checkpoint folder (or Hub id) as a
    `ConversionResult`."""
    model = convert_dpt_from_transformers(path, **config_overrides)
    return ConversionResult(
        model, source=f"transformers transformers.DPTForDepthEstimation {os.fspath(path)}",
        notes=["The deepest fusion block's unused skip unit (in transformers' weights, never run) is dropped."],
    )
