"""A photo's focal length in pixels from EXIF tags written with Pillow, and `mde-hub predict` using it when no
`--focal` is given."""

from __future__ import annotations

import math

import numpy as np
import PIL.ExifTags
import PIL.Image
import pytest
import torch

from mde_hub import BtsConfig, BtsForDepthEstimation, image_processor_for
from mde_hub.cli import main as cli_main
from mde_hub.data.exif_focal import focal_length_from_exif
from mde_hub.data.images import load_image

TAGS = PIL.ExifTags.Base


def _photo(path, size=(400, 300), orientation: int | None = None, **tags) -> PIL.Image.Image:
    """A JPEG at `path` with `tags` (EXIF names) in its Exif IFD, read back as `load_image` reads it."""
    image = PIL.Image.fromarray(np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    exif = image.getexif()
    if orientation is not None:
        exif[TAGS.Orientation] = orientation
    ifd = exif.get_ifd(PIL.ExifTags.IFD.Exif)
    for name, value in tags.items():
        ifd[TAGS[name]] = value
    image.save(path, "JPEG", exif=exif)
    return load_image(path)


def test_35mm_equivalent_matches_the_diagonal_field_of_view(tmp_path) -> None:
    photo = _photo(tmp_path / "a.jpg", FocalLengthIn35mmFilm=26)
    # 400x300 has a 500 px diagonal; a 36x24 mm frame a 43.267 mm one
    assert focal_length_from_exif(photo) == pytest.approx(26 * 500 / math.hypot(36, 24))
    rotated = _photo(tmp_path / "b.jpg", orientation=6, FocalLengthIn35mmFilm=26)
    assert rotated.size == (300, 400)
    assert focal_length_from_exif(rotated) == pytest.approx(26 * 500 / math.hypot(36, 24))


def test_focal_length_with_the_focal_plane_resolution(tmp_path) -> None:
    millimetres = _photo(tmp_path / "mm.jpg", FocalLength=4.0, FocalPlaneXResolution=250.0, FocalPlaneResolutionUnit=4)
    assert focal_length_from_exif(millimetres) == pytest.approx(1000.0)  # 4 mm x 250 px/mm
    inches = _photo(tmp_path / "in.jpg", FocalLength=4.0, FocalPlaneXResolution=2540.0, FocalPlaneResolutionUnit=2)
    assert focal_length_from_exif(inches) == pytest.approx(400.0)  # 2540 px/inch = 100 px/mm
    resized = _photo(tmp_path / "r.jpg", FocalLength=4.0, FocalPlaneXResolution=250.0, FocalPlaneResolutionUnit=4,
                     ExifImageWidth=800, ExifImageHeight=600)
    assert focal_length_from_exif(resized) == pytest.approx(500.0)  # tags describe 800x600, the photo is 400x300
    preferred = _photo(tmp_path / "p.jpg", FocalLengthIn35mmFilm=26, FocalLength=4.0, FocalPlaneXResolution=250.0,
                       FocalPlaneResolutionUnit=4)
    assert focal_length_from_exif(preferred) == pytest.approx(26 * 500 / math.hypot(36, 24))


def test_no_usable_tags_give_none(tmp_path) -> None:
    assert focal_length_from_exif(_photo(tmp_path / "none.jpg")) is None
    assert focal_length_from_exif(_photo(tmp_path / "lens.jpg", FocalLength=4.0)) is None  # no sensor resolution
    assert focal_length_from_exif(_photo(tmp_path / "zero.jpg", FocalLengthIn35mmFilm=0)) is None
    png = tmp_path / "plain.png"
    PIL.Image.new("RGB", (8, 8)).save(png)
    assert focal_length_from_exif(load_image(png)) is None


def test_predict_uses_the_exif_focal_when_none_is_given(tmp_path) -> None:
    torch.manual_seed(0)
    model = BtsForDepthEstimation(BtsConfig.tiny(focal_scaling=True, image_size=[64, 96], max_depth=80.0)).eval()
    model.save_pretrained(tmp_path / "bts")
    image_processor_for(model.config).save_pretrained(tmp_path / "bts")
    photo = _photo(tmp_path / "photo.jpg", size=(96, 64), FocalLength=4.0, FocalPlaneXResolution=250.0,
                   FocalPlaneResolutionUnit=4)
    assert focal_length_from_exif(photo) == pytest.approx(1000.0)
    runs = {"exif": [], "typed": ["--focal", "1000"], "other": ["--focal", "500"]}
    for name, extra in runs.items():
        assert cli_main(["predict", str(tmp_path / "photo.jpg"), "--model", str(tmp_path / "bts"), "--out",
                         str(tmp_path / name), "--formats", "npy", "-q", *extra]) == 0
    exif, typed, other = (np.load(tmp_path / name / "photo.depth.npy") for name in runs)
    np.testing.assert_array_equal(exif, typed)
    np.testing.assert_allclose(exif / other, 2.0, rtol=1e-5)  # BTS scales depth by the focal
