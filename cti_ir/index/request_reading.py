"""The request reader: a shopper's request the reader understands fully is rewritten into one canonical wording.

    from cti_ir.index.request_reading import read_request_text
    r = read_request_text("could you make it black and lose the sleeves, thanks!", {"colour": "red"})
    r.text        # "is black and sleeveless": what the text encoder gets
    r.understood  # True; r.note says what was understood, for the page and the API

The model was trained on captions in one style ("is black and has a floral print"); shoppers write in many
("turn it black", "no longer plaid but black flowers", "any chance of one in black?"). The reader puts the second
into the first with rules over the fashion vocabulary of :mod:`cti_ir.index.facets` (colours, patterns, sleeves,
necklines, lengths, fits, shoe types, heels, finishes, closures; negation, "X instead of Y", removals,
comparatives against the reference's facets, a replacement named after "replace it with" or "exchange it for", what
a shopper sending a product back received set against what they wanted ("it is white and not black" of a white
one), misspellings; a short word, or one two edits from a value, is corrected only when it is not English).

When is a request understood fully? When every word of it is either part of a facet phrase the reader read, or a
word of :data:`FRAME_WORDS` (articles, pronouns, request verbs, politeness, product nouns: words that carry no
facet), and every slot it names comes out as a value (or a direction, "longer") the canonical wording can say.
:data:`FRAME_WORDS` was collected from the generator's *training* phrasings (``benchmarks/phrasing/frame_words.py``)
plus everyday English written by hand.

A request with words the reader does not know ("a bit more summery", a colour it has no name for) is understood
*in part* when the rest of it reads as above: the canonical wording of what was read then goes *before* the
shopper's own text ("is black and sleeveless, make it black, sleeveless and more summery"), so the encoder gets
the wording it was trained on and still every word the shopper wrote. When the joined text would not fit the text
tower's context (``fits``), or nothing could be read, the shopper's text goes to the encoder unchanged. The one
exception to keeping every word is a word the model was never trained on (``learned``: the checkpoint's record,
:mod:`cti_ir.model.text_vocabulary`): when the canonical wording says all that was asked and every word the reader
did not know is such a word, the wording goes alone and the note names the words set aside.

It lives in ``cti_ir.index`` beside the facet vocabulary it reads with, so that both the search engine
(``SearchEngine(read_requests=True)``) and the evaluation (``python -m cti_ir.evaluate --read-requests on``) use it.

What it cannot read: facets outside the vocabulary (materials, occasions, styles such as "boho"), colour names it
does not know, degrees ("a bit darker" becomes no more than "not the reference's colour", which it does not
rewrite), and anything relative without the reference's facets (a comparative on an upload with no description).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from cti_ir.index.facets import (COLOUR_CHANGES, NEGATION_RESETS, NEGATIONS, ORDERS, SLOTS, Constraint, mentions,
                                 read_description, read_request)
from cti_ir.index.chat_forms import chat_negations, plain_chat
from cti_ir.index.frame_words import FRAME_WORDS
from cti_ir.index.opinion_forms import opinion_negations

_NO_LONGER = re.compile(r"\bno[\s-]+longer\b", re.IGNORECASE)
# A request dictated to a phone can carry its punctuation as words ("black comma sleeveless full stop"): read as the
# marks they stand for, so that the clauses part where the shopper parted them. "comma" and "full stop" name nothing
# a product has; "period", "question mark" and "exclamation mark" only where they end the request after a word that
# can end a phrase ("a question mark graphic" is a print, "a period dress" a style, "lettering and exclamation
# point" one too).
_SPOKEN_MARKS = ((re.compile(r"\s*\bcomma\b", re.IGNORECASE), ","),
                 (re.compile(r"\s*\b(?:full[\s-]+stop|new[\s-]+(?:line|paragraph))\b", re.IGNORECASE), "."))
_SPOKEN_END = re.compile(r"(\w+)\s+(?:period|question[\s-]+mark|exclamation[\s-]+(?:mark|point))[\s.!?]*$",
                         re.IGNORECASE)
_NO_PHRASE_END = frozenset(("a", "an", "the", "and", "or", "with", "of", "no", "without", "its", "their"))


def _spoken_marks(text: str) -> str:
    """``text`` with the punctuation a shopper dictated as words written as marks."""
    for spoken, mark in _SPOKEN_MARKS:
        text = spoken.sub(mark, text)
    end = _SPOKEN_END.search(text)
    if end is not None and end.group(1).lower() not in _NO_PHRASE_END:
        text = text[:end.end(1)] + "."
    return text


# "send it back", "this is going back": sending a product back names no part of it, unlike "a graphic on the back"
# or "a back strap" (so "back" is no frame word, only its place after a verb of going or sending is).
_SENT_BACK = re.compile(r"\b((?:send|sends|sending|sent|go|goes|going|gone|went|take|taking|took|bring|bringing|"
                        r"check|checking|checked|come|coming|came|"
                        r"brought|give|giving|gave|post|posting|posted|ship|shipping|shipped|mail|mailing|mailed|"
                        r"return|returning|returned)(?:\s+(?:it|them|this|these|that|those|the\s+\w+))?)\s+back\b",
                        re.IGNORECASE)


_SHOE_SLOTS = frozenset(("shoe_type", "heel", "finish", "closure"))
# (verb, singular rest, plural rest or None) per slot value: the generator's training captions' commonest forms.
_ABSOLUTE: Mapping[str, Mapping[str, tuple[str, str, str | None]]] = {
    "pattern": {"solid": ("is", "solid", None), "stripes": ("is", "striped", None),
                "dots": ("has", "polka dots", None), "checks": ("is", "plaid", None),
                "floral": ("is", "floral", None), "graphic": ("has", "a graphic print", "graphic prints")},
    "sleeves": {"sleeveless": ("is", "sleeveless", None), "short": ("has", "short sleeves", None),
                "three_quarter": ("has", "three quarter sleeves", None), "long": ("has", "long sleeves", None)},
    "neckline": {"collar": ("has", "a collar", None), "crew": ("has", "a crew neck", None),
                 "scoop": ("has", "a scoop neck", None), "v_neck": ("has", "a v-neck", None)},
    "length": {"mini": ("is", "mini length", None), "knee": ("is", "knee length", None),
               "midi": ("is", "midi length", None), "maxi": ("is", "floor length", None)},
    "fit": {"fitted": ("is", "more fitted", None), "loose": ("is", "looser", None)},
    "shoe_type": {"sneaker": ("is", "a sneaker", "sneakers"), "running_shoe": ("is", "a running shoe", "running shoes"),
                  "pump": ("is", "a pump", "pumps"), "flat": ("is", "a ballet flat", "ballet flats"),
                  "stiletto": ("is", "a stiletto", "stilettos"), "rain_boot": ("is", "a rain boot", "rain boots"),
                  "sandal": ("is", "a sandal", "sandals"), "clog": ("is", "a clog", "clogs"),
                  "boot": ("is", "a tall boot", "tall boots"), "ankle_boot": ("is", "an ankle boot", "ankle boots"),
                  "bridal": ("is", "a wedding shoe", "wedding shoes")},
    "heel": {"flat": ("is", "flat", None), "low": ("has", "a low heel", "low heels"),
             "mid": ("has", "a mid heel", "mid heels"), "high": ("has", "a high heel", "high heels")},
    "finish": {"matte": ("is", "matte", None), "shiny": ("is", "shiny", None)},
    "closure": {"laces": ("has", "laces", None), "strap": ("has", "a strap", "straps"),
                "none": ("is", "slip on", None)},
}
# A comparative's direction along the slot's order (cti_ir.index.facets.ORDERS): +1 up, -1 down.
_COMPARATIVE = {
    ("sleeves", 1): ("has", "longer sleeves", None), ("sleeves", -1): ("has", "shorter sleeves", None),
    ("length", 1): ("is", "longer", None), ("length", -1): ("is", "shorter", None),
    ("heel", 1): ("has", "a higher heel", "higher heels"), ("heel", -1): ("has", "a lower heel", "lower heels"),
    ("neckline", 1): ("has", "a lower neckline", None), ("neckline", -1): ("has", "a higher neckline", None),
}
# The pattern's colour goes with its pattern: "has white stripes".
_COLOURED_PATTERN = {"stripes": "{c} stripes", "dots": "{c} polka dots", "checks": "{c} plaid",
                     "floral": "{c} flowers", "graphic": "a {c} graphic"}
_PLURAL = {"is": "are", "has": "have"}
# Frame words that still name a slot: the request must say something of it that the reader read.
_NOUN_SLOTS = {"sleeves": "sleeves", "sleeve": "sleeves", "heel": "heel", "heels": "heel", "neckline": "neckline",
               "neck": "neckline", "hem": "length", "hemline": "length", "pattern": "pattern", "print": "pattern",
               "sole": "accent_colour", "soles": "accent_colour", "soled": "accent_colour", "trim": "accent_colour",
               "trims": "accent_colour", "finish": "finish", "closure": "closure", "fastening": "closure",
               "height": "heel"}
_COMPARATIVE_SLOTS = {"longer": "length", "shorter": "length", "higher": "heel", "lower": "heel",
                      "deeper": "neckline", "taller": "heel", "smaller": "heel"}



@dataclass(frozen=True)
class RequestReading:
    """What the reader made of a request: the text to encode, whether it was understood fully or in part (the
    canonical wording of what was read), and the words it did not know."""

    original: str
    text: str
    understood: bool
    unknown: tuple[str, ...] = ()
    canonical: str | None = None
    # Words left out of ``text`` because the model was never trained on them (they could only blur the query).
    set_aside: tuple[str, ...] = ()

    @property
    def in_part(self) -> bool:
        """Understood in part: ``text`` is the canonical wording of what was read, then the shopper's own words (the
        words it did not know alone, where the whole request would not fit after the wording)."""
        return not self.understood and self.canonical is not None

    @property
    def note(self) -> str | None:
        """One line for the shopper: what was understood, or nothing when the text went unchanged."""
        if self.in_part:
            own = [w for w in self.unknown if w not in self.set_aside]
            kept = f": {', '.join(own)}" if own else ""
            return f'request read in part as "{self.canonical}" (your own words kept{kept})'
        if not self.understood or self.text == self.original:
            return None
        if self.set_aside:
            aside = ", ".join(self.set_aside)
            return f'request read as "{self.text}" (words this model has not learned, set aside: {aside})'
        return f'request read as "{self.text}"'


def read_request_text(text: str, reference: Mapping[str, str] | None = None, category: str | None = None,
                      fits: Callable[[str], bool] | None = None,
                      learned: Callable[[str], bool] | None = None) -> RequestReading:
    """Rewrite ``text`` into the canonical wording when the reader understands all of it, put the canonical wording
    of what it read before it when it understands a part, else keep it.

    ``reference`` is the reference product's facets (:func:`cti_ir.index.facets.read_description` of its
    description; None or {} when unknown: comparatives are then not understood); ``category`` is the product's
    (``"shoes"`` conjugates in the plural, as most shoe captions are; a garment, by the reference's facets or a
    category ``"dress"``, ``"shirt"``, ``"toptee"`` or ``"garment"``, reads no shoe facet: a "strapless" dress is
    not a slip-on; None: unknown). ``fits`` says whether the text tower reads a text whole
    (``CIRModel.fits_context``); a reading in part that would not fit is not made (None: no limit). ``learned``
    says whether the model was trained on a word (``CIRModel.learned_word``): when every change the request asks is
    said by the canonical wording and every word the reader did not know is one the model never learned, the
    canonical wording goes alone, and those words are named in the note as set aside (None: every word learned).
    """
    original = text
    text = plain_chat(_spoken_marks(text))
    written = text  # what the shopper wrote, dictated marks as marks: what goes on when the reader reads nothing
    # "no longer plaid" negates; facets would read its "longer" as a comparative of the length
    text = _NO_LONGER.sub("not", text)
    text = opinion_negations(chat_negations(_SENT_BACK.sub(r"\1", text)))
    found, words = mentions(text)
    taken = {i for m in found for i in range(m.start, m.end)}
    unknown = tuple(dict.fromkeys(w for i, w in enumerate(words) if i not in taken and not _is_frame(w)))
    canonical, complete = _canonical(found, words, taken, text, dict(reference or {}), category)
    if canonical is None:
        return RequestReading(original, written, False, unknown)
    if complete and not unknown:
        return RequestReading(original, canonical, True, (), canonical)
    # A word no training text held moves the text tower by embeddings no gradient has shaped: it cannot steer the
    # query, only blur it ("pls", a shade name the shop never used), so when the wording says all that was asked,
    # it goes alone. Not when a negation stands too far before a value read as unchanged ("not keen on the
    # stripes" on a striped one): the words between may be what asks to change it.
    says_all = complete and not _unattached_negation(found, words, dict(reference or {}))
    if says_all and learned is not None and not any(learned(w) for w in unknown):
        return RequestReading(original, canonical, True, unknown, canonical, set_aside=unknown)
    joined = f"{canonical}, {written}"
    if fits is None or fits(joined):
        return RequestReading(original, joined, False, unknown, canonical)
    # Too long to go whole after the wording (a long request, often spoken): when the wording says every change read,
    # the words the reader did not know are all the shopper's text adds, so they go after it on their own (those
    # the model never learned set aside, as above); the text tower would otherwise cut the request's end off.
    kept = tuple(w for w in unknown if learned is None or learned(w))
    compact = f"{canonical}, {' '.join(kept)}" if kept else canonical
    if says_all and fits(compact):
        aside = tuple(w for w in unknown if w not in kept)
        return RequestReading(original, compact, not kept, unknown, canonical, set_aside=aside)
    return RequestReading(original, written, False, unknown)


def _canonical(found, words: list[str], taken: set[int], text: str, reference: dict[str, str],
               category: str | None) -> tuple[str | None, bool]:
    """(the canonical wording of what ``text`` asks that the wording can say, whether that is all it asks).

    All it asks: every facet phrase, slot noun and comparative became a constraint the wording says (the words
    outside them are not looked at). The wording is None when nothing can be said, or when one slot is given two
    new values (which one the shopper wants is not for the reader to pick)."""
    asked = _removed(read_request(text, reference), reference)
    for slot, value in _received_contrasts(found, reference).items():
        asked[slot] = Constraint(frozenset((value,)), frozenset(v for v in (reference.get(slot),) if v))
    if _is_garment(reference, category):  # a garment's straps are not a shoe's closure
        asked = {slot: c for slot, c in asked.items() if slot not in _SHOE_SLOTS}
    elif _is_shoe(reference, category):  # nor a shoe's "knee" a hem, its "scoop" a neckline
        asked = {slot: c for slot, c in asked.items() if slot not in _GARMENT_SLOTS}
    if not asked or _ambiguous(found, reference):
        return None, False
    # Every facet phrase, slot noun ("the sleeves") and comparative ("longer") must have become a constraint: one
    # that did not (a bare old value, "longer" without the reference's length) would be dropped by a rewrite. A slot
    # named only with the reference's own value ("make it white-soled" on white soles) asks nothing new: it is kept.
    # Likewise "red dotted, not dotted" on a dotted reference: the pattern stays, its colour changes.
    kept = _kept_slots(found, reference)
    needed = ({m.slot for m in found} - kept) | _slots_named(words, taken)
    if _is_shoe(reference, category):
        needed -= _GARMENT_SLOTS  # read in a shoe's request, a garment's facet is a misreading, not a request
    if "pattern" in needed and "pattern" not in asked and "accent_colour" in asked:
        needed.discard("pattern")  # "the colour of the print to black": the print is named for its colour
    if asked.get("pattern") is not None and asked["pattern"].allowed == {"solid"}:
        needed.discard("accent_colour")  # "no pattern instead of beige stripes": the old print's colour goes
    accent = asked.get("accent_colour")
    if "accent_colour" not in needed and accent is not None and accent.allowed is None:
        asked = {k: v for k, v in asked.items() if k != "accent_colour"}
    plural = category == "shoes" or bool(set(asked) & _SHOE_SLOTS)
    phrases = _phrases(asked, reference, plural)
    if phrases is not None and needed <= set(asked):
        return _join(phrases, plural), True
    sayable = _sayable(asked, reference, plural)  # "is black" of "remove the collar and make it black"
    return (_join(_phrases(sayable, reference, plural), plural) if sayable else None), False


def _kept_slots(found, reference: Mapping[str, str]) -> set[str]:
    """The slots a request names only with the reference's own value ("make it white-soled" on white soles): read
    as asking nothing new of them."""
    kept = {m.slot for m in found if not m.negated and reference.get(m.slot) == m.value}
    return kept - {m.slot for m in found if reference.get(m.slot) != m.value}


def _received_contrasts(found, reference: Mapping[str, str]) -> dict[str, str]:
    """{slot: value} for a request whose every contrast sets the reference's own value against another, the other
    negated: "returning it because it is white and not black" on a white one, "they came plain, not grey striped" on
    plain ones. Read as the request makes sense: the shopper says what they received and not what they wanted, so
    the other value is what is asked (read the other way, the request would ask nothing of the slot but to avoid a
    value it does not have). Nothing when a contrast of the usual kind ("black, not white" on a white one) is in
    the request too, or another value of the slot is asked for."""
    out: dict[str, str] = {}
    for i, a in enumerate(found):
        current = reference.get(a.slot)
        if a.negated or current is None:
            continue
        for b in found[i + 1:]:
            if not b.negated:
                break
            if b.slot == a.slot and a.value != current:
                return {}  # "black, not white" on a white one: the usual contrast
            if b.slot == a.slot and b.value != current:
                out[a.slot] = b.value
            elif a.slot == "pattern" and b.slot == "accent_colour" and a.value == current \
                    and b.value != reference.get(b.slot):
                out[b.slot] = b.value  # "plain, not grey striped": the print's colour goes with it
    asked_new = {m.slot for m in found if not m.negated and m.value != reference.get(m.slot)}
    return {slot: value for slot, value in out.items() if slot not in asked_new}


def _unattached_negation(found, words: list[str], reference: Mapping[str, str]) -> bool:
    """Whether a value read as the reference's own, asking nothing new, has a negation earlier in its clause, beyond
    the reach the facet reader gives a negation, with no other facet phrase between them for the negation to belong
    to: "not keen at all on the stripes" on a striped one, not "no pattern in place of the purple flowers" nor "no
    more graphic, a green graphic instead" (a negation the facet reader attached)."""
    kept = _kept_slots(found, reference)
    for m in found:
        if m.slot not in kept or m.negated:
            continue
        j = _last_negation(words, m.start)
        if j is not None and not any(j <= other.start < m.start for other in found if other is not m):
            return True
    return False


