"""`mde-hub card`: Hub model cards from a checkpoint, its training record and evaluation JSONs; published numbers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import pathlib
import re

import pytest
import transformers
from huggingface_hub import ModelCard

from mde_hub import MODEL_CLASSES, image_processor_for
from mde_hub.cli import main
from mde_hub.evaluation.evaluate import EvaluationResult
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.protocols import PROTOCOLS, get_protocol
from mde_hub.evaluation.published import DATASET_NAMES, PUBLISHED_RESULTS, published_results
from mde_hub.outputs.model_card import public_source, render_model_card, write_model_card

MODELS_MD = pathlib.Path(__file__).resolve().parents[2] / "shared" / "docs" / "MODELS.md"
# Values with many digits, so that a rounded or re-parsed number would not compare equal.
NYU_METRICS = {
    "abs_rel": 0.12345678901234567,
    "sq_rel": 0.0712,
    "rmse": 0.43210987654321,
    "rmse_log": 0.151,
    "log10": 0.0523,
    "silog": 12.3456789,
    "delta1": 0.87654321,
    "delta2": 0.975,
    "delta3": 0.9931,
}
RECORD = {
    "recipe": "train/recipes/baseline_nyu.json",
    "arguments": {"model": {"model_type": "mde_baseline"}, "training": {"learning_rate": 0.0002}},
    "command": "python train/train.py --recipe train/recipes/baseline_nyu.json",
    "dataset": "NYU Depth v2 DenseDepth nyu_data.zip, 50688 frames",
    "train_samples": 50688,
    "global_step": 47520,
    "epochs": 30.0,
    "hardware": "1 x NVIDIA H100",
    "wall_time_s": 7384.0,
    "final_eval": {"eval_loss": 0.3, "eval_abs_rel": 0.1875, "eval_delta1": 0.75},
}


def _sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=sorted(MODEL_CLASSES))
def checkpoint(request, tmp_path_factory) -> pathlib.Path:
    """A tiny random model of each type, saved with its image processor."""
    config_class, model_class = MODEL_CLASSES[request.param]
    config = config_class.tiny()
    path = tmp_path_factory.mktemp(request.param) / "tiny-model"
    model_class(config).save_pretrained(path)
    image_processor_for(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def baseline_checkpoint(tmp_path_factory) -> pathlib.Path:
    config_class, model_class = MODEL_CLASSES["mde_baseline"]
    config = config_class.tiny()
    path = tmp_path_factory.mktemp("baseline") / "baseline"
    model_class(config).save_pretrained(path)
    image_processor_for(config).save_pretrained(path)
    return path


def _eval_json(
    path: pathlib.Path,
    checkpoint: pathlib.Path,
    protocol: str = "nyu_eigen",
    dataset: str = "NyuSyncFolder",
    flip_tta: bool = False,
    **model: str,
) -> pathlib.Path:
    """An evaluation JSON written by `EvaluationResult.to_json`, as `mde-hub evaluate` writes it."""
    config = json.loads((checkpoint / "config.json").read_text())
    result = EvaluationResult(
        metrics=dict(NYU_METRICS),
        num_images=654,
        num_skipped=0,
        protocol=dataclasses.asdict(get_protocol(protocol)),
        settings={"flip_tta": flip_tta, "alignment": "none", "alignment_space": "depth", "limit": None},
        model={"name": checkpoint.name, "path": str(checkpoint), "model_type": config["model_type"],
               "weights_sha256": _sha256(checkpoint / "model.safetensors"), **model},
        dataset={"class": dataset, "len": 654},
        versions={"mde_hub": "0.1.0", "transformers": "5.24.0"},
        timestamp="2025-01-01T00:00:00+00:00",
    )
    result.to_json(path)
    return path


def _table_rows(text: str) -> dict[str, list[str]]:
    """Markdown table rows of `text` keyed by their first cell."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
    return rows


def _published_block(text: str, dataset: str) -> str:
    """The published table of `dataset` and its notes."""
    start = text.index(f"**{DATASET_NAMES[dataset]}**")
    ends = [text.find(marker, start + 2) for marker in ("\n**", "\n## ")]
    return text[start:min(end for end in ends if end > 0)]


def _metric_cells(cells: list[str]) -> dict[str, float]:
    """The last nine cells of a row as metric values (the table columns follow METRIC_NAMES)."""
    return {name: float(cell) for name, cell in zip(METRIC_NAMES, cells[-9:]) if cell != "–"}


