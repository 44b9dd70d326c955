"""Saving depth maps and the point clouds they back-project to: 16-bit PNG, .npy, colour PNG, PLY and GLB.

Every file is written through `atomic_output`, so a failure never leaves a partial file behind.
"""

from __future__ import annotations

import io
import json
import math
import os
import struct

import numpy as np
from PIL import Image

from mde_hub.data.files import atomic_output
from mde_hub.data.sample import Intrinsics, check_focal
from mde_hub.evaluation.protocols import EvalProtocol
from mde_hub.outputs.colormaps import colorize_depth

PNG_MM_MAX_DEPTH_M = 65.535  # the largest depth a uint16 millimetre PNG can hold
IMPLAUSIBLE_MEDIAN_DEPTH_M = 1000.0  # no camera depth benchmark has a median depth this far: wrong units

_GLB_MAGIC = b"glTF"
_GLB_JSON_CHUNK = 0x4E4F534A  # "JSON"
_GLB_BIN_CHUNK = 0x004E4942  # "BIN\0"
_GLTF_FLOAT = 5126
_GLTF_UNSIGNED_BYTE = 5121
_GLTF_ARRAY_BUFFER = 34962
_GLTF_POINTS = 0


PNG_COMPRESS_LEVEL = 1
"""zlib level of the depth and colour PNGs: lossless at any level; 1 encodes a 640x480 map 3-5x faster than PIL's
default 6 for files about 5 % larger (measured for the app, BENCHMARKS.md)."""


def _depth_map(depth_m: np.ndarray) -> np.ndarray:
    depth = np.asarray(depth_m)
    if depth.ndim != 2:
        raise ValueError(f"expected an (H, W) depth map; got shape {depth.shape}")
    return depth


def max_valid_depth(depth_m: np.ndarray) -> float | None:
    """The largest finite, positive depth of a map; None when it has none."""
    depth = _depth_map(depth_m)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    return float(valid.max()) if valid.size else None


def fits_depth_png_mm(depth_m: np.ndarray) -> bool:
    """True when every valid depth rounds to at most 65535 mm, so `save_depth_png_mm` can hold the map."""
    max_depth = max_valid_depth(depth_m)
    return max_depth is None or round(max_depth * 1000) <= 65535


