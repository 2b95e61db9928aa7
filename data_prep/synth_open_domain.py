"""Open-domain (non-fashion) image-caption scenes for stage-1 image-text pre-training.

A scene is one or two groups of simple objects (circle, star, house, tree, car, cup, ...) with a colour, a
count (1-4), a size and a position, on a coloured background. The caption is generated from the same scene dict
that the renderer draws, so it is always true: "two small red stars on a white background", "a blue car on the
left and a green tree on the right". Colour, count, size and position words are exactly the kind of grounding a
contrastive image-text model has to learn before it can read fashion modification texts.
"""

from __future__ import annotations

import math
import random
from types import MappingProxyType
from typing import Mapping

import numpy as np
from PIL import Image, ImageDraw

from data_prep.synth_attributes import COLOURS, luminance
from data_prep.synth_captions import colour_word
from data_prep.synth_render import Frame, ellipse_points, finish, shade, star_points

OBJECT_PLURALS: Mapping[str, str] = MappingProxyType(
    {
        "circle": "circles", "square": "squares", "triangle": "triangles", "star": "stars", "heart": "hearts",
        "house": "houses", "tree": "trees", "car": "cars", "cup": "cups", "flower": "flowers", "moon": "moons",
        "fish": "fish",
    }
)
OBJECTS = tuple(OBJECT_PLURALS)

BACKGROUNDS: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "white": (246, 246, 244), "black": (22, 22, 26), "gray": (150, 150, 154), "light blue": (172, 210, 240),
        "green": (120, 188, 110), "beige": (226, 212, 172), "pale pink": (246, 204, 218),
        "pale yellow": (250, 240, 172),
    }
)
POSITIONS = ("left", "right", "top", "bottom", "centre")
_OPPOSITE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top", "centre": "top"}
# Region (x0, x1, y0, y1) in unit coordinates where an object at that position may sit.
_REGIONS = {
    "left": (0.04, 0.46, 0.15, 0.85), "right": (0.54, 0.96, 0.15, 0.85), "top": (0.15, 0.85, 0.04, 0.46),
    "bottom": (0.15, 0.85, 0.54, 0.96), "centre": (0.28, 0.72, 0.28, 0.72), None: (0.04, 0.96, 0.1, 0.9),
}
_SIZE_RANGE = {"small": (0.07, 0.09), "large": (0.15, 0.19)}
_COUNT_WORDS = {2: "two", 3: "three", 4: "four"}


# Object colours never used on a background of the same hue family ("a green tree on a green background").
_SAME_HUE = {"white": "white", "black": "black", "gray": "grey", "light blue": "blue", "green": "green",
             "beige": "beige", "pale pink": "pink", "pale yellow": "yellow"}


def _visible_colour(rng: random.Random, background: str) -> str:
    """An object colour that stands out from the background (luminance gap), so the caption's colour is visible."""
    bg_lum = sum(w * c for w, c in zip((0.299, 0.587, 0.114), BACKGROUNDS[background]))
    names = [c for c in COLOURS if c != _SAME_HUE[background] and abs(luminance(c) - bg_lum) >= 50]
    return rng.choice(names)


def sample_scene(rng: random.Random) -> dict:
    """Draw a random scene description: background and one or two object groups."""
    background = rng.choice(tuple(BACKGROUNDS))
    two_groups = rng.random() < 0.35
    count = 1 if two_groups else rng.choices((1, 2, 3, 4), weights=(0.45, 0.25, 0.18, 0.12))[0]
    kind = rng.choice(OBJECTS)
    if count == 1:
        position = rng.choice(POSITIONS if not two_groups else POSITIONS[:4])
    else:
        position = None  # several objects are laid out in a row across the picture
    size = rng.choice(("small", "large")) if count <= 2 else "small"
    groups = [{"kind": kind, "color": _visible_colour(rng, background), "count": count, "size": size,
               "position": position}]
    if two_groups:
        other = rng.choice([o for o in OBJECTS if o != kind])
        groups.append({"kind": other, "color": _visible_colour(rng, background), "count": 1,
                       "size": rng.choice(("small", "large")), "position": _OPPOSITE[position]})
    return {"background": background, "groups": groups}


