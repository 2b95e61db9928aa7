"""Which catalogue category a request asks for: "as a shirt", "boots instead", "make them sneakers".

A search keeps the reference's category unless the words ask for another one of the index's categories. The
words for a category are its name as the index spells it ("athletic_shoes" -> "athletic shoes", "athletic
shoe"), its plural, and what shoppers call the published datasets' categories (:data:`SHOPPER_WORDS`: a
Fashion-IQ "toptee" is a top, a tee or a blouse; the Shoes folder of heeled sandals is "high_heels"). A category
word does not count when it is negated ("not a shirt", "instead of boots"), when it names the reference's own
category, when it follows "with" ("with high heels" is about the heel), or when it qualifies a part ("a shirt
collar"). A word one letter away from a facet word of five letters or more reads as that word ("sneekers").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from cti_ir.index.facets import VOCABULARY, correct, negated_between, tokens

# What shoppers call the categories of the published datasets (Fashion-IQ's and Shoes' folder names).
SHOPPER_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "toptee": ("top", "tops", "tee", "tees", "t shirt", "t shirts", "tshirt", "blouse", "blouses", "tank top"),
    "athletic_shoes": ("running shoes", "running shoe", "trainers", "athletic shoes"),
    "high_heels": ("sandals", "sandal", "high heels"),
    "boots": ("ankle boots", "ankle boot", "tall boots", "tall boot", "booties"),
    "flats": ("ballet flats", "ballet flat"),
    "stiletto": ("stilettos",),
    "wedding_shoes": ("bridal shoes", "wedding shoe"),
    "dress": ("dresses", "gown", "gowns"),
})
# A category word right before one of these names a part, not a product ("a shirt collar", "dress length").
_PART_NOUNS = frozenset(("collar", "sleeve", "sleeves", "neck", "neckline", "length", "style", "fit", "print",
                         "pattern", "colour", "color", "hem", "heel", "heels", "sole", "soles"))


def category_words(categories: Iterable[str]) -> dict[tuple[str, ...], str]:
    """Phrase (a tuple of words) -> category, for the index's categories."""
    out: dict[tuple[str, ...], str] = {}
    for category in categories:
        name = category.replace("_", " ").lower()
        if name.endswith("s") and not name.endswith("ss"):
            other = name[:-1]
        else:
            other = name + "es" if name.endswith(("s", "sh", "ch", "x")) else name + "s"
        forms = {name, *SHOPPER_WORDS.get(category, ())}
        if tuple(other.split()) not in VOCABULARY:  # "flats" -> "flat" would be the heel
            forms.add(other)
        for form in forms:
            out.setdefault(tuple(tokens(form)), category)
    return out


def asked_category(text: str | None, categories: Iterable[str], current: str | None = None) -> str | None:
    """The category ``text`` asks for among ``categories``, other than ``current``; None when it asks none."""
    words = [correct(w) for w in tokens(text or "")]  # "sneekers" is sneakers, as in the facets
    vocabulary = category_words(categories)
    longest = max((len(k) for k in vocabulary), default=0)
    i, last_end = 0, 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            category = vocabulary.get(tuple(words[i:i + n]))
            if category is None:
                continue
            negated = negated_between(words, max(last_end, i - 3), i)
            part = i + n < len(words) and words[i + n] in _PART_NOUNS
            attribute = "with" in words[max(0, i - 2):i]
            if category != current and not (negated or part or attribute):
                return category
            i, last_end = i + n, i + n
            break
        else:
            i += 1
    return None
