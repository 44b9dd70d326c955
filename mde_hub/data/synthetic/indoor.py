"""Indoor rooms in the spirit of NYU Depth v2: a box room seen by a hand-held Kinect-height camera.

The room is W x H x D metres (x in [0, W], y in [0, H], z in [0, D]); the camera stands near the wall z = 0 and
looks into the room. Furniture stands on the floor against the left, right and far walls (cabinets, shelves with
books, beds, sofas, desks, kitchen runs, wardrobes, plants, lamps), more sits in the middle (tables with chairs,
rugs, pillars, balls, bins), and pictures, doors and windows hang on the walls. Every object is a composition of
boxes, cylinders and spheres with procedural materials. One or two lights (a ceiling lamp, daylight through a
window, a floor lamp) cast soft shadows; the walls, floor and ceiling stay within 10 m of the camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import palette as pal
from .scene import Camera, Light, Room, Scene, SceneBuilder, Vec3, camera_intrinsics, local_to_world
from .textures import Pattern

DEPTH_RANGE = (0.5, 10.0)
"""Valid z-depths indoors: the Kinect's working range (nearer or farther pixels are invalid, as in NYU)."""

CAMERA_CLEARANCE = 1.0
"""No furniture within this horizontal distance (m) of the camera."""


@dataclass
class _Wall:
    """A wall as a line on the floor: its `start` corner, the unit direction `along` it, the unit normal
    `inward` (into the room), its length, and the yaw that turns an object's local +z towards the room (local x
    then runs along the wall)."""

    start: np.ndarray
    along: np.ndarray
    inward: np.ndarray
    length: float
    yaw: float

    def point(self, s: float, e: float, y: float = 0.0) -> Vec3:
        p = self.start + s * self.along + e * self.inward
        return (float(p[0]), float(y), float(p[2]))


