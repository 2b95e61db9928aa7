"""Relative captions of the synthetic catalogue: phrases (:mod:`data_prep.synth_phrases`) glued into captions.

A Fashion-IQ pair gets two captions that share the differing aspects between them (two annotators), a Shoes pair
one caption covering every aspect. Product descriptions live in :mod:`data_prep.synth_descriptions`, rewritten
modifications in everyday styles (``--phrasing``) in :mod:`data_prep.phrasing`. The names other modules import
from here (``colour_word``, ``describe_product``, ...) stay importable from this module.
"""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from data_prep.synth_attributes import SHOE_CATEGORY, differing_aspects
from data_prep.synth_descriptions import describe_product, short_shoe_caption
from data_prep.synth_phrases import (
    COLOUR_SYNONYMS,
    GARMENT_NOUNS,
    HEEL_ABSOLUTE,
    LENGTH_ABSOLUTE,
    NECKLINE_ABSOLUTE,
    PATTERN_ADJECTIVES,
    PATTERN_NOUNS,
    SHOE_TYPE_NOUNS,
    SLEEVE_ABSOLUTE,
    Phrase,
    article,
    aspect_phrase,
    colour_word,
    coloured_pattern,
)

__all__ = [
    "COLOUR_SYNONYMS", "HEEL_ABSOLUTE", "LENGTH_ABSOLUTE", "NECKLINE_ABSOLUTE", "PATTERN_ADJECTIVES", "PATTERN_NOUNS",
    "SHOE_TYPE_NOUNS", "SLEEVE_ABSOLUTE", "Phrase", "article", "aspect_phrase", "colour_word", "coloured_pattern",
    "describe_product", "fashioniq_captions", "join_phrases", "product_noun", "relative_caption", "shoes_caption",
    "short_shoe_caption", "split_aspects", "with_noun",
]

_PLURAL_VERBS = {"is": "are", "has": "have", "looks": "look", "shows": "show", "covers": "cover", "ends": "end"}


def join_phrases(phrases: Sequence[Phrase], rng: random.Random, plural: bool) -> str:
    """Glue phrases into one caption: "is red and has long sleeves", "is darker, shorter and looser", ..."""
    text = ""
    prev_verb = None
    for i, p in enumerate(phrases):
        verb = _PLURAL_VERBS.get(p.verb, p.verb) if plural else p.verb
        rest = p.plural_rest if plural and p.plural_rest else p.rest
        last = i == len(phrases) - 1
        if i == 0:
            # Real annotators often drop the verb: "darker and shorter", "sleeveless with a v-neck".
            text = rest if (p.verb == "is" and rng.random() < 0.15) else f"{verb} {rest}"
        elif p.verb == "is" and prev_verb == "is":
            text += (" and " if last else rng.choice((", ", " and "))) + rest
        elif p.verb == "has" and rng.random() < 0.5:
            text += " with " + rest
        else:
            text += (" and " if last else ", ") + f"{verb} {rest}"
        prev_verb = p.verb
    return text


def relative_caption(
    candidate: Mapping, target: Mapping, aspect_list: Sequence[str], rng: random.Random, plural: bool = False
) -> tuple[str, list[str]]:
    """A caption describing the change of every aspect in ``aspect_list``; returns (text, claimed attributes).

    ``plural`` conjugates for shoes ("are black", "have a higher heel"). Aspect order is shuffled.
    """
    order = list(aspect_list)
    rng.shuffle(order)
    phrases = [aspect_phrase(a, candidate, target, rng) for a in order]
    if rng.random() < 0.25:
        phrases[0] = with_noun(phrases[0], candidate, rng)
    text = join_phrases(phrases, rng, plural)
    if rng.random() < 0.06:
        # Occasional explicit subject, as in "it is darker" / "they have laces".
        subject = ("they", "the shoes") if plural else ("it", product_noun(candidate, rng, definite=True))
        if not text.startswith(("is ", "has ", "are ", "have ", "looks ", "look ", "shows ", "show ",
                                "covers ", "cover ", "ends ", "end ")):
            text = ("are " if plural else "is ") + text
        text = f"{rng.choice(subject)} {text}"
    claims: list[str] = []
    for p in phrases:
        claims += [a for a in p.claims if a not in claims]
    return text, claims


def with_noun(phrase: Phrase, product: Mapping, rng: random.Random) -> Phrase:
    """Name the product in the phrase, as annotators often do: "is a looser dress", "is a top with long sleeves"."""
    noun = product_noun(product, rng)
    plural_noun = "shoes" if noun == "shoe" else None
    if phrase.verb == "has":
        rest = phrase.plural_rest or phrase.rest
        return Phrase("is", f"{article(noun)} {noun} with {phrase.rest}", phrase.claims,
                      f"{plural_noun} with {rest}" if plural_noun else None)
    if phrase.verb == "is" and " " not in phrase.rest:
        return Phrase("is", f"{article(phrase.rest)} {phrase.rest} {noun}", phrase.claims,
                      f"{phrase.rest} {plural_noun}" if plural_noun else None)
    return phrase


def product_noun(product: Mapping, rng: random.Random, definite: bool = False) -> str:
    category = product["category"]
    noun = "shoe" if category == SHOE_CATEGORY else rng.choice(GARMENT_NOUNS[category])
    return f"the {noun}" if definite else noun


def split_aspects(aspect_list: Sequence[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """Share the differing aspects between two captions; together they cover all, each may be partial."""
    if len(aspect_list) == 1:
        return list(aspect_list), list(aspect_list)
    while True:
        first: list[str] = []
        second: list[str] = []
        for a in aspect_list:
            r = rng.random()
            if r < 0.35:
                first.append(a)
            elif r < 0.7:
                second.append(a)
            else:
                first.append(a)
                second.append(a)
        if first and second and len(first) <= 2 and len(second) <= 2:
            return first, second


def fashioniq_captions(candidate: Mapping, target: Mapping, rng: random.Random,
                       aspect_list: Sequence[str] | None = None) -> list[tuple[str, list[str]]]:
    """The two Fashion-IQ captions of one pair, each as (text, claimed attributes).

    With one differing aspect both captions describe it in different words; with more, the aspects are shared
    between the two captions (e.g. c1 names the colour, c2 the sleeves). ``aspect_list`` (default: every aspect
    that differs) restricts what the two captions talk about, for captions that name only part of a change.
    """
    if aspect_list is None:
        aspect_list = differing_aspects(candidate, target)
    first, second = split_aspects(aspect_list, rng)
    c1 = relative_caption(candidate, target, first, rng)
    c2 = relative_caption(candidate, target, second, rng)
    for _ in range(10):  # two identical captions would waste the second annotation
        if c2[0] != c1[0]:
            break
        c2 = relative_caption(candidate, target, second, rng)
    return [c1, c2]


def shoes_caption(candidate: Mapping, target: Mapping, rng: random.Random,
                  aspect_list: Sequence[str] | None = None) -> tuple[str, list[str]]:
    """The single Shoes caption of one pair, covering every differing aspect (or ``aspect_list``);
    (text, claimed attributes)."""
    plural = rng.random() < 0.6  # the real Shoes captions mostly say "are ..."/"have ..."
    if aspect_list is None:
        aspect_list = differing_aspects(candidate, target)
    return relative_caption(candidate, target, aspect_list, rng, plural=plural)
