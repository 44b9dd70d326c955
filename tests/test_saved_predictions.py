"""Saved .npy predictions matched to data-set samples (mde_hub.evaluation.saved_predictions)."""

from __future__ import annotations

import numpy as np
import pytest

from mde_hub.evaluation.saved_predictions import PredictionFolder


def _save(root, relative, array):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, array)
    return path


def test_matching_by_whole_id_by_id_without_data_set_and_by_unique_name(tmp_path):
    one, two, three = (np.full((2, 3), value, np.float32) for value in (1.0, 2.0, 3.0))
    _save(tmp_path, "kitti/2011_09_26/drive_0002/image_02/data/0000000069.npy", one)
    _save(tmp_path, "2011_09_26/drive_0005/image_02/data/0000000069.npy", two)
    _save(tmp_path, "frames/frame-000003.color.depth.npy", three)  # as mde-hub predict names a metric output
    folder = PredictionFolder(tmp_path)
    assert len(folder) == 3
    assert folder.load("kitti/2011_09_26/drive_0002/image_02/data/0000000069.png")[0, 0] == 1.0
    assert folder.load("kitti/2011_09_26/drive_0005/image_02/data/0000000069.png")[0, 0] == 2.0
    assert folder.load("7scenes/frame-000003.color.jpg")[0, 0] == 3.0
    assert folder.load("7scenes/frame-000003.color.jpg").dtype == np.float64


def test_missing_ambiguous_and_bad_predictions_name_the_file(tmp_path):
    _save(tmp_path, "a/0001.npy", np.ones((2, 2), np.float32))
    _save(tmp_path, "b/0001.npy", np.ones((2, 2), np.float32))
    _save(tmp_path, "nan.npy", np.array([[1.0, np.nan]], np.float32))
    _save(tmp_path, "ints.npy", np.ones((2, 2), np.int32))
    _save(tmp_path, "cube.npy", np.ones((2, 2, 2), np.float32))
    folder = PredictionFolder(tmp_path)
    with pytest.raises(ValueError, match="2 predictions are named 0001.npy"):
        folder.load("other/0001.png")
    assert folder.load("set/a/0001.png").shape == (2, 2)
    with pytest.raises(FileNotFoundError, match=r"no prediction for sample set/x/0002.png .*expected x/0002.npy"):
        folder.load("set/x/0002.png")
    with pytest.raises(ValueError, match=r"nan.npy: 1 values are NaN or infinite"):
        folder.load("set/nan")
    with pytest.raises(ValueError, match=r"ints.npy: .*floating-point"):
        folder.load("set/ints")
    with pytest.raises(ValueError, match=r"cube.npy: .*shape \(2, 2, 2\)"):
        folder.load("set/cube")
    with pytest.raises(FileNotFoundError, match="no folder of predictions"):
        PredictionFolder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no .npy predictions"):
        PredictionFolder(tmp_path / "empty")


def test_two_files_for_one_image_are_refused(tmp_path):
    _save(tmp_path, "0001.npy", np.ones((2, 2), np.float32))
    _save(tmp_path, "0001.depth.npy", np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="predictions of the same image"):
        PredictionFolder(tmp_path)
