"""The words a model's text tower was trained on, kept beside its checkpoint (``text_vocabulary.json``).

A model trained from random weights on a shop's captions has learned nothing about a word its training texts
never held: the tokens of "pls" or "dusty rose" reach its text tower with embeddings no gradient has moved, and
only add noise to the query. The request reader uses this record to tell such words apart from words the model
can use (``CIRModel.learned_word``). A model started from pretrained weights (an open_clip tag) has learned from
texts nobody recorded, so its checkpoints carry no record and every word counts as learned.

The training stages write the record (the starting checkpoint's words plus the stage's own texts);
``python -m training.text_vocabulary`` writes one for a checkpoint trained before that, from its training data.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Mapping

from cti_ir.files import write_json_atomic

VOCABULARY_FILE = "text_vocabulary.json"
FORMAT = "cti-ir-text-vocabulary"
FORMAT_VERSION = 1

# The request reader's own word split (cti_ir.index.facets.tokens): lower case, hyphens as spaces.
_WORD = re.compile(r"[a-z0-9']+")


class TextVocabularyError(ValueError):
    """A ``text_vocabulary.json`` that cannot be read."""


def text_words(text: str) -> list[str]:
    """The words of ``text`` as the request reader splits them (lower case; "v-neck" is "v" and "neck")."""
    return _WORD.findall(text.lower().replace("-", " ").replace("\u2019", "'"))


def count_words(texts: Iterable[str], counts: Counter | None = None) -> Counter:
    """How often each word occurs in ``texts`` (added to ``counts`` when given)."""
    counts = Counter() if counts is None else counts
    for text in texts:
        counts.update(text_words(text))
    return counts


def write_text_vocabulary(folder: str | os.PathLike, counts: Mapping[str, int]) -> Path:
    """Write ``text_vocabulary.json`` (every word with its count) into a checkpoint folder, atomically."""
    record = {"format": FORMAT, "format_version": FORMAT_VERSION, "words": dict(sorted(counts.items()))}
    return write_json_atomic(Path(folder) / VOCABULARY_FILE, record, indent=None)


def read_text_vocabulary(folder: str | os.PathLike) -> dict[str, int] | None:
    """The word counts of a checkpoint folder's record; None when it has none."""
    path = Path(folder) / VOCABULARY_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise TextVocabularyError(f"cannot read {path} ({e}); delete it to load the model without it, or write it "
                                  f"again with python -m training.text_vocabulary") from e
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise TextVocabularyError(f"{path} is not a text vocabulary of this project (no format {FORMAT!r})")
    if record.get("format_version") != FORMAT_VERSION:
        raise TextVocabularyError(f"{path} has format version {record.get('format_version')!r}; this version "
                                  f"reads {FORMAT_VERSION}: write it again with python -m training.text_vocabulary")
    words = record.get("words")
    if not isinstance(words, dict) or not all(isinstance(w, str) and isinstance(n, int) for w, n in words.items()):
        raise TextVocabularyError(f"{path}: 'words' must map each word to its count")
    return words
