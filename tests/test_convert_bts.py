"""Converting the BTS authors' released PyTorch models (format `bts`): fixtures in the released container (a zip
holding `<model_name>/model`, the bts_main.py checkpoint dict written in PyTorch 1.2's legacy format with numpy 1's
pickles, `module.`-prefixed keys, AdamW state and the online-evaluation entries), made from a tiny model with random
weights; completeness, and a round trip through an independent renaming (ours -> the authors' names -> ours) that
must give the same weights bit for bit and the same depth."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from release_fixtures import adamw_state, assert_same_model, randomize_batchnorms
from transformers import AutoConfig

from mde_hub import BtsConfig, BtsForDepthEstimation
from mde_hub.models.bts.convert_bts_from_release import convert_bts_release
from mde_hub.models.conversion import CONVERTERS, convert_checkpoint

NYU_NAME = "bts_nyu_v2_pytorch_densenet161"
EIGEN_NAME = "bts_eigen_v2_pytorch_densenet161"
SHIPPED_BTS = Path(__file__).resolve().parent.parent / "checkpoints" / "bts-densenet121-k16-mix-scratch"
# bts_size 128: the smallest width at which every reduction of the authors' decoder ends in its final conv
TINY = {"bts_size": 128}


def random_model(kitti: bool = False, seed: int = 0) -> BtsForDepthEstimation:
    """A tiny BTS whose every tensor (BatchNorm statistics included) is random."""
    torch.manual_seed(seed)
    config = BtsConfig.tiny(**TINY)
    if kitti:
        config = BtsConfig.kitti(backbone_kwargs=config.backbone_kwargs, **TINY)
    return randomize_batchnorms(BtsForDepthEstimation(config).eval())


def authors_names(model: BtsForDepthEstimation) -> dict[str, torch.Tensor]:
    """Our state dict under the names of BTS:pytorch/bts.py's `BtsModel` wrapped in DistributedDataParallel."""
    dilations = list(model.config.daspp_dilations)
    atrous = {"norm_in": "first_bn", "reduce": "aconv_sequence.1", "norm": "aconv_sequence.2", "conv": "aconv_sequence.4"}
    released = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("encoder.backbone.features."):
            name = "encoder.base_model." + key.removeprefix("encoder.backbone.features.")
        elif match := re.fullmatch(r"decoder\.daspp\.branches\.(\d)\.(\w+)\.(\w+)", key):
            name = f"decoder.daspp_{dilations[int(match[1])]}.atrous_conv.{atrous[match[2]]}.{match[3]}"
        elif key == "decoder.daspp.daspp_conv.0.weight":
            name = "decoder.daspp_conv.0.weight"
        elif match := re.fullmatch(r"decoder\.(reduc\dx\d)\.reduc\.(\d+)\.weight", key):
            stack = getattr(model.decoder, match[1]).reduc
            if int(match[2]) == len(stack) - 1:
                layer = "final.0" if match[1] == "reduc1x1" else "plane_params"
            else:
                layer = f"inter_{tensor.shape[1]}_{tensor.shape[0]}.0"
            name = f"decoder.{match[1]}.reduc.{layer}.weight"
        elif key == "decoder.get_depth.weight":
            name = "decoder.get_depth.0.weight"
        else:
            name = key
        released["module." + name] = tensor.clone()
    return released


def release_checkpoint(model: BtsForDepthEstimation) -> bytes:
    """The `model` file as bts_main.py saves its best checkpoints (PyTorch 1.2 legacy format, numpy 1 pickles)."""
    state = authors_names(model)
    encoder = sum(key.startswith("module.encoder.") and tensor.is_floating_point() for key, tensor in state.items())
    groups = [{"weight_decay": 1e-2, "eps": 1e-3}, {"weight_decay": 0.0, "eps": 1e-3}]  # bts_main.py's AdamW
    checkpoint = {
        "global_step": 61000,
        "model": state,
        "optimizer": adamw_state(state, groups, encoder),
        "best_eval_measures_higher_better": torch.tensor([0.885, 0.978, 0.994]),
        "best_eval_measures_lower_better": torch.tensor([11.533, 0.047, 0.110, 0.066, 0.392, 0.142]),
        "best_eval_steps": np.array([61000, 60500, 59000, 61000, 58500, 61000, 60000, 61000, 57000], dtype=np.int32),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=False)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # as numpy 1 wrote it


def write_release(folder: Path, model: BtsForDepthEstimation, name: str) -> Path:
    """`<name>.zip` with `<name>/model` and the copy of the model code that bts_test.py imports (not read here)."""
    archive_path = folder / f"{name}.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr(f"{name}/{name}.py", "# the authors' bts.py, copied by bts_main.py\n")
        archive.writestr(f"{name}/model", release_checkpoint(model))
    return archive_path


@pytest.fixture(scope="module")
def nyu_release(tmp_path_factory) -> tuple[BtsForDepthEstimation, Path]:
    model = random_model()
    return model, write_release(tmp_path_factory.mktemp("bts_nyu"), model, NYU_NAME)


def test_the_formats_are_registered() -> None:
    assert CONVERTERS["bts"] == "mde_hub.models.bts.convert_bts_from_release:convert_bts_release"
    assert CONVERTERS["adabins"].endswith("convert_adabins_from_release:convert_adabins_release")


