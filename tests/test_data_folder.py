"""Depth encodings, generic RGB-D folders, pair lists and hold-out splits (mde_hub.data.folder), on hand-made arrays
and on the real frames of ../shared/data/rgbd (MANIFEST.md ranges and intrinsics)."""

import os

import numpy as np
import PIL.Image
import pytest

from mde_hub.data.folder import (
    ENCODINGS,
    DepthEncoding,
    RgbdFolder,
    centred_intrinsics,
    depth_encoding,
    icl_livingroom,
    icl_tum5000,
    kitti_samples,
    read_intrinsics_matrix,
    read_pair_list,
    read_pgm_little_endian,
    rgbd_folder,
    seven_scenes,
    sun3d_frames,
    tum_frames,
    write_rgbd_folder,
)
from mde_hub.data.frames import NYU_INTRINSICS
from mde_hub.data.nyu import nyu_raw_frames
from mde_hub.data.registry import open_dataset
from mde_hub.data.sample import DepthSample, Intrinsics


def _decode(name: str, values, dtype=np.uint16) -> np.ndarray:
    return ENCODINGS[name].decode(np.array([values], dtype=dtype), "test")[0]


def _save(path, array: np.ndarray) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    PIL.Image.fromarray(array).save(path)


# ------------------------------------------------------------------------------------------ encodings


def test_linear_encodings_decode_exact_metres():
    np.testing.assert_array_equal(_decode("mm", [0, 1234, 65535]), np.float32([0, 1.234, 65.535]))
    np.testing.assert_array_equal(_decode("7scenes", [0, 1234, 65535]), np.float32([0, 1.234, 0]))
    np.testing.assert_array_equal(_decode("kitti", [0, 256 * 12.5, 256 * 80]), np.float32([0, 12.5, 80.0]))
    np.testing.assert_array_equal(_decode("tum", [0, 5000, 12345]), np.float32([0, 1.0, 2.469]))
    np.testing.assert_array_equal(_decode("densedepth_nyu_train", [0, 51, 255], np.uint8), np.float32([0, 2.0, 10.0]))
    custom = depth_encoding(1000.0).decode(np.array([[1234]], np.uint16), "x")
    np.testing.assert_array_equal(custom, [[np.float32(1.234)]])
    assert depth_encoding("kitti") is ENCODINGS["kitti"]


def test_sun3d_rotation_of_known_values():
    # 1234 mm stored as (1234 << 3 | 1234 >> 13) & 0xFFFF = 9872; 40000 mm wraps its top 3 bits: stored 57860.
    assert ((1234 << 3) | (1234 >> 13)) & 0xFFFF == 9872
    np.testing.assert_array_equal(_decode("sun3d", [0, 9872, 57860]), np.float32([0, 1.234, 40.0]))


def test_kinect_disparity_of_known_values():
    # metres = 351.3 / (1092.5 - d); d >= 2047 and d beyond 1092.5 (negative depth) are invalid.
    decoded = _decode("nyu_raw_disparity", [800, 741, 2047, 1100])
    np.testing.assert_array_equal(decoded, np.float32([351.3 / 292.5, 351.3 / 351.5, 0, 0]))
    assert decoded[0] == pytest.approx(1.2010256, abs=1e-6)


def test_float_metres_invalid_where_not_finite_or_not_positive(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.array([[1.5, np.nan, -2.0, np.inf, 0.0]], np.float32))
    np.testing.assert_array_equal(ENCODINGS["metres_npy"].read(path), np.float32([[1.5, 0, 0, 0, 0]]))


def test_bit_depth_mismatch_and_bad_specs_raise():
    with pytest.raises(ValueError, match=r"frame\.png.*'mm' depth encoding expects uint16.*uint8"):
        ENCODINGS["mm"].decode(np.zeros((2, 2), np.uint8), "frame.png")
    with pytest.raises(ValueError, match="expects uint8 .* uint16"):
        ENCODINGS["densedepth_nyu_train"].decode(np.zeros((2, 2), np.uint16), "x")
    with pytest.raises(ValueError, match="2-D"):
        ENCODINGS["mm"].decode(np.zeros((2, 2, 3), np.uint16), "x")
    with pytest.raises(ValueError, match="presets: mm, 7scenes"):
        depth_encoding("millimetres")
    with pytest.raises(ValueError, match="scale must be positive"):
        DepthEncoding("bad", scale=0.0)
    with pytest.raises(ValueError, match="stored='uint16'"):
        DepthEncoding("bad", stored="uint8", transform="sun3d_rotation")


