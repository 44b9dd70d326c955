"""Any image to RGB, in one place: `to_rgb` is the one conversion, which the data loaders (`to_rgb_uint8`), the image
processor and the predictor (`to_rgb_tensor`) all use, so a file reads as the same pixels everywhere.

Every image is converted by its *bit depth*, not by guessing: 8-bit data is kept, 16-bit data is scaled to 8 bits
(value / 257, rounded: 65535 -> 255, 30000 -> 117), and float data must already lie in [0, 1] (kept as float).
Palette, grayscale, CMYK and alpha images become plain RGB (alpha is dropped), and EXIF orientation is applied so
the pixels match what an image viewer shows.

Arrays and tensors have an explicit layout rule: `input_data_format` `"channels_last"` (H, W, C) or
`"channels_first"` (C, H, W) says where the channels are (C is 1, 3 or 4). Without it, the axis that can hold
them (size 1, 3 or 4) is taken; when both the first and the last axis can, each library's own convention decides: a
torch tensor is channels-first (a (3, 10, 4) tensor is a 10x4 image) and a numpy array channels-last (a (4, 400, 3)
array is a 4x400 image). An (H, W) array is grayscale.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch

from .files import check_regular_file

ImageLike = Union[PIL.Image.Image, np.ndarray, torch.Tensor]

SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
"""Pillow modes of single-channel 16-bit images (32-bit integer "I" is how older Pillow opens a 16-bit PNG)."""

CHANNELS_FIRST, CHANNELS_LAST = "channels_first", "channels_last"
"""The values of `input_data_format` (those of transformers' `ChannelDimension`)."""
_CHANNEL_COUNTS = (1, 3, 4)


DEFAULT_MAX_PIXELS = 40_000_000
"""The largest image, in pixels, that the command line (`--max-pixels`) and the app decode by default."""

_max_pixels: int | None = None


@contextmanager
def pixel_limit(max_pixels: int | None) -> Iterator[None]:
    """Inside the block, `load_image` refuses, from the file's header, images of more than `max_pixels` pixels,
    here and in the data-loading processes `mde_hub.data.batches` starts (None: only Pillow's decompression-bomb
    limit, 179 MP, as outside any block). Process-wide, as Pillow's own `MAX_IMAGE_PIXELS`: `mde-hub predict` and
    `evaluate` run under `--max-pixels`."""
    global _max_pixels
    if max_pixels is not None and max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive number of pixels; got {max_pixels}")
    previous, _max_pixels = _max_pixels, max_pixels
    try:
        yield
    finally:
        _max_pixels = previous


def current_pixel_limit() -> int | None:
    """The `pixel_limit` in force (None: none)."""
    return _max_pixels


def check_pixel_count(width: int, height: int, max_pixels: int, name: str, limit: str = "the limit") -> None:
    """ValueError naming `name`, its size and `limit` when a `width` x `height` image has more than `max_pixels`."""
    if width * height > max_pixels:
        raise ValueError(
            f"{name} is {width}x{height} = {width * height / 1e6:.1f} MP, above {limit} of {max_pixels / 1e6:g} MP "
            "(--max-pixels); downscale it first"
        )


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> PIL.Image.Image:
    """Open an image file fully (so truncated files fail here) and apply its EXIF orientation. What is not a regular
    file (a named pipe, a device, a folder) is refused before it is opened; an image of more than `max_pixels` pixels
    (default: the `pixel_limit` in force, if any) is refused from its header, before decoding."""
    check_regular_file(path)
    limit = max_pixels if max_pixels is not None else _max_pixels
    try:
        image = PIL.Image.open(path)  # reads the header only
    except FileNotFoundError:
        raise FileNotFoundError(f"image file not found: {path}") from None
    except PIL.Image.DecompressionBombError as error:  # raised from the header, before any pixel is allocated
        raise ValueError(f"{path} has too many pixels: {error}") from None
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read image {path}: {error}") from None
    with image:
        if limit is not None:
            check_pixel_count(*image.size, limit, str(path))
        try:
            image.load()
            return PIL.ImageOps.exif_transpose(image)
        except (OSError, SyntaxError, ValueError) as error:
            raise ValueError(f"cannot read image {path}: {error}") from None


def _sixteen_to_eight(array: np.ndarray) -> np.ndarray:
    """16-bit values (0-65535; larger ones clip) to 8 bits: value / 257 rounded to the nearest integer."""
    wide = np.clip(array.astype(np.int64), 0, 65535)
    return ((wide + 128) // 257).astype(np.uint8)


def _pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """A PIL image as (H, W, 3): uint8, or float32 in [0, 1] for a float ("F") image."""
    image = PIL.ImageOps.exif_transpose(image)
    if image.mode in SIXTEEN_BIT_MODES:
        return np.repeat(_sixteen_to_eight(np.asarray(image))[..., None], 3, axis=-1)
    if image.mode == "F":
        return _float_to_rgb(np.asarray(image, dtype=np.float32))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _float_to_rgb(array: np.ndarray) -> np.ndarray:
    if not np.isfinite(array).all():
        raise ValueError("float image contains NaN or infinite values")
    low, high = float(array.min()), float(array.max())
    if low < -1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            f"float images must hold values in [0, 1]; got values in [{low:.4g}, {high:.4g}]. "
            "Pass uint8 or uint16 data, or divide by the maximum value first"
        )
    array = np.clip(array, 0.0, 1.0)
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def _layout(input_data_format: object) -> str | None:
    """`input_data_format` as "channels_first", "channels_last" or None (a transformers ChannelDimension works)."""
    value = getattr(input_data_format, "value", input_data_format)
    if value not in (None, CHANNELS_FIRST, CHANNELS_LAST):
        raise ValueError(f"input_data_format must be {CHANNELS_FIRST!r}, {CHANNELS_LAST!r} or None; got {value!r}")
    return value


def infer_layout(shape: tuple[int, ...], ambiguous: str = CHANNELS_LAST) -> str:
    """Where the channels of a 3-D array of `shape` are, by the module's rule: the axis of size 1, 3 or 4, and
    `ambiguous` when both the first and the last are (channels-first for torch tensors, channels-last for numpy)."""
    first, last = shape[0] in _CHANNEL_COUNTS, shape[-1] in _CHANNEL_COUNTS
    if not first and not last:
        raise ValueError(
            f"cannot find the colour channel in an image of shape {tuple(shape)}: expected 1, 3 or 4 channels"
        )
    return ambiguous if first and last else CHANNELS_FIRST if first else CHANNELS_LAST


def _channels_last(array: np.ndarray, layout: str) -> np.ndarray:
    """HxW, or HxWxC / CxHxW (C in 1, 3, 4) as `layout` says, to HxWxC."""
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise ValueError(f"expected an image of shape (H, W), (H, W, C) or (C, H, W); got shape {tuple(array.shape)}")
    channels = array.shape[0] if layout == CHANNELS_FIRST else array.shape[-1]
    if channels not in _CHANNEL_COUNTS:
        raise ValueError(
            f"an image of shape {tuple(array.shape)} given as {layout} has {channels} channels; expected 1, 3 or 4"
        )
    return np.moveaxis(array, 0, -1) if layout == CHANNELS_FIRST else array


def _array_to_rgb(array: np.ndarray, layout: str | None) -> np.ndarray:
    array = _channels_last(array, layout)
    if array.dtype == np.uint16:
        array = _sixteen_to_eight(array)
    elif np.issubdtype(array.dtype, np.floating):
        array = _float_to_rgb(array.astype(np.float32))
    elif array.dtype != np.uint8:
        raise ValueError(f"unsupported image dtype {array.dtype}: use uint8, uint16 or float in [0, 1]")
    channels = array.shape[-1]
    if channels == 1:
        array = np.repeat(array, 3, axis=-1)
    elif channels == 4:
        array = array[..., :3]
    return array


def to_rgb(image: ImageLike, input_data_format: str | None = None) -> np.ndarray:
    """The one RGB conversion: any supported image as a new (H, W, 3) array, uint8 for integer images (16-bit
    scaled by 1/257) and float32 in [0, 1] for float ones. `input_data_format` says where an array's channels
    are (see the module docstring); PIL images need none."""
    layout = _layout(input_data_format)
    if isinstance(image, PIL.Image.Image):
        array = _pil_to_array(image)
    elif isinstance(image, (torch.Tensor, np.ndarray)):
        convention = CHANNELS_FIRST if isinstance(image, torch.Tensor) else CHANNELS_LAST
        array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else image
        if layout is None and array.ndim == 3:
            layout = infer_layout(array.shape, convention)
        array = _array_to_rgb(array, layout)
    else:
        raise TypeError(f"unsupported image type {type(image).__name__}: pass a PIL image, numpy array or torch tensor")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"image has no pixels (shape {array.shape[:2]})")
    return np.array(array, order="C")  # a writable copy: never the caller's memory, nor Pillow's read-only buffer


