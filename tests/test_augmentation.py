"""Augmentations: geometric ops keep image, depth, mask and intrinsics aligned; photometric ops touch the image only."""

import math

import numpy as np
import pytest

from mde_hub.data.augmentation import (
    AUGMENTATIONS,
    BoxCrop,
    ChannelPermutation,
    Compose,
    HorizontalFlip,
    KBCrop,
    PhotometricJitter,
    RandomApply,
    RandomCrop,
    RandomRotation,
    ResizeShorterSide,
    centre_crop_to_aspect,
    crop_sample,
    dpt_augmentation,
    fit_sample,
    flip_sample,
    get_augmentation,
    jitter_image,
    nearest_returns,
    resize_sample,
    rotate_sample,
)
from mde_hub.data.folder import icl_livingroom, kitti_samples
from mde_hub.data.sample import DepthSample, Intrinsics

# Depth that names its pixel: 1 + (y * width + x) / 1e4 metres decodes exactly from float32 up to ~1e6 pixels.
STEP = 1e-4


def coordinate_sample(
    height: int, width: int, intrinsics: Intrinsics | None = None, hole: tuple[int, int, int] | None = None
) -> DepthSample:
    """Depth encodes (x, y); the image encodes them too (R = x mod 256, G = y mod 256, B = high bits); `hole` =
    (top, left, size) is an invalid square."""
    ys, xs = np.mgrid[:height, :width]
    depth = (1 + (ys * width + xs) * STEP).astype(np.float32)
    if hole:
        top, left, size = hole
        depth[top : top + size, left : left + size] = 0
    image = np.stack([xs % 256, ys % 256, (xs // 256) * 16 + ys // 256], axis=-1).astype(np.uint8)
    return DepthSample.from_depth(image, depth, intrinsics, "coords")


def decode(sample: DepthSample, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Source (x, y) of every pixel of an augmented coordinate sample (meaningful where valid)."""
    index = np.rint((sample.depth.astype(np.float64) - 1) / STEP).astype(np.int64)
    return index % width, index // width


def project(k: Intrinsics, point: np.ndarray) -> np.ndarray:
    x, y, z = point
    return np.array([k.fx * x / z + k.cx, k.fy * y / z + k.cy])


def back_project(k: Intrinsics, u: float, v: float, z: float) -> np.ndarray:
    return np.array([(u - k.cx) * z / k.fx, (v - k.cy) * z / k.fy, z])


NYU_K = Intrinsics(518.8579, 519.4696, 325.5824, 253.7362)
KITTI_K = Intrinsics(371.8, 371.4, 313.9, 88.7)


def test_flip_mirrors_image_depth_mask_and_intrinsics() -> None:
    sample = coordinate_sample(48, 64, NYU_K, hole=(5, 7, 4))
    flipped = flip_sample(sample)
    np.testing.assert_array_equal(flipped.image, sample.image[:, ::-1])
    np.testing.assert_array_equal(flipped.depth, sample.depth[:, ::-1])
    np.testing.assert_array_equal(flipped.valid, sample.valid[:, ::-1])
    xs, _ = decode(flipped, 64)
    assert flipped.valid[5:9, 53:57].sum() == 0 and flipped.valid.sum() == 48 * 64 - 16
    np.testing.assert_array_equal(xs[flipped.valid], (63 - np.mgrid[:48, :64][1])[flipped.valid])
    # A 3-D point seen at pixel (40, 20) is seen at (23, 20) in the mirror image of the mirrored scene.
    point = back_project(NYU_K, 40, 20, 2.5)
    np.testing.assert_allclose(project(flipped.intrinsics, point * [-1, 1, 1]), [23, 20], atol=1e-9)
    assert flip_sample(flipped).intrinsics == pytest.approx(NYU_K)


def test_crop_cuts_all_arrays_and_shifts_the_principal_point() -> None:
    sample = coordinate_sample(480, 640, NYU_K, hole=(100, 200, 10))
    cropped = crop_sample(sample, 45, 43, 427, 565)
    assert cropped.image.shape == (427, 565, 3) and cropped.depth.shape == cropped.valid.shape == (427, 565)
    np.testing.assert_array_equal(cropped.image, sample.image[45:472, 43:608])
    np.testing.assert_array_equal(cropped.depth, sample.depth[45:472, 43:608])
    np.testing.assert_array_equal(cropped.valid, sample.valid[45:472, 43:608])
    assert cropped.depth[55, 157] == 0 and not cropped.valid[55:65, 157:167].any()
    assert cropped.intrinsics == Intrinsics(518.8579, 519.4696, 325.5824 - 43, 253.7362 - 45)
    point = back_project(NYU_K, 300, 200, 3.0)
    u, v = project(cropped.intrinsics, point)
    assert (u, v) == pytest.approx((257, 155))
    xs, ys = decode(cropped, 640)
    assert (xs[155, 257], ys[155, 257]) == (300, 200)


def test_crops_too_large_or_on_the_wrong_frame_raise_naming_the_sizes() -> None:
    small = coordinate_sample(400, 500)
    with pytest.raises(ValueError, match="416x544.*400x500"):
        RandomCrop(416, 544)(small, np.random.default_rng(0))
    with pytest.raises(ValueError, match="480x640 frame, got 400x500"):
        BoxCrop(43, 45, 608, 472, frame=(480, 640))(small, np.random.default_rng(0))
    with pytest.raises(ValueError, match="352x1216, got 400x500"):
        KBCrop()(small, np.random.default_rng(0))
    with pytest.raises(ValueError, match="does not fit in a 400x500"):
        crop_sample(small, 390, 0, 20, 20)


def test_rotation_by_90_degrees_is_counter_clockwise_and_exact() -> None:
    sample = coordinate_sample(33, 33, hole=(2, 3, 4))
    rotated = rotate_sample(sample, 90.0)
    np.testing.assert_array_equal(rotated.image, np.rot90(sample.image))
    np.testing.assert_array_equal(rotated.depth, np.rot90(sample.depth))
    np.testing.assert_array_equal(rotated.valid, np.rot90(sample.valid))


@pytest.mark.parametrize("degrees", [2.5, -1.7, 17.0])
def test_rotation_takes_depth_and_mask_from_the_nearest_source_pixel(degrees: float) -> None:
    height, width = 60, 80
    sample = coordinate_sample(height, width, hole=(20, 30, 6))
    ys, xs = np.mgrid[:height, :width]
    smooth = np.stack([xs * 255 / (width - 1), ys * 255 / (height - 1), np.full(xs.shape, 90.0)], axis=-1)
    sample = sample.with_arrays(np.rint(smooth).astype(np.uint8), sample.depth, sample.valid, None)
    rotated = rotate_sample(sample, degrees)

    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    source_x = cx + cos * (xs - cx) - sin * (ys - cy)
    source_y = cy + sin * (xs - cx) + cos * (ys - cy)
    near_x, near_y = np.rint(source_x).astype(int), np.rint(source_y).astype(int)
    inside = (near_x >= 0) & (near_x < width) & (near_y >= 0) & (near_y < height)
    expected = np.zeros((height, width), np.float32)
    expected[inside] = sample.depth[near_y[inside], near_x[inside]]
    unambiguous = (np.abs(source_x % 1 - 0.5) > 1e-6) & (np.abs(source_y % 1 - 0.5) > 1e-6)
    np.testing.assert_array_equal(rotated.depth[unambiguous], expected[unambiguous])
    np.testing.assert_array_equal(rotated.valid, rotated.depth > 0)
    assert np.isin(rotated.depth, sample.depth).all()  # nothing interpolated
    assert rotated.valid.sum() > 0.8 * height * width and (~rotated.valid & inside).sum() >= 30  # the hole survives

    # The image follows the same geometry: bilinear samples of the gradient at the analytic source position.
    interior = (source_x >= 1) & (source_x <= width - 2) & (source_y >= 1) & (source_y <= height - 2)
    analytic = np.stack([source_x * 255 / (width - 1), source_y * 255 / (height - 1)], axis=-1)
    assert np.abs(rotated.image[interior][:, :2] - analytic[interior]).max() <= 1.0
    # Rotated in from outside: black image and invalid depth.
    outside = (source_x < -1) | (source_x > width) | (source_y < -1) | (source_y > height)
    assert outside.sum() > 0 and not rotated.image[outside].any() and not rotated.valid[outside].any()


def test_rotation_turns_the_principal_point_like_a_camera_roll() -> None:
    intrinsics = Intrinsics(500.0, 500.0, 300.0, 200.0)
    sample = coordinate_sample(480, 640, intrinsics)
    degrees = 2.0
    rotated = rotate_sample(sample, degrees)
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    # Rolling the camera by the same angle about its optical axis: z (the depth) is unchanged.
    roll = np.array([[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]])
    centre = np.array([319.5, 239.5])
    xs, ys = decode(rotated, 640)
    for u, v in [(100, 50), (600, 400), (320, 240)]:
        point = back_project(intrinsics, u, v, 4.0)
        q = project(rotated.intrinsics, roll @ point)
        np.testing.assert_allclose(q, centre + roll[:2, :2] @ (np.array([u, v]) - centre), atol=1e-9)
        qx, qy = np.rint(q).astype(int)
        assert abs(xs[qy, qx] - u) <= 1 and abs(ys[qy, qx] - v) <= 1


def test_resize_maps_pixel_centres_and_keeps_depth_values() -> None:
    intrinsics = Intrinsics(260.0, 260.0, 160.0, 120.0)
    sample = coordinate_sample(240, 320, intrinsics, hole=(100, 100, 10))
    resized = ResizeShorterSide(384)(sample, np.random.default_rng(0))
    assert resized.depth.shape == (384, 512) and resized.image.shape == (384, 512, 3)
    assert np.isin(resized.depth, sample.depth).all()
    np.testing.assert_array_equal(resized.valid, resized.depth > 0)
    assert resized.intrinsics == pytest.approx(Intrinsics(416.0, 416.0, 160.5 * 1.6 - 0.5, 120.5 * 1.6 - 0.5))
    xs, ys = decode(resized, 320)
    for u, v in [(10, 20), (250, 200)]:
        q = project(resized.intrinsics, back_project(intrinsics, u, v, 2.0))
        rows, cols = np.nonzero(resized.valid & (xs == u) & (ys == v))
        assert abs(cols.mean() - q[0]) <= 0.5 and abs(rows.mean() - q[1]) <= 0.5
    assert not resized.valid[160:176, 160:176].any() and resized.valid[:, :150].all()
    # Shrinking works too and a sample already at the size is returned unchanged.
    assert resize_sample(sample, 120, 160).depth.shape == (120, 160)
    assert ResizeShorterSide(240)(sample, np.random.default_rng(0)) is sample


def test_sparse_resize_keeps_the_nearest_return_of_each_pixel() -> None:
    depth = np.zeros((4, 6), np.float32)
    depth[0, 1], depth[1, 0] = 30.0, 20.0  # two returns in target pixel (0, 0): the nearer, 20 m, wins
    depth[2, 4] = 7.0  # one return, in target pixel (1, 2)
    sample = DepthSample.from_depth(np.zeros((4, 6, 3), np.uint8), depth, KITTI_K, "sparse")
    shrunk = resize_sample(sample, 2, 3, sparse=True)
    np.testing.assert_array_equal(shrunk.depth, [[20, 0, 0], [0, 0, 7]])
    np.testing.assert_array_equal(shrunk.valid, shrunk.depth > 0)
    assert not resize_sample(sample, 2, 3).valid.any()  # nearest-neighbour samples (1, 1), (1, 3), ...: every point lost
    nearest, found = nearest_returns(depth, depth > 0, 8, 12)  # growing: each point lands in one pixel, not copied
    assert int(found.sum()) == 3 and float(nearest[5, 9]) == 7.0


def test_fit_sample_centre_crops_to_the_aspect_before_resizing() -> None:
    street = coordinate_sample(402, 640, KITTI_K)  # a TRI-like 640x402 frame fitted to KITTI's 3.3:1 at 128x424
    cropped = centre_crop_to_aspect(street, 128, 424)
    assert cropped.depth.shape == (193, 640) and cropped.intrinsics == KITTI_K.cropped(104, 0)
    fitted = fit_sample(street, 128, 424)
    assert fitted.depth.shape == (128, 424)
    assert fitted.intrinsics.fx / fitted.intrinsics.fy == pytest.approx(KITTI_K.fx / KITTI_K.fy, rel=2e-3)  # undistorted
    assert fitted.intrinsics == pytest.approx(KITTI_K.cropped(104, 0).scaled(424 / 640, 128 / 193))
    room = coordinate_sample(48, 64, NYU_K)  # already 4:3: not cropped, and dense depth resized nearest-neighbour
    assert centre_crop_to_aspect(room, 24, 32) is room
    np.testing.assert_array_equal(fit_sample(room, 24, 32).depth, resize_sample(room, 24, 32).depth)


def test_photometric_jitter_numbers_and_range() -> None:
    image = np.array([[[128, 128, 128], [255, 255, 255], [0, 0, 0]]], np.uint8)
    out = jitter_image(image, 1.0, 1.25, np.array([1.0, 0.9, 1.1]))
    np.testing.assert_array_equal(out, [[[160, 144, 176], [255, 255, 255], [0, 0, 0]]])  # 1.25 * 0.9 > 1: clipped
    grey = np.full((1, 1, 3), 200, np.uint8)
    # One clip at the end: 200 * 1.25 (over 255 on the way) * 0.9 = 225.
    np.testing.assert_array_equal(jitter_image(grey, 1.0, 1.25, np.full(3, 0.9)), [[[225, 225, 225]]])
    dark = np.full((1, 1, 3), 64, np.uint8)
    np.testing.assert_array_equal(jitter_image(dark, 2.0, 1.0, np.ones(3)), [[[16, 16, 16]]])  # 255 * (64 / 255) ** 2


def test_photometric_jitter_changes_only_the_image_within_its_ranges() -> None:
    sample = coordinate_sample(30, 40, NYU_K, hole=(3, 3, 5))
    sample = sample.with_arrays(np.full((30, 40, 3), 128, np.uint8), sample.depth, sample.valid, sample.intrinsics)
    jitter = PhotometricJitter(brightness=(0.75, 1.25))
    low = 255 * (128 / 255) ** 1.1 * 0.75 * 0.9
    high = 255 * (128 / 255) ** 0.9 * 1.25 * 1.1
    changed = 0
    for seed in range(20):
        out = jitter(sample, np.random.default_rng(seed))
        assert out.image.dtype == np.uint8 and np.all((out.image >= math.floor(low)) & (out.image <= math.ceil(high)))
        np.testing.assert_array_equal(out.depth, sample.depth)
        np.testing.assert_array_equal(out.valid, sample.valid)
        assert out.intrinsics == sample.intrinsics
        changed += bool((out.image != 128).any())
    assert changed == 20


def test_channel_permutation_permutes() -> None:
    red = DepthSample.from_depth(np.tile(np.array([255, 0, 0], np.uint8), (4, 5, 1)), np.ones((4, 5)), None, "red")
    seen = set()
    for seed in range(40):
        out = ChannelPermutation()(red, np.random.default_rng(seed))
        channel = int(np.argmax(out.image[0, 0]))
        np.testing.assert_array_equal(out.image, np.tile(np.eye(3, dtype=np.uint8)[channel] * 255, (4, 5, 1)))
        np.testing.assert_array_equal(out.depth, red.depth)
        seen.add(channel)
    assert seen == {0, 1, 2}
    pixel = DepthSample.from_depth(np.array([[[10, 20, 30]]], np.uint8), np.ones((1, 1)), None, "p")
    orders = {tuple(ChannelPermutation()(pixel, np.random.default_rng(seed)).image[0, 0]) for seed in range(100)}
    assert len(orders) == 6


def test_densedepth_flips_and_swaps_channels_half_of_the_time() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[:, :3, 0] = 255  # red left half, black right half
    sample = DepthSample.from_depth(image, np.tile(np.arange(1.0, 7.0), (4, 1)), None, "dd")
    augment = get_augmentation("densedepth")
    flips = reds = 0
    for seed in range(400):
        out = augment(sample, np.random.default_rng(seed))
        flipped = out.depth[0, 0] == 6.0
        bright = out.image[:, 3:] if flipped else out.image[:, :3]
        assert not (out.image[:, :3] if flipped else out.image[:, 3:]).any()  # image flipped with the depth
        flips += flipped
        reds += bool((bright[..., 0] == 255).all())
    assert 0.42 < flips / 400 < 0.58
    assert 0.58 < reds / 400 < 0.75  # stays red: no swap (1/2) or a swap keeping R first (1/2 * 2/6)


def test_random_apply_probability() -> None:
    sample = coordinate_sample(4, 4)
    flip = RandomApply(HorizontalFlip(), p=0.5)
    flips = sum(flip(sample, np.random.default_rng(seed)).depth[0, 0] != sample.depth[0, 0] for seed in range(400))
    assert 0.42 < flips / 400 < 0.58
    with pytest.raises(ValueError, match="probability"):
        RandomApply(ChannelPermutation(), p=1.5)
    assert RandomApply(KBCrop(), p=0.0)(sample, np.random.default_rng(0)) is sample  # never applied, never raises


def marker_sample(height: int, width: int, intrinsics: Intrinsics) -> DepthSample:
    """Grey image at 3 m with a white 31x31 square right of the centre; its depth is 7 m except an invalid 11x11
    core."""
    image = np.full((height, width, 3), 80, np.uint8)
    depth = np.full((height, width), 3.0, np.float32)
    cx, cy = width // 2 + 61, height // 2 - 17
    image[cy - 15 : cy + 16, cx - 15 : cx + 16] = 255
    depth[cy - 15 : cy + 16, cx - 15 : cx + 16] = 7.0
    depth[cy - 5 : cy + 6, cx - 5 : cx + 6] = 0.0
    return DepthSample.from_depth(image, depth, intrinsics, "marker")


def centroid(mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    return np.array([cols.mean(), rows.mean()])


PRESET_CASES = [
    ("none", (480, 640), (480, 640), 1.0),
    ("baseline", (480, 640), (480, 640), 1.0),
    ("densedepth", (480, 640), (480, 640), 1.0),
    ("bts_nyu", (480, 640), (416, 544), 1.0),
    ("bts_kitti", (375, 1242), (352, 704), 1.0),
    ("bts_kitti", (352, 1216), (352, 704), 1.0),  # a frame the KITTI loader already KB-cropped
    ("dpt", (480, 640), (384, 384), 0.8),
    ("dpt", (200, 300), (384, 384), 1.92),
]


@pytest.mark.parametrize("name, frame, out_shape, scale", PRESET_CASES)
def test_presets_keep_image_depth_and_mask_aligned(name, frame, out_shape, scale) -> None:
    height, width = frame
    sample = marker_sample(height, width, Intrinsics(500.0, 500.0, width / 2, height / 2))
    rotates = name.startswith("bts")
    augment = get_augmentation(name)
    seen = 0
    for seed in range(20):
        out = augment(sample, np.random.default_rng(seed))
        assert out.image.shape == (*out_shape, 3) and out.depth.shape == out.valid.shape == out_shape
        assert set(np.unique(out.depth)) <= {0.0, 3.0, 7.0}  # nearest neighbour: no depth is invented
        np.testing.assert_array_equal(out.valid, out.depth > 0)
        assert not out.valid[(out.image == 0).all(axis=-1)].any()  # rotated-in black is invalid depth
        ring = out.depth == 7.0
        if not ring.any():
            continue
        rows, cols = np.nonzero(ring)
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        if top < 2 or left < 2 or bottom > out_shape[0] - 3 or right > out_shape[1] - 3:
            continue  # the random crop cut the marker
        seen += 1
        box = np.zeros(out_shape, bool)
        box[top : bottom + 1, left : right + 1] = True
        core = box & ~out.valid
        white = out.image.min(axis=-1) > 150
        square = ring | core
        # Image, depth and mask carry the marker at the same place.
        tolerance = 0.5 * max(1.0, scale)  # nearest neighbour quantises by up to half a source pixel
        assert np.abs(centroid(white) - centroid(square)).max() <= tolerance
        assert abs(white.sum() - square.sum()) <= 0.1 * square.sum()
        assert core.sum() >= 0.7 * (11 * scale) ** 2
        assert np.abs(centroid(core) - centroid(ring)).max() <= tolerance
        # Every other invalid pixel was rotated in at the border.
        others = ~out.valid & ~box
        if rotates and others.any():
            rows, cols = np.nonzero(others)
            assert np.minimum.reduce([rows, cols, out_shape[0] - 1 - rows, out_shape[1] - 1 - cols]).max() <= 16
        elif not rotates:
            assert not others.any()
    assert seen >= 10


def rotation(angle: float) -> np.ndarray:
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


@pytest.mark.parametrize("name, frame", [(name, frame) for name, frame, _, _ in PRESET_CASES])
def test_presets_move_the_intrinsics_with_the_pixels(name: str, frame: tuple[int, int]) -> None:
    """The new intrinsics must describe the augmented pixels: the map they imply, source = pp + (f / f') G (q - pp')
    with G a roll (rotation about the optical axis), possibly mirrored, must reproduce every pixel's nearest source
    (decoded from the depth) within half a pixel for some roll angle. A least-squares fit gives the mirror and a
    first angle; the exact feasible angles form an interval, intersected over all pixels (linearised around it)."""
    height, width = frame
    intrinsics = Intrinsics(500.0, 500.0, 0.3 * width, 0.6 * height)  # far from the rotation centres
    source_pp = np.array([intrinsics.cx, intrinsics.cy])
    sample = coordinate_sample(height, width, intrinsics)
    for seed in range(3):
        out = get_augmentation(name)(sample, np.random.default_rng(seed))
        k = out.intrinsics
        assert k.fx == pytest.approx(k.fy)
        rows, cols = np.nonzero(out.valid)
        xs, ys = decode(out, width)
        pixels = np.column_stack([cols, rows]).astype(float)
        sources = np.column_stack([xs[rows, cols], ys[rows, cols]])
        fit = np.linalg.lstsq(np.column_stack([pixels, np.ones(len(pixels))]), sources, rcond=None)[0][:2].T
        mirror = np.diag([-1.0, 1.0]) if np.linalg.det(fit) < 0 else np.eye(2)
        roll = fit @ mirror
        angle = math.atan2(roll[1, 0] - roll[0, 1], roll[0, 0] + roll[1, 1])
        scale = intrinsics.fx / k.fx
        offsets = (pixels - [k.cx, k.cy]) @ mirror.T @ rotation(angle).T * scale
        residual = (source_pp + offsets - sources).ravel()  # at the fitted angle
        slope = (offsets @ np.array([[0.0, 1.0], [-1.0, 0.0]])).ravel()  # d residual / d angle
        steep = np.abs(slope) > 1e-9
        assert np.all(np.abs(residual[~steep]) <= 0.5 + 1e-3)
        limits = np.stack([-0.5 - 1e-3 - residual[steep], 0.5 + 1e-3 - residual[steep]]) / slope[steep]
        bounds = np.sort(limits, axis=0)  # the angle offsets that keep each residual within half a pixel
        assert bounds[0].max() <= bounds[1].min(), f"no roll angle fits seed {seed}"


@pytest.mark.parametrize("name", ["baseline", "densedepth", "bts_nyu", "bts_kitti", "dpt"])
def test_presets_are_deterministic_per_seed_and_vary_across_seeds(name: str) -> None:
    frame = (375, 1242) if "kitti" in name else (480, 640)
    sample = coordinate_sample(*frame, Intrinsics(500.0, 500.0, frame[1] / 2, frame[0] / 2))
    noise = np.random.default_rng(0).integers(0, 256, (*frame, 3), dtype=np.uint8)
    sample = sample.with_arrays(noise, sample.depth, sample.valid, sample.intrinsics)
    augment = get_augmentation(name)
    first, again = augment(sample, np.random.default_rng(7)), augment(sample, np.random.default_rng(7))
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.depth, again.depth)
    assert first.intrinsics == again.intrinsics
    outputs = {augment(sample, np.random.default_rng(seed)).image.tobytes() for seed in range(8)}
    assert len(outputs) >= {"baseline": 2, "densedepth": 3}.get(name, 7)


def test_presets_are_the_papers_recipes() -> None:
    flip = RandomApply(HorizontalFlip(), p=0.5)
    assert AUGMENTATIONS["none"] == Compose(())
    assert AUGMENTATIONS["baseline"] == Compose((flip,))
    assert AUGMENTATIONS["densedepth"] == Compose((flip, RandomApply(ChannelPermutation(), p=0.5)))
    assert AUGMENTATIONS["bts_nyu"] == Compose(
        (
            BoxCrop(left=43, top=45, right=608, bottom=472, frame=(480, 640)),
            RandomRotation(2.5),
            RandomCrop(416, 544),
            flip,
            RandomApply(PhotometricJitter(gamma=(0.9, 1.1), brightness=(0.75, 1.25), colour=(0.9, 1.1)), p=0.5),
        )
    )
    assert AUGMENTATIONS["bts_kitti"] == Compose(
        (
            KBCrop(),
            RandomRotation(1.0),
            RandomCrop(352, 704),
            flip,
            RandomApply(PhotometricJitter(gamma=(0.9, 1.1), brightness=(0.9, 1.1), colour=(0.9, 1.1)), p=0.5),
        )
    )
    assert AUGMENTATIONS["dpt"] == Compose((ResizeShorterSide(384), RandomCrop(384, 384), flip))


def test_registry_names_aliases_and_errors() -> None:
    assert set(AUGMENTATIONS) == {
        "none", "baseline", "densedepth", "bts_nyu", "adabins_nyu", "bts_kitti", "adabins_kitti", "dpt"
    }
    assert get_augmentation("adabins_nyu") is get_augmentation("bts_nyu")
    assert get_augmentation("adabins_kitti") is get_augmentation("bts_kitti")
    sample = coordinate_sample(10, 12)
    assert get_augmentation("none")(sample, np.random.default_rng(0)) is sample
    assert dpt_augmentation(256)(coordinate_sample(480, 640), np.random.default_rng(0)).depth.shape == (256, 256)
    with pytest.raises(ValueError, match="unknown augmentation 'bts'.*bts_nyu"):
        get_augmentation("bts")


def test_presets_on_real_frames(shared_rgbd: str) -> None:
    kitti = kitti_samples(f"{shared_rgbd}/kitti_samples")[0]  # 375x1242, sparse LiDAR depth
    out = get_augmentation("bts_kitti")(kitti, np.random.default_rng(0))
    assert out.image.shape == (352, 704, 3) and out.depth.dtype == np.float32
    assert np.isin(out.depth[out.valid], kitti.depth[kitti.valid]).all() and (out.depth[~out.valid] == 0).all()
    assert 0.1 < out.valid.mean() < 0.5 and out.intrinsics.fx == kitti.intrinsics.fx
    icl = icl_livingroom(f"{shared_rgbd}/icl_livingroom1")[0]  # 480x640, dense depth
    out = get_augmentation("bts_nyu")(icl, np.random.default_rng(0))
    assert out.image.shape == (416, 544, 3) and out.valid.mean() > 0.95
    assert np.isin(out.depth[out.valid], icl.depth[icl.valid]).all()
