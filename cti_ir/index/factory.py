"""Which FAISS index a catalogue gets, and the search parameter it is served with.

``--factory auto`` (the default of ``python -m cti_ir.index build``) decides by the catalogue's size and a memory
budget, in the spirit of autofaiss:

- **exact** (``IDMap,Flat``) while ``n * dim`` is at most ``EXACT_MAX_SCALARS`` (131,072 vectors of 128-d): up to
  there a full scan on one core costs about as much as encoding one query (~0.15 ns per stored float, ~2.5 ms),
  so an approximate index would save nothing worth its loss of recall;
- **HNSW** (``HNSW32``) above it, while its graph and vectors fit the budget and the catalogue is small enough
  to build the graph in reasonable time (``HNSW_MAX_ITEMS``);
- **IVF with product quantization and exact re-ranking** (``IVF{nlist},PQ{m}x4fs,RFlat``) beyond: the quantized
  codes and the inverted lists stay in memory; the full vectors used to re-rank the candidates are read from the
  memory-mapped index file.

Every approximate index is then **tuned at build time**: a sample of catalogue vectors is held out as queries,
the index first receives every other vector, and the search parameter (``efSearch`` for HNSW, ``nprobe`` for IVF)
is raised step by step until the approximate top-``k`` of the held-out queries holds ``target_recall`` of their
exact top-``k``; then the held-out vectors are added too. (Queries that are already in the index would be
misleading: in an HNSW graph a vector is linked to its own nearest neighbours, so it finds them far more easily
than a new query finds its own.) The value found is written to ``index_info.json``
(``search_params``, with the whole recall curve under ``tuning``) and ``CatalogueIndex`` searches with it.
Explicit factory strings (``IVF1024,Flat``, ``HNSW16``...) are tuned the same way; ``search_params`` given by hand
skip the tuning.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

AUTO = "auto"
EXACT_FACTORY = "IDMap,Flat"
DEFAULT_TARGET_RECALL = 0.95
DEFAULT_MEMORY_BUDGET = 4 * 2**30
#: ``n * dim`` up to which ``auto`` keeps exact search (2**24 floats = a 64 MB flat index).
EXACT_MAX_SCALARS = 2**24
#: Largest catalogue ``auto`` gives an HNSW graph: beyond it, building the graph takes hours on a few cores.
HNSW_MAX_ITEMS = 4_000_000
HNSW_M = 32
#: Vectors per inverted list the IVF k-means is trained on (FAISS warns below 39).
TRAIN_POINTS_PER_LIST = 64

Progress = Callable[[str], None]


@dataclass(frozen=True)
class FactoryChoice:
    """A FAISS factory string and why it was chosen."""

    factory: str
    reason: str
    memory_bytes: int | None     # resident memory when served memory-mapped (estimate; None: unknown type)
    file_bytes: int | None       # size of index.faiss (estimate)


def parse_memory(text: str | int) -> int:
    """Bytes from ``"4GB"``, ``"512MiB"``, ``"2g"`` or a plain number of bytes."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]?)(i?b?)\s*", str(text).lower())
    if not m:
        raise ValueError(f"memory budget {text!r} is not a size; write it like 4GB, 512MB or 2GiB")
    value, unit = float(m.group(1)), m.group(2)
    return int(value * 1024 ** " kmgt".index(unit or " "))


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def ivf_lists_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two nearest ``2 * sqrt(n)``, trainable with 39 per list."""
    lists = 2 ** round(math.log2(max(2 * math.sqrt(n), 1)))
    while lists > 1 and n < 39 * lists:
        lists //= 2
    return max(lists, 1)


def pq_subquantizers_for(dim: int) -> int:
    """PQ sub-quantizers of 4 bits for ``dim``: about dim / 2 (a 32-byte code at 128-d), even and dividing dim.

    Half as many (16 bytes) left recall@10 at 0.92 with 40 candidates re-ranked per result on our embeddings, where
    32 bytes reached 0.98.
    """
    m = max(2, dim // 2)
    while m > 2 and (dim % m or m % 2):
        m -= 1
    return m


def estimate_memory(factory: str, n: int, dim: int) -> tuple[int | None, int | None]:
    """(resident bytes when served memory-mapped, file bytes) of the index types ``auto`` picks; None if unknown."""
    flat = n * dim * 4
    if factory in ("Flat", EXACT_FACTORY):
        ids = 8 * n if factory.startswith("IDMap") else 0
        return flat + ids, flat + ids
    m = re.fullmatch(r"HNSW(\d+)(,Flat)?", factory)
    if m:
        links = int(m.group(1))
        # Level 0 holds 2M neighbours per node, the upper levels about M / (M - 1) more per node in all; plus a
        # level and an offset per node.
        graph = n * (4 * 2 * links * (1 + 1 / max(links - 1, 1)) + 12)
        return int(flat + graph), int(flat + graph)
    m = re.fullmatch(r"IVF(\d+),PQ(\d+)(x(\d+))?(fs)?(,RFlat)?", factory)
    if m:
        lists, sub, bits = int(m.group(1)), int(m.group(2)), int(m.group(4) or 8)
        codes = n * (math.ceil(sub * bits / 8) + 8) + lists * dim * 4
        return codes, codes + (flat if m.group(6) else 0)
    return None, None


def choose_factory(n: int, dim: int, memory_budget: int = DEFAULT_MEMORY_BUDGET,
                   exact_max_scalars: int | None = None) -> FactoryChoice:
    """The factory ``auto`` gives ``n`` vectors of ``dim`` dimensions under ``memory_budget`` bytes (see module)."""
    exact_max_scalars = EXACT_MAX_SCALARS if exact_max_scalars is None else exact_max_scalars
    exact_mem, exact_file = estimate_memory(EXACT_FACTORY, n, dim)
    if n * dim <= exact_max_scalars and exact_mem <= memory_budget:
        return FactoryChoice(EXACT_FACTORY, f"exact: {n:,} x {dim}-d vectors are at most {exact_max_scalars:,} "
                             f"floats, where a full scan costs about as much as encoding a query",
                             exact_mem, exact_file)
    hnsw = f"HNSW{HNSW_M}"
    hnsw_mem, hnsw_file = estimate_memory(hnsw, n, dim)
    if n <= HNSW_MAX_ITEMS and hnsw_mem <= memory_budget:
        return FactoryChoice(hnsw, f"HNSW: {n:,} vectors are above the exact-search size and the graph "
                             f"({format_bytes(hnsw_mem)}) fits the memory budget of {format_bytes(memory_budget)}",
                             hnsw_mem, hnsw_file)
    ivfpq = f"IVF{ivf_lists_for(n)},PQ{pq_subquantizers_for(dim)}x4fs,RFlat"
    pq_mem, pq_file = estimate_memory(ivfpq, n, dim)
    if pq_mem > memory_budget:
        raise ValueError(f"{n:,} vectors of {dim}-d need about {format_bytes(pq_mem)} of memory even as IVF-PQ "
                         f"codes, above the budget of {format_bytes(memory_budget)}; raise --memory-budget or split "
                         f"the catalogue into shards (README: a 100M-image catalogue)")
    why = (f"more than {HNSW_MAX_ITEMS:,} vectors" if n > HNSW_MAX_ITEMS else
           f"an HNSW graph ({format_bytes(hnsw_mem)}) would exceed the memory budget of {format_bytes(memory_budget)}")
    return FactoryChoice(ivfpq, f"IVF-PQ with exact re-ranking: {why}; {format_bytes(pq_mem)} stays in memory, "
                         f"the full vectors for re-ranking are read from the memory-mapped file", pq_mem, pq_file)


# --------------------------------------------------------------------------------------------------- building
def ivf_lists(index) -> int:
    """Inverted lists of an IVF index, also inside IDMap or refinement wrappers (0 for other types)."""
    import faiss

    try:
        return faiss.extract_index_ivf(index).nlist
    except RuntimeError:
        return 0


def make_faiss_index(vectors: np.ndarray, factory: str, seed: int = 0):
    """A FAISS index of ``vectors`` (ids 0..N-1) from a factory string, trained when the type needs it."""
    index = trained_index(vectors, factory, seed)
    add_in_order(index, vectors)
    return index


def add_in_order(index, vectors: np.ndarray) -> None:
    """Add ``vectors`` with ids 0..N-1 (their positions)."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if isinstance(faiss.downcast_index(index), (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index.add_with_ids(vectors, np.arange(len(vectors), dtype=np.int64))
    else:
        # Sequential ids are the positions already; without an IDMap wrapper the search parameters (and a
        # category's selector) reach the index itself, whatever its type.
        index.add(vectors)


