"""Convert the BTS authors' released PyTorch models (`bts_nyu_v2_pytorch_densenet161.zip`,
`bts_eigen_v2_pytorch_densenet161.zip`, and the DenseNet-121 ones) to mde-hub's `BtsForDepthEstimation`.

The release (BTS:pytorch/README.md) is a zip holding a folder named after the model, with `model` (what
`bts_test.py --checkpoint_path` reads) beside a copy of the model's Python code, which is not read. `model` is the
`torch.save`d dict that `bts_main.py` writes during training: `model` (the state dict of the
`DistributedDataParallel`-wrapped `BtsModel`, every key prefixed `module.`), `global_step`, `optimizer` (AdamW) and,
for the best-so-far checkpoints of online evaluation, `best_eval_measures_lower_better`,
`best_eval_measures_higher_better` (tensors) and `best_eval_steps` (a numpy int32 array). Only `model` is converted;
the rest is listed in `ConversionResult.skipped`. The converter takes the zip, the extracted folder or the `model`
file, and reads it with `torch.load(weights_only=True)`, numpy number arrays allowed.

Key mapping (after `module.`): `encoder.base_model.*` (torchvision's DenseNet `features`) -> timm's
`encoder.backbone.features.*` (same names); decoder modules keep their names except `daspp_<d>.atrous_conv.{first_bn,
aconv_sequence.1, .2, .4}` -> `daspp.branches.<i>.{norm_in, reduce, norm, conv}` (i = the position of dilation d),
`daspp_conv` -> `daspp.daspp_conv`, `reduc<k>.reduc.inter_<a>_<b>.0` and `.plane_params` / `.final.0` -> the
positions in our `Reduction1x1.reduc`, and `get_depth.0` -> `get_depth`.

The dataset (NYU: 0-10 m, 480x640; KITTI Eigen: 0-80 m, 352x1216 KB crop, focal scaling by focal / 715.0873, as
`bts.py` does for `--dataset kitti`) is read off the file names (`nyu`, `eigen`/`kitti`) or passed as
`dataset=`. The converted model in eval mode is `bts_test.py`'s graph: `model.eval()` there too, so every
BatchNorm, the encoder's included, uses its running statistics.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any

import torch

from ..conversion import ConversionResult
from ..conversion_utils import (
    dataset_of,
    describe_entry,
    fill_model,
    load_pickled_checkpoint,
    rename_state_dict,
    strip_prefix,
)
from .configuration_bts import BtsConfig
from .modeling_bts import BtsForDepthEstimation

# timm DenseNets by (growth rate, layers per dense block); torchvision's densenet* have the same structure.
_DENSENETS = {
    (32, (6, 12, 24, 16)): "densenet121",
    (48, (6, 12, 36, 24)): "densenet161",
    (32, (6, 12, 32, 32)): "densenet169",
    (32, (6, 12, 48, 32)): "densenet201",
}
_BN = r"(weight|bias|running_mean|running_var|num_batches_tracked)"
_ATROUS_PARTS = {"first_bn": "norm_in", "aconv_sequence.1": "reduce", "aconv_sequence.2": "norm", "aconv_sequence.4": "conv"}
# width of the first 1x1 conv of each reduction, as a fraction of bts_size (BTS:pytorch/bts.py)
_REDUCTION_WIDTH = {"8x8": 4, "4x4": 8, "2x2": 16, "1x1": 32}


def read_bts_release(path: str | os.PathLike) -> tuple[dict[str, Any], list[str]]:
    """The checkpoint dict of a BTS release (zip, extracted folder or `model` file) and the names it came under."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [name for name in archive.namelist() if Path(name).name == "model"]
            if len(members) != 1:
                raise ValueError(f"{path} should hold one `<model_name>/model` file; found {members or 'none'}")
            return load_pickled_checkpoint(archive.read(members[0])), [path.name, members[0]]
    if path.is_dir():
        candidates = [path / "model", *sorted(path.glob("*/model"))]
        found = [candidate for candidate in candidates if candidate.is_file()]
        if len(found) != 1:
            raise ValueError(f"{path} should hold one BTS `model` file; found {[str(f) for f in found] or 'none'}")
        path = found[0]
    if not path.is_file():
        raise FileNotFoundError(f"no BTS release at {path}")
    return load_pickled_checkpoint(path), [path.parent.name, path.name]