def to_rgb_tensor(image: ImageLike, input_data_format: str | None = None) -> torch.Tensor:
    """`to_rgb` as a float32 tensor of shape (3, H, W) with values in [0, 1] (uint8 values divided by 255)."""
    array = to_rgb(image, input_data_format)
    tensor = torch.from_numpy(array).permute(2, 0, 1)
    return tensor.float() / 255.0 if array.dtype == np.uint8 else tensor.float()


def to_rgb_uint8(image: ImageLike, input_data_format: str | None = None) -> np.ndarray:
    """`to_rgb` as an (H, W, 3) uint8 array (float values times 255, rounded): what every data loader reads, so a
    16-bit image reads as value / 257 (not clipped at 255 as Pillow's `convert("RGB")` does)."""
    array = to_rgb(image, input_data_format)
    return array if array.dtype == np.uint8 else np.round(array * 255.0).astype(np.uint8)


def to_depth_tensor(depth: ImageLike) -> torch.Tensor:
    """A depth map in metres as a float32 tensor of shape (H, W). Integer PIL depth images must be decoded first."""
    if isinstance(depth, PIL.Image.Image):
        if depth.mode != "F":
            raise ValueError(
                f"depth given as a PIL image of mode {depth.mode!r}: its unit is ambiguous. Decode it to metres first "
                "(for example millimetre PNGs: np.asarray(img) / 1000) and pass a float array"
            )
        depth = np.asarray(depth, dtype=np.float32)
    tensor = torch.as_tensor(np.asarray(depth) if not isinstance(depth, torch.Tensor) else depth).float()
    if tensor.ndim == 3 and tensor.shape[0] == 1:
        tensor = tensor[0]
    elif tensor.ndim == 3 and tensor.shape[-1] == 1:
        tensor = tensor[..., 0]
    if tensor.ndim != 2:
        raise ValueError(f"expected a depth map of shape (H, W); got shape {tuple(tensor.shape)}")
    return tensor
