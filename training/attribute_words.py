"""Attribute-word labels mined from product descriptions, for stage 2's attribute-aware task.

The labels come from the descriptions' own words (unigrams and bigrams of content words such as "red",
"stripes", "long sleeves", "high heel"), never from ground-truth attribute tables, so the task works on any
catalogue that has product titles or descriptions (Fashion-IQ's ASIN titles, Shoes' single-image captions, a
shop's product texts) and does not lean on how our generator names things.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable, Sequence

import torch

# Function words and fillers that carry no visual attribute.
STOP_WORDS = frozenset("""
a an the and or with without of in on at to for from by is are be it its this that these those has have
very more less than as into onto over under up down out off so too just also but not no nor one two
pair pairs set item look looks looking style styled women womens woman ladies lady new
""".split())

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1]


def terms(text: str) -> set[str]:
    """The unigrams and adjacent-word bigrams of a text's content words."""
    words = content_words(text)
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:])}


def build_vocabulary(texts: Iterable[str], size: int = 256, min_count: int = 5, max_fraction: float = 0.5) -> list[str]:
    """The ``size`` most frequent terms by document frequency.

    Terms in more than ``max_fraction`` of the texts are left out: a word every product has ("dress" in a dress
    catalogue) separates nothing. Ties are broken alphabetically so the vocabulary is deterministic.
    """
    texts = list(texts)
    df = Counter(t for text in texts for t in terms(text))
    limit = max_fraction * len(texts)
    ranked = sorted(((c, t) for t, c in df.items() if min_count <= c <= limit), key=lambda ct: (-ct[0], ct[1]))
    return [t for _, t in ranked[:size]]


def label_matrix(texts: Sequence[str], vocabulary: Sequence[str]) -> torch.Tensor:
    """Multi-hot ``(len(texts), len(vocabulary))`` uint8 matrix: which vocabulary terms each text contains."""
    index = {t: i for i, t in enumerate(vocabulary)}
    labels = torch.zeros(len(texts), len(vocabulary), dtype=torch.uint8)
    for row, text in enumerate(texts):
        for t in terms(text):
            if t in index:
                labels[row, index[t]] = 1
    return labels
