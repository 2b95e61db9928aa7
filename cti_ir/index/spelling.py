"""String helpers for reading misspelt words: edit distance and a rough sound key.

The facet reader (:mod:`cti_ir.index.facets`) decides what a misspelt word may be corrected to; these say how far
apart two words are in edits (letters replaced, dropped, added, or two neighbours swapped) and whether they sound
alike.
"""

from __future__ import annotations

import functools

# Letters that sound alike share a class; vowels, h, w and y carry none (a rough English sound key of our own).
_SOUND_CLASSES = {**dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
                  "l": "4", **dict.fromkeys("mn", "5"), "r": "6"}


@functools.lru_cache(maxsize=4096)
def sound_key(word: str) -> str:
    """The classes of a word's consonants in order, repeats merged (across vowels too: "fitted" and "fitd" sound
    alike), a leading vowel kept as "0"."""
    out = "" if word[0] in _SOUND_CLASSES else "0"
    for ch in word:
        code = _SOUND_CLASSES.get(ch)
        if code is not None and not out.endswith(code):
            out += code
    return out


def edit_distance(a: str, b: str, limit: int) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``; any value above ``limit`` means
    more than ``limit``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], previous2[j - 2] + 1)
        if min(row) > limit:
            return limit + 1
        previous2, previous = previous, row
    return previous[-1]


def one_edit(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are one edit apart (a letter replaced, dropped or added, or two neighbours swapped)."""
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def letter_mask(word: str) -> int:
    """The set of letters of ``word`` as bits (a to z): two words whose masks differ in more than ``n`` letters of
    one of them are more than ``n`` edits apart, a cheap test before :func:`edit_distance`."""
    mask = 0
    for ch in word:
        if "a" <= ch <= "z":
            mask |= 1 << (ord(ch) - 97)
    return mask


def missing_letters(mask: int, other: int) -> int:
    """How many letters of ``mask`` ``other`` lacks (each needs an edit of its own)."""
    return (mask & ~other).bit_count()



# Spellings that write one sound with letters the rough key would count as two, or with a silent letter: a slip by
# ear keeps the sound, not the letters ("whight" is white, "phinish" finish, "kolour" colour).
_SPOKEN_SPELLINGS = (("ph", "f"), ("gh", ""), ("ck", "k"), ("tch", "ch"), ("dg", "j"), ("wh", "w"))
_SILENT_STARTS = (("kn", "n"), ("wr", "r"), ("ps", "s"), ("gn", "n"))


@functools.lru_cache(maxsize=4096)
def spoken_key(word: str) -> str:
    """:func:`sound_key` of ``word`` as it is said: silent letters dropped and letter pairs that write one sound
    written as that sound first, so that words spelt differently but said alike share a key ("whight" and "white",
    "phinish" and "finish")."""
    for start, sound in _SILENT_STARTS:
        if word.startswith(start):
            word = sound + word[len(start):]
            break
    head, rest = word[:1], word[1:]
    if head + rest[:1] in ("ph", "wh"):  # "ph" at the start is f; "gh" at the start is g ("ghost"), kept
        head, rest = ("f" if head == "p" else "w"), rest[1:]
    for letters, sound in _SPOKEN_SPELLINGS:
        rest = rest.replace(letters, sound)
    return sound_key(head + rest) if head + rest else ""
