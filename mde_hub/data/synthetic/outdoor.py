"""Outdoor street scenes in the spirit of KITTI: a car-mounted camera 1.65 m above a road that runs along +z.

The road (x = 0 is its centre line) has marked lanes and, often, parking strips; kerbed pavements run along both
sides, and behind them (grass verges or front yards in residential streets, none in city streets) stand rows of
buildings whose street facades carry windows. Parked and moving cars (body, glass cabin, roof, bumpers, dark
wheels, head and tail lights), trees (trunk and leafy crowns), street lamps and signs populate the street. The sun
casts shadows; the sky has a gradient, sun glow and clouds; distant surfaces fade into haze. Geometry continues well
past the 80 m depth limit, so the far road and the horizon are in the image but not in the valid depth.
"""

from __future__ import annotations

import math

import numpy as np

from . import palette as pal
from .scene import Camera, Light, Room, Scene, SceneBuilder, Sky, camera_intrinsics, local_to_world
from .textures import Pattern

CAMERA_HEIGHT = 1.65
"""Height of KITTI's left colour camera above the road (m)."""

DEPTH_RANGE = (1e-3, 80.0)
"""Valid z-depths outdoors: KITTI's evaluation cap; sky and anything farther is invalid."""

STREET_START, STREET_END = -30.0, 360.0
"""Extent of the modelled street along z (m)."""


def car(b: SceneBuilder, rng: np.random.Generator, x: float, z: float, yaw: float) -> float:
    """A car standing at ground point (x, z), heading `yaw`; returns its length."""
    kind = rng.choice(["hatch", "sedan", "suv", "van"], p=[0.3, 0.35, 0.2, 0.15])
    length, width, body_h, cabin_h, cabin_frac = {
        "hatch": (
            rng.uniform(3.6, 4.1),
            rng.uniform(1.65, 1.75),
            rng.uniform(0.55, 0.65),
            rng.uniform(0.5, 0.58),
            0.55,
        ),
        "sedan": (
            rng.uniform(4.3, 4.9),
            rng.uniform(1.75, 1.85),
            rng.uniform(0.55, 0.62),
            rng.uniform(0.45, 0.52),
            0.45,
        ),
        "suv": (rng.uniform(4.3, 4.8), rng.uniform(1.8, 1.95), rng.uniform(0.7, 0.85), rng.uniform(0.55, 0.65), 0.55),
        "van": (rng.uniform(4.6, 5.3), rng.uniform(1.9, 2.0), rng.uniform(0.8, 0.95), rng.uniform(0.75, 0.95), 0.75),
    }[kind]
    paint = b.material(
        Pattern.PLAIN, pal.pick(rng, pal.CAR_PAINTS, 0.04), scale=0.5, params=(0.02, 0, 0), specular=0.6, shininess=64
    )
    glass = b.material(
        Pattern.PLAIN,
        pal.pick(rng, [(64, 74, 86), (80, 88, 98), (50, 58, 66)], 0.05),
        scale=0.5,
        params=(0.0, 0, 0),
        specular=0.9,
        shininess=128,
    )
    tyre = b.material(Pattern.PLAIN, pal.linear(26, 26, 26), scale=0.1, params=(0.1, 0, 0), specular=0.05)
    origin, clearance, radius = (x, 0.0, z), rng.uniform(0.22, 0.3), rng.uniform(0.3, 0.36)
    b.box(local_to_world(origin, yaw, (0.0, clearance + body_h / 2, 0.0)), (width, body_h, length), paint, yaw=yaw)
    cabin_l = length * cabin_frac
    cabin_z = -length * (0.5 - cabin_frac / 2) + (0.0 if kind == "van" else rng.uniform(0.05, 0.25) * length)
    cabin_y = clearance + body_h + cabin_h / 2
    b.box(local_to_world(origin, yaw, (0.0, cabin_y, cabin_z)), (width - 0.16, cabin_h, cabin_l), glass, yaw=yaw)
    b.box(
        local_to_world(origin, yaw, (0.0, cabin_y + cabin_h / 2 + 0.02, cabin_z)),
        (width - 0.12, 0.04, cabin_l - 0.12),
        paint,
        yaw=yaw,
    )
    axle = (math.cos(yaw), 0.0, -math.sin(yaw))
    for sx in (-1, 1):
        for sz in (-1, 1):
            centre = local_to_world(origin, yaw, (sx * (width / 2 - 0.1), radius, sz * (length / 2 - 0.8)))
            b.cylinder(centre, axle, radius, 0.2, tyre)
    plastic = b.material(
        Pattern.PLAIN, pal.pick(rng, [(40, 40, 42), (70, 70, 72)], 0.05), scale=0.3, params=(0.05, 0, 0), specular=0.2
    )
    for end in (-1, 1):
        b.box(
            local_to_world(origin, yaw, (0.0, clearance + 0.12, end * length / 2)),
            (width + 0.04, 0.22, 0.14),
            plastic,
            yaw=yaw,
        )
    red = b.material(
        Pattern.PLAIN, pal.linear(170, 20, 20), scale=0.2, params=(0.0, 0, 0), specular=0.6, shininess=64, emission=0.3
    )
    white = b.material(
        Pattern.PLAIN,
        pal.linear(230, 226, 210),
        scale=0.2,
        params=(0.0, 0, 0),
        specular=0.8,
        shininess=128,
        emission=0.2,
    )
    for sx in (-1, 1):
        for end, lamp in ((-1, red), (1, white)):
            centre = local_to_world(
                origin, yaw, (sx * (width / 2 - 0.2), clearance + body_h * 0.72, end * (length / 2 + 0.005))
            )
            b.box(centre, (0.3, 0.12, 0.02), lamp, yaw=yaw, casts_shadow=False)
    return length


