"""How the engine uses a shopping session and the category default; the engine calls these, the page and the API
never do.

- :data:`SAME_CATEGORY` (``"auto"``, the default of the page and the API): search the reference's category unless
  the words ask for another of the index's categories (:func:`cti_ir.index.category_intent.asked_category`). The
  reference's category is its catalogue category, or, for an uploaded photo, the one the index's photo category
  model guesses from its pixels (``cti_ir.index.photo_category_model``), else its category model from its vector
  (``cti_ir.index.category_model``; an unsure guess is said so, with the other likely categories), or for an
  index without either, that of the catalogue product closest to the photo. Without a reference, every category.
- :func:`plan_session`: what a :class:`~cti_ir.serve.session.Session` makes of the next search (its merged
  constraints and the products already seen); :func:`search_planned` answers it in ranking tiers with FAISS
  searches restricted to each tier's products.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import torch

from cti_ir.index.category_intent import asked_category
from cti_ir.index.category_model import CategoryGuess, CategoryModel, CategoryModelError, read_category_model
from cti_ir.index.factory import search_parameters
from cti_ir.index.photo_category_model import PhotoCategoryModel, PhotoCategoryModelError, read_photo_category_model
from cti_ir.serve.session import (
    CatalogueFacets,
    Session,
    SessionPlan,
    fill_from_tiers,
    parse_history,
    ranking_tiers,
    session_constraints,
)
from cti_ir.serve.upload_cache import NOT_GUESSED

SAME_CATEGORY = "auto"
ALL_CATEGORIES = "all"
_LOCK = threading.Lock()
logger = logging.getLogger(__name__)


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
    can be without encoding (else it stays :data:`SAME_CATEGORY`, for :func:`final_categories` after encoding)."""
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


def category_model_of(index) -> CategoryModel | None:
    """The category model stored with the index version (``cti_ir.index.category_model``), read on first use and
    kept on the index; None when it has none (built before it existed) or it cannot be used (logged)."""
    return _stored_model(index, "_category_model", read_category_model, CategoryModelError,
                         "the index's category model cannot be used (%s); an uploaded photo gets the category of "
                         "its closest product", lambda model: model.info.get("dim") == index.info.get("dim"))


def photo_category_model_of(index) -> PhotoCategoryModel | None:
    """The photo category model stored with the index version (``cti_ir.index.photo_category_model``), read on
    first use and kept on the index; None when it has none or it cannot be used (logged)."""
    return _stored_model(index, "_photo_category_model", read_photo_category_model, PhotoCategoryModelError,
                         "the index's photo category model cannot be used (%s); an uploaded photo's category is "
                         "guessed from its vector",
                         lambda model: model.info.get("model_fingerprint") == index.info.get("model_fingerprint"))


def _stored_model(index, attribute: str, read, refused: type[Exception], warning: str, usable):
    """A model stored in the index's version folder, read once (under the lock) and kept as ``attribute``."""
    model = getattr(index, attribute, False)
    if model is False:
        with _LOCK:
            model = getattr(index, attribute, False)
            if model is False:
                try:
                    model = read(index.version_dir)
                except (refused, OSError, KeyError, ValueError) as e:
                    logger.warning(warning, e)
                    model = None
                if model is not None and not usable(model):
                    model = None
                setattr(index, attribute, model)
    return model


def guess_categories(index, image_vectors: np.ndarray, pixels=None) -> list[CategoryGuess | None]:
    """The category of each uploaded photo: the index's photo category model on its preprocessed ``pixels``
    ``(N, 3, H, W)`` when the index has one that knows every category it serves, else its category model on the
    photo's vector ``(N, D)``, else (an index without either) the category of the closest catalogue product,
    with no confidence. One call for the whole batch."""
    photo = photo_category_model_of(index) if pixels is not None else None
    if photo is not None and photo.accepts(pixels) and set(index.categories) <= set(photo.categories):
        return photo.guess(pixels, allowed=index.categories)
    model = category_model_of(index)
    if model is not None:
        return model.guess(image_vectors, allowed=index.categories)
    _, ids = index.search(np.ascontiguousarray(image_vectors, dtype=np.float32), 1)
    out: list[CategoryGuess | None] = []
    for row in ids:
        category = (index.items[int(row[0])].get("categories") or [None])[0] if row[0] >= 0 else None
        out.append(CategoryGuess(category, None) if category else None)
    return out