def _walls(width: float, depth: float) -> list[_Wall]:
    """Left (x = 0), right (x = W), far (z = D) and back (z = 0) walls."""
    return [
        _Wall(np.array([0.0, 0.0, depth]), np.array([0.0, 0.0, -1.0]), np.array([1.0, 0.0, 0.0]), depth, math.pi / 2),
        _Wall(np.array([width, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), np.array([-1.0, 0.0, 0.0]), depth, -math.pi / 2),
        _Wall(np.array([width, 0.0, depth]), np.array([-1.0, 0.0, 0.0]), np.array([0.0, 0.0, -1.0]), width, math.pi),
        _Wall(np.array([0.0, 0.0, 0.0]), np.array([1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0]), width, 0.0),
    ]


class _Room:
    """Materials and bookkeeping while furnishing one room."""

    def __init__(
        self, rng: np.random.Generator, width: float, height: float, depth: float, camera_xz: tuple[float, float]
    ) -> None:
        self.rng, self.b = rng, SceneBuilder(rng)
        self.width, self.height, self.depth = width, height, depth
        self.camera_xz = np.asarray(camera_xz)
        self.footprints: list[tuple[float, float, float, float]] = []  # x0, z0, x1, z1 on the floor
        self.wall_spans: dict[int, list[tuple[float, float, float, float]]] = {
            w: [] for w in range(4)
        }  # s0, s1, y0, y1
        self.walls = _walls(width, depth)
        self.lamps: list[Light] = []
        self.windows: list[tuple[_Wall, float, float, float, float]] = []
        self.wood = self._wood()

    # --- materials ---

    def _wood(self) -> int:
        light, dark = pal.WOODS[int(self.rng.integers(len(pal.WOODS)))]
        jitter = self.rng.uniform(0.9, 1.1)
        return self.b.material(
            Pattern.WOOD,
            pal.darker(pal.linear(*light), jitter),
            color2=pal.darker(pal.linear(*dark), jitter),
            scale=self.rng.uniform(0.006, 0.02),
            specular=self.rng.uniform(0.05, 0.3),
            shininess=32,
        )

    def plain(
        self, colors, noise: float = 0.04, specular: float = 0.05, shininess: int = 16, jitter: float = 0.06
    ) -> int:
        return self.b.material(
            Pattern.PLAIN,
            pal.pick(self.rng, colors, jitter),
            scale=self.rng.uniform(0.2, 0.6),
            params=(noise, 0.0, 0.0),
            specular=specular,
            shininess=shininess,
        )

    def fabric(self) -> int:
        return self.plain(pal.FABRICS, noise=0.08, specular=0.0)

    def plain_or_striped_fabric(self, plain_probability: float, stripe_scale: tuple[float, float]) -> int:
        """A plain fabric, or two fabric colours in stripes of a random width in `stripe_scale` (metres)."""
        if self.rng.random() < plain_probability:
            return self.fabric()
        return self.b.material(
            Pattern.STRIPES,
            pal.pick(self.rng, pal.FABRICS),
            color2=pal.pick(self.rng, pal.FABRICS),
            scale=self.rng.uniform(*stripe_scale),
            params=(0.5, 0.0, 0.0),
        )

    def furniture_finish(self) -> int:
        return (
            self.wood
            if self.rng.random() < 0.6
            else self.plain(pal.FURNITURE_PAINTS, noise=0.03, specular=0.25, shininess=32)
        )

    def drawers(self, rows: int, cols: int, base: int) -> int:
        """A cabinet front of rows x cols panels with handles, in the colour of material `base`."""
        finish = self.b.materials[base]
        return self.b.material(
            Pattern.DRAWERS,
            finish.color,
            color2=pal.pick(self.rng, pal.METALS),
            params=(float(rows), float(cols), 0.0),
            specular=0.2,
            shininess=32,
        )

    # --- placement ---

    def free(self, x0: float, z0: float, x1: float, z1: float, margin: float = 0.05) -> bool:
        """Whether a floor rectangle is inside the room, away from the camera and from other footprints."""
        if x0 < -1e-6 or z0 < -1e-6 or x1 > self.width + 1e-6 or z1 > self.depth + 1e-6:
            return False
        nearest = np.clip(self.camera_xz, [x0, z0], [x1, z1])
        if np.linalg.norm(nearest - self.camera_xz) < CAMERA_CLEARANCE:
            return False
        return all(
            x0 >= b[2] + margin or x1 <= b[0] - margin or z0 >= b[3] + margin or z1 <= b[1] - margin
            for b in self.footprints
        )

    def claim(self, x0: float, z0: float, x1: float, z1: float) -> None:
        self.footprints.append((x0, z0, x1, z1))

    def wall_free(self, wall: int, s0: float, s1: float, y0: float, y1: float) -> bool:
        return all(s0 >= b[1] or s1 <= b[0] or y0 >= b[3] or y1 <= b[2] for b in self.wall_spans[wall])

    def footprint_on_wall(self, wall: _Wall, s0: float, s1: float, depth: float) -> tuple[float, float, float, float]:
        a, c = wall.point(s0, 0.0), wall.point(s1, depth)
        return min(a[0], c[0]), min(a[2], c[2]), max(a[0], c[0]), max(a[2], c[2])


# --- furniture, each built in its own frame: origin on the floor at the footprint centre, +z = front --------------


def _part(r: _Room, origin: Vec3, yaw: float, offset: Vec3, size: Vec3, material: int, **kwargs) -> None:
    r.b.box(local_to_world(origin, yaw, offset), size, material, yaw=yaw, **kwargs)


def table(r: _Room, origin: Vec3, yaw: float, width: float, depth: float, height: float, material: int) -> None:
    top = r.rng.uniform(0.025, 0.05)
    _part(r, origin, yaw, (0.0, height - top / 2, 0.0), (width, top, depth), material)
    leg, inset = r.rng.uniform(0.035, 0.07), r.rng.uniform(0.03, 0.1)
    round_legs = r.rng.random() < 0.4
    for sx in (-1, 1):
        for sz in (-1, 1):
            offset = (sx * (width / 2 - inset - leg / 2), (height - top) / 2, sz * (depth / 2 - inset - leg / 2))
            if round_legs:
                r.b.cylinder(local_to_world(origin, yaw, offset), (0, 1, 0), leg / 2, height - top, material)
            else:
                _part(r, origin, yaw, offset, (leg, height - top, leg), material)


def chair(r: _Room, origin: Vec3, yaw: float, material: int, seat_material: int) -> None:
    size, seat_h = r.rng.uniform(0.4, 0.48), r.rng.uniform(0.43, 0.48)
    _part(r, origin, yaw, (0.0, seat_h, 0.0), (size, 0.05, size), seat_material)
    for sx in (-1, 1):
        for sz in (-1, 1):
            _part(
                r,
                origin,
                yaw,
                (sx * (size / 2 - 0.03), (seat_h - 0.025) / 2, sz * (size / 2 - 0.03)),
                (0.035, seat_h - 0.025, 0.035),
                material,
            )
    back_h = r.rng.uniform(0.35, 0.5)
    _part(r, origin, yaw, (0.0, seat_h + 0.025 + back_h / 2, -size / 2 + 0.02), (size, back_h, 0.04), material)


def cabinet(r: _Room, origin: Vec3, yaw: float, width: float, depth: float, height: float) -> None:
    finish = r.furniture_finish()
    rows = int(r.rng.integers(1, 5)) if height < 1.3 else 1
    cols = max(1, int(round(width / r.rng.uniform(0.4, 0.8)))) if rows == 1 else int(r.rng.integers(1, 3))
    front = r.drawers(rows, cols, finish)
    plinth = r.rng.uniform(0.0, 0.1)
    if plinth > 0.03:
        _part(r, origin, yaw, (0.0, plinth / 2, -0.03), (width - 0.04, plinth, depth - 0.06), r.plain([(40, 40, 40)]))
    else:
        plinth = 0.0
    body = height - plinth - 0.03
    _part(r, origin, yaw, (0.0, plinth + body / 2, 0.0), (width, body, depth), finish, front_material=front)
    _part(r, origin, yaw, (0.0, height - 0.015, 0.005), (width + 0.02, 0.03, depth + 0.01), r.furniture_finish())


def bookshelf(r: _Room, origin: Vec3, yaw: float, width: float, depth: float, height: float) -> None:
    finish, board = r.furniture_finish(), 0.022
    for sx in (-1, 1):
        _part(r, origin, yaw, (sx * (width / 2 - board / 2), height / 2, 0.0), (board, height, depth), finish)
    _part(r, origin, yaw, (0.0, height / 2, -depth / 2 + 0.005), (width - 2 * board, height, 0.01), finish)
    shelves = int(r.rng.integers(3, 7))
    pitch = (height - board) / shelves
    inner = width - 2 * board
    for k in range(shelves + 1):
        _part(r, origin, yaw, (0.0, k * pitch + board / 2, 0.0), (inner, board, depth), finish)
        if k == shelves or r.rng.random() < 0.15:
            continue
        fill = r.rng.uniform(0.4, 1.0) * inner
        books_h = min(pitch - board - 0.02, r.rng.uniform(0.18, 0.32))
        if books_h < 0.1:
            continue
        spines = r.b.material(
            Pattern.BOOKS,
            pal.pick(r.rng, pal.BOOK_COLORS),
            color2=pal.pick(r.rng, pal.BOOK_COLORS),
            scale=r.rng.uniform(0.025, 0.045),
        )
        left = -inner / 2 + r.rng.uniform(0.0, inner - fill)
        _part(
            r,
            origin,
            yaw,
            (left + fill / 2, k * pitch + board + books_h / 2, 0.0),
            (fill, books_h, depth * 0.8),
            r.plain(pal.BOOK_COLORS, noise=0.1),
            front_material=spines,
        )


def bed(r: _Room, origin: Vec3, yaw: float, width: float, length: float) -> None:
    frame = r.furniture_finish()
    base_h = r.rng.uniform(0.25, 0.4)
    _part(r, origin, yaw, (0.0, base_h / 2, 0.0), (width, base_h, length), frame)
    mattress = r.plain(pal.FABRICS[-4:] + [(230, 228, 222)], noise=0.05)
    _part(r, origin, yaw, (0.0, base_h + 0.1, 0.01), (width - 0.04, 0.2, length - 0.06), mattress)
    blanket = r.plain_or_striped_fabric(0.6, (0.05, 0.3))
    cover = length * r.rng.uniform(0.55, 0.75)
    _part(r, origin, yaw, (0.0, base_h + 0.11, length / 2 - cover / 2 + 0.02), (width + 0.02, 0.2, cover), blanket)
    pillow = r.plain([(236, 234, 228), (200, 196, 186)], noise=0.05)
    count = 2 if width > 1.2 else 1
    for k in range(count):
        x = (k - (count - 1) / 2) * width / count
        _part(r, origin, yaw, (x, base_h + 0.26, -length / 2 + 0.25), (width / count - 0.1, 0.13, 0.35), pillow)
    head_h = r.rng.uniform(0.8, 1.2)
    _part(r, origin, yaw, (0.0, head_h / 2, -length / 2 - 0.03), (width + 0.06, head_h, 0.06), frame)


def sofa(r: _Room, origin: Vec3, yaw: float, width: float, depth: float) -> None:
    cloth = r.fabric()
    seat_h, arm = r.rng.uniform(0.38, 0.46), r.rng.uniform(0.12, 0.22)
    _part(r, origin, yaw, (0.0, 0.06, 0.0), (width - 0.1, 0.12, depth - 0.1), r.plain([(30, 30, 30)]))
    _part(r, origin, yaw, (0.0, 0.12 + (seat_h - 0.12) / 2, 0.0), (width, seat_h - 0.12, depth), cloth)
    seats = max(1, int(round((width - 2 * arm) / 0.65)))
    seat_w = (width - 2 * arm) / seats
    for k in range(seats):
        x = -width / 2 + arm + (k + 0.5) * seat_w
        _part(r, origin, yaw, (x, seat_h + 0.06, 0.1), (seat_w - 0.02, 0.12, depth - 0.3), cloth)
    back_h = r.rng.uniform(0.4, 0.5)
    _part(r, origin, yaw, (0.0, seat_h + back_h / 2, -depth / 2 + 0.1), (width, back_h, 0.2), cloth)
    for sx in (-1, 1):
        _part(
            r,
            origin,
            yaw,
            (sx * (width / 2 - arm / 2), (seat_h + 0.2) / 2 + 0.06, 0.0),
            (arm, seat_h + 0.08, depth),
            cloth,
        )
    if r.rng.random() < 0.7:
        _part(r, origin, yaw, (-width / 2 + arm + 0.25, seat_h + 0.3, -depth / 2 + 0.3), (0.4, 0.38, 0.14), r.fabric())


def tv_unit(r: _Room, origin: Vec3, yaw: float, width: float) -> None:
    height, depth = r.rng.uniform(0.4, 0.55), r.rng.uniform(0.35, 0.45)
    cabinet(r, origin, yaw, width, depth, height)
    screen_w = min(width - 0.1, r.rng.uniform(0.9, 1.45))
    screen_h = screen_w * 0.57
    _part(r, origin, yaw, (0.0, height + 0.03, -0.05), (0.3, 0.06, 0.2), r.plain([(30, 30, 32)]))
    black = r.plain([(16, 16, 18)], noise=0.0, specular=0.6, shininess=128, jitter=0.0)
    if r.rng.random() < 0.4:
        content = r.b.material(
            Pattern.PICTURE,
            pal.pick(r.rng, pal.SKY_ZENITH + pal.FABRICS),
            color2=(0.002, 0.002, 0.002),
            params=(0.02, float(r.rng.random() < 0.5), 0.0),
            emission=r.rng.uniform(2.0, 5.0),
        )
    else:
        content = black
    _part(
        r,
        origin,
        yaw,
        (0.0, height + 0.08 + screen_h / 2, -0.05),
        (screen_w, screen_h, 0.05),
        black,
        front_material=content,
    )


def desk(r: _Room, origin: Vec3, yaw: float, width: float, depth: float) -> None:
    finish = r.furniture_finish()
    height = r.rng.uniform(0.72, 0.76)
    table(r, origin, yaw, width, depth, height, finish)
    black = r.plain([(24, 24, 26)], noise=0.0, specular=0.5, shininess=64, jitter=0.0)
    if r.rng.random() < 0.8:
        screen = r.b.material(
            Pattern.PICTURE,
            pal.pick(r.rng, [(220, 226, 236), (40, 60, 90), (236, 236, 236)]),
            color2=(0.01, 0.01, 0.012),
            params=(0.03, 1.0, 0.0),
            emission=r.rng.uniform(1.0, 3.0),
        )
        _part(r, origin, yaw, (0.0, height + 0.07, -depth / 2 + 0.15), (0.06, 0.14, 0.06), black)
        _part(
            r,
            origin,
            yaw,
            (0.0, height + 0.14 + 0.18, -depth / 2 + 0.15),
            (0.56, 0.34, 0.03),
            black,
            front_material=screen,
        )
    _part(r, origin, yaw, (0.0, height + 0.01, 0.05), (0.44, 0.02, 0.14), r.plain(pal.METALS))
    chair(
        r,
        local_to_world(origin, yaw, (0.0, 0.0, depth / 2 + 0.2)),
        yaw + math.pi + r.rng.uniform(-0.4, 0.4),
        r.plain(pal.METALS),
        r.fabric(),
    )


def wardrobe(r: _Room, origin: Vec3, yaw: float, width: float, depth: float, height: float) -> None:
    finish = r.furniture_finish()
    doors = r.drawers(1, max(2, int(round(width / 0.5))), finish)
    _part(r, origin, yaw, (0.0, height / 2, 0.0), (width, height, depth), finish, front_material=doors)


def kitchen(r: _Room, origin: Vec3, yaw: float, width: float) -> None:
    finish = r.plain(pal.FURNITURE_PAINTS, noise=0.02, specular=0.3, shininess=32) if r.rng.random() < 0.6 else r.wood
    cols = max(1, int(round(width / 0.6)))
    _part(r, origin, yaw, (0.0, 0.05, -0.03), (width, 0.1, 0.54), r.plain([(40, 40, 40)]))
    _part(
        r, origin, yaw, (0.0, 0.1 + 0.38, 0.0), (width, 0.76, 0.58), finish, front_material=r.drawers(2, cols, finish)
    )
    counter = r.b.material(
        Pattern.CONCRETE,
        pal.pick(r.rng, [(60, 60, 62), (220, 216, 206), (150, 140, 128)]),
        scale=0.0,
        params=(0.15, 0, 0),
        specular=0.4,
        shininess=64,
    )
    _part(r, origin, yaw, (0.0, 0.88, 0.01), (width + 0.02, 0.04, 0.62), counter)
    _part(
        r,
        origin,
        yaw,
        (0.0, 0.9 + 0.3, -0.29),
        (width, 0.6, 0.01),
        r.b.material(
            Pattern.TILES,
            pal.pick(r.rng, pal.TILES),
            color2=pal.pick(r.rng, pal.TILES),
            scale=r.rng.uniform(0.1, 0.2),
            params=(0.004, 0.0, 0.0),
            specular=0.5,
            shininess=64,
        ),
    )
    if r.rng.random() < 0.7:
        _part(
            r,
            origin,
            yaw,
            (0.0, 1.5 + 0.35, -0.12),
            (width, 0.7, 0.34),
            finish,
            front_material=r.drawers(1, cols, finish),
        )


def fridge(r: _Room, origin: Vec3, yaw: float) -> None:
    white = r.plain([(236, 236, 234), (200, 202, 204), (60, 60, 62)], noise=0.01, specular=0.4, shininess=64)
    height = r.rng.uniform(1.6, 1.95)
    _part(r, origin, yaw, (0.0, height / 2, 0.0), (0.62, height, 0.64), white, front_material=r.drawers(2, 1, white))


def plant(r: _Room, origin: Vec3) -> None:
    pot_r, pot_h = r.rng.uniform(0.1, 0.2), r.rng.uniform(0.18, 0.4)
    pot = r.plain([(170, 96, 70), (230, 228, 222), (50, 50, 52), (120, 120, 116)], noise=0.05, specular=0.2)
    r.b.cylinder((origin[0], pot_h / 2, origin[2]), (0, 1, 0), pot_r, pot_h, pot)
    light, dark = pal.LEAVES[int(r.rng.integers(len(pal.LEAVES)))]
    leaves = r.b.material(
        Pattern.FOLIAGE, pal.linear(*light), color2=pal.linear(*dark), scale=r.rng.uniform(0.05, 0.12)
    )
    size = r.rng.uniform(0.2, 0.45)
    r.b.cylinder((origin[0], pot_h + size * 0.6, origin[2]), (0, 1, 0), 0.015, size * 1.2, r.plain([(70, 90, 40)]))
    for k in range(int(r.rng.integers(1, 4))):
        offset = r.rng.uniform(-0.4, 0.4, 3) * size
        r.b.sphere(
            (origin[0] + offset[0], pot_h + size * (1.0 + 0.4 * k) + 0.3 * offset[1], origin[2] + offset[2]),
            size * r.rng.uniform(0.6, 1.0),
            leaves,
        )


def floor_lamp(r: _Room, origin: Vec3) -> None:
    metal = r.plain(pal.METALS, noise=0.0, specular=0.5, shininess=64)
    height = r.rng.uniform(1.3, 1.7)
    r.b.cylinder((origin[0], 0.015, origin[2]), (0, 1, 0), 0.15, 0.03, metal)
    r.b.cylinder((origin[0], height / 2, origin[2]), (0, 1, 0), 0.015, height, metal)
    glow = r.b.material(
        Pattern.PLAIN, pal.linear(255, 226, 180), scale=0.3, params=(0.02, 0, 0), emission=r.rng.uniform(1.5, 3.0)
    )
    r.b.cylinder(
        (origin[0], height + 0.12, origin[2]), (0, 1, 0), r.rng.uniform(0.16, 0.22), 0.28, glow, casts_shadow=False
    )
    power = r.rng.uniform(1.5, 3.0)
    r.lamps.append(
        Light(
            "area",
            (origin[0], height + 0.12, origin[2]),
            (power, 0.85 * power, 0.62 * power),
            (0.12, 0, 0),
            (0, 0, 0.12),
        )
    )


# --- on the walls -------------------------------------------------------------------------------------------------


def picture(r: _Room, wall: _Wall, s: float, y: float, width: float, height: float) -> None:
    frame = (
        r.wood
        if r.rng.random() < 0.5
        else r.plain(pal.METALS + [(20, 20, 20), (240, 240, 236)], noise=0.02, specular=0.3)
    )
    art = r.b.material(
        Pattern.PICTURE,
        pal.pick(r.rng, pal.SKY_ZENITH + pal.FABRICS + pal.WALL_PAINTS[:6]),
        color2=pal.pick(r.rng, [(240, 238, 230), (20, 20, 20)]),
        params=(float(r.rng.uniform(0.0, 0.15)), float(r.rng.random() < 0.4), 0.0),
        specular=0.1,
    )
    thickness = r.rng.uniform(0.015, 0.04)
    r.b.box(
        wall.point(s, thickness / 2, y),
        (width, height, thickness),
        frame,
        yaw=wall.yaw,
        front_material=art,
        casts_shadow=False,
    )


def window(r: _Room, wall: _Wall, s: float, y0: float, width: float, height: float) -> None:
    frame = r.plain([(240, 240, 236), (236, 232, 224), (60, 60, 62), (120, 90, 60)], noise=0.02, specular=0.2)
    sky = pal.pick(r.rng, [(236, 242, 250), (220, 232, 246), (250, 246, 236)], jitter=0.02)
    glass = r.b.material(
        Pattern.WINDOW,
        sky,
        color2=r.b.materials[frame].color,
        params=(float(r.rng.integers(0, 3)), float(r.rng.integers(0, 2)), 0.0),
        emission=r.rng.uniform(3.0, 6.0),
    )
    # the window's own parts cast no shadows: its light sits right in front of them
    r.b.box(
        wall.point(s, 0.01, y0 + height / 2),
        (width, height, 0.02),
        frame,
        yaw=wall.yaw,
        front_material=glass,
        casts_shadow=False,
    )
    for side in (-1, 1):
        r.b.box(
            wall.point(s + side * (width / 2 + 0.03), 0.04, y0 + height / 2),
            (0.06, height + 0.12, 0.08),
            frame,
            yaw=wall.yaw,
            casts_shadow=False,
        )
    r.b.box(
        wall.point(s, 0.04, y0 + height + 0.03), (width + 0.12, 0.06, 0.08), frame, yaw=wall.yaw, casts_shadow=False
    )
    r.b.box(wall.point(s, 0.08, y0 - 0.025), (width + 0.2, 0.05, 0.16), frame, yaw=wall.yaw, casts_shadow=False)
    if r.rng.random() < 0.4:
        cloth = r.plain_or_striped_fabric(0.5, (0.08, 0.12))
        top = min(r.height - 0.05, y0 + height + 0.25)
        for side in (-1, 1):
            r.b.box(
                wall.point(s + side * (width / 2 + 0.25), 0.12, top / 2 + 0.02),
                (0.4, top - 0.04, 0.06),
                cloth,
                yaw=wall.yaw,
                casts_shadow=False,
            )
    r.windows.append((wall, s, y0, width, height))


def door(r: _Room, wall: _Wall, s: float) -> None:
    leaf = (
        r.wood
        if r.rng.random() < 0.5
        else r.plain(pal.FURNITURE_PAINTS[:1] + [(236, 232, 220)], noise=0.02, specular=0.2)
    )
    frame = r.plain([(240, 240, 236), (220, 214, 200)], noise=0.02, specular=0.2)
    r.b.box(wall.point(s, 0.02, 1.02), (0.86, 2.04, 0.04), leaf, yaw=wall.yaw, casts_shadow=False)
    for side in (-1, 1):
        r.b.box(wall.point(s + side * 0.47, 0.03, 1.06), (0.08, 2.12, 0.06), frame, yaw=wall.yaw)
    r.b.box(wall.point(s, 0.03, 2.12), (1.02, 0.08, 0.06), frame, yaw=wall.yaw)
    r.b.sphere(wall.point(s + 0.33, 0.09, 1.0), 0.03, r.plain(pal.METALS, specular=0.6, shininess=64))


# --- the room --------------------------------------------------------------------------------------------------------


def _surface_materials(r: _Room) -> tuple[int, int, int]:
    """Floor, ceiling and wall materials."""
    rng, b = r.rng, r.b
    kind = rng.choice(["planks", "tiles", "carpet", "concrete"], p=[0.5, 0.2, 0.2, 0.1])
    if kind == "planks":
        light, dark = pal.WOODS[int(rng.integers(len(pal.WOODS)))]
        floor = b.material(
            Pattern.PLANKS,
            pal.linear(*light),
            color2=pal.linear(*dark),
            scale=rng.uniform(0.008, 0.02),
            params=(rng.uniform(0.09, 0.22), rng.uniform(0.8, 2.0), 0.0),
            specular=rng.uniform(0.05, 0.35),
            shininess=32,
        )
    elif kind == "tiles":
        floor = b.material(
            Pattern.TILES,
            pal.pick(rng, pal.TILES),
            color2=pal.pick(rng, pal.TILES),
            scale=rng.uniform(0.25, 0.6),
            params=(rng.uniform(0.003, 0.008), float(rng.random() < 0.2), 0.0),
            specular=rng.uniform(0.1, 0.5),
            shininess=64,
        )
    elif kind == "carpet":
        floor = b.material(Pattern.CARPET, pal.pick(rng, pal.CARPETS), color2=pal.pick(rng, pal.CARPETS))
    else:
        floor = b.material(
            Pattern.CONCRETE,
            pal.pick(rng, [(150, 150, 146), (120, 118, 112)]),
            scale=0.0,
            params=(0.2, 0, 0),
            specular=0.2,
        )
    ceiling = b.material(Pattern.PLAIN, pal.pick(rng, [(244, 244, 240)], 0.02), scale=0.8, params=(0.03, 0, 0))
    style = rng.choice(["paint", "stripes", "brick"], p=[0.75, 0.15, 0.1])
    if style == "paint":
        wall = b.material(
            Pattern.PLAIN,
            pal.pick(rng, pal.WALL_PAINTS, 0.03),
            scale=rng.uniform(0.3, 1.0),
            params=(rng.uniform(0.02, 0.06), 0, 0),
        )
    elif style == "stripes":
        base = pal.pick(rng, pal.WALL_PAINTS[:10], 0.03)
        wall = b.material(
            Pattern.STRIPES,
            base,
            color2=pal.darker(base, rng.uniform(0.75, 0.9)),
            scale=rng.uniform(0.08, 0.4),
            params=(rng.uniform(0.3, 0.6), 0, 0),
        )
    else:
        wall = b.material(
            Pattern.BRICK,
            pal.pick(rng, pal.BRICKS),
            color2=pal.pick(rng, [(190, 186, 176), (150, 146, 140)]),
            scale=0.225,
            params=(0.075, 0.01, 0.0),
        )
    return floor, ceiling, wall


def _furnish_wall(r: _Room, index: int) -> None:
    """Line up furniture along wall `index` with random gaps."""
    wall, rng = r.walls[index], r.rng
    s = rng.uniform(0.0, 0.6)
    while s < wall.length - 0.4:
        kind = rng.choice(
            [
                "cabinet",
                "bookshelf",
                "bed",
                "sofa",
                "tv",
                "desk",
                "wardrobe",
                "kitchen",
                "fridge",
                "plant",
                "lamp",
                "gap",
            ],
            p=[0.14, 0.12, 0.07, 0.09, 0.07, 0.08, 0.06, 0.07, 0.04, 0.1, 0.06, 0.1],
        )
        width, depth, tall = {
            "cabinet": (rng.uniform(0.5, 1.6), rng.uniform(0.35, 0.55), 0.0),
            "bookshelf": (rng.uniform(0.5, 1.2), rng.uniform(0.25, 0.4), 2.0),
            "bed": (rng.uniform(0.9, 1.8), 2.05, 0.0),
            "sofa": (rng.uniform(1.4, 2.4), rng.uniform(0.8, 0.95), 0.0),
            "tv": (rng.uniform(1.0, 1.8), 0.45, 0.0),
            "desk": (rng.uniform(0.9, 1.5), rng.uniform(0.55, 0.75), 0.0),
            "wardrobe": (rng.uniform(0.9, 2.0), rng.uniform(0.5, 0.62), 2.2),
            "kitchen": (rng.uniform(1.2, 2.8), 0.62, 2.2),
            "fridge": (0.66, 0.66, 2.0),
            "plant": (0.5, 0.5, 0.0),
            "lamp": (0.4, 0.4, 0.0),
            "gap": (rng.uniform(0.3, 1.2), 0.1, 0.0),
        }[kind]
        if s + width > wall.length:
            break
        footprint = r.footprint_on_wall(wall, s, s + width, depth + (0.5 if kind == "desk" else 0.0))
        if kind != "gap" and r.free(*footprint) and r.wall_free(index, s, s + width, 0.0, 0.9):
            r.claim(*footprint)
            origin = wall.point(s + width / 2, depth / 2 + 0.01)
            yaw = wall.yaw
            if kind == "cabinet":
                cabinet(r, origin, yaw, width, depth, rng.uniform(0.6, 1.2))
            elif kind == "bookshelf":
                bookshelf(r, origin, yaw, width, depth, rng.uniform(1.4, min(2.2, r.height - 0.2)))
            elif kind == "bed":
                bed(r, origin, yaw, width, depth - 0.06)
            elif kind == "sofa":
                sofa(r, origin, yaw, width, depth)
            elif kind == "tv":
                tv_unit(r, origin, yaw, width)
            elif kind == "desk":
                desk(r, origin, yaw, width, depth)
            elif kind == "wardrobe":
                wardrobe(r, origin, yaw, width, depth, min(rng.uniform(1.8, 2.3), r.height - 0.1))
            elif kind == "kitchen":
                kitchen(r, origin, yaw, width)
            elif kind == "fridge":
                fridge(r, origin, yaw)
            elif kind == "plant":
                plant(r, origin)
            else:
                floor_lamp(r, origin)
            r.wall_spans[index].append((s, s + width, 0.0, tall or (1.0 if kind not in ("plant", "lamp") else 0.0)))
        s += width + rng.uniform(0.05, 0.6)


def _furnish_middle(r: _Room) -> None:
    rng = r.rng
    cx, cz = rng.uniform(0.35, 0.65) * r.width, rng.uniform(0.45, 0.7) * r.depth
    arrangement = rng.choice(["dining", "coffee", "empty"], p=[0.4, 0.4, 0.2])
    if rng.random() < 0.4:
        rug_w, rug_d = rng.uniform(1.4, 2.6), rng.uniform(1.0, 2.0)
        rug = r.b.material(
            Pattern.CARPET,
            pal.pick(rng, pal.CARPETS + pal.FABRICS),
            color2=pal.pick(rng, pal.CARPETS),
            params=(rng.uniform(0.0, 0.2), 0, 0),
        )
        x0, z0 = cx - rug_w / 2, cz - rug_d / 2
        if r.free(x0, z0, x0 + rug_w, z0 + rug_d):  # not claimed: tables and chairs stand on it
            r.b.box((cx, 0.006, cz), (rug_w, 0.012, rug_d), rug, casts_shadow=False)
    yaw = rng.uniform(-0.3, 0.3) + (math.pi / 2 if rng.random() < 0.5 else 0.0)
    if arrangement == "dining":
        w, d = rng.uniform(0.8, 1.8), rng.uniform(0.7, 1.0)
        half = 0.5 * max(w, d) + 0.6
        if r.free(cx - half, cz - half, cx + half, cz + half):
            r.claim(cx - half, cz - half, cx + half, cz + half)
            finish = r.furniture_finish()
            table(r, (cx, 0.0, cz), yaw, w, d, rng.uniform(0.72, 0.78), finish)
            seat = r.fabric() if rng.random() < 0.5 else finish
            for k in range(int(rng.integers(2, 5))):
                side = [(0, 1), (0, -1), (1, 0), (-1, 0)][k]
                offset = (side[0] * (w / 2 + 0.15), 0.0, side[1] * (d / 2 + 0.15))
                turn = math.atan2(-side[0], -side[1]) + rng.uniform(-0.25, 0.25)
                chair(r, local_to_world((cx, 0.0, cz), yaw, offset), yaw + turn + math.pi, finish, seat)
    elif arrangement == "coffee":
        w, d = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.7)
        if r.free(cx - w / 2 - 0.1, cz - d / 2 - 0.1, cx + w / 2 + 0.1, cz + d / 2 + 0.1):
            r.claim(cx - w / 2, cz - d / 2, cx + w / 2, cz + d / 2)
            table(r, (cx, 0.0, cz), yaw, w, d, rng.uniform(0.35, 0.48), r.furniture_finish())
    for _ in range(int(rng.integers(0, 4))):
        kind = rng.choice(["ball", "bin", "pouf", "pillar", "plant"])
        x, z = rng.uniform(0.4, r.width - 0.4), rng.uniform(1.0, r.depth - 0.4)
        radius = {
            "ball": rng.uniform(0.1, 0.3),
            "bin": rng.uniform(0.12, 0.2),
            "pouf": rng.uniform(0.2, 0.3),
            "pillar": rng.uniform(0.12, 0.3),
            "plant": 0.3,
        }[kind]
        if not r.free(x - radius, z - radius, x + radius, z + radius):
            continue
        r.claim(x - radius, z - radius, x + radius, z + radius)
        if kind == "ball":
            r.b.sphere(
                (x, radius, z), radius, r.plain(pal.FABRICS + pal.CAR_PAINTS, noise=0.05, specular=0.4, shininess=32)
            )
        elif kind == "bin":
            height = rng.uniform(0.3, 0.45)
            r.b.cylinder(
                (x, height / 2, z), (0, 1, 0), radius, height, r.plain(pal.METALS + pal.FURNITURE_PAINTS, specular=0.3)
            )
        elif kind == "pouf":
            r.b.cylinder((x, 0.2, z), (0, 1, 0), radius, 0.4, r.fabric())
        elif kind == "pillar":
            r.b.cylinder((x, r.height / 2, z), (0, 1, 0), radius, r.height, r.plain(pal.WALL_PAINTS[:5], noise=0.03))
        else:
            plant(r, (x, 0.0, z))


