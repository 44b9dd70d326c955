"""Synthetic RGB-D scenes: determinism, depth ranges, exact geometry, intrinsics, LiDAR sparsity, shading, export."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch

from mde_hub.data.frames import KITTI_INTRINSICS, NYU_INTRINSICS
from mde_hub.data.nyu import NyuDenseDepth
from mde_hub.data.synthetic import SyntheticDepthDataset, make_scene, render_scenes, write_densedepth_layout
from mde_hub.data.synthetic import render as render_module
from mde_hub.data.synthetic.render import SURFACE_FLOOR, SURFACE_SKY, SURFACE_WALLS
from mde_hub.data.synthetic.scene import Camera, Light, Room, Scene, SceneBuilder, camera_intrinsics
from mde_hub.data.synthetic.textures import Pattern


@pytest.fixture(scope="module")
def indoor() -> SyntheticDepthDataset:
    return SyntheticDepthDataset("indoor", size=50, height=96, width=128, seed=3)


@pytest.fixture(scope="module")
def outdoor() -> SyntheticDepthDataset:
    return SyntheticDepthDataset("outdoor", size=50, height=72, width=240, seed=3)


def test_same_seed_and_index_give_the_same_frame_and_other_indices_differ(indoor):
    first, again, other = indoor[7], indoor[7], indoor[8]
    assert first.id == "synthetic/indoor/seed3/000007"
    assert np.array_equal(first.image, again.image) and np.array_equal(first.depth, again.depth)
    assert np.array_equal(first.valid, again.valid)
    fresh = SyntheticDepthDataset("indoor", size=50, height=96, width=128, seed=3)[7]
    assert np.array_equal(first.image, fresh.image) and np.array_equal(first.depth, fresh.depth)
    assert np.abs(first.depth - other.depth).mean() > 0.1
    assert np.abs(first.image.astype(int) - other.image.astype(int)).mean() > 5
    other_seed = SyntheticDepthDataset("indoor", size=50, height=96, width=128, seed=4)[7]
    assert not np.array_equal(first.depth, other_seed.depth)


@pytest.mark.parametrize("kind", ["indoor", pytest.param("outdoor", marks=pytest.mark.slow)])  # outdoor: ~6 s more
def test_a_batch_renders_exactly_like_single_frames(kind, indoor, outdoor):
    dataset = indoor if kind == "indoor" else outdoor
    batch = dataset.render_batch([5, 1, 2, 3])
    for sample, index in zip(batch, [5, 1, 2, 3]):
        single = dataset[index]
        assert sample.id == single.id
        assert np.array_equal(sample.image, single.image)
        assert np.array_equal(sample.depth, single.depth)
        assert np.array_equal(sample.valid, single.valid)


def test_results_do_not_depend_on_pair_chunks_or_passes(indoor):
    scenes = [indoor.scene(i) for i in (0, 1, 2)]
    whole = render_scenes(scenes, max_pixels=1 << 20)
    for split in (render_scenes(scenes, max_pairs=997), render_scenes(scenes, max_pixels=2 * 96 * 128)):
        assert torch.equal(whole.image, split.image) and torch.equal(whole.depth, split.depth)
        assert torch.equal(whole.surface, split.surface)


def test_screen_rectangle_culling_is_conservative(indoor, outdoor, monkeypatch):
    scenes = [indoor.scene(11), outdoor.scene(11)]
    culled = [render_scenes([scene]) for scene in scenes]

    def whole_image(points, scene, margin=2.0):
        return np.tile([0, scene.camera.width, 0, scene.camera.height], (len(points), 1))

    monkeypatch.setattr(render_module, "screen_rects", whole_image)
    for scene, reference in zip(scenes, culled):
        brute_force = render_scenes([scene])
        assert torch.equal(reference.surface, brute_force.surface)
        assert torch.equal(reference.depth, brute_force.depth)
        assert torch.equal(reference.image, brute_force.image)


def test_indoor_depth_is_float32_metres_within_the_kinect_range(indoor):
    for sample in indoor.render_batch(range(6)):
        assert sample.depth.dtype == np.float32 and sample.valid.dtype == bool
        assert sample.image.shape == (96, 128, 3) and sample.image.dtype == np.uint8
        depth = sample.depth[sample.valid]
        assert depth.min() >= 0.5 and depth.max() <= 10.0
        assert np.all(sample.depth[~sample.valid] == 0)
        assert sample.valid.mean() > 0.95
        assert np.isfinite(sample.depth).all()


def test_outdoor_depth_is_within_80_m_and_the_sky_is_invalid(outdoor):
    output = outdoor.render_tensors(range(8))
    depth, valid, surface = output.depth.numpy(), output.valid.numpy(), output.surface.numpy()
    assert depth[valid].min() > 0 and depth[valid].max() <= 80.0
    assert np.all(depth[~valid] == 0)
    sky = surface == SURFACE_SKY
    assert sky.any() and not valid[sky].any()
    far_geometry = ~sky & ~valid
    assert far_geometry.any(), "the road and buildings beyond 80 m must be rendered but invalid"
    top_rows = ~valid[:, : outdoor.height // 10]
    assert top_rows.mean() > 0.5, "the top rows are mostly sky"
    bottom_rows = valid[:, -outdoor.height // 5 :]
    assert bottom_rows.mean() > 0.99, "the road below the horizon is near and valid"


def _test_room(
    depth: float, camera_height: float, height: int = 120, width: int = 160, boxes=(), lights=(), pitch: float = 0.0
) -> Scene:
    """A camera at (0, camera_height, 0) looking along +z (level unless pitched) into a room whose far wall is at
    z = depth."""
    builder = SceneBuilder(np.random.default_rng(0))
    paint = builder.material(Pattern.PLAIN, (0.5, 0.5, 0.5), params=(0.05, 0, 0))
    for center, size in boxes:
        builder.box(center, size, paint)
    camera = Camera.looking(
        camera_intrinsics("indoor", height, width), height, width, (0.0, camera_height, 0.0), yaw=0.0, pitch=pitch
    )
    return Scene(
        "indoor",
        camera,
        Room((-6.0, 0.0, -1.0), (6.0, 3.0, depth), (paint,) * 6),
        tuple(builder.materials),
        tuple(builder.primitives),
        tuple(lights),
        (0.2, 0.2, 0.2),
        (0.5, 10.0),
    )


def test_a_fronto_parallel_wall_and_box_have_constant_depth():
    scene = _test_room(7.25, 1.5, boxes=[((0.5, 1.5, 4.0), (1.0, 0.8, 1.0))])
    output = render_scenes([scene])
    depth, surface = output.depth[0].numpy(), output.surface[0].numpy()
    far_wall, box = surface == SURFACE_WALLS[3], surface == 0
    assert far_wall.sum() > 1000 and box.sum() > 100
    assert np.all(depth[far_wall] == np.float32(7.25)), "z-depth, not ray length: the same over the whole wall"
    np.testing.assert_allclose(depth[box], 3.5, rtol=1e-6)  # the box's front face is at z = 4.0 - 0.5


def test_floor_depth_follows_the_ground_plane_formula():
    """A level camera at height h sees the floor at row v along y = (v - cy) / fy (camera y down), which meets the
    plane h below the camera where z * (v - cy) / fy = h, i.e. z = fy * h / (v - cy)."""
    h = 1.3
    scene = _test_room(9.5, h)
    output = render_scenes([scene])
    depth, surface = output.depth[0].numpy(), output.surface[0].numpy()
    k = scene.camera.intrinsics
    rows = np.arange(scene.camera.height, dtype=np.float64)[:, None] * np.ones((1, scene.camera.width))
    floor = surface == SURFACE_FLOOR
    assert floor.sum() > 3000 and np.all(rows[floor] > k.cy)
    np.testing.assert_allclose(depth[floor], k.fy * h / (rows[floor] - k.cy), rtol=2e-6)


def test_intrinsics_are_the_native_cameras_scaled_to_the_frame():
    nyu = SyntheticDepthDataset("indoor", height=240, width=320).intrinsics
    # Pixel centres map as x' = (x + 0.5) / 2 - 0.5 when 640x480 becomes 320x240.
    assert nyu == NYU_INTRINSICS.scaled(0.5, 0.5)
    assert (nyu.fx, nyu.fy) == (518.8579 / 2, 519.4696 / 2)
    assert (nyu.cx, nyu.cy) == pytest.approx((325.5824 / 2 - 0.25, 253.7362 / 2 - 0.25))
    assert SyntheticDepthDataset("indoor", height=480, width=640).intrinsics == NYU_INTRINSICS
    assert SyntheticDepthDataset("outdoor", height=375, width=1242).intrinsics == KITTI_INTRINSICS
    kitti = SyntheticDepthDataset("outdoor", height=240, width=320).intrinsics
    assert kitti.fx == pytest.approx(721.5377 * 320 / 1242) and kitti.fy == pytest.approx(721.5377 * 240 / 375)
    assert kitti.cx == pytest.approx(609.5593 * 320 / 1242 + 0.5 * (320 / 1242 - 1))
    assert kitti.cy == pytest.approx(172.854 * 240 / 375 + 0.5 * (240 / 375 - 1))


def test_object_edges_project_through_the_intrinsics():
    """The box's front face spans x in [0, 1] and y in [1.1, 1.9] at z = 3.5 in front of a camera 1.5 m high:
    exactly the pixels with 0 <= (u - cx) / fx * 3.5 <= 1 and |v - cy| / fy * 3.5 <= 0.4 see it."""
    scene = _test_room(7.25, 1.5, boxes=[((0.5, 1.5, 4.0), (1.0, 0.8, 1.0))])
    box = render_scenes([scene]).surface[0].numpy() == 0
    k = scene.camera.intrinsics
    columns, rows = np.nonzero(box.any(axis=0))[0], np.nonzero(box.any(axis=1))[0]
    assert (columns.min(), columns.max()) == (math.ceil(k.cx), math.floor(k.cx + k.fx / 3.5))
    assert (rows.min(), rows.max()) == (math.ceil(k.cy - k.fy * 0.4 / 3.5), math.floor(k.cy + k.fy * 0.4 / 3.5))
    assert box.sum() == columns.size * rows.size


def test_sparse_mode_keeps_a_few_percent_of_valid_depth_on_scan_lines(outdoor):
    dense = SyntheticDepthDataset("outdoor", size=50, height=188, width=621, seed=3)
    sparse = SyntheticDepthDataset("outdoor", size=50, height=188, width=621, seed=3, sparse=True)
    for index in (0, 1):
        full, kept = dense[index], sparse[index]
        assert np.array_equal(full.image, kept.image)
        assert 0.01 < kept.valid.mean() < 0.08
        assert not np.any(kept.valid & ~full.valid)
        assert np.array_equal(kept.depth[kept.valid], full.depth[kept.valid])
        assert np.all(kept.depth[~kept.valid] == 0)
        k = sparse.intrinsics
        centre = kept.valid[:, int(k.cx) - 3 : int(k.cx) + 4]
        rows = np.nonzero(centre.any(axis=1))[0]
        assert 15 <= rows.size <= 64, "near the optical axis the beams are level scan lines"
        assert rows.min() > k.cy - k.fy * math.tan(math.radians(2.5)), "no beam looks more than 2 degrees up"
    with pytest.raises(ValueError, match="outdoor"):
        SyntheticDepthDataset("indoor", sparse=True)


def test_textures_and_shading_make_non_trivial_images(indoor, outdoor):
    for sample in indoor.render_batch(range(4)) + outdoor.render_batch(range(2)):
        image = sample.image.astype(np.float64)
        assert 40 < image.mean() < 215
        assert image.std() > 20 and all(image[..., c].std() > 10 for c in range(3))
        gradients = np.abs(np.diff(image.mean(axis=2), axis=1))
        assert np.median(gradients) > 0.3, "surfaces carry texture, not flat colour"
        assert np.isfinite(sample.depth).all()


def test_cast_shadows_darken_the_floor_under_an_object():
    light = Light("area", (0.0, 2.9, 4.0), (6.0, 6.0, 6.0), (0.1, 0.0, 0.0), (0.0, 0.0, 0.1))
    slab = [((0.0, 1.0, 4.0), (0.8, 0.1, 0.8))]
    shadowed = _test_room(8.0, 1.6, 240, 320, boxes=slab, lights=[light], pitch=-math.radians(30))
    unshadowed = dataclasses.replace(
        shadowed, primitives=(dataclasses.replace(shadowed.primitives[0], casts_shadow=False),)
    )
    with_shadow, without = render_scenes([shadowed, unshadowed]).image.float().mean(dim=-1)
    camera = shadowed.camera

    def pixel(point):
        x, y, z = (np.asarray(point) - np.asarray(camera.position)) @ camera.rotation
        k = camera.intrinsics
        return round(k.cy + k.fy * y / z), round(k.cx + k.fx * x / z)

    below, near = pixel((0.0, 0.0, 4.0)), pixel((0.0, 0.0, 2.0))  # under the slab; lit floor (exposure adapts)
    assert with_shadow[below] / with_shadow[near] < 0.6 * without[below] / without[near]


def test_write_densedepth_layout_round_trips(tmp_path: Path, indoor):
    samples = indoor.render_batch(range(3))
    small = SyntheticDepthDataset("indoor", size=3, height=96, width=128, seed=3)
    train_csv = write_densedepth_layout(small, tmp_path, split="train")
    test_csv = write_densedepth_layout(small, tmp_path, split="test")
    assert train_csv == tmp_path / "data" / "nyu2_train.csv" and test_csv == tmp_path / "data" / "nyu2_test.csv"
    train_lines = train_csv.read_text().splitlines()
    assert (
        train_lines[2]
        == "data/nyu2_train/synthetic_indoor_seed3_0000/2.jpg,data/nyu2_train/synthetic_indoor_seed3_0000/2.png"
    )
    assert test_csv.read_text().splitlines()[1] == "data/nyu2_test/00001_colors.png,data/nyu2_test/00001_depth.png"
    assert not list(tmp_path.rglob("*.tmp")), "temporary files are renamed into place"
    for line, sample in zip(train_lines, samples):
        rgb_name, depth_name = line.split(",")
        codes = np.asarray(PIL.Image.open(tmp_path / depth_name))
        assert codes.dtype == np.uint8 and codes.shape == (96, 128)
        decoded = codes.astype(np.float64) / 255.0 * 10.0
        assert np.all(codes[~sample.valid] == 0)
        assert np.abs(decoded[sample.valid] - sample.depth[sample.valid]).max() <= 10.0 / 255.0 / 2 + 1e-6
        rgb = np.asarray(PIL.Image.open(tmp_path / rgb_name))
        assert rgb.shape == (96, 128, 3) and np.abs(rgb.astype(int) - sample.image).mean() < 4  # JPEG
    for line, sample in zip(test_csv.read_text().splitlines(), samples):
        rgb_name, depth_name = line.split(",")
        millimetres = np.asarray(PIL.Image.open(tmp_path / depth_name))
        assert millimetres.dtype == np.uint16
        assert np.array_equal(millimetres, np.where(sample.valid, np.rint(sample.depth.astype(np.float64) * 1000), 0))
        assert np.array_equal(np.asarray(PIL.Image.open(tmp_path / rgb_name)), sample.image)
    loaded = NyuDenseDepth(tmp_path, split="test")[2]
    assert loaded.id == "nyu_densedepth/data/nyu2_test/00002_colors.png"
    np.testing.assert_allclose(loaded.depth[samples[2].valid], samples[2].depth[samples[2].valid], atol=5e-4)
    assert len(NyuDenseDepth(tmp_path, split="train")) == 3


def test_outdoor_export_is_refused(tmp_path: Path):
    with pytest.raises(ValueError, match="80 m"):
        write_densedepth_layout(SyntheticDepthDataset("outdoor", size=1), tmp_path)
    assert not (tmp_path / "data").exists()


def test_indices_and_arguments_are_checked(indoor):
    assert indoor[-1].id == "synthetic/indoor/seed3/000049"
    with pytest.raises(IndexError):
        indoor[50]
    with pytest.raises(ValueError, match="kind"):
        SyntheticDepthDataset("garden")
    with pytest.raises(ValueError, match="kind"):
        make_scene("garden", 0, 0, 10, 10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_renders_the_same_frames_as_the_cpu(indoor):
    cpu = indoor.render_tensors(range(4))
    gpu = SyntheticDepthDataset("indoor", size=50, height=96, width=128, seed=3, device="cuda").render_tensors(range(4))
    assert torch.equal(cpu.valid, gpu.valid.cpu())
    torch.testing.assert_close(cpu.depth, gpu.depth.cpu(), rtol=1e-5, atol=1e-5)
    assert (cpu.image.float() - gpu.image.cpu().float()).abs().mean() < 0.5