# --- published results -------------------------------------------------------------------------------------------


def test_published_results_are_well_formed() -> None:
    assert len(PUBLISHED_RESULTS) == 11
    for result in PUBLISHED_RESULTS:
        assert result.model in MODEL_CLASSES and result.model != "mde_baseline"
        assert result.dataset in DATASET_NAMES
        assert result.protocol in PROTOCOLS
        assert result.protocol.startswith({"nyu_depth_v2": "nyu_", "kitti": "kitti_"}[result.dataset])
        assert result.metrics and set(result.metrics) <= set(METRIC_NAMES)
        assert all(isinstance(value, float) and value > 0 for value in result.metrics.values())
        assert re.search(r"MODELS\.md §\d\.\d", result.source)
        assert all(0 < result.metrics[name] <= 1 for name in result.metrics if name.startswith("delta"))


def test_published_results_filter() -> None:
    bts = published_results("mde_bts")
    assert [(r.variant, r.dataset) for r in bts] == [
        ("DenseNet-161", "nyu_depth_v2"), ("DenseNet-161", "kitti"), ("ResNeXt-101", "kitti")
    ]
    assert [r.model for r in published_results(dataset="kitti")].count("mde_dpt") == 2
    assert published_results("mde_adabins", "nyu_depth_v2")[0].metrics["abs_rel"] == 0.103
    assert published_results("mde_baseline") == ()
    with pytest.raises(ValueError, match="unknown dataset 'nyu'"):
        published_results(dataset="nyu")


def _section(text: str, number: str) -> str:
    start = text.index(f"### {number} ")
    end = text.find("\n##", start + 1)
    return text[start:end]


def test_published_numbers_are_the_ones_models_md_gives() -> None:
    if not MODELS_MD.is_file():
        pytest.skip("../shared/docs/MODELS.md is not present")
    text = MODELS_MD.read_text()
    for result in PUBLISHED_RESULTS:
        section = _section(text, re.search(r"§(\d\.\d)", result.source).group(1))
        for name, value in result.metrics.items():
            assert f"{value:.3f}" in section, (result.variant, result.source, name, value)
    # Spot checks that each number sits beside its own metric name.
    assert re.search(r"AbsRel \**0\.103\**, RMSE \**0\.364", _section(text, "4.6"))
    assert "SILog 11.533, log10 0.047" in _section(text, "5.4")
    assert "RMSE **2.573**, RMSE-log 0.092" in _section(text, "3.5")
    assert "SqRel 0.589,\n  RMSE 4.170, RMSE log 0.171" in _section(text, "2.5")
    assert published_results("mde_bts", "nyu_depth_v2")[0].metrics["silog"] == 11.533
    assert published_results("mde_dpt", "kitti")[0].metrics["rmse"] == 2.573
    assert published_results("mde_densedepth", "kitti")[0].metrics["rmse_log"] == 0.171


# --- cards -------------------------------------------------------------------------------------------------------


def test_card_renders_with_front_matter_model_index_and_published_table(checkpoint, tmp_path) -> None:
    results = _eval_json(tmp_path / "nyu.json", checkpoint)
    text = render_model_card(checkpoint, results, repo_id="someone/tiny-depth")
    model_type = json.loads((checkpoint / "config.json").read_text())["model_type"]

    card = ModelCard(text)
    data = card.data
    assert data.pipeline_tag == "depth-estimation" and data.library_name == "mde-hub"
    assert "`pip install -r requirements.txt -e .`" in card.text and "The snippets need **mde-hub**" in card.text
    assert data.license == "apache-2.0"
    assert data.datasets == ["nyu_depth_v2"]
    assert data.tags == ["depth-estimation", "monocular-depth-estimation", "metric-depth", "mde-hub",
                         model_type.removeprefix("mde_")]
    assert data.model_name == "someone/tiny-depth"
    assert {r.metric_type: r.metric_value for r in data.eval_results} == NYU_METRICS
    assert {(r.task_type, r.dataset_type, r.dataset_name, r.metric_config) for r in data.eval_results} == {
        ("depth-estimation", "nyu_depth_v2", "NYU Depth v2", "nyu_eigen")
    }

    assert "${" not in card.text and 'model="someone/tiny-depth"' in card.text
    assert "crop rows 45-470, cols 41-600 of the 480×640 frame" in card.text
    assert "0.001 m < gt < 10 m" in card.text and "clipped to [0.001, 10] m" in card.text
    rows = _table_rows(card.text)
    assert [float(cell) for cell in rows["NYU Depth v2"][2:]] == [round(NYU_METRICS[m], 4) for m in METRIC_NAMES]
    published = published_results(model_type) or published_results(dataset="nyu_depth_v2")
    assert published
    for result in published:
        table = _table_rows(_published_block(card.text, result.dataset))
        label = next(key for key in table if key.endswith(public_source(result)))
        assert table[label][0] == f"`{result.protocol}`"
        assert _metric_cells(table[label]) == result.metrics
    ours = _table_rows(_published_block(card.text, "nyu_depth_v2"))["this checkpoint"]
    assert _metric_cells(ours) == {m: round(v, 3) for m, v in NYU_METRICS.items()}
    assert "no `training_record.json` was found" in card.text
    assert "untrained or was trained outside mde-hub" in card.text


