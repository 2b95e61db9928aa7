"""What changed, in words: one :class:`Change` per differing aspect, with every grammatical form a style needs.

A style (``make it sleeveless``, ``no sleeves instead of short sleeves``, ``change the sleeves to sleeveless``)
only arranges these forms, so every style of every phrasing set says the same thing: each form names the
target's value of the aspect (the comparative forms add how it compares). The forms are the *core* words both
phrasing sets share ("sleeveless", "a v-neck", "knee-length"); what is held apart is how they are framed
(:mod:`data_prep.phrasing.styles`) and the synonyms and misspellings (:mod:`data_prep.phrasing.lexicon`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping

from data_prep.synth_attributes import (
    DRESS_LENGTHS,
    HEELS,
    NECKLINES,
    SHOE_CATEGORY,
    SLEEVES,
    aspect_of,
    differing_aspects,
    differing_attributes,
    luminance,
)

# Minimum luminance gap (0-255) before "darker"/"lighter" may be said (as in data_prep.synth_phrases).
_LUMINANCE_GAP = 45.0
_BIG_LUMINANCE_GAP = 110.0


@dataclass(frozen=True)
class Change:
    """One aspect that differs between the reference and the target, in the forms the styles arrange.

    ``pred`` follows "is"/"make it", ``mod`` follows a noun
    ("one in black", "one with no sleeves"), ``noun`` names the new state ("no sleeves", "white stripes"),
    ``value`` is what an attribute is set to ("change the sleeves to sleeveless"), ``attr`` names the attribute
    without article ("sleeves"). ``old_*`` are the reference's forms. ``removed`` names what goes away when the
    target has none of it ("sleeves" for a sleeveless target), ``comp`` is a comparative with an ``{adv}`` slot
    ("{adv}darker", "with {adv}longer sleeves"), ``big`` says whether the change is large (for the adverb).
    """

    aspect: str
    claims: tuple[str, ...]
    pred: str
    mod: str
    noun: str
    value: str
    attr: str
    old_pred: str
    old_noun: str
    old_value: str
    removed: str | None = None
    comp: str | None = None
    big: bool = False


def _pick(rng: random.Random, *options: str) -> str:
    return options[0] if len(options) == 1 else rng.choice(options)


def _colour(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = t["color"], c["color"]
    gap = luminance(new) - luminance(old)
    comp = None
    if abs(gap) >= _LUMINANCE_GAP:
        comp = "{adv}darker" if gap < 0 else "{adv}lighter"
    return dict(pred=new, mod=f"in {new}", noun=new, value=new, attr=_pick(rng, "colour", "main colour"),
                old_pred=old, old_noun=old, old_value=old, comp=comp, big=abs(gap) >= _BIG_LUMINANCE_GAP)


_PATTERN_ADJ = {"stripes": ("striped",), "dots": ("polka-dotted", "dotted"), "checks": ("checked", "plaid"),
                "floral": ("floral", "flowery"), "graphic": ("printed", "graphic")}
_PATTERN_NOUN = {"stripes": ("{s} stripes",), "dots": ("{s} polka dots", "{s} dots"),
                 "checks": ("{s} checks", "a {s} check pattern"), "floral": ("{s} flowers", "a {s} floral print"),
                 "graphic": ("a {s} graphic print", "a {s} logo")}
_PATTERN_BARE = {"stripes": "stripes", "dots": "dots", "checks": "checks", "floral": "flowers", "graphic": "print"}


def _pattern_noun(pattern: str, colour: str, rng: random.Random) -> str:
    return rng.choice(_PATTERN_NOUN[pattern]).format(s=colour)


def _pattern(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    old, new = c["pattern"], t["pattern"]
    if old == "solid":
        old_forms = dict(old_pred=_pick(rng, "plain", "solid"), old_noun="no pattern", old_value="plain")
    else:
        old_noun = _pattern_noun(old, c["secondary_color"], rng)
        old_forms = dict(old_pred=rng.choice(_PATTERN_ADJ[old]), old_noun=old_noun, old_value=old_noun)
    if new == "solid":
        return dict(pred=_pick(rng, "plain", "solid", "solid-coloured"), mod=_pick(rng, "with no pattern",
                    "without a pattern"), noun="no pattern", value="plain", attr=_pick(rng, "pattern", "print"),
                    removed=_PATTERN_BARE[old], **old_forms)
    colour = t["secondary_color"]
    noun = _pattern_noun(new, colour, rng)
    forms = dict(pred=f"{colour} {rng.choice(_PATTERN_ADJ[new])}", mod=f"with {noun}", noun=noun, value=noun,
                 attr=_pick(rng, "pattern", "print"), **old_forms)
    if old == new:  # same pattern, another pattern colour: "change the colour of the stripes to white"
        forms.update(attr=f"colour of the {_PATTERN_BARE[new]}", value=colour, old_value=c["secondary_color"])
    return forms


_SLEEVE = {  # pred, mod, noun, value
    "sleeveless": (("sleeveless",), ("without sleeves", "with no sleeves"), "no sleeves", "sleeveless"),
    "short": (("short-sleeved",), ("with short sleeves",), "short sleeves", "short"),
    "three_quarter": (("three-quarter-sleeved", "3/4-sleeved"), ("with three-quarter sleeves", "with 3/4 sleeves"),
                      "three-quarter sleeves", "three-quarter"),
    "long": (("long-sleeved",), ("with long sleeves", "with full-length sleeves"), "long sleeves", "long"),
}


def _sleeve(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = _SLEEVE[t["sleeve"]], _SLEEVE[c["sleeve"]]
    steps = SLEEVES.index(t["sleeve"]) - SLEEVES.index(c["sleeve"])
    comp = "with {adv}longer sleeves" if steps > 0 else "with {adv}shorter sleeves"
    return dict(pred=rng.choice(new[0]), mod=rng.choice(new[1]), noun=new[2], value=new[3],
                attr=_pick(rng, "sleeves", "sleeve length"), old_pred=rng.choice(old[0]), old_noun=old[2],
                old_value=old[3], removed="sleeves" if t["sleeve"] == "sleeveless" else None, comp=comp,
                big=abs(steps) >= 2)


_NECKLINE = {
    "collar": (("collared",), ("a collar", "a pointed collar"), "collar"),
    "crew": (("crew-necked",), ("a crew neck", "a round neck"), "crew neck"),
    "scoop": (("scoop-necked",), ("a scoop neck", "a scoop neckline"), "scoop neck"),
    "v_neck": (("v-necked",), ("a v-neck", "a v neckline"), "v-neck"),
}


def _neckline(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = _NECKLINE[t["neckline"]], _NECKLINE[c["neckline"]]
    noun = rng.choice(new[1])
    comp = None
    if "collar" not in (t["neckline"], c["neckline"]):  # depth order: a larger index is a lower neckline
        deeper = NECKLINES.index(t["neckline"]) > NECKLINES.index(c["neckline"])
        comp = "with a {adv}lower neckline" if deeper else "with a {adv}higher neckline"
    return dict(pred=rng.choice(new[0]), mod=f"with {noun}", noun=noun, value=new[2],
                attr=_pick(rng, "neckline", "neck"), old_pred=rng.choice(old[0]), old_noun=old[1][0],
                old_value=old[2], comp=comp)


_LENGTH = {"mini": (("mini-length", "mini"), "mini"), "knee": (("knee-length",), "knee-length"),
           "midi": (("midi-length", "midi"), "midi"), "maxi": (("maxi-length", "floor-length"), "maxi")}


def _length(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = _LENGTH[t["length"]], _LENGTH[c["length"]]
    steps = DRESS_LENGTHS.index(t["length"]) - DRESS_LENGTHS.index(c["length"])
    word, old_word = new[1].removesuffix("-length"), old[1].removesuffix("-length")  # "a knee length"
    return dict(pred=rng.choice(new[0]), mod=f"in {word} length", noun=f"a {word} length", value=new[1],
                attr=_pick(rng, "length", "hemline"), old_pred=old[0][0], old_noun=f"a {old_word} length",
                old_value=old[1], comp="{adv}longer" if steps > 0 else "{adv}shorter", big=abs(steps) >= 2)


_FIT = {"fitted": (("fitted", "slim-fitting"), ("a fitted cut", "a slim fit"), "fitted", "{adv}tighter"),
        "loose": (("loose", "loose-fitting"), ("a loose fit", "a relaxed fit"), "loose", "{adv}looser")}


def _fit(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = _FIT[t["fit"]], _FIT[c["fit"]]
    noun = rng.choice(new[1])
    return dict(pred=rng.choice(new[0]), mod=f"with {noun}", noun=noun, value=new[2], attr=_pick(rng, "fit", "cut"),
                old_pred=old[0][0], old_noun=old[1][0], old_value=old[2], comp=new[3])


SHOE_TYPE_WORDS = {
    "sneaker": ("sneaker", "sneakers"), "running_shoe": ("running shoe", "running shoes"), "pump": ("pump", "pumps"),
    "flat": ("ballet flat", "ballet flats"), "stiletto": ("stiletto", "stilettos"),
    "rain_boot": ("rain boot", "rain boots"), "sandal": ("sandal", "sandals"), "clog": ("clog", "clogs"),
    "boot": ("tall boot", "tall boots"), "ankle_boot": ("ankle boot", "ankle boots"),
    "bridal": ("wedding shoe", "wedding shoes"),
}


def _an(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"


def _shoe_type(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    sing, plur = SHOE_TYPE_WORDS[t["type"]]
    old_sing, old_plur = SHOE_TYPE_WORDS[c["type"]]
    return dict(pred=plur if plural else _an(sing), mod=f"in {_an(sing)} style", noun=plur, value=plur,
                attr=_pick(rng, "style", "type of shoe"), old_pred=old_plur if plural else _an(old_sing),
                old_noun=old_plur, old_value=old_plur)


_HEEL = {"flat": ("flat", "no heel", "no heels", "flat"), "low": ("low-heeled", "a low heel", "low heels", "low"),
         "mid": ("mid-heeled", "a mid heel", "mid heels", "mid"),
         "high": ("high-heeled", "a high heel", "high heels", "high")}


def _heel(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = _HEEL[t["heel"]], _HEEL[c["heel"]]
    steps = HEELS.index(t["heel"]) - HEELS.index(c["heel"])
    noun = new[2] if plural else new[1]
    word = "higher" if steps > 0 else "lower"
    return dict(pred=new[0], mod=f"with {noun}", noun=noun, value=new[3], attr=_pick(rng, "heel", "heel height"),
                old_pred=old[0], old_noun=old[2] if plural else old[1], old_value=old[3],
                removed="heels" if plural and t["heel"] == "flat" else ("heel" if t["heel"] == "flat" else None),
                comp=f"with {{adv}}{word} heels" if plural else f"with a {{adv}}{word} heel", big=abs(steps) >= 2)


def _finish(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    shiny = t["finish"] == "shiny"
    new, old = ("shiny", "matte") if shiny else ("matte", "shiny")
    return dict(pred=_pick(rng, "shiny", "glossy") if shiny else "matte", mod=f"with a {new} finish",
                noun=f"a {new} finish", value=new, attr="finish", old_pred=old, old_noun=f"a {old} finish",
                old_value=old, comp="{adv}shinier" if shiny else "{adv}less shiny")


def _closure_forms(closure: str, plural: bool) -> tuple[str, str, str]:
    """(pred, noun, value) of a closure."""
    if closure == "laces":
        return "lace-up", "laces", "laces"
    if closure == "strap":
        return "strappy", "straps" if plural else "a strap", "straps" if plural else "a strap"
    return "slip-on", "no laces or straps", "slip-on"


def _closure(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    pred, noun, value = _closure_forms(t["closure"], plural)
    old_pred, old_noun, old_value = _closure_forms(c["closure"], plural)
    removed = None
    if t["closure"] == "none":
        removed = "laces" if c["closure"] == "laces" else ("straps" if plural else "strap")
    return dict(pred=pred, mod=f"with {noun}", noun=noun, value=value, attr=_pick(rng, "fastening", "closure"),
                old_pred=old_pred, old_noun=old_noun, old_value=old_value, removed=removed)


def _sole(c: Mapping, t: Mapping, rng: random.Random, plural: bool) -> dict:
    new, old = t["secondary_color"], c["secondary_color"]
    part = _pick(rng, "soles", "trim")
    return dict(pred=f"{new}-soled", mod=f"with {new} {part}", noun=f"{new} {part}", value=new,
                attr="sole colour" if part == "soles" else "trim colour", old_pred=f"{old}-soled",
                old_noun=f"{old} {part}", old_value=old)


_BUILDERS = {"color": _colour, "pattern": _pattern, "sleeve": _sleeve, "neckline": _neckline, "length": _length,
             "fit": _fit, "type": _shoe_type, "heel": _heel, "finish": _finish, "closure": _closure,
             "secondary_color": _sole}


def describe_change(aspect: str, candidate: Mapping, target: Mapping, rng: random.Random,
                    plural: bool = False) -> Change:
    """The :class:`Change` of ``aspect`` from ``candidate`` to ``target`` (``ValueError`` if it did not change).

    ``plural`` gives the forms for a pair of shoes ("high heels", "sneakers"). Its claims are the attributes of
    the aspect that really differ (for a garment's pattern, the pattern and/or its colour).
    """
    category = str(target["category"])
    differing = differing_attributes(candidate, target)
    claims = tuple(a for a in differing if aspect_of(a, category) == aspect)
    if not claims:
        raise ValueError(f"aspect {aspect!r} does not differ between candidate and target")
    if aspect == "secondary_color" and category != SHOE_CATEGORY:
        aspect = "pattern"
    return Change(aspect=aspect, claims=claims, **_BUILDERS[aspect](candidate, target, rng, plural))


def describe_changes(candidate: Mapping, target: Mapping, rng: random.Random, aspects: list[str] | None = None,
                     plural: bool = False) -> list[Change]:
    """One :class:`Change` per aspect of ``aspects`` (default: every differing aspect), in a random order."""
    order = list(aspects if aspects is not None else differing_aspects(candidate, target))
    rng.shuffle(order)
    return [describe_change(a, candidate, target, rng, plural) for a in order]
