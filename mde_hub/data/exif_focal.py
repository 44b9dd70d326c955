"""A photo's focal length in pixels from its EXIF tags, for point clouds and for models that take the camera's focal
length (`mde-hub predict` without `--focal`; the app may call it on an upload).

Two ways, in order:

* `FocalLengthIn35mmFilm`: the lens's 35 mm equivalent, which camera makers compute so that the field of view along
  the diagonal matches a 36x24 mm frame (diagonal 43.27 mm): focal = f35 x image diagonal in pixels / 43.27.
* `FocalLength` (mm) with `FocalPlaneXResolution` and `FocalPlaneResolutionUnit` (sensor pixels per unit): focal =
  FocalLength x pixels per mm, rescaled by the photo's long side over that of `PixelXDimension` x
  `PixelYDimension` when the photo was resized from the size the tags describe. EXIF has no sensor-width tag, so
  without the focal-plane resolution no focal is found.

The photo's own size is used after any EXIF rotation (`mde_hub.data.images.load_image`); a focal in pixels does not
depend on the rotation.
"""

from __future__ import annotations

import math

import PIL.ExifTags
import PIL.Image

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
"""The diagonal of a 35 mm film frame (36x24 mm), to which `FocalLengthIn35mmFilm` refers."""

_MILLIMETRES_PER_UNIT = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
"""`FocalPlaneResolutionUnit` codes: inch, centimetre, millimetre, micrometre (EXIF 2.32)."""

_TAGS = PIL.ExifTags.Base


def focal_length_from_exif(image: PIL.Image.Image) -> float | None:
    """The horizontal focal length in pixels of `image` (a PIL image as opened, EXIF kept) from its EXIF tags, or
    None when it carries none that give one."""
    exif = image.getexif().get_ifd(PIL.ExifTags.IFD.Exif)
    width, height = image.size
    equivalent = _positive(exif.get(_TAGS.FocalLengthIn35mmFilm))
    if equivalent is not None:
        return equivalent * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
    focal_mm = _positive(exif.get(_TAGS.FocalLength))
    resolution = _positive(exif.get(_TAGS.FocalPlaneXResolution))
    unit_mm = _MILLIMETRES_PER_UNIT.get(exif.get(_TAGS.FocalPlaneResolutionUnit, 2))  # EXIF's default unit: inch
    if focal_mm is None or resolution is None or unit_mm is None:
        return None
    focal = focal_mm * resolution / unit_mm
    described = [_positive(exif.get(_TAGS.ExifImageWidth)), _positive(exif.get(_TAGS.ExifImageHeight))]
    if None not in described:  # the size the tags describe; long sides compared, as a rotation swaps the sides
        focal *= max(width, height) / max(described)  # type: ignore[type-var]
    return focal


def _positive(value: object) -> float | None:
    """A finite positive number from an EXIF value (int, float or rational), else None."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number > 0 else None
