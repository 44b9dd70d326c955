"""Convert isl-org/DPT's released monocular depth weights to mde-hub's DPT.

The four released `.pt` files are PyTorch state dicts of the authors' `DPTDepthModel` (timm 0.4.5 inside, whose
weight standardisation the hybrid presets reproduce, see `DptConfig.hybrid_weight_standardization`):
`dpt_hybrid-midas-501f0c75.pt` and `dpt_large-midas-2f21e586.pt` (MiDaS-trained, relative inverse depth),
`dpt_hybrid_nyu-2ce69ec7.pt` and `dpt_hybrid_kitti-cb926ef4.pt` (fine-tuned, metric depth through
1 / (scale * out + shift)). A file may also wrap the state in `{"model": ..., "optimizer": ...}` (what the authors'
`BaseModel.load` unwraps); everything beside "model" is then skipped.

Their layout, and where each part goes here:

* `pretrained.model.*`: the timm ViT (with the ResNet-50 stem for the hybrid), whose names timm still uses ->
  `encoder.backbone.*`; its ImageNet classifier `pretrained.model.head.*`, never run, is dropped.
* `pretrained.act_postprocess{1..4}`: per level, `.0.project.0` (readout Linear), `.3` (1x1 conv), `.4` (resample:
  transposed conv or strided conv) -> `reassemble.layers.*` (a hybrid's first two levels are identities there).
* `scratch.layer{1..4}_rn` (3x3 convs to the fusion width) -> `reassemble.projections.*`.
* `scratch.refinenet{4..1}` (4 is the deepest): `resConfUnit1` (skip unit), `resConfUnit2`, `out_conv` ->
  `fusion.blocks.{0..3}`; refinenet4's `resConfUnit1`, never run, is dropped.
* `scratch.output_conv.{0,2,4}` -> `head.conv{1,2,3}`.

Which released model a file is comes from its name (the released names, or one containing "nyu", "kitti", "large"
or "midas") or the `variant` option: `run_monodepth.py`'s model types "dpt_hybrid", "dpt_large", "dpt_hybrid_nyu",
"dpt_hybrid_kitti". The weights themselves tell DPT-Large from DPT-Hybrid, and that is checked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import torch

from ..conversion import ConversionResult
from .configuration_dpt import DptConfig
from .modeling_dpt import DptForDepthEstimation

PRESETS: dict[str, Callable[..., DptConfig]] = {
    "dpt_hybrid": DptConfig.hybrid_midas,
    "dpt_large": DptConfig.large,
    "dpt_hybrid_nyu": DptConfig.hybrid,
    "dpt_hybrid_kitti": DptConfig.kitti,
}
"""`run_monodepth.py`'s model types -> the config of that released graph."""

RELEASED_FILES = {
    "dpt_hybrid-midas-501f0c75.pt": "dpt_hybrid",
    "dpt_large-midas-2f21e586.pt": "dpt_large",
    "dpt_hybrid_nyu-2ce69ec7.pt": "dpt_hybrid_nyu",
    "dpt_hybrid_kitti-cb926ef4.pt": "dpt_hybrid_kitti",
}

_NOTES = {
    "dpt_hybrid": "relative inverse depth (MiDaS training), run at 384 on the image's side nearer to it",
    "dpt_large": "relative inverse depth (MiDaS training), run at 384 on the image's side nearer to it",
    "dpt_hybrid_nyu": "metric depth 1 / (0.000305 * out + 0.1378) (NYU Depth v2 fine-tune), run towards 480x640",
    "dpt_hybrid_kitti": "metric depth 1 / (0.00006016 * out + 0.00579) (KITTI fine-tune), run towards 352x1216",
}

_CLASSIFIER = re.compile(r"pretrained\.model\.head\.(weight|bias)")
_UNUSED_SKIP_UNIT = re.compile(r"scratch\.refinenet4\.resConfUnit1\..+")
_BACKBONE = re.compile(r"pretrained\.model\.(.+)")
_READOUT = re.compile(r"pretrained\.act_postprocess([1-4])\.0\.project\.0\.(weight|bias)")
_POSTPROCESS = re.compile(r"pretrained\.act_postprocess([1-4])\.([34])\.(weight|bias)")
_LEVEL_CONV = re.compile(r"scratch\.layer([1-4])_rn\.weight")
_FUSION = re.compile(r"scratch\.refinenet([1-4])\.(resConfUnit1|resConfUnit2|out_conv)\.(conv[12]\.)?(weight|bias)")
_HEAD = re.compile(r"scratch\.output_conv\.([024])\.(weight|bias)")
_FUSION_PARTS = {"resConfUnit1": "skip_unit.", "resConfUnit2": "residual_unit.", "out_conv": "projection."}
_HEAD_CONVS = {"0": "conv1", "2": "conv2", "4": "conv3"}


def _variant_from_name(path: str) -> str | None:
    name = os.path.basename(path).lower()
    if name in RELEASED_FILES:
        return RELEASED_FILES[name]
    for word, variant in (("nyu", "dpt_hybrid_nyu"), ("kitti", "dpt_hybrid_kitti"), ("large", "dpt_large")):
        if word in name:
            return variant
    return "dpt_hybrid" if "midas" in name and "hybrid" in name else None


