"""Product descriptions (the stage-2 corpus) and Shoes single-image captions of the synthetic catalogue.

Each description names every attribute of a product, in varied order and wording; the random draws are part of
the catalogue's byte-for-byte contract (reorder nothing that consumes ``rng``).
"""

from __future__ import annotations

import random
from typing import Mapping

from data_prep.synth_attributes import SHOE_CATEGORY
from data_prep.synth_phrases import GARMENT_NOUNS, article, colour_word

_SLEEVE_ADJ = {
    "sleeveless": ("sleeveless",), "short": ("short sleeve", "short-sleeved"),
    "three_quarter": ("three quarter sleeve", "3/4 sleeve"), "long": ("long sleeve", "long-sleeved"),
}
_SLEEVE_WITH = {
    "sleeveless": "no sleeves", "short": "short sleeves", "three_quarter": "three quarter sleeves",
    "long": "long sleeves",
}
_NECK_ADJ = {"collar": "collared", "crew": "crew neck", "scoop": "scoop neck", "v_neck": "v-neck"}
_NECK_WITH = {"collar": "a collar", "crew": "a crew neck", "scoop": "a scoop neck", "v_neck": "a v-neck"}
_LENGTH_ADJ = {"mini": "mini", "knee": "knee-length", "midi": "midi", "maxi": "maxi"}
_FIT_ADJ = {"fitted": ("fitted", "slim fit"), "loose": ("loose", "relaxed fit")}
_FIT_PHRASE = {"fitted": ("fitted", "slim fit", "fitted cut"), "loose": ("loose fit", "relaxed fit", "loose cut")}
_PATTERN_DESC_ADJ = {"solid": ("solid", "plain"), "stripes": ("striped",), "dots": ("polka dot",),
                     "checks": ("plaid", "checked"), "floral": ("floral",), "graphic": ("graphic print",)}
_PATTERN_DESC_WITH = {"stripes": "{s} stripes", "dots": "{s} polka dots", "checks": "{a} {s} check pattern",
                      "floral": "{a} {s} floral print", "graphic": "{a} {s} graphic print"}


def _garment_description(p: Mapping, rng: random.Random) -> str:
    colour, pattern = p["color"], p["pattern"]
    noun = rng.choice(GARMENT_NOUNS[p["category"]])
    if p["category"] == "dress":
        noun = f"{_LENGTH_ADJ[p['length']]} {noun}"
    sleeve_adj, sleeve_with = rng.choice(_SLEEVE_ADJ[p["sleeve"]]), _SLEEVE_WITH[p["sleeve"]]
    fit_adj, fit_phrase = rng.choice(_FIT_ADJ[p["fit"]]), rng.choice(_FIT_PHRASE[p["fit"]])
    pattern_adj = rng.choice(_PATTERN_DESC_ADJ[pattern])
    sec = p["secondary_color"]
    with_pattern = "" if pattern == "solid" else _PATTERN_DESC_WITH[pattern].format(s=sec, a=article(sec))
    template = rng.randrange(4)
    if template == 0:  # "red short sleeve v-neck shirt with white stripes, loose fit"
        head = f"{colour} {sleeve_adj} {_NECK_ADJ[p['neckline']]} {noun}"
        if pattern == "solid":
            return f"{pattern_adj} {head}, {fit_phrase}"
        return f"{head} with {with_pattern}, {fit_phrase}"
    if template == 1:  # "loose red shirt with white stripes, short sleeves and a v-neck"
        parts = ([with_pattern] if with_pattern else []) + [sleeve_with, _NECK_WITH[p["neckline"]]]
        lead = f"{fit_adj} {pattern_adj + ' ' if pattern == 'solid' else ''}{colour} {noun}"
        return f"{lead} with {', '.join(parts[:-1])} and {parts[-1]}"
    if template == 2:  # "shirt in red: striped in white, short sleeves, v-neck, loose fit" (shuffled)
        pat = pattern_adj if pattern == "solid" else f"{pattern_adj} in {sec}"
        parts = [pat, sleeve_with, _NECK_ADJ[p["neckline"]], fit_phrase]
        rng.shuffle(parts)
        return f"{noun} in {colour}: {', '.join(parts)}"
    # "v-neck red and white striped shirt, short sleeves, loose fit"
    colours = colour if pattern == "solid" else f"{colour} and {sec}"
    return f"{_NECK_ADJ[p['neckline']]} {colours} {pattern_adj} {noun}, {sleeve_with}, {fit_phrase}"


_SHOE_DESC_NOUN = {
    "sneaker": "sneakers", "running_shoe": "running shoes", "pump": "pumps", "flat": "ballet flats",
    "stiletto": "stilettos", "rain_boot": "rain boots", "sandal": "sandals", "clog": "clogs", "boot": "tall boots",
    "ankle_boot": "ankle boots", "bridal": "wedding shoes",
}
_HEEL_DESC = {"flat": ("flat",), "low": ("low heel", "low-heeled"), "mid": ("mid heel", "medium heel"),
              "high": ("high heel", "high-heeled")}
_FINISH_DESC = {"shiny": ("shiny", "glossy", "patent"), "matte": ("matte",)}
_CLOSURE_DESC = {"laces": ("laces", "lace-up fastening"), "strap": ("an ankle strap", "a buckle strap"),
                 "none": ("no laces or straps", "a slip-on opening")}


def _shoe_description(p: Mapping, rng: random.Random) -> str:
    noun = _SHOE_DESC_NOUN[p["type"]]
    heel = rng.choice(_HEEL_DESC[p["heel"]])
    finish = rng.choice(_FINISH_DESC[p["finish"]])
    closure = rng.choice(_CLOSURE_DESC[p["closure"]])
    colour, sec = p["color"], p["secondary_color"]
    template = rng.randrange(3)
    if template == 0:  # "black shiny high heel pumps with an ankle strap and white soles"
        return f"{colour} {finish} {heel} {noun} with {closure} and {sec} soles"
    if template == 1:
        parts = [heel, closure, f"{sec} sole", finish]
        rng.shuffle(parts)
        return f"{noun} in {colour}: {', '.join(parts)}"
    return f"{finish} {colour} {noun} with {sec} trim, {heel}, {closure}"


def describe_product(product: Mapping, rng: random.Random) -> str:
    """A full product description naming every attribute, in varied order and wording."""
    if product["category"] == SHOE_CATEGORY:
        return _shoe_description(product, rng)
    return _garment_description(product, rng)


_SHOE_SHORT_CLOSURE = {"laces": "lace up", "strap": "strappy", "none": "slip on"}


def short_shoe_caption(product: Mapping, rng: random.Random) -> str:
    """A short single-image caption like the real captions_shoes.json ("black strappy high heels")."""
    noun = _SHOE_DESC_NOUN[product["type"]]
    colour = colour_word(product["color"], rng)
    options = (
        f"{colour} {noun}",
        f"{colour} {_SHOE_SHORT_CLOSURE[product['closure']]} {noun}",
        f"{rng.choice(_FINISH_DESC[product['finish']])} {colour} {noun}",
        f"{colour} {_HEEL_DESC[product['heel']][0]} {noun}",
        f"{colour} {noun} with {colour_word(product['secondary_color'], rng)} soles",
    )
    return rng.choice(options)
