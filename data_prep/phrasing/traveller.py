"""The ``traveller`` phrasing set: shoppers writing in English as a second language, or through a machine translator.

Evaluation only. It imitates what such shoppers type in a shop's search box or chat: word order carried over from
their first language (adjectives after the noun, the attribute before its value), missing or wrong articles and
prepositions, false friends, idioms and politeness formulas translated word for word or borrowed whole, verb forms
off (a bare present for a progressive, an infinitive with "to" after a modal, no do-support in a negation), analytic
and doubled comparatives, and the marks a translator leaves. Its misspellings are a learner's: written by the sound
of their own language, with doubled or missing consonants, swapped vowels or a vowel put before an initial "s"; its
colour words are shade names borrowed or translated from other languages (none holds a canonical colour name); its
garment words are what such shoppers call the garments.

It was written after the seven earlier sets (``train``, ``heldout``, ``blind``, ``stranger``, ``newcomer``,
``passerby``, ``latecomer``) by someone who saw neither the request reader nor its vocabulary, nor the other sets'
modules, nor any result, so that the reader can be checked on wording nobody tuned it on. Its words met the other
sets' only mechanically: a throwaway check, kept out of the repository, generated the other sets' phrasings and a
training catalogue and answered only yes or no for each candidate word or phrase of this set; every candidate that
occurred there was replaced by another of this set's own.

Like the other sets kept apart, it names every change of every template (contrastive and negation templates name
the reference's value too), it is not among the generator's ``--phrasing`` modes, and stage-3 augmentation never
uses it (it uses the training set only). Every phrasing writes one of :data:`TRAVELLER_FRAME_MARKERS`, which no
other set's phrasing and no training-catalogue caption carries (tested in ``tests/test_phrasing.py``).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import misspell, substitute_colours
from data_prep.phrasing.set_parts import join_list, set_markers

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context

Template = Callable[["Context"], str]

TRAVELLER = Lexicon(
    name="traveller",
    # A doubled intensifier and "much" as a plain intensifier, as learners carry them over.
    strong_adverbs=("very very ", "very much ", "really much "),
    # "lightly" is the false friend of "slightly"; "a pinch" is translated from a kitchen idiom.
    mild_adverbs=("little bit ", "a pinch ", "lightly "),
    colour_synonyms=MappingProxyType({
        "black": ("noir", "nero"), "white": ("blanc", "milky"), "grey": ("gris", "asphalt"),
        "red": ("rosso", "rojo"), "blue": ("azul", "blau"), "navy": ("marino", "dunkelblau"),
        "green": ("verde", "salad"), "yellow": ("amarillo", "giallo"), "pink": ("rosa", "powder"),
        "purple": ("lila", "morado"), "orange": ("naranja", "carrot"), "brown": ("marron", "coffee"),
        "beige": ("cappuccino", "crema"), "burgundy": ("bordo", "marsala"), "teal": ("sea wave", "canard"),
    }),
    # The false friends and borrowed words such shoppers call the garments (shoes' words are plural).
    garment_nouns=MappingProxyType({
        "dress": ("robe", "sarafan"), "shirt": ("camisa", "chemise"), "toptee": ("blusa", "tricot"),
        "shoes": ("footwears", "zapatos"),
    }),
    misspellings=MappingProxyType({
        "sleeveless": ("slivles", "sliveless"), "sleeves": ("slivs", "sliivs"), "short": ("schort", "shorte"),
        "black": ("blek", "blakk"), "white": ("uhite", "uait"), "green": ("griin", "grinn"),
        "yellow": ("yelou", "iellow"), "purple": ("perpel", "parpul"), "orange": ("orench", "oranche"),
        "brown": ("brovn", "brawun"), "beige": ("beish", "beje"), "burgundy": ("burgandi", "bourgundy"),
        "pink": ("pienk", "peenk"), "blue": ("blu", "blou"), "grey": ("grej", "graj"), "navy": ("neivi", "neyvi"),
        "teal": ("tiil", "tiyl"), "striped": ("straiped", "strayped"), "stripes": ("straips", "streips"),
        "dotted": ("dottet", "dotet"), "floral": ("flourale", "floreyl"), "flowers": ("flawers", "flauers"),
        "pattern": ("pattarn", "pettern"), "plain": ("plaine", "pleyn"), "checked": ("tchecked", "tcheked"),
        "length": ("lendth", "leingth"), "maxi": ("maksy", "mahksi"), "midi": ("midy", "mydi"),
        "mini": ("myni", "meeni"), "knee": ("nii", "knii"), "collar": ("kolar", "collier"),
        "neckline": ("neklain", "neklayn"), "scoop": ("scup", "escoop"), "crew": ("kru", "cruw"),
        "round": ("raund", "raundt"), "fitted": ("fitet", "feeted"), "loose": ("loze", "luuz"),
        "heels": ("hiels", "hils"), "heel": ("hil", "hiel"), "sandals": ("zandals", "sandalies"),
        "sneakers": ("snikers", "sniekers"), "boots": ("bootes", "buts"), "pumps": ("pamps", "paumps"),
        "flats": ("flets", "fletts"), "ankle": ("enkle", "enkel"), "running": ("ranning", "raning"),
        "wedding": ("veding", "vedding"), "shiny": ("shainy", "shaini"), "glossy": ("glossi", "gloci"),
        "laces": ("leces", "leyses"), "strap": ("estrap", "estrep"), "straps": ("estraps", "estreps"),
        "soles": ("sools", "soulz"),
    }),
    char_noise=False,
)

# Strings only traveller phrasings contain (whole words, any case); every template writes at least one.
TRAVELLER_FRAME_MARKERS = (
    "same model", "same like", "what i need", "please to", "make it to be", "make them to be", "you make it",
    "you make them", "i search", "i am searching", "i want that it", "i want that they", "in change of",
    "this one have", "this ones have", "not more", "tnx", "merci", "plis", "must to be", "i want it of",
    "i want them of", "no have", "no is", "no are", "i not like", "not necessary", "respect to this",
    "respect to these", "how to say", "dear seller", "is possible", "beforehand", "do the needful", "hello sir",
    "good day", "hello dear", "with respect", "gracias", "danke", "i very like", "exists this model", "i take it",
    "i take them", "have you this", "have you these", "there is this", "there are these", "nothing other",
    "i would want",
)


def traveller_markers() -> tuple[str, ...]:
    """Every string that marks a traveller phrasing: its frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(TRAVELLER_FRAME_MARKERS, TRAVELLER)


