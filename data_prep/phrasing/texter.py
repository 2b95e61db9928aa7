"""The ``texter`` phrasing set: shoppers messaging a friend, a personal stylist or a shop's chat assistant on a
phone messaging app.

Lower-case chat register with shorthand, hedges, run-on messages, several short messages sent one after another
(joined by a slash, a line break or dots), letters stretched for emphasis, and many ways of saying what they do
*not* want. Evaluation only, like the other sets kept apart from training. Written blind: its author saw neither
the request reader, nor the other sets' words, nor any results, nor the project's history; only the phrasing
interface (:mod:`~data_prep.phrasing.styles`, :mod:`~data_prep.phrasing.changes`,
:mod:`~data_prep.phrasing.set_parts`). Every template names every change of the triplet (the ``negation`` and
``contrastive`` styles name the reference's value too, or what is removed) and writes one of the set's markers
(:func:`texter_markers`). Its words are in :mod:`data_prep.phrasing.texter_words`.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from data_prep.phrasing.noise import substitute_colours
from data_prep.phrasing.set_parts import join_list, set_markers, typos
from data_prep.phrasing.texter_words import (
    CHANGE_FRAMES_A,
    CHANGE_FRAMES_B,
    CHANGE_FRAMES_C,
    CLOSERS,
    JOINTS,
    OPENERS,
    REMOVE_FRAMES_A,
    REMOVE_FRAMES_B,
    REMOVE_FRAMES_C,
    TEXTER,
    TEXTER_FRAME_MARKERS,
)

if TYPE_CHECKING:
    from data_prep.phrasing.changes import Change
    from data_prep.phrasing.styles import Context

__all__ = ["TEXTER", "TEXTER_TEMPLATES", "texter_markers"]

Template = Callable[["Context"], str]


def texter_markers() -> tuple[str, ...]:
    """Every string that marks a texter phrasing: its chat frames, adverbs, synonyms, garment words and typos."""
    return set_markers(TEXTER_FRAME_MARKERS, TEXTER)


# --- small pieces -----------------------------------------------------------------------------------------------

def _they(x: Context) -> str:
    """The product as a subject, chat spelling: "it" or "they"."""
    return "they" if x.plural else "it"


def _theyre(x: Context) -> str:
    """"its" or "theyre" (no apostrophe, as typed on a phone)."""
    return "theyre" if x.plural else "its"


def _wrap(x: Context, body: str) -> str:
    """``body`` with an optional chat opener and closer (none that the body already says)."""
    opener, closer = x.rng.choice(OPENERS), x.rng.choice(CLOSERS)
    said = set(re.findall(r"[a-z/]+", body))
    return f"{'' if opener.strip() in said else opener}{body}{'' if closer.strip() in said else closer}"


def _joint(x: Context) -> str:
    return x.rng.choice(JOINTS)


def _preds(x: Context, last: str = " and ") -> str:
    return join_list([c.pred for c in x.changes], last)


def _mods(x: Context, last: str = " and ") -> str:
    return join_list([c.mod for c in x.changes], last)


def _old(change: Change) -> str:
    """The reference's value after "not": "the white stripes", "a collar", but "plain" (not "not no pattern")."""
    if change.old_noun.startswith("no "):
        return change.old_pred
    return change.old_noun if change.old_noun.startswith(("a ", "an ")) else f"the {change.old_noun}"


def _not_wanted(x: Context, removals: Sequence[str], changes: Sequence[str], joint: str) -> str:
    """Each change in a not-wanted frame drawn from the given pools: a removal names what goes ({r}), another
    change the reference's value ({old}) and the target's ({new})."""
    parts = [x.rng.choice(removals).format(r=c.removed) if c.removed
             else x.rng.choice(changes).format(old=c.old_pred, new=c.pred) for c in x.changes]
    return joint.join(parts)


def _comps(x: Context) -> str:
    return x.comps()


def _garment(x: Context) -> str:
    """A texter word for the product with its article ("a lil top", "some shoesies")."""
    noun = x.rng.choice(x.lex.garment_nouns[x.category])
    if x.category == "shoes":
        return f"some {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _synonyms(x: Context, text: str) -> str:
    return substitute_colours(text, x.lex, x.rng, x.colours)


