"""Pillow drawing of synthetic shoes in side view from their attributes: type, colours, heel height, finish and
closure (see ``synth_render`` for the garments and what every picture shares).
"""

from __future__ import annotations

from typing import Mapping

from PIL import Image, ImageDraw

from data_prep.synth_attributes import COLOURS
from data_prep.synth_draw import RGB, Frame, Point, background, ellipse_points, finish, photo_and_design, shade

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
    rng, _design, nprng = photo_and_design(seed, view_seed)
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
