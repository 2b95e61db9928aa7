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
from typing import Mapping

from PIL import Image, ImageDraw

from data_prep.synth_attributes import COLOURS, SHOE_CATEGORY
from data_prep.synth_draw import (  # noqa: F401 (save_image: part of this module's API)
    RGB,
    Frame,
    Point,
    background,
    ellipse_points,
    finish,
    mix,
    photo_and_design,
    save_image,
    shade,
)
from data_prep.synth_render_shoes import render_shoe

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


def render_garment(product: Mapping, seed: int, view_seed: int | None = None) -> Image.Image:
    """Draw a dress, shirt or top (128x128 RGB) showing colour, pattern, sleeves, neckline, length and fit.

    ``view_seed`` photographs the same product again (see the module docstring).
    """
    rng, design, nprng = photo_and_design(seed, view_seed)
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

def render_product(product: Mapping, seed: int, view_seed: int | None = None) -> Image.Image:
    """Render any catalogue product (garment or shoe); ``view_seed`` gives another photo of the same product."""
    if product["category"] == SHOE_CATEGORY:
        return render_shoe(product, seed, view_seed)
    return render_garment(product, seed, view_seed)
