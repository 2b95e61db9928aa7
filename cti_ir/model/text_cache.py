"""A bounded cache of text embeddings: the same modification texts recur ("is red", "is shorter"), encode them once.

Keyed by the model (its fingerprint and the backend that runs its text tower: an int8 tower gives slightly other
vectors than the fp32 one) and by the text as the tokenizer will see it. ``normaliser_for`` gives that
normalisation: Unicode NFC and collapsed whitespace always, lower case only for open_clip's own tokenizer, which
lower-cases anyway (a Hugging Face tokenizer may not). Two texts with one key give the same tokens, hence the same
embedding, so a hit is exactly what encoding would have returned.

The cache holds at most ``capacity`` embeddings and forgets the least recently used first; when the model it
serves changes (:meth:`TextEmbeddingCache.bind` with another key), everything cached is dropped at once.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections import OrderedDict
from typing import Callable, Sequence

import torch

#: Embeddings kept by default: 4,096 x 512 floats is 8 MB for a ViT-B-32, far more texts than a shop's common ones.
DEFAULT_CAPACITY = 4096


def normaliser_for(tokenizer) -> Callable[[str], str]:
    """The text normalisation under which two texts always get the same tokens from ``tokenizer``."""
    lower = False
    try:
        from open_clip.tokenizer import SimpleTokenizer

        # open_clip's BPE tokenizer lower-cases in its default cleaning ("lower"); other cleanings keep case.
        lower = isinstance(tokenizer, SimpleTokenizer) and getattr(tokenizer, "clean_fn", None) is not None and \
            tokenizer.clean_fn("A") == "a"
    except ImportError:  # no open_clip: case is kept, which is always safe
        pass

    def normalise(text: str) -> str:
        text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", str(text))).strip()
        return text.lower() if lower else text

    return normalise


class TextEmbeddingCache:
    """Least-recently-used text embeddings of one model, thread-safe.

    ``encode_texts(texts, encode)`` returns the embeddings of ``texts`` (rows in order), calling ``encode`` once
    for the texts it does not hold, each distinct text once. ``hits`` and ``misses`` count texts.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, normalise: Callable[[str], str] | None = None):
        if capacity < 0:
            raise ValueError(f"the text cache capacity must not be negative, got {capacity}")
        self.capacity = capacity
        self.normalise = normalise or normaliser_for(None)
        self._kept: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._model_key: str | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._kept)

    def bind(self, model_key: str | None) -> None:
        """Serve the model named ``model_key`` (fingerprint and backend); a different one drops every entry."""
        with self._lock:
            if model_key != self._model_key:
                self._kept.clear()
                self._model_key = model_key

    def clear(self) -> None:
        """Forget every embedding (the counters stay)."""
        with self._lock:
            self._kept.clear()

    def encode_texts(self, texts: Sequence[str], encode: Callable[[list[str]], torch.Tensor],
                     model_key: str | None) -> torch.Tensor:
        """Embeddings ``(len(texts), D)`` of ``texts``: cached ones as kept, the others from ``encode`` (then kept).

        ``model_key`` is the model's current key (see :meth:`bind`): a model whose fingerprint changed since the
        last call (another checkpoint, another granularity) starts from an empty cache.
        """
        self.bind(model_key)
        keys = [self.normalise(t) for t in texts]
        found: dict[str, torch.Tensor] = {}
        with self._lock:
            for key in keys:
                row = self._kept.get(key)
                if row is not None:
                    self._kept.move_to_end(key)
                    found[key] = row
        # Each missing key is encoded once, in the spelling it first came with; every spelling of it gets the row.
        first: dict[str, str] = {}
        for key, text in zip(keys, texts):
            if key not in found:
                first.setdefault(key, text)
        missed = sum(1 for k in keys if k not in found)
        self.hits += len(keys) - missed
        self.misses += missed
        if first:
            fresh = encode(list(first.values()))
            rows = dict(zip(first, fresh.detach().float().cpu()))
            found.update(rows)
            self._keep(rows)
        return torch.stack([found[k] for k in keys]) if keys else torch.empty(0)

    def _keep(self, rows: dict[str, torch.Tensor]) -> None:
        if self.capacity == 0:
            return
        with self._lock:
            for key, row in rows.items():
                self._kept[key] = row.clone()  # its own storage: a row of a batch would keep the batch alive
                self._kept.move_to_end(key)
            while len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
