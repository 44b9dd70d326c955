"""Turning user images of any common kind into float RGB tensors, with errors that name the problem.

Every image is converted by its *bit depth*, not by guessing: 8-bit data is divided by 255, 16-bit data by 65535,
and float data must already lie in [0, 1]. Palette, grayscale, CMYK and alpha images become plain RGB (alpha is
dropped), and EXIF orientation is applied so the tensor matches what an image viewer shows.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import PIL.Image
import PIL.ImageOps
import torch

ImageLike = Union[PIL.Image.Image, np.ndarray, torch.Tensor]

SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
"""Pillow modes of single-channel 16-bit images (32-bit integer "I" is how older Pillow opens a 16-bit PNG)."""


def load_image(path: str | os.PathLike) -> PIL.Image.Image:
    """Open an image file fully (so truncated files fail here) and apply its EXIF orientation."""
    try:
        with PIL.Image.open(path) as image:
            image.load()
            return PIL.ImageOps.exif_transpose(image)
    except FileNotFoundError:
        raise FileNotFoundError(f"Image file not found: {path}") from None
    except PIL.Image.DecompressionBombError as error:  # raised from the header, before any pixel is allocated
        raise ValueError(f"{path} has too many pixels: {error}") from None
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"Cannot read image {path}: {error}") from None


def _pil_to_array(image: PIL.Image.Image) -> np.ndarray:
    """A PIL image as an HxWx3 float32 array in [0, 1]."""
    image = PIL.ImageOps.exif_transpose(image)
    if image.mode in SIXTEEN_BIT_MODES:
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0.0, 1.0)[..., None], 3, axis=-1)
    if image.mode == "F":
        return _float_to_rgb(np.asarray(image, dtype=np.float32))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.float32) / 255.0


def _float_to_rgb(array: np.ndarray) -> np.ndarray:
    if not np.isfinite(array).all():
        raise ValueError("Float image contains NaN or infinite values.")
    low, high = float(array.min()), float(array.max())
    if low < -1e-6 or high > 1.0 + 1e-6:
        raise ValueError(
            f"Float images must hold values in [0, 1]; got values in [{low:.4g}, {high:.4g}]. "
            "Pass uint8 or uint16 data, or divide by the maximum value first."
        )
    array = np.clip(array, 0.0, 1.0)
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def _channels_last(array: np.ndarray) -> np.ndarray:
    """HxW, HxWxC or CxHxW (C in 1, 3, 4) to HxWxC."""
    if array.ndim == 2:
        return array[..., None]
    if array.ndim != 3:
        raise ValueError(f"Expected an image of shape (H, W), (H, W, C) or (C, H, W); got shape {tuple(array.shape)}.")
    if array.shape[-1] in (1, 3, 4):
        return array
    if array.shape[0] in (1, 3, 4):
        return np.moveaxis(array, 0, -1)
    raise ValueError(f"Cannot find the colour channel in an image of shape {tuple(array.shape)}: expected 1, 3 or 4 channels.")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    array = _channels_last(array)
    if array.dtype == np.uint8:
        array = array.astype(np.float32) / 255.0
    elif array.dtype == np.uint16:
        array = array.astype(np.float32) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        array = _float_to_rgb(array.astype(np.float32))
    else:
        raise ValueError(f"Unsupported image dtype {array.dtype}: use uint8, uint16 or float in [0, 1].")
    channels = array.shape[-1]
    if channels == 1:
        array = np.repeat(array, 3, axis=-1)
    elif channels == 4:
        array = array[..., :3]
    return array


def to_rgb_tensor(image: ImageLike) -> torch.Tensor:
    """Any supported image as a float32 tensor of shape (3, H, W) with values in [0, 1]."""
    if isinstance(image, PIL.Image.Image):
        array = _pil_to_array(image)
    elif isinstance(image, torch.Tensor):
        array = _array_to_rgb(image.detach().cpu().numpy())
    elif isinstance(image, np.ndarray):
        array = _array_to_rgb(image)
    else:
        raise TypeError(f"Unsupported image type {type(image).__name__}: pass a PIL image, numpy array or torch tensor.")
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"Image has no pixels (shape {array.shape[:2]}).")
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).float()


def rgb_tensor_to_uint8(rgb: torch.Tensor) -> np.ndarray:
    """A (3, H, W) tensor in [0, 1], as `to_rgb_tensor` returns, as an (H, W, 3) uint8 array."""
    return (rgb.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()


def to_rgb_uint8(image: ImageLike) -> np.ndarray:
    """Any supported image as an (H, W, 3) uint8 RGB array, converted by bit depth like `to_rgb_tensor` (a 16-bit
    image is divided by 257, not clipped at 255 as Pillow's ``convert("RGB")`` does)."""
    return rgb_tensor_to_uint8(to_rgb_tensor(image))


def to_depth_tensor(depth: ImageLike) -> torch.Tensor:
    """A depth map in metres as a float32 tensor of shape (H, W). Integer PIL depth images must be decoded first."""
    if isinstance(depth, PIL.Image.Image):
        if depth.mode != "F":
            raise ValueError(
                f"Depth given as a PIL image of mode {depth.mode!r}: its unit is ambiguous. Decode it to metres first "
                "(for example millimetre PNGs: np.asarray(img) / 1000) and pass a float array."
            )
        depth = np.asarray(depth, dtype=np.float32)
    tensor = torch.as_tensor(np.asarray(depth) if not isinstance(depth, torch.Tensor) else depth).float()
    if tensor.ndim == 3 and tensor.shape[0] == 1:
        tensor = tensor[0]
    elif tensor.ndim == 3 and tensor.shape[-1] == 1:
        tensor = tensor[..., 0]
    if tensor.ndim != 2:
        raise ValueError(f"Expected a depth map of shape (H, W); got shape {tuple(tensor.shape)}.")
    return tensor