def trained_index(vectors: np.ndarray, factory: str, seed: int = 0):
    """An empty FAISS index from a factory string, trained on ``vectors`` when its type needs training.

    IVF types are trained on a random sample of ``TRAIN_POINTS_PER_LIST`` vectors per list (all of them for small
    catalogues): k-means over every vector of a million-item catalogue would cost many minutes and gain little.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    if not index.is_trained:
        n_lists = ivf_lists(index)
        if n_lists and len(vectors) < 39 * n_lists:
            raise ValueError(f"factory {factory!r} has {n_lists} inverted lists and needs at least {39 * n_lists} "
                             f"vectors to train; the catalogue has {len(vectors)}. Use fewer lists or 'IDMap,Flat'.")
        sample_size = max(TRAIN_POINTS_PER_LIST * n_lists, 65_536)
        if len(vectors) > sample_size:
            sample = np.sort(np.random.default_rng(seed).choice(len(vectors), sample_size, replace=False))
            index.train(vectors[sample])
        else:
            index.train(vectors)
    return index


# ----------------------------------------------------------------------------------------- search parameters
def _unwrap(index):
    """The index under an IDMap wrapper, downcast to its concrete type."""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, (faiss.IndexIDMap, faiss.IndexIDMap2)):
        index = faiss.downcast_index(index.index)
    return index


def tunable_parameter(index) -> str | None:
    """The search parameter worth tuning: ``efSearch`` (HNSW), ``nprobe`` (IVF) or None (exact search)."""
    import faiss

    inner = _unwrap(index)
    if isinstance(inner, faiss.IndexRefine):
        inner = faiss.downcast_index(inner.base_index)
    if isinstance(inner, faiss.IndexHNSW):
        return "efSearch"
    return "nprobe" if ivf_lists(inner) else None


def search_parameters(index, values: dict, selector=None):
    """FAISS search parameters for ``index`` from ``values`` (efSearch / nprobe / k_factor) and an id selector.

    Returns ``(params, keep)``: ``keep`` holds the Python objects ``params`` points to, which must stay alive for
    as long as ``params`` is used (FAISS stores raw pointers). ``params`` is None when there is nothing to set.
    """
    import faiss

    inner = _unwrap(index)
    keep: list = [selector]
    refine = isinstance(inner, faiss.IndexRefine)
    base = faiss.downcast_index(inner.base_index) if refine else inner
    if isinstance(base, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW(efSearch=int(values.get("efSearch", base.hnsw.efSearch)))
    elif ivf_lists(base):
        # 16 for indexes built before the tuned value was recorded: the engine's old fixed setting.
        params = faiss.SearchParametersIVF(nprobe=int(values.get("nprobe", 16)))
    else:
        params = faiss.SearchParameters() if (selector is not None or refine) else None
    if params is not None and selector is not None:
        params.sel = selector
    if refine:
        keep.append(params)
        # The selector must sit on the base index's parameters: IndexRefine ignores one at its own level.
        outer = faiss.IndexRefineSearchParameters(k_factor=float(values.get("k_factor", inner.k_factor)),
                                                  base_index_params=params)
        return outer, keep
    return params, keep
