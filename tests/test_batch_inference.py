"""Batched inference, devices and precisions: `DepthPredictor.predict_batch` gives what single calls give (every
registered architecture, images of different sizes, per-image focals), `evaluate` in batches scores as batch 1,
devices and dtypes are checked, "auto" picks bf16 only where the CPU computes it natively, bf16 stays close to fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from architectures import INPUT_SIZE, tiny_model, variant_id, variants
from test_evaluation import FakePredictor, lookup_predictor, make_samples

from mde_hub.data.batches import batches
from mde_hub.data.sample import DepthSample
from mde_hub.evaluation.evaluate import EvaluationResult, evaluate, evaluate_predictions
from mde_hub.inference import device as device_module
from mde_hub.inference.device import auto_dtype, cpu_flags, resolve_device, resolve_dtype
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.processing.image_processing_depth import DepthImageProcessor

SIZES = [(64, 96), (48, 80), (64, 96), (70, 50)]
FOCALS = [500.0, None, 700.0, 600.0]  # None: that image unscaled, beside scaled ones


def _images(sizes=SIZES, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in sizes]


def _small_predictor(model: torch.nn.Module, dtype: str = "float32") -> DepthPredictor:
    """The model's own processor, resizing to the suite's input size (its presets' 480x640 only slows the test);
    a keep-aspect-ratio processor (DPT's) keeps doing so, so its images form groups of different shapes."""
    predictor = DepthPredictor.from_model(model, model.config.model_type, dtype=dtype)
    predictor.processor.size = {"height": INPUT_SIZE[0], "width": INPUT_SIZE[1]}
    return predictor


def _forward_batches(predictor: DepthPredictor) -> list[int]:
    """Records the batch size of every forward pass of `predictor.model`."""
    sizes: list[int] = []
    predictor.model.register_forward_hook(lambda module, args, kwargs, output: sizes.append(len(kwargs["pixel_values"])),
                                          with_kwargs=True)
    return sizes


@pytest.mark.parametrize("variant", variants(), ids=variant_id)
def test_a_batch_gives_what_single_calls_give(variant) -> None:
    model_type, overrides = variant
    predictor = _small_predictor(tiny_model(model_type, **overrides))
    images = _images()
    singles = [predictor.predict(image, focal) for image, focal in zip(images, FOCALS)]
    forwards = _forward_batches(predictor)
    batch = predictor.predict_batch(images, FOCALS)
    assert len(batch) == len(images) and sum(forwards) == len(images) and len(forwards) < len(images)
    for image, single, batched in zip(images, singles, batch):
        assert batched.values.shape == image.shape[:2] and batched.values.dtype == np.float32
        scale = float(np.abs(single.values).max())
        np.testing.assert_allclose(batched.values, single.values, rtol=1e-5, atol=1e-5 * scale)
    if overrides.get("focal_scaling"):  # the focals reached the model, each for its own image
        unscaled = predictor.predict_batch(images)
        for index, (image, focal) in enumerate(zip(images, FOCALS)):  # fx at the network's width, over BTS's reference
            network_focal = None if focal is None else focal * INPUT_SIZE[1] / image.shape[1]
            ratio = 1.0 if focal is None else network_focal / predictor.model.config.reference_focal
            np.testing.assert_allclose(batch[index].values, ratio * unscaled[index].values, rtol=1e-4)


def test_images_are_grouped_by_network_shape_and_keep_their_order() -> None:
    model = tiny_model("mde_baseline")
    processor = DepthImageProcessor(size={"height": 64, "width": 64}, keep_aspect_ratio=True, ensure_multiple_of=32)
    predictor = DepthPredictor(model, processor, "baseline")
    images = _images([(64, 96), (96, 64), (64, 96), (64, 64), (96, 64)])
    assert [tuple(processor.output_size(*image.shape[:2])) for image in images] == [
        (64, 96), (96, 64), (64, 96), (64, 64), (96, 64)
    ]
    forwards = _forward_batches(predictor)
    batch = predictor.predict_batch(images)
    assert forwards == [2, 2, 1]  # first-seen shape order: two 64x96, two 96x64, one 64x64
    for image, batched in zip(images, batch):
        np.testing.assert_allclose(batched.values, predictor.predict(image).values, rtol=1e-5, atol=1e-5)


def test_predict_batch_checks_its_arguments() -> None:
    predictor = _small_predictor(tiny_model("mde_bts", focal_scaling=True))
    assert predictor.predict_batch([]) == []
    with pytest.raises(ValueError, match="2 images but 1 focal"):
        predictor.predict_batch(_images([(64, 96), (64, 96)]), [500.0])
    with pytest.raises(ValueError, match="focal length must be a finite positive number.*-3"):
        predictor.predict_batch(_images([(64, 96)]), [-3.0])


def test_any_non_finite_output_pixel_is_an_error_naming_the_model_and_the_image(tmp_path) -> None:
    """One NaN pixel is enough: a partly NaN map would be written as 0 (invalid) or scored as min_depth."""
    from app_helpers import save_exploding_baseline

    processor = DepthImageProcessor(size={"height": 32, "width": 32})
    predictor = DepthPredictor(tiny_model("mde_baseline"), processor, "tiny")
    images = _images([(32, 32), (32, 32), (40, 32)])  # one forward batch; the second is the network's size
    assert all(np.isfinite(p.values).all() for p in predictor.predict_batch(images))

    def one_nan_pixel_in_the_second_image(module, args, kwargs, output):
        output.predicted_depth[1, 0, 0] = float("nan")
        return output

    predictor.model.register_forward_hook(one_nan_pixel_in_the_second_image, with_kwargs=True)
    with pytest.raises(ValueError, match=r"^model tiny produced 1 NaN or infinite depth value\(s\) of 1024 for image 2 "
                                         r"of a batch of 3: its weights or config are broken$"):
        predictor.predict_batch(images)
    exploding = save_exploding_baseline(tmp_path / "exploding")
    with pytest.raises(ValueError, match=r"^model exploding produced 3072 NaN .* of 3072: its weights or config are "
                                         r"broken, or its bfloat16 arithmetic overflowed \(try float32\)$"):
        DepthPredictor.from_pretrained(exploding, dtype="bfloat16").predict(_images([(48, 64)])[0])


def test_devices_are_checked_and_name_what_is_available(monkeypatch) -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for name in ("cuda", "cuda:3", "mps"):
        with pytest.raises(ValueError, match=f"device '{name}' is not available on this machine; available: cpu$"):
            resolve_device(name)
    with pytest.raises(ValueError, match="unknown device 'gpu0'.*available: cpu"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ValueError, match="'cuda:2' is not available.*available: cpu, cuda:0, cuda:1"):
        resolve_device("cuda:2")
    with pytest.raises(ValueError, match="unknown dtype 'half'; choose from auto, float32, bfloat16, float16"):
        resolve_dtype("half", torch.device("cpu"))
    with pytest.raises(ValueError, match="not available"):
        DepthPredictor.from_model(tiny_model("mde_baseline"), "baseline", device="cuda:7")


def test_auto_dtype_takes_bf16_only_where_it_is_native(monkeypatch, tmp_path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\nprocessor\t: 1\n")
    monkeypatch.setattr(device_module, "_CPUINFO", cpuinfo)
    assert {"avx2", "avx512f", "avx512_bf16"} <= cpu_flags()
    cpu = torch.device("cpu")
    assert auto_dtype(cpu) == "bfloat16" and resolve_dtype("auto", cpu) == "bfloat16"
    for flags, expected in [
        ({"avx2", "amx_tile", "amx_bf16"}, "bfloat16"),  # Sapphire Rapids' AMX
        ({"avx2", "avx512f", "avx512bw"}, "float32"),  # AVX-512 without bf16: oneDNN would emulate it
        ({"avx2"}, "float32"),  # e.g. AMD Zen 3
        (set(), "float32"),  # no /proc/cpuinfo
    ]:
        monkeypatch.setattr(device_module, "cpu_flags", lambda flags=flags: frozenset(flags))
        assert auto_dtype(cpu) == expected, flags
    for supported, expected in [(True, "bfloat16"), (False, "float32")]:
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda supported=supported: supported)
        assert auto_dtype(torch.device("cuda", 0)) == expected
    assert auto_dtype(torch.device("mps")) == "float32"
    assert resolve_dtype("float16", cpu) == "float16"


def test_auto_dtype_keeps_small_models_in_float32_on_the_cpu(monkeypatch) -> None:
    """On a CPU with native bf16 only models of at least BF16_CPU_MIN_PARAMETERS run in bf16 (autocast slows the
    compact checkpoints down); a CUDA device takes bf16 whatever the size."""
    monkeypatch.setattr(device_module, "cpu_flags", lambda: frozenset({"amx_bf16"}))
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    cpu, large = torch.device("cpu"), device_module.BF16_CPU_MIN_PARAMETERS
    assert resolve_dtype("auto", cpu, large - 1) == "float32" and resolve_dtype("auto", cpu, large) == "bfloat16"
    assert auto_dtype(torch.device("cuda", 0), 1000) == "bfloat16"
    small = tiny_model("mde_baseline")
    assert DepthPredictor.from_model(small, "baseline", dtype="auto").dtype == "float32"
    assert DepthPredictor.from_model(small, "baseline", dtype="bfloat16").dtype == "bfloat16"


def test_cpu_flags_of_a_machine_without_cpuinfo(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(device_module, "_CPUINFO", tmp_path / "absent")
    assert cpu_flags() == frozenset()


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_runs_close_to_float32_with_float32_weights(dtype) -> None:
    images = _images()
    reference = _small_predictor(tiny_model("mde_baseline")).predict_batch(images)
    predictor = _small_predictor(tiny_model("mde_baseline"), dtype=dtype)
    assert predictor.dtype == dtype
    forwards = []
    predictor.model.register_forward_hook(lambda module, args, output: forwards.append(output.predicted_depth.dtype))
    reduced = predictor.predict_batch(images)
    assert forwards == [getattr(torch, dtype)]  # autocast ran the model in that precision
    assert all(parameter.dtype == torch.float32 for parameter in predictor.model.parameters())
    for low, full in zip(reduced, reference):
        assert low.values.dtype == np.float32 and np.isfinite(low.values).all()
        assert not np.array_equal(low.values, full.values)
        np.testing.assert_allclose(low.values, full.values, rtol=5e-2)


def _sized_samples(sizes, seed: int = 1) -> list[DepthSample]:
    rng = np.random.default_rng(seed)
    samples = []
    for index, size in enumerate(sizes):
        depth = rng.uniform(0.5, 5.0, size).astype(np.float32)
        samples.append(DepthSample.from_depth(rng.integers(0, 256, (*size, 3), dtype=np.uint8), depth, None, f"s{index}"))
    return samples


@pytest.mark.parametrize("flip_tta", [False, True])
def test_evaluate_in_batches_scores_as_batch_one(flip_tta) -> None:
    samples = make_samples(5)

    def from_pixels() -> FakePredictor:  # any image, mirrored ones too; not symmetric, so the flip changes it
        return FakePredictor(lambda image: 0.5 + image[..., 0] / 64.0 + np.arange(image.shape[1]) / 10.0)

    one = evaluate(from_pixels(), samples, protocol="none", flip_tta=flip_tta)
    predictor = from_pixels()
    seen = []
    batched = evaluate(predictor, samples, protocol="none", flip_tta=flip_tta, batch_size=2, num_workers=2,
                       progress=lambda done, total: seen.append((done, total)))
    assert predictor.batches == ([2, 2, 2, 2, 1, 1] if flip_tta else [2, 2, 1])  # flip pass: a second batch
    assert seen == [(done, 5) for done in range(0, 6)]
    assert batched.num_images == 5 and batched.settings["batch_size"] == 2 and one.settings["batch_size"] == 1
    for name, value in one.metrics.items():
        assert batched.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert one.metrics["abs_rel"] > 0.1


def test_evaluate_a_real_model_in_batches() -> None:
    """float64 weights make batched kernels' rounding negligible: batch 3 scores as batch 1 to 1e-9 (float32: 1e-5)."""
    samples = _sized_samples([(48, 64), (40, 56), (48, 64), (32, 32), (48, 64)])
    model = tiny_model("mde_baseline").double()
    results = {
        batch_size: evaluate(_small_predictor(model), samples, protocol="none", alignment="median", batch_size=batch_size)
        for batch_size in (1, 3)
    }
    for name, value in results[1].metrics.items():
        assert results[3].metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    single = evaluate(_small_predictor(tiny_model("mde_baseline")), samples, protocol="none", alignment="median")
    batched = evaluate(_small_predictor(tiny_model("mde_baseline")), samples, protocol="none", alignment="median",
                       batch_size=4)
    for name, value in single.metrics.items():
        assert batched.metrics[name] == pytest.approx(value, rel=1e-5, abs=1e-7), name
    assert (batched.settings["batch_size"], batched.settings["device"], batched.settings["dtype"]) == (4, "cpu", "float32")


def test_saved_predictions_in_batches_and_old_results_without_the_new_settings(tmp_path) -> None:
    samples = make_samples(4)
    for scale, sample in zip((1.1, 0.8, 1.5, 1.0), samples):
        np.save(tmp_path / f"{sample.id}.npy", (scale * sample.depth).astype(np.float32))
    one = evaluate_predictions(tmp_path, samples, protocol="none")
    batched = evaluate_predictions(tmp_path, samples, protocol="none", batch_size=3, num_workers=2)
    for name, value in one.metrics.items():
        assert batched.metrics[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert batched.settings["batch_size"] == 3 and one.metrics["abs_rel"] > 0.05
    old = one.to_dict()
    old["settings"] = {"flip_tta": False, "limit": None, "alignment": "none"}  # a JSON from before batching
    assert EvaluationResult.from_dict(old).settings == old["settings"]


@pytest.mark.parametrize("bad", [{"batch_size": 0}, {"batch_size": 2.5}, {"num_workers": -1}])
def test_bad_batching_is_refused(bad) -> None:
    samples = make_samples(2)
    name = next(iter(bad))
    with pytest.raises(ValueError, match=f"{name} must be an integer"):
        evaluate(lookup_predictor(samples, 1.0), samples, protocol="none", **bad)


def _load_or_fail(index: int) -> int:
    if index == 3:
        raise ValueError("cannot read image frame3.png")
    return index * index


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batches_keep_order_and_raise_loading_errors_as_themselves(num_workers) -> None:
    assert list(batches(_load_or_fail, 3, 2, num_workers)) == [[0, 1], [4]]
    with pytest.raises(ValueError, match="^cannot read image frame3.png$"):
        list(batches(_load_or_fail, 5, 2, num_workers))


def test_transformers_models_batch_too(tmp_path) -> None:
    from app_helpers import save_hf_dpt

    predictor = DepthPredictor.from_pretrained(save_hf_dpt(tmp_path / "hf-dpt"))
    images = _images([(30, 40), (24, 20), (30, 40)])
    forwards = _forward_batches(predictor)
    batch = predictor.predict_batch(images)
    assert forwards == [3]  # its processor resizes every image to 32x32
    for image, batched in zip(images, batch):
        single = predictor.predict(image).values
        assert batched.values.shape == image.shape[:2]
        np.testing.assert_allclose(batched.values, single, rtol=1e-5, atol=1e-5 * float(np.abs(single).max()))


def test_evaluate_command_batches_and_records_it(tmp_path, capsys) -> None:
    import json

    from app_helpers import save_baseline

    from mde_hub.cli import main as cli_main

    checkpoint = save_baseline(tmp_path / "ckpt", 0)
    run = ["evaluate", "--model", str(checkpoint), "--dataset", "synthetic:indoor:3", "--protocol", "none"]
    assert cli_main([*run, "--output", str(tmp_path / "one.json")]) == 0
    assert cli_main([*run, "--output", str(tmp_path / "two.json"), "--batch-size", "2", "--num-workers", "1"]) == 0
    one, two = (json.loads((tmp_path / name).read_text()) for name in ("one.json", "two.json"))
    assert (two["settings"]["batch_size"], two["settings"]["device"], two["settings"]["dtype"]) == (2, "cpu", "float32")
    for name, value in one["metrics"].items():
        assert two["metrics"][name] == pytest.approx(value, rel=1e-5), name
    capsys.readouterr()
    assert cli_main(["evaluate", "--predictions", str(tmp_path), "--dataset", "synthetic:indoor:3", "--dtype", "bfloat16"]) == 2
    assert "--device and --dtype say how a model runs; saved predictions are scored as saved" in capsys.readouterr().err


def test_the_app_builds_its_predictors_on_the_device_and_dtype_given(tmp_path) -> None:
    from app_helpers import save_baseline

    from mde_hub.app.serve import open_registry

    save_baseline(tmp_path / "models" / "baseline-a", 0)
    registry = open_registry([str(tmp_path / "models")], None, dtype="bfloat16")
    predictor = registry.get("baseline-a")
    assert (predictor.device, predictor.dtype) == (torch.device("cpu"), "bfloat16")
    with pytest.raises(ValueError, match="onnxruntime backend runs on the cpu in float32; got device 'cpu' and dtype 'float16'"):
        open_registry([str(tmp_path / "models")], None, backend="onnxruntime", dtype="float16")
    with pytest.raises(ValueError, match="device 'cuda:99' is not available"):
        open_registry([str(tmp_path / "models")], None, device="cuda:99")
