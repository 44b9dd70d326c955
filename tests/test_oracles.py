"""Oracles through the command line: a perfect predictor scores AbsRel 0 and delta1 1 under every protocol, whether
`mde-hub evaluate` runs a model or scores saved predictions, and a perfect affine-disparity predictor does the same
after alignment in inverse-depth space. (`evaluate()` itself: tests/test_evaluation.py; the app: tests/test_app.py.)

The ground truth is exact: a parquet data set with float32 depth in metres, at NYU's 480x640 and KITTI's full
375x1242 frame (sparse, as LiDAR), so no encoding rounds it.
"""

from __future__ import annotations

import json

import numpy as np
import PIL.Image
import pytest
import torch

from mde_hub import BaselineConfig, BaselineForDepthEstimation, DptConfig, DptForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.evaluation.protocols import PROTOCOLS, kb_crop_box
from mde_hub.inference.predictor import DepthPredictor

datasets = pytest.importorskip("datasets")

NYU_FRAME, KITTI_FRAME = (480, 640), (375, 1242)
KITTI_PROTOCOLS = [name for name, protocol in PROTOCOLS.items() if protocol.kb_crop != "none"]
FRAME_OF = {name: KITTI_FRAME if name in KITTI_PROTOCOLS else NYU_FRAME for name in PROTOCOLS}


def _images(frame: tuple[int, int], count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(sum(frame))
    return [rng.integers(0, 256, (*frame, 3), dtype=np.uint8) for _ in range(count)]


def _ground_truth(frame: tuple[int, int], count: int = 2) -> list[np.ndarray]:
    """Depth in (0.5, 9.5) m; KITTI frames are sparse (about a third of the pixels valid), as LiDAR."""
    rng = np.random.default_rng(frame[1])
    maps = [rng.uniform(0.5, 9.5, frame).astype(np.float32) for _ in range(count)]
    if frame == KITTI_FRAME:
        maps = [np.where(rng.random(frame) < 0.35, depth, 0).astype(np.float32) for depth in maps]
    return maps


def _write_parquet(folder, images: list[np.ndarray], depths: list[np.ndarray]):
    """A Hugging Face parquet data set (image + depth_map in metres, mode "F") whose test split holds the frames."""
    (folder / "data").mkdir(parents=True)
    rows = {"image": [PIL.Image.fromarray(i) for i in images], "depth_map": [PIL.Image.fromarray(d) for d in depths]}
    dataset = datasets.Dataset.from_dict(rows, features=datasets.Features({"image": datasets.Image(), "depth_map": datasets.Image()}))
    dataset.to_parquet(str(folder / "data" / "test-00000-of-00001.parquet"))
    return folder


def _evaluate(*args: str, output) -> dict:
    assert cli_main(["evaluate", *args, "--output", str(output)]) == 0
    return json.loads(output.read_text())


def _assert_perfect(result: dict, tolerance: float = 0.0) -> None:
    assert result["num_images"] == 2
    assert result["metrics"]["abs_rel"] <= tolerance and result["metrics"]["rmse"] <= 10 * tolerance
    assert result["metrics"]["delta1"] == 1


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_saved_predictions_of_a_perfect_and_of_an_affine_disparity_predictor(tmp_path, protocol):
    frame = FRAME_OF[protocol]
    depths = _ground_truth(frame)
    data = _write_parquet(tmp_path / "data", _images(frame), depths)
    perfect, disparity = tmp_path / "perfect", tmp_path / "disparity"
    for index, depth in enumerate(np.float64(d) for d in depths):
        for folder, values in ((perfect, depth), (disparity, np.where(depth > 0, 37 / np.where(depth > 0, depth, 1) + 4, 4))):
            folder.mkdir(exist_ok=True)
            np.save(folder / f"{index}.npy", values.astype(np.float64))
    run = ["--dataset", str(data), "--protocol", protocol]
    if PROTOCOLS[protocol].flip_tta:  # DenseDepth's protocol averages with the mirrored image: a model must run
        assert cli_main(["evaluate", "--predictions", str(perfect), *run]) == 2
        return
    _assert_perfect(_evaluate("--predictions", str(perfect), *run, output=tmp_path / "perfect.json"))
    result = _evaluate("--predictions", str(disparity), "--prediction-type", "inverse_depth", "--align", "scale_shift",
                       *run, output=tmp_path / "disparity.json")
    _assert_perfect(result, tolerance=1e-9)
    assert result["settings"]["alignment_space"] == "inverse_depth" and result["settings"]["prediction_type"] == "inverse_depth"
    if protocol in KITTI_PROTOCOLS:  # predictions of the 352x1216 KB crop: pasted back, or scored in the cropped frame
        top, left, height, width = kb_crop_box(*frame)
        for index, depth in enumerate(depths):
            np.save(perfect / f"{index}.npy", depth[top : top + height, left : left + width])
        _assert_perfect(_evaluate("--predictions", str(perfect), *run, output=tmp_path / "crop.json"))


def _save(model, folder) -> str:
    model.save_pretrained(folder)
    image_processor_for(model.config).save_pretrained(folder)
    return str(folder)


def _network_output(predictor: DepthPredictor, image: np.ndarray, protocol: str) -> np.ndarray:
    """What evaluate() scores for `image`: the output on the KB crop under KITTI protocols, flip-averaged and clipped
    where the protocol says so, in the ground truth's frame (zeros outside a pasted crop)."""
    spec = PROTOCOLS[protocol]
    frame = image.shape[:2]
    if spec.kb_crop != "none":
        top, left, height, width = kb_crop_box(*frame)
        image = image[top : top + height, left : left + width]
    values = predictor.predict(image).values.astype(np.float64)
    if spec.flip_tta:
        mirrored = predictor.predict(np.ascontiguousarray(image[:, ::-1])).values[:, ::-1]
        values = 0.5 * (np.clip(values, *spec.pred_clip) + np.clip(mirrored, *spec.pred_clip))
    if spec.kb_crop == "none":
        return values
    canvas = np.zeros(frame)
    canvas[top : top + height, left : left + width] = values
    return canvas


@pytest.mark.parametrize("protocol", ["none", "nyu_eigen", "nyu_densedepth", "kitti_garg", "kitti_eigen_adabins"])
def test_a_model_scored_against_its_own_output_is_perfect(tmp_path, protocol):
    torch.manual_seed(0)
    checkpoint = _save(BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32)), tmp_path / "model")
    predictor = DepthPredictor.from_pretrained(checkpoint)
    images = _images(FRAME_OF[protocol])
    depths = [_network_output(predictor, image, protocol).astype(np.float32) for image in images]
    data = _write_parquet(tmp_path / "data", images, depths)
    result = _evaluate("--model", checkpoint, "--dataset", str(data), "--protocol", protocol, output=tmp_path / "r.json")
    _assert_perfect(result, tolerance=1e-6)  # the ground truth is the float64 output stored as float32
    assert result["settings"]["flip_tta"] == PROTOCOLS[protocol].flip_tta


