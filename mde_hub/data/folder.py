"""RGB-D frames stored as files: depth encodings, generic folders, pair lists and hold-out splits.

Depth files store integers (or floats) that mean different things in every dataset; a `DepthEncoding` names
the convention and turns a file into metres. The presets in `ENCODINGS` cover the public layouts:

* `"mm"`: uint16 millimetres, 0 = invalid (ICL-NUIM as shipped by Open3D, NYU "sync" PNGs of BTS/AdaBins,
  DenseDepth's NYU test PNGs);
* `"7scenes"`: uint16 millimetres, 0 and 65535 = invalid (Microsoft 7-Scenes, Kinect v1);
* `"kitti"`: uint16, metres = value / 256, 0 = invalid (KITTI depth benchmark);
* `"tum"`: uint16, metres = value / 5000, 0 = invalid (TUM RGB-D, ICL-NUIM in the TUM convention);
* `"sun3d"`: uint16 with its bits rotated by 3, `v = ((s >> 3) | (s << 13)) & 0xFFFF`, then millimetres (SUN3D);
* `"nyu_raw_disparity"`: raw Kinect v1 disparity `d` of the NYU Depth v2 raw dump, metres
  `351.3 / (1092.5 - d)` (NYU toolbox `depth_rel2depth_abs`), d >= 2047 invalid. The dump's PGMs store the
  values little-endian although the PGM format is big-endian, so the last W*H*2 bytes are read as `<u2`;
* `"densedepth_nyu_train"`: 8-bit, 0-255 mapped to 0-10 m (DenseDepth's `nyu_data.zip` training depths);
* `"metres_npy"`: a float `.npy` array already in metres.

Any other linear scale is `depth_encoding(scale)`, e.g. `depth_encoding(1000.0)` for millimetres.

`RgbdFolder` pairs images found by a glob with depth files named after them; the functions below it open
each layout of the development frames in `../shared/data/rgbd` (see its MANIFEST.md; the NYU raw-dump frame
is opened by `mde_hub.data.nyu.nyu_raw_frames`).
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Union

import numpy as np
import PIL.Image
import torch

from .._deprecated_modules import deprecated_function
from .files import atomic_output
from .images import load_image, to_rgb_uint8
from .sample import DepthSample, Intrinsics

PathLike = Union[str, os.PathLike]

KINECT_DISPARITY_NUMERATOR = 351.3
KINECT_DISPARITY_OFFSET = 1092.5
KINECT_INVALID_DISPARITY = 2047

@dataclass(frozen=True)
class DepthEncoding:
    """How a depth file stores metres.

    name: a label for messages. scale: metres = value / scale (ignored by the Kinect disparity transform).
    invalid_values: stored integers that mean "no measurement". stored: the value type the file must hold
    ("uint8", "uint16" or "float"); a file of another bit depth is an error, never silently rescaled.
    transform: "linear", "sun3d_rotation" (undo SUN3D's 3-bit rotation, then divide by scale) or
    "kinect_disparity" (metres = 351.3 / (1092.5 - d), d >= 2047 invalid).
    container: "image" (PNG or any single-channel image Pillow reads), "pgm_little_endian" (a PGM whose 16-bit
    values are little-endian despite the format) or "npy".
    Non-finite and non-positive depths are always invalid; invalid pixels decode to 0.
    """

    name: str
    scale: float = 1.0
    invalid_values: tuple[int, ...] = (0,)
    stored: Literal["uint8", "uint16", "float"] = "uint16"
    transform: Literal["linear", "sun3d_rotation", "kinect_disparity"] = "linear"
    container: Literal["image", "pgm_little_endian", "npy"] = "image"

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"depth encoding {self.name!r}: scale must be positive, got {self.scale}")
        if (self.transform != "linear" or self.container == "pgm_little_endian") and self.stored != "uint16":
            raise ValueError(f"depth encoding {self.name!r}: {self.transform}/{self.container} needs stored='uint16'")

    def read(self, path: PathLike) -> np.ndarray:
        """The depth file at `path` as float32 metres, 0 where invalid."""
        if self.container == "npy":
            raw = _load_npy(path)
        elif self.container == "pgm_little_endian":
            raw = read_pgm_little_endian(path)
        else:
            raw = single_channel_array(load_image(path), str(path))
        return self.decode(raw, str(path))

    def decode(self, raw: np.ndarray, source: str) -> np.ndarray:
        """Stored values `raw` (H, W) as float32 metres, 0 where invalid; `source` names the file in errors."""
        if raw.ndim != 2:
            raise ValueError(f"{source}: a depth map must be 2-D (H, W); got shape {raw.shape}")
        found = "float" if np.issubdtype(raw.dtype, np.floating) else raw.dtype.name
        if found != self.stored:
            raise ValueError(
                f"{source}: the {self.name!r} depth encoding expects {self.stored} values, but the file holds {found} "
                "values; wrong file or wrong encoding"
            )
        values = raw.astype(np.uint32 if self.stored != "float" else np.float64)
        if self.transform == "sun3d_rotation":
            values = ((values >> 3) | (values << 13)) & 0xFFFF
        invalid = np.isin(values, self.invalid_values)
        if self.transform == "kinect_disparity":
            invalid |= values >= KINECT_INVALID_DISPARITY
            with np.errstate(divide="ignore"):
                metres = KINECT_DISPARITY_NUMERATOR / (KINECT_DISPARITY_OFFSET - values.astype(np.float64))
        else:
            metres = values / self.scale
        invalid |= ~np.isfinite(metres) | (metres <= 0)
        return np.where(invalid, 0.0, metres).astype(np.float32)


ENCODINGS: dict[str, DepthEncoding] = {
    encoding.name: encoding
    for encoding in (
        DepthEncoding("mm", scale=1000.0),
        DepthEncoding("7scenes", scale=1000.0, invalid_values=(0, 65535)),
        DepthEncoding("kitti", scale=256.0),
        DepthEncoding("tum", scale=5000.0),
        DepthEncoding("sun3d", scale=1000.0, transform="sun3d_rotation"),
        DepthEncoding(
            "nyu_raw_disparity", invalid_values=(), transform="kinect_disparity", container="pgm_little_endian"
        ),
        DepthEncoding("densedepth_nyu_train", scale=25.5, stored="uint8"),
        DepthEncoding("metres_npy", invalid_values=(), stored="float", container="npy"),
    )
}


def depth_encoding(spec: DepthEncoding | str | float) -> DepthEncoding:
    """A preset by name, an encoding as given, or a linear uint16 encoding `metres = value / spec`."""
    if isinstance(spec, DepthEncoding):
        return spec
    if isinstance(spec, str):
        try:
            return ENCODINGS[spec]
        except KeyError:
            raise ValueError(f"unknown depth encoding {spec!r}; presets: {', '.join(ENCODINGS)}") from None
    return DepthEncoding(f"uint16/{spec:g}", scale=float(spec))


def single_channel_array(image: PIL.Image.Image, source: str) -> np.ndarray:
    """A one-channel Pillow image as uint8 (mode L), uint16 (16-bit modes) or float32 (mode F)."""
    if image.mode.startswith("I;16"):
        return np.asarray(image).astype(np.uint16)
    if image.mode == "I":  # some 16-bit PNGs open as 32-bit "I"
        array = np.asarray(image)
        if array.size and (array.min() < 0 or array.max() > 0xFFFF):
            raise ValueError(f"{source}: 32-bit integer depth image with values outside 0..65535")
        return array.astype(np.uint16)
    if image.mode == "L":
        return np.asarray(image, dtype=np.uint8)
    if image.mode == "F":
        return np.asarray(image, dtype=np.float32)
    raise ValueError(f"{source}: a depth image must have one channel (8-bit, 16-bit or float); got mode {image.mode!r}")


def read_pgm_little_endian(path: PathLike) -> np.ndarray:
    """A 16-bit binary PGM (P5) whose samples are little-endian despite the format (NYU Depth v2 raw dump)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"depth file not found: {path}") from None
    header = re.match(rb"P5\s+(?:#[^\n]*\s+)*(\d+)\s+(\d+)\s+(\d+)\s", data)
    if header is None:
        raise ValueError(f"{path}: not a binary PGM (P5) file")
    width, height, max_value = (int(group) for group in header.groups())
    if max_value < 256:
        raise ValueError(f"{path}: an 8-bit PGM (max value {max_value}); expected 16-bit raw disparity")
    if len(data) - header.end() < width * height * 2:
        raise ValueError(f"{path}: truncated PGM, {len(data) - header.end()} bytes for {width}x{height} 16-bit samples")
    return np.frombuffer(data[-width * height * 2 :], dtype="<u2").reshape(height, width).astype(np.uint16)


