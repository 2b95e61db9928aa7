"""Drawing primitives shared by the generator's pictures (garments, shoes, open-domain scenes): colours, the random
similarity frame that maps unit coordinates onto the canvas, backgrounds, the photographic finish (lighting, noise,
2x supersampling box-downsampled to 128x128), the seeded generators of one render, and saving.
"""

from __future__ import annotations

import math
import random
from typing import Iterable

import numpy as np
from PIL import Image

IMAGE_SIZE = 128
_SUPERSAMPLE = 2
_CANVAS = IMAGE_SIZE * _SUPERSAMPLE

Point = tuple[float, float]
RGB = tuple[int, int, int]


def shade(colour: RGB, factor: float) -> RGB:
    """Darken (factor < 1) or lighten towards white (factor > 1) an RGB colour."""
    if factor <= 1.0:
        return tuple(int(c * factor) for c in colour)  # type: ignore[return-value]
    t = min(factor - 1.0, 1.0)
    return tuple(int(c + (255 - c) * t) for c in colour)  # type: ignore[return-value]


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """Linear blend of two colours (t=0 -> a, t=1 -> b)."""
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b))  # type: ignore[return-value]


class Frame:
    """Similarity transform from unit coordinates to canvas pixels (scale, rotation about the centre, shift)."""

    def __init__(self, scale: float, angle_deg: float, shift: Point, size: int = _CANVAS):
        self.size = size
        self.scale = scale * size
        a = math.radians(angle_deg)
        self.cos, self.sin = math.cos(a), math.sin(a)
        self.cx = (0.5 + shift[0]) * size
        self.cy = (0.5 + shift[1]) * size

    def pt(self, x: float, y: float) -> Point:
        """Map one unit-coordinate point to pixels."""
        dx, dy = (x - 0.5) * self.scale, (y - 0.5) * self.scale
        return (self.cx + dx * self.cos - dy * self.sin, self.cy + dx * self.sin + dy * self.cos)

    def pts(self, points: Iterable[Point]) -> list[Point]:
        """Map a sequence of unit-coordinate points to pixels."""
        return [self.pt(x, y) for x, y in points]


def ellipse_points(cx: float, cy: float, rx: float, ry: float, start: float = 0.0, end: float = 360.0,
                   n: int = 20) -> list[Point]:
    """Points along an ellipse arc (degrees, 0 = +x, clockwise on screen), as a polygon approximation.

    Polygons instead of Pillow ellipses because a rotated frame turns circles into rotated ellipses.
    """
    out = []
    for i in range(n + 1):
        a = math.radians(start + (end - start) * i / n)
        out.append((cx + rx * math.cos(a), cy + ry * math.sin(a)))
    return out


def background(rng: random.Random) -> Image.Image:
    """A light studio background with a random tint and, half the time, a vertical gradient."""
    base = (rng.randint(205, 252), rng.randint(205, 252), rng.randint(205, 252))
    img = Image.new("RGB", (_CANVAS, _CANVAS), base)
    if rng.random() < 0.5:
        other = shade(base, rng.uniform(0.82, 0.97))
        img = Image.composite(Image.new("RGB", img.size, other), img, Image.linear_gradient("L").resize(img.size))
    return img


def finish(img: Image.Image, rng: random.Random, nprng: np.random.Generator) -> Image.Image:
    """Downsample to 128x128 and apply per-photo lighting (brightness + directional falloff) and sensor noise."""
    small = img.reduce(_SUPERSAMPLE)
    arr = np.asarray(small, dtype=np.float32)
    brightness = rng.uniform(0.86, 1.1)
    # Directional light: a linear ramp across the image in a random direction.
    angle = rng.uniform(0, 2 * math.pi)
    strength = rng.uniform(0.0, 0.12)
    ramp = np.linspace(-1.0, 1.0, IMAGE_SIZE, dtype=np.float32)
    light = brightness + strength * (math.cos(angle) * ramp[None, :] + math.sin(angle) * ramp[:, None])
    arr = arr * light[:, :, None]
    sigma = rng.uniform(1.5, 6.0)
    arr += nprng.standard_normal(arr.shape, dtype=np.float32) * np.float32(sigma)
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB")


# --- garments ------------------------------------------------------------------------------------------------------


def photo_and_design(seed: int, view_seed: int | None
                      ) -> tuple[random.Random, random.Random, np.random.Generator]:
    """The (photo, design, noise) generators of one render; one shared generator when there is no view seed."""
    design = random.Random(seed)
    if view_seed is None:
        return design, design, np.random.default_rng(seed)
    return random.Random(view_seed), design, np.random.default_rng(view_seed)


def save_image(img: Image.Image, path: str) -> None:
    """Save PNG (fast compression) or JPEG (quality 90) depending on the extension.

    Pillow's encoders are deterministic for fixed settings, so the same pixels give the same bytes.
    """
    if path.endswith(".jpg"):
        img.save(path, "JPEG", quality=90)
    else:
        img.save(path, "PNG", compress_level=1)
