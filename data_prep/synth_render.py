"""Pillow drawing of synthetic product photos (garments and shoes) from their attributes.

Each attribute changes the drawing in a way a model can see: sleeve length sets how far the sleeves reach,
dress length moves the hem, heel height lifts the heel, a shiny finish adds specular streaks, and so on.
Per-product variation (position, scale, rotation, lighting, background tint, noise, pattern phase) comes from
the product's own seed, so two products with identical attributes give different images and one product always
gives the same pixels, whichever worker process draws it.

A product can also be photographed several times (``view_seed``): the product's own design (pattern spacing and
phase, flower positions, chest motif) still comes from its seed, while the photo (pose, scale, position, facing,
background, lighting and noise) comes from the view seed. Without a view seed both come from the one seed, in the
order they always did, so catalogues made before views existed are reproduced byte for byte.

Shapes are defined in unit coordinates (0..1, y down) and mapped through a random similarity transform, then
drawn at 2x resolution and box-downsampled to 128x128 for anti-aliasing.
"""

from __future__ import annotations

import math
import random
from typing import Iterable, Mapping

import numpy as np
from PIL import Image, ImageDraw

from data_prep.synth_attributes import COLOURS, SHOE_CATEGORY

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

_SLEEVE_LENGTH = {"sleeveless": 0.0, "short": 0.12, "three_quarter": 0.26, "long": 0.38}
_DRESS_HEM = {"mini": 0.56, "knee": 0.69, "midi": 0.81, "maxi": 0.94}


def _garment_outline(p: Mapping, top: float) -> tuple[list[Point], list[list[Point]]]:
    """Body polygon and sleeve polygons of a garment in unit coordinates."""
    loose = p["fit"] == "loose"
    category = p["category"]
    sleeveless = p["sleeve"] == "sleeveless"
    # Sleeveless garments have narrow shoulder straps; sleeved ones a full shoulder line.
    sw = (0.15 if sleeveless else 0.2) + (0.025 if loose else 0.0)
    neck = 0.075
    armpit_y = top + 0.17
    shoulder_l = (0.5 - sw, top + 0.035)
    if category == "dress":
        waist_y = top + 0.3
        waist = 0.17 if loose else 0.125
        hem_y = _DRESS_HEM[p["length"]]
        flare = (0.3 if loose else 0.13) * (hem_y - waist_y) + (0.06 if loose else 0.045)
        hem = waist + flare
        side = [(0.5 - sw + 0.015, armpit_y), (0.5 - waist, waist_y), (0.5 - hem, hem_y)]
    else:
        hem_y = top + (0.62 if category == "shirt" else 0.58)
        waist_y = top + 0.38
        if category == "shirt":  # boxy cut
            waist, hem = (0.22, 0.23) if loose else (0.175, 0.18)
        else:  # tops taper at the waist more
            waist, hem = (0.21, 0.24) if loose else (0.14, 0.17)
        side = [(0.5 - sw + 0.01, armpit_y), (0.5 - waist, waist_y), (0.5 - hem, hem_y)]
    left = [(0.5 - neck, top), shoulder_l] + side
    right = [(1.0 - x, y) for x, y in reversed(left)]
    if category == "toptee":
        # Curved hem distinguishes tops from the straight-hemmed shirts.
        hem_curve = [(0.5 + (side[-1][0] - 0.5) * math.cos(math.radians(a)), hem_y + 0.03 * math.sin(math.radians(a)))
                     for a in range(10, 171, 20)]
        body = left + hem_curve[::-1] + right
    else:
        body = left + right
    sleeves: list[list[Point]] = []
    length = _SLEEVE_LENGTH[p["sleeve"]]
    if length > 0:
        # Sleeve hangs down-and-out at ~35 degrees; loose fit gives wider sleeves.
        width = 0.1 if loose else 0.085
        ang = math.radians(35)
        dx, dy = math.sin(ang), math.cos(ang)
        outer0 = shoulder_l
        inner0 = (0.5 - sw + 0.015, armpit_y)
        cuff = width * (0.85 if length > 0.3 else 1.0)
        outer1 = (outer0[0] - dx * length, outer0[1] + dy * length)
        # Cuff perpendicular to the sleeve direction.
        inner1 = (outer1[0] + dy * cuff, outer1[1] + dx * cuff)
        left_sleeve = [outer0, outer1, inner1, inner0]
        sleeves = [left_sleeve, [(1.0 - x, y) for x, y in left_sleeve]]
    return body, sleeves


