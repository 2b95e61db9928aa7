"""Build-time tuning of an approximate index: the search parameter (efSearch, nprobe, k_factor) that reaches a
target recall@10 against exact search, measured on held-out or given queries, and the options of a tuned build.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from cti_ir.index.factory import (
    AUTO,
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_TARGET_RECALL,
    EXACT_FACTORY,
    FactoryChoice,
    Progress,
    _unwrap,
    add_in_order,
    choose_factory,
    estimate_memory,
    ivf_lists,
    make_faiss_index,
    search_parameters,
    trained_index,
    tunable_parameter,
)

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
EF_SEARCH_MAX = 4096


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