def test_kitti_evaluation_with_flip_tta_lands_in_the_kitti_table(checkpoint, tmp_path) -> None:
    results = _eval_json(tmp_path / "kitti.json", checkpoint, "kitti_garg", "RgbdFolder", flip_tta=True)
    text = render_model_card(checkpoint, [results])
    card = ModelCard(text)
    assert card.data.datasets == ["kitti"]
    assert {r.dataset_type for r in card.data.eval_results} == {"kitti"}
    assert "crop rows 0.40810811·H to 0.99189189·H, cols 0.03594771·W to 0.96405229·W" in card.text
    assert "test-time augmentation: horizontal flip" in card.text
    assert _table_rows(card.text)["KITTI (Eigen split)"][0] == "`kitti_garg`, flip TTA"
    model_type = json.loads((checkpoint / "config.json").read_text())["model_type"]
    if model_type == "mde_baseline":
        assert "**KITTI (Eigen split)**" not in card.text  # the Baseline's orientation table is NYU only
    else:
        ours = _table_rows(_published_block(card.text, "kitti"))["this checkpoint"]
        assert ours[0] == "`kitti_garg`, flip TTA"
        assert _metric_cells(ours) == {m: round(v, 3) for m, v in NYU_METRICS.items()}
        assert "this checkpoint" not in _table_rows(_published_block(card.text, "nyu_depth_v2"))
        nyu_protocol = "nyu_densedepth" if model_type == "mde_densedepth" else "nyu_eigen"  # the paper's own protocol
        missing = f"* this checkpoint: not evaluated on NYU Depth v2 (`mde-hub evaluate --protocol {nyu_protocol}`)"
        assert missing in card.text


def test_densedepth_protocol_states_its_abs_rel_and_old_jsons_still_read(baseline_checkpoint, tmp_path) -> None:
    path = _eval_json(tmp_path / "dd.json", baseline_checkpoint, "nyu_densedepth", flip_tta=True)
    data = json.loads(path.read_text())
    data["metrics"]["abs_rel_standard"] = 0.1234
    path.write_text(json.dumps(data))
    text = ModelCard(render_model_card(baseline_checkpoint, [path])).text
    assert "AbsRel: divided by the prediction" in text and "0.1234 for this checkpoint" in text
    assert "gt > 0 m" in text  # no cap
    data["protocol"] = {**data["protocol"], "name": "kitti_garg", "kb_crop": False}  # before kb_crop named a frame
    data["protocol"].pop("abs_rel_denominator")
    path.write_text(json.dumps(data))
    assert "resized to the ground truth" in render_model_card(baseline_checkpoint, [path])


def test_training_record_is_summarised(baseline_checkpoint, tmp_path) -> None:
    checkpoint = tmp_path / "trained"
    checkpoint.mkdir()
    for item in baseline_checkpoint.iterdir():
        (checkpoint / item.name).write_bytes(item.read_bytes())
    (checkpoint / "training_record.json").write_text(json.dumps(RECORD))
    card = ModelCard(render_model_card(checkpoint))
    assert "(recipe `train/recipes/baseline_nyu.json`) on NYU Depth v2 DenseDepth nyu_data.zip, 50688 frames" in (
        card.text
    )
    assert "(50,688 training samples): 47,520 optimiser steps (30 epochs) on 1 x NVIDIA H100 in 2 h 03 min" in card.text
    assert "Evaluation at the end of training: AbsRel 0.1875, δ1 0.7500." in card.text
    assert "```bash\npython train/train.py --recipe train/recipes/baseline_nyu.json\n```" in card.text
    assert '"learning_rate": 0.0002' in card.text
    assert card.data.datasets == ["nyu_depth_v2"] and card.data.eval_results is None
    assert "This checkpoint has not been evaluated" in card.text

    (checkpoint / "training_record.json").write_text(json.dumps({k: v for k, v in RECORD.items() if k != "hardware"}))
    with pytest.raises(ValueError, match=r"training record .*training_record\.json lacks hardware"):
        render_model_card(checkpoint)


