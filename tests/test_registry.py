"""The model registry (`mde_hub.models.registry`): one entry per model folder, and every fact it holds is the one the
rest of mde-hub uses (Auto classes, ONNX export, model cards, the app, bench, training, published results), with no
second table left in a consumer."""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import replace
from pathlib import Path

import pytest
from transformers import AutoConfig, AutoModelForDepthEstimation

import mde_hub
from mde_hub import MODEL_CLASSES
from mde_hub.data.frames import DATASET_CAMERAS, KITTI_CAMERA, NYU_CAMERA
from mde_hub.evaluation.protocols import get_protocol
from mde_hub.evaluation.published import DATASET_NAMES, PUBLISHED_RESULTS, published_results
from mde_hub.models.registry import (
    CardFields,
    ModelEntry,
    Preset,
    camera_of,
    default_focal,
    display_name,
    entries,
    get_entry,
    published_to_compare,
    register,
)

PACKAGE = Path(mde_hub.__file__).resolve().parent
MODELS = PACKAGE / "models"
REPO = PACKAGE.parent
FOLDERS = sorted(path.parent.name for path in MODELS.glob("*/__init__.py"))
ENTRIES = {entry.model_type: entry for entry in entries()}
PRESETS = [(entry.model_type, name) for entry in entries() for name in entry.presets]


def _folder(cls: type) -> str:
    return cls.__module__.split(".")[2]


def test_every_model_folder_registers_exactly_one_entry() -> None:
    assert sorted(_folder(entry.config_class) for entry in entries()) == FOLDERS
    for entry in entries():
        folder = _folder(entry.config_class)
        assert _folder(entry.model_class) == folder
        source = (MODELS / folder / "registration.py").read_text()
        assert source.count("register(") == 1, folder
        assert importlib.import_module(f"mde_hub.models.{folder}").ENTRY is entry


def test_entries_agree_with_model_classes_and_the_auto_classes() -> None:
    assert MODEL_CLASSES == {entry.model_type: (entry.config_class, entry.model_class) for entry in entries()}
    for entry in entries():
        assert type(AutoConfig.for_model(entry.model_type)) is entry.config_class
        assert AutoModelForDepthEstimation._model_mapping[entry.config_class] is entry.model_class
        assert entry.slug == entry.model_type.removeprefix("mde_") and entry.slug in entry.card.tags


def test_entries_are_listed_in_paper_order() -> None:
    assert [entry.name for entry in entries()] == ["Baseline", "DenseDepth", "BTS", "AdaBins", "DPT"]
    assert [display_name(model_type) for model_type in MODEL_CLASSES] == [entry.name for entry in entries()]
    assert display_name("depth_anything") == "depth_anything"
    with pytest.raises(KeyError, match="no mde-hub model has model_type 'dpt'"):
        get_entry("dpt")


@pytest.mark.parametrize("model_type,preset", PRESETS)
def test_each_preset_builds_its_config_class_for_its_data_set(model_type: str, preset: str) -> None:
    entry = ENTRIES[model_type]
    config = entry.config(preset)
    assert type(config) is entry.config_class
    dataset = entry.presets[preset].dataset
    if dataset is not None:  # the camera the app assumes for it is its data set's
        assert camera_of(config) is DATASET_CAMERAS[dataset]
    assert entry.config(preset, max_depth=42.0).max_depth == 42.0  # overrides reach the config


def test_the_default_preset_is_the_config_class_defaults_and_bench_rows_exist() -> None:
    for entry in entries():
        assert entry.config().to_dict() == entry.config_class().to_dict()
        assert entry.presets["default"].dataset == "nyu_depth_v2"
    with pytest.raises(ValueError, match="BaselineConfig has no 'kitti' preset; its presets: default, tiny"):
        get_entry("mde_baseline").config("kitti")


def test_cameras_and_default_focal() -> None:
    assert list(DATASET_CAMERAS) == list(DATASET_NAMES) == ["nyu_depth_v2", "kitti"]
    assert camera_of(object()) is NYU_CAMERA and camera_of(_config_up_to(10.0)) is NYU_CAMERA
    assert camera_of(_config_up_to(20.0)) is KITTI_CAMERA and camera_of(_config_up_to(500.0)) is KITTI_CAMERA
    bts, dpt = get_entry("mde_bts"), get_entry("mde_dpt")
    assert default_focal(bts.config(), 320) == pytest.approx(518.8579 / 2)
    assert default_focal(dpt.config("kitti"), 1242) == pytest.approx(721.5377)
    assert default_focal(bts.config("kitti"), 621) == pytest.approx(715.0873 / 2)  # its reference focal: no scaling


def _config_up_to(max_depth: float):
    """A config whose depth range ends at `max_depth`."""
    return get_entry("mde_baseline").config(max_depth=max_depth)


def test_published_rows_come_from_the_entries() -> None:
    assert PUBLISHED_RESULTS == tuple(row for entry in entries() for row in entry.published)
    for entry in entries():
        assert published_results(entry.model_type) == entry.published
        for row in entry.published:
            assert row.model == entry.model_type and row.dataset in DATASET_CAMERAS
            get_protocol(row.protocol)  # a protocol mde-hub has
    # the Baseline has no paper: it is compared with every paper's rows on NYU Depth v2, its presets' data set
    assert published_to_compare("mde_baseline") == published_results(dataset="nyu_depth_v2")
    assert published_to_compare("mde_bts") == get_entry("mde_bts").published