def _last_negation(words: list[str], end: int) -> int | None:
    """The position of the last negation word before ``end`` after the last word that ends a negation's reach."""
    for j in range(end - 1, -1, -1):
        if words[j] in NEGATION_RESETS:
            return None
        if words[j] in NEGATIONS:
            return j
    return None


# Categories known to be garments: the Fashion-IQ layout's, and "garment" for a caller that knows no more.
_GARMENT_CATEGORIES = frozenset(("garment", "dress", "shirt", "toptee"))
_GARMENT_SLOTS = frozenset(("sleeves", "neckline", "length", "fit"))


def _is_garment(reference: Mapping[str, str], category: str | None) -> bool:
    """Whether the product is a garment: the reference's own facets say (a shop's "boots" category is not one),
    else its category."""
    if category == "shoes" or set(reference) & _SHOE_SLOTS:
        return False
    return bool(set(reference) & _GARMENT_SLOTS) or category in _GARMENT_CATEGORIES


def _is_shoe(reference: Mapping[str, str], category: str | None) -> bool:
    """Whether the product is a shoe: the reference's own facets say, else its category ("shoes")."""
    if set(reference) & _SHOE_SLOTS:
        return True
    return category == "shoes" and not set(reference) & _GARMENT_SLOTS


def _sayable(asked: Mapping[str, Constraint], reference: Mapping[str, str], plural: bool) -> dict[str, Constraint]:
    """The constraints of ``asked`` the canonical wording can say, each on its own (a pattern with its colour)."""
    out = {}
    for slot, constraint in asked.items():
        trial = {slot: constraint}
        for a, b in (("pattern", "accent_colour"), ("accent_colour", "pattern")):
            if slot == a and b in asked:
                trial[b] = asked[b]
        if _phrases(trial, reference, plural):
            out.update(trial)
    return out if _phrases(out, reference, plural) else {}


