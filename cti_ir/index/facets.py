"""Product facets in words: what a description or a shopper's request says about colour, sleeves, heel, ...

A catalogue's descriptions ("v-neck burgundy maxi dress, no sleeves, loose cut") and a shopper's requests ("make it
black with long sleeves", "blue instead of white", "with a higher heel") are read with one vocabulary of fashion
facets (:data:`VOCABULARY`): each phrase names a value of a slot (``colour``, ``accent_colour`` for a pattern's or a
sole's colour, ``pattern``, ``sleeves``, ``neckline``, ``length``, ``fit``, ``shoe_type``, ``heel``, ``finish``,
``closure``). Phrases are matched on whole words, longest first, after lower-casing, reading hyphens as spaces and
folding accents (the phrases: :mod:`cti_ir.index.facet_vocabulary`); a misspelt word is read as the word it was
meant to be (:mod:`cti_ir.index.correction`: "sleves", "bloo"; a common English word only where it stands as the
fashion word would, "high heals" but not "in your range"). Shade names are read as base colours
(:mod:`cti_ir.index.colour_names`; other languages' colour words, :mod:`cti_ir.index.foreign_colour_names`), the
everyday ones where only a colour can stand. Words outside the vocabulary are simply not read: a facet nobody can
read is unknown, and unknown never counts against a product.

:func:`read_description` gives a product's facets; :func:`read_request` gives what a request asks, relative to
the reference's facets: a value the reference already has is what the shopper moves away from ("blue instead of
white" on a white reference wants blue and not white), a comparative ("longer sleeves", "a higher heel",
"darker") allows the values beyond the reference's, and a negated value ("not red", "without the stripes") is
excluded. The vocabulary is general fashion English; a shop with other facets extends it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cti_ir.index.colour_names import SHADE_WORDS, THING_COLOURS
from cti_ir.index.correction import correct, real_word_correction
from cti_ir.index.facet_vocabulary import (ACCENT_AFTER, COMPARATIVES, HEEL_COMPARATIVES, LONGEST, ONE_WORD_VALUES,
                                           ORDERS, SLOT_NOUNS, SLOTS, VALUES, VOCABULARY)
from cti_ir.index.foreign_colour_names import FOREIGN_SHADE_WORDS
from cti_ir.index.frame_words import FRAME_WORDS

# The reader's interface; the vocabulary and the correction are re-exported from here, where callers read with them.
__all__ = ["SLOTS", "ORDERS", "VOCABULARY", "HEEL_COMPARATIVES", "COLOUR_CHANGES", "NEGATIONS", "NEGATION_RESETS",
           "Mention", "Constraint", "tokens", "correct", "mentions", "negated_between", "read_description",
           "read_request"]

# A bare value word that names a slot's value only beside the slot's noun ("set the sleeves to short", "heel: high",
# "the heel height from low to mid"): slot -> (its nouns, {word: value}). The nearest slot noun before the word in
# the same clause decides; without one the word is not read ("a short trip", "high quality").
_QUALIFIED_VALUES = {
    "sleeves": (("sleeve", "sleeves"), {"short": "short", "long": "long", "none": "sleeveless"}),
    "heel": (("heel", "heels", "height"), {"low": "low", "mid": "mid", "medium": "mid", "high": "high",
                                          "none": "flat"}),
    "fit": (("fit", "cut"), {"slim": "fitted", "close": "fitted", "wide": "loose"}),
    "pattern": (("pattern", "print"), {"none": "solid"}),
}
# Shade names that are also everyday English words ("sage") and other languages' colour words that English spells
# too ("verde"): read as a colour only where only a colour stands.
_SHADES = MappingProxyType({**SHADE_WORDS, **FOREIGN_SHADE_WORDS})
# Where only a colour stands (_SHADES): before one of these nouns, or after "in"/"to" closing a
# phrase ("in sage, with a strap", "from white to ash").
_COLOUR_NOUNS = ("coloured", "colored", "colour", "color", "toned", "tone", "shade")
_PATTERN_WORDS = frozenset(w for phrases in VALUES["pattern"].values() for p in phrases for w in p.split()
                           if w not in ("no", "without", "a", "pattern", "print", "coloured", "colored", "plain",
                                        "solid"))
_PHRASE_ENDS = ("and", "or", "with", "instead", "please", "pls", "rather", "now", "for")
# Words that make what follows a colour ("dusty sage", "pale gold"): a shade after one is a colour.
_COLOUR_MODIFIERS = frozenset(("dark", "light", "pale", "deep", "bright", "dusty", "soft", "muted", "pastel", "neon",
                               "rich", "vivid", "dusky", "faded", "vibrant", "darkish", "lightish"))
# What bounds the clause a lone shade is read in ("make it sage and give it long sleeves").
_CLAUSE_JOINS = frozenset(("and", "but", "or"))
# Shades that make the noun after them a kind or a material, not a colour: "snow boots", "straw sandals".
_KINDS_BEFORE_NOUNS = frozenset(("snow", "straw"))
# Nouns after which a shade is not the product's colour: a part's ("a gold buckle", "silver straps") or a print of
# the thing ("a rose print"). And a shade that is also a way of addressing someone ("honey, make it red").
_NOT_THE_PRODUCTS = frozenset(("buckle", "buckles", "strap", "straps", "zip", "zips", "zipper", "button", "buttons",
                               "laces", "hardware", "chain", "trim", "trims", "sole", "soles", "print", "prints",
                               "pattern", "patterns", "motif", "motifs"))
_NOT_ALONE = frozenset(("honey",))
_QUALIFIED_LOOKBACK = 8  # "the sleeve length going from three-quarter to long"
# "darker"/"lighter" say the colour changes, not to what: the reference's colour is excluded.
COLOUR_CHANGES = ("darker", "lighter", "brighter", "paler")
# A bare noun under a negation names the absence of the thing: "lose the sleeves" -> sleeveless.
_REMOVALS = {"sleeves": ("sleeves", "sleeveless"), "sleeve": ("sleeves", "sleeveless"), "heel": ("heel", "flat"),
             "heels": ("heel", "flat"), "pattern": ("pattern", "solid"), "print": ("pattern", "solid")}
# Words between a pattern and a colour that make the colour the pattern's: "striped in white", "the colour of the
# stripes going from beige to burgundy", "dots: red".
_PATTERN_LINKS = frozenset(("in", "to", "from", ":", "going", "changing", "change", "changed", "switching", "now"))
# Nouns after which a colour in the same clause is the pattern's: "set the colour of the print to black".
_PATTERN_NOUNS = ("print", "pattern")
NEGATIONS = frozenset(("not", "no", "without", "instead", "than", "from", "never", "minus", "lose", "ditch",
                        "drop", "remove", "removed", "except", "nor", "isn't", "aren't", "don't", "n't", "replace",
                        "swap", "doesn't", "didn't", "wasn't", "weren't", "won't", "can't", "cannot", "couldn't",
                        "wouldn't", "shouldn't", "hasn't", "haven't", "dont", "doesnt", "isnt", "arent", "none",
                        "unlike", "rid", "trade", "exchange", "away", "less", "nothing", "hate", "hated", "dislike",
                        "dislikes", "zero"))
_NEGATION_WINDOW = 3
# Words that end the reach of a negation ("from low to flat", "not red but blue") and of a "sole colour" clause.
# A colon too: what follows a heading is what is asked ("exchange: black", "swap details: a v-neck").
NEGATION_RESETS = frozenset(("to", "but", "and", "into", "now", ",", ".", ";", ":", "!", "?"))
# A verb of replacing negates what it replaces, not the replacement it names after "with" or "for": "replace the
# print with stripes", "exchange it for a blue one", "swap for flats" (after "to" nothing is negated anyway).
_REPLACEMENTS = frozenset(("replace", "swap", "exchange", "trade"))
_REPLACEMENT_LINKS = frozenset(("with", "for"))
_CLAUSE_BREAKS = frozenset((",", ".", ";", "!", "?"))







@dataclass(frozen=True)
class Mention:
    """One phrase of a text that names a facet value (token positions ``start``..``end``, end exclusive)."""

    slot: str
    value: str
    start: int
    end: int
    negated: bool = False


@dataclass
class Constraint:
    """What a request asks of one slot: the values it allows (None: any) and the values it excludes."""

    allowed: frozenset[str] | None = None
    excluded: frozenset[str] = field(default_factory=frozenset)

    def accepts(self, value: str | None) -> bool:
        """Whether a product with this value fits (an unknown value always does)."""
        if value is None:
            return True
        return value not in self.excluded and (self.allowed is None or value in self.allowed)

    def to_json(self) -> dict:
        return {"allowed": sorted(self.allowed) if self.allowed is not None else None,
                "excluded": sorted(self.excluded)}


def tokens(text: str) -> list[str]:
    """Lower-cased words without accents; hyphens read as spaces, punctuation as its own token (a clause boundary).

    Accents are folded ("marrón" is "marron", "weiß" "weiss") so that a word typed with or without them reads the
    same; before, a letter with one split the word in two."""
    text = unicodedata.normalize("NFKD", text.lower().replace("ß", "ss"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("-", " ").replace("’", "'")
    return re.findall(r"3/4|[a-z0-9']+|[,.;:!?()]", text)


def mentions(text: str) -> tuple[list[Mention], list[str]]:
    """The facet phrases of ``text`` (longest match first, left to right) and its words."""
    words = _real_word_corrections([correct(w) for w in tokens(text)])
    found: list[Mention] = []
    i, last_end = 0, 0
    while i < len(words):
        for n in range(min(LONGEST, len(words) - i), 0, -1):
            hit = VOCABULARY.get(tuple(words[i:i + n]))
            if hit is None and n == 1:
                hit = _qualified_value(words, i) or _positioned_shade(words, i)
            if hit is not None:
                negated = negated_between(words, max(last_end, i - _NEGATION_WINDOW), i)
                found.append(Mention(hit[0], hit[1], i, i + n, negated))
                i, last_end = i + n, i + n
                break
        else:
            i += 1
    return _accent_colours(found, words), words


def negated_between(words: list[str], start: int, end: int) -> bool:
    """Whether a negation word stands in ``words[start:end]`` after the last word that ends a negation's reach."""
    between = words[start:end]
    resets = [j for j, w in enumerate(between) if w in NEGATION_RESETS]
    between = between[resets[-1] + 1:] if resets else between
    return any(w in NEGATIONS and not (w in _REPLACEMENTS and _REPLACEMENT_LINKS.intersection(between[j + 1:]))
               for j, w in enumerate(between))


