"""One reader and one writer per format (issue 16, item 2): the evaluation JSON, data-set specs, RGB conversion and
image layout."""

from __future__ import annotations

import json
import math
import pathlib
import shutil

import numpy as np
import pytest

from mde_hub.evaluation import EvaluationResult, read_evaluation
from mde_hub.evaluation.metrics import METRIC_NAMES
from mde_hub.evaluation.protocols import get_protocol

REPO = pathlib.Path(__file__).resolve().parents[1]
METRICS = {name: 0.1 + index / 100 for index, name in enumerate(METRIC_NAMES)}


# --- the evaluation JSON -----------------------------------------------------------------------------------------


def _result(protocol: str = "kitti_eigen") -> EvaluationResult:
    import dataclasses

    return EvaluationResult(
        metrics=dict(METRICS),
        num_images=7,
        num_skipped=1,
        protocol=dataclasses.asdict(get_protocol(protocol)),
        settings={"flip_tta": True, "alignment": "none", "alignment_space": "depth", "prediction_type": "depth",
                  "limit": None},
        model={"name": "m", "model_type": "mde_baseline"},
        dataset={"class": "RgbdFolder", "len": 8, "source": "icl:/data/icl", "split": "tail:0.2", "options": {}},
        versions={"mde_hub": "0.2.0"},
        timestamp="2026-01-01T00:00:00+00:00",
    )


def test_evaluation_json_round_trips_through_its_one_writer_and_reader(tmp_path) -> None:
    result = _result()
    result.to_json(tmp_path / "results.json")
    back = read_evaluation(tmp_path / "results.json")
    assert back == EvaluationResult.from_json(tmp_path / "results.json")
    assert back.to_dict() == result.to_dict()
    assert back.metrics == METRICS and (back.num_images, back.num_skipped) == (7, 1)
    assert back.eval_protocol == get_protocol("kitti_eigen")
    assert back.protocol["max_depth"] == 80.0 and back.protocol["pred_clip"] == [0.001, 80.0]
    assert back.protocol["crop"] == {"top": 0.3324324, "bottom": 0.91351351, "left": 0.0359477, "right": 0.96405229}


def test_evaluation_reader_accepts_older_forms(tmp_path) -> None:
    data = _result("none").to_dict()
    data["protocol"]["kb_crop"] = False  # before kb_crop named a frame
    for key in ("abs_rel_denominator", "flip_tta", "max_depth_exclusive"):
        data["protocol"].pop(key)  # fields added since
    data["settings"].pop("prediction_type")
    data.pop("versions")
    data.pop("timestamp")
    (tmp_path / "old.json").write_text(json.dumps(data))
    old = read_evaluation(tmp_path / "old.json")
    assert old.protocol["kb_crop"] == "none" and old.eval_protocol == get_protocol("none")
    assert math.isinf(old.eval_protocol.max_depth) and old.protocol["max_depth"] == "inf"
    assert old.versions == {} and old.timestamp == "" and old.metrics == METRICS
    data["protocol"]["kb_crop"] = True
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert read_evaluation(tmp_path / "old.json").eval_protocol.kb_crop == "paste"


def test_every_shipped_evaluation_json_reads(tmp_path) -> None:
    paths = sorted(REPO.glob("checkpoints/*/results*.json"))
    assert paths
    for path in paths:
        result = read_evaluation(path)
        assert set(METRIC_NAMES) <= set(result.metrics)
        assert result.protocol["kb_crop"] in ("none", "paste", "crop")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.pop("num_skipped"), "lacks num_skipped"),
        (lambda d: d["metrics"].pop("delta2"), "'metrics' must give a number for each of"),
        (lambda d: d["metrics"].update(rmse="0.3"), "'metrics' must give a number"),
        (lambda d: d.update(settings=[]), "'settings' must be a JSON object"),
        (lambda d: d["protocol"].update(kb_crop="sideways"), "unreadable protocol"),
        (lambda d: d["protocol"].update(colour="red"), "unreadable protocol"),
    ],
)
def test_evaluation_reader_names_the_file_and_the_fault(tmp_path, change, message) -> None:
    data = _result().to_dict()
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as error:
        read_evaluation(path)
    assert str(path) in str(error.value)


def test_evaluation_reader_refuses_non_json_and_missing_files(tmp_path) -> None:
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"list\.json must hold a JSON object"):
        read_evaluation(tmp_path / "list.json")
    (tmp_path / "text.json").write_text("not json")
    with pytest.raises(ValueError, match=r"text\.json is not valid JSON"):
        read_evaluation(tmp_path / "text.json")
    with pytest.raises(FileNotFoundError, match=r"gone\.json"):
        read_evaluation(tmp_path / "gone.json")


def test_every_consumer_reads_through_the_one_reader(tmp_path) -> None:
    """The app's Benchmarks tab and train/ship.py's README table read an old JSON (kb_crop a bool) as the card does,
    and skip or refuse a broken one."""
    import importlib.util

    from mde_hub.app.benchmarks import evaluation_json_rows

    spec = importlib.util.spec_from_file_location("ship", REPO / "train" / "ship.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)

    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    data = _result("none").to_dict()
    data["protocol"]["kb_crop"] = False
    data["settings"]["alignment"] = "median"
    (checkpoint / "results_icl_median.json").write_text(json.dumps(data))
    (checkpoint / "results_broken.json").write_text(json.dumps({"metrics": METRICS}))
    rows = evaluation_json_rows(str(checkpoint), "ckpt")
    assert len(rows) == 1
    assert rows[0]["protocol"] == "none + median alignment" and rows[0]["dataset"] == "icl (tail:0.2)"
    assert {name: rows[0][name] for name in METRIC_NAMES} == METRICS
    assert ship.read_results(checkpoint) == {("icl", "median"): METRICS}
    shutil.copy(checkpoint / "results_broken.json", checkpoint / "results_icl_raw.json")
    with pytest.raises(ValueError, match=r"results_icl_raw\.json lacks"):
        ship.read_results(checkpoint)
