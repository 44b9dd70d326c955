"""Conversion of isl-org/DPT's released depth weights (`dpt-isl`): fixtures in the released layout, completeness,
agreement with transformers' DPT on the same weights, the variant presets and run_monodepth.py's processing.

The fixtures are tiny `transformers.DPTForDepthEstimation`s written out under the authors' key names (the layout of
`DPTDepthModel.state_dict()`, whose every key and full-size shape `fixtures/dpt_isl_layout.json` records from the
authors' code): transformers' implementation is independent of ours, so equal outputs check the whole mapping.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers
from test_dpt import randomised
from transformers import AutoConfig

from mde_hub.inference.predictor import DepthPredictor
from mde_hub.models.auto import image_processor_for
from mde_hub.models.conversion import CONVERTERS, convert_checkpoint
from mde_hub.models.dpt import DptConfig, DptForDepthEstimation
from mde_hub.models.dpt.convert_dpt_isl import PRESETS, RELEASED_FILES, dpt_isl_state_dict

LAYOUT = json.loads((Path(__file__).parent / "fixtures" / "dpt_isl_layout.json").read_text())
TINY_VIT = {"hidden_size": 32, "num_attention_heads": 2, "intermediate_size": 64, "image_size": 64, "fusion_hidden_size": 16}
# Tiny transformers twins of the released graphs: the hybrid keeps its 12 blocks and hooks [2, 5, 8, 11] and the
# factors transformers' conversion gives it; DPT-Large keeps its 24 blocks and hooks.
TINY_HF = {
    "vitb_rn50_384": dict(TINY_VIT, num_hidden_layers=12, is_hybrid=True, backbone_out_indices=[2, 5, 8, 11],
                          reassemble_factors=[1, 1, 1, 0.5], neck_hidden_sizes=[256, 512, 32, 32],
                          backbone_featmap_shape=[1, 1024, 4, 4]),
    "vitl16_384": dict(TINY_VIT, num_hidden_layers=24, backbone_out_indices=[5, 11, 17, 23],
                       neck_hidden_sizes=[8, 16, 32, 32]),
}
# The same tiny sizes as DptConfig overrides of each released preset.
TINY_OURS = {
    "vitb_rn50_384": {"backbone_kwargs": {"embed_dim": 32, "num_heads": 2, "mlp_ratio": 2.0}, "position_embedding_size": 64,
                      "reassemble_widths": [256, 512, 32, 32], "fusion_features": 16},
    "vitl16_384": {"backbone_kwargs": {"embed_dim": 32, "num_heads": 2, "mlp_ratio": 2.0}, "position_embedding_size": 64,
                   "reassemble_widths": [8, 16, 32, 32], "fusion_features": 16},
}
BACKBONE_OF = {"dpt_hybrid": "vitb_rn50_384", "dpt_hybrid_nyu": "vitb_rn50_384", "dpt_hybrid_kitti": "vitb_rn50_384",
               "dpt_large": "vitl16_384"}

# transformers name -> the authors' name (`{n}` parts carried over); the authors' names are DPTDepthModel's.
_RENAMES = [
    (r"dpt\.embeddings\.cls_token", "pretrained.model.cls_token"),
    (r"dpt\.embeddings\.position_embeddings", "pretrained.model.pos_embed"),
    (r"dpt\.embeddings\.(?:patch_embeddings\.)?projection\.(\w+)", r"pretrained.model.patch_embed.proj.\1"),
    (r"dpt\.embeddings\.backbone\.bit\.embedder\.convolution\.weight", "pretrained.model.patch_embed.backbone.stem.conv.weight"),
    (r"dpt\.embeddings\.backbone\.bit\.embedder\.norm\.(\w+)", r"pretrained.model.patch_embed.backbone.stem.norm.\1"),
    (r"dpt\.embeddings\.backbone\.bit\.encoder\.stages\.(\d+)\.layers\.(\d+)\.(.+)",
     r"pretrained.model.patch_embed.backbone.stages.\1.blocks.\2.\3"),
    (r"dpt\.encoder\.layer\.(\d+)\.layernorm_before\.(\w+)", r"pretrained.model.blocks.\1.norm1.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.layernorm_after\.(\w+)", r"pretrained.model.blocks.\1.norm2.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.attention\.output\.dense\.(\w+)", r"pretrained.model.blocks.\1.attn.proj.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.intermediate\.dense\.(\w+)", r"pretrained.model.blocks.\1.mlp.fc1.\2"),
    (r"dpt\.encoder\.layer\.(\d+)\.output\.dense\.(\w+)", r"pretrained.model.blocks.\1.mlp.fc2.\2"),
    (r"dpt\.layernorm\.(\w+)", r"pretrained.model.norm.\1"),
    (r"neck\.convs\.(\d)\.weight", lambda m: f"scratch.layer{int(m[1]) + 1}_rn.weight"),
    (r"neck\.reassemble_stage\.readout_projects\.(\d)\.0\.(\w+)",
     lambda m: f"pretrained.act_postprocess{int(m[1]) + 1}.0.project.0.{m[2]}"),
    (r"neck\.reassemble_stage\.layers\.(\d)\.projection\.(\w+)", lambda m: f"pretrained.act_postprocess{int(m[1]) + 1}.3.{m[2]}"),
    (r"neck\.reassemble_stage\.layers\.(\d)\.resize\.(\w+)", lambda m: f"pretrained.act_postprocess{int(m[1]) + 1}.4.{m[2]}"),
    (r"neck\.fusion_stage\.layers\.(\d)\.projection\.(\w+)", lambda m: f"scratch.refinenet{4 - int(m[1])}.out_conv.{m[2]}"),
    (r"neck\.fusion_stage\.layers\.(\d)\.residual_layer([12])\.convolution([12])\.(\w+)",
     lambda m: f"scratch.refinenet{4 - int(m[1])}.resConfUnit{m[2]}.conv{m[3]}.{m[4]}"),
    (r"head\.head\.([024])\.(\w+)", r"scratch.output_conv.\1.\2"),
]
_QKV = re.compile(r"dpt\.encoder\.layer\.(\d+)\.attention\.attention\.(query|key|value)\.(\w+)")


def tiny_hf_model(backbone: str, seed: int = 0) -> transformers.DPTForDepthEstimation:
    torch.manual_seed(seed)
    return randomised(transformers.DPTForDepthEstimation(transformers.DPTConfig(**TINY_HF[backbone])), seed)


def released_layout(hf_model: transformers.DPTForDepthEstimation) -> dict[str, torch.Tensor]:
    """The authors' `DPTDepthModel.state_dict()` holding `hf_model`'s weights, with what only their file has: timm's
    1000-class ImageNet head (random here)."""
    state: dict[str, torch.Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, tensor in hf_model.state_dict().items():
        if match := _QKV.fullmatch(key):
            qkv.setdefault((match[1], match[3]), {})[match[2]] = tensor
            continue
        for pattern, replacement in _RENAMES:
            if re.fullmatch(pattern, key):
                state[re.sub(pattern, replacement, key)] = tensor.clone()
                break
        else:
            raise AssertionError(f"no authors' name for {key}")
    for (layer, kind), parts in qkv.items():
        state[f"pretrained.model.blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
    width = hf_model.config.hidden_size
    state["pretrained.model.head.weight"] = torch.randn(1000, width) * width**-0.5
    state["pretrained.model.head.bias"] = torch.zeros(1000)
    return state


@pytest.fixture(scope="module")
def released() -> dict[str, tuple[transformers.DPTForDepthEstimation, dict[str, torch.Tensor]]]:
    """backbone -> (tiny transformers model, its weights in the authors' layout), built once per module."""
    return {backbone: (model, released_layout(model)) for backbone in TINY_HF for model in [tiny_hf_model(backbone)]}


def save_released(state: dict[str, torch.Tensor], path: Path, wrapped: bool = False) -> Path:
    """As the authors' files: a plain state dict, or {"model", "optimizer"} (what `BaseModel.load` unwraps)."""
    content = {"model": state, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-5}]}} if wrapped else state
    torch.save(content, path)
    return path


