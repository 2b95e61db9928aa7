"""Requests typed in a chat's register, put into plain words before the request reader reads them.

Shoppers messaging a shop or a friend stretch words for emphasis ("pleeease", "sooo much darker"), say what they
want gone in phrases rather than with "not" ("done with the stripes", "the sleeves gotta go", "take off the print"),
and ask with a slot's name and a question mark ("sleeves?? short", "heel? high"). :func:`plain_chat` writes the
first as the word it stretches, for the reader and the text encoder alike (a word typed with a letter three times
is a slip of one in real captions too: "botttom", "colllar"); :func:`chat_negations` writes the second as the
negation it means, and the third as "sleeves: short", for the reader only (the shopper's own words go to the encoder
when the reader reads nothing). Chat shorthand that carries no facet ("lol", "tbh", "ngl") is in
:data:`cti_ir.index.frame_words.FRAME_WORDS`.
"""

from __future__ import annotations

import re

from cti_ir.index.correction import correct
from cti_ir.index.english_words import is_english_word
from cti_ir.index.frame_words import FRAME_WORDS

# A letter typed three times or more: no English word has one.
_STRETCHED = re.compile(r"\b[a-z]*([a-z])\1\1[a-z]*\b", re.IGNORECASE)
_RUN = re.compile(r"([a-z])\1{2,}", re.IGNORECASE)


def _unstretch(match: re.Match) -> str:
    """The word a stretched word stands for: each run of a letter cut to two where that makes an English word
    ("looooose": "loose", "colllar": "collar"), else to one where that does ("pleeease": "please", "sooo": "so"),
    else the word as typed. A word of four letters or more that the reader's correction takes for another fashion word
    is left to it: a slip of that word, not emphasis ("heeeld" and "heeed" are heeled, not "held" or "heed")."""
    word = match.group(0)
    corrected = correct(word.lower())
    for cut in (r"\1\1", r"\1"):
        plain = _RUN.sub(cut, word)
        if is_english_word(plain.lower()):
            taken_for_another = corrected not in (word.lower(), plain.lower()) and len(plain) > 3
            return word if taken_for_another else plain
    return word


def plain_chat(text: str) -> str:
    """``text`` with each stretched word written as the word it stretches ("waaay shorter": "way shorter")."""
    return _STRETCHED.sub(_unstretch, text)


# Phrases that say a shopper wants a thing gone, each read as "not": "done with the dots", "so over black", "sick of
# the sleeves", "fed up with the print", and "over" after "so", "totally" or "completely" ("so over the stripes").
_WANTS_GONE = re.compile(r"\b(?:(?:i'?m|i\s+am|am)\s+)?(?:(?:so|sooo?|totally|completely|really|just)\s+(?:over|done"
                         r"\s+with)|done\s+with|sick\s+of|tired\s+of|bored\s+of|fed\s+up\s+with)\b",
                         re.IGNORECASE)
# "<thing> gotta go", "the print has to go", "sleeves must go": the thing is to be removed; not where a value or
# "to" follows ("the neck has to go collar", "the colour has to go to grey": become).
_MUST_GO = re.compile(r"(^|[,.;:!?/(\n]|\s-\s)([^,.;:!?/(\n]*?)\s+(?:has\s+to|have\s+to|has\s+got\s+to|gotta|got\s+to|"
                      r"must|needs?\s+to|should|can)\s+go\b(?=\s*([\w'-]*))", re.IGNORECASE)
# A slot's name asked as a question and answered ("sleeves?? short", "heel? high"): the slot, then its value.
_SLOT_QUESTION = re.compile(r"\b(sleeves?|heels?|heel\s+height|height|length|fit|neckline|neck|print|pattern|closure|"
                            r"fastening|finish|colou?r|type(?:\s+of\s+shoe)?|style|sole(?:\s+colou?r)?|"
                            r"trim(?:\s+colou?r)?)\s*\?+\s+(?=\w)", re.IGNORECASE)
# "take off the stripes": remove them ("off" alone negates nothing: "off the shoulder", "an off blue").
_TAKE_OFF = re.compile(r"\b(?:take|takes|taking|took)\s+off\b", re.IGNORECASE)
# "picture this but in navy", "imagine it in black": the product in the photo, nothing more; "hunt down one in red":
# find one.
_PICTURE_THIS = re.compile(r"\b(?:picture|imagine)\s+(this|that|these|those|it|them)\b", re.IGNORECASE)
_HUNT_DOWN = re.compile(r"\b(?:hunt|track)\s+down\b", re.IGNORECASE)
# Messages sent one after another, joined by a line break or a spaced slash ("not black / navy pls"), end a clause
# as a full stop does ("black/white" and "3/4" are words).
_MESSAGE_BREAK = re.compile(r"\s+[/|]\s+|\s*\n+\s*")


def _must_go(match: re.Match) -> str:
    after = match.group(3).lower()
    if after and (after not in FRAME_WORDS or after in ("to", "into")):
        return match.group(0)
    return f"{match.group(1)} lose {match.group(2).strip()}"


def chat_negations(text: str) -> str:
    """``text`` with a chat's ways of wanting a thing gone written as negations, a slot asked as a question written
    as the slot and its value, messages apart as sentences apart, and "picture this" as "this"; for the reader
    only."""
    text = _MESSAGE_BREAK.sub(". ", text)
    text = _TAKE_OFF.sub("remove", _WANTS_GONE.sub("not", text))
    text = _MUST_GO.sub(_must_go, text)
    text = _SLOT_QUESTION.sub(lambda m: f"{m.group(1)}: ", text)
    return _HUNT_DOWN.sub("find", _PICTURE_THIS.sub(r"\1", text))
