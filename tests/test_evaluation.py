"""evaluate(): streamed metrics, flip TTA, alignment guard, limit, JSON record, transformers DPT end to end."""

from __future__ import annotations

import hashlib
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import transformers
from transformers import DPTImageProcessor

from mde_hub import BtsConfig, DptConfig
from mde_hub.data.sample import DepthSample
from mde_hub.evaluation.evaluate import EvaluationResult, evaluate
from mde_hub.evaluation.metrics import ABS_REL_STANDARD, METRIC_NAMES, compute_depth_metrics
from mde_hub.evaluation.protocols import PROTOCOLS, EvalProtocol, get_protocol, kb_crop_box
from mde_hub.inference.predictor import DepthPrediction, DepthPredictor
from mde_hub.models.depth_meaning import depth_meaning_of

H, W = 4, 6


class FakePredictor:
    """Same interface as DepthPredictor; `depth_fn(image)` gives the prediction (float32 like a real model's, or
    `dtype`). `batches` records the size of each `predict_batch` call."""

    device = torch.device("cpu")

    def __init__(
        self, depth_fn, depth_estimation_type: str = "metric", relative_output: str = "depth", dtype=np.float32
    ) -> None:
        self.name = "fake"
        self.model = torch.nn.Linear(2, 3)  # 9 parameters
        self.model.config = SimpleNamespace(
            model_type="fake", depth_estimation_type=depth_estimation_type, relative_output=relative_output,
            _name_or_path="",
        )
        self.meaning = depth_meaning_of(self.model.config)
        self.depth_fn = depth_fn
        self.output_dtype = dtype
        self.dtype = "float32"
        self.calls = 0
        self.batches: list[int] = []

    def predict(self, image: np.ndarray, focal: float | None = None) -> DepthPrediction:
        self.calls += 1
        return DepthPrediction(self.depth_fn(image).astype(self.output_dtype), 0.0, self.meaning)

    def predict_batch(self, images: list[np.ndarray], focals: list[float | None] | None = None) -> list[DepthPrediction]:
        self.batches.append(len(images))
        return [self.predict(image) for image in images]


def make_samples(n: int = 3, height: int = H, width: int = W) -> list[DepthSample]:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        depth = rng.uniform(0.5, 5.0, (height, width)).astype(np.float32)
        depth[0, 0] = 0  # one invalid pixel
        samples.append(DepthSample.from_depth(image, depth, None, f"s{i}"))
    return samples


def lookup_predictor(samples: list[DepthSample], scale: float, **kwargs) -> FakePredictor:
    """Predicts `scale * gt` for each sample's image (found by its bytes)."""
    table = {s.image.tobytes(): s.depth for s in samples}
    return FakePredictor(lambda image: scale * table[image.tobytes()], **kwargs)


def test_perfect_prediction():
    samples = make_samples()
    result = evaluate(lookup_predictor(samples, 1.0), samples, protocol="none")
    assert result.metrics["abs_rel"] == 0 and result.metrics["rmse"] == 0
    assert result.metrics["delta1"] == 1
    assert result.num_images == 3 and result.num_skipped == 0


def test_twice_ground_truth_matches_compute_depth_metrics():
    samples = make_samples()
    result = evaluate(lookup_predictor(samples, 2.0), samples, protocol="none")
    assert result.metrics["abs_rel"] == pytest.approx(1.0)
    assert result.metrics["delta1"] == result.metrics["delta3"] == 0  # ratio 2 > 1.25^3
    assert result.metrics["rmse_log"] == pytest.approx(math.log(2))
    preds = np.stack([2 * s.depth for s in samples])
    gts = np.stack([s.depth for s in samples])
    expected = compute_depth_metrics(preds, gts, "none", valid_mask=np.stack([s.valid for s in samples]))
    assert result.metrics == pytest.approx(expected)


