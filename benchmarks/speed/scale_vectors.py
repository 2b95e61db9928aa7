"""Gallery vectors for the speed benchmark: real embeddings of a generated catalogue, extended to any size.

    python -m benchmarks.speed.scale_vectors --index runs/scale/index-large-real --check  # how close is the extension

**Real vectors.** An index folder built with ``python -m cti_ir.index build`` holds its embeddings chunk by chunk
(``embeddings/part-*.npy``); ``load_index_vectors`` reads them back with each item's category. For the benchmark
this is the shipped demo model over the ``large`` generated catalogue: 101,196 images (57,000 Fashion-IQ-layout
product photos, 20,196 shoes and 24,000 open-domain scenes).

**Extension to a million (our method).** Generating and embedding ten times more catalogue would take hours on two
cores, so ``extend_vectors`` keeps every real vector and adds synthetic ones, each made from a random real vector
``a`` and one of its ``k`` = 10 nearest real neighbours ``b``::

    v = normalize(a + t (b - a) + sigma * |b - a| * e / sqrt(d)),    t ~ U(0, 1),  e ~ N(0, I_d),  sigma = 0.3

a point somewhere between two neighbouring products, jittered in proportion to how far apart they are. The new
points fill the same neighbourhoods as the real ones (a synthetic vector takes the category of its ``a``) instead of
scattering uniformly (random vectors, the worst case, are measured separately), and the jitter keeps them from
lying exactly on segments. ``sigma`` was chosen with ``check_extension``: the real vectors are split in two halves,
synthetic vectors are made from half A only, and held-out queries from half B are compared against (i) the rest of
half B (real) and (ii) as many synthetic vectors: the cosine similarities to the 1st, 10th and 100th nearest
neighbour match to about 0.01 at sigma 0.3 (0 is slightly too tight, 1 clearly too loose). The same check
reports the recall curves of HNSW and IVF-PQ on both databases, which were not used to choose sigma: an ANN index
meets the extension as it meets real data.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

NEIGHBOURS = 10
SIGMA = 0.3


def load_index_vectors(folder: str | Path, with_ids: bool = False):
    """The embeddings of an index folder (row i = item i), each item's first category ('' if none) and, with
    ``with_ids``, each item's image id."""
    from cti_ir.index.catalogue_index import EMBEDDINGS_DIR

    vecs, categories, ids = [], [], []
    parts = sorted(Path(folder, EMBEDDINGS_DIR).glob("part-*.json"))
    if not parts:
        raise FileNotFoundError(f"no embedding chunks in {Path(folder, EMBEDDINGS_DIR)}; build the index first")
    for meta_file in parts:
        vecs.append(np.load(meta_file.with_suffix(".npy"), allow_pickle=False))
        items = json.loads(meta_file.read_text(encoding="utf-8"))["items"]
        categories += [(it.get("categories") or [""])[0] for it in items]
        ids += [it["image_id"] for it in items]
    vectors = np.ascontiguousarray(np.concatenate(vecs), dtype=np.float32)
    return (vectors, categories, ids) if with_ids else (vectors, categories)


