"""The ``comparer`` phrasing set (evaluation only): shoppers who say what they want by comparing the product in the
photo with things they own, have seen or remember.

A comparer holds the photo up against a memory ("my old pair", a sister's, a late grandmother's, the one a friend
wears) and says where the two part ways: what the photo has against what they want, what should go and what
should change, in an everyday, slightly storytelling register. Every style names the same changes as the other
sets (:mod:`data_prep.phrasing.changes`); the contrastive and negation styles name the photo's value too.

Written blind: without seeing the request reader (``cti_ir``), the other phrasing sets' modules, their results or
the project's history. Its words (adverbs, colour names, garment words, misspellings and frame markers) are in
:mod:`data_prep.phrasing.comparer_words`; every comparer phrasing carries one of :func:`comparer_markers` and no
phrasing of another set does (tested in ``tests/test_phrasing.py``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.comparer_words import COMPARER, COMPARER_FRAME_MARKERS
from data_prep.phrasing.noise import substitute_colours
from data_prep.phrasing.set_parts import join_list, negation, set_markers, terse, typos

if TYPE_CHECKING:
    from data_prep.phrasing.styles import Context

__all__ = ["COMPARER", "COMPARER_TEMPLATES", "comparer_markers"]


def comparer_markers() -> tuple[str, ...]:
    """Every string that marks a comparer phrasing: frames, adverbs, colour names, garment words, misspellings."""
    return set_markers(COMPARER_FRAME_MARKERS, COMPARER)


# --- small grammar helpers (a pair of shoes is "they", "ones", "were") ---------------------------------------------

def _ones(x: Context) -> str:
    return "ones" if x.plural else "one"


def _was(x: Context) -> str:
    return "were" if x.plural else "was"


def _they(x: Context) -> str:
    return "they" if x.plural else "it"


def _preds(changes) -> str:
    return join_list([c.pred for c in changes])


def _mods(changes) -> str:
    return join_list([c.mod for c in changes])


def _noun(x: Context) -> str:
    """A garment word of the set with its article: "a pinafore", "an overshirt", "a pair of plimsolls"."""
    noun = x.rng.choice(COMPARER.garment_nouns[x.category])
    if x.category == "shoes":
        return f"a pair of {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _synonyms(x: Context, text: str) -> str:
    return substitute_colours(text, x.lex, x.rng, x.colours)


# --- styles whose wording needs more than one line --------------------------------------------------------------

def _contrast_where(x: Context) -> str:
    has = "have" if x.plural else "has"
    return "; ".join(f"where {x.this} {has} {c.old_noun}, mine would have {c.noun}" for c in x.changes)


def _contrast_before(x: Context) -> str:
    return (f"the {_ones(x)} i had before {_was(x)} {join_list([c.old_pred for c in x.changes])}; "
            f"second time around, {_preds(x.changes)}")


def _negation_old(x: Context) -> str:
    mine = f"my old {_ones(x)}"
    return negation(x, "no {r}, " + mine + " never had any", "not {old} as in the photo, {new} like " + mine)


def _negation_where(x: Context) -> str:
    where = "where these are" if x.plural else "where this is"
    return negation(x, "leave off the {r} the photo shows", "{new} " + where + " {old}")


def _negation_mum(x: Context) -> str:
    mum = f"my mum's {_was(x)}"
    return negation(x, "mine would go without the {r}", "not {old}; {new}, as " + mum)


def _comparative(x: Context, frame: str) -> str:
    comps, preds = x.comps(), x.preds()
    if frame == "next_to":
        return f"next to the photo, mine would be {comps} ({preds})" if comps else \
            f"next to the photo, mine would be {preds}"
    if frame == "neighbour":
        head = f"my neighbour has the {_ones(x)} in the photo; mine would be"
        return f"{head} {comps}: {preds}" if comps else f"{head} {preds}"
    return f"held up against my old {_ones(x)}: {comps}, so {preds}" if comps else \
        f"held up against my old {_ones(x)}: {preds}"


def _two_years_back(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    head = f"i had {x.one} like {x.this} years back, only {_they(x)} {_was(x)} {first.pred}."
    return head + (f" mine {_was(x)} {_preds(rest)} as well." if rest else " everything else matched.")


def _two_think(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    head = f"think of the photo. now picture {x.it} {first.pred}"
    return head + (f", and {_mods(rest)}." if rest else ", nothing more.")


def _two_friend(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    head = f"the same as my best friend's, but {first.pred}."
    return head + (f" and {_mods(rest)} too." if rest else " that is the only difference.")


Template = Callable[["Context"], str]

COMPARER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("comparer.descriptive.1", lambda x: f"my cousin owns a near twin of {x.this}, except hers {x.be} "
                                             f"{x.preds()}"),
        ("comparer.descriptive.2", lambda x: f"the {_ones(x)} i remember from that summer {x.be} {x.preds()}"),
        ("comparer.descriptive.3", lambda x: f"{x.preds()}, the same as the {_ones(x)} my flatmate wears"),
    ),
    "imperative": (
        ("comparer.imperative.1", lambda x: f"copy {x.this} but make {x.it} {x.preds()}, the way my old "
                                            f"{_ones(x)} looked"),
        ("comparer.imperative.2", lambda x: f"model {x.it} on my sister's, so {x.preds()}"),
        ("comparer.imperative.3", lambda x: f"keep the feel of the picture and just change {x.it} to {x.preds()}"),
    ),
    "wish": (
        ("comparer.wish.1", lambda x: f"ever since my old favourite wore out i've wanted {x.one} {x.mods()}"),
        ("comparer.wish.2", lambda x: f"been chasing {x.one} {x.mods()}, the kind my gran used to wear"),
        ("comparer.wish.3", lambda x: f"my dream would be a twin of {x.this}, only {x.preds()}"),
    ),
    "contrastive": (
        ("comparer.contrastive.1", _contrast_where),
        ("comparer.contrastive.2", lambda x: "; ".join(f"{c.noun} as opposed to {c.old_noun}" for c in x.changes)),
        ("comparer.contrastive.3", _contrast_before),
    ),
    "terse": (
        ("comparer.terse.1", lambda x: f"my old {_ones(x)} but {terse(x)}"),
        ("comparer.terse.2", lambda x: f"{terse(x)} - otherwise a dead ringer"),
        ("comparer.terse.3", lambda x: f"same spirit as the photo, only {terse(x)}"),
    ),
    "attribute": (
        ("comparer.attribute.1", lambda x: "; ".join(f"the {c.attr} on mine would be {c.value}" for c in x.changes)),
        ("comparer.attribute.2", lambda x: "measured against this one: "
                                           + ", ".join(f"{c.attr} {c.value}" for c in x.changes)),
        ("comparer.attribute.3", lambda x: "; ".join(f"{c.attr} like my aunt's, so {c.value}" for c in x.changes)),
    ),
    "negation": (
        ("comparer.negation.1", _negation_old),
        ("comparer.negation.2", _negation_where),
        ("comparer.negation.3", _negation_mum),
    ),
    "comparative": (
        ("comparer.comparative.1", lambda x: _comparative(x, "next_to")),
        ("comparer.comparative.2", lambda x: _comparative(x, "neighbour")),
        ("comparer.comparative.3", lambda x: _comparative(x, "held_up")),
    ),
    "polite": (
        ("comparer.polite.1", lambda x: f"might i trouble you to track down {x.one} like my old favourite, only "
                                        f"{x.mods()}? with thanks"),
        ("comparer.polite.2", lambda x: f"sorry to be a bother: my late nan had {x.one} just like {x.this}, only "
                                        f"{x.preds()}. do keep an eye out, please"),
        ("comparer.polite.3", lambda x: f"if it is no trouble, something in the spirit of the photo {x.mods()}, "
                                        f"ta ever so"),
    ),
    "two_sentences": (
        ("comparer.two_sentences.1", _two_years_back),
        ("comparer.two_sentences.2", _two_think),
        ("comparer.two_sentences.3", _two_friend),
    ),
    "question": (
        ("comparer.question.1", lambda x: f"does the shop carry a match to my old {_ones(x)}, {x.mods()}?"),
        ("comparer.question.2", lambda x: f"where might i find a lookalike of {x.this} {x.mods()}?"),
        ("comparer.question.3", lambda x: f"what is nearest to the photo, just {x.preds()}?"),
    ),
    "misspelled": (
        ("comparer.misspelled.1", lambda x: f"like my old {_ones(x)}, only {typos(x, x.preds())}"),
        ("comparer.misspelled.2", lambda x: f"a twin of the photo but {typos(x, x.mods())}"),
        ("comparer.misspelled.3", lambda x: f"{typos(x, terse(x))} - otherwise the photo's dead ringer"),
    ),
    "synonyms": (
        ("comparer.synonyms.1", lambda x: _synonyms(x, f"{_noun(x)} like my sister's, {x.mods()}")),
        ("comparer.synonyms.2", lambda x: _synonyms(x, f"on the lookout: {_noun(x)} {x.mods()}, much like the "
                                                       f"{_ones(x)} i had at uni")),
        ("comparer.synonyms.3", lambda x: _synonyms(x, f"{_noun(x)} in the mould of this one, {x.mods()}")),
    ),
})
