"""Batched ray casting of `Scene`s in torch: nearest analytic hit per pixel, procedural shading, cast shadows.

Visibility. Every pixel casts one ray. The room shell (or the outdoor ground plane) is intersected densely; every
box, cylinder and sphere only against the pixels of its conservative screen rectangle (the projection of its
bounding box, clipped at the near plane), so the work is the covered area, not pixels x primitives. The
(pixel, primitive) pairs of a whole batch are one flat tensor; each pair's hit distance t and the primitive's index are
packed into one int64 key (the float32 bit pattern of t > 0 sorts like t) and `scatter_reduce(amin)` keeps the
nearest hit per pixel: exact, order-free, hence identical for any batch composition and chunking.

Depth. Rays are d = R (x, y, 1) with x = (u - cx) / fx, y = (v - cy) / fy, so the ray parameter t of a hit is its
z-depth (distance along the optical axis) in metres.

Shading (linear RGB): albedo from `textures` x (ambient x ambient occlusion + sum over lights of
colour x max(0, n.l) x falloff x visibility) + Blinn-Phong highlights + emission. Visibility comes from shadow rays
from every other pixel (in both directions) towards a jittered point of each area light, stratified so that the
edge-aware average over 5 x 5 such anchors gives each pixel about 25 light samples from its own face (soft
penumbras for a quarter of a ray per pixel), cast only against the shadow casters whose shadow volume (the caster's
box extruded away from the light to the room's walls or the ground) covers the pixel. Ambient occlusion darkens
points near the room's edges and the floor around objects standing on it (distance to the object's surface, with
the floor pixels again limited to a screen rectangle). Outdoors, distant surfaces blend into haze and rays that
miss everything see a sky gradient with sun glow and clouds. The camera: exposure to a scene-chosen mean level,
white balance, vignetting, a slight lens blur, shot and read noise, a filmic tone curve and the sRGB transfer
function.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import Tensor

from .scene import Box, Cylinder, Scene, Sphere, primitive_corners
from .textures import PARAMS_WIDTH, SurfacePoints, fbm, lattice, pack_material, shade_patterns, smooth01

SURFACE_SKY = -1
"""`surface` of pixels whose ray hits nothing (outdoor sky)."""
SURFACE_FLOOR, SURFACE_CEILING = -2, -3
"""`surface` of the floor / ground plane y = 0 and of the ceiling."""
SURFACE_WALLS = (-4, -5, -6, -7)
"""`surface` of the room walls at x = lo, x = hi, z = lo, z = hi."""

_ID_BITS = 21
_ID_MASK = (1 << _ID_BITS) - 1
_BACKGROUND_ID = _ID_MASK
_NO_HIT = torch.iinfo(torch.int64).max
_T_MIN = 1e-4
_BOX, _CYLINDER, _SPHERE = 0, 1, 2


@dataclass
class RenderOutput:
    """image (B, H, W, 3) uint8 sRGB; depth (B, H, W) float32 z-depth in metres, 0 where invalid; valid (B, H, W)
    bool (hit inside the scene's depth range); surface (B, H, W) int64: the index of the visible primitive in
    `scene.primitives`, or one of the negative SURFACE_* codes."""

    image: Tensor
    depth: Tensor
    valid: Tensor
    surface: Tensor


@dataclass
class _Primitives:
    """All primitives of a batch, boxes first, then cylinders, then spheres (each in frame, then scene order)."""

    kind: np.ndarray  # (N,) _BOX / _CYLINDER / _SPHERE
    frame: np.ndarray  # (N,)
    local: np.ndarray  # (N,) index in scene.primitives
    casts: np.ndarray  # (N,) bool
    corners: np.ndarray  # (N, 8, 3) bounding-box corners
    reach: np.ndarray  # (N,) ambient-occlusion radius: half the median extent of the bounding box, 0.05 - 0.6 m
    columns: list[
        Tensor
    ]  # 8 float32 columns: centre (3), box half sizes / cylinder axis (3), cos|radius, sin|half length
    material: Tensor  # (N,) long
    front_material: Tensor  # (N,) long


def _pack_primitives(scenes: Sequence[Scene], material_offsets: list[int], device: torch.device) -> _Primitives:
    rows, info, ordered = [], [], []
    for kind, cls in ((_BOX, Box), (_CYLINDER, Cylinder), (_SPHERE, Sphere)):
        for frame, scene in enumerate(scenes):
            offset = material_offsets[frame]
            for local, prim in enumerate(scene.primitives):
                if not isinstance(prim, cls):
                    continue
                front = prim.material
                if kind == _BOX:
                    extra = [*prim.half_size, np.cos(prim.yaw), np.sin(prim.yaw)]
                    front = prim.material if prim.front_material is None else prim.front_material
                elif kind == _CYLINDER:
                    extra = [*prim.axis, prim.radius, prim.half_length]
                else:
                    extra = [0.0, 0.0, 0.0, prim.radius, 0.0]
                rows.append([*prim.center, *extra])
                info.append((kind, frame, local, prim.casts_shadow, prim.material + offset, front + offset))
                ordered.append(prim)
    corners = np.asarray([primitive_corners(prim) for prim in ordered], dtype=np.float64).reshape(-1, 8, 3)
    table = np.asarray(rows, dtype=np.float32).reshape(-1, 8)
    meta = np.asarray(info, dtype=np.int64).reshape(-1, 6)
    extents = np.median(corners.max(axis=1) - corners.min(axis=1), axis=1) if ordered else np.zeros(0)
    return _Primitives(
        kind=meta[:, 0],
        frame=meta[:, 1],
        local=meta[:, 2],
        casts=meta[:, 3].astype(bool),
        corners=corners,
        reach=np.clip(0.5 * extents, 0.05, 0.6),
        columns=[torch.from_numpy(np.ascontiguousarray(table[:, i])).to(device) for i in range(8)],
        material=torch.from_numpy(meta[:, 4].copy()).to(device),
        front_material=torch.from_numpy(meta[:, 5].copy()).to(device),
    )


def screen_rects(points: np.ndarray, scene: Scene, margin: float = 2.0) -> np.ndarray:
    """Pixel rectangles [u0, u1) x [v0, v1) (N, 4) covering the projections of the convex hulls of `points`
    (N, K, 3) in `scene.camera`, clipped at the near plane (hull vertices behind it are replaced by the
    crossings of the segments to them); empty (u1 = u0) when a hull lies behind the camera."""
    camera, near = scene.camera, 1e-3
    local = (points - np.asarray(camera.position)) @ camera.rotation
    z = local[..., 2]
    front = z >= near
    candidates, keep = local, front
    mixed = front.any(axis=1) & ~front.all(axis=1)
    if mixed.any():
        sub, zf = local[mixed], z[mixed]
        a, b = sub[:, :, None, :], sub[:, None, :, :]
        za, zb = zf[:, :, None], zf[:, None, :]
        cross = (za >= near) & (zb < near)
        s = (za - near) / np.where(cross, za - zb, 1.0)
        clipped = (a + s[..., None] * (b - a)).reshape(sub.shape[0], -1, 3)
        n = points.shape[0]
        extra = np.zeros((n, clipped.shape[1], 3))
        extra_keep = np.zeros((n, clipped.shape[1]), dtype=bool)
        extra[mixed], extra_keep[mixed] = clipped, cross.reshape(sub.shape[0], -1)
        extra[..., 2] = np.where(extra_keep, near, 1.0)
        candidates, keep = np.concatenate([local, extra], axis=1), np.concatenate([front, extra_keep], axis=1)
    k = camera.intrinsics
    zc = np.where(keep, candidates[..., 2], 1.0)
    u = np.clip(k.cx + k.fx * candidates[..., 0] / zc, -1e6, 1e6)
    v = np.clip(k.cy + k.fy * candidates[..., 1] / zc, -1e6, 1e6)
    u0 = np.where(keep, u, np.inf).min(axis=1)
    u1 = np.where(keep, u, -np.inf).max(axis=1)
    v0 = np.where(keep, v, np.inf).min(axis=1)
    v1 = np.where(keep, v, -np.inf).max(axis=1)
    any_keep = keep.any(axis=1)
    rect = np.zeros((points.shape[0], 4), dtype=np.int64)
    rect[:, 0] = np.clip(np.floor(np.where(any_keep, u0, 0) - margin), 0, camera.width)
    rect[:, 1] = np.clip(np.ceil(np.where(any_keep, u1, 0) + margin) + 1, 0, camera.width)
    rect[:, 2] = np.clip(np.floor(np.where(any_keep, v0, 0) - margin), 0, camera.height)
    rect[:, 3] = np.clip(np.ceil(np.where(any_keep, v1, 0) + margin) + 1, 0, camera.height)
    rect[~any_keep] = 0
    return rect


def _pairs(
    rects: np.ndarray, frames: np.ndarray, height: int, width: int, max_pairs: int, device: torch.device
) -> Iterator[tuple[np.ndarray, Tensor, Tensor]]:
    """(item indices, flat pixel index, position in the item list) of every pixel inside each item's rectangle,
    in chunks of about `max_pairs` pairs."""
    widths = np.maximum(rects[:, 1] - rects[:, 0], 0)
    heights = np.maximum(rects[:, 3] - rects[:, 2], 0)
    counts = widths * heights
    items = np.flatnonzero(counts)
    start = 0
    while start < items.size:
        total, stop = 0, start
        while stop < items.size and (stop == start or total + counts[items[stop]] <= max_pairs):
            total += counts[items[stop]]
            stop += 1
        chunk = items[start:stop]
        start = stop
        count = torch.from_numpy(counts[chunk]).to(device)
        item = torch.repeat_interleave(torch.arange(chunk.size, device=device), count, output_size=int(total))
        first = torch.cumsum(count, 0) - count
        k = torch.arange(int(total), device=device) - first[item]
        w = torch.from_numpy(widths[chunk]).to(device)[item]
        row = torch.div(k, w, rounding_mode="floor")
        col = k - row * w
        u0 = torch.from_numpy(rects[chunk, 0]).to(device)[item]
        v0 = torch.from_numpy(rects[chunk, 2]).to(device)[item]
        frame = torch.from_numpy(frames[chunk]).to(device)[item]
        yield chunk, (frame * height + v0 + row) * width + u0 + col, item


def _slab(o: Tensor, d: Tensor, half: Tensor) -> tuple[Tensor, Tensor]:
    d = torch.where(d >= 0, d.clamp(min=1e-12), d.clamp(max=-1e-12))
    t1, t2 = (-half - o) / d, (half - o) / d
    return torch.minimum(t1, t2), torch.maximum(t1, t2)


def _box_local(p: tuple[Tensor, Tensor, Tensor], cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    return cos * p[0] - sin * p[2], p[1], sin * p[0] + cos * p[2]


def _intersect(kind: int, o: tuple[Tensor, ...], d: tuple[Tensor, ...], c: list[Tensor], t_min: float) -> Tensor:
    """Entering hit distance (inf when missed or not beyond `t_min`) of rays o + t d against primitives of one kind
    whose parameter columns `c` are given per ray, with o relative to the primitive's centre."""
    inf = torch.full_like(o[0], float("inf"))
    if kind == _BOX:
        lo, le = _box_local(o, c[6], c[7]), _box_local(d, c[6], c[7])
        near_x, far_x = _slab(lo[0], le[0], c[3])
        near_y, far_y = _slab(lo[1], le[1], c[4])
        near_z, far_z = _slab(lo[2], le[2], c[5])
        t_near = torch.maximum(torch.maximum(near_x, near_y), near_z)
        t_far = torch.minimum(torch.minimum(far_x, far_y), far_z)
        return torch.where((t_near <= t_far) & (t_near > t_min), t_near, inf)
    if kind == _CYLINDER:
        ax, ay, az, radius, half = c[3], c[4], c[5], c[6], c[7]
        oa = o[0] * ax + o[1] * ay + o[2] * az
        da = d[0] * ax + d[1] * ay + d[2] * az
        qx, qy, qz = o[0] - oa * ax, o[1] - oa * ay, o[2] - oa * az
        wx, wy, wz = d[0] - da * ax, d[1] - da * ay, d[2] - da * az
        a = wx * wx + wy * wy + wz * wz
        b = qx * wx + qy * wy + qz * wz
        disc = b * b - a * (qx * qx + qy * qy + qz * qz - radius * radius)
        t_side = (-b - torch.sqrt(disc.clamp(min=0.0))) / a.clamp(min=1e-20)
        side_ok = (disc >= 0) & (a > 1e-20) & ((oa + t_side * da).abs() <= half) & (t_side > t_min)
        safe_da = torch.where(da >= 0, da.clamp(min=1e-12), da.clamp(max=-1e-12))
        t_cap = torch.minimum((half - oa) / safe_da, (-half - oa) / safe_da)
        rx, ry, rz = qx + t_cap * wx, qy + t_cap * wy, qz + t_cap * wz
        cap_ok = (rx * rx + ry * ry + rz * rz <= radius * radius) & (t_cap > t_min)
        return torch.minimum(torch.where(side_ok, t_side, inf), torch.where(cap_ok, t_cap, inf))
    radius = c[6]
    a = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    b = o[0] * d[0] + o[1] * d[1] + o[2] * d[2]
    disc = b * b - a * (o[0] * o[0] + o[1] * o[1] + o[2] * o[2] - radius * radius)
    t = (-b - torch.sqrt(disc.clamp(min=0.0))) / a
    return torch.where((disc >= 0) & (t > t_min), t, inf)


def _pseudo_angle(a: Tensor, b: Tensor) -> Tensor:
    """A monotonic stand-in for atan2(b, a) in [0, 4) (quarter turns), from divisions only."""
    s = a.abs() + b.abs() + 1e-12
    r = b / s
    return torch.where(a >= 0, torch.where(b >= 0, r, 4.0 + r), 2.0 - r)


def _box_surface(p: tuple[Tensor, ...], c: list[Tensor]) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """Face, world normal and face coordinates (u, v, face width, face height) of points on boxes (relative to the
    centre); the face is the one the point lies closest to."""
    cos, sin = c[6], c[7]
    lx, ly, lz = _box_local(p, cos, sin)
    hx, hy, hz = c[3], c[4], c[5]
    gx, gy, gz = hx - lx.abs(), hy - ly.abs(), hz - lz.abs()
    axis = torch.where((gx <= gy) & (gx <= gz), 0, torch.where(gy <= gz, 1, 2))
    local = torch.where(axis == 0, lx, torch.where(axis == 1, ly, lz))
    sign = torch.where(local >= 0, 1.0, -1.0)
    face = 2 * axis + (local < 0).long()
    # the local axes in world coordinates: x -> (cos, 0, -sin), y -> (0, 1, 0), z -> (sin, 0, cos)
    nx = torch.where(axis == 0, cos, torch.where(axis == 2, sin, 0.0)) * sign
    ny = torch.where(axis == 1, 1.0, 0.0) * sign
    nz = torch.where(axis == 0, -sin, torch.where(axis == 2, cos, 0.0)) * sign
    u = torch.where(axis == 0, lz + hz, lx + hx)
    v = torch.where(axis == 1, lz + hz, ly + hy)
    su = torch.where(axis == 0, 2 * hz, 2 * hx)
    sv = torch.where(axis == 1, 2 * hz, 2 * hy)
    return face, (nx, ny, nz), (u, v, su, sv)


def _cylinder_surface(p: tuple[Tensor, ...], c: list[Tensor]) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
    """As `_box_surface` for cylinders: face 0 side (u = arc length, v = along the axis), 1 / 2 caps."""
    ax, ay, az, radius, half = c[3], c[4], c[5], c[6], c[7]
    along = p[0] * ax + p[1] * ay + p[2] * az
    rx, ry, rz = p[0] - along * ax, p[1] - along * ay, p[2] - along * az
    radial = torch.sqrt(rx * rx + ry * ry + rz * rz)
    side = (radius - radial).abs() <= (half - along.abs()).abs()
    face = torch.where(side, 0, torch.where(along >= 0, 1, 2))
    inv = 1.0 / radius
    cap_sign = torch.where(along >= 0, 1.0, -1.0)
    n = tuple(torch.where(side, r * inv, a * cap_sign) for r, a in ((rx, ax), (ry, ay), (rz, az)))
    vertical = ay.abs() >= torch.maximum(ax.abs(), az.abs())
    first = torch.where(vertical | (ax.abs() < az.abs()), rx, rz)
    second = torch.where(vertical, rz, ry)
    arc = _pseudo_angle(first, second) * (0.5 * torch.pi) * radius
    u = torch.where(side, arc, first + radius)
    v = torch.where(side, along + half, second + radius)
    su = torch.where(side, 2 * torch.pi * radius, 2 * radius)
    sv = torch.where(side, 2 * half, 2 * radius)
    return face, n, (u, v, su, sv)


def _sphere_surface(p: tuple[Tensor, ...], c: list[Tensor]) -> tuple[Tensor, tuple[Tensor, ...], tuple[Tensor, ...]]:
    radius = c[6]
    inv = 1.0 / radius
    u = _pseudo_angle(p[0], p[2]) * (0.5 * torch.pi) * radius
    face = torch.zeros_like(radius, dtype=torch.long)
    return face, tuple(x * inv for x in p), (u, p[1] + radius, 2 * torch.pi * radius, 2 * radius)


@dataclass
class _Hits:
    """Per-pixel results of the visibility pass, each (B, P): z-depth t (inf where nothing is hit), the hit mask,
    the packed primitive id (`_BACKGROUND_ID` on the room or ground), face code, surface code (see RenderOutput),
    material index, world position and normal, and face coordinates u, v with the face's size su, sv (metres)."""

    t: Tensor
    hit: Tensor
    gid: Tensor
    face: Tensor
    surface: Tensor
    material: Tensor
    position: tuple[Tensor, Tensor, Tensor]
    normal: tuple[Tensor, Tensor, Tensor]
    u: Tensor
    v: Tensor
    su: Tensor
    sv: Tensor


def _flat(values: tuple[Tensor, ...], index: Tensor) -> tuple[Tensor, ...]:
    """Gather `index` from the flattened (B * P) view of each tensor."""
    return tuple(x.reshape(-1)[index] for x in values)


class _Batch:
    """A batch of scenes of one image size packed into tensors on `device`. Per-pixel tensors are (B, P) with
    P = H * W; per-frame values are (B, 1) and broadcast against them."""

    def __init__(self, scenes: Sequence[Scene], device: torch.device, max_pairs: int) -> None:
        sizes = {(s.camera.height, s.camera.width) for s in scenes}
        if len(sizes) != 1:
            raise ValueError(f"all scenes of a batch must have the same image size, got {sorted(sizes)}")
        ((self.height, self.width),) = sizes
        self.scenes, self.device, self.max_pairs = list(scenes), device, max_pairs
        self.count, self.pixels = len(scenes), self.height * self.width
        offsets = np.cumsum([0] + [len(s.materials) for s in scenes])[:-1].tolist()
        rows = [pack_material(m) for s in scenes for m in s.materials]
        self.materials = torch.tensor(rows, dtype=torch.float32, device=device).reshape(-1, PARAMS_WIDTH)
        self.room_materials = torch.tensor(
            [[m + o for m in s.room.materials] for s, o in zip(scenes, offsets)], device=device
        )
        self.prims = _pack_primitives(scenes, offsets, device)

        def stacked(values: list) -> Tensor:
            return torch.tensor(values, dtype=torch.float32, device=device).reshape(self.count, -1)

        k = [s.camera.intrinsics for s in scenes]
        self.intrinsics = stacked([[c.fx, c.fy, c.cx, c.cy] for c in k])
        self.rotation = stacked([np.asarray(s.camera.rotation, dtype=np.float64).reshape(-1).tolist() for s in scenes])
        self.origin = stacked([list(s.camera.position) for s in scenes])
        self.room_lo = stacked([list(s.room.lo) for s in scenes])
        self.room_hi = stacked([list(s.room.hi) for s in scenes])
        self.ambient = stacked([list(s.ambient) for s in scenes])
        self.depth_range = stacked([list(s.depth_range) for s in scenes])
        self.noise_seed = torch.tensor([s.noise_seed for s in scenes], device=device).reshape(-1, 1)
        self.frame_of_pixel = torch.arange(self.count, device=device).repeat_interleave(self.pixels)
        self.num_lights = max((len(s.lights) for s in scenes), default=0)
        u = torch.arange(self.width, dtype=torch.float32, device=device)
        v = torch.arange(self.height, dtype=torch.float32, device=device)
        grid_v, grid_u = torch.meshgrid(v, u, indexing="ij")
        self.u, self.v = grid_u.reshape(1, -1), grid_v.reshape(1, -1)

    def per_frame(self, column: Tensor) -> Tensor:
        """Per-frame values (B,) as (B, 1), to broadcast against (B, P) pixel tensors."""
        return column.reshape(self.count, 1)

    # --- visibility -------------------------------------------------------------------------------------------

    def rays(self) -> tuple[Tensor, Tensor, Tensor]:
        """World ray directions, (B, P) each, scaled so that their camera-frame z is 1."""
        fx, fy, cx, cy = (self.per_frame(self.intrinsics[:, i]) for i in range(4))
        x = (self.u - cx) / fx
        y = (self.v - cy) / fy
        r = [self.per_frame(self.rotation[:, i]) for i in range(9)]
        return tuple(r[3 * k] * x + r[3 * k + 1] * y + r[3 * k + 2] for k in range(3))

    def background(self, d: tuple[Tensor, Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """Exit distance through the room box (inf: sky) and the face index (floor, ceiling, x-lo, x-hi, z-lo, z-hi)."""
        exits = []
        for k in range(3):
            o = self.per_frame(self.origin[:, k])
            lo, hi = self.per_frame(self.room_lo[:, k]), self.per_frame(self.room_hi[:, k])
            exits.append(torch.maximum((lo - o) / d[k], (hi - o) / d[k]))
        t = torch.minimum(torch.minimum(exits[0], exits[1]), exits[2])
        axis = torch.where((exits[1] <= exits[0]) & (exits[1] <= exits[2]), 1, torch.where(exits[0] <= exits[2], 0, 2))
        side = torch.where(axis == 0, d[0] > 0, torch.where(axis == 1, d[1] > 0, d[2] > 0)).long()
        return t, torch.where(axis == 1, side, torch.where(axis == 0, 2 + side, 4 + side))

    def nearest_hits(self, d: tuple[Tensor, Tensor, Tensor], t_background: Tensor) -> Tensor:
        """The packed (t bits, primitive id) key of the nearest hit per pixel, (B, P)."""
        bits = t_background.view(torch.int32).long()
        best = torch.where(torch.isfinite(t_background), (bits << _ID_BITS) | _BACKGROUND_ID, _NO_HIT).reshape(-1)
        prims = self.prims
        for kind in (_BOX, _CYLINDER, _SPHERE):
            ids = np.flatnonzero(prims.kind == kind)
            if ids.size == 0:
                continue
            rects = np.concatenate(
                [screen_rects(prims.corners[ids[prims.frame[ids] == f]], s) for f, s in enumerate(self.scenes)]
            )
            for chunk, pix, item in _pairs(
                rects, prims.frame[ids], self.height, self.width, self.max_pairs, self.device
            ):
                gid = torch.from_numpy(ids[chunk]).to(self.device)[item]
                columns = [col[gid] for col in prims.columns]
                frame = self.frame_of_pixel[pix]
                o = tuple(self.origin[:, k][frame] - columns[k] for k in range(3))
                t = _intersect(kind, o, _flat(d, pix), columns, _T_MIN)
                key = torch.where(torch.isinf(t), _NO_HIT, (t.view(torch.int32).long() << _ID_BITS) | gid)
                best.scatter_reduce_(0, pix, key, reduce="amin")
        return best.reshape(self.count, self.pixels)

    def hit_attributes(self, d: tuple[Tensor, Tensor, Tensor], best: Tensor, face_background: Tensor) -> _Hits:
        """Decode the nearest-hit keys into depth, position, normal, face coordinates, material and surface codes."""
        prims = self.prims
        hit = best != _NO_HIT
        gid = best & _ID_MASK
        t = torch.where(hit, (best >> _ID_BITS).to(torch.int32).view(torch.float32), float("inf"))
        position = tuple(torch.where(hit, self.per_frame(self.origin[:, k]) + t * d[k], 0.0) for k in range(3))
        face = face_background.clone()
        axis = torch.where(face < 2, 1, torch.where(face < 4, 0, 2))
        inward = torch.where(face % 2 == 0, 1.0, -1.0)
        normal = tuple(torch.where(axis == k, inward, 0.0) for k in range(3))
        size = self.room_hi - self.room_lo
        u = torch.where(axis == 0, position[2], position[0])
        v = torch.where(axis == 1, position[2], position[1])
        su = torch.where(axis == 0, size[:, 2:3], size[:, 0:1])
        sv = torch.where(axis == 1, size[:, 2:3], size[:, 1:2])
        material = self.room_materials.gather(1, face)
        surface = -2 - face
        pix = torch.nonzero((hit & (gid != _BACKGROUND_ID)).reshape(-1)).squeeze(1)
        if pix.numel():
            g = gid.reshape(-1)[pix]
            kinds = torch.from_numpy(prims.kind).to(self.device)[g]
            columns = [col[g] for col in prims.columns]
            p = tuple(x - c for x, c in zip(_flat(position, pix), columns))  # relative to the primitive's centre
            results = [torch.zeros_like(p[0]) for _ in range(8)]
            pf = torch.zeros_like(g)
            for kind, surface_of in ((_BOX, _box_surface), (_CYLINDER, _cylinder_surface), (_SPHERE, _sphere_surface)):
                sel = torch.nonzero(kinds == kind).squeeze(1)
                if sel.numel():
                    fk, nk, uv = surface_of(tuple(x[sel] for x in p), [c[sel] for c in columns])
                    pf[sel] = fk
                    for out, value in zip(results, (*nk, *uv)):
                        out[sel] = value
            for target, value in zip((*normal, u, v, su, sv), results):
                target.reshape(-1)[pix] = value
            face.reshape(-1)[pix] = pf
            front = (kinds == _BOX) & (pf == 4)
            material.reshape(-1)[pix] = torch.where(front, prims.front_material[g], prims.material[g])
            surface.reshape(-1)[pix] = torch.from_numpy(prims.local).to(self.device)[g]
        surface = torch.where(hit, surface, SURFACE_SKY)
        return _Hits(t, hit, gid, face, surface, material, position, normal, u, v, su, sv)

    # --- lighting -----------------------------------------------------------------------------------------------

    def light_table(self) -> dict[str, Tensor]:
        """Lights as (L, B, 1) flags and (L, B, 1) per-axis tensors (lists of 3); absent slots have zero colour."""
        count = max(self.num_lights, 1)
        sun = np.zeros((count, self.count, 1), dtype=bool)
        vectors = np.zeros((4, 3, count, self.count, 1))
        for f, scene in enumerate(self.scenes):
            for slot, light in enumerate(scene.lights):
                sun[slot, f] = light.kind == "sun"
                vectors[:, :, slot, f, 0] = [light.position, light.color, light.edge_u, light.edge_v]
        table = {"sun": torch.from_numpy(sun).to(self.device)}
        for name, values in zip(("position", "color", "edge_u", "edge_v"), vectors):
            table[name] = [torch.tensor(values[k], dtype=torch.float32, device=self.device) for k in range(3)]
        return table

    def _shadow_rects(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shadow items (light slot, primitive id) and the screen rectangles of their shadow volumes: each caster's
        bounding box plus its corners pushed away from each corner of the light (or along each corner of the sun's
        disc) until they leave the room box or reach the ground."""
        prims, slots, gids, rects = self.prims, [], [], []
        signs = np.array([[1, 1], [1, -1], [-1, 1], [-1, -1]], dtype=np.float64)
        for f, scene in enumerate(self.scenes):
            ids = np.flatnonzero((prims.frame == f) & prims.casts)
            if ids.size == 0:
                continue
            corners = prims.corners[ids]
            lo, hi = np.asarray(scene.room.lo), np.asarray(scene.room.hi)
            for slot, light in enumerate(scene.lights):
                offsets = signs[:, :1] * np.asarray(light.edge_u) + signs[:, 1:] * np.asarray(light.edge_v)
                if light.kind == "sun":
                    away = np.broadcast_to(-(np.asarray(light.position) + offsets), corners.shape[:2] + (4, 3))
                else:
                    away = corners[:, :, None, :] - (np.asarray(light.position) + offsets)
                start = corners[:, :, None, :]
                with np.errstate(divide="ignore", invalid="ignore"):
                    exits = np.maximum((lo - start) / away, (hi - start) / away)
                    exits = np.where(np.isnan(exits), np.inf, exits).min(axis=-1)
                norm = np.linalg.norm(away, axis=-1)
                reach = np.clip(np.minimum(exits, 1e3 / np.maximum(norm, 1e-9)), 0.0, None)
                pushed = (start + reach[..., None] * away).reshape(len(ids), -1, 3)
                rects.append(screen_rects(np.concatenate([corners, pushed], axis=1), scene))
                slots.append(np.full(ids.size, slot))
                gids.append(ids)
        if not rects:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 4), np.int64)
        return np.concatenate(slots), np.concatenate(gids), np.concatenate(rects)

    def shadow_visibility(self, hits: _Hits, lights: dict, lit: Tensor) -> Tensor:
        """Visibility (L, B, P) in [0, 1] of each light from each pixel.

        Shadow rays start from every other pixel in both directions (the anchors), each towards a jittered point of
        the light: 5 strata across the light cycle along each anchor row (and down each column), with a random shift
        per row (column) so that no regular pattern shows. Every pixel then averages the anchors of a 5 x 5 anchor
        window (10 x 10 pixels) that lie on its own face (`_upsample_on_faces`): about 25 light samples per pixel,
        soft penumbras, no bleeding across object edges, for a quarter of a ray per pixel.
        """
        count = lit.shape[0]
        rows, cols = (self.height + 1) // 2, (self.width + 1) // 2
        anchors = self.count * rows * cols
        occluded = torch.zeros(count * anchors, dtype=torch.bool, device=self.device)
        slots, gids, rects = self._shadow_rects()
        if gids.size:
            ja, ia = torch.meshgrid(
                torch.arange(rows, device=self.device), torch.arange(cols, device=self.device), indexing="ij"
            )
            ja, ia = ja.reshape(1, -1), ia.reshape(1, -1)
            pixel = (
                (torch.arange(self.count, device=self.device).reshape(-1, 1) * self.height + 2 * ja) * self.width
                + 2 * ia
            ).reshape(-1)
            targets = [[], [], []]
            for slot in range(count):
                seed = self.noise_seed + 4 * slot
                stratum_u = (ia + torch.floor(5.0 * lattice(ja, 0, seed + 2)).long()) % 5  # shuffled per anchor row
                stratum_v = (ja + torch.floor(5.0 * lattice(ia, 0, seed + 3)).long()) % 5  # and per anchor column
                jitter = [
                    (stratum + lattice(ia, ja, seed + i)) * 0.4 - 1.0
                    for i, stratum in enumerate((stratum_u, stratum_v))
                ]
                for k in range(3):
                    pos, eu, ev = lights["position"][k][slot], lights["edge_u"][k][slot], lights["edge_v"][k][slot]
                    targets[k].append(pos + jitter[0] * eu + jitter[1] * ev)
            targets = [torch.stack(t).reshape(-1) for t in targets]
            sun_flags = lights["sun"].reshape(-1)
            lit_anchor = lit.reshape(count, -1)[:, pixel].reshape(-1)
            gid_anchor = hits.gid.reshape(-1)[pixel]
            offset = 1e-3 + 1e-4 * hits.t.reshape(-1)[pixel]
            start_anchor = tuple(p + offset * n for p, n in zip(_flat(hits.position, pixel), _flat(hits.normal, pixel)))
            frame_anchor = torch.div(pixel, self.pixels, rounding_mode="floor")
            prims = self.prims
            for kind in (_BOX, _CYLINDER, _SPHERE):
                of_kind = np.flatnonzero(prims.kind[gids] == kind)
                if of_kind.size == 0:
                    continue
                pair_iter = _pairs(
                    (rects[of_kind] + 1) // 2, prims.frame[gids[of_kind]], rows, cols, self.max_pairs, self.device
                )
                for chunk, anchor, item in pair_iter:
                    gid = torch.from_numpy(gids[of_kind][chunk]).to(self.device)[item]
                    slot = torch.from_numpy(slots[of_kind][chunk]).to(self.device)[item]
                    slot_anchor = slot * anchors + anchor
                    keep = torch.nonzero(lit_anchor[slot_anchor] & (gid_anchor[anchor] != gid)).squeeze(1)
                    anchor, gid, slot, slot_anchor = anchor[keep], gid[keep], slot[keep], slot_anchor[keep]
                    columns = [col[gid] for col in prims.columns]
                    start = _flat(start_anchor, anchor)
                    sun = sun_flags[slot * self.count + frame_anchor[anchor]]
                    target = tuple(t[slot_anchor] for t in targets)
                    direction = tuple(torch.where(sun, target[k], target[k] - start[k]) for k in range(3))
                    o = tuple(start[k] - columns[k] for k in range(3))
                    t = _intersect(kind, o, direction, columns, 0.0)
                    blocked = slot_anchor[torch.where(sun, torch.isfinite(t), t < 1.0)]
                    occluded.index_put_((blocked,), torch.ones_like(blocked, dtype=torch.bool))
        visible = (~occluded).float().reshape(count, self.count, rows, cols)
        key = (hits.surface * 8 + hits.face).reshape(self.count, self.height, self.width)
        return _upsample_on_faces(visible, key).reshape(count, self.count, self.pixels)

    def occlusion(self, hits: _Hits) -> Tensor:
        """Ambient occlusion (B, P) in (0, 1]: near the room's edges (distance to the other room planes) and, on the
        floor, around objects standing on it (distance to the object, weighted by how much it faces the point)."""
        ao = torch.ones_like(hits.t)
        for k in range(3):
            for bound, sign in ((self.room_lo, 1.0), (self.room_hi, -1.0)):
                distance = (hits.position[k] - self.per_frame(bound[:, k])) * sign
                near = 1.0 - (distance * (1.0 / 0.45)).clamp(0.0, 1.0)
                ao = ao * torch.where(distance > 1e-3, 1.0 - 0.35 * near * near, 1.0)
        prims = self.prims
        floor_level = np.array([s.room.lo[1] for s in self.scenes])[prims.frame]
        reach = prims.reach
        grounded = np.flatnonzero(prims.casts & (prims.corners[:, :, 1].min(axis=1) - floor_level < reach))
        if grounded.size == 0:
            return ao
        lo = prims.corners[grounded].min(axis=1) - reach[grounded, None]
        hi = prims.corners[grounded].max(axis=1) + reach[grounded, None]
        lo[:, 1] = hi[:, 1] = floor_level[grounded]
        hi[:, 1] += 0.01
        boxes = np.stack(
            [np.where(np.array([sx, sy, sz], dtype=bool), hi, lo) for sx in (0, 1) for sy in (0, 1) for sz in (0, 1)],
            axis=1,
        )
        rects = np.zeros((grounded.size, 4), dtype=np.int64)
        for f, scene in enumerate(self.scenes):
            mine = prims.frame[grounded] == f
            if mine.any():
                rects[mine] = screen_rects(boxes[mine], scene)
        reach_t = torch.from_numpy(reach.astype(np.float32)).to(self.device)
        on_floor = (hits.surface == SURFACE_FLOOR).reshape(-1)
        ao_flat = ao.reshape(-1)
        for kind in (_BOX, _CYLINDER, _SPHERE):
            of_kind = grounded[prims.kind[grounded] == kind]
            if of_kind.size == 0:
                continue
            rect_rows = rects[prims.kind[grounded] == kind]
            for chunk, pix, item in _pairs(
                rect_rows, prims.frame[of_kind], self.height, self.width, self.max_pairs, self.device
            ):
                gid = torch.from_numpy(of_kind[chunk]).to(self.device)[item]
                keep = torch.nonzero(on_floor[pix]).squeeze(1)
                pix, gid = pix[keep], gid[keep]
                c = [col[gid] for col in prims.columns]
                p = tuple(x - ck for x, ck in zip(_flat(hits.position, pix), c))
                distance = _distance_outside(kind, p, c)
                length = torch.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).clamp(min=1e-6)
                weight = (0.5 - 0.5 * p[1] / length).clamp(0.0, 1.0)
                near = 1.0 - (distance / reach_t[gid]).clamp(0.0, 1.0)
                ao_flat.scatter_reduce_(0, pix, 1.0 - 0.7 * weight * near * near, reduce="amin")
        return ao

    def shade(self, d: tuple[Tensor, Tensor, Tensor], hits: _Hits) -> Tensor:
        """Linear RGB radiance (B, P, 3) before the camera."""
        length = torch.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2])
        view = tuple(-x / length for x in d)
        n = hits.normal
        focal = self.per_frame(torch.sqrt(self.intrinsics[:, 0] * self.intrinsics[:, 1]))
        facing = (n[0] * view[0] + n[1] * view[1] + n[2] * view[2]).abs().clamp(min=0.15)
        footprint = torch.where(hits.hit, hits.t * length / focal / facing, 1.0)
        albedo = torch.zeros((self.count, self.pixels, 3), device=self.device)
        gloss, glow = torch.zeros_like(hits.t), torch.zeros_like(hits.t)
        pix = torch.nonzero(hits.hit.reshape(-1)).squeeze(1)
        if pix.numel():
            material = hits.material.reshape(-1)[pix]
            points = SurfacePoints(*_flat((hits.u, hits.v, hits.su, hits.sv, footprint), pix), self.materials[material])
            a, g, e = shade_patterns(points)
            albedo.reshape(-1, 3)[pix] = a
            gloss.reshape(-1)[pix], glow.reshape(-1)[pix] = g, e
        lights = self.light_table()
        shininess = self.materials[:, 12][hits.material]
        specular = self.materials[:, 11][hits.material] * gloss
        emission = self.materials[:, 13][hits.material] * glow
        lit, terms = [], []
        for slot in range(lights["sun"].shape[0]):
            sun = lights["sun"][slot]
            vector = [
                torch.where(sun, lights["position"][k][slot], lights["position"][k][slot] - hits.position[k])
                for k in range(3)
            ]
            distance2 = vector[0] * vector[0] + vector[1] * vector[1] + vector[2] * vector[2]
            inv = 1.0 / torch.sqrt(distance2.clamp(min=1e-12))
            direction = [x * inv for x in vector]
            ndl = n[0] * direction[0] + n[1] * direction[1] + n[2] * direction[2]
            half = [direction[k] + view[k] for k in range(3)]
            norm = torch.sqrt((half[0] * half[0] + half[1] * half[1] + half[2] * half[2]).clamp(min=1e-12))
            ndh = ((n[0] * half[0] + n[1] * half[1] + n[2] * half[2]) / norm).clamp(min=0.0)
            extent = sum(
                lights[name][k][slot] * lights[name][k][slot] for name in ("edge_u", "edge_v") for k in range(3)
            )
            falloff = torch.where(sun, 1.0, 1.0 / (distance2 + 0.05 + extent))
            energy = lights["color"][0][slot] + lights["color"][1][slot] + lights["color"][2][slot]
            lit.append(hits.hit & (ndl > 0) & (energy > 0))
            terms.append(
                (falloff * ndl.clamp(min=0.0), falloff * _power(ndh, shininess) * specular * (ndl > 0).float())
            )
        visibility = self.shadow_visibility(hits, lights, torch.stack(lit))
        hemisphere = (0.7 + 0.3 * n[1]) * self.occlusion(hits)
        channels = []
        for k in range(3):
            diffuse = self.per_frame(self.ambient[:, k]) * hemisphere + emission
            highlight = torch.zeros_like(diffuse)
            for slot, (lambert, phong) in enumerate(terms):
                energy = lights["color"][k][slot] * visibility[slot]
                diffuse = diffuse + energy * lambert
                highlight = highlight + energy * phong
            channels.append(albedo[..., k] * diffuse + highlight)
        radiance = torch.stack(channels, dim=-1)
        return self._outdoor_air(radiance, hits, view, length)

    def _outdoor_air(self, radiance: Tensor, hits: _Hits, view: tuple[Tensor, ...], length: Tensor) -> Tensor:
        """Haze over distant surfaces and the sky where rays miss (frames with a `Sky`)."""
        if all(s.sky is None for s in self.scenes):
            return radiance
        rows = []
        for scene in self.scenes:
            sky = scene.sky
            sun = next((light for light in scene.lights if light.kind == "sun"), None)
            sun_dir, sun_color = (sun.position, sun.color) if sun is not None else ((0.0, 1.0, 0.0), (0.0, 0.0, 0.0))
            if sky is None:
                rows.append([0.0] * 17)
            else:
                rows.append(
                    [*sky.zenith, *sky.horizon, sky.clouds, sky.haze_density, *sky.haze_color, *sun_dir, *sun_color]
                )
        table = torch.tensor(rows, dtype=torch.float32, device=self.device)
        density, haze = table[:, 7:8], table[:, None, 8:11]
        ray_length = torch.where(hits.hit, hits.t * length, 0.0)
        thick = 1.0 - 1.0 / (1.0 + density * ray_length)
        radiance = radiance + (haze - radiance) * thick[..., None]
        miss = torch.nonzero(~hits.hit.reshape(-1)).squeeze(1)
        if miss.numel() == 0:
            return radiance
        frame = self.frame_of_pixel[miss]
        table = table[frame]
        zenith, horizon, clouds, sun_dir, sun_color = (
            table[:, 0:3],
            table[:, 3:6],
            table[:, 6],
            table[:, 11:14],
            table[:, 14:17],
        )
        d = [-x for x in _flat(view, miss)]
        up = d[1].clamp(min=0.0)
        gradient = smooth01((up * 2.5).clamp(0.0, 1.0))
        sky = horizon + (zenith - horizon) * gradient[:, None]
        cos_sun = (d[0] * sun_dir[:, 0] + d[1] * sun_dir[:, 1] + d[2] * sun_dir[:, 2]).clamp(min=0.0)
        glow = 3.0 * _power(cos_sun, torch.full_like(cos_sun, 256.0)) + 0.25 * _power(
            cos_sun, torch.full_like(cos_sun, 8.0)
        )
        sky = sky + sun_color * (0.08 * glow)[:, None]
        lift = up.clamp(min=0.02)
        cover = fbm(
            d[0] / lift * 0.6,
            d[2] / lift * 0.6,
            self.noise_seed.reshape(-1)[frame],
            4,
            0.6 / (lift * lift * 300.0) + 1e-3,
        )
        cloud = smooth01(((cover - 1.0 + clouds) * 3.0).clamp(0.0, 1.0)) * (up > 0.02).float()
        sky = sky + (0.9 * horizon.sum(dim=1, keepdim=True) / 3.0 + 0.25 - sky) * (0.85 * cloud)[:, None]
        radiance = radiance.reshape(-1, 3).clone()
        radiance[miss] = sky
        return radiance.reshape(self.count, self.pixels, 3)

    # --- camera -----------------------------------------------------------------------------------------------

    def develop(self, radiance: Tensor) -> Tensor:
        """The camera: exposure, white balance, vignetting, lens blur, sensor noise, filmic curve, sRGB -> uint8."""
        settings = torch.tensor(
            [[s.exposure, *s.white_balance, s.vignetting, s.blur, s.noise] for s in self.scenes],
            dtype=torch.float32,
            device=self.device,
        )
        luminance = 0.2126 * radiance[..., 0] + 0.7152 * radiance[..., 1] + 0.0722 * radiance[..., 2]
        quantised = torch.round(luminance.clamp(0.0, 8.0) * 65536.0).long().sum(dim=1)
        mean = quantised.double() / (65536.0 * self.pixels)
        gain = (settings[:, 0].double() / mean.clamp(min=1e-6)).float()
        cx, cy = self.per_frame(self.intrinsics[:, 2]), self.per_frame(self.intrinsics[:, 3])
        du, dv = (self.u - cx) / self.width, (self.v - cy) / self.height
        falloff = 1.0 - self.per_frame(settings[:, 4]) * 2.0 * (du * du + dv * dv)
        scale = self.per_frame(gain) * falloff
        image = (
            (radiance * (scale[..., None] * settings[:, None, 1:4]))
            .permute(0, 2, 1)
            .reshape(self.count, 3, self.height, self.width)
        )
        image = _lens_blur(image, settings[:, 5]).reshape(self.count, 3, self.pixels)
        ui, vi = self.u.long().reshape(1, 1, -1), self.v.long().reshape(1, 1, -1)
        seed = self.noise_seed.reshape(-1, 1, 1) + torch.arange(3, device=self.device).reshape(1, 3, 1)
        gauss = (lattice(ui, vi, seed + 17) + lattice(ui, vi, seed + 29) - 1.0) * 2.4494897
        sigma = settings[:, 6].reshape(-1, 1, 1) * torch.sqrt(image.clamp(min=0.0) + 0.02)
        x = (image + sigma * gauss).clamp(min=0.0)
        toned = ((x * (2.51 * x + 0.03)) / (x * (2.43 * x + 0.59) + 0.14)).clamp(0.0, 1.0)
        codes = _srgb_table(self.device)[torch.floor(toned * 4095.0 + 0.5).long()]
        return codes.reshape(self.count, 3, self.height, self.width).permute(0, 2, 3, 1).contiguous()


def _distance_outside(kind: int, p: tuple[Tensor, ...], c: list[Tensor]) -> Tensor:
    """Distance from points p (relative to the centre) to a primitive, 0 inside."""
    if kind == _BOX:
        local = _box_local(p, c[6], c[7])
        q = [(local[k].abs() - c[3 + k]).clamp(min=0.0) for k in range(3)]
        return torch.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
    if kind == _CYLINDER:
        along = p[0] * c[3] + p[1] * c[4] + p[2] * c[5]
        r = [p[k] - along * c[3 + k] for k in range(3)]
        radial = (torch.sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]) - c[6]).clamp(min=0.0)
        axial = (along.abs() - c[7]).clamp(min=0.0)
        return torch.sqrt(radial * radial + axial * axial)
    return (torch.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2]) - c[6]).clamp(min=0.0)


def _power(x: Tensor, exponent: Tensor) -> Tensor:
    """x ** exponent for exponents that are powers of two (2 .. 256), by repeated squaring."""
    result, power, value = torch.zeros_like(x), 1.0, x
    for _ in range(8):
        value = value * value
        power *= 2.0
        result = torch.where(exponent == power, value, result)
    return result


def _upsample_on_faces(values: Tensor, key: Tensor, radius: int = 2) -> Tensor:
    """Full-resolution (L, B, H, W) means of anchor `values` (L, B, ceil(H / 2), ceil(W / 2)), the anchors being
    the pixels (2j, 2i): each pixel averages the (2 radius + 1)^2 anchors around it whose `key` (B, H, W) equals
    its own, separably (along rows, then along columns)."""
    anchor_rows = key[:, ::2, :]
    values = _average_on_faces(values, key[:, ::2, ::2], anchor_rows, -1, radius)
    return _average_on_faces(values, anchor_rows, key, -2, radius)


def _average_on_faces(values: Tensor, source_key: Tensor, target_key: Tensor, dim: int, radius: int) -> Tensor:
    """One pass along `dim`: target position t averages the sources t // 2 - radius .. t // 2 + radius whose key
    equals its own (`target_key`); where none does (thin objects), all of them."""
    size, limit = target_key.shape[dim], values.shape[dim]
    centre = torch.arange(size, device=values.device) // 2
    total, weight, plain, count = 0.0, 0.0, 0.0, 0.0
    for shift in range(-radius, radius + 1):
        index = centre + shift
        inside = ((index >= 0) & (index < limit)).to(values.dtype)
        inside = inside.reshape(-1, 1) if dim == -2 else inside
        index = index.clamp(0, limit - 1)
        picked = values.index_select(dim, index)
        same = (source_key.index_select(dim, index) == target_key).to(values.dtype) * inside
        total, weight = total + picked * same, weight + same
        plain, count = plain + picked * inside, count + inside
    return torch.where(weight > 0, total / weight.clamp(min=1.0), plain / count)


def _lens_blur(image: Tensor, strength: Tensor) -> Tensor:
    """Blend towards a separable [1, 2, 1] / 4 blur by `strength` (B,): a soft lens and demosaicing."""
    padded = torch.nn.functional.pad(image, (1, 1, 0, 0), mode="replicate")
    rows = 0.25 * padded[..., :-2] + 0.5 * padded[..., 1:-1] + 0.25 * padded[..., 2:]
    padded = torch.nn.functional.pad(rows, (0, 0, 1, 1), mode="replicate")
    blurred = 0.25 * padded[..., :-2, :] + 0.5 * padded[..., 1:-1, :] + 0.25 * padded[..., 2:, :]
    return image + (blurred - image) * strength.reshape(-1, 1, 1, 1)


_SRGB_TABLES: dict[str, Tensor] = {}


def _srgb_table(device: torch.device) -> Tensor:
    """uint8 sRGB codes of 4096 linear levels in [0, 1] (IEC 61966-2-1 transfer function)."""
    key = str(device)
    if key not in _SRGB_TABLES:
        x = np.linspace(0.0, 1.0, 4096)
        encoded = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
        _SRGB_TABLES[key] = torch.from_numpy(np.round(encoded * 255.0).astype(np.uint8)).to(device)
    return _SRGB_TABLES[key]


def render_scenes(
    scenes: Sequence[Scene],
    device: str | torch.device = "cpu",
    max_pairs: int = 1 << 21,
    max_pixels: int | None = None,
) -> RenderOutput:
    """Render scenes of one image size on `device` ("cpu", "cuda", ...), as one batch per `max_pixels` pixels.

    `max_pairs` bounds the (pixel, primitive) pairs processed at once (memory); `max_pixels` bounds the pixels of
    one pass (default: 2^19 on the CPU, where a smaller working set stays in cache, 2^24 on other devices). Results do
    not depend on either.
    """
    if not scenes:
        raise ValueError("render_scenes needs at least one scene")
    device = torch.device(device)
    pixels = scenes[0].camera.height * scenes[0].camera.width
    limit = max_pixels or (1 << 19 if device.type == "cpu" else 1 << 24)
    per_pass = max(1, limit // pixels)
    passes = [_render_batch(scenes[i : i + per_pass], device, max_pairs) for i in range(0, len(scenes), per_pass)]
    if len(passes) == 1:
        return passes[0]
    return RenderOutput(*(torch.cat([getattr(p, field.name) for p in passes]) for field in fields(RenderOutput)))


def _render_batch(scenes: Sequence[Scene], device: torch.device, max_pairs: int) -> RenderOutput:
    batch = _Batch(scenes, device, max_pairs)
    d = batch.rays()
    t_background, face_background = batch.background(d)
    hits = batch.hit_attributes(d, batch.nearest_hits(d, t_background), face_background)
    image = batch.develop(batch.shade(d, hits))
    low, high = batch.depth_range[:, :1], batch.depth_range[:, 1:]
    valid = hits.hit & (hits.t >= low) & (hits.t <= high)
    shape = (batch.count, batch.height, batch.width)
    depth = torch.where(valid, hits.t, 0.0)
    return RenderOutput(image, depth.reshape(shape), valid.reshape(shape), hits.surface.reshape(shape))
