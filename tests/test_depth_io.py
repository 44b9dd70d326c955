"""Depth and point-cloud file writers: exact round trips and hand-parsed PLY/GLB files."""

import json
import math
import struct
from unittest import mock

import numpy as np
import pytest
from PIL import Image

from mde_hub.data.sample import Intrinsics
from mde_hub.outputs import depth_files
from mde_hub.outputs.depth_files import (
    default_intrinsics,
    depth_to_points,
    load_depth_png_mm,
    save_colorized_depth,
    save_depth_npy,
    save_depth_png_mm,
    save_point_cloud_glb,
    save_point_cloud_ply,
)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_png_mm_round_trip_is_exact_and_invalid_is_zero(tmp_path):
    depth = np.array([[1.234, 0.0, np.nan], [-2.0, 65.535, np.inf]], dtype=np.float32)
    path = tmp_path / "depth.png"
    save_depth_png_mm(depth, path)
    with Image.open(path) as image:
        raw = np.array(image)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, [[1234, 0, 0], [0, 65535, 0]])
    loaded = load_depth_png_mm(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, np.array([[1.234, 0, 0], [0, 65.535, 0]], dtype=np.float32))
    assert _names(tmp_path) == ["depth.png"]


def test_png_mm_refuses_depth_beyond_65_535_m_and_writes_nothing(tmp_path):
    path = tmp_path / "far.png"
    with pytest.raises(ValueError, match="far.png") as error:
        save_depth_png_mm(np.array([[1.0, 70.25]]), path)
    assert "70.250" in str(error.value)
    assert _names(tmp_path) == []


def test_load_png_mm_rejects_8_bit(tmp_path):
    path = tmp_path / "eight.png"
    Image.fromarray(np.zeros((2, 2), dtype=np.uint8)).save(path)
    with pytest.raises(ValueError, match="uint16"):
        load_depth_png_mm(path)


def test_npy_is_exact_float32(tmp_path):
    depth = np.array([[1.234567, 0.5], [np.nan, 80.0]], dtype=np.float64)
    path = tmp_path / "depth.npy"
    save_depth_npy(depth, path)
    loaded = np.load(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, depth.astype(np.float32))
    assert _names(tmp_path) == ["depth.npy"]


def test_colorized_depth_png(tmp_path):
    path = tmp_path / "color.png"
    save_colorized_depth(np.array([[1.0, 2.0], [3.0, 0.0]]), path, value_range=(1.0, 3.0))
    with Image.open(path) as image:
        rgb = np.array(image)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb[1, 1], [0, 0, 0])
    assert _names(tmp_path) == ["color.png"]


def test_default_intrinsics_from_horizontal_fov():
    intrinsics = default_intrinsics(480, 640, fov_degrees=90.0)
    assert intrinsics.fx == pytest.approx(320.0) and intrinsics.fy == pytest.approx(320.0)
    assert (intrinsics.cx, intrinsics.cy) == (319.5, 239.5)
    assert default_intrinsics(480, 640).fx == pytest.approx(320.0 / math.tan(math.radians(30.0)))


def test_back_projection_hand_worked_2x2():
    # fx=2, fy=4, cx=0.5, cy=0.5; pixel (u, v) with depth z -> ((u-0.5) z/2, (v-0.5) z/4, z).
    depth = np.array([[2.0, 4.0], [0.0, 8.0]])
    image = np.array([[[1, 2, 3], [4, 5, 6]], [[7, 8, 9], [10, 11, 12]]], dtype=np.uint8)
    points, colors = depth_to_points(depth, Intrinsics(fx=2.0, fy=4.0, cx=0.5, cy=0.5), image)
    expected = np.array(
        [
            [-0.5, -0.25, 2.0],  # (u=0, v=0): (-0.5*2/2, -0.5*2/4, 2)
            [1.0, -0.5, 4.0],  # (u=1, v=0): (0.5*4/2, -0.5*4/4, 4)
            [2.0, 1.0, 8.0],  # (u=1, v=1): (0.5*8/2, 0.5*8/4, 8); (u=0, v=1) has no depth
        ],
        dtype=np.float32,
    )
    assert points.dtype == np.float32
    np.testing.assert_allclose(points, expected)
    np.testing.assert_array_equal(colors, [[1, 2, 3], [4, 5, 6], [10, 11, 12]])
    assert depth_to_points(depth, Intrinsics(2.0, 4.0, 0.5, 0.5))[1] is None


