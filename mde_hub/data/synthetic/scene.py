"""Scene description: camera, materials, primitives and lights, as plain numbers drawn once per (seed, index).

World frame: metres, y up, the floor / ground is the plane y = 0; x and z are horizontal (indoor: the room spans
[0, W] x [0, H] x [0, D]; outdoor: the road runs along +z). The camera frame is OpenCV's: x right, y down, z along
the optical axis; a pixel (u, v) (integer = pixel centre) looks along ((u - cx) / fx, (v - cy) / fy, 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ..frames import KITTI_FRAME, KITTI_INTRINSICS, NYU_FRAME, NYU_INTRINSICS
from ..sample import Intrinsics

Vec3 = tuple[float, float, float]

SceneKind = Literal["indoor", "outdoor"]
KIND_CODES: dict[str, int] = {"indoor": 1, "outdoor": 2}


def camera_intrinsics(kind: SceneKind, height: int, width: int) -> Intrinsics:
    """The NYU (indoor) or KITTI (outdoor) camera scaled from its native frame to `width` x `height`
    (`Intrinsics.scaled`); aspect ratios other than the native one give non-square pixels, exactly as resizing a
    real NYU / KITTI frame to that size would."""
    native, (native_height, native_width) = (
        (NYU_INTRINSICS, NYU_FRAME) if kind == "indoor" else (KITTI_INTRINSICS, KITTI_FRAME)
    )
    return native.scaled(width / native_width, height / native_height)


def scene_rng(kind: SceneKind, seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator that fixes scene `index` of `seed`: PCG64 seeded by (seed, index, kind, stream), so a frame
    never depends on which other frames were drawn, nor in which order."""
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be non-negative, got seed={seed}, index={index}")
    return np.random.default_rng(np.random.SeedSequence([seed, index, KIND_CODES[kind], stream]))


def yaw_matrix(yaw: float) -> np.ndarray:
    """Rotation by `yaw` radians about the vertical: local x -> (cos, 0, -sin), local z -> (sin, 0, cos)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


@dataclass(frozen=True)
class Camera:
    """A pinhole camera. `rotation` (3x3) maps camera-frame directions (x right, y down, z forward) to the world;
    its columns are the camera's right, down and forward axes in world coordinates."""

    intrinsics: Intrinsics
    height: int
    width: int
    position: Vec3
    rotation: np.ndarray

    @classmethod
    def looking(
        cls,
        intrinsics: Intrinsics,
        height: int,
        width: int,
        position: Vec3,
        yaw: float,
        pitch: float,
        roll: float = 0.0,
    ) -> Camera:
        """A camera at `position` turned by `yaw` (radians, positive towards +x) from +z, tilted up by `pitch`
        and rolled clockwise by `roll` about its optical axis."""
        cy, sy, cp, sp, cr, sr = (
            math.cos(yaw),
            math.sin(yaw),
            math.cos(pitch),
            math.sin(pitch),
            math.cos(roll),
            math.sin(roll),
        )
        forward = np.array([sy * cp, sp, cy * cp])
        right = np.array([cy, 0.0, -sy])
        down = np.array([sy * sp, -cp, cy * sp])
        rolled_right, rolled_down = cr * right + sr * down, -sr * right + cr * down
        return cls(
            intrinsics,
            height,
            width,
            tuple(float(x) for x in position),
            np.stack([rolled_right, rolled_down, forward], axis=1),
        )


@dataclass(frozen=True)
class Material:
    """A procedural surface: `pattern` (a `textures.Pattern`), two linear-RGB colours, a feature size in metres
    (`scale`), three pattern parameters, a Blinn-Phong specular weight and exponent, an emission strength (>0 for
    lamps, windows, screens: the pattern colour times `emission` is added unlit) and a noise seed."""

    pattern: int
    color: Vec3
    color2: Vec3 = (0.0, 0.0, 0.0)
    scale: float = 1.0
    params: Vec3 = (0.0, 0.0, 0.0)
    specular: float = 0.0
    shininess: int = 16
    emission: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class Box:
    """A box of half extents `half_size` (local x, y, z) centred at `center`, turned by `yaw` about the
    vertical. Its local +z face uses `front_material` when given (pictures, drawer fronts, facades)."""

    center: Vec3
    half_size: Vec3
    material: int
    yaw: float = 0.0
    front_material: int | None = None
    casts_shadow: bool = True


@dataclass(frozen=True)
class Cylinder:
    """A capped cylinder around the unit `axis` through `center`, of `radius` and `half_length`."""

    center: Vec3
    axis: Vec3
    radius: float
    half_length: float
    material: int
    casts_shadow: bool = True


@dataclass(frozen=True)
class Sphere:
    center: Vec3
    radius: float
    material: int
    casts_shadow: bool = True


