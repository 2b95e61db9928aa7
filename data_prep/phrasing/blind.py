"""A third phrasing set, ``blind``: wording written without seeing the request reader, for evaluation only.

The request-reading rules were written while looking at the ``train`` and ``heldout`` phrasings, so those two sets
no longer tell how the system copes with wording nobody on the team has read. This set was written apart from the
reader, as another shopper would type to a shop's search box or its assistant chat: its own sentence frames,
degree adverbs, shade names, garment words and phone-keyboard typos. It is never used in training: the generator's
``--phrasing`` does not offer it and stage-3 augmentation uses the training set only (both tested).

Like the other sets, every template names every change of the modification (the claims are computed from the
changes), contrastive and negation templates name the old value too, and shoes may be a pair ("need them ...").
Every template writes one of :data:`BLIND_FRAME_MARKERS`, which no training or held-apart phrasing and no caption of
a training catalogue carries (tested): that is how the set is kept apart on surface strings.

This module imports neither :mod:`~data_prep.phrasing.styles` nor the package: ``lexicon`` and ``styles`` register
:data:`BLIND` and :data:`BLIND_TEMPLATES` in their mappings, and importing them from here would be circular.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import misspell, substitute_colours
from data_prep.phrasing.set_parts import set_markers

if TYPE_CHECKING:
    from data_prep.phrasing.styles import Context

BLIND = Lexicon(
    name="blind",
    # Each must read well after "with a" too ("with a seriously lower neckline", "with a smidge lower heel").
    strong_adverbs=("heaps ", "noticeably ", "seriously "),
    mild_adverbs=("kinda ", "a smidge ", "a wee bit "),
    colour_synonyms=MappingProxyType({
        "grey": ("gunmetal", "ash"), "navy": ("indigo", "dark denim"), "beige": ("nude", "oatmeal"),
        "burgundy": ("bordeaux", "merlot"), "purple": ("lavender", "mauve"), "teal": ("peacock blue", "jade"),
        "blue": ("sky blue", "cornflower"), "black": ("pitch black", "raven"), "white": ("pearl", "chalk white"),
        "red": ("ruby", "poppy red"), "green": ("sage", "bottle green"), "yellow": ("buttercup", "sunshine yellow"),
        "pink": ("dusty rose", "bubblegum"), "orange": ("apricot", "pumpkin"), "brown": ("chestnut", "espresso"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("number", "day dress"), "shirt": ("work shirt", "overshirt"),
        "toptee": ("knit top", "casual top"), "shoes": ("treads", "pair of shoes"),
    }),
    # A thumb on the key next door (a letter replaced by its neighbour on a QWERTY phone keyboard): never one of
    # the training set's procedural typos, which only drop, double or swap letters.
    misspellings=MappingProxyType({
        "sleeveless": ("sleeveleas", "sleevrless"), "sleeves": ("sleevea", "sleebes"),
        "sleeved": ("sleevwd", "sleebed"),
        "black": ("blavk", "blsck"), "white": ("whitw", "qhite"), "blue": ("bkue", "blye"), "red": ("rwd", "res"),
        "green": ("grern", "greeb"), "pink": ("pinl", "oink"), "brown": ("briwn", "brpwn"), "grey": ("grry", "gtey"),
        "navy": ("nsvy", "mavy"), "beige": ("beihe", "bwige"), "purple": ("purplw", "purole"),
        "yellow": ("yelkow", "yrllow"), "orange": ("orangw", "oramge"), "burgundy": ("burgubdy", "burgundt"),
        "teal": ("twal", "tesl"), "striped": ("striprd", "stroped"), "stripes": ("stripws", "atripes"),
        "dots": ("dits", "dors"), "floral": ("flotal", "floeal"), "flowers": ("floqers", "flowrrs"),
        "checked": ("chrcked", "checkes"), "collar": ("collsr", "xollar"), "collared": ("collsred", "coklared"),
        "neckline": ("necklime", "neckljne"), "neck": ("necl", "nexk"), "necked": ("nexked", "neckrd"),
        "length": ("lengrh", "lenfth"), "mini": ("minu", "mino"), "midi": ("mifi", "midu"), "maxi": ("maxu", "mazi"),
        "fitted": ("fotted", "firted"), "loose": ("loise", "lpose"), "heel": ("hwel", "jeel"),
        "heels": ("hwels", "jeels"), "heeled": ("hweled", "heeked"), "shiny": ("shint", "shuny"),
        "glossy": ("glossu", "gkossy"), "matte": ("matre", "natte"), "finish": ("finosh", "fimish"),
        "laces": ("lacea", "lsces"), "strap": ("strsp", "sttap"), "straps": ("strsps", "sttaps"),
        "sneakers": ("sneskers", "sneakrrs"), "boots": ("boits", "bootd"), "sandals": ("sandalz", "samdals"),
        "pumps": ("pumos", "pumpa"), "plain": ("plaim", "pkain"), "pattern": ("patyern", "pattetn"),
        "soles": ("solws", "sokes"), "colour": ("colout", "coloyr"), "color": ("colir", "xolor"),
    }),
    char_noise=False,
)

# Strings only blind phrasings contain (whole words, case-insensitive, as the held-apart markers are matched).
BLIND_FRAME_MARKERS = (
    "ideally", "i'm after", "has to be", "have to be", "find me", "pull up", "try one", "try a pair", "need it",
    "need them", "need this", "need these", "would prefer", "would rather have", "i'm looking for", "prefer",
    "this time", "->", "make the", "for the", "=", "pls", "version", "if poss", "don't want", "anything but",
    "skip the", "not keen on", "more like", "could go", "than this one", "than these ones", "unlike",
    "please could i see", "would you mind", "hiya", "must be", "top priority", "anything", "do you stock",
    "available",
)


def blind_markers() -> tuple[str, ...]:
    """Every string that marks a blind phrasing: frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(BLIND_FRAME_MARKERS, BLIND)


