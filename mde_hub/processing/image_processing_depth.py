"""`DepthImageProcessor`: the one image processor shared by every mde-hub model.

Pre-processing: any image (PIL in any mode, numpy, torch; 8- or 16-bit; EXIF-rotated) becomes RGB in [0, 1] by
`mde_hub.data.images.to_rgb` (the one conversion; an array's channel axis is the one `input_data_format` names,
"channels_first" or "channels_last", else the documented rule there: when both ends could be it, channels-first for
a torch tensor and channels-last for a numpy array), is resized (to a fixed size, or keeping the aspect ratio with a
multiple-of constraint, within a bound on the model input's pixels) and normalised with the model's mean and std.
Optional ground-truth depth maps (metres) are resized alongside with nearest-neighbour sampling, so invalid pixels
(0, NaN) never blend into valid ones, and returned as `labels`.

Post-processing: `post_process_depth_estimation` resizes `predicted_depth` (metres, as every model here returns it)
to each original image size, which is what `pipeline("depth-estimation")` calls.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers.feature_extraction_utils import BatchFeature
from transformers.image_processing_utils import BaseImageProcessor
from transformers.utils import logging

from ..data.images import ImageLike, to_depth_tensor, to_rgb_tensor

logger = logging.get_logger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_INTERPOLATION_MODES = ("nearest", "bilinear", "bicubic", "opencv_bicubic")
OUTPUT_PIXELS_PER_SIZE = 4
"""`max_output_pixels`' default: this many times the pixels of `size` (rounded to `ensure_multiple_of`)."""


def _check_mode(name: str, mode: str) -> None:
    if mode not in _INTERPOLATION_MODES:
        raise ValueError(f"{name} must be one of {_INTERPOLATION_MODES}; got {mode!r}")


