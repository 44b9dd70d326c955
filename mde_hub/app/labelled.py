"""Depth maps as the gallery shows them: the colour map with its caption drawn above it and a colour bar with
ticks (metres, or relative units) below it, so every map stays labelled however the page lays out the gallery."""

from __future__ import annotations

import numpy as np
import PIL.Image
import PIL.ImageDraw
import PIL.ImageFont

from mde_hub.outputs.colormaps import colorize_depth

BAR_TICKS = 5


def _font(width: int) -> PIL.ImageFont.FreeTypeFont | PIL.ImageFont.ImageFont:
    """PIL's built-in font sized to about a fortieth of the map's width (at least 11 px)."""
    return PIL.ImageFont.load_default(size=max(11, width // 40))


def _text_strip(lines: list[str], width: int, font) -> PIL.Image.Image:
    line_height = font.size + 4 if hasattr(font, "size") else 14
    strip = PIL.Image.new("RGB", (width, line_height * len(lines) + 4), "white")
    draw = PIL.ImageDraw.Draw(strip)
    for row, line in enumerate(lines):
        draw.text((4, 2 + row * line_height), line, fill="black", font=font)
    return strip


def colour_bar(width: int, value_range: tuple[float, float], colormap: str, unit: str) -> np.ndarray:
    """A colour bar `width` pixels wide: the colours of `colorize_depth` from near (left) to far (right) over
    `value_range`, above `BAR_TICKS` tick labels in `unit` ("m", or "relative")."""
    near, far = value_range
    font = _font(width)
    gradient = np.linspace(near, far, width)[None, :].repeat(max(8, width // 40), axis=0)
    bar = PIL.Image.fromarray(colorize_depth(np.maximum(gradient, 1e-9), colormap, (near, far)))
    labels = PIL.Image.new("RGB", (width, font.size + 8 if hasattr(font, "size") else 18), "white")
    draw = PIL.ImageDraw.Draw(labels)
    for index, value in enumerate(np.linspace(near, far, BAR_TICKS)):
        text = f"{value:.3g}" + (f" {unit}" if index == BAR_TICKS - 1 else "")
        text_width = draw.textlength(text, font=font)
        x = index * (width - 1) / (BAR_TICKS - 1)
        draw.line([(x, 0), (x, 3)], fill="black")
        draw.text((min(max(0.0, x - text_width / 2), width - text_width), 3), text, fill="black", font=font)
    canvas = PIL.Image.new("RGB", (width, bar.height + labels.height), "white")
    canvas.paste(bar, (0, 0))
    canvas.paste(labels, (0, bar.height))
    return np.asarray(canvas)


def labelled_map(
    color: np.ndarray, caption: list[str], value_range: tuple[float, float], colormap: str, unit: str
) -> np.ndarray:
    """`color` (H, W, 3) with the `caption` lines drawn above it and its `colour_bar` below it."""
    height, width = color.shape[:2]
    font = _font(width)
    top = _text_strip(caption, width, font)
    bottom = colour_bar(width, value_range, colormap, unit)
    canvas = PIL.Image.new("RGB", (width, top.height + height + bottom.shape[0]), "white")
    canvas.paste(top, (0, 0))
    canvas.paste(PIL.Image.fromarray(color), (0, top.height))
    canvas.paste(PIL.Image.fromarray(bottom), (0, top.height + height))
    return np.asarray(canvas)
