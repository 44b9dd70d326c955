"""`mde-hub predict`: every output format from a saved checkpoint, with clear errors."""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading

import numpy as np
import PIL.Image
import pytest
import torch
from app_helpers import save_exploding_baseline
from bad_inputs import png_header_only

from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.data.folder import WRITTEN_FOLDER_INTRINSICS
from mde_hub.data.images import current_pixel_limit
from mde_hub.inference.predictor import DepthPredictor
from mde_hub.outputs.depth_files import load_depth_png_mm


def test_predict_writes_every_format(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    model = BaselineForDepthEstimation(BaselineConfig.tiny(image_size=32))
    model.save_pretrained(tmp_path / "ckpt")
    image_processor_for(model.config).save_pretrained(tmp_path / "ckpt")
    images = tmp_path / "images"
    images.mkdir()
    photo = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    PIL.Image.fromarray(photo).save(images / "room.png")
    (images / "notes.txt").write_text("ignored: not an image suffix")
    argv = ["predict", str(images), "--model", str(tmp_path / "ckpt"), "--out", str(tmp_path / "out"), "--formats", "png16,npy,color,ply,glb"]
    assert cli_main(argv) == 0
    assert "room.png: metric depth" in capsys.readouterr().out
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["room.color.png", "room.depth.npy", "room.depth.png", "room.glb", "room.ply"]
    expected = DepthPredictor.from_pretrained(tmp_path / "ckpt").predict(photo).depth
    npy = np.load(tmp_path / "out" / "room.depth.npy")
    np.testing.assert_allclose(npy, expected, rtol=1e-6)
    np.testing.assert_allclose(load_depth_png_mm(tmp_path / "out" / "room.depth.png"), expected, atol=5e-4)
    assert b"element vertex 1200" in (tmp_path / "out" / "room.ply").read_bytes()[:200]  # 30 x 40 valid pixels


def test_predict_to_files_predicts_and_writes_each_image_in_turn(tmp_path) -> None:
    from mde_hub.outputs.prediction_files import list_inputs, plan_outputs, predict_to_files

    predictor = DepthPredictor.from_pretrained(_checkpoint(tmp_path))
    inputs = list_inputs([_photo(tmp_path / "b.png", 1), _photo(tmp_path / "a.png", 2, (20, 24))])
    bases = plan_outputs(inputs, tmp_path / "out", ("npy", "color"), predictor.meaning)
    run = predict_to_files(predictor, bases, ("npy", "color"), "magma", focal=50.0)
    path, prediction, files = next(run)
    assert path == tmp_path / "b.png" and sorted(p.name for p in (tmp_path / "out").iterdir()) == ["b.color.png", "b.depth.npy"]
    np.testing.assert_array_equal(np.load(files.written["npy"]), prediction.values)
    np.testing.assert_allclose(prediction.values, predictor.predict(PIL.Image.open(path), 50.0).values, rtol=1e-6)
    (path, prediction, files), = list(run)
    assert path == tmp_path / "a.png" and prediction.values.shape == (20, 24) and list(files.written) == ["npy", "color"]


def test_predict_errors_are_messages(tmp_path, capsys) -> None:
    assert cli_main(["predict", str(tmp_path / "none.png"), "--model", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "no image or folder at" in capsys.readouterr().err
    PIL.Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    assert cli_main(["predict", str(tmp_path / "photo.png"), "--model", str(tmp_path / "no-model"), "--out", str(tmp_path)]) == 2
    assert "no-model" in capsys.readouterr().err


# Output names and clashes: outputs never replace an input or one another, and a refused run writes nothing.


def _checkpoint(tmp_path):
    from app_helpers import save_baseline

    return save_baseline(tmp_path / "ckpt", 0)


def _photo(path, seed=0, shape=(30, 40)):
    PIL.Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*shape, 3), dtype=np.uint8)).save(path)
    return path


def _depth_png(path, seed=0, shape=(30, 40)):
    """A 16-bit millimetre ground-truth PNG, as 7-Scenes and NYU store them."""
    PIL.Image.fromarray(np.random.default_rng(seed).integers(500, 5000, shape, dtype=np.uint16)).save(path)
    return path


def _snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _mkdir(path):
    path.mkdir(parents=True)
    return path


def _predict(tmp_path, inputs, out, formats="png16,npy,color", *extra):
    model = _checkpoint(tmp_path)
    argv = ["predict", *map(str, inputs), "--model", str(model), "--out", str(out), "--formats", formats]
    return cli_main([*argv, *extra])