def _qualified_value(words: list[str], i: int) -> tuple[str, str] | None:
    """(slot, value) of a bare value word named by the nearest slot noun before it in its clause, else None."""
    word = words[i]
    # "instead of the short sleeves, long ones": "ones" takes the noun of the clause before
    pronoun = i + 1 < len(words) and words[i + 1] in ("one", "ones")
    for j in range(i - 1, max(-1, i - 1 - _QUALIFIED_LOOKBACK), -1):
        if (words[j] in _CLAUSE_BREAKS and not pronoun) or words[j] == "and":
            return None
        for slot, (nouns, values) in _QUALIFIED_VALUES.items():
            if words[j] in nouns:
                # "sleeve length" names the sleeves; a noun right after the word ("a short trip") is not ours
                return (slot, values[word]) if word in values else None
        if words[j] in SLOT_NOUNS:  # another slot's noun is nearer: the word is not this slot's
            return None
    return None


def _positioned_shade(words: list[str], i: int) -> tuple[str, str] | None:
    """("colour", base colour) of a shade word standing where only a colour can, else None."""
    colour = _SHADES.get(words[i])
    if colour is None:
        colour = THING_COLOURS.get(words[i])
        if colour is None or not _thing_as_colour(words, i):
            return None
    return ("colour", colour) if _colour_stands(words, i) or _alone_in_clause(words, i) else None