@pytest.mark.parametrize(
    ("variant", "wrapped"),
    [("dpt_hybrid", False), ("dpt_hybrid_nyu", True), ("dpt_hybrid_kitti", False), ("dpt_large", True)],
)
def test_released_files_convert_completely_and_predict_as_transformers(
    variant: str, wrapped: bool, released, tmp_path
) -> None:
    backbone = BACKBONE_OF[variant]
    hf_model, state = released[backbone]
    assert set(state) == set(LAYOUT[backbone])  # exactly the authors' keys (tiny shapes)
    released_name = next(name for name, kind in RELEASED_FILES.items() if kind == variant)
    path = save_released(state, tmp_path / released_name, wrapped)

    result = convert_checkpoint("dpt-isl", path, **TINY_OURS[backbone])
    assert result.model.config.to_dict() == PRESETS[variant](**TINY_OURS[backbone]).to_dict()
    # transformers' BiT standardises weights as timm's current ResNetV2, not as the authors' timm 0.4.5
    # (test_the_hybrid_standardises_weights_as_timm_0_4): compare with that choice switched to transformers'.
    as_transformers = {"hybrid_weight_standardization": "sqrt_var_plus_eps"}
    model = convert_checkpoint("dpt-isl", path, **TINY_OURS[backbone], **as_transformers).model
    assert variant in result.source and released_name in result.source
    dropped = {"pretrained.model.head.weight", "pretrained.model.head.bias"} | {
        key for key in state if key.startswith("scratch.refinenet4.resConfUnit1.")
    }
    assert {entry.split(":")[0] for entry in result.skipped} == dropped | ({"optimizer (dict)"} if wrapped else set())
    assert len(dropped) == 6

    size = 64 if backbone == "vitb_rn50_384" else 96  # transformers' hybrid needs its own image size
    pixels = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        disparity = hf_model(pixel_values=pixels).predicted_depth
        predicted = model(pixel_values=pixels).predicted_depth
    assert (disparity > 0).float().mean() > 0.1
    config = model.config
    if config.depth_estimation_type == "metric":  # DPTDepthModel(invert=True): 1 / max(s * out + t, 1e-8), unclipped
        expected = 1.0 / (config.metric_scale * disparity + config.metric_shift).clamp(min=1e-8)
    else:
        expected = disparity
    # The hybrid's ResNet runs channels-last in ours and NCHW in transformers': sums in another order (3e-5 of the
    # range on these random tiny weights).
    tolerance = 1e-4 if backbone == "vitb_rn50_384" else 1e-5
    assert (predicted - expected).abs().max() <= tolerance * (expected.max() - expected.min())