def test_inner_dots_keep_the_whole_name(tmp_path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _photo(images / "room.v1.jpg", seed=1)
    _photo(images / "room.v2.jpg", seed=2)
    assert _predict(tmp_path, [images], tmp_path / "out") == 0
    written = _snapshot(tmp_path / "out")
    suffixes = ("color.png", "depth.npy", "depth.png")
    assert sorted(written) == [f"room.v{i}.{suffix}" for i in (1, 2) for suffix in suffixes]
    assert written["room.v1.depth.npy"] != written["room.v2.depth.npy"]


def test_out_in_the_data_folder_never_touches_ground_truth(tmp_path, capsys) -> None:
    scene = tmp_path / "seq-01"
    scene.mkdir()
    _photo(scene / "frame-1.color.jpg")
    _depth_png(scene / "frame-1.depth.png")
    ground_truth = (scene / "frame-1.depth.png").read_bytes()
    assert _predict(tmp_path, [scene], scene) == 0
    err = capsys.readouterr().err
    assert (
        "skipped 1 depth map(s) in the input folders (single-channel 16-bit or float images, not photos), "
        f"e.g. {scene / 'frame-1.depth.png'}"
    ) in err
    written = _snapshot(scene)
    assert written["frame-1.depth.png"] == ground_truth
    assert sorted(written) == ["frame-1.color.color.png", "frame-1.color.depth.npy", "frame-1.color.depth.png",
                               "frame-1.color.jpg", "frame-1.depth.png"]
    # A second run into the data folder would replace files there: refused, naming them, with nothing written.
    assert _predict(tmp_path, [scene], scene) == 2
    err = capsys.readouterr().err
    assert "mde-hub: error: nothing written: " in err and f"would replace {scene / 'frame-1.color.depth.png'}" in err
    assert _snapshot(scene) == written


def test_an_output_named_like_a_ground_truth_file_is_refused(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _photo(data / "room.jpg")
    _depth_png(data / "room.depth.png")
    before = _snapshot(data)
    assert _predict(tmp_path, [data / "room.jpg"], data) == 2
    err = capsys.readouterr().err
    assert f"{data / 'room.jpg'} would replace {data / 'room.depth.png'}" in err
    assert "choose another output folder" in err
    assert _snapshot(data) == before
    assert _predict(tmp_path, [data / "room.jpg"], tmp_path / "out") == 0  # elsewhere, earlier outputs are replaced
    assert _predict(tmp_path, [data / "room.jpg"], tmp_path / "out") == 0


def test_same_name_with_two_extensions_is_refused_before_writing(tmp_path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _photo(images / "photo.jpg", seed=1)
    _photo(images / "photo.png", seed=2)
    out = tmp_path / "out"
    assert _predict(tmp_path, [images], out) == 2
    err = capsys.readouterr().err
    assert f"{images / 'photo.jpg'} and {images / 'photo.png'} would both write {out / 'photo.depth.png'}" in err
    assert "rename one of each pair" in err and not out.exists()


def test_depth_maps_in_a_folder_are_skipped_but_named_files_are_predicted(tmp_path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    _photo(images / "a.png")
    _depth_png(images / "b.png")
    _depth_png(images / "c.png", seed=1)
    PIL.Image.fromarray(np.ones((30, 40), np.float32)).save(images / "d.tif")  # mode F
    assert PIL.Image.open(images / "b.png").mode in ("I;16", "I") and PIL.Image.open(images / "d.tif").mode == "F"
    assert _predict(tmp_path, [images], tmp_path / "out", "npy") == 0
    captured = capsys.readouterr()
    assert "mde-hub: skipped 3 depth map(s) in the input folders" in captured.err
    assert f"e.g. {images / 'b.png'}" in captured.err
    assert [line.split(":")[0] for line in captured.out.splitlines()] == [str(images / "a.png")]
    assert sorted(_snapshot(tmp_path / "out")) == ["a.depth.npy"]
    assert _predict(tmp_path, [images / "b.png"], tmp_path / "out", "npy") == 0  # named on its own: predicted
    assert sorted(_snapshot(tmp_path / "out")) == ["a.depth.npy", "b.depth.npy"]
    _depth_png(images / "a.png")
    assert _predict(tmp_path, [images], tmp_path / "out", "npy") == 2
    assert "no images found" in capsys.readouterr().err


# One writer for the CLI and the app.


class _Registry:
    """The methods of ModelRegistry that `compare` uses; like the registry, it names each predictor."""

    def __init__(self, predictors: dict[str, DepthPredictor]) -> None:
        self.predictors = predictors
        for name, predictor in predictors.items():
            predictor.name = name

    def get(self, name: str) -> DepthPredictor:
        return self.predictors[name]

    def folder_of(self, name: str) -> None:
        return None  # no checkpoint folder: the models' descriptions say they have no training record


def test_cli_and_app_write_identical_files(tmp_path, capsys) -> None:
    from mde_hub.app.compare import compare

    photo = _photo(tmp_path / "photo.png", shape=(36, 52))
    argv = ["--colormap", "magma", "--focal", "50"]
    assert _predict(tmp_path, [photo], tmp_path / "cli", "png16,npy,color,glb", *argv) == 0
    predictor = DepthPredictor.from_pretrained(tmp_path / "ckpt")
    image = np.asarray(PIL.Image.open(photo))
    result = compare(_Registry({"photo": predictor}), ["photo"], image, tmp_path / "app", "magma", False, 50.0)
    names = ("photo.depth.png", "photo.depth.npy", "photo.color.png", "photo.glb")
    assert result.downloads() == [str(tmp_path / "app" / name) for name in names]
    downloads = {name: (tmp_path / "app" / name).read_bytes() for name in names}  # beside them: the shown map
    assert downloads == _snapshot(tmp_path / "cli")


def test_metric_depth_beyond_a_millimetre_png_is_a_note_not_an_error(tmp_path, capsys, monkeypatch) -> None:
    from mde_hub.app.compare import compare
    from mde_hub.inference.predictor import DepthPrediction
    from mde_hub.models.depth_meaning import METRIC_DEPTH

    far = np.linspace(1.0, 120.0, 30 * 40, dtype=np.float32).reshape(30, 40)
    monkeypatch.setattr(DepthPredictor, "predict", lambda self, image, focal=None: DepthPrediction(far, 0.01, METRIC_DEPTH))
    monkeypatch.setattr(DepthPredictor, "predict_batch", lambda self, images, focals=None: [DepthPrediction(far, 0.01, METRIC_DEPTH)])
    photo = _photo(tmp_path / "far.png")
    assert _predict(tmp_path, [photo], tmp_path / "cli", "png16,npy,color") == 0
    note = "depth reaches 120.0 m, beyond the 65.535 m a millimetre PNG holds, so no 16-bit PNG (the .npy holds it)"
    assert f"{photo}: {note}" in capsys.readouterr().err
    assert sorted(_snapshot(tmp_path / "cli")) == ["far.color.png", "far.depth.npy"]
    np.testing.assert_array_equal(np.load(tmp_path / "cli" / "far.depth.npy"), far)
    predictor = DepthPredictor.from_pretrained(tmp_path / "ckpt")
    result = compare(_Registry({"far": predictor}), ["far"], np.asarray(PIL.Image.open(photo)), tmp_path / "app")
    assert f"far: {note}" in result.notes()
    assert [path.rsplit("/", 1)[1] for path in result.downloads()] == ["far.depth.npy", "far.color.png", "far.glb"]
    np.testing.assert_array_equal(np.load(tmp_path / "app" / "far.depth.npy"), far)


def test_predict_batches_a_folder_as_single_images(tmp_path, capsys) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for index, shape in enumerate([(30, 40), (20, 24), (30, 40), (41, 17), (30, 40)]):
        _photo(images / f"p{index}.png", index, shape)
    assert _predict(tmp_path, [images], tmp_path / "one", "npy") == 0
    assert _predict(tmp_path, [images], tmp_path / "many", "npy", "--batch-size", "3", "--num-workers", "2") == 0
    printed = [line.split(":")[0] for line in capsys.readouterr().out.splitlines()]
    assert printed == [str(images / f"p{index}.png") for index in range(5)] * 2  # in order, each once
    for index in range(5):
        single, batched = (np.load(tmp_path / run / f"p{index}.depth.npy") for run in ("one", "many"))
        np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_inference_flags_are_checked_before_anything_runs(tmp_path, capsys) -> None:
    _photo(tmp_path / "photo.png")
    for flag, value, message in [
        ("--batch-size", "0", "argument --batch-size: must be at least 1; got 0"),
        ("--num-workers", "-1", "argument --num-workers: must be at least 0; got -1"),
        ("--batch-size", "two", "argument --batch-size: expected an integer >= 1; got 'two'"),
        ("--max-pixels", "0", "argument --max-pixels: must be a positive number of megapixels; got 0"),
        ("--max-pixels", "lots", "argument --max-pixels: expected a number of megapixels; got 'lots'"),
    ]:
        with pytest.raises(SystemExit):
            _predict(tmp_path, [tmp_path / "photo.png"], tmp_path / "out", "npy", flag, value)
        assert message in capsys.readouterr().err
    assert _predict(tmp_path, [tmp_path / "photo.png"], tmp_path / "out", "npy", "--device", "cuda:99") == 2
    assert "error: device 'cuda:99' is not available on this machine; available: cpu" in capsys.readouterr().err
    assert _predict(tmp_path, [tmp_path / "photo.png"], tmp_path / "out", "npy", "--dtype", "half") == 2
    assert "error: unknown dtype 'half'; choose from auto, float32, bfloat16, float16" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_max_pixels_refuses_large_image_files_from_their_header(tmp_path, capsys, decoded_sizes) -> None:
    """A 12000x14000 PNG (a 178.9 MP one once took 14 GB) is refused before a pixel is decoded, as a photo by predict
    and as ground truth by evaluate; --max-pixels raises the limit, and it ends with the command."""
    huge = png_header_only(tmp_path / "huge.png", 12000, 14000)
    assert _predict(tmp_path, [huge], tmp_path / "out") == 2
    message = f"mde-hub: error: {huge} is 12000x14000 = 168.0 MP, above the limit of 40 MP (--max-pixels); downscale it"
    assert message in capsys.readouterr().err
    dataset = tmp_path / "dataset"
    _photo(_mkdir(dataset / "image") / "000000.png")
    gt = png_header_only(_mkdir(dataset / "depth") / "000000.png", 12000, 14000, bit_depth=16, colour_type=0)
    (dataset / WRITTEN_FOLDER_INTRINSICS).write_text(json.dumps({"encoding": "mm", "intrinsics": {}}))
    argv = ["evaluate", "--model", str(tmp_path / "ckpt"), "--dataset", str(dataset), "--protocol", "none",
            "--output", str(tmp_path / "results.json")]
    assert cli_main(argv) == 2
    assert f"mde-hub: error: {gt} is 12000x14000 = 168.0 MP, above the limit of 40 MP" in capsys.readouterr().err
    assert (12000, 14000) not in decoded_sizes and not (tmp_path / "out").exists()
    big = png_header_only(tmp_path / "big.png", 8000, 6000)  # 48 MP: decoded under a 50 MP limit (then truncated)
    assert _predict(tmp_path, [big], tmp_path / "out", "npy", "--max-pixels", "50") == 2
    assert "image file is truncated" in capsys.readouterr().err and decoded_sizes[-1] == (8000, 6000)
    assert current_pixel_limit() is None


def test_predict_in_bfloat16(tmp_path, capsys) -> None:
    _photo(tmp_path / "photo.png")
    assert _predict(tmp_path, [tmp_path / "photo.png"], tmp_path / "fp32", "npy") == 0
    assert _predict(tmp_path, [tmp_path / "photo.png"], tmp_path / "bf16", "npy", "--dtype", "bfloat16") == 0
    full, low = (np.load(tmp_path / run / "photo.depth.npy") for run in ("fp32", "bf16"))
    assert low.dtype == np.float32 and not np.array_equal(low, full)
    np.testing.assert_allclose(low, full, rtol=5e-2)


def test_point_cloud_and_colour_options_are_checked_before_anything_is_written(tmp_path, capsys) -> None:
    """Before, `--colormap jet` was refused after the depth PNG and .npy were written, and `--focal nan` wrote a GLB
    whose JSON held NaN (not valid glTF)."""
    _photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    for flag, value, message in [
        ("--focal", "nan", "argument --focal: must be a finite number above 0; got nan"),
        ("--focal", "inf", "argument --focal: must be a finite number above 0; got inf"),
        ("--focal", "-500", "argument --focal: must be a finite number above 0; got -500"),
        ("--focal", "0", "argument --focal: must be a finite number above 0; got 0"),
        ("--focal", "wide", "argument --focal: expected a number; got 'wide'"),
        ("--stride", "0", "argument --stride: must be at least 1; got 0"),
    ]:
        with pytest.raises(SystemExit) as exited:
            _predict(tmp_path, [tmp_path / "photo.png"], out, "png16,npy,glb", flag, value)
        assert exited.value.code == 2 and message in capsys.readouterr().err
    assert _predict(tmp_path, [tmp_path / "photo.png"], out, "png16,npy,color", "--colormap", "jet") == 2
    err = capsys.readouterr().err
    assert "mde-hub: error: unknown colormap 'jet'; choose one of ('Spectral', 'magma', 'turbo', 'gray')" in err
    assert "Traceback" not in err and not out.exists()


def test_write_prediction_files_refuses_bad_options_before_writing(tmp_path) -> None:
    from mde_hub.models.depth_meaning import DepthMeaning
    from mde_hub.outputs.prediction_files import write_prediction_files

    depth, image = np.full((6, 8), 2.0, dtype=np.float32), np.zeros((6, 8, 3), dtype=np.uint8)
    meaning = DepthMeaning("metric_depth")
    for options, message in [
        ({"focal": float("nan")}, "the focal length must be a finite positive number of pixels; got nan"),
        ({"focal": -3.0}, "the focal length must be a finite positive number of pixels; got -3.0"),
        ({"colormap": "jet"}, "unknown colormap 'jet'"),
        ({"stride": 0}, "the point-cloud stride must be a positive integer; got 0"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            write_prediction_files(depth, meaning, image, tmp_path / "room", ["png16", "npy", "glb"], **options)
    assert list(tmp_path.iterdir()) == []


@contextlib.contextmanager
def _unblocked(fifo):
    """While the body runs, keep offering `fifo` an empty writer, so a reader that opened it (the bug) gets end of
    file and fails the test instead of hanging it."""
    done = threading.Event()

    def offer() -> None:
        while not done.wait(0.2):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader: nobody is blocked

    thread = threading.Thread(target=offer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipes_are_skipped_in_folders_and_refused_when_named(tmp_path, capsys) -> None:
    """A FIFO named `*.png` is never opened (opening it blocks until a writer comes: `predict` hung forever)."""
    from mde_hub.data.images import load_image

    images = tmp_path / "images"
    images.mkdir()
    _photo(images / "room.png")
    os.mkfifo(images / "pipe.png")
    with _unblocked(images / "pipe.png"):
        assert _predict(tmp_path, [images], tmp_path / "out", "npy") == 0
        captured = capsys.readouterr()
        assert (
            f"mde-hub: skipped 1 image name(s) in the input folders that are not regular files, never opened (reading "
            f"a named pipe or a device could block forever): {images / 'pipe.png'} (a named pipe (FIFO))"
        ) in captured.err
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["room.depth.npy"]
        assert _predict(tmp_path, [images / "pipe.png"], tmp_path / "out2", "npy") == 2
        err = capsys.readouterr().err
        assert f"mde-hub: error: {images / 'pipe.png'} is a named pipe (FIFO), not an image file or a folder" in err
        assert not (tmp_path / "out2").exists()
        with pytest.raises(ValueError, match="pipe.png is a named pipe \\(FIFO\\), not a regular file"):
            load_image(images / "pipe.png")


def test_a_model_whose_output_is_nan_is_an_error_and_nothing_is_written(tmp_path, capsys) -> None:
    """Finite weights that overflow: before, predict exited 0 with an all-zero PNG and evaluate wrote abs_rel 0.9997
    (NaN clipped to min_depth)."""
    model = save_exploding_baseline(tmp_path / "exploding")
    photo = _photo(tmp_path / "photo.png", 0)
    message = r"mde-hub: error: model exploding produced 1200 NaN or infinite depth value\(s\) of 1200: its weights "
    assert cli_main(["predict", str(photo), "--model", str(model), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    dataset = tmp_path / "dataset"  # one frame, in the layout `mde-hub data synth` writes
    for folder in ("image", "depth"):
        (dataset / folder).mkdir(parents=True)
    _photo(dataset / "image" / "000000.png", 1)
    _depth_png(dataset / "depth" / "000000.png")
    (dataset / WRITTEN_FOLDER_INTRINSICS).write_text(json.dumps({"encoding": "mm", "intrinsics": {}}))
    argv = ["evaluate", "--model", str(model), "--dataset", str(dataset), "--protocol", "none",
            "--output", str(tmp_path / "results.json")]
    assert cli_main(argv) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "results.json").exists()