# A thing named after these is the thing itself ("with a bear on it", "has wolf", "a tan coloured bear"), and
# before these it is what a print shows ("a tuxedo design", "a fox logo", "a panther on it").
_THING_OBJECT_BEFORE = frozenset(("a", "an", "the", "with", "has", "have", "of", "this", "that", "his", "her", "my",
                                  "its", "their", "our", "your", "some", "little", "cute", "big", "small"))
_THING_MOTIF_AFTER = frozenset(("design", "designs", "logo", "logos", "image", "images", "picture", "pictures",
                                "motif", "motifs", "on", "face", "faces", "head", "heads", "shaped"))


def _thing_as_colour(words: list[str], i: int) -> bool:
    """Whether the thing ``words[i]`` (:data:`THING_COLOURS`) can name a colour where it stands: not as the thing
    itself or a print's motif, which a real caption's "with a bear on it" or "a lobster print" is, unless a colour
    noun follows ("a marshmallow-coloured one")."""
    after = words[i + 1] if i + 1 < len(words) else None
    if after in _COLOUR_NOUNS:
        return True
    before = words[i - 1] if i > 0 else None
    return not (before in _THING_OBJECT_BEFORE or before in _COLOUR_NOUNS or after in ACCENT_AFTER
                or after in _PATTERN_WORDS or after in _THING_MOTIF_AFTER)


def _colour_stands(words: list[str], i: int) -> bool:
    """Whether ``words[i]`` stands where only a colour can: before a colour noun ("sage-coloured"), a sole or trim
    word or a pattern's ("sage soles", "mint flowers": accent colours, as _accent_colours reads them), after a
    colour modifier ("dusty sage"), or after "in"/"to" closing a phrase ("in sage, with a strap")."""
    after = words[i + 1] if i + 1 < len(words) else None
    if after in _COLOUR_NOUNS or after in ACCENT_AFTER or after in _PATTERN_WORDS:
        return True
    if i > 0 and words[i - 1] in _COLOUR_MODIFIERS:
        return True
    closes = after is None or after in _CLAUSE_BREAKS or after in _PHRASE_ENDS
    return closes and i > 0 and words[i - 1] in ("in", "to", "into")