def describe_change(reference: Mapping[str, str], target: Mapping[str, str], category: str | None = None) -> str | None:
    """The canonical wording of how ``target``'s facets differ from ``reference``'s ("is red and has long sleeves").

    Both are :func:`cti_ir.index.facets.read_description` results; only the slots both know count, each said as
    the target's value. None when they differ on no such slot or a value has no canonical wording. This writes
    the change between two products from their descriptions alone (``training.zeroshot --pairs``), in the wording
    the reader gives the model for every request it understands.
    """
    changed = [s for s in SLOTS if s in reference and s in target and reference[s] != target[s]]
    if not changed:
        return None
    asked = {s: Constraint(allowed=frozenset((target[s],))) for s in changed}
    plural = category == "shoes" or bool(set(asked) & _SHOE_SLOTS)
    phrases = _phrases(asked, reference, plural)
    return _join(phrases, plural) if phrases else None


def _ambiguous(found, reference: Mapping[str, str]) -> bool:
    """Whether one slot is given two new values ("in black or navy", "sleeveless or short-sleeved"): a rewrite would
    keep one and silently drop the other."""
    new: dict[str, set[str]] = {}
    for m in found:
        if not m.negated and reference.get(m.slot) != m.value:
            new.setdefault(m.slot, set()).add(m.value)
    return any(len(values) > 1 for values in new.values())


