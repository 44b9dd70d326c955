"""NYU Depth v2 (Silberman et al., ECCV 2012) in its three published containers (docs/MODELS.md §2.4, §4.4, §6.1).

* `NyuLabeledMat`: the official `nyu_depth_v2_labeled.mat` (1449 frames) with the official `splits.mat`
  (795 train / 654 test), the source of the Eigen test set every paper scores on.
* `NyuDenseDepth`: DenseDepth's `nyu_data.zip` (about 50K training pairs, 8-bit depth; 654 test pairs,
  16-bit mm), read straight from the archive, or the same layout extracted to a folder.
* `NyuDenseDepthTest`: DenseDepth's `nyu_test.zip` (the 654 Eigen test frames as .npy arrays, in-painted
  depth in metres, with DenseDepth's evaluation crop), memory-mapped in place.
* `NyuSyncFolder`: the BTS/AdaBins "sync" folders with their file lists (24,231 training pairs; the 654
  test pairs under `official_splits/test`), uint16 mm.
* `nyu_raw_frames`: frames of the raw Kinect dump (PPM colour + PGM disparity).

Every sample carries the colour camera of the NYU toolbox (`camera_params.m`) for its 640x480 frames.
"""

from __future__ import annotations

import functools
import io
import math
import os
import struct
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import h5py
import numpy as np
import PIL.Image
import scipy.io
import torch

from .folder import (
    ENCODINGS,
    PathLike,
    RgbdFolder,
    centred_intrinsics,
    check_same_size,
    depth_encoding,
    join_list_path,
    read_pair_list,
    read_rgb,
    replace_suffix,
    single_channel_array,
)
from .frames import NYU_FRAME, NYU_INTRINSICS, AbsoluteCrop
from .images import to_rgb_uint8
from .sample import DepthSample, Intrinsics

Handle = TypeVar("Handle")


class _PerProcessHandle(Generic[Handle]):
    """Opens a file lazily, once per process and thread: safe under fork (DataLoader workers) and with threads."""

    def __init__(self, opener: Callable[[], Handle]) -> None:
        self._opener = opener
        self._local = threading.local()

    def get(self) -> Handle:
        if getattr(self._local, "pid", None) != os.getpid():
            self._local.handle = self._opener()
            self._local.pid = os.getpid()
        return self._local.handle

    def __getstate__(self) -> dict[str, Any]:
        return {"_opener": self._opener}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._opener = state["_opener"]
        self._local = threading.local()


def nyu_intrinsics(width: int, height: int, focal: float | None = None) -> Intrinsics:
    """The NYU camera for a 640x480 frame (with fx = fy = `focal` when a file list gives one); for any other size,
    the frame was resized or cropped in an unknown way, so the principal point falls back to the image centre."""
    if (height, width) != NYU_FRAME:
        return centred_intrinsics(focal or NYU_INTRINSICS.fx, width, height)
    if focal is None:
        return NYU_INTRINSICS
    return Intrinsics(focal, focal, NYU_INTRINSICS.cx, NYU_INTRINSICS.cy)