def _real_word_corrections(words: list[str]) -> list[str]:
    """``words`` with each English word one edit from a vocabulary word read as that word where it stands as that
    word would: completing a phrase ("high heals", "kitten heals"), a sole after a colour ("red souls"), a colour
    where only a colour can stand ("in bleach" is not, "in grean" needs no such rule). Elsewhere it stays English:
    "in your range", "sports shoes", "the sales"."""
    out = list(words)
    for i, word in enumerate(words):
        meant = real_word_correction(word)
        if meant is not None and _stands_as(out[:i] + [meant] + out[i + 1:], i):
            out[i] = meant
    return out


def _stands_as(words: list[str], i: int) -> bool:
    for n in range(2, LONGEST + 1):  # a phrase of two words or more, with the words beside it
        if any(tuple(words[start:start + n]) in VOCABULARY for start in range(max(0, i - n + 1), i + 1)):
            return True
    meant, previous = words[i], (words[i - 1] if i > 0 else None)
    if meant in ACCENT_AFTER or VOCABULARY.get((meant,), ("",))[0] == "pattern":  # "black strips"
        return VOCABULARY.get((previous,), ("",))[0] == "colour"
    return VOCABULARY.get((meant,), ("",))[0] == "colour" and _colour_stands(words, i)


def _alone_in_clause(words: list[str], i: int) -> bool:
    """Whether every other word of ``words[i]``'s clause is a facet word, a shade, a colour modifier or a word that
    carries no facet ("make it sage", "sage instead of white", "a gold pair please"): then the shade can only say
    what the product should look like. Not before a noun the shade makes a kind or a material of ("snow boots"),
    nor before a part or a print, whose colour it then names ("a gold strap", "a rose print")."""
    after = words[i + 1] if i + 1 < len(words) else None
    before_noun = after is not None and after not in _CLAUSE_BREAKS
    if words[i] in _NOT_ALONE or (words[i] in _KINDS_BEFORE_NOUNS and before_noun) or after in _NOT_THE_PRODUCTS:
        return False
    start, end = i, i + 1
    while start > 0 and words[start - 1] not in _CLAUSE_BREAKS and words[start - 1] not in _CLAUSE_JOINS:
        start -= 1
    while end < len(words) and words[end] not in _CLAUSE_BREAKS and words[end] not in _CLAUSE_JOINS:
        end += 1
    return all(_carries_no_other_meaning(w) for j, w in enumerate(words[start:end], start) if j != i)


def _carries_no_other_meaning(word: str) -> bool:
    return (word in FRAME_WORDS or word in ONE_WORD_VALUES or word in SLOT_NOUNS or word in _SHADES
            or word in _COLOUR_MODIFIERS or word in NEGATIONS or word in NEGATION_RESETS or word in _COLOUR_NOUNS
            or word in COLOUR_CHANGES or word in HEEL_COMPARATIVES or not word.isalpha())


def _accent_colours(found: list[Mention], words: list[str]) -> list[Mention]:
    """Colours right before a pattern or a sole ("white stripes", "red and white striped", "black soles"), right
    after "<pattern> in/to" ("striped in white"), or after "sole"/"trim" in the same clause ("set the sole colour
    to pink") are accent colours."""
    out = []
    for k, m in enumerate(found):
        if m.slot == "colour":
            nxt = found[k + 1] if k + 1 < len(found) else None
            before_pattern = nxt is not None and nxt.slot == "pattern" and nxt.start == m.end and nxt.value != "solid"
            before_sole = m.end < len(words) and words[m.end] in ACCENT_AFTER
            prev = found[k - 1] if k > 0 else None
            between = words[prev.end:m.start] if prev is not None else []
            # "striped in white": white stripes; but "blue polka-dotted in red" (the pattern has its colour
            # already) is a red product with blue dots, as the catalogue's captions write it
            coloured_pattern = k >= 2 and found[k - 2].slot == "colour" and found[k - 2].end == prev.start
            after_pattern = (prev is not None and prev.slot == "pattern" and prev.value != "solid"
                             and bool(between) and all(w in _PATTERN_LINKS for w in between)
                             and not (between == ["in"] and coloured_pattern))
            # "from blue to beige" after a pattern or a sole: the second colour is the accent's new value
            chained = prev is not None and out[-1].slot == "accent_colour" and between == ["to"]
            # "red stripes, not blue" / "red soles instead of white": the old value of the accent just named
            last = next((x for x in reversed(out) if x.slot in ("colour", "accent_colour")), None)
            contrasted = (m.negated and last is not None and last.slot == "accent_colour"
                          and not any(w in _CLAUSE_BREAKS or w == "and" for w in words[last.end:m.start]))
            start = prev.end if prev is not None else 0
            breaks = [i for i in range(start, m.start) if words[i] in _CLAUSE_BREAKS]
            start = max(breaks[-1] + 1 if breaks else start, m.start - 5)
            # "set the sole colour to pink", but not "navy-soled and black": a sole word right after a colour is
            # that colour's, and "and" starts another facet
            after_sole = any(
                (words[i] in ACCENT_AFTER or words[i] in _PATTERN_NOUNS) and "and" not in words[i + 1:m.start]
                and not (prev is not None and i == prev.end and out[-1].slot == "accent_colour")
                for i in range(start, m.start))
            if before_pattern or before_sole or after_pattern or chained or after_sole or contrasted:
                m = Mention("accent_colour", m.value, m.start, m.end, m.negated)
        out.append(m)
    return out


