"""The ``caller`` phrasing set: shoppers dictating their change to a phone's voice assistant (evaluation only).

The speech recogniser writes what it hears: run-on sentences with little punctuation (sometimes the punctuation
itself, spoken aloud), spoken fillers, self-corrections mid-sentence, numbers spelled out, the shopper talking to
the assistant, and fashion words the recogniser mistook for others that sound alike (its ``misspelled`` style).

Written blind, last of the sets: without seeing the request reader (``cti_ir``), the other sets' wording or any
results, so that it checks whether the reader generalises to wording nobody tuned it on. Its frame markers,
adverbs, synonyms, garment words and misspellings were each checked, yes or no, against many texts of the other
sets and replaced where they occurred there. Like every set kept apart, the generator never writes it.

Like the other sets' modules, this imports neither :mod:`~data_prep.phrasing.styles` nor the package.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.set_parts import negation, set_markers, synonyms, typos

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context

CALLER = Lexicon(
    name="caller",
    strong_adverbs=("way way ", "a whole bunch ", "tons "),
    mild_adverbs=("a skosh ", "a scooch ", "itty bitty "),
    colour_synonyms=MappingProxyType({
        "grey": ("battleship", "storm cloud"), "navy": ("nightfall", "night sky"),
        "beige": ("sandstone", "mushroom"), "burgundy": ("cherry cola", "port"), "purple": ("ube", "plummy"),
        "teal": ("duck egg", "sea glass"), "blue": ("hydrangea", "swimming pool"), "black": ("panther", "crow"),
        "white": ("marshmallow", "milk"), "red": ("ketchup", "lipstick"), "green": ("avocado", "basil"),
        "yellow": ("school bus", "dandelion"), "pink": ("candy floss", "ballet slipper"),
        "orange": ("goldfish", "cheddar"), "brown": ("hazelnut", "teddy bear"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("twirly dress", "date night dress"), "shirt": ("shirt thingy", "buttoned shirt"),
        "toptee": ("top thingy", "going out top"), "shoes": ("comfy shoes", "party shoes"),
    }),
    misspellings=MappingProxyType({
        "sleeveless": ("sleeve list", "sleevelist"), "sleeves": ("sleeps", "sleives"), "sleeve": ("sleave", "sleef"),
        "black": ("block", "bleak"), "white": ("wight", "wheit"), "green": ("grain", "groan"),
        "purple": ("people", "pur pull"), "yellow": ("jello", "yellah"), "brown": ("browne", "bround"),
        "orange": ("orinj", "or range"), "striped": ("stride", "strived"), "stripes": ("stripers", "stripez"),
        "neckline": ("next line", "neck lane"), "collar": ("call her", "collur"), "fitted": ("fit it", "fidded"),
        "loose": ("luce", "lues"), "shiny": ("shy knee", "shy nee"), "matte": ("matted", "matter"),
        "lace": ("lase", "laice"), "laces": ("lasses", "laises"), "floral": ("floor all", "florral"),
        "maxi": ("max see", "macksie"), "midi": ("midday", "meedy"), "mini": ("meeny", "minny"),
        "colour": ("culler", "kuller"), "color": ("cullor", "cullah"), "ankle": ("uncle", "ank all"),
        "sneakers": ("squeakers", "sneekerz"), "scoop": ("scoot", "skoope"), "plain": ("playin", "plaen"),
        "strappy": ("strapee", "strap he"), "length": ("leng th", "lent"), "wedding": ("wetting", "weddin"),
        "heels": ("hills", "heel z"), "dotted": ("dodded", "dot id"),
    }),
    char_noise=False,
)

# Strings only this set writes (whole words, any case): every template writes at least one.
CALLER_FRAME_MARKERS = (
    "hey phone", "okay phone", "hey assistant", "so yeah", "yeah so", "oh wait", "wait no", "scratch that",
    "search up", "look up", "okay show me", "looking for like", "okay um", "umm", "and uh", "uh huh", "full stop",
    "comma", "or whatever", "you get me", "if that makes sense", "none of that", "thanks a bunch", "pretty please",
    "i'm imagining", "i'm hunting", "i gotta have", "i really really want", "i'm wanting", "almost there",
)


def caller_markers() -> tuple[str, ...]:
    """Every string that marks a caller phrasing: its frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(CALLER_FRAME_MARKERS, CALLER)