def test_png_files_decode_and_reject_colour_depth(tmp_path):
    _save(tmp_path / "d16.png", np.array([[0, 3200], [65535, 1]], np.uint16))
    decoded = ENCODINGS["kitti"].read(tmp_path / "d16.png")
    np.testing.assert_array_equal(decoded, np.float32([[0, 12.5], [65535 / 256, 1 / 256]]))
    _save(tmp_path / "rgb.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"rgb\.png: a depth image must have one channel.*'RGB'"):
        ENCODINGS["mm"].read(tmp_path / "rgb.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        ENCODINGS["mm"].read(tmp_path / "missing.png")


def test_little_endian_pgm(tmp_path):
    values = np.array([[800, 2047, 1], [741, 0, 1000]], np.uint16)
    path = tmp_path / "raw.pgm"
    path.write_bytes(b"P5\n# NYU raw dump\n3 2\n65535\n" + values.astype("<u2").tobytes())
    np.testing.assert_array_equal(read_pgm_little_endian(path), values)
    assert np.asarray(PIL.Image.open(path))[0, 0] != 800  # Pillow reads the samples big-endian, hence byte-swapped
    decoded = ENCODINGS["nyu_raw_disparity"].read(path)
    np.testing.assert_array_equal(decoded[0], np.float32([351.3 / 292.5, 0, 351.3 / 1091.5]))
    path.write_bytes(b"P5 3 2 65535\n" + values.astype("<u2").tobytes()[:-2])
    with pytest.raises(ValueError, match=r"raw\.pgm: truncated PGM"):
        read_pgm_little_endian(path)
    path.write_bytes(b"P6 3 2 255\n")
    with pytest.raises(ValueError, match="not a binary PGM"):
        read_pgm_little_endian(path)


# ------------------------------------------------------------------------------------------ folders and lists


def _write_pair(root, index: int, size=(6, 4), depth_size=None, value=1000) -> None:
    width, height = size
    _save(root / "image" / f"{index}.png", np.full((height, width, 3), index, np.uint8))
    dwidth, dheight = depth_size or size
    _save(root / "depth" / f"{index}.png", np.full((dheight, dwidth), value + index, np.uint16))


def test_rgbd_folder_pairs_sorts_naturally_and_decodes(tmp_path):
    for index in (10, 2, 1):
        _write_pair(tmp_path, index)
    camera = Intrinsics(5.0, 5.0, 2.5, 1.5)
    folder = RgbdFolder(tmp_path, "image/*.png", "depth/{stem}.png", "mm", camera, name="toy")
    assert len(folder) == 3
    assert [sample.id for sample in folder] == ["toy/image/1.png", "toy/image/2.png", "toy/image/10.png"]
    sample = folder[2]
    assert sample.image.shape == (4, 6, 3) and sample.image.dtype == np.uint8 and (sample.image == 10).all()
    assert (sample.depth == np.float32(1.010)).all() and sample.valid.all() and sample.intrinsics == camera
    by_image = {"image/1.png": camera, "image/2.png": None, "image/10.png": Intrinsics(1, 1, 0, 0)}
    assert RgbdFolder(tmp_path, "image/*.png", "depth/{stem}.png", 1000.0, by_image)[2].intrinsics.fx == 1


def test_rgbd_folder_errors_name_the_files(tmp_path):
    _write_pair(tmp_path, 1, size=(6, 4), depth_size=(5, 4))
    folder = RgbdFolder(tmp_path, "image/*.png", "depth/{stem}.png", "mm")
    with pytest.raises(ValueError, match=r"image .*image/1\.png is 6x4 but its depth .*depth/1\.png is 5x4"):
        folder[0]
    with pytest.raises(FileNotFoundError, match=r"depth file .*depth/1\.jpg for image .*image/1\.png"):
        RgbdFolder(tmp_path, "image/*.png", "depth/{stem}.jpg", "mm")
    with pytest.raises(FileNotFoundError, match=r"no image matches '\*\.tif'"):
        RgbdFolder(tmp_path, "*.tif", "{stem}.png", "mm")
    with pytest.raises(ValueError, match=r"no intrinsics for 1 image\(s\).*image/1\.png"):
        RgbdFolder(tmp_path, "image/*.png", "depth/{stem}.png", "mm", {})


def test_pair_list_and_intrinsics_files(tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("/a/rgb_1.jpg /a/sync_depth_1.png 518.8579\n\nb.png None 721.5377\n")
    entries = read_pair_list(listing)
    assert [(e.rgb, e.depth, e.focal, e.line) for e in entries] == [
        ("/a/rgb_1.jpg", "/a/sync_depth_1.png", 518.8579, 1),
        ("b.png", None, 721.5377, 3),
    ]
    listing.write_text("a.jpg a.png 518.8579\na.jpg a.png\n")
    with pytest.raises(ValueError, match=r"list\.txt, line 2: expected 'rgb_path depth_path focal'"):
        read_pair_list(listing)
    matrix = tmp_path / "camera-intrinsics.txt"
    matrix.write_text("5.85e+02 0 3.2e+02\n0 5.86e+02 2.4e+02\n0 0 1\n")
    assert read_intrinsics_matrix(matrix) == Intrinsics(585.0, 586.0, 320.0, 240.0)
    matrix.write_text("1 0 0\n0 1 0\n")
    with pytest.raises(ValueError, match=r"camera-intrinsics\.txt: expected a 3x3 camera matrix"):
        read_intrinsics_matrix(matrix)
    assert centred_intrinsics(721.5, 1242, 375) == Intrinsics(721.5, 721.5, 620.5, 187.0)


# ------------------------------------------------------------------------------------------ real frames


def _raw_png(path) -> np.ndarray:
    return np.asarray(PIL.Image.open(path)).astype(np.int64)


REAL_LAYOUTS = [
    # folder, constructor, frames, (height, width), MANIFEST depth range of valid pixels (m), intrinsics
    ("icl_livingroom1", icl_livingroom, 211, (480, 640), (0.69, 3.39), Intrinsics(525.0, 525.0, 319.5, 239.5)),
    ("7scenes_redkitchen", seven_scenes, 250, (480, 640), (0.80, 3.98), Intrinsics(585.0, 585.0, 320.0, 240.0)),
    ("kitti_samples", kitti_samples, 3, (375, 1242), (5.0, 85.0), Intrinsics(707.0493, 707.0493, 604.0814, 180.5066)),
    ("formats/tum", tum_frames, 1, (480, 640), (0.4, 10.0), None),
    ("formats/sun3d", sun3d_frames, 1, (480, 640), (0.4, 10.0), Intrinsics(570.342, 570.342, 320.0, 240.0)),
    ("formats/icl_tum5000", icl_tum5000, 5, (480, 640), (0.4, 10.0), Intrinsics(481.2, 480.0, 319.5, 239.5)),
    ("formats/nyu_raw", nyu_raw_frames, 1, (480, 640), (0.4, 10.0), NYU_INTRINSICS),
]


@pytest.mark.parametrize(
    "folder, open_layout, count, shape, depth_range, intrinsics", REAL_LAYOUTS, ids=[row[0] for row in REAL_LAYOUTS]
)
def test_real_layouts_decode_in_plausible_ranges(
    shared_rgbd, folder, open_layout, count, shape, depth_range, intrinsics
):
    dataset = open_layout(os.path.join(shared_rgbd, folder))
    assert len(dataset) == count
    sample = dataset[len(dataset) - 1]
    assert sample.image.shape == (*shape, 3) and sample.depth.shape == shape
    valid_depth = sample.depth[sample.valid]
    assert depth_range[0] <= valid_depth.min() < valid_depth.max() <= depth_range[1]
    assert sample.valid.mean() > (0.1 if folder == "kitti_samples" else 0.75)
    assert sample.intrinsics == intrinsics
    assert sample.id.startswith(os.path.basename(folder) + "/")


def test_real_frames_match_the_manifest_formulas(shared_rgbd):
    """Independent decoding of the raw files, pixel by pixel, agrees with the loaders."""
    sun = sun3d_frames(os.path.join(shared_rgbd, "formats/sun3d"))[0]
    stored = _raw_png(os.path.join(shared_rgbd, "formats/sun3d/SUN_depth.png"))
    unrotated = ((stored >> 3) | (stored << 13)) & 0xFFFF
    np.testing.assert_array_equal(sun.depth, (unrotated / 1000).astype(np.float32))

    nyu = nyu_raw_frames(os.path.join(shared_rgbd, "formats/nyu_raw"))[0]
    with open(os.path.join(shared_rgbd, "formats/nyu_raw/NYU_depth.pgm"), "rb") as file:
        disparity = np.frombuffer(file.read()[-640 * 480 * 2 :], "<u2").reshape(480, 640).astype(np.float64)
    expected = np.where(disparity < 2047, 351.3 / (1092.5 - disparity), 0).astype(np.float32)
    np.testing.assert_array_equal(nyu.depth, expected)
    assert 0.2 < nyu.valid.mean() and 1.0 < np.median(nyu.depth[nyu.valid]) < 5.0

    kitchen = seven_scenes(os.path.join(shared_rgbd, "7scenes_redkitchen"))
    raw = _raw_png(os.path.join(shared_rgbd, "7scenes_redkitchen/frames/frame-000004.depth.png"))
    np.testing.assert_array_equal(kitchen[1].depth, np.where(raw == 65535, 0, raw / 1000).astype(np.float32))
    assert kitchen[1].id == "7scenes_redkitchen/frames/frame-000004.color.jpg"

    tum = icl_tum5000(os.path.join(shared_rgbd, "formats/icl_tum5000"))[0]
    raw = _raw_png(os.path.join(shared_rgbd, "formats/icl_tum5000/depth/1.png"))
    np.testing.assert_array_equal(tum.depth, (raw / 5000).astype(np.float32))


def test_written_rgbd_folder_round_trips_with_kitti_encoding(tmp_path):
    depth = np.array([[0.0, 1.0 / 256], [12.5, 80.0]], np.float32)
    camera = Intrinsics(721.5, 721.5, 0.5, 0.5)
    samples = [DepthSample.from_depth(np.full((2, 2, 3), i, np.uint8), depth * (i + 1), camera, f"s{i}") for i in range(2)]
    write_rgbd_folder(samples, tmp_path / "out")
    for loaded in (rgbd_folder(tmp_path / "out"), open_dataset(tmp_path / "out")):
        assert len(loaded) == 2
        second = loaded[1]
        assert second.depth.tolist() == [[0.0, 2.0 / 256], [25.0, 160.0]] and second.valid.tolist() == [[False, True], [True, True]]
        assert (second.image == 1).all() and second.intrinsics == camera
    assert not [p for p in (tmp_path / "out").rglob(".*")]  # no temporary files left
    too_far = DepthSample.from_depth(np.zeros((1, 1, 3), np.uint8), np.array([[300.0]]), None, "far")
    with pytest.raises(ValueError, match="far: depth 300.00 m exceeds the 'kitti' encoding"):
        write_rgbd_folder([too_far], tmp_path / "far")


def test_check_encoding_names_the_encodings_whose_range_fits_a_scene():
    from mde_hub.data.encoding_check import check_encoding, read_with

    room = np.full((10, 10), 3000, dtype=np.uint16)  # 3 m in millimetres everywhere
    room[0] = 1000
    check = check_encoding(room, "mm")
    assert check.chosen_fits and check.warning() is None
    assert (check.chosen.near_m, check.chosen.far_m, check.chosen.scene) == (1.0, 3.0, "a room")
    # as KITTI /256: 3.91-11.7 m, no scene (too far for a room, too near for a street); as millimetres: 1-3 m, a room
    as_kitti = check_encoding(room, "kitti")
    assert as_kitti.chosen.scene is None and [r.encoding for r in as_kitti.likely] == ["mm"]
    assert as_kitti.warning({"mm": "millimetres"}) == (
        "read as 'kitti' the ground truth spans 3.91-11.7 m, neither a room nor a street; it is likely 'millimetres' "
        "(1-3 m, a room): check the depth encoding"
    )
    assert read_with(room.astype(np.uint8), "mm") is None  # another value type: not a reading
    assert read_with(np.zeros((4, 4), np.uint16), "mm") is None  # no valid pixel