def tree(b: SceneBuilder, rng: np.random.Generator, x: float, z: float) -> None:
    bark = b.material(
        Pattern.PLAIN, pal.pick(rng, [(80, 66, 54), (100, 90, 80), (60, 50, 44)]), scale=0.1, params=(0.15, 0, 0)
    )
    light, dark = pal.LEAVES[int(rng.integers(len(pal.LEAVES)))]
    leaves = b.material(Pattern.FOLIAGE, pal.linear(*light), color2=pal.linear(*dark), scale=rng.uniform(0.3, 0.7))
    trunk_h, trunk_r, crown = rng.uniform(1.8, 3.5), rng.uniform(0.1, 0.22), rng.uniform(1.3, 3.0)
    b.cylinder((x, trunk_h / 2 + 0.3, z), (0, 1, 0), trunk_r, trunk_h + 0.6, bark)
    for k in range(int(rng.integers(1, 4))):
        offset = rng.uniform(-0.45, 0.45, 3) * crown
        radius = crown * rng.uniform(0.65, 1.0)
        b.sphere(
            (x + offset[0], trunk_h + radius * 0.8 + k * 0.3 * crown + 0.3 * offset[1], z + offset[2]), radius, leaves
        )


def street_lamp(b: SceneBuilder, rng: np.random.Generator, x: float, z: float, towards_road: float) -> None:
    metal = b.material(
        Pattern.PLAIN, pal.pick(rng, pal.METALS[:3]), scale=0.3, params=(0.05, 0, 0), specular=0.4, shininess=32
    )
    height = rng.uniform(5.5, 8.0)
    b.cylinder((x, height / 2, z), (0, 1, 0), rng.uniform(0.06, 0.1), height, metal)
    arm = rng.uniform(0.8, 2.0)
    b.box((x + towards_road * arm / 2, height - 0.05, z), (arm, 0.08, 0.08), metal)
    b.box((x + towards_road * arm, height - 0.12, z), (0.5, 0.12, 0.25), metal)


def sign(b: SceneBuilder, rng: np.random.Generator, x: float, z: float) -> None:
    metal = b.material(Pattern.PLAIN, pal.linear(150, 150, 154), scale=0.3, params=(0.02, 0, 0), specular=0.3)
    height = rng.uniform(2.0, 2.8)
    b.cylinder((x, height / 2, z), (0, 1, 0), 0.035, height, metal)
    face = b.material(
        Pattern.PLAIN,
        pal.pick(rng, [(200, 30, 30), (30, 70, 160), (230, 190, 40), (236, 236, 236)], 0.03),
        scale=0.2,
        params=(0.05, 0, 0),
        specular=0.5,
        shininess=32,
    )
    if rng.random() < 0.5:
        b.cylinder((x, height + 0.3, z), (0, 0, 1), 0.32, 0.03, face)
    else:
        b.box((x, height + 0.3, z), (0.6, 0.6, 0.03), metal, front_material=face, yaw=math.pi)


