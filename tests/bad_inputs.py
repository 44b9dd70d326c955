"""The bad-input battery as data: each case builds one file (or checkpoint) in a temporary folder and says what each
surface must do with it.

Surfaces: `lib` (the mde_hub API: `load_image` + `DepthPredictor`, `ENCODINGS` + `check_ground_truth` +
`compute_depth_metrics`, `DepthPredictor.from_pretrained`), `cli` (`mde-hub predict` / `mde-hub evaluate`
through `mde_hub.cli.main`) and `app` (`/compare`, `/evaluate`, `/load_model` through gradio_client).
An expectation is `HANDLED` (the input is processed and the result checked against an independent reference) or
a regular expression the error message must match. tests/test_bad_inputs.py runs every case on every surface.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import PIL.Image
import torch
from safetensors.torch import save_file

HANDLED = None
IMAGE_SIZE = (48, 64)  # height, width of the generated photos
IMAGE_PROCESSOR_FILE = "preprocessor_config.json"
GT_ENCODING = "mm"  # the encoding a ground-truth PNG is read with unless a case says otherwise
MODELS = {"good": "a tiny Baseline (fixed-size resize)", "dpt": "a tiny DPT (aspect-preserving resize, 64x64)"}
"""The served checkpoints, by name: every case runs on "good" unless its `model` says otherwise."""

Kind = Literal["image", "gt", "model"]


@dataclass(frozen=True)
class Case:
    """`build(folder)` writes the input and returns its path. `expected(path)`: for handled images, the (H, W, 3)
    uint8 RGB array the input must be read as; for handled ground truth, the float metres it must decode to.
    `encoding` and `protocol` apply to ground-truth cases. Image cases run on the served `model` (`MODELS`); a
    handled one's network input must be `model_input` (height, width) where given (checked in the library)."""

    name: str
    kind: Kind
    build: Callable[[Path], Path]
    lib: str | None
    cli: str | None
    app: str | None
    expected: Callable[[Path], np.ndarray] | None = None
    encoding: str = GT_ENCODING
    protocol: str = "none"
    model: str = "good"
    model_input: tuple[int, int] | None = None