def _load_npy(path: PathLike) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"depth file not found: {path}") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"cannot read depth array {path}: {error}") from None
    return array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array


def read_rgb(path: PathLike) -> np.ndarray:
    """The image file at `path` as (H, W, 3) uint8 RGB, by `mde_hub.data.images.to_rgb_uint8` (a 16-bit photo
    scaled by 1/257, alpha dropped, grayscale and palettes expanded), as the predictor reads it."""
    return to_rgb_uint8(load_image(path))


rgb_array = deprecated_function("mde_hub.data.folder.rgb_array", "mde_hub.data.images.to_rgb_uint8")


def check_same_size(image: np.ndarray, depth: np.ndarray, image_source: str, depth_source: str) -> None:
    """Raise a ValueError naming both files unless the image and the depth map have the same height and width."""
    if image.shape[:2] != depth.shape[:2]:
        (ih, iw), (dh, dw) = image.shape[:2], depth.shape[:2]
        raise ValueError(
            f"image {image_source} is {iw}x{ih} but its depth {depth_source} is {dw}x{dh} (width x height)"
        )


def centred_intrinsics(focal: float, width: int, height: int) -> Intrinsics:
    """fx = fy = `focal` and the principal point at the image centre ((W - 1) / 2, (H - 1) / 2).

    Pixel coordinates here are pixel centres (0 .. W - 1), so the centre is the fixed point of `Intrinsics.flipped`.
    """
    return Intrinsics(float(focal), float(focal), (width - 1) / 2.0, (height - 1) / 2.0)