def _draw_pattern(draw: ImageDraw.ImageDraw, frame: Frame, p: Mapping, rng: random.Random, top: float) -> None:
    """Draw the pattern over the whole garment area; the garment mask later clips it."""
    pattern = p["pattern"]
    if pattern == "solid":
        return
    sec: RGB = COLOURS[p["secondary_color"]]
    phase = rng.uniform(0, 1)
    if pattern == "stripes":
        gap = rng.uniform(0.055, 0.075)
        width = gap * rng.uniform(0.35, 0.5)
        y = top - gap * phase
        while y < 1.0:
            draw.polygon(frame.pts([(0.0, y), (1.0, y), (1.0, y + width), (0.0, y + width)]), fill=sec)
            y += gap
    elif pattern == "dots":
        gap = rng.uniform(0.06, 0.08)
        r = gap * rng.uniform(0.18, 0.26)
        row = 0
        y = top - gap * phase
        while y < 1.0:
            x = (gap / 2 if row % 2 else 0.0) - gap * phase
            while x < 1.0:
                draw.polygon(frame.pts(ellipse_points(x, y, r, r, n=8)), fill=sec)
                x += gap
            y += gap
            row += 1
    elif pattern == "checks":
        gap = rng.uniform(0.08, 0.11)
        width = gap * 0.4
        base = COLOURS[p["color"]]
        band = mix(base, sec, 0.6)
        v = -gap * phase
        while v < 1.0:
            draw.polygon(frame.pts([(0.0, v), (1.0, v), (1.0, v + width), (0.0, v + width)]), fill=band)
            draw.polygon(frame.pts([(v, 0.0), (v + width, 0.0), (v + width, 1.0), (v, 1.0)]), fill=band)
            v += gap
        v = -gap * phase
        while v < 1.0:  # darker squares where the bands cross, the classic gingham look
            u = -gap * phase
            while u < 1.0:
                draw.polygon(frame.pts([(u, v), (u + width, v), (u + width, v + width), (u, v + width)]), fill=sec)
                u += gap
            v += gap
    elif pattern == "floral":
        centre = shade(sec, 0.6)
        for _ in range(rng.randint(16, 24)):
            x, y = rng.uniform(0.2, 0.8), rng.uniform(top, 0.97)
            r = rng.uniform(0.013, 0.02)
            for k in range(5):
                a = 2 * math.pi * k / 5 + phase
                draw.polygon(frame.pts(ellipse_points(x + 1.3 * r * math.cos(a), y + 1.3 * r * math.sin(a),
                                                      r, r, n=8)), fill=sec)
            draw.polygon(frame.pts(ellipse_points(x, y, r * 0.7, r * 0.7, n=8)), fill=centre)
    elif pattern == "graphic":
        # One big motif on the chest: a logo-like shape chosen per product.
        cx, cy = 0.5, top + 0.2
        s = rng.uniform(0.07, 0.1)
        motif = rng.randrange(4)
        if motif == 0:
            draw.polygon(frame.pts(star_points(cx, cy, s, s * 0.45)), fill=sec)
        elif motif == 1:
            draw.polygon(frame.pts(ellipse_points(cx, cy, s, s)), fill=sec)
            draw.polygon(frame.pts(ellipse_points(cx, cy, s * 0.55, s * 0.55)), fill=COLOURS[p["color"]])
        elif motif == 2:  # "text" bars
            for k in range(3):
                y = cy - s + k * s * 0.8
                w = s * (1.2 if k != 1 else 0.8)
                draw.polygon(frame.pts([(cx - w, y), (cx + w, y), (cx + w, y + s * 0.45), (cx - w, y + s * 0.45)]),
                             fill=sec)
        else:
            draw.polygon(frame.pts([(cx, cy - s), (cx + s, cy + s * 0.8), (cx - s, cy + s * 0.8)]), fill=sec)