def test_a_relative_inverse_depth_model_is_perfect_after_inverse_depth_alignment(tmp_path):
    torch.manual_seed(0)
    model = DptForDepthEstimation(DptConfig.tiny(depth_estimation_type="relative"))
    checkpoint = _save(model, tmp_path / "model")
    predictor = DepthPredictor.from_pretrained(checkpoint)
    images = _images(NYU_FRAME)
    outputs = [predictor.predict(image).values.astype(np.float64) for image in images]
    scale = 1 / np.median(np.concatenate([o.ravel() for o in outputs]))
    depths = [(1 / (scale * output + 0.2)).astype(np.float32) for output in outputs]  # 1/depth = affine in the output
    data = _write_parquet(tmp_path / "data", images, depths)
    run = ["--model", checkpoint, "--dataset", str(data), "--protocol", "nyu_eigen"]
    assert cli_main(["evaluate", *run]) == 2  # relative: refused without alignment
    result = _evaluate(*run, "--align", "scale_shift", output=tmp_path / "r.json")
    _assert_perfect(result, tolerance=1e-6)
    assert result["settings"]["alignment_space"] == "inverse_depth"
    assert result["model"]["output"] == "relative_inverse_depth"
    in_depth_space = _evaluate(*run, "--align", "scale_shift", "--align-space", "depth", output=tmp_path / "d.json")
    assert in_depth_space["metrics"]["abs_rel"] > 100 * result["metrics"]["abs_rel"]