def _decorate_walls(r: _Room) -> None:
    rng = r.rng
    for index in (0, 1, 2):
        wall = r.walls[index]
        if rng.random() < 0.45:
            width, height = rng.uniform(0.8, min(2.0, wall.length - 0.6)), rng.uniform(1.0, min(1.6, r.height - 1.1))
            s = rng.uniform(0.3 + width / 2, wall.length - 0.3 - width / 2)
            y0 = rng.uniform(0.8, r.height - 0.2 - height)
            if r.wall_free(index, s - width / 2 - 0.3, s + width / 2 + 0.3, y0 - 0.1, y0 + height):
                window(r, wall, s, y0, width, height)
                r.wall_spans[index].append((s - width / 2 - 0.3, s + width / 2 + 0.3, 0.0, r.height))
        if rng.random() < 0.25:
            s = rng.uniform(0.7, wall.length - 0.7)
            foot = r.footprint_on_wall(wall, s - 0.5, s + 0.5, 0.9)
            if r.wall_free(index, s - 0.55, s + 0.55, 0.0, 2.2) and r.free(*foot):
                door(r, wall, s)
                r.claim(*foot)
                r.wall_spans[index].append((s - 0.55, s + 0.55, 0.0, 2.2))
        for _ in range(int(rng.integers(0, 3))):
            width, height = rng.uniform(0.25, 1.2), rng.uniform(0.25, 0.9)
            s = rng.uniform(0.2 + width / 2, max(0.3 + width / 2, wall.length - 0.2 - width / 2))
            y = rng.uniform(1.25, 1.75)
            y = min(y, r.height - 0.15 - height / 2)
            if r.wall_free(index, s - width / 2 - 0.1, s + width / 2 + 0.1, y - height / 2, y + height / 2):
                picture(r, wall, s, y, width, height)
                r.wall_spans[index].append((s - width / 2 - 0.1, s + width / 2 + 0.1, y - height / 2, y + height / 2))


