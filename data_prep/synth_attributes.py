"""Attribute vocabularies of the synthetic catalogue, product sampling and similar-pair construction.

A product is a plain ``dict`` of attribute name -> value (strings, ``None`` where an attribute does not apply),
so it can be written to JSON and sent to worker processes unchanged. Every attribute listed here is drawn
visibly by :mod:`data_prep.synth_render`, which is what makes the relative captions learnable.

All randomness comes from a caller-supplied :class:`random.Random`, so a seed fixes the whole catalogue.
"""

from __future__ import annotations

import random
from types import MappingProxyType
from typing import Mapping

# Named colours with their sRGB value. Read-only (MappingProxyType) because these tables are shared by every module.
COLOURS: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "black": (28, 28, 32),
        "white": (242, 242, 238),
        "grey": (128, 128, 132),
        "red": (205, 32, 38),
        "blue": (40, 95, 215),
        "navy": (24, 34, 92),
        "green": (38, 150, 62),
        "yellow": (242, 212, 42),
        "pink": (242, 142, 182),
        "purple": (122, 52, 152),
        "orange": (242, 132, 30),
        "brown": (112, 66, 34),
        "beige": (216, 196, 160),
        "burgundy": (112, 22, 44),
        "teal": (0, 128, 128),
    }
)

# Colours a shopper mentions most; weights make black/white/blue products commoner, as in real catalogues.
COLOUR_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "black": 3.0, "white": 2.5, "grey": 1.5, "red": 1.5, "blue": 1.5, "navy": 1.2, "green": 1.0,
        "yellow": 0.8, "pink": 1.2, "purple": 0.9, "orange": 0.7, "brown": 1.0, "beige": 1.0,
        "burgundy": 0.7, "teal": 0.6,
    }
)

GARMENT_CATEGORIES = ("dress", "shirt", "toptee")
SHOE_CATEGORY = "shoes"

PATTERNS = ("solid", "stripes", "dots", "checks", "floral", "graphic")
SLEEVES = ("sleeveless", "short", "three_quarter", "long")  # ordered: shorter -> longer
NECKLINES = ("collar", "crew", "scoop", "v_neck")  # ordered by depth: higher -> lower neckline
DRESS_LENGTHS = ("mini", "knee", "midi", "maxi")  # ordered: shorter -> longer
FITS = ("fitted", "loose")

SHOE_TYPES = (
    "sneaker", "running_shoe", "pump", "flat", "stiletto", "rain_boot", "sandal", "clog", "boot", "ankle_boot",
    "bridal",
)
HEELS = ("flat", "low", "mid", "high")  # ordered: lower -> higher
FINISHES = ("matte", "shiny")
CLOSURES = ("laces", "strap", "none")

# Attribute Discovery folder (womens_<folder>) for each shoe type; boots and ankle boots share one folder,
# as they do in the real data.
SHOE_FOLDERS: Mapping[str, str] = MappingProxyType(
    {
        "sneaker": "sneakers", "running_shoe": "athletic_shoes", "pump": "pumps", "flat": "flats",
        "stiletto": "stiletto", "rain_boot": "rain_boots", "sandal": "high_heels", "clog": "clogs",
        "boot": "boots", "ankle_boot": "boots", "bridal": "wedding_shoes",
    }
)

# Which heels and closures each shoe type can physically have; sampling and mutation respect these so that no
# image shows e.g. a flat stiletto.
SHOE_ALLOWED_HEELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sneaker": ("flat",), "running_shoe": ("flat",), "pump": ("mid", "high"), "flat": ("flat",),
        "stiletto": ("high",), "rain_boot": ("flat", "low"), "sandal": ("low", "mid", "high"),
        "clog": ("flat", "low"), "boot": ("flat", "low", "mid", "high"), "ankle_boot": ("low", "mid", "high"),
        "bridal": ("low", "mid", "high"),
    }
)
SHOE_ALLOWED_CLOSURES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "sneaker": ("laces", "strap"), "running_shoe": ("laces", "strap"), "pump": ("none", "strap"),
        "flat": ("none", "strap"), "stiletto": ("none", "strap"), "rain_boot": ("none", "strap"),
        "sandal": ("strap",), "clog": ("none", "strap"), "boot": ("laces", "none", "strap"),
        "ankle_boot": ("laces", "none", "strap"), "bridal": ("none", "strap"),
    }
)