def read_intrinsics_matrix(path: PathLike) -> Intrinsics:
    """A 3x3 camera matrix stored as whitespace-separated text (7-Scenes `camera-intrinsics.txt`)."""
    try:
        matrix = np.loadtxt(path, ndmin=2)
    except FileNotFoundError:
        raise FileNotFoundError(f"intrinsics file not found: {path}") from None
    except ValueError as error:
        raise ValueError(f"cannot read the camera matrix in {path}: {error}") from None
    if matrix.shape != (3, 3):
        raise ValueError(f"{path}: expected a 3x3 camera matrix, got shape {matrix.shape}")
    return Intrinsics(float(matrix[0, 0]), float(matrix[1, 1]), float(matrix[0, 2]), float(matrix[1, 2]))


@dataclass(frozen=True)
class PairListEntry:
    """One line "rgb_path depth_path focal" of a BTS-style list; depth is None where the list says "None"."""

    rgb: str
    depth: str | None
    focal: float
    line: int


def read_pair_list(path: PathLike) -> list[PairListEntry]:
    """Parse a BTS/AdaBins file list: one "rgb_path depth_path focal" per line, blank lines ignored."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"split file not found: {path}") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) != 3:
                raise ValueError
            rgb, depth, focal = fields[0], fields[1], float(fields[2])
        except ValueError:
            raise ValueError(f"{path}, line {number}: expected 'rgb_path depth_path focal', got {line!r}") from None
        entries.append(PairListEntry(rgb, None if depth == "None" else depth, focal, number))
    return entries


def join_list_path(root: PathLike, listed: str) -> str:
    """A path from a file list joined to `root`; a leading slash also means "relative to root" (BTS lists)."""
    return os.path.join(root, listed.lstrip("/"))


def _natural_key(text: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def replace_suffix(old: str, new: str) -> Callable[[str], str]:
    """A `depth_from_image` rule that swaps the end of an image path, e.g. ".color.jpg" -> ".depth.png"."""

    def depth_path(image_path: str) -> str:
        if not image_path.endswith(old):
            raise ValueError(f"image {image_path} does not end with {old!r}")
        return image_path[: -len(old)] + new

    return depth_path


class RgbdFolder(torch.utils.data.Dataset):
    """Images matched by a glob under `root`, each paired with a depth file named after it.

    `depth_from_image` maps an image path relative to `root` (forward slashes) to its depth path: a callable,
    or a pattern with the fields `{parent}` (the image's folder), `{stem}` (its name without the last suffix)
    and `{name}`, e.g. `"depth/{stem}.png"`. Images are sorted naturally ("2" before "10"). `intrinsics` is
    one camera for all frames or a mapping from image path to camera. ids are `"<name>/<image path>"`.
    A frame whose depth and image sizes differ raises an error naming both files.
    """

    def __init__(
        self,
        root: PathLike,
        image_glob: str,
        depth_from_image: Callable[[str], str] | str,
        encoding: DepthEncoding | str | float,
        intrinsics: Intrinsics | Mapping[str, Intrinsics] | None = None,
        name: str | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"RGB-D folder not found: {self.root}")
        self.encoding = depth_encoding(encoding)
        self.name = name or self.root.name
        found = (path.relative_to(self.root).as_posix() for path in self.root.glob(image_glob))
        images = sorted(found, key=_natural_key)
        if not images:
            raise FileNotFoundError(f"no image matches {image_glob!r} under {self.root}")
        self.pairs = [(image, _depth_path(depth_from_image, image)) for image in images]
        for image, depth in self.pairs:
            if not (self.root / depth).is_file():
                raise FileNotFoundError(f"depth file {self.root / depth} for image {self.root / image} not found")
        if isinstance(intrinsics, Mapping):
            missing = [image for image in images if image not in intrinsics]
            if missing:
                raise ValueError(f"no intrinsics for {len(missing)} image(s) under {self.root}, e.g. {missing[0]}")
        self.intrinsics = intrinsics

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> DepthSample:
        image_path, depth_path = (self.root / path for path in self.pairs[index])
        image = read_rgb(image_path)
        depth = self.encoding.read(depth_path)
        check_same_size(image, depth, str(image_path), str(depth_path))
        camera = self.intrinsics[self.pairs[index][0]] if isinstance(self.intrinsics, Mapping) else self.intrinsics
        return DepthSample.from_depth(image, depth, camera, f"{self.name}/{self.pairs[index][0]}")


def _depth_path(rule: Callable[[str], str] | str, image: str) -> str:
    if callable(rule):
        return rule(image)
    stem, _ = posixpath.splitext(posixpath.basename(image))
    path = rule.format(parent=posixpath.dirname(image), stem=stem, name=posixpath.basename(image))
    return posixpath.normpath(path).lstrip("/")


# Ready-made layouts of the development frames in ../shared/data/rgbd (MANIFEST.md); `root` is the layout's folder.


def icl_livingroom(root: PathLike) -> RgbdFolder:
    """ICL-NUIM living room 1 (Open3D's copy): `image/NNNNN.jpg` + `depth/NNNNN.png` in mm, 525/525/319.5/239.5."""
    return RgbdFolder(root, "image/*.jpg", "depth/{stem}.png", "mm", Intrinsics(525.0, 525.0, 319.5, 239.5))


def seven_scenes(root: PathLike) -> RgbdFolder:
    """Microsoft 7-Scenes: `frames/frame-N.color.jpg` + `.depth.png` (mm, 0 and 65535 invalid).

    Intrinsics come from `camera-intrinsics.txt` beside `frames/` and are the *depth* camera's: colour and depth
    are both 640x480 but not registered (edges differ by 10-20 px), so pixel-exact supervision is approximate.
    """
    intrinsics = read_intrinsics_matrix(Path(root) / "camera-intrinsics.txt")
    return RgbdFolder(root, "frames/*.color.jpg", replace_suffix(".color.jpg", ".depth.png"), "7scenes", intrinsics)


def kitti_samples(root: PathLike) -> RgbdFolder:
    """KITTI frames (1242x375, sparse LiDAR GT): `rgb/*.png` + `depth/*.png` listed in `test_annotations.json`,
    whose per-file `cam_in` (fx, fy, cx, cy) and `depth_scale` (256) are used."""
    annotations = Path(root) / "test_annotations.json"
    try:
        files = json.loads(annotations.read_text())["files"]
        intrinsics = {entry["rgb"]: Intrinsics(*map(float, entry["cam_in"])) for entry in files}
        depth_of = {entry["rgb"]: entry["depth"] for entry in files}
        scales = {float(entry["depth_scale"]) for entry in files}
    except FileNotFoundError:
        raise FileNotFoundError(f"KITTI annotations not found: {annotations}") from None
    except (ValueError, KeyError, TypeError) as error:
        expected = "{'files': [{rgb, depth, cam_in, depth_scale}, ...]}"
        raise ValueError(f"{annotations}: expected {expected}: {error!r}") from None
    if len(scales) != 1:
        raise ValueError(f"{annotations}: the files use different depth scales {sorted(scales)}")

    def listed_depth(image: str) -> str:
        if image not in depth_of:
            raise ValueError(f"{Path(root) / image} is not listed in {annotations}")
        return depth_of[image]

    return RgbdFolder(root, "rgb/*.png", listed_depth, scales.pop(), intrinsics)


def tum_frames(root: PathLike) -> RgbdFolder:
    """TUM RGB-D frames `*_color.png` + `*_depth.png` (value / 5000). The sequence, hence the camera, is not
    stated for Open3D's sample, so intrinsics are None."""
    return RgbdFolder(root, "*_color.png", replace_suffix("_color.png", "_depth.png"), "tum")


def sun3d_frames(root: PathLike) -> RgbdFolder:
    """SUN3D frames `*_color.jpg` + `*_depth.png` (bit-rotated mm) with SUN3D's default 570.342/570.342/320/240."""
    intrinsics = Intrinsics(570.342, 570.342, 320.0, 240.0)
    return RgbdFolder(root, "*_color.jpg", replace_suffix("_color.jpg", "_depth.png"), "sun3d", intrinsics)


def icl_tum5000(root: PathLike) -> RgbdFolder:
    """ICL-NUIM in the TUM convention: `color/N.png` + `depth/N.png`, metres = value / 5000.

    ICL-NUIM publishes fy = -480 because its renderer's camera y axis points up. The images are stored top row
    first like every other dataset, and `Intrinsics` uses the y-down pinhole convention (rows grow
    downwards, as `cropped`/`flipped` and back-projection assume), in which the same camera has fy = +480.
    We therefore store |fy| = 480: keeping the sign would mirror back-projected points vertically and break code
    that expects positive focal lengths.
    """
    return RgbdFolder(root, "color/*.png", "depth/{name}", "tum", Intrinsics(481.2, 480.0, 319.5, 239.5))


WRITTEN_FOLDER_INTRINSICS = "intrinsics.json"


def write_rgbd_folder(samples: Iterable[DepthSample], out_dir: PathLike, encoding: str = "kitti") -> Path:
    """Write samples as `image/NNNNNN.png` + `depth/NNNNNN.png` (a linear uint16 encoding, 0 = invalid) and
    `intrinsics.json`; `rgbd_folder` reads it back. Every file is written under a temporary name first.

    The default KITTI encoding (metres x 256) holds depths up to 255.99 m, enough for outdoor scenes; depths the
    encoding cannot hold raise an error rather than being clipped.
    """
    spec = depth_encoding(encoding)
    if spec.stored != "uint16" or spec.transform != "linear" or spec.container != "image":
        raise ValueError(f"write_rgbd_folder needs a linear uint16 PNG encoding; {spec.name!r} is not one")
    root = Path(out_dir)
    (root / "image").mkdir(parents=True, exist_ok=True)
    (root / "depth").mkdir(parents=True, exist_ok=True)
    cameras = {}
    for index, sample in enumerate(samples):
        stored = np.round(sample.depth.astype(np.float64) * spec.scale)
        if stored[sample.valid].max(initial=0) > 65535:
            raise ValueError(f"{sample.id}: depth {sample.depth.max():.2f} m exceeds the {spec.name!r} encoding's range")
        stored = np.where(sample.valid, np.maximum(stored, 1), 0).astype(np.uint16)
        name = f"{index:06d}.png"
        for folder, array in (("image", sample.image), ("depth", stored)):
            with atomic_output(root / folder / name) as temporary:
                PIL.Image.fromarray(array).save(temporary, format="PNG")
        if sample.intrinsics is not None:
            cameras[f"image/{name}"] = asdict(sample.intrinsics)
    with atomic_output(root / WRITTEN_FOLDER_INTRINSICS) as temporary:
        temporary.write_text(json.dumps({"encoding": spec.name, "intrinsics": cameras}, indent=1))
    return root


def rgbd_folder(root: PathLike) -> RgbdFolder:
    """A folder written by `write_rgbd_folder`."""
    meta_path = Path(root) / WRITTEN_FOLDER_INTRINSICS
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path} not found: not a folder written by write_rgbd_folder")
    meta = json.loads(meta_path.read_text())
    cameras = {image: Intrinsics(**values) for image, values in meta["intrinsics"].items()}
    return RgbdFolder(root, "image/*.png", "depth/{name}", meta["encoding"], cameras or None)
