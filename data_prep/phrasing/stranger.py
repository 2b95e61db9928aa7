"""A fourth phrasing set, ``stranger``: another shopper's wording, for evaluation only.

A second wording written apart from the request reader, by another hand than the ``blind`` set's: without seeing
the reader, its facet vocabulary, or any result measured on the earlier sets (only this package's interface), so
that it checks a reader nobody has tuned on these words. It imitates how a different crowd of shoppers types into a
search box or a shop's chat: chatty British phrases ("have you got it in ...", "... would do nicely"), texting
shorthand ("gimme", "if u can", "thank u", "asap"), shade names off a paint chart ("pewter", "claret", "kingfisher"),
shop-floor garment words ("occasion dress", "tee shirt") and the misspellings of someone spelling by ear ("sandles",
"blew", "plane" for plain). It is never used in training: the generator's ``--phrasing`` does not offer it and
stage-3 augmentation uses the training set only (both tested).

Like the other sets, every template names every change of the modification (the claims are computed from the
changes), contrastive and negation templates name the old value too, and shoes may be a pair ("have you got them
..."). Every template writes one of :data:`STRANGER_FRAME_MARKERS`, which no training, held-apart or blind phrasing
and no caption of a training catalogue carries (tested): that is how the set is kept apart on surface strings.

This module imports neither :mod:`~data_prep.phrasing.styles` nor the package: ``lexicon`` and ``styles`` register
:data:`STRANGER` and :data:`STRANGER_TEMPLATES` in their mappings, and importing them from here would be circular.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.set_parts import join_list, negation, set_markers, synonyms, terse, typos

if TYPE_CHECKING:
    from data_prep.phrasing.styles import Context

STRANGER = Lexicon(
    name="stranger",
    # Each must read well after "with a" too ("with a drastically lower neckline", "with a hair higher heel").
    strong_adverbs=("dramatically ", "drastically ", "radically "),
    mild_adverbs=("fractionally ", "a hair ", "a shade "),
    # No synonym holds another colour's canonical name: substitute_colours replaces the first whole-word match of
    # the second colour, which would otherwise land inside the first colour's synonym.
    colour_synonyms=MappingProxyType({
        "grey": ("pewter", "dove grey"), "navy": ("french navy", "marine"), "beige": ("taupe", "biscuit"),
        "burgundy": ("claret", "garnet"), "purple": ("amethyst", "grape"), "teal": ("kingfisher", "dark cyan"),
        "blue": ("azure", "electric blue"), "black": ("coal black", "obsidian"), "white": ("optic white", "porcelain"),
        "red": ("pillar box red", "brick red"), "green": ("mint", "moss green"), "yellow": ("saffron", "primrose"),
        "pink": ("flamingo pink", "candy pink"), "orange": ("burnt orange", "marigold"), "brown": ("mocha", "walnut"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("occasion dress", "outfit"), "shirt": ("smart shirt", "office shirt"),
        "toptee": ("tee shirt", "going-out top"), "shoes": ("new pair", "everyday shoes"),
    }),
    # Spelling by ear (a letter or two replaced by one that sounds alike) and homophones an autocorrect lets through
    # ("blew", "plane", "souls"). None is one dropped, doubled or swapped letter away from a word the changes use,
    # so the training set's procedural typos never write one (and the blind set's keyboard slips are other
    # letters). None is shorter than four letters: a shorter one turns up inside product ids ("...9BLK0...").
    misspellings=MappingProxyType({
        "sleeveless": ("sleeveliss", "sleevaless"), "sleeves": ("sleefs", "sleevez"), "sleeved": ("sleevid", "sleived"),
        "black": ("blac", "blaak"), "white": ("whyte", "whait"), "blue": ("bloo", "blew"), "green": ("grean", "greene"),
        "pink": ("pinck", "pynk"), "brown": ("brawn", "braun"), "grey": ("grei", "grai"),
        "purple": ("perple", "pirple"), "yellow": ("yallow", "yello"), "orange": ("orenge", "oringe"),
        "beige": ("bayge", "beije"),
        "burgundy": ("burgendy", "bergundy"), "navy": ("navey", "navie"), "teal": ("teel", "teale"),
        "striped": ("stryped", "streiped"), "stripes": ("strypes", "straipes"), "dots": ("dotz", "dotes"),
        "dotted": ("dottid", "dotid"), "floral": ("florel", "floril"), "flowers": ("flouers", "flowerz"),
        "checked": ("chequed", "chekked"), "printed": ("prented", "printid"), "plain": ("plane", "playn"),
        "pattern": ("paturn", "patturn"), "collar": ("kollar", "callar"), "collared": ("collored", "colard"),
        "neckline": ("neckleine", "necklyne"), "neck": ("neik", "nekk"), "necked": ("neckt", "nekked"),
        "crew": ("crue", "crewe"), "scoop": ("scoup", "skoop"), "length": ("lenkth", "lenghth"),
        "mini": ("minni", "miny"), "midi": ("middi", "medi"), "maxi": ("maxy", "maxie"), "knee": ("kneee", "knie"),
        "fitted": ("fitid", "fittet"), "loose": ("luse", "lousse"), "heel": ("heil", "heale"),
        "heels": ("heils", "heelz"), "heeled": ("heald", "hieled"), "shiny": ("shinie", "shyny"),
        "glossy": ("glossie", "glozzy"), "matte": ("matt", "maat"), "finish": ("finesh", "fenish"),
        "laces": ("lases", "laeses"), "strap": ("strep", "streap"), "straps": ("streps", "strapz"),
        "strappy": ("strappie", "strappi"), "sneaker": ("sneacker", "sneakor"), "sneakers": ("sneakerz", "sneackers"),
        "boot": ("bute", "boote"), "boots": ("bootz", "boutes"), "sandal": ("sandle", "sandel"),
        "sandals": ("sandles", "sandels"), "pumps": ("pumpz", "pumpes"), "stilettos": ("stilletos", "stilettoes"),
        "clogs": ("klogs", "clogz"), "ankle": ("ancle", "ankul"), "soles": ("souls", "soals"),
        "colour": ("culour", "kolour"), "color": ("culor", "kolor"),
    }),
    char_noise=False,
)

# Strings only stranger phrasings contain (whole words, case-insensitive, as the other sets' markers are matched).
# None is a bare word of three letters or fewer, which could turn up inside a product id ("nah,", not "nah").
STRANGER_FRAME_MARKERS = (
    "picturing", "would be perfect", "along the lines of", "gimme", "bring up", "redo", "hunting for",
    "dreaming of", "ideal world", "trade", "out with", "nah,", "if u can", "asap", "thank u", "needs changing to",
    "need changing to", "opt for", "changed to", "no more", "not a fan of", "can't stand", "in the picture",
    "would do nicely", "you showed me", "grateful", "many thanks", "too much trouble", "dig out", "first off",
    "most important", "have you got", "what about", "where can i find",
)


def stranger_markers() -> tuple[str, ...]:
    """Every string that marks a stranger phrasing: frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(STRANGER_FRAME_MARKERS, STRANGER)