# A slot whose value can be taken away: what is left when it is ("without the dots": plain; "no straps": slip-on).
_ABSENT = {"pattern": "solid", "closure": "none"}


def _removed(asked: dict[str, Constraint], reference: Mapping[str, str]) -> dict[str, Constraint]:
    """"without the dots" on a dotted reference, with no other pattern asked, asks for a plain one (as "lose the
    pattern" does); "no straps" on a strappy shoe, with no other closure asked, for a slip-on."""
    out = dict(asked)
    for slot, absent in _ABSENT.items():
        constraint, current = asked.get(slot), reference.get(slot)
        if constraint is not None and constraint.allowed is None and current is not None \
                and current in constraint.excluded:
            out[slot] = Constraint(frozenset((absent,)), constraint.excluded)
    return out


def _slots_named(words: list[str], taken: set[int]) -> set[str]:
    """Slots that words outside the facet phrases name: a slot noun, a comparative's default slot, or the colour
    for "darker" and its kind (which a rewrite must not drop)."""
    out = set()
    for i, w in enumerate(words):
        if i in taken:
            continue
        if w in COLOUR_CHANGES:
            out.add("colour")
        elif w in _NOUN_SLOTS:
            out.add(_NOUN_SLOTS[w])
        elif w in _COMPARATIVE_SLOTS and not any(x in _NOUN_SLOTS for x in words[i + 1:i + 3]):
            out.add(_COMPARATIVE_SLOTS[w])
    return out