_NUMBERS = ("zero", "one", "two", "three", "four", "five", "six")


def _spoken(text: str) -> str:
    """Numbers as a speaker says them ("three-quarter", not "3/4")."""
    return text.replace("3/4", "three-quarter")


def _and(items) -> str:
    """A run-on list: "a and b and c" (speech has no commas)."""
    return " and ".join(items)


def _preds(x: Context) -> str:
    return _and(c.pred for c in x.changes)


def _mods(x: Context) -> str:
    return _and(c.mod for c in x.changes)


def _comp(x: Context, c: Change) -> str:
    """The comparative of a change with the value it reaches ("a skosh darker like black"), else its modifier."""
    if not c.comp:
        return c.mod
    return c.comp.format(adv=x.adverb(c)).replace(" a a ", " a ") + f" like {c.pred}"


def _comps(x: Context) -> str:
    return _and(_comp(x, c) for c in x.changes)


def _ones(x: Context) -> str:
    return "ones" if x.plural else "one"


def _things(x: Context) -> str:
    n = len(x.changes)
    return "just one thing" if n == 1 else f"{_NUMBERS[n] if n < len(_NUMBERS) else n} things"


def _spoken_all(templates):
    """Each template's text with its numbers spoken."""
    return tuple((tid, (lambda f: lambda x: _spoken(f(x)))(f)) for tid, f in templates)


