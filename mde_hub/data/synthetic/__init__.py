"""Procedural synthetic RGB-D frames: furnished rooms seen by the NYU camera and streets seen by the KITTI camera,
ray cast in torch (CPU or CUDA), for training depth models that must work on real photographs.

Scene model (`scene`, `indoor`, `outdoor`). A frame is a `Scene` drawn from a random generator seeded by
(seed, index, kind) only (`scene_rng`), so frame `index` is the same whatever else is generated, in any batch and
on any device. A scene is a camera, a background (the inside of a box room, or the ground plane y = 0 outdoors),
dozens to hundreds of primitives (boxes turned about the vertical, capped cylinders of any axis, spheres) composed
into furniture, buildings, cars and trees, procedural materials, and lights (rectangular area lights or the sun).
World units are metres, y is up.

Camera model. A pinhole camera with NYU's intrinsics (fx 518.8579, fy 519.4696, cx 325.5824, cy 253.7362 at
640 x 480) indoors and KITTI's (fx = fy = 721.5377, cx 609.5593, cy 172.854 at 1242 x 375) outdoors, scaled to the
requested size with `Intrinsics.scaled` (another aspect ratio gives non-square pixels, as resizing a real frame
would). Pixel (u, v) is the pixel centre; its ray is R (x, y, 1) with x = (u - cx) / fx, y = (v - cy) / fy.
Indoors the camera stands 1.0-1.8 m high near one wall, turned up to 29 degrees left or right, pitched 26 degrees
down to 3 degrees up, slightly rolled; outdoors it is 1.65 m above the road in a lane, looking along it.

Depth. `depth` is z-depth in metres: the distance along the optical axis (not the length of the ray), float32,
0 wherever `valid` is False. Indoors valid means within the Kinect range 0.5-10 m; outdoors within (0, 80] m: the
sky and anything farther is invalid, as in KITTI. `sparse=True` (outdoor) keeps depth only on the pixels of a
simulated 64-beam LiDAR sweep (`lidar`, about 4 % of the pixels).

Realism measures. Perspective and horizon from a calibrated camera at human or car height; occlusion from exact
nearest hits; texture gradients from procedural textures in metric surface coordinates (planks, tiles, carpet,
bricks, facades with windows, asphalt with lane markings, foliage, book spines, paintings), antialiased by each
pixel's footprint; Lambertian shading with distance falloff and Blinn-Phong highlights; soft cast shadows from shadow
rays against the same primitives; ambient occlusion at room edges and under objects; emissive lamps, screens and
windows; outdoors a sky gradient with sun glow and clouds and aerial haze; and a camera with auto exposure, white
balance, vignetting, lens blur, shot and read noise, a filmic tone curve and sRGB encoding.

Speed (`benchmarks/bench_synthetic.py`, two CPU cores): about 16 indoor and 9 outdoor frames/s at 320 x 240
(11 and 6 on one core), 4.6 and 3.2 at 640 x 480.
"""

from ..frames import KITTI_INTRINSICS
from .dataset import SyntheticDepthDataset, make_scene
from .export import write_densedepth_layout, write_synthetic
from .lidar import lidar_mask
from .render import RenderOutput, render_scenes
from .scene import Camera, Scene, camera_intrinsics

__all__ = [
    "KITTI_INTRINSICS",
    "Camera",
    "RenderOutput",
    "Scene",
    "SyntheticDepthDataset",
    "camera_intrinsics",
    "lidar_mask",
    "make_scene",
    "render_scenes",
    "write_densedepth_layout",
    "write_synthetic",
]
