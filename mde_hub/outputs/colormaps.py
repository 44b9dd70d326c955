"""Colourising depth maps without matplotlib: Spectral, magma, turbo and gray."""

from __future__ import annotations

import numpy as np

# ColorBrewer "Spectral" (11 classes) and matplotlib "magma" sampled at even steps; turbo is Google's published
# degree-5 polynomial approximation (Mikhailov, 2019).
_ANCHORS: dict[str, list[tuple[float, float, float]]] = {
    "Spectral": [
        (0x9E, 0x01, 0x42), (0xD5, 0x3E, 0x4F), (0xF4, 0x6D, 0x43), (0xFD, 0xAE, 0x61), (0xFE, 0xE0, 0x8B),
        (0xFF, 0xFF, 0xBF), (0xE6, 0xF5, 0x98), (0xAB, 0xDD, 0xA4), (0x66, 0xC2, 0xA5), (0x32, 0x88, 0xBD),
        (0x5E, 0x4F, 0xA2),
    ],
    "magma": [
        (0, 0, 4), (20, 14, 54), (59, 15, 112), (100, 26, 128), (140, 41, 129), (183, 55, 121),
        (222, 73, 104), (247, 112, 92), (254, 159, 109), (254, 207, 146), (252, 253, 191),
    ],
    "gray": [(0, 0, 0), (255, 255, 255)],
}
_TURBO = np.array(
    [
        [0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943],
        [0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604],
        [0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973],
    ]
)
COLORMAPS = ("Spectral", "magma", "turbo", "gray")


def check_colormap(name: str) -> str:
    """`name` if it is one of `COLORMAPS`, else a ValueError listing them."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; choose one of {COLORMAPS}")
    return name


def _apply_colormap(values: np.ndarray, name: str) -> np.ndarray:
    """Map values in [0, 1] to uint8 RGB."""
    check_colormap(name)
    if name == "turbo":
        powers = np.stack([values**k for k in range(6)], axis=-1)
        rgb = np.clip(powers @ _TURBO.T, 0.0, 1.0) * 255.0
    elif name in _ANCHORS:
        anchors = np.asarray(_ANCHORS[name], dtype=np.float64)
        positions = np.linspace(0.0, 1.0, len(anchors))
        rgb = np.stack([np.interp(values, positions, anchors[:, c]) for c in range(3)], axis=-1)
    return np.round(rgb).astype(np.uint8)


def colorize_depth(
    depth: np.ndarray,
    colormap: str = "Spectral",
    value_range: tuple[float, float] | None = None,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
) -> np.ndarray:
    """An (H, W) depth map in metres as an (H, W, 3) uint8 image: near is the warm/bright end of the colormap.

    `value_range` (near, far) in metres fixes the scale, so several maps can share it; by default each map uses
    its own 2nd-98th percentile range. Non-finite or non-positive depths get `invalid_color`.
    """
    depth = np.asarray(depth, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f"expected an (H, W) depth map; got shape {depth.shape}")
    valid = np.isfinite(depth) & (depth > 0)
    if value_range is None:
        value_range = tuple(np.percentile(depth[valid], [2, 98])) if valid.any() else (0.0, 1.0)
    near, far = value_range
    scale = far - near if far > near else 1.0
    normalized = np.clip((np.where(valid, depth, far) - near) / scale, 0.0, 1.0)
    image = _apply_colormap(1.0 - normalized if colormap != "Spectral" else normalized, colormap)
    image[~valid] = invalid_color
    return image


def colorize_error(
    error: np.ndarray, vmax: float, colormap: str = "magma", invalid_color: tuple[int, int, int] = (0, 0, 0)
) -> np.ndarray:
    """An (H, W) non-negative error map as (H, W, 3) uint8: 0 at the dark end of the colormap, `vmax` and above at
    the bright end (Spectral: red). Non-finite errors get `invalid_color`."""
    error = np.asarray(error, dtype=np.float64)
    if error.ndim != 2:
        raise ValueError(f"expected an (H, W) error map; got shape {error.shape}")
    if not vmax > 0:
        raise ValueError(f"vmax must be positive; got {vmax}")
    valid = np.isfinite(error)
    normalized = np.clip(np.where(valid, error, 0.0) / vmax, 0.0, 1.0)
    image = _apply_colormap(1.0 - normalized if colormap == "Spectral" else normalized, colormap)
    image[~valid] = invalid_color
    return image
