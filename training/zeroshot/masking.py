"""Self-masking (after LinCIR): a caption's keywords give way to the placeholder word.

A keyword here is any word that is not an English function word: generic, so the same rule serves product
descriptions, captions and any other corpus, with no part-of-speech tagger and no attribute tables. Each keyword
is masked with probability ``share`` (at least one per text), and a run of masked words becomes one placeholder,
which the trainer fills with the projection of the caption's own embedding.
"""

from __future__ import annotations

import random
import re

from cti_ir.model.zeroshot import PLACEHOLDER, clean_text

#: English function words (articles, pronouns, prepositions, conjunctions, auxiliaries): never masked.
FUNCTION_WORDS = frozenset("""
a an the this that these those it its it's they them their there here what which who whom whose
and or but nor so yet if then than as because while although though
of in on at to from by for with without within into onto over under above below between among through
about against along around across after before during until up down off out near
is are was were be been being am has have had having do does did doing will would can could shall should
may might must not no yes very too also just only more most less least much many some any all each every
both either neither other another such same own few several one
i me my we us our you your he him his she her
""".split())

_PUNCTUATION = re.compile(r"^(\W*)(.*?)(\W*)$")


def split_words(text: str) -> list[str]:
    """Words and punctuation of ``text`` as separate pieces ("cut, no sleeves" -> cut / , / no / sleeves)."""
    pieces = []
    for raw in clean_text(text).split():
        lead, core, trail = _PUNCTUATION.match(raw).groups()
        pieces += [p for p in (lead, core, trail) if p]
    return pieces


def is_keyword(piece: str) -> bool:
    """A piece that carries content: has a letter or digit and is not a function word."""
    return any(ch.isalnum() for ch in piece) and piece.lower() not in FUNCTION_WORDS


def mask_keywords(text: str, rng: random.Random, share: float) -> str:
    """``text`` with a random ``share`` of its keywords (at least one) replaced by the placeholder, one per run.

    A text without keywords gets the placeholder in front, so every training prompt has its slot.
    """
    pieces = split_words(text)
    keywords = [i for i, p in enumerate(pieces) if is_keyword(p)]
    if not keywords:
        return " ".join([PLACEHOLDER] + pieces)
    masked = {i for i in keywords if rng.random() < share} or {rng.choice(keywords)}
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if i not in masked:
            out.append(piece)
        elif not out or out[-1] != PLACEHOLDER or (i - 1) not in masked:
            out.append(PLACEHOLDER)
    return " ".join(out)


def mask_first_keyword(text: str) -> str:
    """``text`` with only its first keyword masked (a long text whose random slots fell past the context length)."""
    pieces = split_words(text)
    first = next((i for i, p in enumerate(pieces) if is_keyword(p)), None)
    if first is None:
        return " ".join([PLACEHOLDER] + pieces)
    return " ".join(pieces[:first] + [PLACEHOLDER] + pieces[first + 1:])
