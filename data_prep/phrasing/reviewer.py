"""The ``reviewer`` phrasing set (evaluation only): shoppers who word their request as a review of the product in
the photo, on a shop's review form, a forum or a social post.

They say what they liked and what they would change, in a review's register: star ratings and scores out of five
or ten, verdicts, pros and cons, dealbreakers, complaints and gripes, comparisons with what they already own, mild
sarcasm and hedges. Every template still names every change of the modification, in the forms of
:mod:`data_prep.phrasing.changes` (and, for the contrastive and negation styles, the reference's value or what is
removed), so a difference in recall is the wording's alone.

Written blind: its author saw neither the request reader (``cti_ir``), nor the other sets' modules, nor any
results or history; only the interface (:mod:`~data_prep.phrasing.lexicon`, :mod:`~data_prep.phrasing.styles`,
:mod:`~data_prep.phrasing.changes`, :mod:`~data_prep.phrasing.set_parts`, :mod:`~data_prep.phrasing.noise`) and the
tests. Every reviewer phrasing carries one of :func:`reviewer_markers` (tested), no other set's phrasing does.

Like the other sets' modules, this imports neither :mod:`~data_prep.phrasing.styles` nor the package.
"""

from __future__ import annotations

import random
import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import misspell, substitute_colours
from data_prep.phrasing.set_parts import join_list, set_markers, terse

if TYPE_CHECKING:
    from data_prep.phrasing.styles import Context

REVIEWER = Lexicon(
    name="reviewer",
    strong_adverbs=("leagues ", "a country mile ", "vastly "),
    mild_adverbs=("a titch ", "a nudge ", "a hint "),
    colour_synonyms=MappingProxyType({
        "grey": ("zinc", "wet pavement"), "navy": ("inkwell", "regatta"), "beige": ("porridge", "digestive"),
        "burgundy": ("sloe gin", "sour cherry"), "purple": ("ultraviolet", "parma violet"),
        "teal": ("peacock feather", "duck pond"), "blue": ("forget-me-not", "gas flame"),
        "black": ("tarmac", "squid ink"), "white": ("tippex", "meringue"), "red": ("pillarbox", "fire truck"),
        "green": ("juniper", "pea soup"), "yellow": ("citron", "rubber duck"), "pink": ("prawn", "piglet"),
        "orange": ("space hopper", "lifejacket"), "brown": ("umber", "gravy"),
    }),
    garment_nouns=MappingProxyType({
        "dress": ("date-night piece", "occasion piece"), "shirt": ("office staple", "weekend shirt"),
        "toptee": ("wardrobe basic", "layering piece"), "shoes": ("foot candy", "steppers"),
    }),
    # Slips of a thumb on a review form: none is one dropped, doubled or swapped letter away from the word, so no
    # procedural typo of another set writes one.
    misspellings=MappingProxyType({
        "sleeveless": ("slevleess", "sleevliss"), "sleeves": ("sleavez", "shleeves"),
        "burgundy": ("burgunddie", "bergandy"), "beige": ("beijh", "beyj"), "purple": ("puurpl", "perpul"),
        "yellow": ("yeelo", "yelluw"), "orange": ("orinje", "oreinge"), "navy": ("nauvy", "naivy"),
        "teal": ("tealle", "teyl"), "collar": ("colloar", "callor"), "stilettos": ("stilettows", "stilettoz"),
        "sandals": ("sandoles", "sandahls"), "floral": ("florrall",), "fitted": ("fitded", "phitted"),
        "loose": ("lhoose", "loosey"), "striped": ("stript",), "matte": ("mattie", "matey"),
        "glossy": ("gloassy",), "length": ("lenghf", "lentgth"), "midi": ("meedi", "middee"),
        "sneakers": ("sneakahs", "sneeekers"),
    }),
    char_noise=False,
)

# The review frames: every template writes at least one of these (tested through reviewer_markers()).
REVIEWER_FRAME_MARKERS = (
    "stars", "would be five", "gorgeous in person", "verdict", "note to the brand", "take my money",
    "glowing review", "in a heartbeat", "10/10", "keep checking back", "only complaint", "pros", "cons",
    "docked a star", "5/5", "bottom line", "rebuy", "rating breakdown", "would tweak", "next batch",
    "kills it for me", "or bust", "nobody asked", "a nope from me", "fifth star", "already own", "than pictured",
    "the pictured one", "any plans to release", "design team", "polite request", "would fix everything",
    "quality is superb", "only gripe", "still waiting", "am i the only one", "other reviewers", "genuinely baffled",
    "wuold", "reccomend", "starz", "qaulity", "next tiem", "perfect ten", "hands down", "scouring the site",
)


def reviewer_markers() -> tuple[str, ...]:
    """Every string that marks a reviewer phrasing: its frames, adverbs, synonyms, garment words and misspellings."""
    return set_markers(REVIEWER_FRAME_MARKERS, REVIEWER)