class NyuLabeledMat(torch.utils.data.Dataset):
    """Frames of the official `nyu_depth_v2_labeled.mat` (MATLAB v7.3, i.e. HDF5), read lazily with h5py.

    MATLAB stores arrays column-major, so HDF5 shows them transposed: `images` is (N, 3, 640, 480) = [N, C, W, H]
    uint8 and `depths`/`rawDepths` are (N, 640, 480) = [N, W, H] metres; each frame is transposed back to
    (480, 640, 3) / (480, 640). `depth_field="depths"` is the in-painted dense depth (reportedly what DenseDepth's
    test GT matches, MODELS.md §6.1); `"rawDepths"` is the raw projected Kinect depth, 0 = invalid (the GT of
    BTS/AdaBins/DPT).
    `split` "train" (795) / "test" (654) selects frames by `trainNdxs`/`testNdxs` of the official
    `splits.mat` (1-based; `splits_path`, by default `splits.mat` beside the .mat), "all" keeps every frame.
    ids are `"nyu_labeled/<0-based frame index, 5 digits>"`, the numbering of BTS's `rgb_XXXXX.jpg`.
    """

    def __init__(
        self,
        mat_path: PathLike,
        split: Literal["train", "test", "all"] = "train",
        splits_path: PathLike | None = None,
        depth_field: Literal["depths", "rawDepths"] = "depths",
    ) -> None:
        if split not in ("train", "test", "all"):
            raise ValueError(f"split must be 'train', 'test' or 'all', got {split!r}")
        if depth_field not in ("depths", "rawDepths"):
            raise ValueError(f"depth_field must be 'depths' or 'rawDepths', got {depth_field!r}")
        self.mat_path = Path(mat_path)
        self.depth_field = depth_field
        num_frames = self._check_file()
        if split == "all":
            self.frames = np.arange(num_frames)
        else:
            splits_path = self.mat_path.with_name("splits.mat") if splits_path is None else splits_path
            self.frames = _read_official_split(Path(splits_path), split, num_frames)
        self._file = _PerProcessHandle(functools.partial(h5py.File, self.mat_path, "r"))

    def _check_file(self) -> int:
        """Validate the container, keys, shapes and dtypes; return the number of frames."""
        if not self.mat_path.is_file():
            raise FileNotFoundError(f"NYU labeled .mat not found: {self.mat_path}")
        if not h5py.is_hdf5(self.mat_path):
            raise ValueError(f"{self.mat_path} is not an HDF5 file (MATLAB v7.3); is it nyu_depth_v2_labeled.mat?")
        with h5py.File(self.mat_path, "r") as mat:
            for key in ("images", self.depth_field):
                if key not in mat:
                    raise KeyError(f"{self.mat_path} has no dataset {key!r} (found: {', '.join(sorted(mat))})")
            images, depths = mat["images"], mat[self.depth_field]
            num_frames, width, height = images.shape[0], NYU_FRAME[1], NYU_FRAME[0]
            if images.shape != (num_frames, 3, width, height) or images.dtype != np.uint8:
                raise ValueError(
                    f"{self.mat_path}: 'images' must be uint8 of shape (N, 3, {width}, {height}) [N, C, W, H]; "
                    f"got {images.dtype} {images.shape}"
                )
            if depths.shape != (num_frames, width, height) or not np.issubdtype(depths.dtype, np.floating):
                raise ValueError(
                    f"{self.mat_path}: {self.depth_field!r} must be float of shape ({num_frames}, {width}, {height}) "
                    f"[N, W, H]; got {depths.dtype} {depths.shape}"
                )
        return num_frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> DepthSample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} frames of {self.mat_path}")
        frame = int(self.frames[index])
        mat = self._file.get()
        image = np.transpose(mat["images"][frame], (2, 1, 0))
        depth = np.transpose(mat[self.depth_field][frame])
        return DepthSample.from_depth(image, depth, NYU_INTRINSICS, f"nyu_labeled/{frame:05d}")


def _read_official_split(path: Path, split: str, num_frames: int) -> np.ndarray:
    """0-based frame indices from `trainNdxs`/`testNdxs` (1-based) of the official `splits.mat`."""
    key = f"{split}Ndxs"
    if not path.is_file():
        raise FileNotFoundError(
            f"NYU splits file not found: {path}. Split {split!r} needs the official splits.mat (trainNdxs/testNdxs): "
            "put it beside the .mat or give its path (--split-file), or use split 'all'"
        )
    try:
        splits = scipy.io.loadmat(path)
    except (ValueError, TypeError, OSError) as error:
        raise ValueError(f"cannot read {path} as a MATLAB (v5) .mat file: {error}") from None
    if key not in splits:
        found = ", ".join(name for name in splits if not name.startswith("__"))
        raise KeyError(f"{path} has no {key!r} (found: {found})")
    indices = np.asarray(splits[key]).ravel().astype(np.int64)
    bad = indices[(indices < 1) | (indices > num_frames)]
    if bad.size:
        raise ValueError(f"{path}: {key} holds {bad[0]}, outside the 1-based range 1..{num_frames} of the .mat frames")
    return indices - 1