def final_categories(index, queries, image_vectors: dict[int, np.ndarray], uploads=None
                     ) -> list[tuple[str | None, list[str], CategoryGuess | None]]:
    """Per prepared query: the category it searches, its notes and the guess behind it. :data:`SAME_CATEGORY` left
    by :func:`resolve_category` becomes the guessed category of the uploaded photo (``image_vectors``: query
    number -> the photo's own vector), every category without a photo. ``uploads`` (the engine's
    ``UploadCache``) keeps each uploaded photo's guess per index version: a photo sent again is not guessed again."""
    rows = [i for i, q in enumerate(queries) if q.category == SAME_CATEGORY and i in image_vectors]
    version = (str(getattr(index, "version_dir", "")), id(index))
    guessed = {}
    if uploads is not None:
        for i in rows:
            key = getattr(queries[i], "upload_key", None)
            kept = uploads.guess(key, version) if key is not None else NOT_GUESSED
            if kept is not NOT_GUESSED:
                guessed[i] = kept
        rows = [i for i in rows if i not in guessed]
    if rows:
        with_pixels = all(queries[i].pixels is not None for i in rows)
        pixels = torch.stack([queries[i].pixels for i in rows]) if with_pixels else None
        new = dict(zip(rows, guess_categories(index, np.stack([image_vectors[i] for i in rows]), pixels)))
        for i, guess in new.items():
            if uploads is not None and getattr(queries[i], "upload_key", None) is not None:
                uploads.keep_guess(queries[i].upload_key, version, guess)
        guessed.update(new)
    out = []
    for i, q in enumerate(queries):
        if q.category != SAME_CATEGORY:
            out.append((q.category, list(q.notes), None))
            continue
        guess = guessed.get(i)
        out.append((guess.category if guess else None, list(q.notes) + ([guess_note(guess)] if guess else []), guess))
    return out


def guess_note(guess: CategoryGuess) -> str:
    """What the page and the API say about the category guessed for an uploaded photo."""
    name = guess.category.replace("_", " ")
    if guess.confidence is None:
        return (f"searched {name}, the category of the catalogue product closest to the photo (name another "
                f"category in the words, or choose All to search every category)")
    if not guess.unsure:
        return (f"searched {name}, the photo's category ({100 * guess.confidence:.0f} % sure; name another category "
                f"in the words, or choose All to search every category)")
    others = ", ".join(f"{c.replace('_', ' ')} ({100 * p:.0f} %)" for c, p in guess.alternatives) or "another"
    return (f"not sure which category the photo shows: searched {name} ({100 * guess.confidence:.0f} %), it may be "
            f"{others}; choose its category, or All, or name it in the words")


def category_note(category: str | None, why: str | None) -> str | None:
    """What the page and the API say about the category searched (an uploaded photo's: :func:`guess_note`)."""
    if why == "asked":
        return f"searched {category.replace('_', ' ')}: the words ask for it (choose All to search every category)"
    if why == "reference" and category:
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
                   exclude: str | None, product_filter=None, index=None) -> tuple[list[float], list[int]]:
    """The top ``k`` (scores, positions) of a session's query: tier by tier (see ``ranking_tiers``), among the
    category's products that pass ``product_filter`` (a checked ``cti_ir.index.filters`` filter). ``index``: the
    version to search (default the engine's; positions are only meaningful in the version they came from)."""
    index = index if index is not None else engine.index
    facets = catalogue_facets(index)
    candidates = np.ones(len(index), dtype=bool)
    if category:
        candidates[:] = False
        candidates[index._by_category[category]] = True
    if product_filter is not None:
        candidates &= index.filters.mask(product_filter)
    seen = np.zeros(len(index), dtype=bool)
    for image_id in plan.seen:
        position = engine.position_of(image_id, index)
        if position is not None:
            seen[position] = True
    if exclude and engine.position_of(exclude, index) is not None:
        candidates[engine.position_of(exclude, index)] = False
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