Template = Callable[["Context"], str]


# --- small pieces ---------------------------------------------------------------------------------------------------

def _subj(x: Context) -> str:
    return "they" if x.plural else "it"


def _was(x: Context) -> str:
    return "were" if x.plural else "was"


def _stars(x: Context) -> str:
    return x.rng.choice(("3", "4", "three", "four"))


def _mods(x: Context, changes) -> str:
    return join_list([c.mod for c in changes])


def _preds(x: Context, changes) -> str:
    return join_list([c.pred for c in changes])


def _item(x: Context) -> str:
    """A garment word of the set with its article ("a poplin", "some foot candy")."""
    noun = x.rng.choice(x.lex.garment_nouns[x.category])
    if x.category == "shoes":
        return f"some {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


_WORD = re.compile(r"[a-z]+")


def _two_slips(word: str, rng: random.Random) -> str:
    """The word with two slips at once: two different neighbouring letters swapped and its last letter doubled
    (where no two neighbours differ, a letter dropped too)."""
    spots = [i for i in range(1, len(word) - 2) if word[i] != word[i + 1]]
    if not spots:
        return word[:2] + word[3:] + word[-1]
    i = rng.choice(spots)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:] + word[-1]


def _typos(x: Context, text: str) -> str:
    """``text`` (the changes only, so the frame keeps its marker) with the set's listed misspellings; where none of
    its words is listed, one word of five letters or more with two slips (never a one-slip typo of another set)."""
    words = list(dict.fromkeys(_WORD.findall(text)))
    if any(w in x.lex.misspellings for w in words):
        return misspell(text, x.lex, x.rng)
    long_words = [w for w in words if len(w) >= 5]
    if not long_words:
        return text
    word = x.rng.choice(long_words)
    return re.sub(rf"(?<![a-z']){word}(?![a-z'])", _two_slips(word, x.rng), text, count=1)


def _swap_colours(x: Context, text: str) -> str:
    return substitute_colours(text, x.lex, x.rng, x.colours)


# --- the templates that need more than a line -------------------------------------------------------------------------

def _c_only_complaint(x: Context) -> str:
    olds = join_list([c.old_pred for c in x.changes])
    return f"only complaint is that {_subj(x)} {x.be} {olds}, and {x.preds()} would have been better"


def _c_pros_cons(x: Context) -> str:
    return "pros: lovely fabric. cons: " + "; ".join(f"{c.old_noun} where i wanted {c.noun}" for c in x.changes)


def _c_docked(x: Context) -> str:
    return "docked a star. " + "; ".join(f"{c.attr}: got {c.old_value}, wanted {c.value}" for c in x.changes)


def _a_breakdown(x: Context) -> str:
    parts = [f"{c.attr} {x.rng.choice(('1', '2', '3'))}/5 (want {c.value})" for c in x.changes]
    return "rating breakdown: " + ", ".join(parts)


def _n_kills_it(x: Context) -> str:
    return "what kills it for me: " + "; ".join(f"the {c.removed}" if c.removed else f"{c.old_pred} ({c.pred} or bust)"
                                       for c in x.changes)


def _n_nobody(x: Context) -> str:
    return "; ".join(f"the {c.removed}? nobody asked" if c.removed
                     else f"{c.old_pred}? nobody asked. {c.pred}, please" for c in x.changes)


def _n_nope(x: Context) -> str:
    return "; ".join(f"the {c.removed}: a nope from me" if c.removed
                     else f"{c.old_pred}: a nope from me, {c.pred}: yes please" for c in x.changes)


def _cp_fifth_star(x: Context) -> str:
    comps = x.comps()
    return f"to earn the fifth star: {comps}, i.e. {x.preds()}" if comps else f"to earn the fifth star: {x.preds()}"


def _cp_already_own(x: Context) -> str:
    comps, mine = x.comps(), "the pair" if x.category == "shoes" else "the one"
    head = f"next to {mine} i already own, {x.this} should be"
    return f"{head} {comps} ({x.preds()})" if comps else f"{head} {x.preds()}"


def _cp_pictured(x: Context) -> str:
    comps = x.comps()
    return f"{comps} than pictured would be ideal: {x.preds()}" if comps else \
        f"{x.preds()} would beat the pictured one"