CALLER_TEMPLATES: MappingProxyType[str, tuple[tuple[str, Callable[[Context], str]], ...]] = MappingProxyType({
    "descriptive": _spoken_all((
        ("caller.descriptive.hunting", lambda x: f"so the {_ones(x)} i'm hunting {x.be} {_preds(x)} so yeah"),
        ("caller.descriptive.imagining", lambda x: f"hey phone i'm imagining {x.one} {_mods(x)} you get me"),
        ("caller.descriptive.dictated", lambda x: f"the right {_ones(x)} {x.be} "
                                                  f"{' comma '.join(c.pred for c in x.changes)} full stop"),
    )),
    "imperative": _spoken_all((
        ("caller.imperative.okay_phone", lambda x: f"okay phone make {x.it} {_preds(x)}"),
        ("caller.imperative.search_up", lambda x: f"search up {x.one} {_mods(x)} umm"),
        ("caller.imperative.oh_wait", lambda x: f"oh wait also let {x.it} be {_preds(x)} and uh yeah"),
    )),
    "wish": _spoken_all((
        ("caller.wish.assistant", lambda x: f"hey assistant i really really want {x.one} {_mods(x)}"),
        ("caller.wish.love", lambda x: f"okay um what i'd really love is {x.one} {_mods(x)}"),
        ("caller.wish.if_only", lambda x: f"yeah so if only {x.this} were {_preds(x)}"),
    )),
    "contrastive": _spoken_all((
        ("caller.contrastive.and_not", lambda x: "okay show me " + x.this + " but "
         + _and(f"{c.pred} and not {c.old_pred}" for c in x.changes)),
        ("caller.contrastive.scratch_that", lambda x: f"{_and(c.old_pred for c in x.changes)} scratch that "
                                                      f"i'm wanting {_preds(x)}"),
        ("caller.contrastive.looking", lambda x: "looking for like "
         + _and(f"{c.noun} wait no not {c.old_noun}" for c in x.changes)),
    )),
    "terse": _spoken_all((
        ("caller.terse.dictated", lambda x: " comma ".join(c.pred for c in x.changes) + " full stop"),
        ("caller.terse.umm", lambda x: "umm " + " umm ".join(c.pred for c in x.changes)),
        ("caller.terse.or_whatever", lambda x: f"{_preds(x)} or whatever"),
    )),
    "attribute": _spoken_all((
        ("caller.attribute.hey_phone", lambda x: "hey phone " + " and then ".join(
            f"change the {c.attr} to {c.value}" for c in x.changes)),
        ("caller.attribute.makes_sense", lambda x: " and uh ".join(
            f"the {c.attr} {x.rng.choice(('goes', 'has to go'))} {c.value}" for c in x.changes)
         + " if that makes sense"),
        ("caller.attribute.things", lambda x: f"yeah so {_things(x)} " + " and ".join(
            f"{c.attr} to {c.value}" for c in x.changes)),
    )),
    "negation": _spoken_all((
        ("caller.negation.wait_no", lambda x: "wait no " + negation(
            x, "without the {r}", "not {old} i'm wanting {new}").replace("; ", " and ")),
        ("caller.negation.none_of_that", lambda x: negation(
            x, "none of that {r} business", "none of that {old} stuff go {new}").replace("; ", " and ")
         + " anyway"),
        ("caller.negation.dont_like", lambda x: "okay phone " + negation(
            x, "i don't like the {r} so zero {r}", "i don't like {old} so {new}").replace("; ", " and also ")),
    )),
    "comparative": _spoken_all((
        ("caller.comparative.search_up", lambda x: f"search up {x.one} {_comps(x)}"),
        ("caller.comparative.you_get_me", lambda x: f"{x.this} but {_comps(x)} you get me"),
        ("caller.comparative.or_whatever", lambda x: f"umm {x.this} {_comps(x)} or whatever"),
    )),
    "polite": _spoken_all((
        ("caller.polite.thanks", lambda x: f"hey phone can you please dig up {x.one} {_mods(x)} thanks a bunch"),
        ("caller.polite.pretty_please", lambda x: f"okay phone pretty please show me {x.one} {_mods(x)}"),
        ("caller.polite.dont_mind", lambda x: f"hey assistant if you don't mind i'd want {x.this} {_preds(x)}"),
    )),
    "two_sentences": _spoken_all((
        ("caller.two_sentences.full_stop", lambda x: f"okay phone i like {x.this} full stop "
                                                     f"just make {x.it} {_preds(x)}"),
        ("caller.two_sentences.almost_there", lambda x: f"almost there. umm {x.it} {x.be} meant to be {_preds(x)}"),
        ("caller.two_sentences.oh_wait", lambda x: f"that one's close. oh wait i'd want {x.it} {_preds(x)}"),
    )),
    "question": _spoken_all((
        ("caller.question.hey_phone", lambda x: f"hey phone are there any {_ones(x)} {_mods(x)}"),
        ("caller.question.anywhere", lambda x: f"umm is {x.one} {_mods(x)} around anywhere"),
        ("caller.question.look_up", lambda x: f"yeah so can you look up {x.one} {_mods(x)}"),
    )),
    "misspelled": _spoken_all((
        ("caller.misspelled.okay_phone", lambda x: f"okay phone make {x.it} " + typos(x, _preds(x))),
        ("caller.misspelled.search_up", lambda x: f"search up {x.one} " + typos(x, _mods(x))),
        ("caller.misspelled.so_yeah", lambda x: f"so yeah {x.this} but " + typos(x, _preds(x))),
    )),
    "synonyms": _spoken_all((
        ("caller.synonyms.look_up", lambda x: synonyms(x, "hey phone look up {noun} {mods}")),
        ("caller.synonyms.gotta_have", lambda x: synonyms(x, "okay um i gotta have {noun} {mods}")),
        ("caller.synonyms.or_whatever", lambda x: synonyms(x, "looking for like {noun} {mods} or whatever")),
    )),
})