def _building_row(b: SceneBuilder, rng: np.random.Generator, side: int, kerb: float, city: bool) -> None:
    """Buildings along one side (side -1: left, x < 0; +1: right), street facades facing the road."""
    yaw = -math.pi / 2 if side > 0 else math.pi / 2
    z = STREET_START + rng.uniform(0.0, 10.0)
    while z < STREET_END:
        frontage = rng.uniform(8.0, 30.0) if city else rng.uniform(7.0, 16.0)
        height = rng.uniform(7.0, 18.0) if city else rng.uniform(4.0, 9.0)
        setback = rng.uniform(0.5, 4.0) if city else rng.uniform(3.0, 12.0)
        depth = rng.uniform(8.0, 16.0)
        storey = rng.uniform(2.8, 3.4)
        brick = rng.random() < 0.25
        color = pal.pick(rng, pal.BRICKS if brick else pal.FACADES, 0.05)
        facade = b.material(
            Pattern.FACADE,
            color,
            color2=pal.pick(rng, [(40, 50, 62), (60, 72, 86), (30, 34, 40)], 0.05),
            scale=rng.uniform(0.3, 1.0),
            params=(storey, rng.uniform(2.2, 4.0), rng.uniform(0.35, 0.6)),
            specular=0.6,
            shininess=64,
        )
        walls = b.material(Pattern.PLAIN, pal.darker(color, 0.9), scale=1.0, params=(0.08, 0, 0))
        x = side * (kerb + setback + depth / 2)
        b.box((x, height / 2, z + frontage / 2), (frontage, height, depth), walls, yaw=yaw, front_material=facade)
        if rng.random() < 0.6:
            roof = b.material(
                Pattern.PLAIN, pal.pick(rng, [(90, 90, 92), (120, 70, 56), (60, 60, 64)]), scale=1.0, params=(0.1, 0, 0)
            )
            b.box((x, height + 0.15, z + frontage / 2), (frontage + 0.4, 0.3, depth + 0.4), roof, yaw=yaw)
        if not city and setback > 3.0 and rng.random() < 0.5:
            hedge_h = rng.uniform(0.6, 1.6)
            light, dark = pal.LEAVES[int(rng.integers(len(pal.LEAVES)))]
            hedge = b.material(Pattern.FOLIAGE, pal.linear(*light), color2=pal.linear(*dark), scale=0.25)
            b.box(
                (side * (kerb + 0.6), hedge_h / 2, z + frontage / 2),
                (0.7, hedge_h, frontage * rng.uniform(0.6, 0.95)),
                hedge,
            )
        if not city and rng.random() < 0.4:
            tree(b, rng, side * (kerb + setback * rng.uniform(0.3, 0.7)), z + rng.uniform(0.0, frontage))
        gap = (
            rng.uniform(0.0, 4.0) if city else (rng.uniform(3.0, 15.0) if rng.random() < 0.7 else rng.uniform(0.0, 2.0))
        )
        z += frontage + gap


def _parked_cars(b: SceneBuilder, rng: np.random.Generator, side: int, strip_x: float) -> None:
    """Cars parked in the strip centred at |x| = `strip_x` on one side, with random gaps."""
    z = STREET_START + rng.uniform(0.0, 8.0)
    while z < 120.0:
        if rng.random() < 0.7:
            heading = rng.uniform(-0.04, 0.04) + (0.0 if rng.random() < 0.8 else math.pi)
            length = car(b, rng, side * strip_x + rng.uniform(-0.15, 0.15), z + 2.5, heading)
            z += length + rng.uniform(0.4, 2.5)
        else:
            z += rng.uniform(3.0, 12.0)