def star_points(cx: float, cy: float, r_out: float, r_in: float, n: int = 5) -> list[Point]:
    """Vertices of an n-pointed star centred on (cx, cy)."""
    pts = []
    for k in range(2 * n):
        r = r_out if k % 2 == 0 else r_in
        a = math.pi * k / n - math.pi / 2
        pts.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return pts


def _draw_neckline(draw: ImageDraw.ImageDraw, frame: Frame, p: Mapping, top: float) -> None:
    """Neck opening (showing the darker inside back of the garment) and, for collars, the collar and placket."""
    base: RGB = COLOURS[p["color"]]
    inside = shade(base, 0.55) if sum(base) > 120 else shade(base, 1.35)
    edge = shade(base, 0.7) if sum(base) > 120 else shade(base, 1.5)
    neck = p["neckline"]
    if neck == "crew":
        draw.polygon(frame.pts(ellipse_points(0.5, top, 0.075, 0.045, 0, 180, 12)), fill=inside, outline=edge)
    elif neck == "scoop":
        draw.polygon(frame.pts(ellipse_points(0.5, top, 0.105, 0.11, 0, 180, 14)), fill=inside, outline=edge)
    elif neck == "v_neck":
        draw.polygon(frame.pts([(0.42, top), (0.58, top), (0.5, top + 0.15)]), fill=inside, outline=edge)
    else:  # collar: small opening, two collar points, a placket with buttons
        draw.polygon(frame.pts(ellipse_points(0.5, top, 0.065, 0.035, 0, 180, 10)), fill=inside)
        collar = shade(base, 1.25) if sum(base) < 600 else shade(base, 0.85)
        for side in (-1, 1):
            pts = [(0.5 + side * 0.075, top - 0.012), (0.5 + side * 0.005, top + 0.07), (0.5 + side * 0.1, top + 0.06)]
            draw.polygon(frame.pts(pts), fill=collar, outline=edge)
        draw.line(frame.pts([(0.5, top + 0.07), (0.5, top + 0.5)]), fill=edge, width=2)
        for k in range(4):
            y = top + 0.11 + k * 0.1
            draw.polygon(frame.pts(ellipse_points(0.515, y, 0.008, 0.008, n=6)), fill=edge)


def _photo_and_design(seed: int, view_seed: int | None
                       ) -> tuple[random.Random, random.Random, np.random.Generator]:
    """The (photo, design, noise) generators of one render; one shared generator when there is no view seed."""
    design = random.Random(seed)
    if view_seed is None:
        return design, design, np.random.default_rng(seed)
    return random.Random(view_seed), design, np.random.default_rng(view_seed)


def render_garment(product: Mapping, seed: int, view_seed: int | None = None) -> Image.Image:
    """Draw a dress, shirt or top (128x128 RGB) showing colour, pattern, sleeves, neckline, length and fit.

    ``view_seed`` photographs the same product again (see the module docstring).
    """
    rng, design, nprng = _photo_and_design(seed, view_seed)
    img = background(rng)
    is_dress = product["category"] == "dress"
    top = 0.07 if is_dress else 0.16
    scale = rng.uniform(0.86, 1.0) if is_dress else rng.uniform(0.85, 1.05)
    frame = Frame(scale, rng.uniform(-6, 6), (rng.uniform(-0.05, 0.05), rng.uniform(-0.03, 0.03)))
    base: RGB = COLOURS[product["color"]]
    body, sleeves = _garment_outline(product, top)

    # Fabric layer (colour + pattern) pasted through the silhouette mask.
    fabric = Image.new("RGB", img.size, base)
    fdraw = ImageDraw.Draw(fabric)
    _draw_pattern(fdraw, frame, product, design, top)
    _draw_neckline(fdraw, frame, product, top)
    mask = Image.new("L", img.size, 0)
    mdraw = ImageDraw.Draw(mask)
    for poly in sleeves + [body]:
        mdraw.polygon(frame.pts(poly), fill=255)
    img.paste(fabric, (0, 0), mask)

    # Seams and outline in a darker shade give the silhouette a crisp edge on any background.
    edge = shade(base, 0.6) if sum(base) > 150 else shade(base, 1.6)
    draw = ImageDraw.Draw(img)
    for poly in sleeves + [body]:
        pts = frame.pts(poly)
        draw.line(pts + [pts[0]], fill=edge, width=2)
    if is_dress:
        # Waist seam marks where bodice meets skirt, making the skirt length readable.
        waist_y = top + 0.3
        w = 0.17 if product["fit"] == "loose" else 0.125
        draw.line(frame.pts([(0.5 - w, waist_y), (0.5 + w, waist_y)]), fill=edge, width=2)
    return finish(img, rng, nprng)