def test_the_hybrid_standardises_weights_as_timm_0_4(released, tmp_path) -> None:
    """isl-org/DPT pins timm 0.4.5, whose StdConv2dSame divides by std + 1e-5 (biased std); timm's current one and
    transformers' BiT divide by sqrt(var + 1e-8)."""
    path = save_released(released["vitb_rn50_384"][1], tmp_path / "dpt_hybrid-midas-501f0c75.pt")
    model = convert_checkpoint("dpt-isl", path, **TINY_OURS["vitb_rn50_384"]).model
    assert model.config.hybrid_weight_standardization == "std_plus_eps"
    stem = model.encoder.backbone.patch_embed.backbone.stem.conv
    convs = [m for m in model.encoder.backbone.patch_embed.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 52 and all(type(m) is type(stem) and m.eps == 1e-5 for m in convs)
    image = torch.rand(1, 3, 32, 34)
    weight = stem.weight
    mean, std = weight.mean(dim=(1, 2, 3), keepdim=True), weight.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
    padded = F.pad(image, (2, 3, 2, 3))  # TF "same" for 7x7 / 2 on 32x34: 5 rows and 5 columns, the odd one after
    expected = F.conv2d(padded, (weight - mean) / (std + 1e-5), stride=2)
    torch.testing.assert_close(stem(image), expected)
    transformers_like = convert_checkpoint(
        "dpt-isl", path, **TINY_OURS["vitb_rn50_384"], hybrid_weight_standardization="sqrt_var_plus_eps"
    ).model
    torch.testing.assert_close(
        transformers_like.encoder.backbone.patch_embed.backbone.stem.conv(image),
        F.conv2d(padded, (weight - mean) / (weight.var(dim=(1, 2, 3), keepdim=True, unbiased=False) + 1e-8).sqrt(),
                 stride=2),
    )


@pytest.mark.parametrize("variant", sorted(PRESETS))
def test_full_size_released_layouts_fill_each_preset_exactly(variant: str) -> None:
    """Every tensor of a full-size released file (names and shapes from the authors' code) lands in the preset's
    model with its shape, and every weight of the model comes from the file."""
    backbone = BACKBONE_OF[variant]
    state = {key: torch.empty(shape, device="meta") for key, shape in LAYOUT[backbone].items()}
    converted, dropped = dpt_isl_state_dict(state, is_hybrid=backbone == "vitb_rn50_384")
    with torch.device("meta"):
        expected = DptForDepthEstimation(PRESETS[variant]()).state_dict()
    assert {key: tuple(value.shape) for key, value in converted.items()} == {
        key: tuple(value.shape) for key, value in expected.items()
    }
    assert len(converted) + len(dropped) == len(state) and len(dropped) == 6


def test_the_variant_comes_from_the_name_or_the_option_and_must_fit_the_weights(released, tmp_path) -> None:
    assert CONVERTERS["dpt-isl"].endswith("convert_dpt_isl:convert_dpt_isl_checkpoint")
    hybrid = released["vitb_rn50_384"][1]
    unnamed = save_released(hybrid, tmp_path / "finetuned.pt")
    with pytest.raises(ValueError, match="pass variant="):
        convert_checkpoint("dpt-isl", unnamed, **TINY_OURS["vitb_rn50_384"])
    nyu = convert_checkpoint("dpt-isl", unnamed, variant="dpt_hybrid_nyu", **TINY_OURS["vitb_rn50_384"])
    assert nyu.model.config.metric_shift == 0.1378 and list(nyu.model.config.inference_size) == [480, 640]
    kitti = convert_checkpoint("dpt-isl", save_released(hybrid, tmp_path / "my_kitti_run.pt"), **TINY_OURS["vitb_rn50_384"])
    assert (kitti.model.config.metric_scale, list(kitti.model.config.inference_size)) == (0.00006016, [352, 1216])
    with pytest.raises(ValueError, match="which is not 'dpt_large'"):
        convert_checkpoint("dpt-isl", unnamed, variant="dpt_large", **TINY_OURS["vitl16_384"])

    incomplete = dict(hybrid)
    del incomplete["scratch.layer3_rn.weight"]
    with pytest.raises(ValueError, match=r"missing \['reassemble.projections.2.weight'\]"):
        convert_checkpoint("dpt-isl", save_released(incomplete, tmp_path / "dpt_hybrid_nyu-2ce69ec7.pt"),
                           **TINY_OURS["vitb_rn50_384"])
    extra = {**hybrid, "scratch.refinenet1.resConfUnit1.bn1.weight": torch.ones(16)}
    with pytest.raises(ValueError, match="resConfUnit1.bn1.weight"):
        convert_checkpoint("dpt-isl", save_released(extra, tmp_path / "dpt_hybrid_nyu-2ce69ec7.pt"),
                           **TINY_OURS["vitb_rn50_384"])
    segmentation = {**hybrid, "auxlayer.0.weight": torch.ones(16, 16, 3, 3)}
    with pytest.raises(ValueError, match="segmentation"):
        convert_checkpoint("dpt-isl", save_released(segmentation, tmp_path / "dpt_hybrid-ade20k-53898607.pt"),
                           variant="dpt_hybrid", **TINY_OURS["vitb_rn50_384"])


def test_post_processing_is_run_monodepths(released, tmp_path) -> None:
    """run_monodepth.py: the metric map at the network's resolution (DPTDepthModel.forward), then plain bicubic
    F.interpolate to the image size; images are resized by OpenCV's INTER_CUBIC (here at a scale where it equals
    torch's bicubic: OpenCV rounds its source positions to float32, exactly at a scale of 4/5)."""
    path = save_released(released["vitb_rn50_384"][1], tmp_path / "dpt_hybrid_nyu-2ce69ec7.pt")
    model = convert_checkpoint("dpt-isl", path, **TINY_OURS["vitb_rn50_384"], inference_size=[64, 96]).model
    image = np.random.default_rng(0).integers(0, 256, (80, 120, 3), dtype=np.uint8)  # 80x120 -> 64x96 ("minimal")
    predictor = DepthPredictor.from_model(model, name="dpt_hybrid_nyu")
    rgb = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    pixels = (F.interpolate(rgb, size=(64, 96), mode="bicubic", align_corners=False) - 0.5) / 0.5
    torch.testing.assert_close(predictor.processor(image)["pixel_values"], pixels)
    with torch.no_grad():
        depth = model(pixel_values=pixels).predicted_depth
    expected = F.interpolate(depth[:, None], size=(80, 120), mode="bicubic", align_corners=False)[0, 0]
    np.testing.assert_allclose(predictor.predict(image).values, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_defaults_are_the_released_graph_and_earlier_configs_keep_their_behaviour(tmp_path) -> None:
    kitti = DptConfig.kitti()
    assert not kitti.clip_depth and kitti.reference_resizing
    processor_kwargs = kitti.image_processor_kwargs()
    assert processor_kwargs["antialias"] is False and processor_kwargs["clamp_bicubic"] is False
    torch.manual_seed(0)
    relative = DptForDepthEstimation(DptConfig.tiny(depth_estimation_type="relative")).eval()
    tiny_kitti = {key: getattr(kitti, key) for key in ("metric_scale", "metric_shift", "max_depth")}
    unclipped = DptForDepthEstimation(DptConfig.tiny(**tiny_kitti)).eval()
    unclipped.load_state_dict(relative.state_dict())
    pixels = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        disparity = relative(pixel_values=pixels).predicted_depth
        depth = unclipped(pixel_values=pixels).predicted_depth
    torch.testing.assert_close(depth, 1.0 / (kitti.metric_scale * disparity + kitti.metric_shift))
    assert depth.max() > 80.0  # the KITTI model's far range reaches 1 / 0.00579 = 172.7 m, as released

    # A config saved before the three fields existed: clipped, antialiased and clamped, as it was.
    unclipped.config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["clip_depth"] is False and saved["reference_resizing"] is True
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert (loaded.clip_depth, loaded.reference_resizing) == (False, True)
    for field in ("clip_depth", "reference_resizing", "hybrid_weight_standardization"):
        del saved[field]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    earlier = AutoConfig.from_pretrained(tmp_path)
    assert earlier.clip_depth and not earlier.reference_resizing
    assert earlier.hybrid_weight_standardization == "sqrt_var_plus_eps"
    assert earlier.image_processor_kwargs()["antialias"] and earlier.image_processor_kwargs()["clamp_bicubic"]
    clipped = DptForDepthEstimation(earlier).eval()
    clipped.load_state_dict(relative.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(clipped(pixel_values=pixels).predicted_depth, depth.clamp(max=80.0))
    shipped_folder = Path(__file__).parent.parent / "checkpoints" / "dpt-vit-tiny-mix-scratch"
    shipped = AutoConfig.from_pretrained(shipped_folder)
    assert shipped.clip_depth and not shipped.reference_resizing and shipped.inference_size is None
    saved_processor = json.loads((shipped_folder / "preprocessor_config.json").read_text())
    rebuilt = image_processor_for(shipped).to_dict()
    assert {key: rebuilt[key] for key in saved_processor if key != "image_processor_type"} == {
        key: value for key, value in saved_processor.items() if key != "image_processor_type"
    }
