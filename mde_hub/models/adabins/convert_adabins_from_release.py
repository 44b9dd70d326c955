"""Convert the AdaBins authors' released models (`AdaBins_nyu.pt`, `AdaBins_kitti.pt`) to mde-hub's
`AdaBinsForDepthEstimation`.

Each file is what AdaBins:model_io.py `save_checkpoint` writes: a `torch.save`d dict with `model` (the state dict of
`UnetAdaptiveBins`, keys prefixed `module.` when it was trained under (Distributed)DataParallel), `optimizer`
(AdamW) and `epoch`. `model_io.load_checkpoint`, which the authors' `infer.py` uses, strips `module.` and renames
two blocks of an older naming (`adaptive_bins_layer.embedding_conv` for the 3x3 key conv and
`patch_transformer.embedding_encoder` for the patch embedding); both namings are read here. Only `model` is
converted; `optimizer` and `epoch` are listed in `ConversionResult.skipped`. Files are read with
`torch.load(weights_only=True)`.

Key mapping (after `module.`): `encoder.original_model.*` (gen-efficientnet's `tf_efficientnet_b5_ap`, the same
parameter names as timm's `tf_efficientnet_b5.ap_in1k`) -> `encoder.backbone.*`; `decoder.up<n>._net.<i>` ->
`decoder.up_blocks.<n-1>.convs.<i>`; `adaptive_bins_layer` -> `mini_vit` (`embedding_convPxP` ->
`patch_transformer.embedding_conv`); `conv_out.0` -> `conv_out`. The encoder's `bn2` (after `conv_head`, whose output
is the bottleneck tap) is in the file and in our backbone, and unused by both graphs.

The dataset (NYU: 1e-3 to 10 m at 480x640; KITTI: 1e-3 to 80 m at the 352x1216 KB crop) is read off the file name
or passed as `dataset=`; `n_bins` comes from the shapes. The default config is `infer.py`'s graph without its
horizontal-flip averaging (an evaluation option: `--flip-tta`): depth at H/2 clipped to the depth range, bilinearly
upsampled with `align_corners=True` to the input size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..conversion import ConversionResult
from ..conversion_utils import (
    dataset_of,
    describe_entry,
    fill_model,
    load_pickled_checkpoint,
    rename_state_dict,
    strip_prefix,
)
from .configuration_adabins import AdaBinsConfig
from .modeling_adabins import AdaBinsForDepthEstimation

_ADABINS_RULES = [
    (r"encoder\.original_model\.(.+)", r"encoder.backbone.\1"),
    (r"decoder\.(conv2|conv3)\.(weight|bias)", r"decoder.\1.\2"),
    (r"decoder\.up1\._net\.(\d)\.(.+)", r"decoder.up_blocks.0.convs.\1.\2"),
    (r"decoder\.up2\._net\.(\d)\.(.+)", r"decoder.up_blocks.1.convs.\1.\2"),
    (r"decoder\.up3\._net\.(\d)\.(.+)", r"decoder.up_blocks.2.convs.\1.\2"),
    (r"decoder\.up4\._net\.(\d)\.(.+)", r"decoder.up_blocks.3.convs.\1.\2"),
    (
        r"adaptive_bins_layer\.patch_transformer\.(?:embedding_convPxP|embedding_encoder)\.(weight|bias)",
        r"mini_vit.patch_transformer.embedding_conv.\1",
    ),
    (r"adaptive_bins_layer\.patch_transformer\.(positional_encodings|transformer_encoder\..+)", r"mini_vit.patch_transformer.\1"),
    (r"adaptive_bins_layer\.(?:conv3x3|embedding_conv)\.(weight|bias)", r"mini_vit.conv3x3.\1"),
    (r"adaptive_bins_layer\.regressor\.(\d)\.(weight|bias)", r"mini_vit.regressor.\1.\2"),
    (r"conv_out\.0\.(weight|bias)", r"conv_out.\1"),
]


def convert_adabins_release(
    path: str | os.PathLike, dataset: str | None = None, **config_overrides: Any
) -> ConversionResult:
    """`mde-hub convert adabins FILE`: `AdaBins_nyu.pt` or `AdaBins_kitti.pt` as an mde-hub AdaBins in eval mode.

    `dataset` ("nyu" or "kitti") is read off the file name when not given; `config_overrides` go to
    `AdaBinsConfig`."""
    path = Path(path)
    what = f"AdaBins release {path}"
    checkpoint = load_pickled_checkpoint(path)
    state = checkpoint.get("model", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict) or not state:
        raise ValueError(f"{what} is not a model_io.py checkpoint (a dict with the model state under 'model')")
    dataset = dataset_of([path.name], dataset, what)
    state_dict = strip_prefix(state)
    if "conv_out.0.weight" not in state_dict:
        raise ValueError(f"{what} has no conv_out.0.weight: not a UnetAdaptiveBins state dict")
    settings = {"n_bins": state_dict["conv_out.0.weight"].shape[0], **config_overrides}
    config = AdaBinsConfig.kitti(**settings) if dataset == "kitti" else AdaBinsConfig(**settings)
    model = fill_model(AdaBinsForDepthEstimation, config, rename_state_dict(state_dict, _ADABINS_RULES, what), what)
    skipped = [describe_entry(key, value) for key, value in checkpoint.items() if key != "model"] if "model" in checkpoint else []
    notes = [
        f"Converted from the AdaBins authors' release {path.name} ({'KITTI' if dataset == 'kitti' else 'NYU Depth v2'}); "
        "the graph of their infer.py without horizontal-flip averaging (evaluate with --flip-tta for it).",
    ]
    return ConversionResult(model, source=f"AdaBins release {path.name}", skipped=skipped, notes=notes)