Primitive = Box | Cylinder | Sphere


@dataclass(frozen=True)
class Light:
    """A rectangular area light (`position` +- `edge_u`/`edge_v`, half edges in metres; zero edges = point
    light) with inverse-square falloff, or the sun (`kind="sun"`: `position` is the unit direction towards the
    sun, the edges are angular half extents as direction offsets). `color` is linear RGB radiant intensity."""

    kind: Literal["area", "sun"]
    position: Vec3
    color: Vec3
    edge_u: Vec3 = (0.0, 0.0, 0.0)
    edge_v: Vec3 = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Sky:
    """Outdoor sky and aerial perspective: colours at the zenith and the horizon, cloud cover in [0, 1], and haze
    (density per metre and colour) blended over distant surfaces."""

    zenith: Vec3
    horizon: Vec3
    clouds: float
    haze_density: float
    haze_color: Vec3


@dataclass(frozen=True)
class Room:
    """The inside of the box [lo, hi]: floor (y = lo.y), ceiling and four walls, seen from within; for an outdoor
    scene, lo = (-inf, 0, -inf) and hi = +inf leaves only the ground plane. `materials` are indexed by the
    inward face normal: floor, ceiling, wall x=lo, wall x=hi, wall z=lo, wall z=hi (the same for all faces outdoors)."""

    lo: Vec3
    hi: Vec3
    materials: tuple[int, int, int, int, int, int]


@dataclass(frozen=True)
class Scene:
    """Everything needed to render one frame; `depth_range` is the interval of valid z-depths (metres)."""

    kind: SceneKind
    camera: Camera
    room: Room
    materials: tuple[Material, ...]
    primitives: tuple[Primitive, ...]
    lights: tuple[Light, ...]
    ambient: Vec3
    depth_range: tuple[float, float]
    sky: Sky | None = None
    exposure: float = 0.2
    white_balance: Vec3 = (1.0, 1.0, 1.0)
    vignetting: float = 0.2
    blur: float = 0.5
    noise: float = 0.01
    noise_seed: int = 0


@dataclass
class SceneBuilder:
    """Collects materials and primitives while a scene generator places objects."""

    rng: np.random.Generator
    materials: list[Material] = field(default_factory=list)
    primitives: list[Primitive] = field(default_factory=list)

    def material(self, pattern: int, color: Vec3, **kwargs) -> int:
        """Add a material (its noise seed drawn from the scene's generator unless given); return its index."""
        kwargs.setdefault("seed", int(self.rng.integers(0, 2**20)))
        self.materials.append(Material(pattern, tuple(float(c) for c in color), **kwargs))
        return len(self.materials) - 1

    def box(self, center: Vec3, size: Vec3, material: int, yaw: float = 0.0, **kwargs) -> Box:
        """Add a box given its centre and full `size` (local x, y, z)."""
        box = Box(tuple(float(c) for c in center), tuple(0.5 * float(s) for s in size), material, float(yaw), **kwargs)
        self.primitives.append(box)
        return box

    def cylinder(self, center: Vec3, axis: Vec3, radius: float, length: float, material: int, **kwargs) -> Cylinder:
        norm = math.sqrt(sum(a * a for a in axis))
        cylinder = Cylinder(
            tuple(float(c) for c in center),
            tuple(a / norm for a in axis),
            float(radius),
            0.5 * float(length),
            material,
            **kwargs,
        )
        self.primitives.append(cylinder)
        return cylinder

    def sphere(self, center: Vec3, radius: float, material: int, **kwargs) -> Sphere:
        sphere = Sphere(tuple(float(c) for c in center), float(radius), material, **kwargs)
        self.primitives.append(sphere)
        return sphere


def local_to_world(origin: Vec3, yaw: float, offset: Vec3) -> Vec3:
    """The world position of `offset` given in the frame of an object at `origin` turned by `yaw`."""
    x, y, z = (yaw_matrix(yaw) @ np.asarray(offset, dtype=np.float64)) + np.asarray(origin, dtype=np.float64)
    return (float(x), float(y), float(z))


def primitive_corners(primitive: Primitive) -> np.ndarray:
    """The 8 corners (8, 3) of a box bounding the primitive (exact for boxes)."""
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=np.float64)
    if isinstance(primitive, Box):
        return np.asarray(primitive.center) + (signs * np.asarray(primitive.half_size)) @ yaw_matrix(primitive.yaw).T
    if isinstance(primitive, Sphere):
        return np.asarray(primitive.center) + signs * primitive.radius
    axis = np.asarray(primitive.axis)
    extent = primitive.half_length * np.abs(axis) + primitive.radius * np.sqrt(np.clip(1.0 - axis**2, 0.0, 1.0))
    return np.asarray(primitive.center) + signs * extent