# --- pieces -------------------------------------------------------------------------------------------------------

# Comparatives as a learner builds them: "more" before the adjective, doubled on a comparative that already ends in
# -er, and the false friends ("clear" for light, "large" for loose, "brilliant" for shiny). A noun the comparative
# qualifies ("sleeves", "neckline", "heel") comes first, without its article, as in the learner's own language.
_ANALYTIC = {"darker": "more dark", "lighter": "more clear", "longer": "more longer", "shorter": "more shorter",
             "tighter": "more narrow", "looser": "more large", "shinier": "more brilliant",
             "less shiny": "less brilliant", "higher": "more higher", "lower": "more lower"}
_ANALYTIC_OF_PART = {("lower", "neckline"): "more deep", ("higher", "neckline"): "more closed"}
_COMP = re.compile(r"(with (?:a )?)?\{adv\}(less shiny|[a-z]+)(?: ([a-z]+))?")


def _learner_comp(x: Context, change: Change) -> str:
    """One change's comparative in a learner's form ("with sleeves little bit more longer", "very much more dark")."""
    found = _COMP.fullmatch(change.comp or "")
    if not found:  # a form this set does not know: keep the shared one, with this set's adverb
        return (change.comp or "").format(adv=x.adverb(change))
    word, part = found.group(2), found.group(3)
    phrase = x.adverb(change) + _ANALYTIC_OF_PART.get((word, part), _ANALYTIC.get(word, f"more {word}"))
    return f"with {part} {phrase}" if part else phrase