def _messages(x: Context, first: str, more: Callable[[Change], str], alone: str) -> str:
    """A request sent as several messages: ``first``, then one message per further change (or ``alone``)."""
    rest = [more(c) for c in x.changes[1:]]
    if not rest:
        return f"{first}{_joint(x)}{alone}"
    return _joint(x).join([first, *rest])


# --- the styles ---------------------------------------------------------------------------------------------------

def _descriptive_run_on(x: Context) -> str:
    return _wrap(x, f"the one im after is {_preds(x)} tbh")


def _descriptive_picture(x: Context) -> str:
    return f"ok so picture {x.this} but {_preds(x, ' + ')}... ya feel me? hahah"


def _descriptive_messages(x: Context) -> str:
    first, *_ = x.changes
    return _messages(x, f"smth {first.pred}", lambda c: f"{c.pred} too", "thats all ngl")


def _imperative_pls(x: Context) -> str:
    return _wrap(x, f"just make {x.it} {_preds(x)} already lol")


def _imperative_find(x: Context) -> str:
    return f"hunt down {x.one} {_mods(x)} for me and lmk"


def _imperative_steps(x: Context) -> str:
    return " / ".join(f"{c.pred} plzzz" for c in x.changes)


def _wish_reaaally(x: Context) -> str:
    return _wrap(x, f"i reaaally want {x.one} {_mods(x)} ngl")


def _wish_dying(x: Context) -> str:
    return f"omg im dying for {x.one} thats {_preds(x)}"


def _wish_if_only(x: Context) -> str:
    return f"if only {_they(x)} were {_preds(x)}... sigh lol"


def _contrast_greater(x: Context) -> str:
    return ", ".join(f"{c.noun} > {c.old_noun}" for c in x.changes) + " imo"


def _contrast_ugh(x: Context) -> str:
    olds = join_list([c.old_pred for c in x.changes])
    return f"ughhh {_theyre(x)} {olds}{_joint(x)}want {_preds(x)} tho"


def _contrast_not_the(x: Context) -> str:
    return _wrap(x, "; ".join(f"not {_old(c)}, {c.noun} instead" for c in x.changes) + " imo")


def _terse_slashes(x: Context) -> str:
    return " / ".join(c.pred for c in x.changes) + " thxxx"


def _terse_marks(x: Context) -> str:
    return ", ".join(c.pred for c in x.changes) + "?? thank uuu"


def _terse_plus(x: Context) -> str:
    return "okok: " + " + ".join(c.pred for c in x.changes)


def _attribute_equals(x: Context) -> str:
    return " / ".join(f"{c.attr}?? {c.value}" for c in x.changes) + " rn"


def _attribute_can_u(x: Context) -> str:
    return _wrap(x, "can u change " + join_list([f"the {c.attr} to {c.value}" for c in x.changes]) + " pleeease")


def _attribute_shud(x: Context) -> str:
    return " / ".join(f"{c.attr} shud be {c.value}" for c in x.changes)


def _negation_a(x: Context) -> str:
    return "hmm " + _not_wanted(x, REMOVE_FRAMES_A, CHANGE_FRAMES_A, _joint(x)) + " idk"


def _negation_b(x: Context) -> str:
    return _wrap(x, _not_wanted(x, REMOVE_FRAMES_B, CHANGE_FRAMES_B, ", and ") + " ngl")


def _negation_c(x: Context) -> str:
    return "honestly " + _not_wanted(x, REMOVE_FRAMES_C, CHANGE_FRAMES_C, "... ") + " lol"


def _comparative_than(x: Context) -> str:
    comps = _comps(x)
    if not comps:
        return f"hmm just {_preds(x)} ngl"
    return f"hmm {comps} than this ngl... like {_preds(x)}"


def _comparative_but(x: Context) -> str:
    comps = _comps(x)
    if not comps:
        return _wrap(x, f"{x.this} but {_preds(x)} lol")
    return _wrap(x, f"{x.this} but {comps} lol, so {_preds(x)}")


def _comparative_if_u_can(x: Context) -> str:
    comps = _comps(x)
    if not comps:
        return f"{_preds(x)} basically, idk"
    return f"{comps}?? {_preds(x)} basically, idk"


def _polite_pleeease(x: Context) -> str:
    return f"heyyy could u pleeease find {x.one} {_mods(x)}? thx sm"


def _polite_bug(x: Context) -> str:
    return f"sorry to bug u!! is there {x.one} {_mods(x)}? ty ty srsly"