def test_back_projection_stride():
    depth = np.arange(1, 21, dtype=np.float32).reshape(4, 5)
    points, _ = depth_to_points(depth, Intrinsics(1.0, 1.0, 0.0, 0.0), stride=2)
    # rows 0, 2 and columns 0, 2, 4: (u, v) keep their full-resolution coordinates.
    np.testing.assert_array_equal(points[:, 2], [1, 3, 5, 11, 13, 15])
    np.testing.assert_allclose(points[:, 0], [0, 6, 20, 0, 26, 60])
    np.testing.assert_allclose(points[:, 1], [0, 0, 0, 22, 26, 30])
    with pytest.raises(ValueError, match="stride"):
        depth_to_points(depth, Intrinsics(1.0, 1.0, 0.0, 0.0), stride=0)


def _cloud():
    points = np.array([[0.5, -1.0, 2.0], [-3.25, 0.75, 4.5], [1.0, 2.0, 8.0]], dtype=np.float32)
    colors = np.array([[255, 0, 0], [0, 128, 0], [10, 20, 30]], dtype=np.uint8)
    return points, colors


def test_ply_header_and_binary_body(tmp_path):
    points, colors = _cloud()
    path = tmp_path / "cloud.ply"
    save_point_cloud_ply(points, colors, path)
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[:3] == ["ply", "format binary_little_endian 1.0", "element vertex 3"]
    properties = [line.split()[1:] for line in header if line.startswith("property")]
    assert properties == [
        ["float", "x"], ["float", "y"], ["float", "z"], ["uchar", "red"], ["uchar", "green"], ["uchar", "blue"]
    ]
    body = np.frombuffer(
        data[end:], dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("r", "u1"), ("g", "u1"), ("b", "u1")]
    )
    assert len(body) == 3
    np.testing.assert_array_equal(np.stack([body["x"], body["y"], body["z"]], axis=1), points)
    np.testing.assert_array_equal(np.stack([body["r"], body["g"], body["b"]], axis=1), colors)
    assert _names(tmp_path) == ["cloud.ply"]


def _parse_glb(data: bytes):
    magic, version, length = struct.unpack_from("<4sII", data, 0)
    json_length, json_type = struct.unpack_from("<II", data, 12)
    document = json.loads(data[20 : 20 + json_length])
    bin_offset = 20 + json_length
    bin_length, bin_type = struct.unpack_from("<II", data, bin_offset)
    binary = data[bin_offset + 8 : bin_offset + 8 + bin_length]
    return magic, version, length, json_length, json_type, document, bin_length, bin_type, binary