def outdoor_scene(rng: np.random.Generator, height: int, width: int) -> Scene:
    """A random street seen by the KITTI camera scaled to `width` x `height`."""
    b = SceneBuilder(rng)
    city = rng.random() < 0.25
    lanes, lane = int(rng.choice([2, 2, 3, 4])), rng.uniform(3.0, 3.6)
    driving = lanes * lane / 2
    parking = rng.uniform(2.0, 2.5) if rng.random() < 0.6 else 0.0
    half = driving + parking
    pavement_w = rng.uniform(2.0, 5.0)
    kerb_h = rng.uniform(0.1, 0.16)
    verge = (
        pal.pick(rng, [(96, 120, 60), (110, 130, 70), (120, 110, 90), (130, 130, 126)])
        if not city
        else pal.linear(140, 140, 136)
    )
    ground = b.material(
        Pattern.STREET,
        pal.pick(rng, [(70, 70, 72), (86, 86, 88), (60, 60, 62)], 0.05),
        color2=verge,
        params=(half, driving, lane),
        specular=0.2,
        shininess=16,
    )
    slabs = b.material(
        Pattern.CONCRETE,
        pal.pick(rng, [(150, 150, 146), (170, 166, 158), (130, 124, 118)], 0.05),
        scale=rng.choice([0.0, 0.3, 0.5]),
        params=(0.15, 0, 0),
    )
    for side in (-1, 1):
        x = side * (half + pavement_w / 2)
        b.box(
            (x, kerb_h / 2, (STREET_START + STREET_END) / 2),
            (pavement_w, kerb_h, STREET_END - STREET_START),
            slabs,
            casts_shadow=False,
        )
        _building_row(b, rng, side, half + pavement_w, city)
    camera_lane = int(rng.integers(lanes // 2, lanes))
    camera_x = -driving + (camera_lane + 0.5) * lane + rng.uniform(-0.3, 0.3)
    if parking > 0:
        for side in (-1, 1):
            _parked_cars(b, rng, side, driving + parking / 2)
    for _ in range(int(rng.integers(0, 5))):
        lane_index = int(rng.integers(lanes))
        x = -driving + (lane_index + 0.5) * lane + rng.uniform(-0.4, 0.4)
        z = rng.uniform(8.0, 70.0)
        if abs(x - camera_x) < 1.5 and z < 12.0:
            continue
        oncoming = lane_index < lanes // 2
        car(b, rng, x, z, (math.pi if oncoming else 0.0) + rng.uniform(-0.05, 0.05))
    for side in (-1, 1):
        z = STREET_START + rng.uniform(0.0, 20.0)
        spacing = rng.uniform(20.0, 40.0)
        while z < 200.0:
            street_lamp(b, rng, side * (half + 0.5), z, -side)
            z += spacing
        if rng.random() < 0.6:
            z = rng.uniform(0.0, 15.0)
            while z < 150.0:
                tree(b, rng, side * (half + pavement_w - rng.uniform(0.6, 1.2)), z)
                z += rng.uniform(7.0, 18.0)
        if rng.random() < 0.5:
            sign(b, rng, side * (half + 0.4), rng.uniform(8.0, 60.0))
    elevation, azimuth = rng.uniform(math.radians(20), math.radians(65)), rng.uniform(-math.pi, math.pi)
    sun_dir = (math.cos(elevation) * math.sin(azimuth), math.sin(elevation), math.cos(elevation) * math.cos(azimuth))
    sun_power = rng.uniform(2.5, 4.0)
    across = np.cross(np.array(sun_dir), [0.0, 1.0, 0.0])
    across /= np.linalg.norm(across)
    up = np.cross(across, np.array(sun_dir))
    disc = 0.01
    sun = Light("sun", sun_dir, (sun_power, 0.95 * sun_power, 0.85 * sun_power), tuple(disc * across), tuple(disc * up))
    zenith, horizon = pal.pick(rng, pal.SKY_ZENITH, 0.05), pal.pick(rng, pal.SKY_HORIZON, 0.03)
    sky = Sky(
        zenith=zenith,
        horizon=horizon,
        clouds=float(rng.uniform(0.0, 0.7)),
        haze_density=float(rng.uniform(1 / 700, 1 / 200)),
        haze_color=pal.darker(horizon, 1.2),
    )
    camera = Camera.looking(
        camera_intrinsics("outdoor", height, width),
        height,
        width,
        (camera_x, CAMERA_HEIGHT, 0.0),
        yaw=rng.uniform(-0.06, 0.06),
        pitch=rng.uniform(-0.03, 0.03),
        roll=rng.uniform(-0.01, 0.01),
    )
    ambient = rng.uniform(0.6, 1.0) * np.asarray(zenith) / max(zenith) * 0.8 + 0.1
    inf = math.inf
    return Scene(
        kind="outdoor",
        camera=camera,
        room=Room((-inf, 0.0, -inf), (inf, inf, inf), (ground,) * 6),
        materials=tuple(b.materials),
        primitives=tuple(b.primitives),
        lights=(sun,),
        ambient=tuple(float(a) for a in ambient),
        depth_range=DEPTH_RANGE,
        sky=sky,
        exposure=float(rng.uniform(0.16, 0.26)),
        white_balance=tuple(float(x) for x in 1.0 + rng.uniform(-0.05, 0.05, 3)),
        vignetting=float(rng.uniform(0.05, 0.3)),
        blur=float(rng.uniform(0.3, 0.8)),
        noise=float(rng.uniform(0.004, 0.015)),
        noise_seed=int(rng.integers(0, 2**20)),
    )
