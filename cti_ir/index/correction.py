"""Misspelt words read as the vocabulary word they were meant to be: "sleves" as "sleeves", "bloo" as "blue".

A word of five letters or more one edit from a vocabulary word is that word, unless it is a common English word
of its own ("range" is not "orange", "shows" not "shoes": :mod:`cti_ir.index.english_words`). A word that is not
English is also corrected to the single value near it: one edit for three or four letters ("pinc", "nvy"), two that
keep its sound for up to five ("bloo"), two for six or more ("purepl"); with nothing so near, the single value it is
said like, up to three edits away ("whight", "burgandie": a slip by ear, :func:`~cti_ir.index.spelling.spoken_key`).
A slip nearer to a word requests use often than to the value ("colur": colour, not collar) is read as that word. A
common English word one edit from a value is read as that value only where the facet reader finds it standing as the
value would (:func:`real_word_correction`: "high heals", "black strips").
"""

from __future__ import annotations

import functools
from types import MappingProxyType

from cti_ir.index.colour_names import BASE_COLOURS, MORE_COLOUR_NAMES
from cti_ir.index.english_words import is_common_english_word, is_english_word
from cti_ir.index.facet_vocabulary import CORE_WORDS, KNOWN_WORDS, SLOT_NOUNS, VOCABULARY, phrase_words
from cti_ir.index.foreign_colour_names import FOREIGN_COLOUR_NAMES
from cti_ir.index.frame_words import FRAME_WORDS
from cti_ir.index.spelling import edit_distance, letter_mask, missing_letters, one_edit, sound_key, spoken_key

_MATCHED_AS_WRITTEN = phrase_words(MORE_COLOUR_NAMES.values()) | phrase_words(FOREIGN_COLOUR_NAMES.values())
_CORRECTIONS = tuple(sorted(KNOWN_WORDS - (_MATCHED_AS_WRITTEN - CORE_WORDS)))
# Common words one letter away from a vocabulary word ("while" / "white", "shirt" / "short"): never corrected.
_PROTECTED = frozenset(("while", "shirt", "shirts", "skirt", "skirts", "where", "there", "these", "those", "three",
                        "dress", "shoes", "brows", "blown", "lighter", "tighter", "longer", "bolder", "flash"))


# Four letters are too few to correct in general ("sold" is not "solid", nor "mate" "matte"); a five-letter base
# colour or "loose" with one letter dropped ("blak", "whte", "gren", "beig", "loos") is the exception, but for the
# words it would take from English ("lack", "back", "brow", "lose").
_DROPPED_LETTER_COLOURS = MappingProxyType({
    c[:i] + c[i + 1:]: c for c in (*sorted(BASE_COLOURS), "loose") if len(c) == 5 for i in range(5)
    if c[:i] + c[i + 1:] not in ("lack", "back", "brow", "lose")})


# Beyond those, a word is corrected only when it is not English (english_words) and a single value is near:
# - three or four letters, one edit: short words have too many English neighbours to be corrected on distance alone
#   ("bed" and "red", "knew" and "knee");
# - three to five letters with nothing one edit away, two edits that keep the word's sound (spelling.sound_key:
#   "bloo" and "blue", "blk" and "black");
# - six letters or more, two edits ("purepl", "sleveles"), to a word of five letters or more.
# A correction's result names a value or the noun of one ("heil" is "heel"): never a word that qualifies nothing
# alone ("fitd" is not "fit") nor one that carries a request's logic ("nto" must not become "not").
_NOT_A_CORRECTION = frozenset(("not", "the", "ons", "more", "less", "without", "fit", "cut", "hem", "form", "full",
                               "down", "three", "above", "print", "pattern", "length", "colored", "coloured"))
_TARGETS = tuple(sorted(w for w in CORE_WORDS | frozenset(SLOT_NOUNS)
                        if len(w) >= 3 and w.isalpha() and w not in _NOT_A_CORRECTION))
_TARGET_MASKS = tuple((w, letter_mask(w)) for w in _TARGETS)
_CORRECTION_MASKS = tuple((w, letter_mask(w)) for w in _CORRECTIONS)