class NyuDenseDepth(torch.utils.data.Dataset):
    """DenseDepth's `nyu_data.zip`, read in place (no extraction), or the same layout as a folder.

    `data/nyu2_<split>.csv` lists "rgb_path,depth_path" per line, relative to the archive root. Training depths
    (`data/nyu2_train/<scene>/<n>.png`) are 8-bit, 0-255 = 0-10 m; test depths (`data/nyu2_test/NNNNN_depth.png`
    beside `_colors.png`) are 16-bit millimetres. The split fixes the encoding, and a depth PNG of the other bit
    depth is an error. An archive is opened once per worker process/thread, on first use. ids are
    `"nyu_densedepth/<rgb path>"`.
    """

    def __init__(self, path: PathLike, split: Literal["train", "test"] = "train") -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.path = Path(path)
        self.encoding = ENCODINGS["densedepth_nyu_train" if split == "train" else "mm"]
        csv_name = f"data/nyu2_{split}.csv"
        if self.path.is_dir():
            self._archive = None
            csv_path = self.path / csv_name
            if not csv_path.is_file():
                raise FileNotFoundError(f"{self.path} has no {csv_name}")
            self.pairs = _parse_pairs_csv(csv_path.read_text(encoding="utf-8"), str(csv_path))
            missing = [name for pair in self.pairs for name in pair if not (self.path / name).is_file()]
        else:
            if not self.path.is_file():
                raise FileNotFoundError(f"DenseDepth NYU archive or folder not found: {self.path}")
            if not zipfile.is_zipfile(self.path):
                raise ValueError(f"{self.path} is not a zip archive")
            with zipfile.ZipFile(self.path) as archive:
                names = set(archive.namelist())
                if csv_name not in names:
                    raise KeyError(f"{self.path} has no {csv_name}")
                self.pairs = _parse_pairs_csv(archive.read(csv_name).decode("utf-8"), f"{self.path}:{csv_name}")
            missing = [name for pair in self.pairs for name in pair if name not in names]
            self._archive = _PerProcessHandle(functools.partial(zipfile.ZipFile, self.path))
        if missing:
            raise KeyError(f"{self.path} lacks {len(missing)} file(s) listed in {csv_name}, e.g. {missing[0]}")

    def __len__(self) -> int:
        return len(self.pairs)

    def _read(self, name: str) -> bytes:
        return (self.path / name).read_bytes() if self._archive is None else self._archive.get().read(name)

    def __getitem__(self, index: int) -> DepthSample:
        rgb_name, depth_name = self.pairs[index]
        rgb_source, depth_source = f"{self.path}:{rgb_name}", f"{self.path}:{depth_name}"
        image = to_rgb_uint8(_open_image_bytes(self._read(rgb_name), rgb_source))
        raw = single_channel_array(_open_image_bytes(self._read(depth_name), depth_source), depth_source)
        depth = self.encoding.decode(raw, depth_source)
        check_same_size(image, depth, rgb_source, depth_source)
        height, width = depth.shape
        return DepthSample.from_depth(image, depth, nyu_intrinsics(width, height), f"nyu_densedepth/{rgb_name}")