def _skirting(r: _Room) -> None:
    board = r.plain([(240, 240, 236), (230, 226, 216), (120, 90, 60)], noise=0.02, specular=0.2)
    height = r.rng.uniform(0.05, 0.1)
    for wall in r.walls:
        r.b.box(
            wall.point(wall.length / 2, 0.003, height / 2),
            (wall.length, height, 0.006),
            board,
            yaw=wall.yaw,
            casts_shadow=False,
        )


def _lights(r: _Room) -> list[Light]:
    rng = r.rng
    lights: list[Light] = []
    if r.windows and rng.random() < 0.7:
        wall, s, y0, width, height = r.windows[int(rng.integers(len(r.windows)))]
        centre = np.asarray(wall.point(s, rng.uniform(0.6, 1.0), y0 + height / 2))
        power = rng.uniform(10.0, 24.0) * width * height
        tint = np.array([0.9, 0.95, 1.05]) if rng.random() < 0.6 else np.array([1.05, 0.97, 0.85])
        half_w, half_h = min(width / 2, 0.4), min(height / 2, 0.4)
        lights.append(Light("area", tuple(centre), tuple(power * tint), tuple(wall.along * half_w), (0.0, half_h, 0.0)))
    if not lights or rng.random() < 0.5:
        x, z = rng.uniform(0.3, 0.7) * r.width, rng.uniform(0.35, 0.75) * r.depth
        drop = rng.uniform(0.0, 0.6) if rng.random() < 0.4 else 0.0
        y = r.height - 0.06 - drop
        glow = r.b.material(
            Pattern.PLAIN, pal.linear(255, 240, 214), scale=0.3, params=(0.01, 0, 0), emission=rng.uniform(3.0, 6.0)
        )
        if drop > 0:
            r.b.cylinder(
                (x, r.height - drop / 2, z), (0, 1, 0), 0.006, drop, r.plain([(30, 30, 30)]), casts_shadow=False
            )
            r.b.sphere((x, y - 0.1, z), rng.uniform(0.1, 0.2), glow, casts_shadow=False)
            y -= 0.1
        else:
            r.b.cylinder((x, r.height - 0.03, z), (0, 1, 0), rng.uniform(0.15, 0.3), 0.06, glow, casts_shadow=False)
            y -= 0.08
        power = rng.uniform(6.0, 14.0)
        size = rng.uniform(0.05, 0.3)
        lights.append(Light("area", (x, y, z), (power, 0.93 * power, 0.8 * power), (size, 0.0, 0.0), (0.0, 0.0, size)))
    if r.lamps and len(lights) < 2 and rng.random() < 0.6:
        lights.append(r.lamps[0])
    return lights