def test_per_image_mean_vs_pooled():
    # image A: 4 valid pixels of gt 1, image B: 12 valid pixels of gt 2; prediction gt + 1.
    a = DepthSample.from_depth(np.zeros((4, 4, 3), np.uint8), np.pad(np.ones((2, 2)), ((0, 2), (0, 2))), None, "a")
    b = DepthSample.from_depth(np.ones((4, 4, 3), np.uint8), np.pad(np.full((3, 4), 2.0), ((0, 1), (0, 0))), None, "b")
    table = {a.image.tobytes(): a.depth, b.image.tobytes(): b.depth}
    predictor = FakePredictor(lambda image: table[image.tobytes()] + 1)
    per_image = evaluate(predictor, [a, b], protocol="none")
    pooled = evaluate(predictor, [a, b], protocol=EvalProtocol(name="pooled", description="", reduction="pooled"))
    assert per_image.metrics["abs_rel"] == pytest.approx((1.0 + 0.5) / 2)
    assert pooled.metrics["abs_rel"] == pytest.approx((4 * 1.0 + 12 * 0.5) / 16)
    assert pooled.protocol["reduction"] == "pooled"


def test_nyu_eigen_crop_matches_compute_depth_metrics():
    samples = make_samples(2, 480, 640)
    result = evaluate(lookup_predictor(samples, 1.5), samples)  # default protocol nyu_eigen
    expected = compute_depth_metrics(
        np.stack([1.5 * s.depth for s in samples]), np.stack([s.depth for s in samples]), "nyu_eigen",
        valid_mask=np.stack([s.valid for s in samples]),
    )
    assert result.metrics == pytest.approx(expected)
    assert result.protocol["name"] == "nyu_eigen"


def test_flip_tta_averages_with_mirrored_prediction():
    # depth = column + 1 whatever the image: columns 1..6; flipped back it is 6..1, so the mean is 3.5 everywhere.
    predictor = FakePredictor(lambda image: np.tile(np.arange(1, image.shape[1] + 1, dtype=np.float32), (image.shape[0], 1)))
    sample = DepthSample.from_depth(np.zeros((H, W, 3), np.uint8), np.full((H, W), 3.5), None, "flat")
    plain = evaluate(predictor, [sample], protocol="none")
    tta = evaluate(predictor, [sample], protocol="none", flip_tta=True)
    assert plain.metrics["abs_rel"] == pytest.approx(np.mean(np.abs(np.arange(1, 7) - 3.5)) / 3.5)
    assert tta.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-7)
    assert tta.settings["flip_tta"] is True


def test_flip_tta_feeds_the_mirrored_image():
    # depth read from the red channel (= column index): an equivariant model, so TTA changes nothing.
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = np.arange(W)
    predictor = FakePredictor(lambda img: img[..., 0].astype(np.float32) + 1)
    sample = DepthSample.from_depth(image, image[..., 0] + 1.0, None, "ramp")
    result = evaluate(predictor, [sample], protocol="none", flip_tta=True)
    assert result.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-7)
    assert predictor.calls == 2


def test_relative_model_needs_alignment():
    samples = make_samples()
    predictor = lookup_predictor(samples, 2.0, depth_estimation_type="relative")
    with pytest.raises(ValueError, match="median.*scale_shift"):
        evaluate(predictor, samples, protocol="none")
    assert predictor.calls == 0
    result = evaluate(predictor, samples, protocol="none", alignment="median")
    assert result.metrics["abs_rel"] == pytest.approx(0.0, abs=1e-6)
    assert result.metrics["delta1"] == 1


def test_limit_and_progress():
    samples = make_samples()
    predictor = lookup_predictor(samples, 1.0)
    seen = []
    result = evaluate(predictor, samples, protocol="none", limit=2, progress=lambda done, total: seen.append((done, total)))
    assert result.num_images == 2 and predictor.calls == 2
    assert seen == [(0, 2), (1, 2), (2, 2)]  # before the first sample (a display's clock starts), then after each
    assert result.settings["limit"] == 2
    assert result.dataset == {"class": "list", "len": 3, "source": None, "split": None, "options": {}}


def test_json_record_and_table(tmp_path):
    samples = make_samples()
    result = evaluate(lookup_predictor(samples, 2.0), samples, protocol="none", alignment="median")
    path = tmp_path / "out" / "eval.json"
    result.to_json(path)
    data = json.loads(path.read_text())
    assert set(data["metrics"]) == set(METRIC_NAMES)
    assert data["protocol"]["name"] == "none" and data["protocol"]["crop"] is None
    assert data["protocol"]["max_depth"] == "inf" and data["protocol"]["pred_clip"] == [0.001, "inf"]
    assert data["settings"] == {
        "flip_tta": False, "alignment": "median", "alignment_space": "depth", "prediction_type": "depth", "limit": None,
        "batch_size": 1, "device": "cpu", "dtype": "float32", "processes": 1, "metrics_kernel": "numpy",
    }
    assert data["model"]["name"] == "fake" and data["model"]["num_parameters"] == 9
    assert data["model"]["weights_sha256"] is None
    assert set(data["versions"]) == {"mde_hub", "transformers"} and data["timestamp"]
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary left behind
    table = result.format_table().splitlines()
    assert len(table) == 3 and all(name in table[0] for name in METRIC_NAMES)
    assert isinstance(result, EvaluationResult)


