"""Phrases of the synthetic catalogue's relative captions: one clause per aspect that changed.

Every relative caption is assembled from *phrases*, and every phrase is generated from one aspect that really
differs between the candidate and the target (colour, pattern, sleeves, ...). A phrase records the attribute
names it asserts (its *claims*); the generator writes them to a provenance file so that tests can check each
caption against the ground-truth attributes. Many templates, synonyms and comparatives per aspect keep a model
from keying on one fixed wording, in the style of the real annotators ("is darker", "has shorter sleeves",
"are black with a higher heel"). :mod:`data_prep.synth_captions` glues phrases into captions; the other caption
kinds (absolute, partial, vague, mistaken) are built from the same phrases in :mod:`data_prep.synth_caption_kinds`.

The random draws here are part of the catalogue's contract: the same seed must give the same captions byte for
byte (``--caption-mix relative`` reproduces earlier catalogues), so reorder nothing that consumes ``rng``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from data_prep.synth_attributes import (
    DRESS_LENGTHS,
    HEELS,
    NECKLINES,
    SHOE_CATEGORY,
    SHOE_FORMALITY,
    SLEEVES,
    differing_attributes,
    luminance,
)

# Words annotators use for each colour; the canonical name comes first and is picked most often.
COLOUR_SYNONYMS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "grey": ("grey", "gray"),
        "navy": ("navy", "navy blue", "dark blue"),
        "beige": ("beige", "tan", "khaki"),
        "burgundy": ("burgundy", "maroon"),
        "purple": ("purple", "violet"),
        "teal": ("teal", "turquoise"),
        "blue": ("blue", "royal blue", "bright blue"),
    }
)

# Minimum luminance gap (0-255) before a caption may call one colour "darker"/"lighter" than another.
_LUMINANCE_GAP = 45.0

GARMENT_NOUNS = {"dress": ("dress",), "shirt": ("shirt",), "toptee": ("top", "tee", "t-shirt", "blouse")}


@dataclass(frozen=True)
class Phrase:
    """One clause of a caption, e.g. ``Phrase("has", "shorter sleeves", ("sleeve",))``.

    ``verb`` is "is", "has", ... (conjugated to plural for shoes) and ``plural_rest`` an optional plural form of
    ``rest`` ("sneakers" for "a sneaker"). ``claims`` are the attribute names the clause says have changed.
    """

    verb: str
    rest: str
    claims: tuple[str, ...]
    plural_rest: str | None = None


def colour_word(colour: str, rng: random.Random) -> str:
    """A caption word for a colour: usually its name, sometimes a synonym (navy -> "dark blue", grey -> "gray")."""
    synonyms = COLOUR_SYNONYMS.get(colour, (colour,))
    if len(synonyms) == 1 or rng.random() < 0.5:
        return synonyms[0]
    return rng.choice(synonyms[1:])


def article(word: str) -> str:
    """Indefinite article for ``word``."""
    return "an" if word[:1] in "aeiou" else "a"


def _intensity(steps: float, rng: random.Random, big: float) -> str:
    """Optional adverb for a comparative: "much " for big changes, "slightly "/"a bit " for small ones."""
    if steps >= big:
        return rng.choice(("", "", "much "))
    return rng.choice(("", "", "", "slightly ", "a bit "))


# --- one phrase generator per aspect -----------------------------------------------------------------------------

def _colour_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    new, old = colour_word(t["color"], rng), colour_word(c["color"], rng)
    claim = ("color",)
    out = [
        Phrase("is", new, claim), Phrase("is", new, claim), Phrase("is", f"{new} colored", claim),
        Phrase("is", f"{article(new)} {new} color", claim, f"{new} in color"),
        Phrase("is", f"{new} instead of {old}", claim), Phrase("is", f"{new} not {old}", claim),
        Phrase("is", f"{new} rather than {old}", claim), Phrase("is", f"{new} in color", claim),
    ]
    if t.get("pattern") == "solid" and c.get("pattern") == "solid":
        out.append(Phrase("is", f"solid {new}", claim))
    if t["category"] == SHOE_CATEGORY:
        out.append(Phrase("is", f"all {new}", claim))
    gap = luminance(t["color"]) - luminance(c["color"])
    if abs(gap) >= _LUMINANCE_GAP:
        word = "darker" if gap < 0 else "lighter"
        adv = _intensity(abs(gap), rng, big=110)
        out += [
            Phrase("is", f"{adv}{word}", claim), Phrase("is", f"{adv}{word}", claim),
            Phrase("is", f"{article(word)} {word} color", claim, f"{word} in color"),
            Phrase("is", f"{adv}{word} in color", claim), Phrase("has", f"{article(word)} {word} color", claim),
            Phrase("is", f"{word} and {new}", claim), Phrase("is", f"{article(word)} {word} shade", claim),
            Phrase("is", f"{new} and {word}", claim),
        ]
    return out


# Pattern vocabulary: bare nouns (no colour), nouns with a colour slot, and adjectives.
PATTERN_NOUNS = {
    "stripes": ("stripes", "thin stripes", "horizontal stripes"),
    "dots": ("polka dots", "dots", "spots"),
    "checks": ("a plaid pattern", "checks", "a checkered pattern"),
    "floral": ("a floral print", "flowers", "a flower pattern"),
    "graphic": ("a graphic", "a logo", "a graphic print", "a picture on the front"),
}
_PATTERN_BARE = {  # after "no ..." / "instead of ..."
    "stripes": ("stripes",), "dots": ("dots", "polka dots"), "checks": ("plaid", "checks"),
    "floral": ("flowers", "floral print"), "graphic": ("graphic", "logo"),
}
_PATTERN_COLOURED = {
    "stripes": ("{s} stripes", "thin {s} stripes"),
    "dots": ("{s} polka dots", "{s} dots"),
    "checks": ("{s} plaid", "{a} {s} check pattern", "{s} checks"),
    "floral": ("{s} flowers", "{a} {s} floral print"),
    "graphic": ("{a} {s} graphic", "{a} {s} logo", "{a} {s} print on the front"),
}
_PATTERN_DIFFERENT = {
    "stripes": "different colored stripes", "dots": "different colored dots", "checks": "a different colored plaid",
    "floral": "different colored flowers", "graphic": "a different colored logo",
}
PATTERN_ADJECTIVES = {
    "stripes": ("striped",), "dots": ("polka dotted", "dotted"), "checks": ("plaid", "checkered"),
    "floral": ("floral", "flowery"), "graphic": ("printed",),
}


def coloured_pattern(pattern: str, colour: str, rng: random.Random) -> str:
    word = colour_word(colour, rng)
    return rng.choice(_PATTERN_COLOURED[pattern]).format(s=word, a=article(word))


def _pattern_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    old, new = c["pattern"], t["pattern"]
    both = ("pattern", "secondary_color")
    if new == "solid":
        plain = colour_word(t["color"], rng)
        return [
            Phrase("is", "solid", both), Phrase("is", "plain", both), Phrase("is", "a solid color", both),
            Phrase("has", "no pattern", both), Phrase("has", f"no {rng.choice(_PATTERN_BARE[old])}", both),
            Phrase("is", "plainer", both), Phrase("is", "less busy", both), Phrase("is", f"solid {plain}", both),
            Phrase("is", f"plain {plain}", both),
        ]
    noun = rng.choice(PATTERN_NOUNS[new])
    adj = rng.choice(PATTERN_ADJECTIVES[new])
    coloured = coloured_pattern(new, t["secondary_color"], rng)
    sec = colour_word(t["secondary_color"], rng)
    if old == "solid":
        return [
            Phrase("has", noun, ("pattern",)), Phrase("has", coloured, both), Phrase("has", coloured, both),
            Phrase("is", adj, ("pattern",)), Phrase("is", f"{adj} with {sec}", both),
            Phrase("is", "patterned", ("pattern",)), Phrase("is", "busier", ("pattern",)),
            Phrase("is", "more colorful", ("pattern",)), Phrase("has", "a pattern", ("pattern",)),
        ]
    if old != new:
        old_bare = rng.choice(_PATTERN_BARE[old])
        out = [
            Phrase("has", noun, ("pattern",)), Phrase("has", f"{noun} instead of {old_bare}", ("pattern",)),
            Phrase("is", f"{adj} instead of {rng.choice(PATTERN_ADJECTIVES[old])}", ("pattern",)),
            Phrase("is", adj, ("pattern",)),
            Phrase("has", "a different pattern", ("pattern",)), Phrase("has", "a different print", ("pattern",)),
        ]
        if t["secondary_color"] != c["secondary_color"]:
            out += [Phrase("has", coloured, both), Phrase("has", coloured, both)]
        return out
    # Same pattern, different pattern colour.
    old_sec = colour_word(c["secondary_color"], rng)
    return [
        Phrase("has", coloured, ("secondary_color",)), Phrase("has", coloured, ("secondary_color",)),
        Phrase("has", f"{coloured} instead of {old_sec}", ("secondary_color",)),
        Phrase("has", _PATTERN_DIFFERENT[new], ("secondary_color",)),
        Phrase("has", f"{coloured} not {old_sec}", ("secondary_color",)),
    ]


SLEEVE_ABSOLUTE = {
    "sleeveless": (("is", "sleeveless"), ("has", "no sleeves"), ("is", "without sleeves")),
    "short": (("has", "short sleeves"), ("is", "short sleeved"), ("has", "short sleeves")),
    "three_quarter": (("has", "three quarter sleeves"), ("has", "3/4 sleeves"), ("has", "elbow length sleeves")),
    "long": (("has", "long sleeves"), ("is", "long sleeved"), ("has", "full length sleeves")),
}


def _sleeve_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("sleeve",)
    steps = SLEEVES.index(t["sleeve"]) - SLEEVES.index(c["sleeve"])
    out = [Phrase(v, r, claim) for v, r in SLEEVE_ABSOLUTE[t["sleeve"]]]
    adv = _intensity(abs(steps), rng, big=2)
    if steps > 0:
        out += [Phrase("has", f"{adv}longer sleeves", claim), Phrase("has", f"{adv}longer sleeves", claim)]
        if c["sleeve"] == "sleeveless":
            out.append(Phrase("has", "sleeves", claim))
        if t["sleeve"] == "long":
            out.append(Phrase("covers", "the arms", claim))
    else:
        out += [
            Phrase("has", f"{adv}shorter sleeves", claim), Phrase("has", f"{adv}shorter sleeves", claim),
            Phrase("shows", "more arm", claim),
        ]
    return out


NECKLINE_ABSOLUTE = {
    "collar": (("has", "a collar"), ("is", "collared"), ("has", "a pointed collar")),
    "crew": (("has", "a crew neck"), ("has", "a round neck"), ("has", "a crew neckline")),
    "scoop": (("has", "a scoop neck"), ("has", "a scoop neckline"), ("has", "a wide round neck")),
    "v_neck": (("has", "a v-neck"), ("has", "a v neck"), ("has", "a v neckline"), ("is", "v-necked")),
}


def _neckline_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("neckline",)
    out = [Phrase(v, r, claim) for v, r in NECKLINE_ABSOLUTE[t["neckline"]]]
    if c["neckline"] == "collar":
        out += [
            Phrase("has", "no collar", claim), Phrase("is", "collarless", claim),
            Phrase("is", "without a collar", claim), Phrase("looks", "more casual without a collar", claim),
        ]
    elif t["neckline"] == "collar":
        out += [Phrase("looks", "more formal with a collar", claim), Phrase("is", "dressier with a collar", claim)]
    else:
        # Depth order (collar, crew, scoop, v_neck): a larger index is a lower neckline.
        deeper = NECKLINES.index(t["neckline"]) > NECKLINES.index(c["neckline"])
        if deeper:
            out += [Phrase("has", "a lower neckline", claim), Phrase("has", "a deeper neckline", claim),
                    Phrase("is", "lower cut", claim)]
        else:
            out += [Phrase("has", "a higher neckline", claim), Phrase("has", "a higher neck", claim)]
    return out


LENGTH_ABSOLUTE = {
    "mini": (("is", "a mini dress"), ("is", "very short"), ("is", "above the knee"), ("is", "mini length")),
    "knee": (("is", "knee length"), ("is", "knee-length"), ("ends", "at the knee")),
    "midi": (("is", "midi length"), ("is", "a midi dress"), ("is", "calf length"), ("is", "mid calf length")),
    "maxi": (("is", "a maxi dress"), ("is", "floor length"), ("is", "ankle length"), ("is", "full length")),
}


def _length_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("length",)
    steps = DRESS_LENGTHS.index(t["length"]) - DRESS_LENGTHS.index(c["length"])
    out = [Phrase(v, r, claim) for v, r in LENGTH_ABSOLUTE[t["length"]]]
    adv = _intensity(abs(steps), rng, big=2)
    word = "longer" if steps > 0 else "shorter"
    out += [
        Phrase("is", f"{adv}{word}", claim), Phrase("is", f"{adv}{word}", claim), Phrase("is", f"{adv}{word}", claim),
        Phrase("is", f"a {word} dress", claim), Phrase("has", f"a {word} skirt", claim),
    ]
    out.append(Phrase("shows", "more leg", claim) if steps < 0 else Phrase("covers", "more of the legs", claim))
    return out


def _fit_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("fit",)
    if t["fit"] == "fitted":
        rests = ("tighter", "more fitted", "form fitting", "slim fit", "more form fitting", "snug",
                 "figure hugging", "less loose", "less baggy")
        out = [Phrase("is", r, claim) for r in rests] + [Phrase("has", "a slimmer fit", claim)]
    else:
        rests = ("looser", "more loose", "loose fitting", "baggy", "flowy", "more relaxed", "less fitted",
                 "less tight", "more flowing")
        out = [Phrase("is", r, claim) for r in rests]
        out += [Phrase("has", "a looser fit", claim), Phrase("has", "a relaxed fit", claim)]
    return out


SHOE_TYPE_NOUNS = {  # (singular, plural)
    "sneaker": (("a sneaker", "sneakers"), ("a casual sneaker", "casual sneakers")),
    "running_shoe": (("a running shoe", "running shoes"), ("an athletic shoe", "athletic shoes")),
    "pump": (("a pump", "pumps"), ("a classic pump", "classic pumps")),
    "flat": (("a ballet flat", "ballet flats"), ("a flat shoe", "flat shoes")),
    "stiletto": (("a stiletto", "stilettos"), ("a stiletto pump", "stiletto pumps")),
    "rain_boot": (("a rain boot", "rain boots"), ("a rubber boot", "rubber boots")),
    "sandal": (("a strappy sandal", "strappy sandals"), ("a sandal", "sandals"), ("a heeled sandal", "heeled sandals")),
    "clog": (("a clog", "clogs"), ("a chunky clog", "chunky clogs")),
    "boot": (("a tall boot", "tall boots"), ("a knee high boot", "knee high boots"), ("a boot", "boots")),
    "ankle_boot": (("an ankle boot", "ankle boots"), ("a bootie", "booties")),
    "bridal": (("a wedding shoe", "wedding shoes"), ("a bridal shoe", "bridal shoes")),
}


def _shoe_type_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("type",)
    sing, plur = rng.choice(SHOE_TYPE_NOUNS[t["type"]])
    old_sing, old_plur = rng.choice(SHOE_TYPE_NOUNS[c["type"]])
    out = [
        Phrase("is", sing, claim, plur), Phrase("is", sing, claim, plur),
        Phrase("is", f"{sing} not {old_sing}", claim, f"{plur} not {old_plur}"),
        Phrase("is", f"{sing} instead of {old_sing}", claim, f"{plur} instead of {old_plur}"),
    ]
    if t["type"] == "bridal":
        out.append(Phrase("has", "a bow on the front", claim))
    formality = SHOE_FORMALITY[t["type"]] - SHOE_FORMALITY[c["type"]]
    if formality >= 2:
        out += [Phrase("is", "dressier", claim), Phrase("is", "more formal", claim),
                Phrase("looks", "more elegant", claim)]
    elif formality <= -2:
        out += [Phrase("is", "more casual", claim), Phrase("is", "less formal", claim)]
        if t["type"] in ("sneaker", "running_shoe"):
            out.append(Phrase("looks", "sportier", claim))
    return out


HEEL_ABSOLUTE = {
    "flat": (("is", "flat", None), ("has", "no heel", None), ("has", "a flat sole", "flat soles")),
    "low": (("has", "a low heel", "low heels"), ("has", "a small heel", "small heels"),
            ("has", "a kitten heel", "kitten heels")),
    "mid": (("has", "a medium heel", "medium heels"), ("has", "a mid heel", "mid heels"),
            ("has", "a moderate heel", "moderate heels")),
    "high": (("has", "a high heel", "high heels"), ("has", "a very high heel", "very high heels"),
             ("has", "a tall heel", "tall heels")),
}


def _heel_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("heel",)
    steps = HEELS.index(t["heel"]) - HEELS.index(c["heel"])
    out = [Phrase(v, r, claim, p) for v, r, p in HEEL_ABSOLUTE[t["heel"]]]
    if steps > 0:
        words = ("higher", "taller", "higher")
        out += [Phrase("has", f"a {w} heel", claim, f"{w} heels") for w in words]
        out.append(Phrase("has", "more heel", claim))
    else:
        words = ("lower", "shorter", "smaller")
        out += [Phrase("has", f"a {w} heel", claim, f"{w} heels") for w in words]
        out.append(Phrase("has", "less heel", claim))
    return out


def _finish_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("finish",)
    if t["finish"] == "shiny":
        rests = ("shiny", "shinier", "glossy", "patent leather", "more shiny")
        out = [Phrase("is", r, claim) for r in rests]
        return out + [Phrase("has", "a shiny finish", claim), Phrase("has", "more shine", claim)]
    rests = ("matte", "not shiny", "duller", "less shiny", "less glossy")
    return [Phrase("is", r, claim) for r in rests] + [Phrase("has", "a matte finish", claim)]


def _closure_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("closure",)
    new, old = t["closure"], c["closure"]
    if new == "laces":
        return [Phrase("has", "laces", claim), Phrase("is", "lace up", claim), Phrase("is", "lace-up", claim),
                Phrase("has", "shoelaces", claim)]
    if new == "strap":
        out = [Phrase("has", "a strap", claim, "straps"), Phrase("has", "an ankle strap", claim, "ankle straps"),
               Phrase("has", "a buckle strap", claim, "buckle straps")]
        if old == "laces":
            out.append(Phrase("has", "a strap instead of laces", claim, "straps instead of laces"))
        return out
    if old == "laces":
        return [Phrase("has", "no laces", claim), Phrase("is", "slip on", claim), Phrase("is", "a slip-on", claim,
                                                                                           "slip-ons")]
    return [Phrase("has", "no strap", claim, "no straps"), Phrase("is", "strapless", claim),
            Phrase("has", "no ankle strap", claim, "no ankle straps"), Phrase("is", "slip on", claim)]


def _trim_phrases(c: Mapping, t: Mapping, rng: random.Random) -> list[Phrase]:
    claim = ("secondary_color",)
    new, old = colour_word(t["secondary_color"], rng), colour_word(c["secondary_color"], rng)
    return [
        Phrase("has", f"{article(new)} {new} sole", claim, f"{new} soles"),
        Phrase("has", f"{new} trim", claim), Phrase("has", f"{new} accents", claim),
        Phrase("has", f"{article(new)} {new} sole instead of {old}", claim, f"{new} soles instead of {old}"),
    ]


_ASPECT_PHRASES = MappingProxyType(
    {
        "color": _colour_phrases, "pattern": _pattern_phrases, "sleeve": _sleeve_phrases,
        "neckline": _neckline_phrases, "length": _length_phrases, "fit": _fit_phrases,
        "type": _shoe_type_phrases, "heel": _heel_phrases, "finish": _finish_phrases, "closure": _closure_phrases,
        "secondary_color": _trim_phrases,
    }
)


def aspect_phrase(aspect: str, candidate: Mapping, target: Mapping, rng: random.Random) -> Phrase:
    """One random phrase describing how ``aspect`` changes from ``candidate`` to ``target``.

    Its claims are restricted to attributes that really differ, so a phrase can never assert a change that did not
    happen (raises ``ValueError`` if the aspect did not change at all).
    """
    differing = set(differing_attributes(candidate, target))
    phrase = rng.choice(_ASPECT_PHRASES[aspect](candidate, target, rng))
    claims = tuple(a for a in phrase.claims if a in differing)
    if not claims:
        raise ValueError(f"aspect {aspect!r} does not differ between candidate and target")
    return Phrase(phrase.verb, phrase.rest, claims, phrase.plural_rest)
