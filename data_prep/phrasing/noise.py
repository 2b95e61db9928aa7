"""Surface noise on a finished phrasing: misspellings, colour synonyms, spelling and casing.

Misspellings and synonyms come from the phrasing set's own lexicon (disjoint between the sets); the training set
may also misspell procedurally (a letter dropped, doubled or swapped), never into a held-apart form. British and
American spelling, capitals and a final full stop are shared by both sets: they are not phrasings to hold apart.
"""

from __future__ import annotations

import random
import re

from data_prep.phrasing.lexicon import HELDOUT_FRAME_MARKERS, Lexicon, heldout_markers

_WORD = re.compile(r"[a-z]+")
_AMERICAN = (("colour", "color"), ("grey", "gray"))
# Words of the held-apart frames: never misspelled procedurally, so a held-apart phrasing keeps its marker.
_FRAME_WORDS = frozenset(w for marker in HELDOUT_FRAME_MARKERS for w in marker.split())


def _replace_word(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<![a-z']){re.escape(old)}(?![a-z'])", new, text, count=1)


def _char_noise(word: str, rng: random.Random) -> str:
    """The word with one letter dropped, doubled or swapped with its neighbour (not the first letter)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(3)
    if kind == 0:
        return word[:i] + word[i + 1:]
    if kind == 1:
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def misspell(text: str, lex: Lexicon, rng: random.Random, max_words: int = 2) -> str:
    """Misspell one to ``max_words`` words of ``text``: listed misspellings of the set first, then (training set
    only, or where no listed word occurs) procedural ones on words of five letters or more."""
    listed = [w for w in dict.fromkeys(_WORD.findall(text)) if w in lex.misspellings]
    rng.shuffle(listed)
    n = rng.randint(1, max_words)
    out, done = text, 0
    for word in listed[:n]:
        out = _replace_word(out, word, rng.choice(lex.misspellings[word]))
        done += 1
    if done and not (lex.char_noise and rng.random() < 0.3):
        return out
    held = set(heldout_markers()) if lex.name != "heldout" else set()
    candidates = [w for w in dict.fromkeys(_WORD.findall(out))
                  if len(w) >= 5 and w not in _FRAME_WORDS]
    rng.shuffle(candidates)
    for word in candidates:
        noisy = _char_noise(word, rng)
        if noisy != word and noisy not in held:  # a training phrasing never uses a held-apart misspelling
            return _replace_word(out, word, noisy)
    return out


def substitute_colours(text: str, lex: Lexicon, rng: random.Random, colours: list[str]) -> str:
    """Replace each of ``colours`` (canonical names present in ``text``) by one of the set's synonyms."""
    for colour in colours:
        synonyms = lex.colour_synonyms.get(colour)
        if synonyms:
            text = _replace_word(text, colour, rng.choice(synonyms))
    return text


def finish(text: str, rng: random.Random) -> str:
    """Shared surface variation: American or British spelling, a capital first letter, a final full stop."""
    if rng.random() < 0.5:
        for british, american in _AMERICAN:
            text = re.sub(rf"\b{british}", american, text)
    if rng.random() < 0.3:
        text = text[:1].upper() + text[1:]
    if rng.random() < 0.2 and text[-1:].isalnum():
        text += rng.choice((".", "!"))
    return text