Template = Callable[["Context"], str]


def _list(items: Sequence[str], last: str = " and ") -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]


def _subject(x: Context) -> str:
    return "they" if x.plural else "it"


def _this_one(x: Context) -> str:
    return "these ones" if x.plural else "this one"


def _old_preds(x: Context) -> str:
    return _list([c.old_pred for c in x.changes])


def _has_to_be(x: Context) -> str:
    return f"{'they have' if x.plural else 'it has'} to be {x.preds()}"


def _same_thing(x: Context) -> str:
    return f"pull up the same {'pair' if x.category == 'shoes' else 'thing'} {x.mods()}"


def _im_after(x: Context) -> str:
    return f"{_this_one(x)} {x.be} {_old_preds(x)} but i'm after {x.preds()}"


def _negation(x: Context, removed: str, changed: str) -> str:
    """Each change in the frame of its kind: ``removed`` ({r}: what goes), ``changed`` ({old}, {new})."""
    # "; " between all of them: each item has a comma of its own ("don't want blue, want black").
    return "; ".join(removed.format(r=c.removed) if c.removed else changed.format(old=c.old_pred, new=c.pred)
                     for c in x.changes)


def _comparative(x: Context, frame: str) -> str:
    comps = x.comps()
    if frame == "more_like":
        return f"{comps} - more like {x.preds()}" if comps else f"more like {x.preds()}"
    if frame == "could_go":
        return f"{_subject(x)} could go {comps}, {x.preds()} ideally" if comps else \
            f"{_subject(x)} could go {x.preds()}"
    return f"{comps} than {_this_one(x)}, so {x.preds()}" if comps else f"{x.preds()}, unlike {_this_one(x)}"


def _two_sentences(x: Context, frame: str) -> str:
    first, rest = x.changes[0], x.changes[1:]
    if frame == "must":
        head = f"{_subject(x)} must be {first.pred}."
        return head + (f" {_list([c.pred for c in rest])} as well." if rest else " everything else can stay.")
    head = f"top priority: {first.noun}."
    return head + (f" {_list([c.mod for c in rest])} would be nice too." if rest else " rest as is.")


def _typos(x: Context, text: str) -> str:
    # Only the changes are misspelled, so the frame keeps its marker (and stays a blind frame).
    return misspell(text, x.lex, x.rng)


def _noun(x: Context) -> tuple[str, bool]:
    """A garment word of the set, and whether it is a plural ("treads")."""
    noun = x.rng.choice(x.lex.garment_nouns[x.category])
    return noun, x.category == "shoes" and not noun.startswith("pair")


def _synonyms_need_this(x: Context) -> str:
    noun, plural = _noun(x)
    return substitute_colours(f"need {'these' if plural else 'this'} {noun} {x.mods()}", x.lex, x.rng, x.colours)


def _synonyms_looking_for(x: Context) -> str:
    noun, plural = _noun(x)
    article = "some" if plural else ("an" if noun[:1] in "aeiou" else "a")
    return substitute_colours(f"i'm looking for {article} {noun} {x.mods()}", x.lex, x.rng, x.colours)