# --- shoes ---------------------------------------------------------------------------------------------------------

_HEEL_HEIGHT = {"flat": 0.0, "low": 0.06, "mid": 0.12, "high": 0.19}
_GROUND = 0.76
_SOLE = {"sneaker": 0.05, "running_shoe": 0.065, "clog": 0.08, "rain_boot": 0.035}


def _shoe_upper(t: str, h: float) -> list[Point]:
    """Upper (the body above the sole) of a shoe type in side view, toe to the right, heel height ``h``."""
    g = _GROUND
    if t in ("sneaker", "running_shoe"):
        return [(0.12, g - 0.05), (0.13, g - 0.2), (0.3, g - 0.22), (0.45, g - 0.25), (0.5, g - 0.2),
                (0.72, g - 0.13), (0.86, g - 0.09), (0.9, g - 0.05)]
    if t in ("boot", "rain_boot", "ankle_boot"):
        shaft_top = {"boot": 0.08, "rain_boot": 0.12, "ankle_boot": 0.36}[t]
        back = 0.14
        front = 0.38 if t != "rain_boot" else 0.41
        return [(back, g - h - 0.02), (back + 0.01, shaft_top), (front, shaft_top),
                (front + 0.01, g - h * 0.5 - 0.16), (0.6, g - 0.12 - h * 0.2), (0.82, g - 0.08), (0.89, g - 0.03)]
    if t == "clog":
        return [(0.38, g - 0.05), (0.45, g - 0.2), (0.6, g - 0.22), (0.78, g - 0.16), (0.89, g - 0.08),
                (0.9, g - 0.05)]
    if t == "sandal":
        return []  # straps only, drawn separately
    # Low-cut shoes (pump, stiletto, flat, bridal): heel counter, a dipping top line and the vamp.
    toe = 0.92 if t in ("pump", "stiletto", "bridal") else 0.88
    return [(0.13, g - h - 0.01), (0.13, g - h - 0.11), (0.22, g - h - 0.1), (0.42, g - h * 0.45 - 0.05),
            (0.56, g - h * 0.2 - 0.1), (0.74, g - 0.07), (toe, g - 0.015)]


def _shoe_sole(t: str, h: float) -> list[Point]:
    """Sole polygon: rises from the ball of the foot to the heel seat when there is a heel."""
    g = _GROUND
    th = _SOLE.get(t, 0.025)
    toe = 0.92 if t in ("pump", "stiletto", "bridal") else 0.9
    ball = 0.62
    top = [(0.12, g - h - th), (0.35, g - h * 0.7 - th), (ball, g - th), (toe, g - th * 0.8)]
    bottom = [(toe, g), (ball, g), (0.35, g - h * 0.7), (0.12, g - h)]
    return top + bottom


def _shoe_heel(t: str, h: float) -> list[Point]:
    """Heel block under the heel seat; stilettos get a thin spike."""
    g = _GROUND
    if h <= 0:
        return []
    if t == "stiletto":
        return [(0.13, g - h), (0.2, g - h), (0.175, g), (0.16, g)]
    chunky = t in ("boot", "ankle_boot", "clog", "rain_boot")
    w_top, w_bot = (0.1, 0.085) if chunky else (0.085, 0.04)
    return [(0.12, g - h), (0.12 + w_top, g - h), (0.12 + w_top - 0.005, g), (0.12 + w_top - w_bot, g)]