def test_card_facts_match_the_templates_and_configs() -> None:
    from mde_hub.outputs.model_card import template_path

    for entry in entries():
        config = entry.config()
        assert all(hasattr(config, name) for name in entry.card.summary_fields), entry.model_type
        template = template_path(entry.model_type).read_text()
        assert f"model_type: {entry.model_type}" in template
        assert ("GPL-3.0" in template) == (entry.card.reference_licence == "GPL-3.0"), entry.model_type
    readme = (REPO / "README.md").read_text()
    gpl = [entry.name for entry in entries() if entry.card.reference_licence == "GPL-3.0"]
    assert f"{', '.join(gpl[:-1])} and {gpl[-1]}' reference code is GPL-3.0" in readme


def test_onnx_bench_and_training_read_the_registry() -> None:
    from mde_hub.benchmarking.models import paper_specs
    from mde_hub.inference.onnx_export import side_multiple
    from mde_hub.training.arguments import MODEL_PRESETS, ModelArguments

    assert {model_type: side_multiple(model_type) for model_type in ENTRIES} == {
        "mde_baseline": 8, "mde_densedepth": 32, "mde_bts": 32, "mde_adabins": None, "mde_dpt": 32,
    }
    assert side_multiple("dpt") is None
    assert [spec.name for spec in paper_specs(None, quick=False)] == [
        "baseline", "densedepth", "bts", "adabins", "dpt-hybrid", "dpt-large",
    ]
    assert [spec.name for spec in paper_specs(None, quick=True)] == [f"{entry.slug}-tiny" for entry in entries()]
    assert set(MODEL_PRESETS) == {name for entry in entries() for name in entry.presets}
    with pytest.raises(ValueError, match="mde_densedepth has no config_preset 'kitti'; its presets: default, tiny"):
        ModelArguments(model_type="mde_densedepth", config_preset="kitti")


def test_register_refuses_a_second_entry_and_a_malformed_one() -> None:
    bts = get_entry("mde_bts")
    assert register(bts) is bts  # registering the same entry again is harmless
    with pytest.raises(ValueError, match="registered twice"):
        register(replace(bts, name="BTS again"))
    with pytest.raises(ValueError, match="no 'tiny' preset"):
        replace(bts, presets={"default": bts.presets["default"]})
    with pytest.raises(ValueError, match="unknown data set 'nyu'"):
        replace(bts, presets={**bts.presets, "kitti": Preset(bts.presets["kitti"].build, "nyu", "")})
    with pytest.raises(ValueError, match="a published row is of 'mde_dpt'"):
        replace(bts, published=get_entry("mde_dpt").published)
    assert isinstance(bts.card, CardFields) and isinstance(bts, ModelEntry)


# Per-model tables the registry replaced, and what held model types or cameras outside the registry and data.frames.
REMOVED_NAMES = ("ARCHITECTURE_NAMES", "SUMMARY_FIELDS", "ARCHITECTURES", "DYNAMIC_SIDE_MULTIPLE", "PAPER_CONFIGS")
MODEL_TYPE_LITERAL = re.compile(r"""["']mde_(baseline|densedepth|bts|adabins|dpt)["']""")
CAMERA_NAMES = {"NYU_INTRINSICS", "KITTI_INTRINSICS", "NYU_FRAME", "KITTI_FRAME", "NYU_CAMERA", "KITTI_CAMERA"}
CAMERA_NUMBERS = {518.8579, 519.4696, 721.5377}


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_consumer_keeps_a_table_of_models() -> None:
    for path in _package_files():
        text = path.read_text()
        assert not [name for name in REMOVED_NAMES if re.search(rf"\b{name}\b", text)], path
        in_a_model_folder = path.parent.parent == MODELS
        assert in_a_model_folder or not MODEL_TYPE_LITERAL.search(text), path  # model types live in model folders


def test_only_data_frames_defines_the_nyu_and_kitti_cameras() -> None:
    for path in _package_files():
        if path == PACKAGE / "data" / "frames.py":
            continue
        tree = ast.parse(path.read_text())
        assigned = {
            target.id
            for node in ast.walk(tree)
            if isinstance(node, (ast.Assign, ast.AnnAssign))
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
            if isinstance(target, ast.Name)
        }
        numbers = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and node.value in CAMERA_NUMBERS}
        assert not assigned & CAMERA_NAMES and not numbers, path


def test_image_size_is_the_processor_size_in_every_family_that_has_one() -> None:
    from mde_hub.models.baseline.configuration_baseline import BaselineConfig

    configs = [entry.config(preset) for entry in entries() for preset in entry.presets]
    assert sum(hasattr(config, "image_size") for config in configs) > len(entries())
    for config in configs:
        if hasattr(config, "image_size"):
            height, width = config.image_size
            assert config.image_processor_kwargs()["size"] == {"height": height, "width": width}
    # A Baseline config saved with a square int loads as (height, width).
    assert BaselineConfig.from_dict({**BaselineConfig().to_dict(), "image_size": 128}).image_size == (128, 128)