def test_json_records_nyu_crop(tmp_path):
    samples = make_samples(1, 480, 640)
    result = evaluate(lookup_predictor(samples, 1.0), samples, protocol="nyu_eigen")
    result.to_json(tmp_path / "eval.json")
    crop = json.loads((tmp_path / "eval.json").read_text())["protocol"]["crop"]
    assert crop == {"top": 45, "bottom": 471, "left": 41, "right": 601, "frame": [480, 640]}


def _oracle_samples(protocol: str) -> list[DepthSample]:
    """Full KITTI frames (sparse GT up to 79 m) for a KITTI protocol, else 480x640 frames (GT up to 9.5 m)."""
    kitti = get_protocol(protocol).kb_crop != "none"
    sizes, high = ([(375, 1242), (370, 1224)], 79.0) if kitti else ([(480, 640)] * 2, 9.5)
    rng = np.random.default_rng(7)
    samples = []
    for i, size in enumerate(sizes):
        depth = rng.uniform(0.5, high, size).astype(np.float32)
        depth[rng.random(size) < 0.5] = 0  # sparse
        samples.append(DepthSample.from_depth(rng.integers(0, 256, (*size, 3), dtype=np.uint8), depth, None, f"o{i}"))
    return samples


def _oracle_predictor(samples: list[DepthSample], depth_to_output, **kwargs) -> FakePredictor:
    """Predicts `depth_to_output(gt)` for every view the network may get: the frame or its KB crop, each mirrored."""
    table = {}
    for sample in samples:
        views = [(sample.image, sample.depth)]
        if sample.depth.shape != (352, 1216) and sample.depth.shape[1] >= 1216:
            top, left, height, width = kb_crop_box(*sample.depth.shape)
            window = (slice(top, top + height), slice(left, left + width))
            views.append((sample.image[window], sample.depth[window]))
        for image, depth in views:
            table[np.ascontiguousarray(image).tobytes()] = depth_to_output(depth)
            table[np.ascontiguousarray(image[:, ::-1]).tobytes()] = depth_to_output(depth[:, ::-1])
    return FakePredictor(lambda image: table[image.tobytes()], dtype=np.float64, **kwargs)


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_a_perfect_metric_predictor_is_perfect_under_every_protocol(protocol):
    samples = _oracle_samples(protocol)
    result = evaluate(_oracle_predictor(samples, lambda depth: depth), samples, protocol=protocol)
    assert result.metrics["abs_rel"] == 0 and result.metrics["rmse"] == 0 and result.metrics["delta1"] == 1
    assert result.metrics.get(ABS_REL_STANDARD, 0) == 0 and result.num_images == 2


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_an_affine_disparity_predictor_is_perfect_after_scale_shift_under_every_protocol(protocol):
    samples = _oracle_samples(protocol)
    with np.errstate(divide="ignore"):
        predictor = _oracle_predictor(
            samples, lambda depth: np.where(depth > 0, 37 / depth.astype(np.float64) + 4, 4.0),
            depth_estimation_type="relative", relative_output="inverse_depth",
        )
    result = evaluate(predictor, samples, protocol=protocol, alignment="scale_shift")
    assert result.metrics["abs_rel"] < 1e-9 and result.metrics["delta1"] == 1
    assert result.settings["alignment_space"] == "inverse_depth"


