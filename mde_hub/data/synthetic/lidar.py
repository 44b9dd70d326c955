"""Where a KITTI-like LiDAR would measure: the scan pattern of a Velodyne HDL-64E projected into the image.

KITTI's depth ground truth is Velodyne points projected into the camera (Geiger et al., IJRR 2013; Uhrig et al.,
3DV 2017). The pattern here: 64 beams at the HDL-64E's elevations (upper block: 32 beams from +2.0 to -8.33 degrees in
1/3 degree steps; lower block: 32 beams from -8.83 to -24.33 degrees in 1/2 degree steps), each sampled every
0.18 degrees of azimuth (about 2000 points per beam and revolution, KITTI's roughly 120k points per sweep), from the
camera centre (the 0.27 m offset to the real scanner is ignored). The samples are projected with the camera
intrinsics rescaled to the native 1242 x 375 KITTI frame, where one point lands on one pixel and about 4 % of the
pixels get one; the requested frame takes the native pixel nearest to each of its pixels (a nearest-neighbour
resize, as one resizes KITTI's sparse ground truth), so the valid fraction stays about the same at any resolution.
Each frame draws its own azimuth phase and a small elevation offset (the car's pitch). Only pixels that also have
valid rendered depth (not sky, at most 80 m) keep their depth.
"""

from __future__ import annotations

import numpy as np

from ..frames import KITTI_FRAME
from ..sample import Intrinsics

BEAM_ELEVATIONS_DEG = np.concatenate([2.0 - np.arange(32) / 3.0, -8.83 - 0.5 * np.arange(32)])
"""Elevation (degrees, up positive) of the 64 beams, upper block then lower block."""

AZIMUTH_STEP_DEG = 0.18
"""Angle between successive points of one beam (degrees)."""


def lidar_mask(intrinsics: Intrinsics, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """(height, width) bool: the pixels a KITTI-like LiDAR sweep hits (see the module docstring)."""
    native_h, native_w = KITTI_FRAME
    native = intrinsics.scaled(native_w / width, native_h / height)
    elevation = np.radians(BEAM_ELEVATIONS_DEG + rng.uniform(-0.1, 0.1))[:, None]
    phase = rng.uniform(0.0, AZIMUTH_STEP_DEG)
    half_fov = np.degrees(np.arctan(max(native.cx, native_w - native.cx) / native.fx)) + 1.0
    azimuth = np.radians(np.arange(-half_fov + phase, half_fov, AZIMUTH_STEP_DEG))[None, :]
    x = np.cos(elevation) * np.sin(azimuth)
    y = -np.sin(elevation) * np.ones_like(azimuth)
    z = np.cos(elevation) * np.cos(azimuth)
    u = np.rint(native.cx + native.fx * x / z).astype(np.int64).ravel()
    v = np.rint(native.cy + native.fy * y / z).astype(np.int64).ravel()
    inside = (u >= 0) & (u < native_w) & (v >= 0) & (v < native_h)
    hits = np.zeros((native_h, native_w), dtype=bool)
    hits[v[inside], u[inside]] = True
    rows = np.clip(np.rint(np.arange(height) * (native_h / height)).astype(np.int64), 0, native_h - 1)
    cols = np.clip(np.rint(np.arange(width) * (native_w / width)).astype(np.int64), 0, native_w - 1)
    return hits[rows[:, None], cols[None, :]]