def read_description(text: str | None) -> dict[str, str]:
    """A product's facets from its description: the first value each slot is given (none: unknown)."""
    facets: dict[str, str] = {}
    for m in mentions(text or "")[0]:
        if not m.negated:
            facets.setdefault(m.slot, m.value)
    return facets


def read_request(text: str, reference: Mapping[str, str] | None = None) -> dict[str, Constraint]:
    """What ``text`` asks of each slot, read against the reference's facets (``reference``; None: unknown)."""
    reference = reference or {}
    found, words = mentions(text)
    named: dict[str, list[str]] = {}
    negated: dict[str, list[str]] = {}
    for m in found:
        (negated if m.negated else named).setdefault(m.slot, []).append(m.value)
    out: dict[str, Constraint] = {}
    for slot in set(named) | set(negated):
        current = reference.get(slot)
        new = [v for v in named.get(slot, []) if v != current]
        # A value both asked for and negated ("white plaid rather than plaid") is asked for: the negation was
        # about something else (its colour). The reference's own value, named beside a new one, is the old one.
        excluded = set(negated.get(slot, [])) - set(named.get(slot, []))
        if new:
            excluded |= {current} if current is not None and current in named.get(slot, []) else set()
            out[slot] = Constraint(frozenset(new[:1]), frozenset(excluded - {new[0]}))
        elif excluded:
            out[slot] = Constraint(None, frozenset(excluded))
    _removals(words, found, out)
    _comparatives(words, found, reference, out)
    return out


def _removals(words: list[str], found: list[Mention], out: dict[str, Constraint]) -> None:
    taken = {i for m in found for i in range(m.start, m.end)}
    for i, w in enumerate(words):
        # "less" negates a value ("less fitted") but takes nothing away: "less heel" is a lower heel, not none
        if w in _REMOVALS and i not in taken and any(x in NEGATIONS and x != "less" for x in words[max(0, i - 3):i]):
            slot, value = _REMOVALS[w]
            current = out.get(slot)
            if current is None or current.allowed is None:
                out[slot] = Constraint(frozenset((value,)), current.excluded if current else frozenset())


def _comparatives(words: list[str], found: list[Mention], reference: Mapping[str, str],
                  out: dict[str, Constraint]) -> None:
    for i, w in enumerate(words):
        if w in COLOUR_CHANGES and reference.get("colour") and "colour" not in out:
            out["colour"] = Constraint(None, frozenset((reference["colour"],)))
        noun = next((SLOT_NOUNS[x] for x in words[i + 1:i + 3] if x in SLOT_NOUNS), None)
        if w in HEEL_COMPARATIVES and noun == "heel":  # "taller heels"; "a smaller print" is not a heel
            slot, direction = "heel", HEEL_COMPARATIVES[w]
        elif w in COMPARATIVES:
            slot, direction = COMPARATIVES[w]
            slot = noun or slot
        else:
            continue
        if slot == "neckline":  # a lower neckline is a deeper one
            direction = 1 if w in ("lower", "deeper") else -1
        order = ORDERS[slot]
        current = reference.get(slot)
        if current not in order or (slot in out and out[slot].allowed is not None):
            continue
        at = order.index(current)
        allowed = order[at + 1:] if direction > 0 else order[:at]
        if allowed:
            out[slot] = Constraint(frozenset(allowed), out[slot].excluded if slot in out else frozenset())
