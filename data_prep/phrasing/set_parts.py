"""Parts the phrasing sets kept apart for evaluation share: how each lists its marker strings (``blind``,
``stranger``, ``newcomer``) and the template pieces whose wording lives in the set's lexicon, not in the piece
(``stranger``, ``newcomer``).

Like the sets' own modules, this imports neither :mod:`~data_prep.phrasing.styles` nor the package (``lexicon``
imports the sets, and the sets import this).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from data_prep.phrasing.lexicon import Lexicon
from data_prep.phrasing.noise import misspell, substitute_colours

if TYPE_CHECKING:
    from data_prep.phrasing.styles import Context


def set_markers(frame_markers: Sequence[str], lex: Lexicon) -> tuple[str, ...]:
    """Every string that marks a phrasing of the set: its frames, adverbs, synonyms, garment words and misspellings."""
    words = list(frame_markers)
    words += [a.strip() for a in lex.strong_adverbs + lex.mild_adverbs]
    words += [w for ws in lex.colour_synonyms.values() for w in ws]
    words += [w for ws in lex.garment_nouns.values() for w in ws]
    words += [w for ws in lex.misspellings.values() for w in ws]
    return tuple(dict.fromkeys(words))


def join_list(items: Sequence[str], last: str = " and ") -> str:
    """"a, b and c" (or with another last joint)."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + last + items[-1]


def terse(x: Context) -> str:
    """The changes' predicates, comma-separated."""
    return ", ".join(c.pred for c in x.changes)


def negation(x: Context, removed: str, changed: str) -> str:
    """Each change in the frame of its kind: ``removed`` ({r}: what goes), ``changed`` ({old}, {new})."""
    return "; ".join(removed.format(r=c.removed) if c.removed else changed.format(old=c.old_pred, new=c.pred)
                     for c in x.changes)


def typos(x: Context, text: str) -> str:
    """``text`` with the set's misspellings; only the changes are passed, so the frame keeps its marker."""
    return misspell(text, x.lex, x.rng)


def garment_noun(x: Context) -> str:
    """A garment word of the set with its article ("an outfit", "a new pair", "some everyday shoes")."""
    noun = x.rng.choice(x.lex.garment_nouns[x.category])
    if noun.endswith("shoes"):
        return f"some {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def synonyms(x: Context, frame: str) -> str:
    """``frame`` ({noun}, {mods}) with a garment word of the set and its colour synonyms."""
    return substitute_colours(frame.format(noun=garment_noun(x), mods=x.mods()), x.lex, x.rng, x.colours)