def test_bad_evaluation_json_names_the_file(baseline_checkpoint, tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="evaluation JSON not found: .*missing.json"):
        render_model_card(baseline_checkpoint, tmp_path / "missing.json")
    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"metrics": {"abs_rel": 0.1,')
    with pytest.raises(ValueError, match=r"garbled\.json is not valid JSON"):
        render_model_card(baseline_checkpoint, garbled)
    partial = _eval_json(tmp_path / "partial.json", baseline_checkpoint)
    data = json.loads(partial.read_text())
    del data["metrics"]["silog"]
    partial.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"partial\.json: 'metrics' must give a number for each of abs_rel"):
        render_model_card(baseline_checkpoint, partial)
    other_model = _eval_json(tmp_path / "other.json", baseline_checkpoint, model_type="mde_bts")
    with pytest.raises(ValueError, match=r"other\.json scored a 'mde_bts' model, but the checkpoint is 'mde_baseline'"):
        render_model_card(baseline_checkpoint, other_model)
    other_weights = _eval_json(tmp_path / "weights.json", baseline_checkpoint, weights_sha256="0" * 64)
    with pytest.raises(ValueError, match=r"weights\.json scored other weights than .*model\.safetensors"):
        render_model_card(baseline_checkpoint, other_weights)
    twice = _eval_json(tmp_path / "twice.json", baseline_checkpoint)
    with pytest.raises(ValueError, match=r"partial\.json and .*twice\.json both score NYU Depth v2"):
        render_model_card(baseline_checkpoint, [_eval_json(tmp_path / "partial.json", baseline_checkpoint), twice])


def test_unknown_model_type_and_missing_config(tmp_path) -> None:
    transformers.DPTConfig().save_pretrained(tmp_path / "transformers-dpt")
    with pytest.raises(ValueError, match=r"no model-card template for model_type 'dpt' .*mde_adabins, mde_baseline"):
        render_model_card(tmp_path / "transformers-dpt")
    with pytest.raises(FileNotFoundError, match="no config.json in"):
        render_model_card(tmp_path)


def test_relative_dpt_card_says_so(tmp_path) -> None:
    config_class, model_class = MODEL_CLASSES["mde_dpt"]
    config = config_class.tiny(depth_estimation_type="relative")
    model_class(config).save_pretrained(tmp_path)
    card = ModelCard(render_model_card(tmp_path, license="mit"))
    assert card.data.license == "mit" and "relative-depth" in card.data.tags
    assert "predicts **relative inverse depth (larger = nearer; unknown scale and shift, no unit)**" in card.text
    assert "in inverse-depth space" in card.text
    count = sum(p.numel() for p in model_class(config).parameters())
    assert f"{count / 1e6:.2f} M parameters ({count:,})" in card.text


def test_metric_dpt_card_states_its_own_output_constants(tmp_path) -> None:
    config_class, model_class = MODEL_CLASSES["mde_dpt"]
    config = config_class.tiny(depth_estimation_type="metric", metric_scale=1.0, metric_shift=0.25, max_depth=4.0)
    model_class(config).save_pretrained(tmp_path)
    card = ModelCard(render_model_card(tmp_path, license="mit"))
    assert "predicts **metric depth in metres**" in card.text
    assert "Its output constants are s = 1 and t = 0.25: depth = 1 / (s · out + t), at most 1 / t = 4 m." in card.text
    assert "not clipped to its configured range of 0.001 m to 4 m, as its authors released it." in card.text