def _opencv_cubic_taps(source: int, target: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Source indices and weights, each (target, 4), of OpenCV's INTER_CUBIC along one axis: the source position
    (i + 0.5) * scale - 0.5 rounded to float32, its fraction and the a = -0.75 kernel evaluated in float32, the
    border pixels repeated."""
    scale = 1.0 / (target / source)
    position = ((np.arange(target) + 0.5) * scale - 0.5).astype(np.float32)
    start = np.floor(position)
    t = position - start
    one, a = np.float32(1.0), np.float32(-0.75)
    first = ((a * (t + one) - 5 * a) * (t + one) + 8 * a) * (t + one) - 4 * a
    second = ((a + 2) * t - (a + 3)) * t * t + one
    third = ((a + 2) * (one - t) - (a + 3)) * (one - t) * (one - t) + one
    weights = np.stack([first, second, third, one - first - second - third], axis=1)
    indices = np.clip(start.astype(np.int64)[:, None] + np.arange(-1, 3), 0, source - 1)
    return torch.from_numpy(indices), torch.from_numpy(weights.astype(np.float64))


def resize_like_opencv(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`cv2.resize(..., interpolation=cv2.INTER_CUBIC)` of float64 images (no antialiasing; rows, then columns, as
    OpenCV's passes), computed in float64: (N, C, H, W) float64 maps."""
    maps = maps.double()
    for dim, target in ((-1, size[1]), (-2, size[0])):
        indices, weights = _opencv_cubic_taps(maps.shape[dim], target)
        shape = (target, 1) if dim == -2 else (target,)
        resized = torch.zeros(())
        for tap in range(4):
            resized = resized + maps.index_select(dim, indices[:, tap]) * weights[:, tap].reshape(shape)
        maps = resized
    return maps


def widen_like_opencv(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] as float64, 8-bit values k / 255 exactly as OpenCV pipelines compute them (`cv2.imread(path) /
    255.0`) rather than their float32 roundings; other values (16-bit, float images) are only widened."""
    rgb = rgb.double()
    levels = torch.round(rgb * 255)
    return levels / 255 if bool(((rgb * 255 - levels).abs() < 1e-3).all()) else rgb


def resize_maps(
    maps: torch.Tensor, size: tuple[int, int], mode: str, antialias: bool = True, clamp_bicubic: bool = True
) -> torch.Tensor:
    """Resize (N, C, H, W) maps (pixel centres aligned, `align_corners=False`).

    `antialias`: bilinear/bicubic antialias when shrinking. `clamp_bicubic`: bicubic overshoot is clamped at 0 below
    when the maps are non-negative. With both False this is plain `F.interpolate`, whose bicubic (a = -0.75, border
    pixels repeated) is OpenCV's `INTER_CUBIC` up to where OpenCV rounds source positions to float32; "opencv_bicubic"
    is OpenCV's exactly (`resize_like_opencv`, float64 out; never antialiased or clamped).
    """
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    if mode == "nearest":
        return F.interpolate(maps, size=size, mode="nearest-exact")
    if mode == "opencv_bicubic":
        return resize_like_opencv(maps, size)
    shrinking = size[0] < maps.shape[-2] or size[1] < maps.shape[-1]
    resized = F.interpolate(maps, size=size, mode=mode, align_corners=False, antialias=antialias and shrinking)
    if clamp_bicubic and mode == "bicubic" and bool((maps >= 0).all()):
        return resized.clamp_min(0.0)
    return resized


def _round_to_multiple(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def _floor_to_multiple(value: float, multiple: int) -> int:
    return max(multiple, int(value // multiple) * multiple)


class DepthImageProcessor(BaseImageProcessor):
    r"""Image processor for mde-hub depth models.

    Args:
        do_resize: resize images before the model.
        size: `{"height": h, "width": w}` target size.
        keep_aspect_ratio: scale both sides by the one factor (of the two needed to reach `size`) that is closer
            to 1, as DPT/MiDaS do, instead of stretching.
        ensure_multiple_of: round each output side to the nearest multiple of this (applies also when
            `do_resize` is False).
        resample: interpolation for images: "bilinear", "bicubic", "nearest", or "opencv_bicubic" (OpenCV's
            `INTER_CUBIC` exactly, as DPT's `run_monodepth.py`: an 8-bit image becomes k / 255 in float64 and is
            resized and normalised in float64, never antialiased or clamped).
        do_normalize, image_mean, image_std: per-channel normalisation of the [0, 1] RGB values.
        depth_resample: interpolation used to bring `predicted_depth` to the requested size in
            `post_process_depth_estimation` ("bilinear" never overshoots; "bicubic" matches transformers).
        antialias: antialias bilinear/bicubic resizes that shrink (images and predictions). False resizes as
            OpenCV's `cv2.resize` and `F.interpolate`'s defaults do (DPT's `run_monodepth.py`).
        clamp_bicubic: clamp the overshoot of bicubic resizes of non-negative maps (images, predictions) at 0.
        max_output_pixels: the most pixels the model's input may have (its memory and time grow with them, a ViT's
            attention with their square). Default (None): 4 times those of `size` (rounded to `ensure_multiple_of`),
            which the aspect-preserving resize reaches for a 4:1 image and a square `size`. A more elongated image
            (a panorama, a thin strip) is resized, aspect ratio kept, to the largest input within the bound whose
            sides are multiples of `ensure_multiple_of` (when the short side is already at that minimum, only the
            long side is shortened, to at most `max_output_pixels / ensure_multiple_of`), and a warning says so;
            every image within the bound is resized as the model's released code does. With `do_resize=False` an
            image above the bound is refused with a ValueError naming its size. A fixed `size` never exceeds it.
    """

    model_input_names = ["pixel_values"]

    def __init__(
        self,
        do_resize: bool = True,
        size: dict[str, int] | None = None,
        keep_aspect_ratio: bool = False,
        ensure_multiple_of: int = 1,
        resample: str = "bilinear",
        do_normalize: bool = True,
        image_mean: Sequence[float] = IMAGENET_MEAN,
        image_std: Sequence[float] = IMAGENET_STD,
        depth_resample: str = "bilinear",
        antialias: bool = True,
        clamp_bicubic: bool = True,
        max_output_pixels: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        size = dict(size) if size is not None else {"height": 480, "width": 640}
        if set(size) != {"height", "width"} or not all(math.isfinite(side) and side >= 1 for side in size.values()):
            raise ValueError(f"size must be {{'height': h, 'width': w}} with positive sides; got {size}")
        if ensure_multiple_of < 1:
            raise ValueError(f"ensure_multiple_of must be >= 1; got {ensure_multiple_of}")
        if len(image_mean) != 3 or not all(math.isfinite(value) for value in image_mean):
            raise ValueError(f"image_mean must be 3 finite numbers; got {image_mean}")
        if len(image_std) != 3 or not all(math.isfinite(value) and value > 0 for value in image_std):
            raise ValueError(f"image_std must be 3 finite numbers > 0; got {image_std}")
        _check_mode("resample", resample)
        _check_mode("depth_resample", depth_resample)
        self.do_resize = do_resize
        self.size = size
        self.keep_aspect_ratio = keep_aspect_ratio
        self.ensure_multiple_of = int(ensure_multiple_of)
        self.resample = resample
        self.do_normalize = do_normalize
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        self.depth_resample = depth_resample
        self.antialias = bool(antialias)
        self.clamp_bicubic = bool(clamp_bicubic)
        self.max_output_pixels = max_output_pixels
        fixed = self._rounded(size["height"], size["width"])
        if max_output_pixels is not None and max_output_pixels < fixed[0] * fixed[1]:
            raise ValueError(
                f"max_output_pixels must be at least the {fixed[1]}x{fixed[0]} pixels of size; got {max_output_pixels}"
            )

    def _rounded(self, height: float, width: float) -> tuple[int, int]:
        return _round_to_multiple(height, self.ensure_multiple_of), _round_to_multiple(width, self.ensure_multiple_of)

    def output_pixel_bound(self) -> int:
        """`max_output_pixels`, or its default: `OUTPUT_PIXELS_PER_SIZE` times the pixels of `size` (rounded)."""
        if self.max_output_pixels is not None:
            return self.max_output_pixels
        height, width = self._rounded(self.size["height"], self.size["width"])
        return OUTPUT_PIXELS_PER_SIZE * height * width

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (height, width) the model sees for an input of the given size, within `output_pixel_bound` (see
        `max_output_pixels`)."""
        scaled_h, scaled_w = float(height), float(width)
        if self.do_resize:
            scale_h, scale_w = self.size["height"] / height, self.size["width"] / width
            if self.keep_aspect_ratio:
                scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
            scaled_h, scaled_w = height * scale_h, width * scale_w
        out_h, out_w = self._rounded(scaled_h, scaled_w)
        bound = self.output_pixel_bound()
        if out_h * out_w <= bound:
            return out_h, out_w
        if not self.do_resize:
            raise ValueError(
                f"a {width}x{height} image is a {out_w}x{out_h} model input, {out_w * out_h / 1e6:.2g} MP: above "
                f"max_output_pixels ({bound / 1e6:.2g} MP) with do_resize=False; downscale it, or raise the bound"
            )
        capped = self._capped(scaled_h, scaled_w, bound)
        logger.warning(
            f"a {width}x{height} image is resized to {capped[1]}x{capped[0]} for the model, not {out_w}x{out_h}: "
            f"that would exceed max_output_pixels ({bound} pixels)"
        )
        return capped

    def _capped(self, height: float, width: float, bound: int) -> tuple[int, int]:
        """The largest (height, width) of the aspect ratio of `height` x `width`, sides multiples of
        `ensure_multiple_of`, within `bound` pixels; a side at that minimum, the other is shortened to fit."""
        multiple, scale = self.ensure_multiple_of, math.sqrt(bound / (height * width))
        out_h, out_w = _floor_to_multiple(height * scale, multiple), _floor_to_multiple(width * scale, multiple)
        if out_h * out_w > bound:
            if out_h <= out_w:
                out_w = _floor_to_multiple(bound / out_h, multiple)
            else:
                out_h = _floor_to_multiple(bound / out_w, multiple)
        return out_h, out_w

    def _prepare_image(self, image: ImageLike, input_data_format: str | None = None) -> torch.Tensor:
        rgb = to_rgb_tensor(image, input_data_format)
        if self.resample == "opencv_bicubic":  # as OpenCV-based pipelines, in float64 until the network's input
            rgb = widen_like_opencv(rgb)
        size = self.output_size(*rgb.shape[-2:])
        rgb = resize_maps(rgb[None], size, self.resample, self.antialias, self.clamp_bicubic)[0]
        if self.do_normalize:
            mean = torch.tensor(self.image_mean, dtype=rgb.dtype).view(3, 1, 1)
            std = torch.tensor(self.image_std, dtype=rgb.dtype).view(3, 1, 1)
            rgb = (rgb - mean) / std
        return rgb.float()

    def preprocess(
        self,
        images: ImageLike | Sequence[ImageLike],
        depth_maps: ImageLike | Sequence[ImageLike] | None = None,
        return_tensors: str | None = "pt",
        input_data_format: str | None = None,
        **kwargs: Any,
    ) -> BatchFeature:
        """Images (and optional depth maps in metres) to a `BatchFeature` with `pixel_values` (and `labels`).
        `input_data_format` ("channels_first", "channels_last" or transformers' `ChannelDimension`) says where
        the channels of array and tensor images are; without it they are inferred (`mde_hub.data.images`)."""
        if kwargs:
            raise TypeError(f"unexpected arguments for DepthImageProcessor.preprocess: {sorted(kwargs)}")
        if return_tensors not in (None, "pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np'; got {return_tensors!r}")
        images = list(images) if isinstance(images, (list, tuple)) else [images]
        if not images:
            raise ValueError("no images given")
        pixel_values = [self._prepare_image(image, input_data_format) for image in images]
        shapes = {tuple(p.shape) for p in pixel_values}
        if len(shapes) > 1:
            raise ValueError(
                f"images resize to different shapes {sorted(shapes)}; use a fixed size (keep_aspect_ratio=False) "
                "or process them one at a time"
            )
        data = {"pixel_values": torch.stack(pixel_values)}
        if depth_maps is not None:
            depth_maps = list(depth_maps) if isinstance(depth_maps, (list, tuple)) else [depth_maps]
            if len(depth_maps) != len(images):
                raise ValueError(f"got {len(images)} images but {len(depth_maps)} depth maps")
            size = tuple(data["pixel_values"].shape[-2:])
            labels = [resize_maps(to_depth_tensor(d)[None, None], size, "nearest")[0, 0] for d in depth_maps]
            data["labels"] = torch.stack(labels)
        if return_tensors == "np":
            data = {key: value.numpy() for key, value in data.items()}
        return BatchFeature(data=data, tensor_type=return_tensors or "pt")

    def post_process_depth_estimation(
        self,
        outputs: Any,
        target_sizes: Sequence[tuple[int, int]] | torch.Tensor | None = None,
    ) -> list[dict[str, torch.Tensor]]:
        """`predicted_depth` (metres) of each image, resized to its `target_sizes` entry (height, width)."""
        predicted_depth = outputs["predicted_depth"] if isinstance(outputs, dict) else outputs.predicted_depth
        if predicted_depth.ndim != 3:
            raise ValueError(f"predicted_depth must have shape (batch, height, width); got {tuple(predicted_depth.shape)}")
        if target_sizes is None:
            return [{"predicted_depth": depth} for depth in predicted_depth]
        if len(target_sizes) != len(predicted_depth):
            raise ValueError(f"got {len(target_sizes)} target sizes for a batch of {len(predicted_depth)} predictions")
        results = []
        for depth, target in zip(predicted_depth, target_sizes):
            size = tuple(int(s) for s in target)
            resized = resize_maps(depth[None, None], size, self.depth_resample, self.antialias, self.clamp_bicubic)
            results.append({"predicted_depth": resized[0, 0]})
        return results
