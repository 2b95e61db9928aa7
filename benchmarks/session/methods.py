"""The search systems a simulated shopper is played against, over the catalogue's vectors held in memory.

Every method answers a turn of many sessions at once (one text-encoder pass per turn) and searches the layout
category of the session's target (a dress among dresses; a shoe among every shoe type), leaving out the current
reference as the page does. A reference is always a catalogue product here, so its vector is the stored one.

- ``single``: what the page did before sessions: the checkpoint's composer on the reference and this turn's words.
- ``sum``: the same with the fixed sum of image and text (the zero-shot baseline).
- ``joined``: every earlier turn's words joined to this turn's, composed with the reference (what a shopper
  typing the whole story again would get).
- ``session``: ``cti_ir.serve.session``: the session's merged facet constraints and its seen products decide the
  ranking tiers, the composed query ranks within them (the engine does the same with FAISS).

Options (``method:name=value``): ``constraints=0`` (no facet constraints), ``step_back=0`` (seen products keep their
place), ``query=sum`` (the fixed sum instead of the composer), ``category=page`` (search the reference's index
category unless the words ask another, as the page and the API do by default, instead of the whole layout
category: for shoes, one shoe type), ``drop=F`` (a share F of the catalogue's descriptions blanked: products whose
facets nobody can read).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cti_ir.index.category_intent import asked_category
from cti_ir.index.facets import read_description
from cti_ir.serve.session import (
    CatalogueFacets,
    Session,
    SessionTurn,
    fill_from_tiers,
    ranking_tiers,
    session_constraints,
)

METHODS = ("single", "sum", "joined", "session")


class VectorSearch:
    """One method over a gallery: ``search(sessions, texts)`` gives each session's top ``k`` product ids."""

    def __init__(self, model, gallery, method: str, k: int = 10, options: dict | None = None):
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose among {', '.join(METHODS)}")
        self.model, self.gallery, self.method, self.k = model, gallery, method, k
        self.options = dict(options or {})
        self.vectors = torch.from_numpy(gallery.vectors)
        self._texts: dict[str, torch.Tensor] = {}
        self._masks = {c: gallery.mask(c) for c in set(gallery.layout_category)}
        self.facets = None
        if method == "session":
            drop = float(self.options.get("drop", 0))
            rng = np.random.default_rng(0)
            self.facets = CatalogueFacets([d if rng.random() >= drop else "" for d in gallery.descriptions])
        self._index_masks: dict[str, np.ndarray] = {}

    # ----------------------------------------------------------------------------------------------- encoding
    @torch.no_grad()
    def text_vectors(self, texts: Sequence[str]) -> list[torch.Tensor | None]:
        """Text embeddings (None for an empty text), each text encoded once per benchmark run."""
        todo = [t for t in dict.fromkeys(texts) if t and t not in self._texts]
        for i in range(0, len(todo), 256):
            batch = todo[i:i + 256]
            for text, vector in zip(batch, self.model.encode_texts(batch)):
                self._texts[text] = vector
        return [self._texts[t] if t else None for t in texts]

    @torch.no_grad()
    def queries(self, sessions, texts: Sequence[str]) -> torch.Tensor:
        """Each session's query vector for this turn (image only when there is nothing to say)."""
        if self.method == "joined":
            texts = [". ".join([t.text for t in s.turns if t.text] + ([x] if x else [])) for s, x in
                     zip(sessions, texts)]
        images = self.vectors[[self.gallery.position[s.reference] for s in sessions]]
        words = self.text_vectors(texts)
        out = images.clone()
        rows = [i for i, w in enumerate(words) if w is not None]
        if rows:
            img, txt = images[rows], torch.stack([words[i] for i in rows])
            if self.method == "sum" or self.options.get("query") == "sum":
                composed = F.normalize(img + txt, dim=-1)
            else:
                composed = self.model.compose(img, txt).query.float()
            out[rows] = composed
        return out

    # ---------------------------------------------------------------------------------------------- searching
    def search(self, sessions, texts: Sequence[str]) -> list[list[str]]:
        """The top ``k`` product ids of each session for this turn's words."""
        queries = self.queries(sessions, texts).numpy()
        return [self._rank(s, text, q) for s, text, q in zip(sessions, texts, queries)]

    def _rank(self, session, text: str, query: np.ndarray) -> list[str]:
        g = self.gallery
        candidates = self._candidates(session, text)
        candidates[g.position[session.reference]] = False
        if self.method != "session":
            positions = np.flatnonzero(candidates)
            scores = g.vectors[positions] @ query
            return [g.ids[positions[i]] for i in _top(scores, self.k)]
        tiers = self._tiers(session, text, candidates)

        def search(tier: np.ndarray, n: int):
            scores = g.vectors[tier] @ query
            best = _top(scores, n)
            return scores[best], tier[best]

        positions, _ = fill_from_tiers(tiers, self.k, search)
        return [g.ids[p] for p in positions]

    def _candidates(self, session, text: str) -> np.ndarray:
        """The layout category of the target, or with ``category=page`` the index category the page searches."""
        g = self.gallery
        if self.options.get("category") != "page":
            return self._masks[g.products[session.target]["category"]].copy()
        own = g.index_categories[g.position[session.reference]][0]
        all_categories = sorted({c for cs in g.index_categories for c in cs})
        category = asked_category(text, all_categories, own) or own
        if category not in self._index_masks:
            self._index_masks[category] = np.array([category in cs for cs in g.index_categories])
        return self._index_masks[category].copy()

    def _tiers(self, session, text: str, candidates: np.ndarray) -> list[np.ndarray]:
        g = self.gallery
        history = Session(tuple(SessionTurn(t.text, t.reference, t.shown, t.picked) for t in session.turns))
        violations = np.zeros(len(g.ids), dtype=np.int16)
        if self.options.get("constraints", True):
            reference = self.facets.of(g.position[session.reference])
            constraints = session_constraints(history, text, reference,
                                              lambda image_id: self.facets.of(g.position[image_id]))
            violations = self.facets.violations(constraints)
        seen = np.zeros(len(g.ids), dtype=bool)
        if self.options.get("step_back", True):
            seen[[g.position[i] for i in history.seen()]] = True
        return ranking_tiers(candidates, violations, seen)


def _top(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` highest scores, best first (ties by position, as FAISS breaks them)."""
    n = min(n, len(scores))
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n]
    return part[np.lexsort((part, -scores[part]))]


def description_facets(gallery) -> list[dict]:
    """Every product's facets as read from its description (for checking the reader against the attributes)."""
    return [read_description(d) for d in gallery.descriptions]
