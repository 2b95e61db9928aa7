"""The ``latecomer`` phrasing set: shoppers who speak to a voice assistant, as its transcript writes them down.

What it imitates: a shopper holding a phone and saying what they want instead of typing it, with the speech
recogniser's output taken literally. Such text is all lower case and unpunctuated (the one exception is a shopper
who dictates the punctuation and gets its name back as words), strings its parts together with "and ... and"
rather than commas, keeps the hesitations ("um", "uh", "hmm"), the restarts ("hang on", "alright so") and the
commands people give assistants ("search for", "filter by", "new search"). Its misspellings are what a recogniser
mishears (a homophone, a word split in two, a word it only knows as a name) beside a few slips a shopper makes
correcting the transcript by thumb; its colour words are the shade names people say aloud; its comparatives are
spoken ones.

Evaluation only: the generator's ``--phrasing`` does not offer it (tested), so no catalogue carries it, and stage-3
augmentation never sees it. It exists to check, blind, a request reader nobody tuned on its wording.

How it was written: from the interface alone (:class:`~data_prep.phrasing.lexicon.Lexicon`,
:mod:`~data_prep.phrasing.set_parts`, the :class:`~data_prep.phrasing.changes.Change` forms, the ``Context`` of
:mod:`~data_prep.phrasing.styles` and the tests), without opening the request reader or its vocabulary, the other
evaluation sets' modules or any result. The wording was made up first; a throwaway script then answered only
yes or no, per candidate string, whether it collided with another set's markers, another set's phrasings or a
training catalogue's captions. Many first choices did (about half the shade names and misspellings, and a few
openers: earlier sets had thought of them too); each was replaced by another word of the same crowd and checked
again the same way.

Every template writes one of :data:`LATECOMER_FRAME_MARKERS` (tested); the lexicon's adverbs, shades, garment
words and misspellings are markers too (:func:`latecomer_markers`).
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Iterable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import substitute_colours
from data_prep.phrasing.set_parts import garment_noun, set_markers, typos

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context, Template

LATECOMER = Lexicon(
    name="latecomer",
    strong_adverbs=("a heck of a lot ", "like way "),
    mild_adverbs=("a tiny bit ", "ever so slightly "),
    # Shade names people say aloud; none holds a canonical colour name, so a synonym names one colour only.
    colour_synonyms=MappingProxyType({
        "black": ("licorice", "tuxedo"), "white": ("eggshell", "bone"), "grey": ("smoke", "pigeon"),
        "red": ("tomato", "fire engine"), "blue": ("cerulean", "lapis"), "navy": ("sailor", "deep sea"),
        "green": ("grass", "clover"), "yellow": ("sunflower", "banana"), "pink": ("cotton candy", "strawberry"),
        "purple": ("wisteria", "boysenberry"), "orange": ("mango", "traffic cone"), "brown": ("cocoa", "pecan"),
        "beige": ("latte", "cashew"), "burgundy": ("sangria", "chianti"), "teal": ("spruce", "caribbean"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("wrap dress", "skater dress"), "shirt": ("flannel", "poplin"),
        "toptee": ("shell top", "pocket tee"), "shoes": ("walking shoes", "casual shoes"),
    }),
    # What a recogniser writes for the word (a homophone, a split, a name, a spelling from the sound) and a few
    # slips of a thumb correcting the transcript; four letters or more, so none is a short everyday word.
    misspellings=MappingProxyType({
        "red": ("read",), "blue": ("bluee",), "white": ("whiet",), "black": ("blakc", "bllack"),
        "grey": ("graye",), "brown": ("bronw", "brownn"), "pink": ("pikn",), "purple": ("puple",),
        "beige": ("beigh", "beighe"), "navy": ("navee", "nevy"), "teal": ("tiel", "teeal"),
        "burgundy": ("burgundey",), "yellow": ("yelllow",), "orange": ("oranj", "ornge"), "green": ("greeen",),
        "sleeveless": ("sleeves less", "sleevelesss"), "collar": ("caller",), "neckline": ("neck line",),
        "length": ("legnth",), "maxi": ("maxxy", "macksi"), "midi": ("middy",), "mini": ("minnie",),
        "plaid": ("plad",), "polka": ("poker", "polker"), "floral": ("florial",), "flowers": ("flours",),
        "checks": ("cheques",), "stiletto": ("stilletto",), "stilettos": ("stillettos",), "sandals": ("sandils",),
        "sneaker": ("snicker",), "sneakers": ("speakers",), "ballet": ("ballay",), "strappy": ("scrappy",),
        "matte": ("matty",), "heel": ("he'll",), "heeled": ("healed",), "graphic": ("grafic",),
        "ankle": ("ankel",), "wedding": ("weding",), "loose": ("looce",), "pointed": ("pointid",),
        "sleeves": ("sleevees",),
    }),
    char_noise=False,
)

# Every template writes at least one (whole words, any case); no other set's phrasing and no training caption does.
# No bare "um" or "uh": two letters flanked by digits occur in product ids (whole-word matching stops at letters
# only), so the fillers mark the set only in the pairs a speaker says them in.
LATECOMER_FRAME_MARKERS = (
    "so um", "and um", "yeah um", "um yeah", "um okay", "uh okay", "hmm okay", "right um", "alright um",
    "alright so", "hang on", "i mean", "search for", "filter by", "new search", "question mark",
    "preferably", "do you mind", "so basically", "could you please", "thanks so much", "what i really want",
    "but i need", "can i see", "you know", "the ones i want",
)


def latecomer_markers() -> tuple[str, ...]:
    """Every string that marks a latecomer phrasing: its frames, adverbs, shades, garment words and misspellings."""
    return set_markers(LATECOMER_FRAME_MARKERS, LATECOMER)


def _said(items: Iterable[str]) -> str:
    """Parts strung together as speech does it: "a and b and c" (a transcript has no commas to list with)."""
    return " and ".join(items)


def _preds(x: Context) -> str:
    return _said(c.pred for c in x.changes)


def _mods(x: Context) -> str:
    return _said(c.mod for c in x.changes)


def _subject(x: Context) -> str:
    return "they" if x.plural else "it"


def _comp(x: Context, c: Change) -> str:
    """The change's comparative with a spoken adverb, its article agreeing ("with a a tiny bit lower" and
    "with a ever so slightly lower" are not what anyone says)."""
    if not c.comp:
        return ""
    return re.sub(r"\ba (?=[aeiou])", "an ", c.comp.format(adv=x.adverb(c)).replace(" a a ", " a "))


def _compared(x: Context, joint: str) -> str:
    """Each change as a comparative followed by its value (``joint`` between), or by its plain form."""
    return _said(f"{_comp(x, c)}{joint}{c.pred}" if c.comp else c.mod for c in x.changes)


def _negated(x: Context, removed: str, changed: str) -> str:
    """Each change in the frame of its kind: ``removed`` ({r}), ``changed`` ({old}, {new}, {it})."""
    return _said(removed.format(r=c.removed) if c.removed
                 else changed.format(old=c.old_pred, new=c.pred, noun=c.noun, it=x.it)
                 for c in x.changes)


def _two_sentences_split(x: Context) -> str:
    """The first change in one breath, the rest after a pause (the recogniser puts a full stop there)."""
    first, rest = x.changes[0], x.changes[1:]
    tail = f"and um {_said(c.mod for c in rest)}" if rest else "um yeah nothing else"
    return f"okay i want {x.one} {first.mod}. {tail}"


_DESCRIPTIVE: tuple[tuple[str, Template], ...] = (
    ("latecomer.descriptive.looking", lambda x: f"so um looking for {x.one} {_mods(x)}"),
    ("latecomer.descriptive.the_one",
     lambda x: f"alright so the {'ones' if x.plural else 'one'} i want {x.be} {_preds(x)}"),
    ("latecomer.descriptive.something", lambda x: f"uh something {_mods(x)} you know"),
)

_IMPERATIVE: tuple[tuple[str, Template], ...] = (
    ("latecomer.imperative.make", lambda x: f"alright so make {x.it} {_preds(x)}"),
    ("latecomer.imperative.search", lambda x: f"search for {x.one} {_mods(x)}"),
    ("latecomer.imperative.give", lambda x: f"yeah um give me {x.one} {_mods(x)} instead"),
)

_WISH: tuple[tuple[str, Template], ...] = (
    ("latecomer.wish.preferably", lambda x: f"preferably {_subject(x)} would be {_preds(x)}"),
    ("latecomer.wish.be_nice",
     lambda x: f"hmm okay it would be nice if {_subject(x)} {'were' if x.plural else 'was'} {_preds(x)}"),
    ("latecomer.wish.really", lambda x: f"hmm what i really want is {x.one} {_mods(x)}"),
)

_CONTRASTIVE: tuple[tuple[str, Template], ...] = (
    ("latecomer.contrastive.not", lambda x: "uh okay " + _said(f"{c.pred} not {c.old_pred}" for c in x.changes)),
    ("latecomer.contrastive.instead_of",
     lambda x: f"alright so instead of {_said(c.old_pred for c in x.changes)} make {x.it} {_preds(x)}"),
    ("latecomer.contrastive.but_i_need",
     lambda x: f"hmm {'these are' if x.plural else 'this one is'} {_said(c.old_pred for c in x.changes)} "
               f"but i need {_preds(x)}"),
)

_TERSE: tuple[tuple[str, Template], ...] = (
    ("latecomer.terse.um", lambda x: "um yeah " + " ".join(c.pred for c in x.changes)),
    ("latecomer.terse.uh", lambda x: _preds(x) + " and um"),
    ("latecomer.terse.hmm", lambda x: "right um " + " ".join(c.mod for c in x.changes)),
)

_ATTRIBUTE: tuple[tuple[str, Template], ...] = (
    ("latecomer.attribute.change",
     lambda x: "alright um change the " + " and the ".join(f"{c.attr} to {c.value}" for c in x.changes)),
    ("latecomer.attribute.set",
     lambda x: "so um set the " + " and the ".join(f"{c.attr} to {c.value}" for c in x.changes)),
    ("latecomer.attribute.filter", lambda x: "filter by " + _said(f"{c.attr} {c.value}" for c in x.changes)),
)

_NEGATION: tuple[tuple[str, Template], ...] = (
    ("latecomer.negation.without",
     lambda x: "um okay " + _negated(x, "without the {r}", "not {old} anymore but {new}")),
    ("latecomer.negation.dont_want",
     lambda x: "yeah um " + _negated(x, "no {r} at all", "not {old} i want {noun}")),
    ("latecomer.negation.take_off",
     lambda x: "hang on " + _negated(x, "take off the {r}", "not {old} make {it} {new}")),
)

_COMPARATIVE: tuple[tuple[str, Template], ...] = (
    ("latecomer.comparative.like", lambda x: "so um something " + _compared(x, " like ")),
    ("latecomer.comparative.i_mean", lambda x: f"hang on i need {x.one} " + _compared(x, " i mean ")),
    ("latecomer.comparative.basically",
     lambda x: f"alright so get me {x.one} " + _compared(x, " so basically ")),
)

_POLITE: tuple[tuple[str, Template], ...] = (
    ("latecomer.polite.could", lambda x: f"um could you please find {x.one} {_mods(x)} thank you"),
    ("latecomer.polite.mind", lambda x: f"do you mind finding {x.one} {_mods(x)} please"),
    ("latecomer.polite.thanks", lambda x: f"alright so please make {x.it} {_preds(x)} thanks so much"),
)

_TWO_SENTENCES: tuple[tuple[str, Template], ...] = (
    ("latecomer.two_sentences.close",
     lambda x: f"hmm okay {'these are' if x.plural else 'this is'} close. make {x.it} {_preds(x)}"),
    ("latecomer.two_sentences.split", _two_sentences_split),
    ("latecomer.two_sentences.new_search", lambda x: f"new search. {x.one} {_mods(x)} please"),
)

_QUESTION: tuple[tuple[str, Template], ...] = (
    # Dictated punctuation the recogniser wrote back as words.
    ("latecomer.question.have", lambda x: f"do you have {x.one} {_mods(x)} question mark"),
    ("latecomer.question.is_there", lambda x: f"so um is there {x.one} {_mods(x)}"),
    ("latecomer.question.can_i_see", lambda x: f"uh can i see {x.one} {_mods(x)}"),
)

_MISSPELLED: tuple[tuple[str, Template], ...] = (
    ("latecomer.misspelled.make", lambda x: f"alright so make {x.it} {typos(x, _preds(x))}"),
    ("latecomer.misspelled.looking", lambda x: f"so um looking for {x.one} {typos(x, _mods(x))}"),
    ("latecomer.misspelled.search", lambda x: f"hang on search for {x.one} {typos(x, _mods(x))}"),
)

def _synonyms(frame: str) -> Template:
    """A synonyms template: ``frame`` ({noun}, {mods}) with a garment word and shades of the set.

    Not :func:`~data_prep.phrasing.set_parts.synonyms`, whose modifiers are listed with commas: speech has none.
    """
    def template(x: Context) -> str:
        return substitute_colours(frame.format(noun=garment_noun(x), mods=_mods(x)), x.lex, x.rng, x.colours)
    return template


_SYNONYMS: tuple[tuple[str, Template], ...] = (
    ("latecomer.synonyms.want", _synonyms("um yeah i want {noun} {mods}")),
    ("latecomer.synonyms.find", _synonyms("alright so find {noun} {mods}")),
    ("latecomer.synonyms.have", _synonyms("uh okay do you have {noun} {mods}")),
)

LATECOMER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": _DESCRIPTIVE, "imperative": _IMPERATIVE, "wish": _WISH, "contrastive": _CONTRASTIVE,
    "terse": _TERSE, "attribute": _ATTRIBUTE, "negation": _NEGATION, "comparative": _COMPARATIVE,
    "polite": _POLITE, "two_sentences": _TWO_SENTENCES, "question": _QUESTION, "misspelled": _MISSPELLED,
    "synonyms": _SYNONYMS,
})
