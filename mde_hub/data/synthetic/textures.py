"""Procedural textures evaluated per pixel from surface coordinates in metres, antialiased by the pixel footprint.

Every pattern is a function of (u, v) on a face (metres from the face's corner), the face's size, the pixel's
footprint on the surface (metres per pixel) and its material's parameters. Randomness comes from a fixed table of
random values indexed by integer lattice coordinates, shifted by the material's seed, so a texture is the same on
every device and in every batch; only IEEE-exact operations (+, -, *, /, sqrt, floor, min, max) are used, never
transcendental functions, whose vectorised and scalar implementations may differ in the last bit.

Antialiasing: detail finer than about two pixels fades to its mean (`detail`), and lines (grout, seams, lane
markings, window frames) are box-filtered analytically over the footprint (`line_coverage`), so distant
tiles and planks recede into a smooth texture gradient instead of moire.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import torch
from torch import Tensor


class Pattern(IntEnum):
    PLAIN = 0  # paint, plastic, metal: colour with subtle fbm; params[0] = noise amplitude
    WOOD = 1  # grain along u: rings every `scale` metres, colours light/dark
    PLANKS = 2  # floor boards: params = (board width, board length, -), `scale` = grain ring spacing
    TILES = 3  # square tiles of `scale` metres: params = (grout width, checker 0/1, -); color2 = second tile colour
    STRIPES = 4  # wallpaper: vertical stripes of period `scale`, params[0] = duty cycle
    CARPET = 5  # fibres and soft blotches; params[0] = border width (rugs), border in color2
    BRICK = 6  # running bond: brick length `scale`, params = (course height, mortar width, -); mortar in color2
    FACADE = 7  # plaster wall with a grid of windows: params = (storey height, window spacing, window width fraction)
    STREET = 8  # ground plane, road along z centred on x = 0: params = (half width to the kerbs, half width between the
    # edge lines, lane width); asphalt in color, verge beyond the road in color2
    CONCRETE = 9  # pavement slabs of `scale` metres (0: no joints), params[0] = noise amplitude
    PICTURE = 10  # a painting (landscape or abstract by params[1]) inside a mat of width params[0] (fraction)
    WINDOW = 11  # glowing glass behind params[0] x params[1] glazing bars; frame in color2
    BOOKS = 12  # book spines of width about `scale` along u, coloured between color and color2
    FOLIAGE = 13  # leaves: clumps of `scale` metres between color and color2
    DRAWERS = 14  # cabinet front: params = (rows, columns, -) of panels with handles in color2


PARAMS_WIDTH = 15
"""Columns of a packed material row: pattern, color (3), color2 (3), scale, params (3), specular, shininess,
emission, seed."""


def pack_material(material) -> list[float]:
    """A `scene.Material` as one row of `PARAMS_WIDTH` floats."""
    return [
        float(material.pattern),
        *material.color,
        *material.color2,
        material.scale,
        *material.params,
        material.specular,
        float(material.shininess),
        material.emission,
        float(material.seed),
    ]


@dataclass
class SurfacePoints:
    """The pixels of one pattern: face coordinates u, v and face size su, sv (metres), footprint (metres per pixel)
    and the packed material rows (n, PARAMS_WIDTH)."""

    u: Tensor
    v: Tensor
    su: Tensor
    sv: Tensor
    footprint: Tensor
    params: Tensor

    @property
    def color(self) -> Tensor:
        return self.params[:, 1:4]

    @property
    def color2(self) -> Tensor:
        return self.params[:, 4:7]

    @property
    def scale(self) -> Tensor:
        return self.params[:, 7]

    def param(self, i: int) -> Tensor:
        return self.params[:, 8 + i]

    @property
    def seed(self) -> Tensor:
        return self.params[:, 14].long()


_LATTICE_BITS = 10
_LATTICE = (1 << _LATTICE_BITS) - 1
_LATTICE_TABLES: dict[str, Tensor] = {}


def _lattice_table(device: torch.device) -> Tensor:
    """1024 x 1024 uniform random floats in [0, 1), the same on every device (drawn once by numpy's PCG64)."""
    key = str(device)
    if key not in _LATTICE_TABLES:
        values = np.random.default_rng(20240611).random((_LATTICE + 1) ** 2, dtype=np.float32)
        _LATTICE_TABLES[key] = torch.from_numpy(values).to(device)
    return _LATTICE_TABLES[key]


def _offsets(seed: Tensor | int) -> tuple[Tensor | int, Tensor | int]:
    """Where `seed`'s window starts in the (periodic) lattice table."""
    return (seed * 0x9E3779B1 >> 13) & _LATTICE, (seed * 0x85EBCA6B >> 11) & _LATTICE


def lattice(ix: Tensor, iy: Tensor, seed: Tensor | int) -> Tensor:
    """A random value in [0, 1) per integer lattice point (ix, iy) and seed: a lookup in a fixed random table
    (period 1024 cells) whose window the seed shifts. Exact and identical on every device."""
    ox, oy = _offsets(seed)
    return _lattice_table(ix.device)[(((ix + ox) & _LATTICE) << _LATTICE_BITS) | ((iy + oy) & _LATTICE)]


def smooth01(t: Tensor) -> Tensor:
    return t * t * (3.0 - 2.0 * t)


def value_noise(x: Tensor, y: Tensor, seed: Tensor | int) -> Tensor:
    """Bilinear value noise in [0, 1] with smoothstep weights, one random value per integer lattice point."""
    fx, fy = torch.floor(x), torch.floor(y)
    sx, sy = smooth01(x - fx), smooth01(y - fy)
    ox, oy = _offsets(seed)
    x0, y0 = (fx.long() + ox) & _LATTICE, (fy.long() + oy) & _LATTICE
    x0, x1 = x0 << _LATTICE_BITS, ((x0 + 1) & _LATTICE) << _LATTICE_BITS
    y1 = (y0 + 1) & _LATTICE
    table = _lattice_table(x.device)
    a, b, c, d = table[x0 | y0], table[x1 | y0], table[x0 | y1], table[x1 | y1]
    top, bottom = a + (b - a) * sx, c + (d - c) * sx
    return top + (bottom - top) * sy


def detail(feature: Tensor | float, footprint: Tensor) -> Tensor:
    """How much of a feature of size `feature` survives the pixel footprint: 1 at >= 3 pixels, 0 at <= 1 pixel."""
    return ((feature / footprint - 1.0) * 0.5).clamp(0.0, 1.0)


def fbm(x: Tensor, y: Tensor, seed: Tensor, octaves: int, footprint: Tensor) -> Tensor:
    """Fractal value noise in [0, 1] (octaves of halving size and weight); `footprint` is the pixel size in
    noise units, and octaves below it fade to their mean."""
    total, weight, norm, size = torch.zeros_like(x), 1.0, 0.0, 1.0
    for octave in range(octaves):
        noise = value_noise(x / size, y / size, seed + 7919 * octave)
        total = total + weight * (0.5 + detail(size, footprint) * (noise - 0.5))
        norm += weight
        weight *= 0.5
        size *= 0.5
    return total / norm


def line_coverage(distance: Tensor, width: Tensor | float, footprint: Tensor) -> Tensor:
    """The fraction of a pixel footprint (a box of `footprint` metres centred `distance` from the line's centre)
    covered by a line of `width`: the exact 1-D box filter."""
    half_fp, half_w = 0.5 * footprint, 0.5 * width
    overlap = torch.minimum(distance + half_fp, half_w + 0.0 * distance) - torch.maximum(
        distance - half_fp, -half_w + 0.0 * distance
    )
    return overlap.clamp(min=0.0) / footprint


def periodic_lines(
    x: Tensor, period: Tensor | float, width: Tensor | float, footprint: Tensor, offset: float = 0.0
) -> Tensor:
    """Coverage of lines of `width` at x = offset + k * period, blending to their mean density when the
    period shrinks below a few pixels."""
    phase = (x - offset) / period
    distance = (phase - torch.floor(phase + 0.5)).abs() * period
    exact = line_coverage(distance, width, footprint)
    keep = detail(period, footprint)
    return exact * keep + (1.0 - keep) * (width / period + 0.0 * x).clamp(max=1.0)


def mix(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Per-row blend of colours (n, 3) by weights (n,)."""
    return a + (b - a) * t[:, None]


def _wood_grain(u: Tensor, v: Tensor, ring: Tensor, seed: Tensor, footprint: Tensor) -> Tensor:
    """Dark-ring weight in [0, 1] of wood grain running along u, rings about `ring` metres apart."""
    warp = fbm(u * 0.6, v * 6.0, seed, 2, footprint * 6.0)
    phase = v / ring + 6.0 * warp
    tri = (phase - torch.floor(phase) - 0.5).abs() * 2.0
    streak = value_noise(u * 1.5, v / (0.25 * ring), seed + 3)
    keep = detail(ring, footprint)
    return keep * (0.55 * tri * tri + 0.25 * streak) + (1.0 - keep) * 0.27


def plain(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    noise = fbm(p.u / p.scale, p.v / p.scale, p.seed, 3, p.footprint / p.scale)
    albedo = p.color * (1.0 + 2.0 * p.param(0) * (noise - 0.5))[:, None]
    return albedo, torch.ones_like(p.u), torch.ones_like(p.u)


def wood(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    grain = _wood_grain(p.u, p.v, p.scale, p.seed, p.footprint)
    tint = fbm(p.u * 0.8, p.v * 0.8, p.seed + 11, 2, p.footprint * 0.8)
    albedo = mix(p.color, p.color2, grain) * (0.85 + 0.3 * tint)[:, None]
    return albedo, torch.ones_like(p.u), torch.ones_like(p.u)


def planks(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    width, length = p.param(0), p.param(1)
    row = torch.floor(p.v / width).long()
    shift = lattice(row, 0, p.seed) * length
    col = torch.floor((p.u + shift) / length).long()
    board_tint, board_shade = lattice(row, col, p.seed + 1), lattice(row, col, p.seed + 2)
    grain = _wood_grain(p.u + 7.0 * board_tint, p.v + 3.0 * board_shade, p.scale, p.seed + col, p.footprint)
    board = mix(p.color, p.color2, 0.6 * board_tint + 0.4 * grain) * (0.82 + 0.36 * board_shade)[:, None]
    seam = torch.maximum(
        periodic_lines(p.v, width, 0.003, p.footprint), periodic_lines(p.u + shift, length, 0.003, p.footprint)
    )
    albedo = mix(board, board * 0.3, 0.8 * seam)
    return albedo, 1.0 - 0.7 * seam, torch.ones_like(p.u)


def tiles(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    size, grout_width = p.scale, p.param(0)
    i, j = torch.floor(p.u / size).long(), torch.floor(p.v / size).long()
    second = (p.param(1) > 0.5) & ((i + j) % 2 == 1)
    base = torch.where(second[:, None], p.color2, p.color)
    tile = base * (0.92 + 0.16 * lattice(i, j, p.seed))[:, None]
    tile = tile * (0.95 + 0.1 * fbm(p.u / 0.2, p.v / 0.2, p.seed, 2, p.footprint / 0.2))[:, None]
    grout = torch.maximum(
        periodic_lines(p.u, size, grout_width, p.footprint), periodic_lines(p.v, size, grout_width, p.footprint)
    )
    albedo = mix(tile, p.color * 0.55 + 0.05, grout)
    return albedo, 1.0 - 0.8 * grout, torch.ones_like(p.u)


def stripes(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    period = p.scale
    band = periodic_lines(p.u, period, p.param(0) * period, p.footprint)
    noise = fbm(p.u / 0.15, p.v / 0.15, p.seed, 2, p.footprint / 0.15)
    albedo = mix(p.color, p.color2, band) * (0.96 + 0.08 * noise)[:, None]
    return albedo, torch.ones_like(p.u), torch.ones_like(p.u)


def carpet(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    fibres = value_noise(p.u / 0.004, p.v / 0.004, p.seed)
    fibre = 0.5 + detail(0.004, p.footprint) * (fibres - 0.5)
    blotch = fbm(p.u / 0.35, p.v / 0.35, p.seed + 5, 3, p.footprint / 0.35)
    base = p.color * (0.75 + 0.5 * fibre)[:, None] * (0.85 + 0.3 * blotch)[:, None]
    border_width = p.param(0)
    edge = torch.minimum(torch.minimum(p.u, p.su - p.u), torch.minimum(p.v, p.sv - p.v))
    border = ((border_width - edge) / p.footprint + 0.5).clamp(0.0, 1.0) * (border_width > 0)
    albedo = mix(base, p.color2 * (0.75 + 0.5 * fibre)[:, None], border)
    return albedo, torch.zeros_like(p.u), torch.ones_like(p.u)


def brick(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    length, course, mortar = p.scale, p.param(0), p.param(1)
    row = torch.floor(p.v / course).long()
    shift = (row % 2).float() * 0.5 * length
    col = torch.floor((p.u + shift) / length).long()
    tint = lattice(row, col, p.seed)
    grit = fbm(p.u / 0.05, p.v / 0.05, p.seed + 1, 2, p.footprint / 0.05)
    bricks = p.color * ((0.7 + 0.5 * tint) * (0.9 + 0.2 * grit))[:, None]
    joints = torch.maximum(
        periodic_lines(p.v, course, mortar, p.footprint), periodic_lines(p.u + shift, length, mortar, p.footprint)
    )
    albedo = mix(bricks, p.color2, joints)
    return albedo, torch.zeros_like(p.u), torch.ones_like(p.u)


def facade(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    storey, spacing, fraction = p.param(0), p.param(1), p.param(2)
    plaster = fbm(p.u / p.scale, p.v / p.scale, p.seed, 3, p.footprint / p.scale)
    stains = fbm(p.u / 3.0, p.v / 3.0, p.seed + 1, 2, p.footprint / 3.0)
    wall = p.color * ((0.9 + 0.2 * plaster) * (0.85 + 0.3 * stains))[:, None]
    ground_floor = p.v < storey
    glass_width = torch.where(ground_floor, 1.5 * fraction, fraction) * spacing
    glass_height = torch.where(ground_floor, 0.7, 0.48) * storey
    sill = torch.where(ground_floor, 0.15 * storey, 0.3 * storey)
    level = torch.floor(p.v / storey)
    v_in = p.v - level * storey
    column = torch.floor(p.u / spacing)
    du = (p.u - (column + 0.5) * spacing).abs()
    dv = (v_in - sill - 0.5 * glass_height).abs()
    inside = ((p.u > 0.6) & (p.u < p.su - 0.6) & (p.v < p.sv - 0.8)).float()
    glass = line_coverage(du, glass_width, p.footprint) * line_coverage(dv, glass_height, p.footprint) * inside
    frame = (
        line_coverage(du, glass_width + 0.14, p.footprint)
        * line_coverage(dv, glass_height + 0.14, p.footprint)
        * inside
    )
    lit = lattice(column.long(), level.long(), p.seed) > 0.85
    reflection = (0.35 + 0.9 * (v_in - sill) / glass_height).clamp(0.2, 1.2)
    pane = p.color2 * reflection[:, None]
    pane = torch.where(lit[:, None], pane + torch.tensor([0.5, 0.38, 0.2], device=pane.device), pane)
    albedo = wall * (1.0 - frame)[:, None] + (frame - glass)[:, None] * 0.6 + pane * glass[:, None]
    return albedo, 0.05 + 0.95 * glass, torch.ones_like(p.u)


def street(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    half, driving, lane = p.param(0), p.param(1), p.param(2)
    x, z = p.u, p.v
    patches = fbm(x / 2.0, z / 2.0, p.seed, 3, p.footprint / 2.0)
    grain = value_noise(x / 0.03, z / 0.03, p.seed + 1)
    grain = 0.5 + detail(0.03, p.footprint) * (grain - 0.5)
    asphalt = p.color * ((0.75 + 0.5 * patches) * (0.85 + 0.3 * grain))[:, None]
    verge = p.color2 * (0.6 + 0.8 * fbm(x / 0.7, z / 0.7, p.seed + 2, 4, p.footprint / 0.7))[:, None]
    offset = x.abs()
    road = line_coverage(offset, 2.0 * half, p.footprint)
    edge_line = line_coverage((offset - (driving - 0.15)).abs(), 0.15, p.footprint)
    divider = periodic_lines(x + driving, lane, 0.12, p.footprint) * (offset < driving - 0.5).float()
    dash = periodic_lines(z, 9.0, 3.0, p.footprint)
    paint = torch.maximum(edge_line, divider * dash)
    marked = mix(asphalt, 0.55 * torch.ones_like(asphalt), 0.9 * paint)
    albedo = mix(verge, marked, road)
    return albedo, 0.15 + 0.5 * paint, torch.ones_like(p.u)


def concrete(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    noise = fbm(p.u / 0.6, p.v / 0.6, p.seed, 4, p.footprint / 0.6)
    albedo = p.color * (1.0 + 2.0 * p.param(0) * (noise - 0.5))[:, None]
    size = p.scale.clamp(min=1e-3)
    joints = torch.maximum(periodic_lines(p.u, size, 0.008, p.footprint), periodic_lines(p.v, size, 0.008, p.footprint))
    joints = joints * (p.scale > 0).float()
    albedo = mix(albedo, albedo * 0.55, joints)
    return albedo, torch.zeros_like(p.u), torch.ones_like(p.u)


def picture(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    s, t = p.u / p.su, p.v / p.sv
    mat = p.param(0) * torch.minimum(p.su, p.sv)
    edge = torch.minimum(torch.minimum(p.u, p.su - p.u), torch.minimum(p.v, p.sv - p.v))
    canvas = ((edge - mat) / p.footprint + 0.5).clamp(0.0, 1.0)
    zero = torch.zeros_like(s)
    land = torch.stack(
        [
            0.04 + 0.3 * lattice(p.seed, 1, 0) + zero,
            0.04 + 0.25 * lattice(p.seed, 2, 0) + zero,
            0.02 + 0.12 * lattice(p.seed, 3, 0) + zero,
        ],
        dim=1,
    )
    horizon = 0.3 + 0.3 * lattice(p.seed, 4, 0) + 0.12 * fbm(s * 3.0, zero, p.seed + 5, 3, p.footprint / p.su * 3.0)
    ground = ((horizon - t) / (p.footprint / p.sv) + 0.5).clamp(0.0, 1.0)
    sky = p.color * (0.6 + 0.6 * t)[:, None]
    strokes = fbm(s * 6.0, t * 6.0, p.seed + 6, 3, p.footprint / p.su * 6.0)
    landscape = mix(sky, land * (0.6 + 0.8 * strokes)[:, None], ground)
    blobs = fbm(s * 2.5, t * 2.5, p.seed + 7, 4, p.footprint / p.su * 2.5)
    abstract = mix(land * 1.5, p.color, smooth01(((blobs - 0.35) * 3.3).clamp(0.0, 1.0)))
    content = torch.where(p.param(1)[:, None] > 0.5, abstract, landscape)
    return mix(p.color2, content, canvas), 0.3 * torch.ones_like(s), canvas  # screens glow (emission > 0)


def window(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    s, t = p.u / p.su, p.v / p.sv
    frame = 1.0 - line_coverage((p.u - 0.5 * p.su).abs(), p.su - 0.1, p.footprint) * line_coverage(
        (p.v - 0.5 * p.sv).abs(), p.sv - 0.1, p.footprint
    )
    cols, rows = p.param(0) + 1.0, p.param(1) + 1.0
    bars = torch.maximum(
        periodic_lines(p.u, p.su / cols, 0.04, p.footprint) * (p.param(0) > 0).float(),
        periodic_lines(p.v, p.sv / rows, 0.04, p.footprint) * (p.param(1) > 0).float(),
    )
    solid = torch.maximum(frame, bars)
    zero = torch.zeros_like(s)
    treeline = 0.2 + 0.25 * fbm(s * 5.0, zero, p.seed, 3, p.footprint / p.su * 5.0)
    outside = ((treeline - t) / (p.footprint / p.sv) + 0.5).clamp(0.0, 1.0)
    sky = p.color * (0.75 + 0.35 * t)[:, None]
    glass = mix(sky, p.color * torch.tensor([0.35, 0.45, 0.3], device=s.device), 0.8 * outside)
    return mix(glass, p.color2, solid), 0.5 * (1.0 - solid), 1.0 - solid


def books(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    warped = p.u / p.scale + 0.8 * value_noise(p.u / (2.5 * p.scale), p.v * 0.0, p.seed)
    book = torch.floor(warped).long()
    h1, h2, h3 = lattice(book, 1, p.seed), lattice(book, 2, p.seed), lattice(book, 3, p.seed)
    spine = mix(p.color, p.color2, h1) * (0.35 + 0.9 * h2)[:, None]
    label = line_coverage((p.v / p.sv - 0.62).abs() * p.sv, 0.12 * p.sv, p.footprint) * (h3 > 0.4).float()
    spine = mix(spine, spine * 0.4 + 0.45, 0.7 * label)
    top = (0.72 + 0.26 * h3) * p.sv
    above = ((p.v - top) / p.footprint + 0.5).clamp(0.0, 1.0)
    gaps = periodic_lines(warped * p.scale, p.scale, 0.003, p.footprint)
    albedo = mix(mix(spine, spine * 0.3, gaps), 0.02 * torch.ones_like(spine), above)
    return albedo, 0.4 * (1.0 - above), torch.ones_like(p.u)


def foliage(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    clumps = fbm(p.u / p.scale, p.v / p.scale, p.seed, 4, p.footprint / p.scale)
    leaves = value_noise(p.u / 0.05, p.v / 0.05, p.seed + 1)
    leaves = 0.5 + detail(0.05, p.footprint) * (leaves - 0.5)
    weight = smooth01(((clumps - 0.3) * 2.5).clamp(0.0, 1.0))
    albedo = mix(p.color2, p.color, weight) * (0.55 + 0.9 * leaves)[:, None]
    return albedo, torch.zeros_like(p.u), torch.ones_like(p.u)


def drawers(p: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    rows, cols = p.param(0).clamp(min=1.0), p.param(1).clamp(min=1.0)
    panel_h, panel_w = p.sv / rows, p.su / cols
    noise = fbm(p.u / 0.3, p.v / 0.3, p.seed, 3, p.footprint / 0.3)
    base = p.color * (0.93 + 0.14 * noise)[:, None]
    gaps = torch.maximum(
        periodic_lines(p.u, panel_w, 0.005, p.footprint), periodic_lines(p.v, panel_h, 0.005, p.footprint)
    )
    v_in = p.v - torch.floor(p.v / panel_h) * panel_h
    u_in = p.u - torch.floor(p.u / panel_w) * panel_w
    handle = line_coverage((u_in - 0.5 * panel_w).abs(), (0.4 * panel_w).clamp(max=0.14), p.footprint) * line_coverage(
        (v_in - 0.8 * panel_h).abs(), 0.018, p.footprint
    )
    albedo = mix(mix(base, base * 0.25, gaps), p.color2, handle)
    return albedo, 0.3 + 0.7 * handle, torch.ones_like(p.u)


PATTERNS: dict[Pattern, Callable[[SurfacePoints], tuple[Tensor, Tensor, Tensor]]] = {
    Pattern.PLAIN: plain,
    Pattern.WOOD: wood,
    Pattern.PLANKS: planks,
    Pattern.TILES: tiles,
    Pattern.STRIPES: stripes,
    Pattern.CARPET: carpet,
    Pattern.BRICK: brick,
    Pattern.FACADE: facade,
    Pattern.STREET: street,
    Pattern.CONCRETE: concrete,
    Pattern.PICTURE: picture,
    Pattern.WINDOW: window,
    Pattern.BOOKS: books,
    Pattern.FOLIAGE: foliage,
    Pattern.DRAWERS: drawers,
}
"""Each pattern maps surface points to (albedo (n, 3) linear RGB, gloss (n,) scaling the material's specular,
glow (n,) scaling its emission)."""


def shade_patterns(points: SurfacePoints) -> tuple[Tensor, Tensor, Tensor]:
    """Albedo, gloss and glow of surface points of any patterns: each pattern runs on its own pixels only."""
    n = points.u.shape[0]
    albedo = points.u.new_zeros((n, 3))
    gloss, glow = points.u.new_zeros(n), points.u.new_zeros(n)
    kinds = points.params[:, 0].long()
    for kind in torch.unique(kinds).tolist():
        index = torch.nonzero(kinds == kind).squeeze(1)
        subset = SurfacePoints(
            *(field[index] for field in (points.u, points.v, points.su, points.sv, points.footprint, points.params))
        )
        a, g, e = PATTERNS[Pattern(kind)](subset)
        albedo[index], gloss[index], glow[index] = a, g, e
    return albedo, gloss, glow