def _is_frame(word: str) -> bool:
    return (word in FRAME_WORDS or word in NEGATIONS or word in NEGATION_RESETS or not word[0].isalnum()
            or word in _COMPARATIVE_SLOTS or word in ("no", "not", "don't", "n't")
            or word in COLOUR_CHANGES)


def _phrases(asked: Mapping[str, Constraint], reference: Mapping[str, str],
             plural: bool) -> list[tuple[str, str]] | None:
    """(verb, rest) per slot in :data:`SLOTS` order; None when one slot cannot be said canonically."""
    out: list[tuple[str, str]] = []
    for slot in SLOTS:
        if slot not in asked or slot == "accent_colour":
            continue
        allowed = asked[slot].allowed
        if allowed is None:  # only exclusions ("not red"): no single canonical wording says it
            return None
        if slot == "colour":
            if len(allowed) != 1:
                return None
            out.append(("is", next(iter(allowed))))
            continue
        if slot == "pattern" and "accent_colour" in asked:
            continue  # said with its colour below
        phrase = _slot_phrase(slot, allowed, reference.get(slot))
        if phrase is None:
            return None
        verb, singular, many = phrase
        out.append((verb, many if plural and many else singular))
    if "accent_colour" in asked:
        accent = _accent_phrase(asked, reference, plural)
        if accent is None:
            return None
        out.append(accent)
    return out


