"""`mde-hub predict`: every output format from a saved checkpoint, with clear errors."""

from __future__ import annotations

import numpy as np
import PIL.Image
import torch

from mde_hub import BaselineConfig, BaselineForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.depth_io import load_depth_png_mm
from mde_hub.inference import DepthPredictor


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


def test_predict_errors_are_messages(tmp_path, capsys) -> None:
    assert cli_main(["predict", str(tmp_path / "none.png"), "--model", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "No image or folder at" in capsys.readouterr().err
    PIL.Image.new("RGB", (8, 8)).save(tmp_path / "photo.png")
    assert cli_main(["predict", str(tmp_path / "photo.png"), "--model", str(tmp_path / "no-model"), "--out", str(tmp_path)]) == 2
    assert "no-model" in capsys.readouterr().err