def test_nyu_zip_converts_every_tensor_and_round_trips_bit_identically(nyu_release) -> None:
    original, archive = nyu_release
    result = convert_checkpoint("bts", archive)
    assert not result.model.training
    config = result.model.config
    assert (config.max_depth, config.focal_scaling, list(config.image_size), config.bts_size) == (10.0, False, [480, 640], 128)
    assert config.daspp_inner_norm_eps == 1e-5  # the reference's aconv_sequence BatchNorm keeps PyTorch's default
    assert_same_model(result.model, original, ["predicted_depth"])
    skipped = "\n".join(result.skipped)
    for entry in ("global_step = 61000", "optimizer: optimizer state (2 parameter groups", "best_eval_steps: ndarray"):
        assert entry in skipped
    assert len(result.skipped) == 5 and NYU_NAME in result.source


def test_eigen_release_is_the_kitti_model_with_focal_scaling(tmp_path) -> None:
    original = random_model(kitti=True, seed=3)
    result = convert_bts_release(write_release(tmp_path, original, EIGEN_NAME))
    config = result.model.config
    assert (config.max_depth, config.focal_scaling, list(config.image_size)) == (80.0, True, [352, 1216])
    assert_same_model(result.model, original, ["predicted_depth"], focal=torch.tensor([721.5377]))
    assert any("715.0873" in note for note in result.notes)


@pytest.mark.parametrize("form", ["folder", "model file"])
def test_the_extracted_folder_and_the_model_file_convert_alike(nyu_release, tmp_path, form) -> None:
    original, archive = nyu_release
    with zipfile.ZipFile(archive) as handle:
        handle.extractall(tmp_path)
    path = tmp_path if form == "folder" else tmp_path / NYU_NAME / "model"
    assert_same_model(convert_bts_release(path).model, original, ["predicted_depth"])


def test_the_dataset_comes_from_the_names_or_the_option(nyu_release, tmp_path) -> None:
    original, archive = nyu_release
    with zipfile.ZipFile(archive) as handle:
        (tmp_path / "model").write_bytes(handle.read(f"{NYU_NAME}/model"))
    with pytest.raises(ValueError, match="dataset='nyu' or dataset='kitti'"):
        convert_bts_release(tmp_path / "model")
    assert convert_bts_release(tmp_path / "model", dataset="kitti").model.config.max_depth == 80.0


def rewritten_release(tmp_path: Path, archive: Path, change) -> Path:
    """The release with its model state changed by `change`, saved again the same way."""
    with zipfile.ZipFile(archive) as handle:
        checkpoint = torch.load(io.BytesIO(handle.read(f"{NYU_NAME}/model")), weights_only=False)
    change(checkpoint["model"])
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer, _use_new_zipfile_serialization=False)
    path = tmp_path / f"{NYU_NAME}.zip"
    with zipfile.ZipFile(path, "w") as handle:
        handle.writestr(f"{NYU_NAME}/model", buffer.getvalue())
    return path


def test_an_unconsumed_tensor_is_named(nyu_release, tmp_path) -> None:
    path = rewritten_release(tmp_path, nyu_release[1], lambda state: state.update({"module.decoder.extra.weight": torch.ones(1)}))
    with pytest.raises(ValueError, match=r"match no conversion rule: \[decoder\.extra\.weight\]"):
        convert_bts_release(path)


def test_a_missing_weight_is_named(nyu_release, tmp_path) -> None:
    path = rewritten_release(tmp_path, nyu_release[1], lambda state: state.pop("module.decoder.bn4_2.running_var"))
    with pytest.raises(ValueError, match=r"missing 1 weights \[decoder\.bn4_2\.running_var\]"):
        convert_bts_release(path)


def test_a_resnet_release_is_refused_with_the_reason(nyu_release, tmp_path) -> None:
    def to_resnet(state):
        state.clear()
        state["module.encoder.base_model.conv1.weight"] = torch.zeros(64, 3, 7, 7)

    with pytest.raises(ValueError, match="ResNet/ResNeXt encoder; mde-hub's BTS has DenseNet encoders only"):
        convert_bts_release(rewritten_release(tmp_path, nyu_release[1], to_resnet))


def test_configs_saved_before_the_daspp_eps_field_keep_their_eps() -> None:
    saved = BtsConfig.tiny().to_dict()
    saved.pop("daspp_inner_norm_eps")
    old = BtsConfig.from_dict(saved)
    assert old.daspp_inner_norm_eps == 1.1e-5 and BtsConfig.tiny().daspp_inner_norm_eps == 1e-5
    assert BtsConfig.from_dict(BtsConfig.tiny().to_dict()).daspp_inner_norm_eps == 1e-5
    norms = [branch.norm.eps for branch in BtsForDepthEstimation(old).decoder.daspp.branches]
    assert norms == [1.1e-5] * 5
    if SHIPPED_BTS.is_dir():  # our first checkpoint was trained with 1.1e-5 there
        assert AutoConfig.from_pretrained(SHIPPED_BTS).daspp_inner_norm_eps == 1.1e-5