def _learner_comps(x: Context) -> str:
    """The learner comparatives of the changes that have one, or ''."""
    comps = [_learner_comp(x, c) for c in x.changes if c.comp]
    return join_list(comps) if comps else ""


def _subject(x: Context) -> str:
    return "they" if x.plural else "it"


def _typos(x: Context, text: str) -> str:
    # Only the changes are misspelled, so the frame keeps its marker.
    return misspell(text, x.lex, x.rng)


def _noun(x: Context) -> str:
    """A garment word of this set, bare ("robe", "zapatos")."""
    return x.rng.choice(x.lex.garment_nouns[x.category])


def _with_article(x: Context, noun: str) -> str:
    # The shoe words are plural: no article, as a learner who has no plural article would write them.
    if x.category == "shoes":
        return noun
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _colours(x: Context, text: str) -> str:
    return substitute_colours(text, x.lex, x.rng, x.colours)


# --- templates ----------------------------------------------------------------------------------------------------

def _what_i_need(x: Context) -> str:
    head = "the ones what i need are" if x.plural else "the model what i need is"
    return f"{head} {x.preds()}"


def _want_that(x: Context) -> str:
    return f"i want that {'they are' if x.plural else 'it is'} {x.preds()}"


def _this_one_have(x: Context) -> str:
    head = "this ones have" if x.plural else "this one have"
    return f"{head} {join_list([c.old_noun for c in x.changes])}, i need {join_list([c.noun for c in x.changes])}"


def _attr_value(x: Context, frame: str, last: str = " and ") -> str:
    return join_list([frame.format(attr=c.attr, value=c.value) for c in x.changes], last)


def _no_have(x: Context) -> str:
    subject, be = _subject(x), x.be
    return "; ".join(f"{subject} no have {c.removed}" if c.removed
                     else f"{subject} no {be} {c.old_pred}, {be} {c.pred}" for c in x.changes)


def _not_like(x: Context) -> str:
    return ", ".join(f"i not like the {c.removed}" if c.removed else f"i not like {c.old_pred}, better {c.pred}"
                     for c in x.changes)


def _not_necessary(x: Context) -> str:
    return ", ".join(f"not necessary the {c.removed}" if c.removed else f"{c.old_pred} not necessary, {c.pred} yes"
                     for c in x.changes)


def _comparative_same_model(x: Context) -> str:
    comps = _learner_comps(x)
    return f"the same model but {comps} ({x.preds()})" if comps else f"the same model, only {x.preds()}"


def _comparative_respect(x: Context) -> str:
    # The shared -er comparatives here, with this set's adverbs ("very much darker"); "respect to" is a calque.
    comps = x.comps()
    if not comps:
        return f"{x.preds()} respect to {x.this}"
    return f"{comps} respect to {x.this}, {x.preds()}"


def _comparative_how_to_say(x: Context) -> str:
    comps = _learner_comps(x)
    return f"how to say, {comps}, so {x.preds()}" if comps else f"how to say... {x.preds()}"


def _polite_greeting(x: Context) -> str:
    greeting = x.rng.choice(("good day", "hello dear"))
    closing = x.rng.choice(("with respect", "gracias", "danke"))
    return f"{greeting}, i would want {x.one} {x.mods()}. {closing}"


def _two_sentences_very_like(x: Context) -> str:
    # "but better it is" stands for "it would be better if it were", word for word.
    return f"i very like this model. but better {'they are' if x.plural else 'it is'} {x.preds()}."


