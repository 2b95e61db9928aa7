"""The shopper's own words: a modification rewritten from the ground-truth differences in everyday styles.

    from data_prep.phrasing import paraphrase
    p = paraphrase(reference_attributes, target_attributes, random.Random(0), phrasing_set="heldout",
                   style="wish")
    p.text  # "i'd like this without sleeves and in black"

Styles (:data:`STYLES`): descriptive, imperative, wish, contrastive ("X instead of Y"), terse, attribute change,
negation, comparatives, politeness and filler, two sentences, questions, misspellings and synonyms of colours and
garment words; British and American spelling throughout. Two phrasing sets with the same styles and disjoint
templates, adverbs, fillers, synonyms and misspellings: ``train`` (the generator's ``--phrasing train`` and
stage-3 augmentation) and ``heldout`` (evaluation only: ``benchmarks/phrasing``). A third set, ``blind``
(:mod:`data_prep.phrasing.blind`), was written without seeing the request reader, for evaluation only too; a
fourth, ``stranger`` (:mod:`data_prep.phrasing.stranger`), was written later without seeing the reader or any
earlier set's results, so that a reader nobody tuned on its wording can still be checked; a fifth, ``newcomer``
(:mod:`data_prep.phrasing.newcomer`), was written later still, likewise without seeing the reader or any results;
a sixth, ``passerby`` (:mod:`data_prep.phrasing.passerby`), later again, without seeing the reader, the other
sets or any results; a seventh, ``latecomer`` (:mod:`data_prep.phrasing.latecomer`), later still and likewise;
an eighth, ``traveller`` (:mod:`data_prep.phrasing.traveller`: shoppers writing in a second language or through a
translator), later again and likewise; a ninth, ``caller`` (:mod:`data_prep.phrasing.caller`: shoppers dictating to
a phone's voice assistant), later still and likewise; a tenth, ``gifter`` (:mod:`data_prep.phrasing.gifter`:
shoppers buying for someone else), later again and likewise; an eleventh, ``returner``
(:mod:`data_prep.phrasing.returner`: shoppers writing to customer service to exchange or return what they bought),
later still and likewise; a twelfth, ``texter`` (:mod:`data_prep.phrasing.texter`: shoppers messaging a friend, a
stylist or a shop's chat assistant in chat shorthand), later again and likewise; a thirteenth, ``reviewer``
(:mod:`data_prep.phrasing.reviewer`: shoppers writing their request as a review of the product in the photo),
later still and likewise; a fourteenth, ``comparer`` (:mod:`data_prep.phrasing.comparer`: shoppers describing the
change against things they own, have seen or remember), last and likewise.
Every style of every set names the same changes, so a difference in recall between styles is the wording's alone.

This lives in ``data_prep`` because only the generator, training and the benchmarks need it; the library
(``cti_ir``) never rewrites a shopper's words.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Mapping, Sequence

from data_prep.phrasing.changes import Change, describe_changes
from data_prep.phrasing.lexicon import PHRASING_SETS, heldout_markers, lexicon
from data_prep.phrasing.noise import finish
from data_prep.phrasing.styles import STYLES, TEMPLATES, Context

__all__ = ["PHRASING_SETS", "STYLES", "Change", "Paraphrase", "heldout_markers", "paraphrase", "template_ids"]

# Shoes captions are mostly plural in the real files ("are black"); the generator draws the same share.
_PLURAL_SHARE = 0.6


@dataclass(frozen=True)
class Paraphrase:
    """One phrased modification: its text, the attributes it says changed, its style and template id."""

    text: str
    claims: tuple[str, ...]
    style: str
    template: str


def template_ids(phrasing_set: str) -> tuple[str, ...]:
    """Every template id of a phrasing set (``"<set>.<style>.<name>"``)."""
    lexicon(phrasing_set)  # a clear error for an unknown set
    return tuple(tid for style in STYLES for tid, _ in TEMPLATES[phrasing_set][style])


def paraphrase(candidate: Mapping, target: Mapping, rng: random.Random, phrasing_set: str = "train",
               style: str | None = None, aspects: Sequence[str] | None = None,
               plural: bool | None = None) -> Paraphrase:
    """The change from ``candidate`` to ``target`` (attribute dicts) in one style of ``phrasing_set``.

    ``style`` (default: drawn uniformly from :data:`STYLES`) picks the kind of wording; ``aspects`` restricts what
    is said to some of the differing aspects (default: all of them); ``plural`` phrases a pair of shoes ("make
    them black"; default: drawn for shoes, singular for garments). Raises ``ValueError`` for an unknown set or
    style, or when nothing differs.
    """
    lex = lexicon(phrasing_set)
    if style is None:
        style = rng.choice(STYLES)
    elif style not in STYLES:
        raise ValueError(f"unknown phrasing style {style!r}; choose among {', '.join(STYLES)}")
    category = str(target["category"])
    if plural is None:
        plural = category == "shoes" and rng.random() < _PLURAL_SHARE
    changes = describe_changes(candidate, target, rng, list(aspects) if aspects is not None else None, plural)
    if not changes:
        raise ValueError("candidate and target do not differ: there is no modification to phrase")
    claims = tuple(dict.fromkeys(a for c in changes for a in c.claims))
    colours = [str(target[a]) for a in ("color", "secondary_color") if a in claims and target.get(a)]
    template_id, template = rng.choice(TEMPLATES[phrasing_set][style])
    text = template(Context(changes, rng, lex, plural, category, colours))
    return Paraphrase(finish(text, rng), claims, style, template_id)
