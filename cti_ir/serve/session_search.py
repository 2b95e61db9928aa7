"""How the engine uses a shopping session and the category default; the engine calls these, the page and the API
never do.

- :data:`SAME_CATEGORY` (``"auto"``, the default of the page and the API): search the reference's category unless
  the words ask for another of the index's categories (:func:`cti_ir.index.category_intent.asked_category`). The
  reference's category is its catalogue category, or, for an uploaded photo, that of the catalogue product
  closest to it. Without a reference, every category.
- :func:`plan_session`: what a :class:`~cti_ir.serve.session.Session` makes of the next search (its merged
  constraints and the products already seen); :func:`search_planned` answers it in ranking tiers with FAISS
  searches restricted to each tier's products.
"""

from __future__ import annotations

import threading

import numpy as np

from cti_ir.index.category_intent import asked_category
from cti_ir.index.factory import search_parameters
from cti_ir.serve.session import (
    CatalogueFacets,
    Session,
    SessionPlan,
    fill_from_tiers,
    parse_history,
    ranking_tiers,
    session_constraints,
)

SAME_CATEGORY = "auto"
ALL_CATEGORIES = "all"
_LOCK = threading.Lock()


def catalogue_facets(index) -> CatalogueFacets:
    """The index's product facets, read from its descriptions on first use and kept on the index."""
    facets = getattr(index, "_facets", None)
    if facets is None:
        with _LOCK:
            facets = getattr(index, "_facets", None)
            if facets is None:
                facets = index._facets = CatalogueFacets([it.get("description") or "" for it in index.items])
    return facets


def resolve_category(engine, category: str | None, text: str, reference_id: str | None
                     ) -> tuple[str | None, str | None]:
    """``(category to search, why)`` for a requested category; :data:`SAME_CATEGORY` is decided here when it
    can be without encoding (else it stays :data:`SAME_CATEGORY`, for :func:`image_category` after encoding)."""
    if category == ALL_CATEGORIES:
        return None, None
    if category != SAME_CATEGORY:
        return category or None, None
    item = engine.item(reference_id) if reference_id else None
    current = (item.get("categories") or [None])[0] if item else None
    asked = asked_category(text, engine.categories, current)
    if asked is not None:
        return asked, "asked"
    if current is not None:
        return current, "reference"
    return SAME_CATEGORY, None


def image_category(index, image_vector: np.ndarray) -> str | None:
    """The category of the catalogue product closest to an uploaded photo (None: it has none)."""
    _, ids = index.search(image_vector[None], 1)
    if ids[0][0] < 0:
        return None
    return (index.items[int(ids[0][0])].get("categories") or [None])[0]


def final_category(index, category: str | None, notes: list[str], image_vector: np.ndarray | None
                   ) -> tuple[str | None, list[str]]:
    """The category a prepared query searches, and its notes: :data:`SAME_CATEGORY` left by
    :func:`resolve_category` becomes the category of the catalogue product closest to the uploaded photo."""
    if category != SAME_CATEGORY:
        return category, list(notes)
    category = image_category(index, image_vector) if image_vector is not None else None
    return category, list(notes) + [n for n in [category_note(category, "photo")] if n]


def category_note(category: str | None, why: str | None) -> str | None:
    """What the page and the API say about the category searched."""
    if why == "asked":
        return f"searched {category.replace('_', ' ')}: the words ask for it (choose All to search every category)"
    if why in ("reference", "photo") and category:
        return (f"searched {category.replace('_', ' ')}, the reference's category (name another category in the "
                f"words, or choose All to search every category)")
    return None


def plan_session(engine, session: Session | list, text: str, reference_id: str | None) -> SessionPlan:
    """The session's merged constraints (earlier turns, then ``text`` on the current reference) and what it saw.

    ``session`` is a :class:`Session` or its JSON form (checked by ``parse_history``: raises ``HistoryError``).
    """
    if not isinstance(session, Session):
        session = parse_history(session, lambda image_id: engine.position_of(image_id) is not None)
    index = engine.index
    facets = catalogue_facets(index)

    def facets_of(image_id: str | None) -> dict:
        position = engine.position_of(image_id) if image_id else None
        return facets.of(position) if position is not None else {}

    reference = facets_of(reference_id) if reference_id else None
    constraints = session_constraints(session, text, reference, facets_of)
    return SessionPlan(constraints, session.seen() | ({reference_id} if reference_id else set()))


def search_planned(engine, plan: SessionPlan, vector: np.ndarray, k: int, category: str | None,
                   exclude: str | None, product_filter=None) -> tuple[list[float], list[int]]:
    """The top ``k`` (scores, positions) of a session's query: tier by tier (see ``ranking_tiers``), among the
    category's products that pass ``product_filter`` (a checked ``cti_ir.index.filters`` filter)."""
    index = engine.index
    facets = catalogue_facets(index)
    candidates = np.ones(len(index), dtype=bool)
    if category:
        candidates[:] = False
        candidates[index._by_category[category]] = True
    if product_filter is not None:
        candidates &= index.filters.mask(product_filter)
    seen = np.zeros(len(index), dtype=bool)
    for image_id in plan.seen:
        position = engine.position_of(image_id)
        if position is not None:
            seen[position] = True
    if exclude and engine.position_of(exclude) is not None:
        candidates[engine.position_of(exclude)] = False
    tiers = ranking_tiers(candidates, facets.violations(plan.constraints), seen)
    positions, scores = fill_from_tiers(tiers, k, lambda tier, n: search_among(index, vector, n, tier))
    return scores, positions


def search_among(index, query: np.ndarray, k: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, positions) of one query ``(D,)`` among the items at ``positions`` of a
    ``CatalogueIndex`` (exact for a flat index; an approximate one may find fewer, padded with -1)."""
    import faiss

    positions = np.ascontiguousarray(positions, dtype=np.int64)
    selector = faiss.IDSelectorBatch(positions)
    params, _keep = search_parameters(index.index, dict(index.search_params), selector)  # _keep: kept alive
    scores, ids = index.index.search(np.ascontiguousarray(query[None], dtype=np.float32),
                                     max(1, min(int(k), len(positions))), params=params)
    return scores[0], ids[0]