# How dressy each shoe type is; captions may say "is dressier" / "more casual" only when this moves by >= 2.
SHOE_FORMALITY: Mapping[str, int] = MappingProxyType(
    {
        "sneaker": 0, "running_shoe": 0, "clog": 1, "rain_boot": 1, "flat": 2, "boot": 2, "ankle_boot": 2,
        "sandal": 3, "pump": 4, "stiletto": 4, "bridal": 5,
    }
)

# Per-category sampling weights: real dresses are often sleeveless, men's shirts collared, and so on.
_SLEEVE_WEIGHTS = {
    "dress": (0.35, 0.30, 0.15, 0.20),
    "shirt": (0.10, 0.45, 0.07, 0.38),
    "toptee": (0.30, 0.35, 0.15, 0.20),
}
_NECKLINE_WEIGHTS = {
    "dress": (0.08, 0.32, 0.30, 0.30),
    "shirt": (0.45, 0.33, 0.07, 0.15),
    "toptee": (0.12, 0.33, 0.27, 0.28),
}
_PATTERN_WEIGHTS = (0.42, 0.13, 0.10, 0.10, 0.13, 0.12)


def luminance(colour: str) -> float:
    """Perceived brightness (0-255) of a named colour; captions use it for "darker"/"lighter"."""
    r, g, b = COLOURS[colour]
    return 0.299 * r + 0.587 * g + 0.114 * b


def attribute_names(category: str) -> tuple[str, ...]:
    """The attribute names a product of ``category`` has, in a fixed order."""
    if category == SHOE_CATEGORY:
        return ("type", "color", "secondary_color", "heel", "finish", "closure")
    if category == "dress":
        return ("color", "secondary_color", "pattern", "sleeve", "neckline", "length", "fit")
    if category in GARMENT_CATEGORIES:
        return ("color", "secondary_color", "pattern", "sleeve", "neckline", "fit")
    raise ValueError(f"unknown category {category!r}")


def aspects(category: str) -> tuple[str, ...]:
    """The independently changeable aspects of a category (what a pair may differ in).

    For garments the pattern colour belongs to the pattern aspect: it only exists (is not None) when the garment
    is patterned, so "has white stripes" is one change, not two.
    """
    names = attribute_names(category)
    if category == SHOE_CATEGORY:
        return names
    return tuple(n for n in names if n != "secondary_color")


def aspect_of(attribute: str, category: str) -> str:
    """Map an attribute name to the aspect it belongs to."""
    if attribute == "secondary_color" and category != SHOE_CATEGORY:
        return "pattern"
    return attribute


def differing_attributes(a: Mapping[str, object], b: Mapping[str, object]) -> list[str]:
    """Attribute names whose values differ between two products of the same category, in attribute order."""
    return [k for k in a if k != "category" and a.get(k) != b.get(k)]


def differing_aspects(a: Mapping[str, object], b: Mapping[str, object]) -> list[str]:
    """Aspects (see :func:`aspects`) that differ between two products of the same category."""
    category = str(a["category"])
    out: list[str] = []
    for name in differing_attributes(a, b):
        asp = aspect_of(name, category)
        if asp not in out:
            out.append(asp)
    return [asp for asp in aspects(category) if asp in out]


def _pick_colour(rng: random.Random, exclude: tuple[str, ...] = (), contrast_with: str | None = None) -> str:
    """Weighted colour choice; ``contrast_with`` keeps a pattern/trim colour visibly different from the main one."""
    names = [c for c in COLOURS if c not in exclude]
    if contrast_with is not None:
        far = [c for c in names if abs(luminance(c) - luminance(contrast_with)) >= 55]
        names = far or names
    return rng.choices(names, weights=[COLOUR_WEIGHTS[c] for c in names])[0]


def sample_garment(category: str, rng: random.Random) -> dict:
    """Draw a random garment (dress, shirt or toptee) as an attribute dict."""
    if category not in GARMENT_CATEGORIES:
        raise ValueError(f"not a garment category: {category!r}")
    colour = _pick_colour(rng)
    pattern = rng.choices(PATTERNS, weights=_PATTERN_WEIGHTS)[0]
    product = {
        "category": category,
        "color": colour,
        "secondary_color": None if pattern == "solid" else _pick_colour(rng, (colour,), contrast_with=colour),
        "pattern": pattern,
        "sleeve": rng.choices(SLEEVES, weights=_SLEEVE_WEIGHTS[category])[0],
        "neckline": rng.choices(NECKLINES, weights=_NECKLINE_WEIGHTS[category])[0],
    }
    if category == "dress":
        product["length"] = rng.choice(DRESS_LENGTHS)
    product["fit"] = rng.choice(FITS)
    return product