def _group_words(group: Mapping, rng: random.Random) -> str:
    """'two small red stars', 'a big blue car', 'an orange cup' ..."""
    colour = colour_word(group["color"], rng)
    size = rng.choice({"small": ("small", "little", "small"), "large": ("large", "big", "large")}[group["size"]])
    words = [size, colour] if rng.random() < 0.8 else [colour]
    noun = group["kind"] if group["count"] == 1 else OBJECT_PLURALS[group["kind"]]
    body = " ".join(words + [noun])
    if group["count"] == 1:
        return f"{'an' if body[0] in 'aeiou' else 'a'} {body}"
    return f"{_COUNT_WORDS[group['count']]} {body}"


def _position_words(position: str | None, rng: random.Random) -> str:
    return rng.choice({
        "left": ("on the left", "on the left side"), "right": ("on the right", "on the right side"),
        "top": ("at the top", "near the top"), "bottom": ("at the bottom", "near the bottom"),
        "centre": ("in the centre", "in the center", "in the middle"), None: ("in a row", "side by side"),
    }[position])


def scene_caption(scene: Mapping, rng: random.Random) -> str:
    """A true caption for ``scene``, with varied wording and word order."""
    groups = scene["groups"]
    bg = f"{rng.choice(('on a', 'against a', 'with a'))} {scene['background']} background"
    g1 = _group_words(groups[0], rng)
    if len(groups) == 1:
        where = _position_words(groups[0]["position"], rng)
        parts = [g1, where] if rng.random() < 0.7 else [g1]
        if rng.random() < 0.75:
            parts.append(bg)
        text = " ".join(parts)
    else:
        g2 = _group_words(groups[1], rng)
        p1, p2 = groups[0]["position"], groups[1]["position"]
        relation = {("left", "right"): "to the left of", ("right", "left"): "to the right of",
                    ("top", "bottom"): "above", ("bottom", "top"): "below"}[(p1, p2)]
        if rng.random() < 0.5:
            text = f"{g1} {relation} {g2}"
        else:
            text = f"{g1} {_position_words(p1, rng)} and {g2} {_position_words(p2, rng)}"
        if rng.random() < 0.5:
            text += f" {bg}"
    prefix = rng.choice(("", "", "", "a picture of ", "an image of ", "a drawing of "))
    return prefix + text


