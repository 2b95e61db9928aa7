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


# How letters are said, for spoken_key: letter groups that write one sound (tried longest first), the silent starts,
# and "c" as s before e, i or y. Voiced and voiceless stay apart (b/p, d/t, g/k, v/f, m/n): a shopper who writes by
# ear hears them, and merging them, as the rough key does, reads "beachy" as baggy and "bottome" as button.
_SPOKEN_GROUPS = (("tch", "C"), ("dge", "j"), ("sch", "sk"), ("ph", "f"), ("gh", ""), ("ck", "k"), ("qu", "kw"),
                  ("wh", "w"), ("sh", "S"), ("ch", "C"), ("th", "T"), ("x", "ks"), ("q", "k"), ("z", "s"))
_SILENT_STARTS = (("kn", "n"), ("wr", "r"), ("ps", "s"), ("gn", "n"))
_SPOKEN_VOWELS = frozenset("aeiouy")


@functools.lru_cache(maxsize=4096)
def spoken_key(word: str) -> str:
    """The consonant sounds of ``word`` in order, as it is said: silent letters dropped, letter groups that write one
    sound written as that sound, a doubled letter once, vowels and a later h or w left out, a leading vowel kept as
    "0". Words spelt differently but said alike share a key ("whight" and "white", "burgandie" and "burgundy",
    "stilletoes" and "stilettos"); unlike :func:`sound_key`, b and p, d and t, m and n stay apart."""
    for start, sound in _SILENT_STARTS:
        if word.startswith(start):
            word = sound + word[len(start):]
            break
    out, i, previous = ("0" if word[:1] in _SPOKEN_VOWELS else ""), 0, ""
    while i < len(word):
        letters, sound = next(((g, v) for g, v in _SPOKEN_GROUPS if word.startswith(g, i)), (word[i], word[i]))
        if letters == "c":
            sound = "s" if word[i + 1:i + 2] in ("e", "i", "y") else "k"
        if letters in ("h", "w") and i > 0:
            sound = ""
        i += len(letters)
        if letters[0] in _SPOKEN_VOWELS and len(letters) == 1:
            previous = ""  # a vowel between two like consonants keeps both: "flaily" is not "flowy"
            continue
        if sound and sound != previous:
            out += sound
        previous = sound
    return out
