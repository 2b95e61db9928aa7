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
import sys
from dataclasses import dataclass, field
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
#: Candidates re-ranked exactly per result wanted (IVF-PQ with RFlat), tried in turn by the tuning.
REFINE_K_FACTORS = (2, 4, 8, 16, 32, 64, 128, 256)
REFINE_K_FACTOR_MAX = 256
#: ``auto`` keeps exact search when the tuned ANN index would still look at this share of what a full scan reads
#: (see ``relative_search_cost``): on vectors without neighbourhood structure (random ones) HNSW needed efSearch
#: 4096 at 1M and searched slower than the flat scan.
ANN_MAX_RELATIVE_COST = 0.5
#: A distance computed at a random place in memory (graph walk, re-ranking) against one in a sequential scan.
RANDOM_ACCESS_PENALTY = 4
TUNE_QUERIES = 1000
TUNE_K = 10
#: Vectors per inverted list the IVF k-means is trained on (FAISS warns below 39).
TRAIN_POINTS_PER_LIST = 64
EF_SEARCH_MAX = 4096

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


def _steps(name: str, index) -> list[int]:
    """Values tried in turn: 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (each about 1.4x the cost of the one before)."""
    ladder = sorted({2**i for i in range(16)} | {3 * 2**i for i in range(15)})
    if name == "efSearch":
        return [v for v in ladder if 16 <= v <= EF_SEARCH_MAX]
    lists = ivf_lists(index)
    return [v for v in ladder if v < lists] + [lists]