def indoor_scene(rng: np.random.Generator, height: int, width: int) -> Scene:
    """A random furnished room seen by the NYU camera scaled to `width` x `height`."""
    room_w, room_d, room_h = rng.uniform(3.0, 6.5), rng.uniform(3.5, 8.0), rng.uniform(2.4, 3.0)
    camera_x, camera_z = rng.uniform(0.3, 0.7) * room_w, rng.uniform(0.3, 1.0)
    r = _Room(rng, room_w, room_h, room_d, (camera_x, camera_z))
    floor, ceiling, wall = _surface_materials(r)
    walls = [wall] * 4
    if rng.random() < 0.25:
        walls[int(rng.integers(0, 3))] = r.b.material(
            Pattern.PLAIN, pal.pick(rng, pal.WALL_PAINTS, 0.03), scale=0.5, params=(0.04, 0, 0)
        )
    _skirting(r)
    _decorate_walls(r)
    for index in rng.permutation(3):
        _furnish_wall(r, int(index))
    _furnish_middle(r)
    lights = _lights(r)
    camera = Camera.looking(
        camera_intrinsics("indoor", height, width),
        height,
        width,
        (camera_x, rng.uniform(1.0, 1.8), camera_z),
        yaw=rng.uniform(-0.5, 0.5),
        pitch=rng.uniform(-0.45, 0.05),
        roll=rng.uniform(-0.05, 0.05),
    )
    ambient = rng.uniform(0.12, 0.3) * np.array([1.0, 0.98, 0.95])
    return Scene(
        kind="indoor",
        camera=camera,
        room=Room((0.0, 0.0, 0.0), (room_w, room_h, room_d), (floor, ceiling, walls[0], walls[1], walls[3], walls[2])),
        materials=tuple(r.b.materials),
        primitives=tuple(r.b.primitives),
        lights=tuple(lights),
        ambient=tuple(float(a) for a in ambient),
        depth_range=DEPTH_RANGE,
        exposure=float(rng.uniform(0.16, 0.3)),
        white_balance=tuple(float(x) for x in 1.0 + rng.uniform(-0.06, 0.06, 3)),
        vignetting=float(rng.uniform(0.05, 0.35)),
        blur=float(rng.uniform(0.2, 0.8)),
        noise=float(rng.uniform(0.004, 0.02)),
        noise_seed=int(rng.integers(0, 2**20)),
    )