Template = Callable[["Context"], str]


def _subject(x: Context) -> str:
    return "they" if x.plural else "it"


def _the(noun: str) -> str:
    """``noun`` after "the", unless it brings its own article or is an absence ("no pattern", "a crew neck")."""
    return noun if noun.startswith(("no ", "a ")) else f"the {noun}"


def _contrastive(x: Context, frame: str) -> str:
    if frame == "trade":
        return join_list([f"trade {_the(c.old_noun)} for {c.noun}" for c in x.changes], ", ")
    if frame == "out_with":
        return "; ".join(f"out with {_the(c.old_noun)}, in with {c.noun}" for c in x.changes)
    return "; ".join(f"{c.old_pred}? nah, {c.pred}" for c in x.changes)


def _attribute_needs_changing(x: Context) -> str:
    # "the sleeves need changing", "the neckline needs changing": only "sleeves" is a plural attribute name.
    return "; ".join(f"the {c.attr} {'need' if c.attr == 'sleeves' else 'needs'} changing to {c.value}"
                     for c in x.changes)


def _comparative(x: Context, frame: str) -> str:
    comps = x.comps()
    if frame == "picture":
        ones = "ones" if x.plural else "one"
        return f"{comps} than the {ones} in the picture, i.e. {x.preds()}" if comps else \
            f"{x.preds()}, not like the {ones} in the picture"
    if frame == "would_do":
        return f"something {comps} would do nicely - so {x.preds()}" if comps else \
            f"something {x.preds()} would do nicely"
    return f"{comps} than what you showed me, basically {x.preds()}" if comps else \
        f"basically {x.preds()}, not what you showed me"


def _two_sentences(x: Context, frame: str) -> str:
    first, rest = x.changes[0], x.changes[1:]
    if frame == "first_off":
        head = f"first off, {first.pred}."
        return head + (f" then {join_list([c.pred for c in rest])}." if rest else " the rest is fine.")
    head = f"most important: {first.pred}."
    return head + (f" after that, {join_list([c.mod for c in rest])}." if rest else " leave everything else.")