def _polite_ilysm(x: Context) -> str:
    return f"pretty pleeease {x.one} {_mods(x)}, ilysm"


def _two_lines(x: Context) -> str:
    first, *_ = x.changes
    return _messages(x, f"ok so {first.pred} rn", lambda c: f"and {c.mod} too", "thats it lol")


def _two_dots(x: Context) -> str:
    first, *rest = x.changes
    more = f"also {join_list([c.pred for c in rest])}" if rest else "nothing else tbh"
    return f"{first.pred} is a must lol... {more}"


def _two_gotta(x: Context) -> str:
    first, *rest = x.changes
    more = f"{join_list([c.mod for c in rest])} if thats doable" if rest else "rest is fine rn"
    must = "they hafta" if x.plural else "it rly hasta"
    return f"ngl {must} be {first.pred}{_joint(x)}{more}"


def _question_u_got(x: Context) -> str:
    return _wrap(x, f"u got {x.one} {_mods(x)}? lmk")


def _question_or_nah(x: Context) -> str:
    return f"do they make {x.this} {_mods(x)} or nah"


def _question_exist(x: Context) -> str:
    return f"{x.be} {x.this} a thing {_mods(x)}?? lmk"


def _misspelled_make(x: Context) -> str:
    return f"make {x.it} {typos(x, _preds(x))} rn thx"


def _misspelled_lookin(x: Context) -> str:
    return f"lookin for smth {typos(x, _preds(x))} rn"


def _misspelled_want(x: Context) -> str:
    return f"i want {x.one} {typos(x, _mods(x))} sooo bad"


def _synonyms_lookin(x: Context) -> str:
    return _synonyms(x, f"lookin for {_garment(x)} {_mods(x)} rn")


def _synonyms_need(x: Context) -> str:
    return _synonyms(x, f"omg i need {_garment(x)} thats {_preds(x)}")


def _synonyms_spotted(x: Context) -> str:
    return _synonyms(x, f"spotted {_garment(x)} {_mods(x)} anywhere?? idk")


TEXTER_TEMPLATES: Mapping[str, tuple[tuple[str, Template], ...]] = MappingProxyType({
    "descriptive": (("texter.descriptive.1", _descriptive_run_on), ("texter.descriptive.2", _descriptive_picture),
                    ("texter.descriptive.3", _descriptive_messages)),
    "imperative": (("texter.imperative.1", _imperative_pls), ("texter.imperative.2", _imperative_find),
                   ("texter.imperative.3", _imperative_steps)),
    "wish": (("texter.wish.1", _wish_reaaally), ("texter.wish.2", _wish_dying), ("texter.wish.3", _wish_if_only)),
    "contrastive": (("texter.contrastive.1", _contrast_greater), ("texter.contrastive.2", _contrast_ugh),
                    ("texter.contrastive.3", _contrast_not_the)),
    "terse": (("texter.terse.1", _terse_slashes), ("texter.terse.2", _terse_marks), ("texter.terse.3", _terse_plus)),
    "attribute": (("texter.attribute.1", _attribute_equals), ("texter.attribute.2", _attribute_can_u),
                  ("texter.attribute.3", _attribute_shud)),
    "negation": (("texter.negation.1", _negation_a), ("texter.negation.2", _negation_b),
                 ("texter.negation.3", _negation_c)),
    "comparative": (("texter.comparative.1", _comparative_than), ("texter.comparative.2", _comparative_but),
                    ("texter.comparative.3", _comparative_if_u_can)),
    "polite": (("texter.polite.1", _polite_pleeease), ("texter.polite.2", _polite_bug),
               ("texter.polite.3", _polite_ilysm)),
    "two_sentences": (("texter.two_sentences.1", _two_lines), ("texter.two_sentences.2", _two_dots),
                      ("texter.two_sentences.3", _two_gotta)),
    "question": (("texter.question.1", _question_u_got), ("texter.question.2", _question_or_nah),
                 ("texter.question.3", _question_exist)),
    "misspelled": (("texter.misspelled.1", _misspelled_make), ("texter.misspelled.2", _misspelled_lookin),
                   ("texter.misspelled.3", _misspelled_want)),
    "synonyms": (("texter.synonyms.1", _synonyms_lookin), ("texter.synonyms.2", _synonyms_need),
                 ("texter.synonyms.3", _synonyms_spotted)),
})