def _slot_phrase(slot: str, allowed: frozenset[str], current: str | None) -> tuple[str, str, str | None] | None:
    if len(allowed) == 1:
        return _ABSOLUTE.get(slot, {}).get(next(iter(allowed)))
    order = ORDERS.get(slot)
    if order is None or current not in order:
        return None
    at = order.index(current)
    ups = {order.index(v) > at for v in allowed}
    return _COMPARATIVE.get((slot, 1 if ups == {True} else -1)) if len(ups) == 1 else None


def _accent_phrase(asked: Mapping[str, Constraint], reference: Mapping[str, str],
                   plural: bool) -> tuple[str, str] | None:
    colours = asked["accent_colour"].allowed
    if colours is None or len(colours) != 1:
        return None
    colour = next(iter(colours))
    pattern_asked = asked.get("pattern")
    if pattern_asked is not None and pattern_asked.allowed is not None and len(pattern_asked.allowed) == 1:
        pattern = next(iter(pattern_asked.allowed))
    else:
        pattern = reference.get("pattern")
    if pattern in _COLOURED_PATTERN:
        return "has", _COLOURED_PATTERN[pattern].format(c=colour)
    if plural:  # a shoe's second colour is its sole's
        return "has", f"{colour} soles"
    return None


def _join(phrases: list[tuple[str, str]], plural: bool) -> str:
    """"is black and has long sleeves", "is black and striped", "are clogs and have low heels"."""
    parts: list[str] = []
    prev = None
    for verb, rest in phrases:
        parts.append(rest if verb == prev else f"{_PLURAL[verb] if plural else verb} {rest}")
        prev = verb
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def read_for_engine(text: str, reference_item: Mapping | None, category: str | None,
                    fits: Callable[[str], bool] | None = None,
                    learned: Callable[[str], bool] | None = None) -> tuple[str, str | None]:
    """(text to encode, note for the shopper or None) for a search: the reference product's facets from its
    catalogue description (``reference_item``: an index item, or None for an uploaded photo); ``fits`` and
    ``learned`` as in :func:`read_request_text`."""
    facets = read_description((reference_item or {}).get("description")) if reference_item else {}
    reading = read_request_text(text, facets, category, fits, learned)
    return reading.text, reading.note