@functools.lru_cache(maxsize=65536)
def correct(word: str) -> str:
    """The vocabulary word ``word`` is a misspelling of, else ``word`` itself: one edit away (five letters or more,
    not a common English word; a five-letter base colour missing a letter), or, when ``word`` is not English, the single
    value near it (one edit for three or four letters, two that keep its sound for up to five, two for six or
    more, else the one it is said like, up to three edits away); a frequent frame word instead when the word is nearer
    to it ("colur" is colour)."""
    if word in _DROPPED_LETTER_COLOURS:
        return _DROPPED_LETTER_COLOURS[word]
    # a word that carries no facet is no slip of one ("tshirt" is not "short", nor "scooch" "scoop")
    if word in KNOWN_WORDS or word in FRAME_WORDS or word in _PROTECTED or not word.isalpha() or len(word) < 3:
        return word
    # A common English word is no misspelling on its own ("range" is not "orange", nor "shows" "shoes"): the facet
    # reader asks real_word_correction where the word stands. Without the word list every word is corrected, as before.
    if len(word) >= 5 and not is_common_english_word(word):
        one = _one_edit_away(word)
        if one is not None:
            return _frame_rival(word, one)
    if len(word) >= 6:
        near = [k for k in _near(word, 2, shortest=5) if k not in SLOT_NOUNS]
    else:
        near = (_near(word, 1) if len(word) <= 4 else []) or _near(word, 2, same_sound=True)
    if len(_values(near)) > 1:  # several values near ("teel": teal, heel): the one that sounds like the word
        near = [k for k in near if sound_key(k) == sound_key(word)]
    if is_english_word(word):
        return word
    if not near:  # nothing near in letters: a slip by ear may still sound like a single value ("whight")
        near = _said_alike(word)
    if len(_values(near)) != 1:
        return word
    return _frame_rival(word, near[0])


@functools.lru_cache(maxsize=65536)
def real_word_correction(word: str) -> str | None:
    """The vocabulary word a common English word of five letters or more is one edit from ("heals": heels, "souls":
    soles), else None. Whether the shopper meant it is for the words around it to say (the facet reader's
    ``mentions``): "high heals" is a heel, "it heals" is not."""
    if (len(word) < 5 or word in KNOWN_WORDS or word in FRAME_WORDS or word in _PROTECTED or not word.isalpha()
            or not is_common_english_word(word)):
        return None
    return _one_edit_away(word)


def _one_edit_away(word: str) -> str | None:
    mask = letter_mask(word)
    ones = [k for k, k_mask in _CORRECTION_MASKS if abs(len(k) - len(word)) <= 1 and len(k) >= 5
            and missing_letters(mask, k_mask) <= 1 and missing_letters(k_mask, mask) <= 1 and one_edit(word, k)]
    # a value's word first ("collred": collared, not colored), then a letter replaced before one dropped or added
    # ("strapz": straps, not strap)
    return min(ones, key=lambda k: (k in _NOT_A_CORRECTION, len(k) != len(word))) if ones else None


# Words a request says often that name no value, so are no correction's result: a slip of one is read as that word
# when it is nearer to it than to the value ("colur" is colour, not collar; "coloe" color, not sole).
_FRAME_RIVALS = ("colour", "color", "pattern", "length")


def _frame_rival(word: str, correction: str) -> str:
    """``correction``, or the frequent frame word ``word`` is nearer to."""
    limit = edit_distance(word, correction, 3)
    rivals = [r for r in _FRAME_RIVALS if edit_distance(word, r, limit) < limit]
    return rivals[0] if rivals else correction


def _said_alike(word: str) -> list[str]:
    """The correction targets of four letters or more ``word`` sounds like (:func:`~cti_ir.index.spelling.spoken_key`),
    beginning with the same sound and at most two edits away for a word of up to five letters, three for a longer
    one, the nearest in letters where several are: a slip by ear, "whight" for white, "burgandie" for burgundy."""
    if len(word) < 4:
        return []
    key, edits = spoken_key(word), (2 if len(word) <= 5 else 3)
    alike = {k: edit_distance(word, k, edits) for k in _TARGETS if len(k) >= 4 and abs(len(k) - len(word)) <= edits
             and spoken_key(k) == key and spoken_key(k[0]) == spoken_key(word[0])}
    alike = {k: d for k, d in alike.items() if d <= edits}
    # the nearest in letters among those said alike; a tie between two values keeps both, so nothing is corrected
    return [k for k, d in alike.items() if d == min(alike.values())]


def _values(words: list[str]) -> set:
    # "gry" is one edit from "grey" and from "gray": one value, so no doubt
    return {VOCABULARY.get((k,), k) for k in words}


def _near(word: str, edits: int, shortest: int = 3, same_sound: bool = False) -> list[str]:
    """The correction targets at most ``edits`` edits from ``word`` (of ``shortest`` letters or more)."""
    key = sound_key(word) if same_sound else None
    mask = letter_mask(word)
    return [k for k, k_mask in _TARGET_MASKS if len(k) >= shortest and abs(len(k) - len(word)) <= edits
            and missing_letters(mask, k_mask) <= edits and missing_letters(k_mask, mask) <= edits
            and edit_distance(word, k, edits) <= edits and (key is None or sound_key(k) == key)]