BLIND_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("blind.descriptive.ideally", lambda x: f"ideally {x.preds()}"),
        ("blind.descriptive.what_im_after", lambda x: f"{x.one} {x.mods()} is what i'm after"),
        ("blind.descriptive.has_to_be", _has_to_be),
    ),
    "imperative": (
        ("blind.imperative.find_me", lambda x: f"find me {x.one} {x.mods()}"),
        ("blind.imperative.pull_up", _same_thing),
        ("blind.imperative.try", lambda x: f"try {x.one} {x.mods()}"),
    ),
    "wish": (
        ("blind.wish.need_it", lambda x: f"need {x.it} {x.mods()}"),
        ("blind.wish.would_prefer", lambda x: f"would prefer {x.it} {x.preds()}"),
        ("blind.wish.rather_have", lambda x: f"would rather have {x.one} {x.mods()}"),
        ("blind.wish.looking_for", lambda x: f"i'm looking for {x.one} {x.mods()}"),
    ),
    "contrastive": (
        ("blind.contrastive.prefer_over", lambda x: "prefer " + _list([f"{c.noun} over {c.old_noun}"
                                                                         for c in x.changes])),
        ("blind.contrastive.this_time",
         lambda x: "; ".join(f"not {c.old_pred} this time, {c.pred} please" for c in x.changes)),
        ("blind.contrastive.arrow", lambda x: ", ".join(f"{c.attr} {c.old_value} -> {c.value}" for c in x.changes)),
        ("blind.contrastive.im_after", _im_after),
    ),
    "terse": (
        ("blind.terse.pls", lambda x: ", ".join(c.pred for c in x.changes) + " pls"),
        ("blind.terse.version", lambda x: ", ".join(c.pred for c in x.changes) + " version"),
        ("blind.terse.if_poss", lambda x: ", ".join(c.pred for c in x.changes) + " if poss"),
    ),
    "attribute": (
        ("blind.attribute.make_the", lambda x: _list([f"make the {c.attr} {c.value}" for c in x.changes])),
        ("blind.attribute.for_the", lambda x: "; ".join(f"for the {c.attr}, {c.value}" for c in x.changes)),
        ("blind.attribute.equals", lambda x: ", ".join(f"{c.attr} = {c.value}" for c in x.changes)),
    ),
    "negation": (
        ("blind.negation.dont_want", lambda x: _negation(x, "don't want the {r}", "don't want {old}, want {new}")),
        ("blind.negation.anything_but", lambda x: _negation(x, "skip the {r}", "anything but {old}, {new} ideally")),
        ("blind.negation.not_keen",
         lambda x: _negation(x, "not keen on the {r}", "not keen on {old}, {new} would be better")),
    ),
    "comparative": (
        ("blind.comparative.more_like", lambda x: _comparative(x, "more_like")),
        ("blind.comparative.could_go", lambda x: _comparative(x, "could_go")),
        ("blind.comparative.than_this", lambda x: _comparative(x, "than_this")),
    ),
    "polite": (
        ("blind.polite.could_i_see", lambda x: f"please could i see {x.one} {x.mods()}?"),
        ("blind.polite.would_you_mind", lambda x: f"would you mind finding {x.one} {x.mods()}? ta"),
        ("blind.polite.hiya", lambda x: f"hiya, {x.one} {x.mods()} would be lovely, thx"),
    ),
    "two_sentences": (
        ("blind.two_sentences.must", lambda x: _two_sentences(x, "must")),
        ("blind.two_sentences.priority", lambda x: _two_sentences(x, "priority")),
    ),
    "question": (
        ("blind.question.anything", lambda x: f"anything {x.mods()}?"),
        ("blind.question.stock", lambda x: f"do you stock {x.one} {x.mods()}?"),
        ("blind.question.available", lambda x: f"{'are these' if x.plural else 'is this'} available {x.mods()}?"),
    ),
    "misspelled": (
        ("blind.misspelled.need_it", lambda x: f"need {x.it} {_typos(x, x.mods())}"),
        ("blind.misspelled.looking_for", lambda x: f"i'm looking for {x.one} {_typos(x, x.mods())}"),
        ("blind.misspelled.pls", lambda x: _typos(x, ", ".join(c.pred for c in x.changes)) + " pls"),
    ),
    "synonyms": (
        ("blind.synonyms.need_this", _synonyms_need_this),
        ("blind.synonyms.looking_for", _synonyms_looking_for),
    ),
})