def test_glb_header_json_and_binary(tmp_path):
    points, colors = _cloud()
    path = tmp_path / "cloud.glb"
    save_point_cloud_glb(points, colors, path)
    data = path.read_bytes()
    magic, version, length, json_length, json_type, document, bin_length, bin_type, binary = _parse_glb(data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    assert json_type == 0x4E4F534A and bin_type == 0x004E4942
    assert json_length % 4 == 0 and bin_length % 4 == 0
    assert 20 + json_length + 8 + bin_length == len(data)

    flipped = points * np.array([1, -1, -1], dtype=np.float32)
    primitive = document["meshes"][0]["primitives"][0]
    assert primitive["mode"] == 0
    position = document["accessors"][primitive["attributes"]["POSITION"]]
    color = document["accessors"][primitive["attributes"]["COLOR_0"]]
    assert (position["count"], position["type"], position["componentType"]) == (3, "VEC3", 5126)
    assert position["min"] == flipped.min(axis=0).tolist() and position["max"] == flipped.max(axis=0).tolist()
    assert (color["count"], color["type"], color["componentType"], color["normalized"]) == (3, "VEC4", 5121, True)
    assert document["buffers"][0]["byteLength"] == bin_length

    views = document["bufferViews"]
    assert all(view["byteOffset"] % 4 == 0 for view in views)
    position_view = views[position["bufferView"]]
    decoded = np.frombuffer(binary, dtype="<f4", count=9, offset=position_view["byteOffset"]).reshape(3, 3)
    np.testing.assert_array_equal(decoded, flipped)
    color_view = views[color["bufferView"]]
    rgba = np.frombuffer(binary, dtype=np.uint8, count=12, offset=color_view["byteOffset"]).reshape(3, 4)
    np.testing.assert_array_equal(rgba[:, :3], colors)
    np.testing.assert_array_equal(rgba[:, 3], 255)
    assert _names(tmp_path) == ["cloud.glb"]


def test_glb_without_colors_pads_json_with_spaces(tmp_path):
    points, _ = _cloud()
    path = tmp_path / "plain.glb"
    save_point_cloud_glb(points[:1], None, path)
    data = path.read_bytes()
    _, _, length, json_length, _, document, bin_length, _, binary = _parse_glb(data)
    assert length == len(data) and json_length % 4 == 0 and bin_length == 12
    raw_json = data[20 : 20 + json_length]
    assert raw_json.rstrip(b" ") == raw_json.rstrip() and raw_json.rstrip(b" ").endswith(b"}")
    assert document["meshes"][0]["primitives"][0]["attributes"] == {"POSITION": 0}
    np.testing.assert_array_equal(np.frombuffer(binary, dtype="<f4"), [0.5, 1.0, -2.0])


def test_failure_while_writing_leaves_no_file(tmp_path):
    points, colors = _cloud()
    path = tmp_path / "broken.glb"
    real_pack = struct.pack

    def pack_failing_at_bin_chunk(fmt, *values):
        if values[-1:] == (0x004E4942,):  # the GLB is half written when its BIN chunk header fails
            raise RuntimeError("boom")
        return real_pack(fmt, *values)

    with mock.patch.object(depth_files.struct, "pack", side_effect=pack_failing_at_bin_chunk):
        with pytest.raises(RuntimeError, match="boom"):
            save_point_cloud_glb(points, colors, path)
    with mock.patch.object(depth_files.Image.Image, "save", side_effect=OSError("disk full")):
        with pytest.raises(OSError):
            save_depth_png_mm(np.ones((2, 2)), tmp_path / "broken.png")
    assert _names(tmp_path) == []


def test_point_clouds_refuse_a_camera_or_points_glb_cannot_hold(tmp_path):
    """A NaN focal length made every x and y NaN, and the GLB's accessor min/max `NaN`, which is not JSON."""
    depth = np.full((2, 2), 3.0)
    for camera in (Intrinsics(float("nan"), 1.0, 0.5, 0.5), Intrinsics(1.0, -2.0, 0.5, 0.5)):
        with pytest.raises(ValueError, match="the focal length must be a finite positive number of pixels; got"):
            depth_to_points(depth, camera)
    with pytest.raises(ValueError, match="the principal point must be finite; got \\(inf, 0.5\\)"):
        depth_to_points(depth, Intrinsics(1.0, 1.0, float("inf"), 0.5))
    points = np.array([[0.0, 0.0, 1.0], [np.nan, 0.0, 1.0]], dtype=np.float32)
    with pytest.raises(ValueError, match="NaN or infinite points have no place in glTF"):
        save_point_cloud_glb(points, None, tmp_path / "cloud.glb")
    assert _names(tmp_path) == []