def test_kitti_protocols_crop_the_network_input_and_refuse_cropped_ground_truth():
    samples = _oracle_samples("kitti_garg")
    seen = []
    predictor = _oracle_predictor(samples, lambda depth: depth)
    lookup = predictor.depth_fn
    predictor.depth_fn = lambda image: seen.append(image.shape[:2]) or lookup(image)
    evaluate(predictor, samples, protocol="kitti_garg")
    evaluate(predictor, samples, protocol="kitti_garg_adabins")
    assert seen == [(352, 1216)] * 4
    top, left, height, width = kb_crop_box(375, 1242)
    window = (slice(top, top + height), slice(left, left + width))
    cropped = [DepthSample.from_depth(samples[0].image[window], samples[0].depth[window], None, "cropped")]
    assert evaluate(predictor, cropped, protocol="kitti_garg_adabins").metrics["abs_rel"] == 0  # already cropped
    calls = predictor.calls
    with pytest.raises(ValueError, match=r"full KITTI frame.*352x1216.*KittiEigenSplit\(kb_crop=False\)"):
        evaluate(predictor, cropped, protocol="kitti_garg")
    assert predictor.calls == calls  # refused before predicting


def test_depth_meaning_of_every_kind_of_config():
    assert depth_meaning_of(SimpleNamespace(model_type="mde_bts", depth_estimation_type="metric")).kind == "metric_depth"
    assert depth_meaning_of(transformers.DPTConfig()).kind == "relative_inverse_depth"
    assert depth_meaning_of(SimpleNamespace(model_type="depth_anything")).kind == "relative_inverse_depth"
    metric_anything = SimpleNamespace(model_type="depth_anything", depth_estimation_type="metric")
    assert depth_meaning_of(metric_anything).kind == "metric_depth"
    for model_type in ("glpn", "zoedepth", "depth_pro", "tipsv2_dpt"):
        assert depth_meaning_of(SimpleNamespace(model_type=model_type)).kind == "metric_depth"
    assert depth_meaning_of(SimpleNamespace(model_type="prompt_depth_anything")).kind == "relative_depth"
    assert depth_meaning_of(DptConfig.tiny(depth_estimation_type="relative")).kind == "relative_inverse_depth"
    assert depth_meaning_of(DptConfig.tiny()).kind == "metric_depth"
    assert depth_meaning_of(BtsConfig.tiny()).kind == "metric_depth"
    with pytest.raises(ValueError, match="unknown_model"):
        depth_meaning_of(SimpleNamespace(model_type="unknown_model"))


def test_transformers_dpt_end_to_end(tmp_path):
    torch.manual_seed(0)
    config = transformers.DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37, image_size=32,
        patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
    )
    transformers.DPTForDepthEstimation(config).save_pretrained(tmp_path)
    DPTImageProcessor(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(tmp_path)
    predictor = DepthPredictor.from_pretrained(tmp_path)
    samples = make_samples(3, 24, 30)
    with pytest.raises(ValueError, match="relative inverse depth"):
        evaluate(predictor, samples, protocol="none")
    result = evaluate(predictor, samples, protocol="none", alignment="median", flip_tta=True)
    assert result.num_images == 3
    assert all(math.isfinite(v) for v in result.metrics.values())
    model = result.model
    assert model["model_type"] == "dpt" and model["depth_estimation_type"] == "relative"
    assert model["path"] == str(tmp_path)
    assert model["weights_sha256"] == hashlib.sha256((tmp_path / "model.safetensors").read_bytes()).hexdigest()
    assert model["num_parameters"] == sum(p.numel() for p in predictor.model.parameters())


def test_evaluate_command_writes_the_json(tmp_path, capsys):
    import torch

    from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
    from mde_hub.cli import main as cli_main

    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32))
    model.save_pretrained(tmp_path / "ckpt")
    image_processor_for(model.config).save_pretrained(tmp_path / "ckpt")
    argv = ["evaluate", "--model", str(tmp_path / "ckpt"), "--dataset", "synthetic:indoor:2", "--protocol", "none",
            "--output", str(tmp_path / "results.json")]
    assert cli_main(argv) == 0
    assert "| abs_rel |" in capsys.readouterr().out
    written = json.loads((tmp_path / "results.json").read_text())
    assert written["num_images"] == 2 and set(written["metrics"]) >= {"abs_rel", "delta1", "silog"}
    assert written["protocol"]["name"] == "none" and written["model"]["model_type"] == "mde_baseline"
    assert written["dataset"] == {"class": "SyntheticDepthDataset", "len": 2, "source": "synthetic:indoor:2", "split": None,
                                  "options": {}}
    assert cli_main(["evaluate", "--model", str(tmp_path / "ckpt"), "--dataset", "synthetic:park:2"]) == 2