def _two_sentences_same_model(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    tail = f"also {join_list([c.pred for c in rest])}." if rest else "nothing other."
    return f"same model for me, but {first.pred}. {tail}"


def _there_is(x: Context) -> str:
    return f"{'there are these' if x.plural else 'there is this'} model {x.mods()}?"


def _synonyms_search(x: Context) -> str:
    return _colours(x, f"i search {_with_article(x, _noun(x))} {x.mods()}")


def _synonyms_there_is(x: Context) -> str:
    head = "there are these" if x.category == "shoes" else "there is this"
    return _colours(x, f"{head} {_noun(x)} {x.mods()}?")


def _synonyms_same_like(x: Context) -> str:
    return _colours(x, f"{_noun(x)} {x.preds()}, same like this")


TRAVELLER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("traveller.descriptive.same_model", lambda x: f"the same model but {x.preds()}"),
        ("traveller.descriptive.same_like", lambda x: f"same like this, only {x.mods()}"),
        ("traveller.descriptive.what_i_need", _what_i_need),
    ),
    "imperative": (
        ("traveller.imperative.to_be", lambda x: f"make {x.it} to be {x.preds()}"),
        ("traveller.imperative.you_make", lambda x: f"you make {x.it} {x.preds()} please"),
        ("traveller.imperative.please_to", lambda x: f"please to make {x.it} {x.preds()}"),
    ),
    "wish": (
        ("traveller.wish.search", lambda x: f"i search {x.one} {x.mods()}"),
        ("traveller.wish.searching", lambda x: f"i am searching {x.this} model but {x.preds()}"),
        ("traveller.wish.want_that", _want_that),
    ),
    "contrastive": (
        ("traveller.contrastive.in_change_of",
         lambda x: ", ".join(f"{c.noun} in change of {c.old_noun}" for c in x.changes)),
        ("traveller.contrastive.this_one_have", _this_one_have),
        ("traveller.contrastive.not_more", lambda x: "; ".join(f"not more {c.old_pred}, now {c.pred}"
                                                               for c in x.changes)),
    ),
    "terse": (
        ("traveller.terse.tnx", lambda x: f"{', '.join(c.pred for c in x.changes)} tnx"),
        ("traveller.terse.merci", lambda x: f"{_attr_value(x, '{attr} {value}', ', ')}, merci"),
        ("traveller.terse.same_model", lambda x: f"{x.preds()}, same model"),
    ),
    "attribute": (
        ("traveller.attribute.must_to_be", lambda x: _attr_value(x, "the {attr} must to be {value}", ", ")),
        ("traveller.attribute.want_of", lambda x: f"i want {x.it} of {_attr_value(x, '{attr} {value}')}"),
        ("traveller.attribute.change_in", lambda x: f"please to change {_attr_value(x, 'the {attr} in {value}')}"),
    ),
    "negation": (
        ("traveller.negation.no_have", _no_have),
        ("traveller.negation.not_like", _not_like),
        ("traveller.negation.not_necessary", _not_necessary),
    ),
    "comparative": (
        ("traveller.comparative.same_model", _comparative_same_model),
        ("traveller.comparative.respect", _comparative_respect),
        ("traveller.comparative.how_to_say", _comparative_how_to_say),
    ),
    "polite": (
        ("traveller.polite.dear_seller",
         lambda x: f"dear seller, is possible to have {x.this} {x.mods()}? thank you beforehand"),
        ("traveller.polite.needful", lambda x: f"hello sir, please make {x.it} {x.preds()} and do the needful"),
        ("traveller.polite.greeting", _polite_greeting),
    ),
    "two_sentences": (
        ("traveller.two_sentences.very_like", _two_sentences_very_like),
        ("traveller.two_sentences.exists",
         lambda x: f"exists this model {x.mods()}? i take {x.it} immediately."),
        ("traveller.two_sentences.same_model", _two_sentences_same_model),
    ),
    "question": (
        ("traveller.question.have_you", lambda x: f"have you {x.this} {x.mods()}?"),
        ("traveller.question.there_is", _there_is),
        ("traveller.question.is_possible", lambda x: f"is possible to have {x.it} {x.preds()}?"),
    ),
    "misspelled": (
        ("traveller.misspelled.search", lambda x: f"i search {x.one} {_typos(x, x.mods())}"),
        ("traveller.misspelled.to_be", lambda x: f"make {x.it} to be {_typos(x, x.preds())}"),
        ("traveller.misspelled.plis", lambda x: f"{_typos(x, x.preds())} plis"),
    ),
    "synonyms": (
        ("traveller.synonyms.search", _synonyms_search),
        ("traveller.synonyms.there_is", _synonyms_there_is),
        ("traveller.synonyms.same_like", _synonyms_same_like),
    ),
})