def test_cli_card_end_to_end_with_a_real_evaluation(baseline_checkpoint, tmp_path, capsys) -> None:
    results = tmp_path / "results.json"
    assert main(["evaluate", "--model", str(baseline_checkpoint), "--dataset", "synthetic:indoor:4",
                 "--protocol", "none", "--output", str(results)]) == 0
    measured = json.loads(results.read_text())["metrics"]
    output = tmp_path / "card" / "README.md"
    assert main(["card", str(baseline_checkpoint), "--eval", str(results), "--repo-id", "me/baseline",
                 "--output", str(output)]) == 0
    assert f"wrote {output}" in capsys.readouterr().out
    card = ModelCard(output.read_text())
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == measured
    assert {(r.dataset_type, r.metric_config) for r in card.data.eval_results} == {("mde_hub_synthetic", "none")}
    assert card.data.datasets is None  # synthetic frames are not a Hub dataset
    assert "4 images scored, 0 skipped" in card.text and "ground truth: finite and gt > 0.001 m; no crop" in card.text
    row = _table_rows(card.text)["mde-hub synthetic scenes"]
    assert [float(cell) for cell in row[2:]] == [round(measured[m], 4) for m in METRIC_NAMES]
    assert all(math.isfinite(value) for value in measured.values())

    # Default output: README.md in the checkpoint, written by write_model_card too.
    assert main(["card", str(baseline_checkpoint), "--eval", str(results)]) == 0
    assert (baseline_checkpoint / "README.md").read_text() == render_model_card(baseline_checkpoint, results)
    assert write_model_card(baseline_checkpoint, results) == baseline_checkpoint / "README.md"

    assert main(["card", str(baseline_checkpoint), "--eval", str(tmp_path / "nope.json")]) == 2
    assert "mde-hub: error: evaluation JSON not found" in capsys.readouterr().err


def test_card_reports_the_checkpoints_own_input_size_and_training_data(tmp_path) -> None:
    config_class, model_class = MODEL_CLASSES["mde_baseline"]
    config = config_class.tiny(image_size=[128, 128])
    model_class(config).save_pretrained(tmp_path)
    image_processor_for(config).save_pretrained(tmp_path)
    synthetic = {**RECORD, "dataset": "mix of synthetic indoor 256 frames + icl:../shared/data/rgbd/icl_livingroom1",
                 "arguments": {"data": {"mix_folders": ["icl:../../shared/data/rgbd/icl_livingroom1"]}}}
    (tmp_path / "training_record.json").write_text(json.dumps(synthetic))
    text = render_model_card(tmp_path)
    assert "sees a **128×128** image" in text and "resized to 128×128" in text
    assert "256×256 image" not in text and "predicts at 256×256" not in text
    assert "for this checkpoint, mix of synthetic indoor 256 frames + icl:icl_livingroom1." in text
    assert "Kinect" not in text.split("## Limitations")[1]


def test_no_card_cites_what_a_hub_reader_cannot_open(checkpoint, tmp_path) -> None:
    (checkpoint / "training_record.json").write_text(json.dumps(
        {**RECORD, "dataset": "icl:../shared/data/rgbd/icl_livingroom1"}))
    try:
        text = render_model_card(checkpoint, _eval_json(tmp_path / "nyu.json", checkpoint))
    finally:
        (checkpoint / "training_record.json").unlink()
    for private in ("MODELS.md", "../shared", "seed slides", "slides'"):
        assert private not in text, private
    assert "`pip install -r requirements.txt -e .`" in text and "library_name: mde-hub" in text
    assert re.search(r"\| [^|]*\(arXiv:\d{4}\.\d{5}\) \| `", text)  # published rows cite the papers instead


def test_model_index_labels_raw_and_aligned_results_apart(baseline_checkpoint, tmp_path) -> None:
    raw = _eval_json(tmp_path / "raw.json", baseline_checkpoint, protocol="none")
    aligned = json.loads(raw.read_text())
    aligned["settings"]["alignment"] = "median"
    aligned["metrics"] = {name: value / 2 for name, value in aligned["metrics"].items()}
    (tmp_path / "median.json").write_text(json.dumps(aligned))
    card = ModelCard(render_model_card(baseline_checkpoint, [raw, tmp_path / "median.json"]))
    labels = {(r.metric_type, r.metric_name, r.metric_config): r.metric_value for r in card.data.eval_results}
    assert labels[("abs_rel", "Absolute relative error", "none")] == NYU_METRICS["abs_rel"]
    assert labels[("abs_rel", "Absolute relative error (median-aligned)", "none, median-aligned")] == pytest.approx(
        NYU_METRICS["abs_rel"] / 2)
    assert len(labels) == 2 * len(METRIC_NAMES)  # no two results share a label