def _parse_pairs_csv(text: str, source: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 2 or not all(fields):
            raise ValueError(f"{source}, line {number}: expected 'rgb_path,depth_path', got {line!r}")
        pairs.append((fields[0], fields[1]))
    return pairs


def _open_image_bytes(data: bytes, source: str) -> PIL.Image.Image:
    try:
        image = PIL.Image.open(io.BytesIO(data))
        image.load()
        return image
    except (PIL.UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ValueError(f"cannot read image {source}: {error}") from None


def densedepth_splits(path: PathLike) -> tuple[str, ...]:
    """The splits ("train", "test") whose `data/nyu2_<split>.csv` a DenseDepth `nyu_data.zip` or folder holds."""
    path = Path(path)
    if path.is_dir():
        names = {f"data/{csv.name}" for csv in (path / "data").glob("nyu2_*.csv")}
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    else:
        raise ValueError(f"{path} is neither a folder nor a zip archive (DenseDepth's nyu_data.zip)")
    return tuple(split for split in ("train", "test") if f"data/nyu2_{split}.csv" in names)


DENSEDEPTH_TEST_RGB, DENSEDEPTH_TEST_DEPTH, DENSEDEPTH_TEST_CROP = (
    "eigen_test_rgb.npy",
    "eigen_test_depth.npy",
    "eigen_test_crop.npy",
)
DENSEDEPTH_TEST_MEMBERS = (DENSEDEPTH_TEST_RGB, DENSEDEPTH_TEST_DEPTH, DENSEDEPTH_TEST_CROP)
"""The members of DenseDepth's `nyu_test.zip`, at the archive root (DD:utils.py `load_test_data`)."""


class NyuDenseDepthTest(torch.utils.data.Dataset):
    """DenseDepth's `nyu_test.zip`: the 654 Eigen test frames as three `.npy` arrays at the archive root.

    `eigen_test_rgb.npy` is (N, 480, 640, 3) uint8; `eigen_test_depth.npy` (N, 480, 640) float metres, dense
    (in-painted) depth; `eigen_test_crop.npy` the 4 integers [top, bottom, left, right] = [20, 459, 24, 615] of
    DenseDepth's evaluation crop, inclusive (its evaluate() slices `crop[0]:crop[1]+1, crop[2]:crop[3]+1`).
    `crop` holds them as published; `eval_crop` is the same box, half-open, as a protocol crop.

    Memory: members stored uncompressed (`ZIP_STORED`) are memory-mapped in place, so reading a frame costs only
    that frame's pages; a compressed member cannot be mapped and is read whole into memory, once per process, on
    first use (about 0.6 GB of RGB and 0.8 GB of float32 depth for 654 frames). ids are
    `"nyu_test/<index, 5 digits>"`; intrinsics are the NYU colour camera's.
    """

    def __init__(self, path: PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"DenseDepth nyu_test.zip not found: {self.path}")
        if not zipfile.is_zipfile(self.path):
            raise ValueError(f"{self.path} is not a zip archive")
        with zipfile.ZipFile(self.path) as archive:
            missing = [name for name in DENSEDEPTH_TEST_MEMBERS if name not in archive.namelist()]
            if missing:
                members = ", ".join(DENSEDEPTH_TEST_MEMBERS)
                raise KeyError(f"{self.path} has no {missing[0]}; DenseDepth's nyu_test.zip holds {members}")
            with archive.open(DENSEDEPTH_TEST_RGB) as member:
                rgb_shape, _, rgb_dtype = _read_npy_header(member, f"{self.path}:{DENSEDEPTH_TEST_RGB}")
            with archive.open(DENSEDEPTH_TEST_DEPTH) as member:
                depth_shape, _, depth_dtype = _read_npy_header(member, f"{self.path}:{DENSEDEPTH_TEST_DEPTH}")
            with archive.open(DENSEDEPTH_TEST_CROP) as member:
                crop = np.lib.format.read_array(member, allow_pickle=False)
        height, width = NYU_FRAME
        num_frames = rgb_shape[0] if rgb_shape else 0
        if num_frames < 1 or rgb_shape != (num_frames, height, width, 3) or rgb_dtype != np.uint8:
            raise ValueError(
                f"{self.path}:{DENSEDEPTH_TEST_RGB} must be uint8 of shape (N, {height}, {width}, 3); "
                f"got {rgb_dtype} {rgb_shape}"
            )
        if depth_shape != (num_frames, height, width) or not np.issubdtype(depth_dtype, np.floating):
            raise ValueError(
                f"{self.path}:{DENSEDEPTH_TEST_DEPTH} must be float metres of shape ({num_frames}, {height}, {width}); "
                f"got {depth_dtype} {depth_shape}"
            )
        integers = crop.shape == (4,) and np.issubdtype(crop.dtype, np.integer)
        top, bottom, left, right = crop.tolist() if integers else (-1, -1, -1, -1)
        if not (0 <= top <= bottom < height and 0 <= left <= right < width):
            raise ValueError(
                f"{self.path}:{DENSEDEPTH_TEST_CROP} must be 4 integers [top, bottom, left, right] (inclusive) inside "
                f"{height}x{width}; got {crop.dtype} {crop.tolist()}"
            )
        self.crop = (top, bottom, left, right)
        self.num_frames = num_frames
        self._arrays = _PerProcessHandle(functools.partial(_open_densedepth_test_arrays, self.path))

    @property
    def eval_crop(self) -> AbsoluteCrop:
        """`crop` as a half-open protocol crop: rows top..bottom and columns left..right, inclusive."""
        top, bottom, left, right = self.crop
        return AbsoluteCrop(top=top, bottom=bottom + 1, left=left, right=right + 1, frame=NYU_FRAME)

    def __len__(self) -> int:
        return self.num_frames

    def __getitem__(self, index: int) -> DepthSample:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} frames of {self.path}")
        index = index % len(self)
        rgb, depth = self._arrays.get()
        image, depth = np.array(rgb[index]), np.array(depth[index])  # copies: no view of the mapped file escapes
        return DepthSample.from_depth(image, depth, NYU_INTRINSICS, f"nyu_test/{index:05d}")


def _read_npy_header(file: Any, source: str) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy array whose header starts at the file's position."""
    try:
        version = np.lib.format.read_magic(file)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(file)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(file)
        raise ValueError(f".npy format version {version} is not supported (1.0 and 2.0 are)")
    except ValueError as error:
        raise ValueError(f"cannot read {source} as a .npy array: {error}") from None


def _open_densedepth_test_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The RGB and depth arrays of a `nyu_test.zip`: memory-mapped when stored, else read into memory."""
    with zipfile.ZipFile(path) as archive:
        return tuple(_zip_npy(path, archive, name) for name in (DENSEDEPTH_TEST_RGB, DENSEDEPTH_TEST_DEPTH))


def _zip_npy(path: Path, archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """The .npy member `name`: a read-only `np.memmap` of the archive when the member is stored uncompressed
    and unencrypted (its bytes are then contiguous in the file, after the local header), else a loaded array."""
    source, info = f"{path}:{name}", archive.getinfo(name)
    if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
        with archive.open(name) as member:
            return np.lib.format.read_array(member, allow_pickle=False)
    with open(path, "rb") as file:
        file.seek(info.header_offset)
        local_header = file.read(30)
        if len(local_header) != 30 or local_header[:4] != b"PK\x03\x04":
            raise ValueError(f"{source}: damaged zip archive (no local file header at offset {info.header_offset})")
        name_length, extra_length = struct.unpack("<HH", local_header[26:30])
        data_start = info.header_offset + 30 + name_length + extra_length
        file.seek(data_start)
        shape, fortran_order, dtype = _read_npy_header(file, source)
        offset = file.tell()
    if dtype.hasobject or offset - data_start + dtype.itemsize * math.prod(shape) != info.file_size:
        raise ValueError(f"{source}: the .npy header ({dtype} {shape}) does not fit the member's {info.file_size} bytes")
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape, order="F" if fortran_order else "C")


class NyuSyncFolder(torch.utils.data.Dataset):
    """The BTS/AdaBins NYU layout: a file list of "rgb_path depth_path focal" lines under `root`.

    `root` is the folder the list's paths are relative to (a leading "/" is relative too): `sync/` for the
    training list (`/kitchen_0028a/rgb_00045.jpg /kitchen_0028a/sync_depth_00045.png 518.8579`),
    `official_splits/test/` for the 654-line test list (`<scene>/rgb_XXXXX.jpg`, `sync_depth_XXXXX.png`).
    Depth PNGs are uint16, metres = value / `depth_scale` (1000: mm), 0 = invalid; test depths are the
    raw `rawDepths` of the labeled .mat. Lines whose depth is "None" are skipped and counted in
    `num_missing_gt`. Intrinsics: fx = fy = the line's focal, principal point of the NYU camera for 640x480
    frames, else the image centre. ids are `"nyu_sync/<rgb path>"`.
    """

    def __init__(self, root: PathLike, split_file: PathLike, depth_scale: float = 1000.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"NYU sync folder not found: {self.root}")
        self.encoding = depth_encoding(depth_scale)
        entries = read_pair_list(split_file)
        self.entries = [entry for entry in entries if entry.depth is not None]
        self.num_missing_gt = len(entries) - len(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> DepthSample:
        entry = self.entries[index]
        image_path, depth_path = join_list_path(self.root, entry.rgb), join_list_path(self.root, entry.depth)
        image = read_rgb(image_path)
        depth = self.encoding.read(depth_path)
        check_same_size(image, depth, image_path, depth_path)
        height, width = depth.shape
        intrinsics = nyu_intrinsics(width, height, entry.focal)
        return DepthSample.from_depth(image, depth, intrinsics, f"nyu_sync/{entry.rgb.lstrip('/')}")


def nyu_raw_frames(root: PathLike) -> RgbdFolder:
    """Frames of the NYU Depth v2 raw dump in `root`: `*_color.ppm` + `*_depth.pgm` (raw Kinect disparity,
    little-endian despite the PGM header; see `ENCODINGS["nyu_raw_disparity"]`).

    The intrinsics are the colour camera's. Raw depth is in the depth camera's frame and is *not* registered to
    the colour image, so these frames serve decoding checks and demos, not pixel-exact supervision.
    """
    depth_of = replace_suffix("_color.ppm", "_depth.pgm")
    return RgbdFolder(root, "*_color.ppm", depth_of, "nyu_raw_disparity", NYU_INTRINSICS)