def render_shoe(product: Mapping, seed: int, view_seed: int | None = None) -> Image.Image:
    """Draw one shoe in side view (128x128 RGB) showing type, colours, heel height, finish and closure.

    A shoe has no design randomness of its own: with ``view_seed`` every random choice is the photo's.
    """
    rng, _design, nprng = _photo_and_design(seed, view_seed)
    img = background(rng)
    frame = Frame(rng.uniform(0.85, 1.05), rng.uniform(-7, 7), (rng.uniform(-0.05, 0.05), rng.uniform(-0.03, 0.05)))
    draw = ImageDraw.Draw(img)
    h = _HEEL_HEIGHT[product["heel"]]
    base: RGB = COLOURS[product["color"]]
    sec: RGB = COLOURS[product["secondary_color"]]
    edge = shade(base, 0.55) if sum(base) > 150 else shade(base, 1.7)
    _draw_shoe_body(draw, frame, product, base, sec, edge, h, ground_shade=shade(img.getpixel((5, 5)), 0.8))
    _draw_shoe_closure(draw, frame, product, base, sec, edge, h)
    _draw_shoe_shine(draw, frame, product, base, sec, edge, h)
    if rng.random() < 0.5:  # product shots face either way
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return finish(img, rng, nprng)


def _draw_shoe_body(draw: ImageDraw.ImageDraw, frame: Frame, product: Mapping, base: RGB, sec: RGB, edge: RGB,
                    h: float, ground_shade: RGB) -> None:
    """The ground shadow, heel, upper (or a sandal's straps), sole and the type's own marks (stripe, bow)."""
    t, g = product["type"], _GROUND
    # Soft ground shadow anchors the shoe.
    draw.polygon(frame.pts(ellipse_points(0.52, g + 0.015, 0.4, 0.02, n=16)), fill=ground_shade)
    heel = _shoe_heel(t, h)
    if heel:
        draw.polygon(frame.pts(heel), fill=shade(sec, 0.85), outline=shade(sec, 0.6))
    upper = _shoe_upper(t, h)
    if upper:
        sole_top = _shoe_sole(t, h)[:4]
        body = upper + list(reversed(sole_top))
        draw.polygon(frame.pts(body), fill=base, outline=edge)
    else:  # sandal: a foot bed plus straps
        for x0, x1, y0 in ((0.6, 0.72, 0.1), (0.72, 0.84, 0.07), (0.4, 0.5, 0.08)):
            ys = g - h * max(0.0, (0.62 - x0) / 0.5) - 0.02
            draw.polygon(frame.pts([(x0, ys), (x0 + 0.04, ys - y0), (x1, ys - y0 + 0.02), (x1, ys)]),
                         fill=base, outline=edge)
    draw.polygon(frame.pts(_shoe_sole(t, h)), fill=sec, outline=shade(sec, 0.6))
    if t == "running_shoe":  # side stripe in the trim colour
        draw.line(frame.pts([(0.3, g - 0.08), (0.5, g - 0.16), (0.7, g - 0.1)]), fill=sec, width=6)
    if t == "bridal":  # bow on the vamp
        cx, cy = 0.7, g - 0.085
        bow = shade(base, 1.3) if sum(base) < 600 else shade(sec, 1.0)
        draw.polygon(frame.pts([(cx, cy), (cx - 0.05, cy - 0.035), (cx - 0.05, cy + 0.03)]), fill=bow, outline=edge)
        draw.polygon(frame.pts([(cx, cy), (cx + 0.05, cy - 0.035), (cx + 0.05, cy + 0.03)]), fill=bow, outline=edge)
        draw.polygon(frame.pts(ellipse_points(cx, cy, 0.012, 0.012, n=8)), fill=edge)


