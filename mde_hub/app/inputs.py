"""What the app accepts: image size limits, ground-truth files and per-request output folders."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image

from mde_hub.data.encoding_check import check_encoding
from mde_hub.data.exif_focal import focal_length_from_exif
from mde_hub.data.folder import ENCODINGS, single_channel_array
from mde_hub.data.images import DEFAULT_MAX_PIXELS, check_pixel_count, load_image, to_rgb_uint8

GT_ENCODINGS: dict[str, str] = {
    "millimetres (16-bit PNG)": "mm",
    "KITTI: value / 256 (16-bit PNG)": "kitti",
    "TUM: value / 5000 (16-bit PNG)": "tum",
}
"""Ground-truth PNG encodings offered in the page -> `mde_hub.data.folder.ENCODINGS` names; .npy is metres."""


@dataclass(frozen=True)
class ImageLimits:
    """Images and ground-truth depth images must have at most `max_pixels` pixels, images sides of at least
    `min_side` pixels."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = 16

    def check(self, width: int, height: int, name: str) -> None:
        check_pixel_count(width, height, self.max_pixels, name, "the app's limit")
        if min(width, height) < self.min_side:
            raise ValueError(
                f"{name} is {width}x{height} pixels: too small, both sides must be at least {self.min_side} pixels"
            )


def read_image(path: str | os.PathLike, limits: ImageLimits) -> np.ndarray:
    """An uploaded image as (H, W, 3) uint8 RGB; its size is checked from the header before it is decoded."""
    name = Path(path).name
    try:
        with PIL.Image.open(path) as image:
            width, height = image.size
    except PIL.Image.DecompressionBombError as error:
        raise ValueError(f"{name} has too many pixels: {error}") from None
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValueError(f"{name} is not an image file this app can read (PNG, JPEG, WebP, BMP, TIFF, ...)") from None
    limits.check(width, height, name)
    try:
        image = load_image(path)
    except ValueError as error:
        raise ValueError(f"{name} is damaged or truncated: {str(error).replace(str(path), name)}") from None
    try:
        return to_rgb_uint8(image)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None


def read_exif_focal(path: str | os.PathLike) -> float | None:
    """The focal length in pixels that an uploaded photo's EXIF tags give (`focal_length_from_exif`), or None. The
    upload reaches the handlers as the browser sent it (`gr.Image(type="filepath", image_mode=None)` passes the file
    itself, not a re-encoded copy), so its EXIF is intact."""
    with PIL.Image.open(path) as image:
        return focal_length_from_exif(image)


def read_ground_truth(path: str | os.PathLike, encoding: str, limits: ImageLimits) -> tuple[np.ndarray, str | None]:
    """A ground-truth depth file as float32 metres (0 = invalid): .npy in metres, else a PNG in `encoding`
    (a key or value of `GT_ENCODINGS`) of at most `limits.max_pixels` pixels, checked from its header before it is
    decoded; and, for a PNG whose values fit no scene in that encoding but a scene in another one, a warning naming
    both (`mde_hub.data.encoding_check`). Errors name the upload, not the server's copy of it."""
    name = Path(path).name
    code = "metres_npy" if str(path).lower().endswith(".npy") else GT_ENCODINGS.get(encoding, encoding)
    if code not in ("metres_npy", *GT_ENCODINGS.values()):
        raise ValueError(f"unknown ground-truth encoding {encoding!r}; choose one of {', '.join(GT_ENCODINGS)}")
    try:
        if code == "metres_npy":
            return ENCODINGS[code].read(path), None
        raw = single_channel_array(load_image(path, limits.max_pixels), name)
    except ValueError as error:
        raise ValueError(str(error).replace(str(path), name)) from None
    labels = {code: label for label, code in GT_ENCODINGS.items()}
    return ENCODINGS[code].decode(raw, name), check_encoding(raw, code, GT_ENCODINGS.values()).warning(labels)


def check_same_size(image: np.ndarray, depth: np.ndarray) -> None:
    if image.shape[:2] != depth.shape[:2]:
        (ih, iw), (dh, dw) = image.shape[:2], depth.shape[:2]
        raise ValueError(
            f"the ground truth is {dw}x{dh} but the image is {iw}x{ih} (width x height): they must be the same size"
        )


def folder_bytes(path: Path) -> int:
    """The size of the files under `path`, in bytes (0 once it is gone)."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class ScratchSpace:
    """Per-request output folders under one root, the root removed on `close`. A new folder evicts the oldest ones
    beyond the `keep` newest, and beyond `max_bytes` in all, though never the `min_keep` newest (requests that may
    still be writing or being served).

    Gradio copies every returned file into its own cache (pruned by `Blocks(delete_cache=...)`) before serving
    it, so an older request's folder can be deleted safely once newer requests have come in.
    """

    def __init__(self, keep: int = 32, root: str | None = None, max_bytes: int | None = None, min_keep: int = 4) -> None:
        if keep < 1 or min_keep < 1:
            raise ValueError(f"keep and min_keep must be at least 1; got {keep} and {min_keep}")
        if max_bytes is not None and max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive; got {max_bytes}")
        self.keep = keep
        self.max_bytes = max_bytes
        self.min_keep = min_keep
        self.root = Path(root or tempfile.mkdtemp(prefix="mde-hub-app-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self._folders: deque[Path] = deque()
        self._lock = threading.Lock()

    def new_dir(self) -> Path:
        """A fresh folder, after evicting the oldest folders beyond `keep` and `max_bytes`."""
        with self._lock:
            while len(self._folders) >= self.keep:
                shutil.rmtree(self._folders.popleft(), ignore_errors=True)
            if self.max_bytes is not None:
                sizes = deque(folder_bytes(folder) for folder in self._folders)
                while len(self._folders) >= self.min_keep and sum(sizes) > self.max_bytes:
                    shutil.rmtree(self._folders.popleft(), ignore_errors=True)
                    sizes.popleft()
            path = Path(tempfile.mkdtemp(prefix="request-", dir=self.root))
            self._folders.append(path)
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
