"""Whether a word is an English word, for the request reader's correction of short misspellings.

A word of three or four letters one edit away from a facet word ("pinc", "bleu", "nvy", "kne") is usually a
misspelling of it, but just as often a different English word ("pint", "glue", "knew", "bed" one edit from "red"):
short words have too many neighbours to be corrected on distance alone. The reader corrects a short word only when
it is not English, judged by the English word list of pyspellchecker (about 160,000 words with their frequencies,
MIT licensed, a dependency of the package). That list spells American English, so a British spelling counts as
English when its American form is in it ("colour", "centre", "organise", "jewellery"). The list is loaded on the
first word that needs it (about 0.2 s and 35 MB) and kept for the life of the process.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterator

LOGGER = logging.getLogger(__name__)


@functools.cache
def _english_words():
    """pyspellchecker's English word list (its checker, which answers ``word in checker``), or None without it."""
    try:
        from spellchecker import SpellChecker
    except ImportError:
        LOGGER.warning("pyspellchecker is not installed, so short misspelt words in requests are not corrected; "
                       "install it with: pip install pyspellchecker")
        return None
    return SpellChecker(language="en", distance=1)


# British spellings and the American ones the list holds: -our/-or, -ise/-ize, -yse/-yze, -tre/-ter, -bre/-ber,
# -ence/-ense, doubled l before a suffix (travelled, jewellery), -ogue/-og, -mme/-m, ae/e.
_BRITISH_TO_AMERICAN = ((r"our", "or"), (r"is(e|ed|es|ing|ation)$", r"iz\1"), (r"ys(e|ed|es|ing)$", r"yz\1"),
                        (r"([bt])re(s?)$", r"\1er\2"), (r"ence$", "ense"), (r"ll(ed|ing|er)$", r"l\1"),
                        (r"llery$", "lry"), (r"ogue$", "og"), (r"mme$", "m"), (r"(?<=...)ae(?=...)", "e"))


# How often pyspellchecker's corpus must hold a word for it to count as a common English word: rarer words ("lather",
# "flora", "cogs", "paten") are far likelier a letter slipped from a fashion word ("leather", "floral", "clogs",
# "patent") than what a shopper meant; commoner ones ("range", "shows", "places", "sales", "heals") are meant.
_COMMON_COUNT = 1000


def is_common_english_word(word: str) -> bool:
    """True when the English word list is installed and its corpus holds ``word`` (or its American spelling) at
    least :data:`_COMMON_COUNT` times; False without the list, so that a rule that held before the list existed goes
    on as it was."""
    checker = _english_words()
    if checker is None:
        return False
    counts = checker.word_frequency
    return any(form in counts and counts[form] >= _COMMON_COUNT for form in american_forms(word))


def american_forms(word: str) -> Iterator[str]:
    """``word`` and its American spelling(s) when it is spelt the British way."""
    yield word
    for pattern, american in _BRITISH_TO_AMERICAN:
        changed = re.sub(pattern, american, word)
        if changed != word:
            yield changed


def load_word_list() -> bool:
    """Load the English word list now rather than on the first request that needs it (a server's start); False
    when pyspellchecker is not installed."""
    return _english_words() is not None


def is_english_word(word: str) -> bool:
    """True when ``word`` (lower case) or its American spelling is in the English word list; also True when the list
    is not installed, so that nothing is corrected that might be a word."""
    checker = _english_words()
    return True if checker is None else any(form in checker for form in american_forms(word))