def _ts_fix_everything(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    head = f"{first.pred} would fix everything for me."
    return head + (f" {_preds(x, rest)} as well, then i would stop complaining." if rest else " i rest my case.")


def _ts_superb(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    head = f"quality is superb. but {_subj(x)} should be {first.pred}."
    return head + (f" and {_mods(x, rest)}, while we are at it." if rest else " my only gripe.")


def _ts_waiting(x: Context) -> str:
    first, rest = x.changes[0], x.changes[1:]
    head = f"edit: still waiting for {x.one} {first.mod}."
    return head + (f" {_mods(x, rest)} too, as a bonus." if rest else " patience wearing thin.")


REVIEWER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (
        ("reviewer.descriptive.1", lambda x: f"{_stars(x)} stars. would be five if {_subj(x)} {_was(x)} {x.preds()}"),
        ("reviewer.descriptive.2", lambda x: f"gorgeous in person, but the keeper would be {x.preds()}"),
        ("reviewer.descriptive.3",
         lambda x: f"verdict: nearly there; the perfect {'pair' if x.category == 'shoes' else 'one'} "
                   f"is {x.preds()}"),
    ),
    "imperative": (
        ("reviewer.imperative.1", lambda x: f"note to the brand: reissue {x.it} {x.mods()}"),
        ("reviewer.imperative.2", lambda x: f"give me {x.this} {x.mods()}; take my money"),
        ("reviewer.imperative.3", lambda x: f"remake {x.it} {x.mods()} and the glowing review is yours"),
    ),
    "wish": (
        ("reviewer.wish.1", lambda x: f"would buy in a heartbeat if {_subj(x)} came {x.mods()}"),
        ("reviewer.wish.2", lambda x: f"10/10 if only {_subj(x)} {_was(x)} {x.preds()}"),
        ("reviewer.wish.3", lambda x: f"i keep checking back in case {x.one} {x.mods()} appears"),
    ),
    "contrastive": (
        ("reviewer.contrastive.1", _c_only_complaint),
        ("reviewer.contrastive.2", _c_pros_cons),
        ("reviewer.contrastive.3", _c_docked),
    ),
    "terse": (
        ("reviewer.terse.1", lambda x: f"{terse(x)}, instant 5/5"),
        ("reviewer.terse.2", lambda x: f"bottom line: {terse(x)}"),
        ("reviewer.terse.3", lambda x: f"rebuy if {terse(x)}"),
    ),
    "attribute": (
        ("reviewer.attribute.1", _a_breakdown),
        ("reviewer.attribute.2",
         lambda x: "what i would tweak: " + join_list([f"the {c.attr} to {c.value}" for c in x.changes])),
        ("reviewer.attribute.3",
         lambda x: "next batch feedback: " + "; ".join(f"{c.attr} {c.value}, please" for c in x.changes)),
    ),
    "negation": (
        ("reviewer.negation.1", _n_kills_it),
        ("reviewer.negation.2", _n_nobody),
        ("reviewer.negation.3", _n_nope),
    ),
    "comparative": (
        ("reviewer.comparative.1", _cp_fifth_star),
        ("reviewer.comparative.2", _cp_already_own),
        ("reviewer.comparative.3", _cp_pictured),
    ),
    "polite": (
        ("reviewer.polite.1", lambda x: f"lovely quality, thank you! any plans to release {x.one} {x.mods()}?"),
        ("reviewer.polite.2", lambda x: f"humble suggestion to the design team: {x.one} {x.mods()} would be much "
                                        f"appreciated"),
        ("reviewer.polite.3",
         lambda x: f"five stars on service, and one polite request: {x.preds()} next time, please"),
    ),
    "two_sentences": (
        ("reviewer.two_sentences.1", _ts_fix_everything),
        ("reviewer.two_sentences.2", _ts_superb),
        ("reviewer.two_sentences.3", _ts_waiting),
    ),
    "question": (
        ("reviewer.question.1", lambda x: f"am i the only one who wants {x.this} {x.mods()}?"),
        ("reviewer.question.2", lambda x: f"question for other reviewers: has anyone seen {x.one} {x.mods()}?"),
        ("reviewer.question.3", lambda x: f"why has nobody made {x.this} {x.mods()}? genuinely baffled"),
    ),
    "misspelled": (
        ("reviewer.misspelled.1",
         lambda x: f"wuold reccomend if {_subj(x)} {_was(x)} {_typos(x, x.preds())}"),
        ("reviewer.misspelled.2", lambda x: f"{_typos(x, x.preds())} and id give {x.it} five starz"),
        ("reviewer.misspelled.3", lambda x: f"qaulity is grate, just {_typos(x, x.mods())} next tiem"),
    ),
    "synonyms": (
        ("reviewer.synonyms.1", lambda x: _swap_colours(x, f"would rate {_item(x)} {x.mods()} a perfect ten")),
        ("reviewer.synonyms.2",
         lambda x: _swap_colours(x, f"hands down my favourite {x.rng.choice(x.lex.garment_nouns[x.category])} "
                                    f"if {_subj(x)} {_was(x)} {x.preds()}")),
        ("reviewer.synonyms.3",
         lambda x: _swap_colours(x, f"scouring the site for {_item(x)} {x.mods()}; until then, {_stars(x)} stars")),
    ),
})