def read_state(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The model state in a released file and what else it holds (as the authors' `BaseModel.load` reads it)."""
    try:
        content = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any reader failure is reported with the file name
        raise ValueError(f"cannot read {os.fspath(path)} as a PyTorch state dict: {error}") from None
    if not isinstance(content, dict):
        raise ValueError(f"{os.fspath(path)} holds a {type(content).__name__}, not a state dict")
    skipped = []
    if "optimizer" in content or isinstance(content.get("model"), dict):
        skipped = [f"{key} ({type(value).__name__}): not model weights" for key, value in content.items() if key != "model"]
        content = content.get("model")
        if not isinstance(content, dict):
            raise ValueError(f"{os.fspath(path)} has an optimizer state but no 'model' state dict")
    not_tensors = [key for key, value in content.items() if not isinstance(value, torch.Tensor)]
    if not_tensors:
        raise ValueError(f"{os.fspath(path)}: entries {not_tensors[:5]} of the model state are not tensors")
    return content, skipped


def dpt_isl_state_dict(state: dict[str, torch.Tensor], is_hybrid: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Our `DptForDepthEstimation` keys for a `DPTDepthModel` state dict, and the file keys dropped (never run)."""
    cnn_levels = 2 if is_hybrid else 0
    converted: dict[str, torch.Tensor] = {}
    dropped, unknown = [], []
    for key, tensor in state.items():
        tensor = tensor.float() if tensor.is_floating_point() else tensor
        if _CLASSIFIER.fullmatch(key) or _UNUSED_SKIP_UNIT.fullmatch(key):
            dropped.append(key)
        elif match := _BACKBONE.fullmatch(key):
            converted[f"encoder.backbone.{match[1]}"] = tensor
        elif (match := _READOUT.fullmatch(key)) and int(match[1]) > cnn_levels:
            converted[f"reassemble.layers.{int(match[1]) - 1 - cnn_levels}.readout.projection.{match[2]}"] = tensor
        elif (match := _POSTPROCESS.fullmatch(key)) and int(match[1]) > cnn_levels:
            part = "projection" if match[2] == "3" else "resample"
            converted[f"reassemble.layers.{int(match[1]) - 1 - cnn_levels}.{part}.{match[3]}"] = tensor
        elif match := _LEVEL_CONV.fullmatch(key):
            converted[f"reassemble.projections.{int(match[1]) - 1}.weight"] = tensor
        elif match := _FUSION.fullmatch(key):
            converted[f"fusion.blocks.{4 - int(match[1])}.{_FUSION_PARTS[match[2]]}{match[3] or ''}{match[4]}"] = tensor
        elif match := _HEAD.fullmatch(key):
            converted[f"head.{_HEAD_CONVS[match[1]]}.{match[2]}"] = tensor
        else:
            unknown.append(key)
    if any(key.startswith("auxlayer.") for key in unknown):
        raise ValueError("this is DPT's semantic segmentation model (it has `auxlayer`), not its depth model")
    if unknown:
        raise ValueError(f"tensors of the file that DPT's depth model does not have: {unknown[:8]}")
    return converted, dropped


def _is_hybrid(state: dict[str, torch.Tensor]) -> bool:
    return any(key.startswith("pretrained.model.patch_embed.backbone.") for key in state)


def convert_dpt_isl_checkpoint(
    path: str | os.PathLike, variant: str | None = None, **config_overrides: Any
) -> ConversionResult:
    """`mde-hub convert dpt-isl FILE`: one of isl-org/DPT's released depth models as a `ConversionResult`.

    `variant` is `run_monodepth.py`'s model type ("dpt_hybrid", "dpt_large", "dpt_hybrid_nyu", "dpt_hybrid_kitti");
    by default it comes from the file name. `config_overrides` go to the variant's `DptConfig` preset.
    """
    path = os.fspath(path)
    variant = variant or _variant_from_name(path)
    if variant not in PRESETS:
        raise ValueError(
            f"cannot tell which released DPT model {os.path.basename(path)!r} is; pass variant= one of "
            f"{', '.join(PRESETS)} (run_monodepth.py's --model_type)"
        )
    state, skipped = read_state(path)
    config = PRESETS[variant](**config_overrides)
    if _is_hybrid(state) != config.is_hybrid:
        kind = "DPT-Hybrid (ResNet-50 + ViT-B/16)" if _is_hybrid(state) else "a plain ViT"
        raise ValueError(f"{os.path.basename(path)}: the weights are {kind}, which is not {variant!r}")
    converted, dropped = dpt_isl_state_dict(state, config.is_hybrid)
    with torch.device("meta"):
        model = DptForDepthEstimation(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong = [key for key in set(expected) & set(converted) if converted[key].shape != expected[key].shape]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{os.path.basename(path)} does not fill {variant!r}: missing {missing[:8]}, unexpected {unexpected[:8]}, "
            f"wrong shapes {sorted(wrong)[:8]}"
        )
    model.load_state_dict(converted, strict=True, assign=True)
    skipped += [
        f"{key}: " + ("timm's ImageNet classifier" if _CLASSIFIER.fullmatch(key) else "the deepest fusion block's "
                      "skip unit") + ", never run by DPT"
        for key in dropped
    ]
    notes = [
        f"isl-org/DPT {variant}: {_NOTES[variant]}, as run_monodepth.py runs it (keep-aspect 'minimal' resize to "
        "multiples of 32 with cv2.INTER_CUBIC, mean = std = 0.5, bicubic interpolation of the output to the image size).",
        "Dropped, never run: timm's ImageNet classifier head and the deepest fusion block's skip unit.",
    ]
    if config.is_hybrid and config.hybrid_weight_standardization == "std_plus_eps":
        notes.append("The ResNet-50 standardises its conv weights as the authors' timm 0.4.5: (w - mean) / (std + 1e-5).")
    return ConversionResult(model.eval(), source=f"isl-org/DPT {variant} ({os.path.basename(path)})",
                            skipped=skipped, notes=notes)