def _draw_shoe_closure(draw: ImageDraw.ImageDraw, frame: Frame, product: Mapping, base: RGB, sec: RGB, edge: RGB, h: float) -> None:
    """Laces (criss-cross), a strap with its buckle, or nothing (slip-on)."""
    t, g = product["type"], _GROUND
    closure = product["closure"]
    lace: RGB = (245, 245, 240) if sum(base) < 450 else (30, 30, 30)
    if closure == "laces":
        if t in ("boot", "ankle_boot"):
            xs, y0, y1 = (0.36, 0.4), (0.1 if t == "boot" else 0.38), g - 0.18
        else:  # along the top of the vamp, from the tongue towards the toe
            xs, y0, y1 = (0.46, 0.64), g - 0.2, g - 0.125
        n = 6
        pts = []
        for k in range(n):
            u = k / (n - 1)
            x = xs[0] + (xs[1] - xs[0]) * u
            y = y0 + (y1 - y0) * u
            pts.append(((x - 0.03, y - 0.01), (x + 0.03, y + 0.025)))
        for (a, b), (c, d) in zip(pts, pts[1:]):  # criss-cross laces
            draw.line(frame.pts([a, d]), fill=lace, width=4)
            draw.line(frame.pts([b, c]), fill=lace, width=4)
    elif closure == "strap":
        # The strap contrasts with the upper so that it reads on dark shoes too.
        strap_colour = shade(base, 1.5) if sum(base) < 300 else shade(base, 0.72)
        if t in ("sneaker", "running_shoe"):  # hook-and-loop strap across the vamp
            strap = [(0.44, g - 0.25), (0.52, g - 0.2), (0.6, g - 0.1), (0.52, g - 0.1)]
            buckle = (0.56, g - 0.13)
        elif t in ("boot", "rain_boot", "ankle_boot"):
            y = (0.2 if t != "ankle_boot" else 0.42)
            strap = [(0.13, y), (0.4, y - 0.02), (0.4, y + 0.025), (0.13, y + 0.045)]
            buckle = (0.37, y + 0.005)
        else:  # ankle strap rising from the heel counter
            y = g - h - 0.17
            strap = [(0.14, y), (0.34, y - 0.02), (0.34, y + 0.025), (0.14, y + 0.045)]
            buckle = (0.31, y + 0.005)
            draw.line(frame.pts([(0.17, y + 0.04), (0.17, g - h - 0.08)]), fill=strap_colour, width=4)
        draw.polygon(frame.pts(strap), fill=strap_colour, outline=edge)
        draw.polygon(frame.pts(ellipse_points(*buckle, 0.014, 0.014, n=8)), fill=(215, 190, 80), outline=edge)


def _draw_shoe_shine(draw: ImageDraw.ImageDraw, frame: Frame, product: Mapping, base: RGB, sec: RGB, edge: RGB, h: float) -> None:
    """Specular streaks along the upper: the visual cue for a shiny ("patent") finish."""
    t, g = product["type"], _GROUND
    if product["finish"] == "shiny":
        # Specular streaks: near-white curves along the upper, the visual cue for "shiny"/"patent".
        hi = shade(base, 1.75)
        if t in ("boot", "rain_boot", "ankle_boot"):
            streaks = [[(0.2, 0.2 if t != "ankle_boot" else 0.42), (0.21, g - 0.2)],
                       [(0.6, g - 0.115), (0.78, g - 0.075)]]
        elif t == "sandal":
            streaks = [[(0.62, g - h * 0.0 - 0.09), (0.7, g - 0.08)]]
        elif t in ("sneaker", "running_shoe", "clog"):
            streaks = [[(0.6, g - 0.12), (0.74, g - 0.09), (0.84, g - 0.065)], [(0.2, g - 0.17), (0.32, g - 0.18)]]
        else:  # low-cut: along the vamp and down the heel counter
            streaks = [[(0.57, g - 0.075), (0.7, g - 0.062), (0.83, g - 0.04)],
                       [(0.155, g - h - 0.09), (0.16, g - h - 0.035)]]
        for s in streaks:
            draw.line(frame.pts(s), fill=hi, width=6)
            draw.line(frame.pts(s), fill=(255, 255, 255), width=2)


def render_product(product: Mapping, seed: int, view_seed: int | None = None) -> Image.Image:
    """Render any catalogue product (garment or shoe); ``view_seed`` gives another photo of the same product."""
    if product["category"] == SHOE_CATEGORY:
        return render_shoe(product, seed, view_seed)
    return render_garment(product, seed, view_seed)


def save_image(img: Image.Image, path: str) -> None:
    """Save PNG (fast compression) or JPEG (quality 90) depending on the extension.

    Pillow's encoders are deterministic for fixed settings, so the same pixels give the same bytes.
    """
    if path.endswith(".jpg"):
        img.save(path, "JPEG", quality=90)
    else:
        img.save(path, "PNG", compress_level=1)
