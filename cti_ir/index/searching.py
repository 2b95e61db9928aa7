"""A built index opened for searching: FAISS, the item table, the product fields, and filtered search.

Filters (a category, the product fields of ``cti_ir.index.filters``) are applied *inside* the search, never by
cutting a longer list, so that ``k`` passing products come back whenever ``k`` exist:

- a filter that lets few products pass (``EXACT_SUBSET_MAX`` or fewer) is answered by an exact scan of those
  products' stored vectors: cheaper than a graph or list walk that must step over the products left out;
- otherwise the index searches with a FAISS id selector (a bitmap of the passing positions): exactly for an exact
  index (FAISS then compares vector by vector instead of one matrix product: about 5x an unfiltered query when
  most products pass), and for an approximate one with its search parameter divided by the share of products
  passing (``_scaled_for_filter``): the passing neighbours of a query lie farther out than its unfiltered ones
  (on clustered vectors, HNSW tuned to 0.98 recall@10 fell to 0.74 under a 3 % filter; on the demo catalogue a
  shirt query among in-stock dresses reached 0.92 with efSearch / sqrt(share)). A query for which it found fewer than
  ``k`` (an HNSW walk or the probed IVF lists may hold too few passing products) is searched again exactly over
  the passing products: with their stored vectors where the index keeps them (flat storage, HNSW, IVF-PQ with
  exact re-ranking), else by probing every IVF list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from cti_ir.index.factory import ivf_lists, search_parameters, tunable_parameter
from cti_ir.index.filters import ProductFilter
from cti_ir.index.item_table import ItemTable
from cti_ir.index.layout import INDEX_FILE, ITEMS_FILE, IndexMismatchError
from cti_ir.index.tuning import EF_SEARCH_MAX

#: What efSearch / nprobe are when an index records none (FAISS's HNSW default; the engine's old nprobe).
DEFAULT_SEARCH_PARAMETER = 16
#: Passing products up to which a filtered query is answered by an exact scan of their vectors (gathered: above
#: a few thousand, gathering them costs more than an HNSW walk, 1 ms against 0.3 ms at 7,000 x 128-d).
EXACT_SUBSET_MAX = 2048


class CatalogueIndex(ItemTable):
    """A built index opened for searching (memory-mapped, read-only by default): one version of the folder."""

    def __init__(self, folder: str | Path, mmap: bool = True):
        import faiss

        super().__init__(folder)
        # IO_FLAG_MMAP alone maps only IVF inverted lists: flat and HNSW indexes (the default "IDMap,Flat"
        # included) were read fully into memory. IO_FLAG_MMAP_IFC (faiss >= 1.8) maps the codes of every type.
        flags = (getattr(faiss, "IO_FLAG_MMAP_IFC", faiss.IO_FLAG_MMAP) | faiss.IO_FLAG_READ_ONLY) if mmap else 0
        self.index = faiss.read_index(str(self.version_dir / INDEX_FILE), flags)
        if self.index.ntotal != len(self.items):
            raise IndexMismatchError(f"{self.folder}: the FAISS index has {self.index.ntotal} vectors but "
                                     f"{ITEMS_FILE} lists {len(self.items)} items; rebuild the index")
        # One FAISS selector per category, made on first use and shared by later searches (and threads: searching
        # only reads it). Building one per query costs ~18 ms at 1M items, 50x an IVF search.
        self._selectors: dict[str, object] = {}
        self._vectors: np.ndarray | None | bool = False  # the stored vectors as an array view, made on first use

    def search(self, queries: np.ndarray, k: int, category: str | None = None, nprobe: int | None = None,
               search_params: dict | None = None, filters: Mapping[str, Any] | ProductFilter | None = None):
        """Top-``k`` (scores, ids) of each query row, optionally among one category's items and the products that
        pass ``filters`` only (see the module: ``k`` passing results whenever ``k`` exist; -1 pads the rest).

        The index is searched with the parameters recorded at build time; ``search_params`` (efSearch, nprobe,
        k_factor) or ``nprobe`` override them for this call.
        """
        import faiss

        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(int(k), len(self.items)))
        self.check_category(category)
        values = {**self.search_params, **(search_params or {}), **({"nprobe": nprobe} if nprobe else {})}
        product_filter = self.parse_filters(filters)
        if product_filter is not None:
            mask = self.filters.mask(product_filter)
            if category:
                mask = mask & self._category_mask(category)
            return self._masked_search(queries, k, mask, values)
        selector = None
        if category:
            selector = self._selectors.get(category)
            if selector is None:
                selector = self._selectors[category] = faiss.IDSelectorBatch(self._by_category[category])
        params, _keep = search_parameters(self.index, values, selector)  # _keep: what params points to
        return self.index.search(queries, k, params=params)

    # -------------------------------------------------------------------------------------- filtered search
    def _masked_search(self, queries: np.ndarray, k: int, mask: np.ndarray, values: dict):
        import faiss

        positions = np.flatnonzero(mask)
        scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        if len(positions) == 0:
            return scores, ids
        wanted = min(k, len(positions))
        vectors = self.stored_vectors()
        if vectors is not None and len(positions) <= EXACT_SUBSET_MAX:
            return self._exact_subset(queries, k, positions, scores, ids)
        values = _scaled_for_filter(self.index, values, len(positions) / len(mask))
        bitmap = np.packbits(mask, bitorder="little")  # FAISS reads bit i of byte i // 8, lowest bit first
        selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        params, _keep = search_parameters(self.index, values, selector)
        found_scores, found_ids = self.index.search(queries, k, params=params)
        short = np.flatnonzero((found_ids >= 0).sum(axis=1) < wanted)
        if len(short):  # an approximate search found too few passing products: search those queries exactly
            if self.stored_vectors() is not None:
                redo = self._exact_subset(queries[short], k, positions, scores[short], ids[short])
            else:  # IVF without stored vectors: every list, so every passing product is a candidate
                params, _keep2 = search_parameters(self.index, {**values, "nprobe": ivf_lists(self.index)},
                                                   selector)
                redo = self.index.search(queries[short], k, params=params)
            found_scores[short], found_ids[short] = redo
        return found_scores, found_ids

    def _exact_subset(self, queries: np.ndarray, k: int, positions: np.ndarray, scores, ids):
        import faiss

        subset = np.ascontiguousarray(self.stored_vectors()[positions])
        top = min(k, len(positions))
        found_scores, found = faiss.knn(queries, subset, top, metric=faiss.METRIC_INNER_PRODUCT)
        scores[:, :top], ids[:, :top] = found_scores, positions[found]
        return scores, ids

    def stored_vectors(self) -> np.ndarray | None:
        """The stored vectors as an ``(N, D)`` array, row = position (a view of the memory-mapped file, nothing
        copied), or None when the index type does not keep them whole (IVF, PQ without re-ranking)."""
        if self._vectors is False:
            self._vectors = _flat_vectors(self.index)
        return self._vectors


def _scaled_for_filter(faiss_index, values: dict, share: float) -> dict:
    """``values`` with the index's search parameter (efSearch, nprobe) divided by a filter's ``share`` of passing
    products, within its range."""
    name = tunable_parameter(faiss_index)
    if name is None or share >= 1:
        return values
    scaled = int(np.ceil(float(values.get(name, DEFAULT_SEARCH_PARAMETER)) / share))
    top = EF_SEARCH_MAX if name == "efSearch" else ivf_lists(faiss_index)
    return {**values, name: min(scaled, top)}


def _flat_vectors(faiss_index) -> np.ndarray | None:
    """A view of the full vectors of flat storage, HNSW over flat storage, or the exact copy of a refined index,
    in position order (an ``IndexIDMap`` whose ids are not its rows is reordered, which copies)."""
    import faiss

    outer = faiss.downcast_index(faiss_index)
    inner, order = outer, None
    if isinstance(outer, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        inner = faiss.downcast_index(outer.index)
        order = faiss.vector_to_array(outer.id_map)
    if isinstance(inner, faiss.IndexRefine):
        inner = faiss.downcast_index(inner.refine_index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    if not isinstance(inner, faiss.IndexFlat) or inner.ntotal == 0:
        return None
    view = faiss.rev_swig_ptr(inner.get_xb(), inner.ntotal * inner.d).reshape(inner.ntotal, inner.d)
    if order is not None and not np.array_equal(order, np.arange(len(order))):
        out = np.empty_like(view)
        out[order] = view
        return out
    return view


def open_index(folder: str | Path, mmap: bool = True):
    """The served version of an index folder, opened for searching with its recorded backend (FAISS by default,
    or Milvus: ``cti_ir.index.milvus_backend``)."""
    from cti_ir.index.layout import read_index_info

    if (read_index_info(folder).get("backend") or {}).get("kind") == "milvus":
        from cti_ir.index.milvus_backend import MilvusCatalogueIndex

        return MilvusCatalogueIndex(folder)
    return CatalogueIndex(folder, mmap=mmap)