def photo(height: int = IMAGE_SIZE[0], width: int = IMAGE_SIZE[1], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _save(array: np.ndarray | PIL.Image.Image, path: Path, **kwargs) -> Path:
    image = array if isinstance(array, PIL.Image.Image) else PIL.Image.fromarray(array)
    image.save(path, **kwargs)
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(path: Path, width: int, height: int, bit_depth: int = 8, colour_type: int = 2) -> Path:
    """A PNG that claims `width` x `height` pixels (8-bit RGB; 16, 0: 16-bit gray, as depth maps) but holds almost
    no data: a decompression bomb's header, made without allocating the image."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    chunks = _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    return path


def _gray() -> np.ndarray:
    return photo()[..., 0]


def _rgb(array: np.ndarray) -> np.ndarray:
    return np.repeat(array[..., None], 3, axis=-1) if array.ndim == 2 else array


def _decoded(path: Path) -> np.ndarray:
    """The stored pixels as Pillow decodes them, converted to RGB, ignoring EXIF."""
    with PIL.Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _exif_jpeg(orientation: int) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        exif = PIL.Image.Exif()
        exif[0x0112] = orientation
        return _save(photo(), folder / f"exif{orientation}.jpg", quality=95, exif=exif)

    return build


def _truncated(source: Callable[[Path], Path], keep: float, name: str) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        data = source(folder).read_bytes()
        path = folder / name
        path.write_bytes(data[: int(len(data) * keep)])
        return path

    return build


def _corrupt_png(folder: Path) -> Path:
    """A PNG whose compressed pixel data has bytes flipped: its CRC no longer matches."""
    data = bytearray(_save(photo(), folder / "source.png").read_bytes())
    start = data.index(b"IDAT") + 40
    data[start : start + 16] = bytes(255 - b for b in data[start : start + 16])
    path = folder / "corrupt.png"
    path.write_bytes(bytes(data))
    return path


def _corrupt_jpeg(folder: Path) -> Path:
    """A JPEG whose Huffman tables (DHT segments) are overwritten: undecodable."""
    data = bytearray(_save(photo(), folder / "source.jpg", quality=90).read_bytes())
    at = data.index(b"\xff\xc4")
    data[at + 4 : at + 40] = b"\xff" * 36
    path = folder / "corrupt.jpg"
    path.write_bytes(bytes(data))
    return path


def _palette(transparent: bool) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        image = PIL.Image.fromarray(photo()).quantize(16)
        if transparent:
            image.info["transparency"] = 0
        return _save(image, folder / f"palette{'_t' if transparent else ''}.png")

    return build


def _palette_rgb(path: Path) -> np.ndarray:
    """Palette indices looked up by hand in the file's palette."""
    with PIL.Image.open(path) as image:
        indices = np.asarray(image)
        table = np.asarray(image.getpalette()[: 3 * 256], dtype=np.uint8).reshape(-1, 3)
    return table[indices]


def _cmyk(folder: Path) -> Path:
    return _save(PIL.Image.fromarray(photo()).convert("CMYK"), folder / "cmyk.jpg", quality=95)


def _float_tiff(scale: float) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        values = (_gray() / 255.0 * scale).astype(np.float32)
        return _save(PIL.Image.fromarray(values, mode="F"), folder / f"float{scale:g}.tif")

    return build


def _text(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text("this is text, not an image\n")
    return path


def _empty(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(b"")
    return path


NOT_IMAGE = r"(is not an image file this app can read|[Cc]annot read image)"
TRUNCATED = r"(damaged or truncated|[Cc]annot read image|not an image file)"

def _png(name: str, pixels: Callable[[], np.ndarray | PIL.Image.Image]) -> Callable[[Path], Path]:
    return lambda folder: _save(pixels(), folder / name)


def _as_rgb(pixels: Callable[[], np.ndarray]) -> Callable[[Path], np.ndarray]:
    return lambda path: _rgb(pixels())


_truncated_png = _truncated(_png("s.png", photo), 0.5, "truncated.png")
_truncated_jpeg = _truncated(lambda folder: _save(photo(), folder / "s.jpg"), 0.5, "truncated.jpg")
_rgba = _png("rgba.png", lambda: np.dstack([photo(), photo(seed=1)[..., 0]]))
_gray_alpha = _png("la.png", lambda: PIL.Image.fromarray(np.dstack([_gray(), _gray()[::-1]]), "LA"))
_bilevel = _png("bilevel.png", lambda: PIL.Image.fromarray(_gray() > 127))
_TOO_SMALL = r"pixels: too small, both sides must be at least 16 pixels"
_STRIP = (64, 20000)


def _strip() -> np.ndarray:
    """A 64x20000 (height x width) gradient strip: 1.3 MP in a small PNG. DPT's aspect-preserving resize towards
    64x64 would keep all of it, a ViT input of 5,000 tokens; the processor's bound (4 x 64 x 64 pixels) caps it."""
    row = np.linspace(0, 255, _STRIP[1]).astype(np.uint8)
    channels = (np.broadcast_to(row, _STRIP), np.broadcast_to(row[::-1], _STRIP), np.full(_STRIP, 90, np.uint8))
    return np.stack(channels, axis=-1)


IMAGE_CASES = [
    Case("truncated_png", "image", _truncated_png, TRUNCATED, TRUNCATED, TRUNCATED),
    Case("corrupt_png_crc", "image", _corrupt_png, TRUNCATED, TRUNCATED, TRUNCATED),
    Case("truncated_jpeg", "image", _truncated_jpeg, TRUNCATED, TRUNCATED, TRUNCATED),
    Case("corrupt_jpeg_tables", "image", _corrupt_jpeg, TRUNCATED, TRUNCATED, TRUNCATED),
    Case("zero_byte_png", "image", lambda f: _empty(f, "empty.png"), NOT_IMAGE, NOT_IMAGE, NOT_IMAGE),
    Case("text_named_png", "image", lambda f: _text(f, "notes.png"), NOT_IMAGE, NOT_IMAGE, NOT_IMAGE),
    Case("missing_file", "image", lambda f: f / "no_such.png", r"not found: .*no_such\.png",
         r"no image or folder at .*no_such\.png", "upload an image first"),  # the app is sent no image
    Case("one_by_one", "image", _png("tiny.png", lambda: photo(1, 1)), HANDLED, HANDLED,
         r"tiny\.png is 1x1 " + _TOO_SMALL, expected=_decoded),
    Case("thin_4x400", "image", _png("thin.png", lambda: photo(4, 400)), HANDLED, HANDLED,
         r"thin\.png is 400x4 " + _TOO_SMALL, expected=_decoded),
    Case("bomb_20000x20000", "image", lambda f: png_header_only(f / "bomb.png", 20000, 20000),
         r"bomb\.png has too many pixels: .*400000000", r"bomb\.png has too many pixels", r"too many pixels"),
    Case("thin_strip_dpt", "image", _png("strip.png", _strip), HANDLED, HANDLED, HANDLED, expected=_decoded,
         model="dpt", model_input=(32, 512)),
    Case("header_12000x9000", "image", lambda f: png_header_only(f / "big.png", 12000, 9000), TRUNCATED,
         r"big\.png is 12000x9000 = 108\.0 MP, above the limit of 40 MP \(--max-pixels\)",
         r"big\.png is 12000x9000 = 108\.0 MP, above the app's limit"),
    Case("gray16_png", "image", _png("gray16.png", lambda: _gray().astype(np.uint16) * 257), HANDLED, HANDLED, HANDLED,
         expected=_as_rgb(_gray)),
    Case("gray8_png", "image", _png("gray8.png", _gray), HANDLED, HANDLED, HANDLED, expected=_as_rgb(_gray)),
    Case("bilevel_png", "image", _bilevel, HANDLED, HANDLED, HANDLED,
         expected=_as_rgb(lambda: np.where(_gray() > 127, 255, 0).astype(np.uint8))),
    Case("rgba_png", "image", _rgba, HANDLED, HANDLED, HANDLED, expected=lambda p: photo()),
    Case("gray_alpha_png", "image", _gray_alpha, HANDLED, HANDLED, HANDLED, expected=_as_rgb(_gray)),
    Case("palette_png", "image", _palette(False), HANDLED, HANDLED, HANDLED, expected=_palette_rgb),
    Case("palette_transparent_png", "image", _palette(True), HANDLED, HANDLED, HANDLED, expected=_palette_rgb),
    Case("cmyk_jpeg", "image", _cmyk, HANDLED, HANDLED, HANDLED, expected=_decoded),
    Case("exif_rotate_90", "image", _exif_jpeg(6), HANDLED, HANDLED, HANDLED,
         expected=lambda p: np.rot90(_decoded(p), -1)),
    Case("exif_rotate_180", "image", _exif_jpeg(3), HANDLED, HANDLED, HANDLED,
         expected=lambda p: np.rot90(_decoded(p), 2)),
    Case("exif_mirror_rotate_270", "image", _exif_jpeg(5), HANDLED, HANDLED, HANDLED,
         expected=lambda p: np.rot90(_decoded(p), 1)[::-1]),
    Case("float_tiff_unit_range", "image", _float_tiff(1.0), HANDLED, HANDLED, HANDLED, expected=_as_rgb(_gray)),
    Case("float_tiff_out_of_range", "image", _float_tiff(1000.0), r"values in \[0, 1\]; got values in \[0, 1000\]",
         r"values in \[0, 1\]", r"values in \[0, 1\]"),
]


# Ground truth: evaluated with the 48x64 photo under `protocol`.


def _depth_mm() -> np.ndarray:
    """Indoor-like depth, 1.0-9.0 m in millimetres, as uint16."""
    rows = np.linspace(1000, 9000, IMAGE_SIZE[0])[:, None]
    return np.broadcast_to(rows, IMAGE_SIZE).astype(np.uint16).copy()


def _metres(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32)


def _npy(name: str, array: np.ndarray, **kwargs) -> Callable[[Path], Path]:
    def build(folder: Path) -> Path:
        path = folder / name
        np.save(path, array, **kwargs)
        return path

    return build


def _png16(name: str, array: np.ndarray) -> Callable[[Path], Path]:
    return lambda folder: _save(array.astype(np.uint16), folder / name)


def _with(values: np.ndarray, where: tuple[slice, slice], value: float) -> np.ndarray:
    array = values.astype(np.float32).copy()
    array[where] = value
    return array


_GOOD_M = _depth_mm() / np.float32(1000.0)
_PATCH = (slice(0, 10), slice(0, 20))
_KITTI_OUTDOOR = np.broadcast_to(np.linspace(5 * 256, 80 * 256, IMAGE_SIZE[1])[None], IMAGE_SIZE).astype(np.uint16)
_PATCH_INVALID = _with(_GOOD_M, _PATCH, 0.0)
NO_VALID = r"(no valid|has no valid)"
_WRONG_KITTI = r"spans 3\.906-35\.16 m .* protocol nyu_eigen scores 0\.001 < gt < 10 m"
_PICKLED = np.array([{"depth": 1.0}], dtype=object)

GT_CASES = [
    Case("gt_nan_patch", "gt", _npy("nan.npy", _with(_GOOD_M, _PATCH, np.nan)), HANDLED, HANDLED, HANDLED,
         expected=lambda p: _PATCH_INVALID, encoding="metres_npy"),
    Case("gt_inf_patch", "gt", _npy("inf.npy", _with(_GOOD_M, _PATCH, np.inf)), HANDLED, HANDLED, HANDLED,
         expected=lambda p: _PATCH_INVALID, encoding="metres_npy"),
    Case("gt_negative_patch", "gt", _npy("negative.npy", _with(_GOOD_M, _PATCH, -2.0)), HANDLED, HANDLED, HANDLED,
         expected=lambda p: _PATCH_INVALID, encoding="metres_npy"),
    Case("gt_all_zero_png", "gt", _png16("zeros.png", np.zeros(IMAGE_SIZE)), NO_VALID, NO_VALID, NO_VALID),
    Case("gt_all_nan_npy", "gt", _npy("allnan.npy", np.full(IMAGE_SIZE, np.nan, np.float32)),
         NO_VALID, NO_VALID, NO_VALID, encoding="metres_npy"),
    Case("gt_other_size", "gt", _png16("small.png", _depth_mm()[:30, :40]), HANDLED,
         r"64x48 but its depth .* is 40x30", r"the ground truth is 40x30 but the image is 64x48",
         expected=lambda p: _depth_mm()[:30, :40] / np.float32(1000.0)),
    Case("gt_rgb_photo", "gt", _png("photo_as_depth.png", photo), r"one channel .* mode 'RGB'",
         r"one channel .* mode 'RGB'", r"photo_as_depth\.png: a depth image must have one channel"),
    Case("gt_8bit_png_as_mm", "gt", _png("gt8.png", _gray), r"expects uint16 values, but the file holds uint8",
         r"expects uint16 values, but the file holds uint8", r"gt8\.png: the 'mm' depth encoding expects uint16"),
    Case("gt_header_12000x14000", "gt", lambda f: png_header_only(f / "gt_huge.png", 12000, 14000, 16, 0),
         TRUNCATED, r"000000\.png is 12000x14000 = 168\.0 MP, above the limit of 40 MP \(--max-pixels\)",
         r"gt_huge\.png is 12000x14000 = 168\.0 MP, above the limit of 40 MP"),
    Case("gt_truncated_png", "gt", _truncated(_png16("s.png", _depth_mm()), 0.5, "gt_trunc.png"),
         r"[Cc]annot read image", r"[Cc]annot read image", r"gt_trunc\.png"),
    Case("gt_stack_npy", "gt", _npy("stack.npy", np.stack([_GOOD_M, _GOOD_M])),
         r"must be 2-D \(H, W\); got shape \(2, 48, 64\)", r"must be 2-D", r"must be 2-D", encoding="metres_npy"),
    Case("gt_int_npy", "gt", _npy("int.npy", _depth_mm().astype(np.int64)),
         r"expects float values, but the file holds int64", r"holds int64", r"holds int64", encoding="metres_npy"),
    Case("gt_pickled_npy", "gt", _npy("pickled.npy", _PICKLED, allow_pickle=True),
         r"[Cc]annot read depth array .*allow_pickle", r"allow_pickle", r"allow_pickle", encoding="metres_npy"),
    Case("gt_kitti_read_as_mm", "gt", _png16("kitti.png", _KITTI_OUTDOOR), HANDLED, HANDLED, HANDLED,
         expected=lambda p: _KITTI_OUTDOOR / np.float32(1000.0)),
    # the CLI reads datasets whose layout declares the encoding, and does not check units (RELIABILITY.md)
    Case("gt_mm_read_as_kitti_nyu", "gt", _png16("mm.png", _depth_mm()), _WRONG_KITTI, HANDLED, _WRONG_KITTI,
         encoding="kitti", expected=lambda p: _depth_mm() / np.float32(256.0), protocol="nyu_eigen"),
    Case("gt_millimetres_in_metres_npy", "gt", _npy("mm_as_m.npy", _metres(_depth_mm())),
         r"median 5000 m\): .*millimetres", HANDLED, r"median 5000 m", encoding="metres_npy",
         expected=lambda p: _metres(_depth_mm())),
]


# Checkpoints: each case damages a copy of a good tiny checkpoint.


def _copy_checkpoint(good: Path, folder: Path, name: str) -> Path:
    target = folder / name
    target.mkdir()
    for file in good.iterdir():
        (target / file.name).write_bytes(file.read_bytes())
    return target


def _damaged(name: str, damage: Callable[[Path], None]) -> Callable[[Path, Path], Path]:
    def build(good: Path, folder: Path) -> Path:
        checkpoint = _copy_checkpoint(good, folder, name)
        damage(checkpoint)
        return checkpoint

    return build


def _edit_json(name: str, **changes) -> Callable[[Path], None]:
    """Update fields of the checkpoint's `name` JSON file (NaN and infinity written as Python's json writes them)."""

    def damage(checkpoint: Path) -> None:
        config = json.loads((checkpoint / name).read_text())
        config.update(changes)
        (checkpoint / name).write_text(json.dumps(config))

    return damage


def _edit_config(**changes) -> Callable[[Path], None]:
    return _edit_json("config.json", **changes)


def _truncate_weights(checkpoint: Path) -> None:
    data = (checkpoint / "model.safetensors").read_bytes()
    (checkpoint / "model.safetensors").write_bytes(data[: len(data) // 2])


def _garbage_weights(checkpoint: Path) -> None:
    (checkpoint / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(4096))


def _drop_weights(checkpoint: Path) -> None:
    from safetensors.torch import load_file

    weights = load_file(checkpoint / "model.safetensors")
    kept = dict(list(weights.items())[: len(weights) // 2])
    save_file(kept, checkpoint / "model.safetensors", metadata={"format": "pt"})


def _nan_weight(checkpoint: Path) -> None:
    from safetensors.torch import load_file

    weights = load_file(checkpoint / "model.safetensors")
    weights["encoder.0.0.weight"][0, 0, 0, :2] = torch.tensor([float("nan"), float("inf")])
    save_file(weights, checkpoint / "model.safetensors", metadata={"format": "pt"})


def _pickle_only(checkpoint: Path) -> None:
    from safetensors.torch import load_file

    torch.save(load_file(checkpoint / "model.safetensors"), checkpoint / "pytorch_model.bin")
    (checkpoint / "model.safetensors").unlink()


REMOTE_CODE_MARKER = "REMOTE_CODE_RAN"


def _remote_code(checkpoint: Path) -> None:
    """A config that asks for its own Python class; importing that module would leave a marker file."""
    _edit_config(auto_map={"AutoConfig": "configuration_evil.EvilConfig"}, model_type="evil_depth")(checkpoint)
    (checkpoint / "configuration_evil.py").write_text(
        f"from pathlib import Path\nPath(__file__).with_name({REMOTE_CODE_MARKER!r}).write_text('ran')\n"
    )


def _wrong_shapes(checkpoint: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    _edit_config(encoder_channels=[width * 2 for width in config["encoder_channels"]])(checkpoint)


def _config_file(good: Path, folder: Path) -> Path:
    """The config.json of a good checkpoint, given where its folder belongs."""
    return _copy_checkpoint(good, folder, "config-file") / "config.json"


def _unlink(name: str) -> Callable[[Path], None]:
    return lambda checkpoint: (checkpoint / name).unlink()


MODEL_CASES = [
    ("corrupt_safetensors", _damaged("garbage-weights", _garbage_weights), r"model\.safetensors"),
    ("truncated_safetensors", _damaged("truncated-weights", _truncate_weights), r"model\.safetensors"),
    ("missing_weights_file", _damaged("no-weights", _unlink("model.safetensors")), r"no model\.safetensors"),
    ("weights_missing_tensors", _damaged("half-weights", _drop_weights), r"lacks \d+ of the model's weights"),
    ("weights_of_other_shapes", _damaged("other-shapes", _wrong_shapes), r"(size mismatch|shape)"),
    ("pickle_weights_only", _damaged("pickle-only", _pickle_only), r"pickled pytorch_model\.bin .*allow_pickle"),
    ("unknown_model_type", _damaged("unknown-type", _edit_config(model_type="no_such_model")), r"no_such_model"),
    ("config_not_json", _damaged("bad-json", lambda c: (c / "config.json").write_text("{not json")), r"config\.json"),
    ("config_value_failing_validation", _damaged("text-depth", _edit_config(max_depth="ten")),
     r"its config\.json is invalid: Class validation error for validator 'validate_architecture'"),
    ("config_value_the_layers_refuse", _damaged("text-kernel", _edit_config(kernel_size="four")),
     r"its config\.json is invalid: empty\(\): argument 'size'"),
    ("config_json_as_model", _config_file, r"config\.json is a file, not a checkpoint folder: give the folder"),
    ("needs_remote_code", _damaged("remote-code", _remote_code), r"trust_remote_code|custom code"),
    ("missing_preprocessor_config", _damaged("no-processor", _unlink(IMAGE_PROCESSOR_FILE)),
     r"preprocessor_config\.json"),
    ("nan_weights", _damaged("nan-weights", _nan_weight),
     r"weight encoder\.0\.0\.weight holds 2 NaN or infinite value\(s\) of \d+; refusing"),
    ("infinite_max_depth", _damaged("inf-max-depth", _edit_config(max_depth=float("inf"))),
     r"its config\.json is invalid: .*max_depth must be a finite number; got inf"),
    ("nan_image_mean", _damaged("nan-mean", _edit_json(IMAGE_PROCESSOR_FILE, image_mean=[float("nan"), 0.5, 0.5])),
     r"its preprocessor_config\.json is invalid: image_mean must be 3 finite numbers; got \[nan, 0\.5, 0\.5\]"),
]
"""(name, build(good_checkpoint, folder), error regex); every surface refuses each with that message."""