def sample_shoe(rng: random.Random) -> dict:
    """Draw a random shoe as an attribute dict (type-consistent heel and closure)."""
    shoe_type = rng.choice(SHOE_TYPES)
    colour = _pick_colour(rng)
    # Rain boots and bridal shoes are usually glossy; other types are mostly matte.
    shiny_p = 0.7 if shoe_type in ("rain_boot", "bridal", "stiletto") else 0.3
    return {
        "category": SHOE_CATEGORY,
        "type": shoe_type,
        "color": colour,
        "secondary_color": _pick_colour(rng, (colour,), contrast_with=colour),
        "heel": rng.choice(SHOE_ALLOWED_HEELS[shoe_type]),
        "finish": "shiny" if rng.random() < shiny_p else "matte",
        "closure": rng.choice(SHOE_ALLOWED_CLOSURES[shoe_type]),
    }


def sample_product(category: str, rng: random.Random) -> dict:
    """Draw a random product of any category."""
    return sample_shoe(rng) if category == SHOE_CATEGORY else sample_garment(category, rng)


def _change_aspect(product: dict, aspect: str, rng: random.Random) -> None:
    """Change one aspect of ``product`` in place to a different, valid value."""
    if aspect == "color":
        keep = (product["color"], product.get("secondary_color") or product["color"])
        product["color"] = _pick_colour(rng, keep)
    elif aspect == "pattern":
        old = product["pattern"]
        if old != "solid" and rng.random() < 0.3:
            # Same pattern, new pattern colour ("has yellow dots instead of white").
            product["secondary_color"] = _pick_colour(
                rng, (product["color"], product["secondary_color"]), contrast_with=product["color"]
            )
        else:
            new = rng.choice([p for p in PATTERNS if p != old])
            product["pattern"] = new
            if new == "solid":
                product["secondary_color"] = None
            elif product["secondary_color"] is None:
                product["secondary_color"] = _pick_colour(rng, (product["color"],), contrast_with=product["color"])
    elif aspect == "secondary_color":  # shoes: sole / trim colour
        product["secondary_color"] = _pick_colour(rng, (product["color"], product["secondary_color"]))
    elif aspect == "type":
        product["type"] = rng.choice([t for t in SHOE_TYPES if t != product["type"]])
    else:
        vocab = {
            "sleeve": SLEEVES, "neckline": NECKLINES, "length": DRESS_LENGTHS, "fit": FITS,
            "heel": SHOE_ALLOWED_HEELS.get(product.get("type", ""), HEELS), "finish": FINISHES,
            "closure": SHOE_ALLOWED_CLOSURES.get(product.get("type", ""), CLOSURES),
        }[aspect]
        choices = [v for v in vocab if v != product[aspect]]
        if choices:
            product[aspect] = rng.choice(choices)


def _make_shoe_consistent(product: dict, rng: random.Random) -> None:
    """After a type change, re-draw heel/closure only if the new type cannot have the old ones."""
    if product["heel"] not in SHOE_ALLOWED_HEELS[product["type"]]:
        product["heel"] = rng.choice(SHOE_ALLOWED_HEELS[product["type"]])
    if product["closure"] not in SHOE_ALLOWED_CLOSURES[product["type"]]:
        product["closure"] = rng.choice(SHOE_ALLOWED_CLOSURES[product["type"]])


def mutate(product: Mapping[str, object], rng: random.Random, max_changes: int = 3) -> dict:
    """Return a similar product of the same category that differs in 1 to ``max_changes`` aspects.

    The number of requested changes is 1, 2 or 3 (weighted towards 1-2, like real relative captions, which
    mostly mention one or two things). Shoe type changes can force a heel/closure change; the result is redrawn
    until the total number of differing aspects is within bounds, so captions never have to describe more.
    """
    category = str(product["category"])
    names = aspects(category)
    for _ in range(100):
        n = rng.choices((1, 2, 3), weights=(0.45, 0.40, 0.15))[0]
        n = min(n, max_changes, len(names))
        new = dict(product)
        for aspect in rng.sample(names, n):
            _change_aspect(new, aspect, rng)
        if category == SHOE_CATEGORY:
            _make_shoe_consistent(new, rng)
        if 1 <= len(differing_aspects(product, new)) <= max_changes:
            return new
    raise RuntimeError(f"could not mutate {dict(product)}")  # unreachable with the vocabularies above