def nearest_neighbours(vectors: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """Ids of each vector's ``k`` nearest other vectors (exact, inner product)."""
    import faiss

    _, ids = faiss.knn(vectors, vectors, k + 1, metric=faiss.METRIC_INNER_PRODUCT)
    # Usually the vector itself comes first; drop it wherever it is (ties between duplicates put it elsewhere).
    own = np.arange(len(vectors))[:, None]
    out = np.where(ids == own, -1, ids)
    return np.stack([row[row >= 0][:k] for row in out])


def synthesize(base: np.ndarray, neighbours: np.ndarray, count: int, seed: int = 0, sigma: float = SIGMA,
               chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray]:
    """``count`` synthetic vectors made from ``base`` (see the module docstring) and the base row each came from."""
    rng = np.random.default_rng(seed)
    dim = base.shape[1]
    out = np.empty((count, dim), dtype=np.float32)
    anchors = rng.integers(0, len(base), count)
    for lo in range(0, count, chunk):
        hi = min(count, lo + chunk)
        a = base[anchors[lo:hi]]
        b = base[neighbours[anchors[lo:hi], rng.integers(0, neighbours.shape[1], hi - lo)]]
        t = rng.uniform(0, 1, (hi - lo, 1)).astype(np.float32)
        gap = np.linalg.norm(b - a, axis=1, keepdims=True)
        v = a + t * (b - a) + sigma * gap * rng.standard_normal((hi - lo, dim), dtype=np.float32) / np.sqrt(dim)
        out[lo:hi] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out, anchors


def extend_vectors(real: np.ndarray, categories: Sequence[str], size: int, seed: int = 0,
                   log=lambda m: None) -> tuple[np.ndarray, list[str]]:
    """``size`` vectors: the real ones first (all of them, or the first ``size``), then synthetic ones."""
    if size <= len(real):
        return real[:size], list(categories[:size])
    t0 = time.perf_counter()
    neighbours = nearest_neighbours(real)
    log(f"[vectors] nearest neighbours of {len(real):,} real vectors in {time.perf_counter() - t0:.0f} s")
    synthetic, anchors = synthesize(real, neighbours, size - len(real), seed)
    return np.concatenate([real, synthetic]), list(categories) + [categories[a] for a in anchors]


def random_vectors(size: int, dim: int, seed: int = 0) -> np.ndarray:
    """Uniformly random directions: no neighbourhood structure at all, the worst case for an ANN index."""
    import faiss

    x = np.random.default_rng(seed).standard_normal((size, dim), dtype=np.float32)
    faiss.normalize_L2(x)
    return x


def check_extension(real: np.ndarray, seed: int = 0, n_queries: int = 500, sigmas: Sequence[float] = (SIGMA,),
                    log=print) -> dict:
    """Real half B against synthetic vectors made from half A, seen from held-out queries of half B."""
    import faiss

    from cti_ir.index.factory import make_faiss_index, search_parameters
    from cti_ir.index.tuning import exact_top_k, neighbour_recall

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real))
    half = len(real) // 2
    a, b = real[order[:half]], real[order[half:]]
    queries, b_db = b[:n_queries], b[n_queries:]
    neighbours = nearest_neighbours(a)

    def profile(db: np.ndarray) -> dict:
        sims, _ = faiss.knn(queries, db, 100, metric=faiss.METRIC_INNER_PRODUCT)
        out = {f"cos_nn{k}": np.percentile(sims[:, k - 1], [10, 50, 90]).round(3).tolist() for k in (1, 10, 100)}
        truth = exact_top_k(queries, db, 10)
        for factory, name, values in (("HNSW32", "efSearch", (16, 32, 64)),
                                      ("IVF256,PQ32x4fs,RFlat", "nprobe", (4, 8, 16))):
            index = make_faiss_index(db, factory)
            for v in values:
                params, _keep = search_parameters(index, {name: v, "k_factor": 10})
                _, found = index.search(queries, 10, params=params)
                out[f"{factory} {name}={v}"] = round(neighbour_recall(found, truth), 3)
        return out

    result = {"real": profile(b_db)}
    log(f"real half B ({len(b_db):,} vectors): {result['real']}")
    for sigma in sigmas:
        synthetic, _ = synthesize(a, neighbours, len(b_db), seed + 1, sigma)
        result[f"synthetic sigma={sigma}"] = profile(synthetic)
        log(f"synthetic from half A, sigma {sigma}: {result[f'synthetic sigma={sigma}']}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.scale_vectors", description=__doc__.split("\n\n")[0])
    p.add_argument("--index", required=True, help="index folder whose embeddings are the real vectors")
    p.add_argument("--check", action="store_true", help="compare synthetic with real vectors (half split)")
    p.add_argument("--sigmas", nargs="+", type=float, default=[0.0, SIGMA, 1.0], help="jitter scales to check")
    p.add_argument("--out", default=None, help="write the check's result to this JSON file")
    p.add_argument("--threads", type=int, default=None, help="FAISS threads")
    args = p.parse_args(argv)
    import faiss

    if args.threads:
        faiss.omp_set_num_threads(args.threads)
    try:
        real, _ = load_index_vectors(args.index)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check:
        result = check_extension(real, sigmas=args.sigmas)
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