STRANGER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("stranger.descriptive.picturing", lambda x: f"picturing {x.one} {x.mods()}"),
        ("stranger.descriptive.perfect", lambda x: f"{x.preds()} would be perfect"),
        ("stranger.descriptive.along_the_lines", lambda x: f"something along the lines of {x.one} {x.mods()}"),
    ),
    "imperative": (
        ("stranger.imperative.gimme", lambda x: f"gimme {x.one} {x.mods()}"),
        ("stranger.imperative.bring_up", lambda x: f"bring up {x.one} {x.mods()}"),
        ("stranger.imperative.redo", lambda x: f"redo {x.it} {x.mods()}"),
    ),
    "wish": (
        ("stranger.wish.hunting", lambda x: f"hunting for {x.one} {x.mods()}"),
        ("stranger.wish.dreaming", lambda x: f"dreaming of something {x.mods()}"),
        ("stranger.wish.ideal_world",
         lambda x: f"in an ideal world {'they' if x.plural else 'it'}'d be {x.preds()}"),
    ),
    "contrastive": (
        ("stranger.contrastive.trade", lambda x: _contrastive(x, "trade")),
        ("stranger.contrastive.out_with", lambda x: _contrastive(x, "out_with")),
        ("stranger.contrastive.nah", lambda x: _contrastive(x, "nah")),
    ),
    "terse": (
        ("stranger.terse.if_u_can", lambda x: f"{terse(x)} if u can"),
        ("stranger.terse.asap", lambda x: f"{terse(x)} asap"),
        ("stranger.terse.thank_u", lambda x: f"{terse(x)}, thank u"),
    ),
    "attribute": (
        ("stranger.attribute.needs_changing", _attribute_needs_changing),
        ("stranger.attribute.opt_for", lambda x: join_list([f"opt for {c.value} on the {c.attr}" for c in x.changes])),
        ("stranger.attribute.changed_to",
         lambda x: ", ".join(f"{c.attr} changed to {c.value}" for c in x.changes) + " please"),
    ),
    "negation": (
        ("stranger.negation.no_more", lambda x: negation(x, "no more {r}", "no more {old}, {new} instead")),
        ("stranger.negation.not_a_fan",
         lambda x: negation(x, "not a fan of the {r}", "not a fan of {old} - {new} please")),
        ("stranger.negation.cant_stand",
         lambda x: negation(x, "can't stand the {r}", "can't stand {old}, give me {new}")),
    ),
    "comparative": (
        ("stranger.comparative.picture", lambda x: _comparative(x, "picture")),
        ("stranger.comparative.would_do", lambda x: _comparative(x, "would_do")),
        ("stranger.comparative.showed_me", lambda x: _comparative(x, "showed_me")),
    ),
    "polite": (
        ("stranger.polite.grateful", lambda x: f"i'd be grateful for {x.one} {x.mods()}"),
        ("stranger.polite.many_thanks", lambda x: f"morning! {x.one} {x.mods()} please, many thanks"),
        ("stranger.polite.trouble",
         lambda x: f"if it isn't too much trouble, could you dig out {x.one} {x.mods()}?"),
    ),
    "two_sentences": (
        ("stranger.two_sentences.first_off", lambda x: _two_sentences(x, "first_off")),
        ("stranger.two_sentences.most_important", lambda x: _two_sentences(x, "most_important")),
    ),
    "question": (
        ("stranger.question.have_you_got", lambda x: f"have you got {x.it} {x.mods()}?"),
        ("stranger.question.what_about", lambda x: f"what about {x.one} {x.mods()}?"),
        ("stranger.question.where", lambda x: f"where can i find {x.one} {x.mods()}?"),
    ),
    "misspelled": (
        ("stranger.misspelled.hunting", lambda x: f"hunting for {x.one} {typos(x, x.mods())}"),
        ("stranger.misspelled.gimme", lambda x: f"gimme {x.one} {typos(x, x.mods())}"),
        ("stranger.misspelled.if_u_can", lambda x: f"{typos(x, terse(x))} if u can"),
    ),
    "synonyms": (
        ("stranger.synonyms.picturing", lambda x: synonyms(x, "picturing {noun} {mods}")),
        ("stranger.synonyms.where", lambda x: synonyms(x, "where can i find {noun} {mods}?")),
    ),
})