def bts_config_from_state_dict(state_dict: dict[str, torch.Tensor], dataset: str, **overrides: Any) -> BtsConfig:
    """The `BtsConfig` of a released state dict (keys without `module.`): encoder and `bts_size` from the shapes,
    depth range, input size and focal scaling from the dataset."""
    prefix = "encoder.base_model."
    if f"{prefix}conv0.weight" not in state_dict:
        kind = "ResNet/ResNeXt" if f"{prefix}conv1.weight" in state_dict else "MobileNetV2 or unknown"
        raise ValueError(f"this BTS release has a {kind} encoder; mde-hub's BTS has DenseNet encoders only")
    growth = state_dict[f"{prefix}denseblock1.denselayer1.conv2.weight"].shape[0]
    blocks = []
    for block in range(1, 5):
        layers = {key.split(".")[3] for key in state_dict if key.startswith(f"{prefix}denseblock{block}.")}
        blocks.append(len(layers))
    bn_size = state_dict[f"{prefix}denseblock1.denselayer1.conv1.weight"].shape[0] // growth
    stem = state_dict[f"{prefix}conv0.weight"].shape[0]
    if stem != 2 * growth:
        raise ValueError(f"the DenseNet stem has {stem} channels; timm's DenseNet needs 2 x growth rate = {2 * growth}")
    backbone = _DENSENETS.get((growth, tuple(blocks)))
    backbone_kwargs = {} if backbone and bn_size == 4 else {"growth_rate": growth, "block_config": blocks, "bn_size": bn_size}
    settings: dict[str, Any] = {
        "backbone": backbone or "densenet121",
        "backbone_kwargs": backbone_kwargs,
        "bts_size": state_dict["decoder.upconv5.conv.weight"].shape[0],
    }
    if dataset == "kitti":
        return BtsConfig.kitti(**{**settings, **overrides})
    return BtsConfig(**{**settings, "max_depth": 10.0, "image_size": [480, 640], **overrides})


def _bts_rules(config: BtsConfig) -> list:
    dilations = list(config.daspp_dilations)

    def atrous(match) -> str:
        dilation, part, tensor = int(match[1]), match[2], match[3]
        if dilation not in dilations:
            raise ValueError(f"daspp_{dilation} is not one of the config's dilations {dilations}")
        return f"decoder.daspp.branches.{dilations.index(dilation)}.{_ATROUS_PARTS[part]}.{tensor}"

    def reduction(match) -> str:
        scale, width = match[1], match[2]
        first = config.bts_size // _REDUCTION_WIDTH[scale]
        if width is None:  # plane_params / final.0: after all of our stack's hidden convs
            position = sum(1 for k in range(first.bit_length()) if first >> k >= 8)
        else:
            position = round(math.log2(first / int(width)))
        return f"decoder.reduc{scale}.reduc.{2 * position}.weight"

    return [
        (r"encoder\.base_model\.(.+)", r"encoder.backbone.features.\1"),
        (r"decoder\.(upconv[1-5])\.conv\.weight", r"decoder.\1.conv.weight"),
        (rf"decoder\.(bn5|bn4|bn4_2|bn3|bn2)\.{_BN}", r"decoder.\1.\2"),
        (r"decoder\.(conv[1-5])\.0\.weight", r"decoder.\1.0.weight"),
        (r"decoder\.daspp_conv\.0\.weight", "decoder.daspp.daspp_conv.0.weight"),
        (rf"decoder\.daspp_(\d+)\.atrous_conv\.(first_bn|aconv_sequence\.2)\.{_BN}", atrous),
        (r"decoder\.daspp_(\d+)\.atrous_conv\.(aconv_sequence\.[14])\.(weight)", atrous),
        (r"decoder\.reduc(8x8|4x4|2x2|1x1)\.reduc\.(?:inter_\d+_(\d+)\.0|plane_params|final\.0)\.weight", reduction),
        (r"decoder\.get_depth\.0\.weight", "decoder.get_depth.weight"),
    ]


def convert_bts_release(
    path: str | os.PathLike, dataset: str | None = None, **config_overrides: Any
) -> ConversionResult:
    """`mde-hub convert bts PATH`: a BTS release (zip, folder or `model` file) as an mde-hub BTS in eval mode.

    `dataset` ("nyu" or "kitti") is read off the names when not given; `config_overrides` go to `BtsConfig`."""
    checkpoint, names = read_bts_release(path)
    what = f"BTS release {os.fspath(path)}"
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("model"), dict):
        raise ValueError(f"{what} is not a bts_main.py checkpoint (a dict with the model state under 'model')")
    dataset = dataset_of(names, dataset, what)
    state_dict = strip_prefix(checkpoint["model"])
    config = bts_config_from_state_dict(state_dict, dataset, **config_overrides)
    model = fill_model(BtsForDepthEstimation, config, rename_state_dict(state_dict, _bts_rules(config), what), what)
    notes = [
        f"Converted from the BTS authors' release {'/'.join(names)} ({'KITTI Eigen' if dataset == 'kitti' else 'NYU Depth v2'}); "
        "the graph of their pytorch/bts_test.py, eval mode.",
    ]
    if config.focal_scaling:
        notes.append("KITTI model: depth is multiplied by focal / 715.0873 when each image's focal (pixels) is given.")
    skipped = [describe_entry(key, value) for key, value in checkpoint.items() if key != "model"]
    return ConversionResult(model, source=f"BTS release {'/'.join(names)}", skipped=skipped, notes=notes)