def neighbour_recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each exact top-k that the approximate top-k contains."""
    hits = [len(set(f[f >= 0].tolist()) & set(t[t >= 0].tolist())) / max((t >= 0).sum(), 1)
            for f, t in zip(found, truth)]
    return float(np.mean(hits)) if hits else 1.0


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int) -> np.ndarray:
    """Ids of the exact top-``k`` (inner product) of each query among ``vectors``."""
    import faiss

    _, ids = faiss.knn(np.ascontiguousarray(queries, dtype=np.float32),
                       np.ascontiguousarray(vectors, dtype=np.float32), k, metric=faiss.METRIC_INNER_PRODUCT)
    return ids


def held_out_queries(n: int, n_queries: int = TUNE_QUERIES, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(the rest, the held-out query positions): a random tenth of the catalogue at most, ``n_queries`` at most."""
    count = max(1, min(n_queries, n // 10))
    held = np.sort(np.random.default_rng(seed).choice(n, count, replace=False))
    rest = np.setdiff1d(np.arange(n), held)
    return rest, held


def tune_search_parameter(index, queries: np.ndarray, truth: np.ndarray,
                          target_recall: float = DEFAULT_TARGET_RECALL,
                          progress: Progress | None = None) -> tuple[dict, dict | None]:
    """The smallest efSearch / nprobe at which ``index`` finds ``target_recall`` of each query's exact top-k.

    ``truth`` holds the ids of the exact top-k in ``index``'s own id space; the queries must not be in the index
    (a vector searching an HNSW graph it belongs to lands among the neighbours it was linked to, and recall looks
    far better than a real query will see). Returns ``(search_params, tuning)``: ``({}, None)`` for exact
    indexes; ``tuning`` records the target, the recall reached and the recall at every value tried. When no value
    reaches the target, the largest one tried is kept and ``tuning["reached"]`` is False.

    An IVF-PQ index with exact re-ranking has two parameters: ``nprobe`` (how many lists are scanned) and
    ``k_factor`` (how many PQ candidates per result are re-ranked with the full vectors). ``nprobe`` is tuned first
    with a generous ``k_factor`` (``REFINE_K_FACTOR_MAX``), so that only the lists' coverage limits recall; then
    ``k_factor`` is lowered to the smallest value that keeps the target at that ``nprobe``. On our embeddings 4-bit
    PQ codes rank the neighbours coarsely (cosines of 0.97 and 0.94 for the 1st and 10th neighbour), and a fixed
    ``k_factor`` of 10 left recall@10 at 0.67 whatever ``nprobe`` was.
    """
    name = tunable_parameter(index)
    if name is None:
        return {}, None
    k = truth.shape[1]
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    curve: list[dict] = []

    def sweep(param: str, steps, fixed: dict) -> dict:
        chosen = {}
        for value in steps:
            values = {**fixed, param: value}
            params, _keep = search_parameters(index, values)
            _, ids = index.search(queries, k, params=params)
            recall = neighbour_recall(ids, truth)
            curve.append({**values, "recall": round(recall, 4)})
            if progress:
                progress(f"tuning {', '.join(f'{n}={v}' for n, v in values.items())}: recall@{k} {recall:.3f}")
            chosen = values
            if recall >= target_recall:
                break
        return chosen

    if _is_refine(index):
        chosen = sweep(name, _steps(name, index), {"k_factor": REFINE_K_FACTOR_MAX})
        if curve[-1]["recall"] >= target_recall:
            chosen = sweep("k_factor", [f for f in REFINE_K_FACTORS if f <= REFINE_K_FACTOR_MAX],
                           {name: chosen[name]})
    else:
        chosen = sweep(name, _steps(name, index), {})
    reached = curve[-1]["recall"] >= target_recall
    tuning = {"target_recall": target_recall, "k": k, "queries": len(queries), "parameter": name,
              "recall": curve[-1]["recall"], "reached": reached, "curve": curve}
    return {n: (float(v) if n == "k_factor" else int(v)) for n, v in chosen.items()}, tuning


def add_and_tune(index, vectors: np.ndarray, target_recall: float = DEFAULT_TARGET_RECALL, k: int = TUNE_K,
                 n_queries: int = TUNE_QUERIES, seed: int = 0, progress: Progress | None = None,
                 probes: np.ndarray | None = None):
    """Add ``vectors`` (ids 0..N-1) to the trained, empty ``index`` and tune its search parameter on the way.

    With ``probes`` (query vectors: the composed queries the index will serve, e.g. a dataset's training queries
    or a log of past ones) the index receives every vector and is tuned on them. Without, held-out catalogue
    vectors are the queries: the index first receives every other vector, is tuned against the queries' exact
    top-k among those, and then receives the held-out vectors too. HNSW has no ids of its own (a node's id is its
    insertion rank), so it is wrapped in an IDMap; IVF indexes take ids directly; refined indexes are tuned on a
    copy. Returns ``(index, search_params, tuning)``.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    name = tunable_parameter(index)
    n = len(vectors)
    if name is None or n < 20:
        add_in_order(index, vectors)
        return index, {}, None
    if probes is not None and len(probes):
        add_in_order(index, vectors)
        probes = np.ascontiguousarray(probes[:n_queries], dtype=np.float32)
        truth = exact_top_k(probes, vectors, max(1, min(k, n)))
        params, tuning = tune_search_parameter(index, probes, truth, target_recall, progress)
        tuning.update(method="query vectors given for tuning (not catalogue vectors)", seed=seed)
        return index, params, tuning
    rest, held = held_out_queries(n, n_queries, seed)
    k = max(1, min(k, len(rest)))
    truth_local = exact_top_k(vectors[held], vectors[rest], k)  # positions in `rest`
    tuning_method = "held-out catalogue vectors as queries, tuned before they were added"
    if _is_refine(index):
        # IndexRefine numbers its vectors by insertion and takes no ids: tune a copy holding the rest only.
        copy = faiss.clone_index(index)
        copy.add(vectors[rest])
        params, tuning = tune_search_parameter(copy, vectors[held], truth_local, target_recall, progress)
        del copy
        add_in_order(index, vectors)
        tuning_method = "held-out catalogue vectors as queries, on a copy of the index without them"
    else:
        if isinstance(_unwrap(index), faiss.IndexHNSW) and not isinstance(index, (faiss.IndexIDMap,
                                                                                 faiss.IndexIDMap2)):
            index = faiss.IndexIDMap(index)
        index.add_with_ids(vectors[rest], rest.astype(np.int64))
        params, tuning = tune_search_parameter(index, vectors[held], rest[truth_local], target_recall, progress)
        index.add_with_ids(vectors[held], held.astype(np.int64))
    if tuning is not None:
        tuning.update(method=tuning_method, seed=seed)
    return index, params, tuning


def relative_search_cost(index, params: dict, n: int, dim: int, k: int = TUNE_K) -> float:
    """What a search with ``params`` reads, as a share of a full scan of ``n`` float vectors (a rough model).

    HNSW computes about efSearch x 2M distances at random places; IVF scans nprobe / nlist of the codes (PQ codes
    are a fraction of a float vector) and re-ranks k_factor x k full vectors at random places.
    """
    import faiss

    inner = _unwrap(index)
    refine = isinstance(inner, faiss.IndexRefine)
    base = faiss.downcast_index(inner.base_index) if refine else inner
    cost = 0.0
    if isinstance(base, faiss.IndexHNSW):
        links = base.hnsw.nb_neighbors(0)  # 2M at level 0
        cost = params.get("efSearch", base.hnsw.efSearch) * links * RANDOM_ACCESS_PENALTY / n
    elif ivf_lists(base):
        ivf = faiss.extract_index_ivf(base)
        cost = params.get("nprobe", 16) / ivf.nlist * ivf.code_size / (4 * dim)
    if refine:
        cost += params.get("k_factor", inner.k_factor) * k * RANDOM_ACCESS_PENALTY / n
    return cost


def _is_refine(index) -> bool:
    import faiss

    return isinstance(_unwrap(index), faiss.IndexRefine)


@dataclass(frozen=True)
class IndexOptions:
    """What decides the FAISS index of a build: the factory (``auto`` or a FAISS string), the memory budget,
    the recall target of the tuning, and search parameters set by hand (which replace the tuning)."""

    factory: str = AUTO
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    target_recall: float = DEFAULT_TARGET_RECALL
    search_params: dict | None = None
    verbose: bool = False        # say what was chosen and how the tuning went (stderr)
    #: Query vectors to tune on, (Q, D) L2-normalised: what the index will be asked (or a function returning them,
    #: called only if there is something to tune). Without them the tuning uses held-out catalogue vectors, which
    #: are easier queries than composed ones (see add_and_tune).
    probes: "np.ndarray | Callable[[], np.ndarray] | None" = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, value: "IndexOptions | str") -> "IndexOptions":
        """``value`` itself, or the default options with the factory string ``value``."""
        return value if isinstance(value, IndexOptions) else cls(factory=value)

    @classmethod
    def recorded(cls, info: dict) -> "IndexOptions":
        """The options an index was built with, from its ``index_info.json`` (``add`` decides again with them)."""
        tuning = info.get("tuning") or {}
        return cls(factory=info.get("factory_requested", info["factory"]),
                   memory_budget=int(info.get("memory_budget", DEFAULT_MEMORY_BUDGET)),
                   target_recall=float(info.get("target_recall", DEFAULT_TARGET_RECALL)),
                   search_params=info.get("search_params") if tuning.get("given") else None)


def parse_search_params(pairs: list[str] | None) -> dict | None:
    """``["efSearch=128", "k_factor=4"]`` -> ``{"efSearch": 128, "k_factor": 4.0}``; None for no pairs."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in ("efSearch", "nprobe", "k_factor"):
            raise ValueError(f"--search-param expects efSearch=N, nprobe=N or k_factor=X, got {pair!r}")
        try:
            out[name] = float(value) if name == "k_factor" else int(value)
        except ValueError:
            raise ValueError(f"--search-param {name} needs a number, got {value!r}") from None
        if out[name] <= 0:
            raise ValueError(f"--search-param {name} must be positive, got {value!r}")
    return out


def build_tuned_index(vectors: np.ndarray, options: IndexOptions | str = AUTO) -> tuple[object, dict]:
    """The FAISS index for ``vectors`` and what to record about it in ``index_info.json`` (see the module)."""
    options = IndexOptions.of(options)
    factory, memory_budget, target_recall = options.factory, options.memory_budget, options.target_recall
    search_params = options.search_params

    def progress(message: str) -> None:
        if options.verbose:
            print(f"[index] {message}", file=sys.stderr, flush=True)

    if not 0 < target_recall <= 1:
        raise ValueError(f"the target recall must be in (0, 1], got {target_recall}")
    n, dim = vectors.shape
    if factory == AUTO:
        choice = choose_factory(n, dim, memory_budget)
    else:
        mem, size = estimate_memory(factory, n, dim)
        choice = FactoryChoice(factory, "given", mem, size)
    progress(f"index type {choice.factory} ({choice.reason})")
    record = {"factory": choice.factory, "factory_requested": factory, "factory_reason": choice.reason,
              "memory_budget": memory_budget, "memory_estimate_bytes": choice.memory_bytes,
              "target_recall": target_recall}
    if search_params:
        index = make_faiss_index(vectors, choice.factory)
        record["search_params"], record["tuning"] = dict(search_params), {"given": True}
        return index, record
    index = trained_index(vectors, choice.factory)
    probes = options.probes
    if callable(probes):
        probes = probes() if tunable_parameter(index) else None
    index, record["search_params"], record["tuning"] = add_and_tune(index, vectors, target_recall,
                                                                    progress=progress, probes=probes)
    t = record["tuning"]
    if factory == AUTO and t is not None:
        cost = relative_search_cost(index, record["search_params"], n, dim, t["k"])
        t["relative_cost"] = round(cost, 4)
        exact_memory = estimate_memory(EXACT_FACTORY, n, dim)[0]
        if (not t["reached"] or cost >= ANN_MAX_RELATIVE_COST) and exact_memory <= memory_budget:
            why = ("did not reach the target recall" if not t["reached"] else
                   f"needs {', '.join(f'{k}={v:g}' for k, v in record['search_params'].items())}, about {cost:.0%} "
                   f"of a full scan's work")
            progress(f"{choice.factory} {why} on these vectors: exact search instead")
            del index
            index = make_faiss_index(vectors, EXACT_FACTORY)
            record.update(factory=EXACT_FACTORY, memory_estimate_bytes=exact_memory, search_params={},
                          factory_reason=f"exact: {choice.factory} was built and tuned, but {why} (the vectors have "
                                         f"little neighbourhood structure for it to use)")
            t["fallback_from"] = choice.factory
            return index, record
    if t is not None:
        on = "query vectors" if probes is not None else "held-out catalogue vectors"
        progress(f"{', '.join(f'{n}={v:g}' for n, v in record['search_params'].items())}: recall@{t['k']} "
                 f"{t['recall']:.3f} on {t['queries']} {on} (target {target_recall})"
                 + ("" if t["reached"] else "; the target was NOT reached with the largest value tried"))
    return index, record
