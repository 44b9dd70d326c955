"""Which depth encoding a 16-bit PNG is likely in, judged from its values.

The stored integers of a depth PNG carry no unit: the same file reads as 1.3-21 m in millimetres, 5-83 m in KITTI's
value / 256 and 0.26-4.2 m in TUM's value / 5000. Scaling keeps the ratios between depths, so only the absolute
range can tell the encodings apart, and only where one of them gives a plausible scene and another does not.
`check_encoding` decodes the values with each candidate encoding and compares the robust range (2nd to 98th
percentile of the valid pixels) with the scenes that depth benchmarks hold (`SCENES`): a room seen by a depth
camera (NYU, TUM, 7-Scenes, ScanNet) or a street seen from a car (KITTI). The answer is a likelihood, not a proof:
a 15 m hallway in millimetres fits no room and looks like a street in KITTI's encoding, so callers warn, not refuse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .folder import ENCODINGS


@dataclass(frozen=True)
class Scene:
    """A kind of scene by its plausible robust depth range: the 2nd percentile at least `min_near_m`, the 98th
    percentile within `far_range_m`."""

    name: str
    min_near_m: float
    far_range_m: tuple[float, float]

    def fits(self, near_m: float, far_m: float) -> bool:
        return near_m >= self.min_near_m and self.far_range_m[0] <= far_m <= self.far_range_m[1]


SCENES = (
    Scene("a room", min_near_m=0.25, far_range_m=(1.0, 10.0)),  # depth cameras: NYU's 10 m cap, Kinect's range
    Scene("a street", min_near_m=2.0, far_range_m=(15.0, 120.0)),  # LiDAR from a car: KITTI's 80 m cap, beyond
)


@dataclass(frozen=True)
class EncodingReading:
    """The values as read with one encoding: the 2nd and 98th percentile of the valid depths, and the scene of
    `SCENES` that range fits (None: none)."""

    encoding: str
    near_m: float
    far_m: float
    scene: str | None

    def describe(self) -> str:
        return f"{self.near_m:.3g}-{self.far_m:.3g} m, " + (self.scene or "neither a room nor a street")


def read_with(raw: np.ndarray, encoding: str) -> EncodingReading | None:
    """`raw` stored values read with `encoding` (a name in `ENCODINGS`); None when that encoding cannot read them
    (another value type) or leaves no valid pixel."""
    try:
        depth = ENCODINGS[encoding].decode(raw, "depth values")
    except ValueError:
        return None
    valid = depth[depth > 0]
    if valid.size == 0:
        return None
    near, far = (float(v) for v in np.percentile(valid, [2, 98]))
    scene = next((s.name for s in SCENES if s.fits(near, far)), None)
    return EncodingReading(encoding, near, far, scene)


@dataclass(frozen=True)
class EncodingCheck:
    """The chosen encoding's reading and the readings of the candidates that fit a scene."""

    chosen: EncodingReading | None
    likely: list[EncodingReading]

    @property
    def chosen_fits(self) -> bool:
        return self.chosen is not None and self.chosen.scene is not None

    def warning(self, labels: Mapping[str, str] | None = None) -> str | None:
        """A message when the chosen encoding fits no scene and another does (None otherwise), naming the
        encodings by `labels` (encoding name -> label; default the names)."""
        if self.chosen_fits or self.chosen is None or not self.likely:
            return None
        label = (labels or {}).get
        others = " or ".join(f"'{label(r.encoding, r.encoding)}' ({r.describe()})" for r in self.likely)
        return (
            f"read as '{label(self.chosen.encoding, self.chosen.encoding)}' the ground truth spans "
            f"{self.chosen.describe()}; it is likely {others}: check the depth encoding"
        )


def check_encoding(raw: np.ndarray, chosen: str, candidates: Iterable[str] = ("mm", "kitti", "tum")) -> EncodingCheck:
    """`raw` (H, W) stored depth values read with `chosen` and with each of `candidates` (names in `ENCODINGS`):
    the chosen reading and the other candidates' readings that fit a scene of `SCENES`."""
    readings = {name: read_with(raw, name) for name in dict.fromkeys([chosen, *candidates])}
    likely = [r for name, r in readings.items() if name != chosen and r is not None and r.scene is not None]
    return EncodingCheck(readings[chosen], likely)
