"""The search engine: a checkpoint and a catalogue index loaded once, then image, text or composed queries.

```python
from cti_ir.search import SearchEngine
engine = SearchEngine("runs/stage3/best", "index/")
hits = engine.search(image=Image.open("dress.jpg"), text="is red and has long sleeves", k=10)
hits.image_weight, hits.text_weight, [(h.image_id, h.score, h.path) for h in hits.hits]
```
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image

from .checkpoint import load_checkpoint
from .index import CatalogueIndex, check_compatible

MAX_TEXT_CHARS = 1000   # longer texts are cut (the tokenizer would truncate to its context anyway)
MAX_K = 200


class QueryError(ValueError):
    """A query the engine cannot answer (nothing given, unusable text, bad k or category)."""


@dataclass
class Hit:
    """One result."""

    id: int                # position in the index
    image_id: str          # product id
    path: str
    score: float           # cosine similarity to the query
    categories: list[str] = field(default_factory=list)
    description: str = ""


@dataclass
class SearchResult:
    """Results of one query and how it was composed."""

    hits: list[Hit]
    mode: str              # "composed" | "image" | "text"
    image_weight: float    # weight the reference image got (1.0 image-only, 0.0 text-only)
    text_weight: float
    text: str = ""         # the text actually used (cleaned, possibly cut)
    notes: list[str] = field(default_factory=list)   # e.g. "text was cut to 1000 characters"


def clean_text(text: str | None) -> tuple[str, list[str]]:
    """Normalise a modification text: Unicode NFC, control characters removed, whitespace collapsed, length cut."""
    notes: list[str] = []
    if not text:
        return "", notes
    text = unicodedata.normalize("NFC", str(text))
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS]
        notes.append(f"the text was cut to its first {MAX_TEXT_CHARS} characters")
    return text, notes


class SearchEngine:
    """Composed text-plus-image search over a catalogue index."""

    def __init__(self, checkpoint: str | Path, index: str | Path, device: str = "cpu", mmap: bool = True):
        self.model = load_checkpoint(checkpoint, device=device)
        self.index = CatalogueIndex(index, mmap=mmap)
        check_compatible(self.index.info, self.model)

    @property
    def categories(self) -> list[str]:
        return self.index.categories

    @torch.no_grad()
    def encode_query(self, image: Image.Image | None, text: str, weights: tuple[float, float] | None = None):
        """The query vector and the (image, text) weights used."""
        model = self.model
        img = model.encode_images(model.preprocess(image.convert("RGB")).unsqueeze(0).to(model.device)) \
            if image is not None else None
        txt = model.encode_texts([text]) if text else None
        if img is not None and txt is not None:
            w = None
            if weights is not None:
                try:
                    wi, wt = float(weights[0]), float(weights[1])
                except (TypeError, ValueError, IndexError):
                    raise QueryError(f"manual weights must be two numbers (w_img, w_txt), got {weights!r}") from None
                # `not (x >= 0)` also catches NaN, which compares false with everything.
                if not (wi >= 0 and wt >= 0) or wi + wt <= 0 or math.isinf(wi + wt):
                    raise QueryError(f"manual weights must be finite, non-negative and not both zero, got {weights!r}")
                # On the features' device and dtype: CPU float tensors would fail against a model on the GPU.
                w = (img.new_tensor([wi / (wi + wt)]), img.new_tensor([wt / (wi + wt)]))
            out = model.compose(img, txt, w)
            return out.query, float(out.image_weight[0]), float(out.text_weight[0]), "composed"
        if img is not None:
            return img, 1.0, 0.0, "image"
        return txt, 0.0, 1.0, "text"

    def search(self, image: Image.Image | None = None, text: str | None = None, k: int = 10,
               category: str | None = None, weights: tuple[float, float] | None = None) -> SearchResult:
        """Top-``k`` products for a reference image, a modification text, or both.

        ``category`` restricts results to one catalogue category; ``weights`` = (w_img, w_txt) overrides the
        composer's predicted weights (they are renormalised to sum to one).
        """
        text, notes = clean_text(text)
        if image is None and not text:
            raise QueryError("give a reference image, a text, or both")
        try:
            k = int(k)
        except (TypeError, ValueError):
            raise QueryError(f"k must be a whole number, got {k!r}") from None
        if not 1 <= k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, got {k}")
        if category and category not in self.index.categories:
            raise QueryError(f"unknown category {category!r}; choose one of {', '.join(self.index.categories)}")
        query, wi, wt, mode = self.encode_query(image, text, weights)
        scores, ids = self.index.search(query.float().cpu().numpy(), k, category or None)
        hits = []
        for score, i in zip(scores[0], ids[0]):
            if i < 0:  # FAISS pads with -1 when fewer than k items match (small category)
                continue
            item = self.index.items[int(i)]
            hits.append(Hit(id=int(i), image_id=item["image_id"], path=item["path"], score=float(score),
                            categories=list(item.get("categories") or []), description=item.get("description", "")))
        return SearchResult(hits=hits, mode=mode, image_weight=wi, text_weight=wt, text=text, notes=notes)