def save_depth_png_mm(depth_m: np.ndarray, path: str | os.PathLike) -> None:
    """Save depth in metres as a uint16 PNG in millimetres; non-finite or non-positive depths are written as 0.

    Raises ValueError if a depth exceeds 65.535 m, rather than clipping it.
    """
    depth = _depth_map(depth_m).astype(np.float64)
    if not fits_depth_png_mm(depth):
        raise ValueError(
            f"cannot save {os.fspath(path)!r} as a millimetre PNG: max depth {max_valid_depth(depth):.3f} m exceeds "
            f"{PNG_MM_MAX_DEPTH_M} m; save it with save_depth_npy instead"
        )
    valid = np.isfinite(depth) & (depth > 0)
    millimetres = np.round(np.where(valid, depth, 0.0) * 1000).astype(np.uint16)
    with atomic_output(path) as temporary:
        Image.fromarray(millimetres).save(temporary, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def load_depth_png_mm(path: str | os.PathLike) -> np.ndarray:
    """Load a uint16 millimetre PNG as float32 metres; 0 marks invalid pixels."""
    with Image.open(path) as image:
        millimetres = np.array(image)
    if millimetres.dtype != np.uint16:
        raise ValueError(f"expected a uint16 depth PNG at {os.fspath(path)!r}; got dtype {millimetres.dtype}")
    return (millimetres.astype(np.float32) / np.float32(1000.0)).astype(np.float32)


def check_ground_truth(depth_m: np.ndarray, source: str, protocol: EvalProtocol | None = None) -> str:
    """Refuse a decoded ground-truth map that cannot be what its encoding claims; return its summary for the user.

    Units cannot be read from the numbers, so wrong encodings are caught where they are implausible: no valid pixel
    (all zero, negative, NaN or infinite), a median beyond 1000 m (millimetres stored as metres), or more than half of
    the valid pixels outside the `protocol`'s scored range (e.g. a millimetre PNG read as KITTI /256 under
    nyu_eigen). Returns e.g. `"1.28-20.48 m (median 10.88 m), 100% of pixels valid"`.
    """
    depth = _depth_map(depth_m).astype(np.float64)
    valid = depth[np.isfinite(depth) & (depth > 0)]
    if valid.size == 0:
        raise ValueError(f"{source}: the ground truth has no valid pixel (all zero, negative, NaN or infinite)")
    median = float(np.median(valid))
    span = f"{valid.min():.4g}-{valid.max():.4g} m (median {median:.4g} m)"
    if median > IMPLAUSIBLE_MEDIAN_DEPTH_M:
        raise ValueError(
            f"{source}: the ground truth spans {span}: no camera depth benchmark reaches that far; were millimetres "
            "saved as metres, or is the depth encoding wrong?"
        )
    if protocol is not None:
        above = valid >= protocol.max_depth if protocol.max_depth_exclusive else valid > protocol.max_depth
        outside = float(np.mean((valid <= protocol.min_depth) | above))
        if outside > 0.5:
            raise ValueError(
                f"{source}: the ground truth spans {span}, but protocol {protocol.name} scores "
                f"{protocol.gt_range_text()} m and {outside:.0%} of its valid pixels fall outside: is the depth "
                "encoding right?"
            )
    return f"{span}, {valid.size / depth.size:.0%} of pixels valid"


def save_depth_npy(depth_m: np.ndarray, path: str | os.PathLike) -> None:
    """Save an (H, W) map (depth in metres, or a relative model's values) as a float32 .npy array."""
    depth = _depth_map(depth_m).astype(np.float32)
    encoded = io.BytesIO()
    np.save(encoded, depth)  # into a file, numpy's short write on a full disk would lose the errno
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(encoded.getbuffer())


def save_colorized_depth(
    depth_m: np.ndarray,
    path: str | os.PathLike,
    colormap: str = "Spectral",
    value_range: tuple[float, float] | None = None,
) -> None:
    """Save depth as a colour PNG rendered by `colorize_depth`."""
    image = colorize_depth(depth_m, colormap, value_range)
    with atomic_output(path) as temporary:
        Image.fromarray(image).save(temporary, format="PNG", compress_level=PNG_COMPRESS_LEVEL)


def default_intrinsics(height: int, width: int, fov_degrees: float = 60.0) -> Intrinsics:
    """Assumed pinhole intrinsics when the real ones are unknown: square pixels, fx = fy from a horizontal
    field of view (fx = (W / 2) / tan(fov / 2)) and the principal point at the image centre ((W-1)/2, (H-1)/2).
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive; got height={height}, width={width}")
    if not 0 < fov_degrees < 180:
        raise ValueError(f"fov_degrees must be in (0, 180); got {fov_degrees}")
    focal = (width / 2) / math.tan(math.radians(fov_degrees) / 2)
    return Intrinsics(fx=focal, fy=focal, cx=(width - 1) / 2, cy=(height - 1) / 2)


def depth_to_points(
    depth_m: np.ndarray,
    intrinsics: Intrinsics,
    image: np.ndarray | None = None,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Back-project the valid (finite, positive) pixels of every `stride`-th row and column to 3D points.

    Points are in metres in the OpenCV camera frame (x right, y down, z forward): x = (u - cx) z / fx,
    y = (v - cy) z / fy, z = depth. Returns (points (N, 3) float32, colors (N, 3) uint8 from `image` or None).
    The focal lengths must be finite and positive, the principal point finite.
    """
    depth = _depth_map(depth_m).astype(np.float64)
    check_focal(intrinsics.fx)
    check_focal(intrinsics.fy)
    if not (math.isfinite(intrinsics.cx) and math.isfinite(intrinsics.cy)):
        raise ValueError(f"the principal point must be finite; got ({intrinsics.cx}, {intrinsics.cy})")
    if stride < 1:
        raise ValueError(f"stride must be a positive integer; got {stride}")
    if image is not None:
        image = np.asarray(image)
        if image.shape != (*depth.shape, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"expected an (H, W, 3) uint8 image matching depth {depth.shape}; got {image.shape} {image.dtype}"
            )
    v, u = np.mgrid[0 : depth.shape[0] : stride, 0 : depth.shape[1] : stride]
    z = depth[::stride, ::stride]
    valid = np.isfinite(z) & (z > 0)
    z, u, v = z[valid], u[valid], v[valid]
    points = np.stack(
        [(u - intrinsics.cx) * z / intrinsics.fx, (v - intrinsics.cy) * z / intrinsics.fy, z], axis=-1
    ).astype(np.float32)
    colors = None if image is None else image[::stride, ::stride][valid].copy()
    return points, colors


def _point_cloud(points: np.ndarray, colors: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"expected (N, 3) points; got shape {points.shape}")
    if colors is not None:
        colors = np.asarray(colors)
        if colors.shape != points.shape or colors.dtype != np.uint8:
            raise ValueError(
                f"expected (N, 3) uint8 colors for {len(points)} points; got {colors.shape} {colors.dtype}"
            )
    return points, colors


def save_point_cloud_ply(points: np.ndarray, colors: np.ndarray | None, path: str | os.PathLike) -> None:
    """Save points (float x, y, z) and optional colors (uchar red, green, blue) as a binary little-endian PLY."""
    points, colors = _point_cloud(points, colors)
    fields = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    if colors is not None:
        fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
    vertices = np.empty(len(points), dtype=fields)
    vertices["x"], vertices["y"], vertices["z"] = points.T
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {len(points)}"]
    header += ["property float x", "property float y", "property float z"]
    if colors is not None:
        vertices["red"], vertices["green"], vertices["blue"] = colors.T
        header += ["property uchar red", "property uchar green", "property uchar blue"]
    header.append("end_header")
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(("\n".join(header) + "\n").encode("ascii"))
            handle.write(vertices.tobytes())


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def save_point_cloud_glb(points: np.ndarray, colors: np.ndarray | None, path: str | os.PathLike) -> None:
    """Save points as a glTF 2.0 binary (GLB): one POINTS primitive with POSITION and optional COLOR_0.

    Points are converted from the OpenCV camera frame (y down, z forward) to glTF's (y up, z backward) by
    negating y and z, so viewers show the scene upright. Colors are stored as normalized UNSIGNED_BYTE VEC4. Every
    point must be finite (glTF's JSON has no NaN).
    """
    points, colors = _point_cloud(points, colors)
    if len(points) == 0:
        raise ValueError(f"cannot save an empty point cloud to {os.fspath(path)!r}: glTF accessors need count >= 1")
    if not np.isfinite(points).all():
        raise ValueError(f"cannot save {os.fspath(path)!r}: NaN or infinite points have no place in glTF")
    positions = (points * np.array([1, -1, -1], dtype=np.float32)).astype("<f4")
    binary = positions.tobytes()
    buffer_views = [{"buffer": 0, "byteOffset": 0, "byteLength": len(binary), "target": _GLTF_ARRAY_BUFFER}]
    accessors = [
        {
            "bufferView": 0,
            "componentType": _GLTF_FLOAT,
            "count": len(points),
            "type": "VEC3",
            "min": positions.min(axis=0).tolist(),
            "max": positions.max(axis=0).tolist(),
        }
    ]
    attributes = {"POSITION": 0}
    if colors is not None:
        rgba = np.concatenate([colors, np.full((len(colors), 1), 255, dtype=np.uint8)], axis=1)
        binary = _pad(binary, b"\x00")
        buffer_views.append(
            {"buffer": 0, "byteOffset": len(binary), "byteLength": rgba.nbytes, "target": _GLTF_ARRAY_BUFFER}
        )
        binary += rgba.tobytes()
        accessors.append(
            {
                "bufferView": 1,
                "componentType": _GLTF_UNSIGNED_BYTE,
                "normalized": True,
                "count": len(rgba),
                "type": "VEC4",
            }
        )
        attributes["COLOR_0"] = 1
    binary = _pad(binary, b"\x00")
    document = {
        "asset": {"version": "2.0", "generator": "mde_hub"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": attributes, "mode": _GLTF_POINTS}]}],
        "accessors": accessors,
        "bufferViews": buffer_views,
        "buffers": [{"byteLength": len(binary)}],
    }
    json_chunk = _pad(json.dumps(document, separators=(",", ":")).encode("utf-8"), b" ")
    total_length = 12 + 8 + len(json_chunk) + 8 + len(binary)
    with atomic_output(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(struct.pack("<4sII", _GLB_MAGIC, 2, total_length))
            handle.write(struct.pack("<II", len(json_chunk), _GLB_JSON_CHUNK))
            handle.write(json_chunk)
            handle.write(struct.pack("<II", len(binary), _GLB_BIN_CHUNK))
            handle.write(binary)