def _draw_object(draw: ImageDraw.ImageDraw, frame: Frame, kind: str, cx: float, cy: float, s: float,
                 colour: tuple[int, int, int], bg: tuple[int, int, int]) -> None:
    """Draw one object centred at (cx, cy) with half-size ``s`` (unit coordinates)."""
    edge = shade(colour, 0.6) if sum(colour) > 150 else shade(colour, 1.6)
    poly = lambda pts, fill=colour: draw.polygon(frame.pts(pts), fill=fill, outline=edge)  # noqa: E731
    if kind == "circle":
        poly(ellipse_points(cx, cy, s, s, n=28))
    elif kind == "square":
        poly([(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)])
    elif kind == "triangle":
        poly([(cx, cy - s), (cx + s, cy + s * 0.85), (cx - s, cy + s * 0.85)])
    elif kind == "star":
        poly(star_points(cx, cy, s, s * 0.45))
    elif kind == "heart":
        r = s * 0.52
        poly(ellipse_points(cx - r * 0.9, cy - s * 0.35, r, r, n=16))
        poly(ellipse_points(cx + r * 0.9, cy - s * 0.35, r, r, n=16))
        draw.polygon(frame.pts([(cx - s * 0.95, cy - s * 0.2), (cx + s * 0.95, cy - s * 0.2), (cx, cy + s)]),
                     fill=colour)
    elif kind == "house":
        poly([(cx - s * 0.75, cy - s * 0.1), (cx + s * 0.75, cy - s * 0.1), (cx + s * 0.75, cy + s),
              (cx - s * 0.75, cy + s)])
        poly([(cx - s, cy - s * 0.05), (cx, cy - s), (cx + s, cy - s * 0.05)], shade(colour, 0.7))
        poly([(cx - s * 0.15, cy + s * 0.4), (cx + s * 0.15, cy + s * 0.4), (cx + s * 0.15, cy + s),
              (cx - s * 0.15, cy + s)], shade(colour, 0.5))
    elif kind == "tree":
        draw.polygon(frame.pts([(cx - s * 0.15, cy + s * 0.2), (cx + s * 0.15, cy + s * 0.2), (cx + s * 0.15, cy + s),
                                (cx - s * 0.15, cy + s)]), fill=(110, 70, 35))
        poly(ellipse_points(cx, cy - s * 0.25, s * 0.75, s * 0.7, n=24))
    elif kind == "car":
        poly([(cx - s, cy - s * 0.1), (cx + s, cy - s * 0.1), (cx + s, cy + s * 0.45), (cx - s, cy + s * 0.45)])
        poly([(cx - s * 0.55, cy - s * 0.1), (cx - s * 0.35, cy - s * 0.6), (cx + s * 0.35, cy - s * 0.6),
              (cx + s * 0.55, cy - s * 0.1)])
        for wx in (-0.55, 0.55):
            draw.polygon(frame.pts(ellipse_points(cx + wx * s, cy + s * 0.45, s * 0.22, s * 0.22, n=12)),
                         fill=(25, 25, 25))
    elif kind == "cup":
        draw.polygon(frame.pts(ellipse_points(cx + s * 0.6, cy, s * 0.35, s * 0.35, n=16)), outline=edge,
                     fill=bg, width=3)
        poly([(cx - s * 0.7, cy - s * 0.7), (cx + s * 0.7, cy - s * 0.7), (cx + s * 0.5, cy + s * 0.8),
              (cx - s * 0.5, cy + s * 0.8)])
    elif kind == "flower":
        draw.line(frame.pts([(cx, cy), (cx, cy + s)]), fill=(40, 140, 50), width=4)
        for k in range(6):
            a = 2 * math.pi * k / 6
            poly(ellipse_points(cx + s * 0.4 * math.cos(a), cy - s * 0.2 + s * 0.4 * math.sin(a), s * 0.3, s * 0.3,
                                n=12))
        draw.polygon(frame.pts(ellipse_points(cx, cy - s * 0.2, s * 0.22, s * 0.22, n=12)), fill=(250, 220, 60))
    elif kind == "moon":
        poly(ellipse_points(cx, cy, s, s, n=28))
        draw.polygon(frame.pts(ellipse_points(cx + s * 0.45, cy - s * 0.2, s * 0.85, s * 0.85, n=28)), fill=bg)
    elif kind == "fish":
        poly([(cx + s * 0.35, cy), (cx + s, cy - s * 0.5), (cx + s, cy + s * 0.5)])
        poly(ellipse_points(cx - s * 0.15, cy, s * 0.65, s * 0.4, n=20))
        draw.polygon(frame.pts(ellipse_points(cx - s * 0.5, cy - s * 0.08, s * 0.07, s * 0.07, n=8)),
                     fill=(20, 20, 20))
    else:
        raise ValueError(f"unknown object kind {kind!r}")


def render_scene(scene: Mapping, seed: int) -> Image.Image:
    """Draw a scene (128x128 RGB); object placement inside its region and noise come from ``seed``."""
    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    bg = tuple(max(0, min(255, c + rng.randint(-8, 8))) for c in BACKGROUNDS[scene["background"]])
    img = Image.new("RGB", (256, 256), bg)
    draw = ImageDraw.Draw(img)
    frame = Frame(1.0, 0.0, (0.0, 0.0))
    for group in scene["groups"]:
        x0, x1, y0, y1 = _REGIONS[group["position"]]
        n = group["count"]
        lo, hi = _SIZE_RANGE[group["size"]]
        slot = (x1 - x0) / n
        s = min(rng.uniform(lo, hi), slot / 2 - 0.01)
        cy = rng.uniform(y0 + s, y1 - s)
        for k in range(n):
            # One slot per object so that counts are never hidden by overlaps.
            sx0 = x0 + k * slot
            cx = rng.uniform(sx0 + s, sx0 + slot - s)
            jitter = rng.uniform(-0.04, 0.04) if n > 1 else 0.0
            _draw_object(draw, frame, group["kind"], cx, min(max(cy + jitter, y0 + s), y1 - s), s,
                         COLOURS[group["color"]], bg)
    return finish(img, rng, nprng)
