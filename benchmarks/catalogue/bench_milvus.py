"""Milvus (Milvus Lite, one machine) against FAISS at 100k products: the same results, and the cost per query.

    python -m benchmarks.catalogue.bench_milvus [--products 100000] [--queries 200] [--out runs/catalogue/milvus]

The demo catalogue's real vectors (``bench_filters`` prepares them) are extended to ``--products`` by points
between neighbouring products (``v = normalize(a + t (b - a) + 0.3 |b - a| e / sqrt(d))``, ``b`` one of ``a``'s 10
nearest neighbours, the method of ``benchmarks/speed/scale_vectors.py``), each with generated shop fields. The same
vectors and fields go into four index folders: FAISS ``IDMap,Flat`` and Milvus ``FLAT`` (exact), FAISS ``HNSW32``
(efSearch tuned to recall@10 0.95 on training queries) and Milvus ``HNSW`` (M 32, ef = the same value). Composed
validation queries are searched one at a time, FAISS and Milvus alternated query by query, with and without a
filter. Reported: whether Milvus FLAT returns FAISS exact's top 10, the recall@10 of both HNSW indexes against
exact search, and the median milliseconds per query with the Milvus / FAISS ratio.

The same queries are also timed in batches (``--batch``, one search call each, as the server's batcher sends
concurrent searches), because Milvus Lite's cost is mostly per call: the installed Milvus Lite (3.x) is an engine
written in Python, behind a local gRPC server, whose every search walks each stored row in Python (the newest copy
of each primary key, deletions, the filter) before the vector index is asked, so a single query costs about the same
whatever the index type.

What this does not measure: a Milvus server or cluster (its C++ engine, network hops, sharding, replicas); Milvus
Lite is Milvus's API on one machine, not its engine, so these ratios say what Milvus Lite costs, not Milvus.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.catalogue.bench_filters import composed_queries
from benchmarks.common import REPO_ROOT, set_threads, write_report

K = 10
FILTER = {"in_stock": True, "price_max": 50}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.catalogue.bench_milvus", description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", default=str(REPO_ROOT / "runs" / "catalogue" / "demo-cache"),
                   help="the demo cache of bench_filters (its catalogue, model index and products)")
    p.add_argument("--products", type=int, default=100_000, help="catalogue size to extend to (default 100,000)")
    p.add_argument("--queries", type=int, default=200, help="validation queries timed (default 200)")
    p.add_argument("--batch", type=int, default=16, help="queries per search call in the batched timing (default 16)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and FAISS (default 1)")
    p.add_argument("--out", default=str(REPO_ROOT / "runs" / "catalogue" / "milvus"), help="report base name")
    return p


def extend(vectors: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` vectors: the real ones, then points between neighbouring real ones; and each new one's source row."""
    import faiss

    rng = np.random.default_rng(seed)
    extra = n - len(vectors)
    if extra <= 0:
        return vectors[:n], np.arange(n)
    _, neighbours = faiss.knn(vectors, vectors, 11, metric=faiss.METRIC_INNER_PRODUCT)
    a = rng.integers(0, len(vectors), extra)
    b = neighbours[a, rng.integers(1, 11, extra)]
    gap = vectors[b] - vectors[a]
    noise = rng.normal(size=gap.shape).astype(np.float32) / np.sqrt(vectors.shape[1])
    new = vectors[a] + rng.random((extra, 1)).astype(np.float32) * gap + \
        0.3 * np.linalg.norm(gap, axis=1, keepdims=True) * noise
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    return np.concatenate([vectors, new.astype(np.float32)]), np.concatenate([np.arange(len(vectors)), a])


def prepare(args) -> dict:
    """The four index folders (made once) and the query vectors."""
    from cti_ir.index.build import encode_probe_queries
    from cti_ir.index.catalogue_index import CatalogueIndex, index_from_vectors
    from cti_ir.index.milvus_backend import backend_spec
    from cti_ir.index.products import ProductTable
    from cti_ir.index.tuning import IndexOptions
    from cti_ir.model.checkpoint import load_checkpoint
    from data_prep.demo import DEMO_MODEL_DIR
    from data_prep.shop_fields import shop_fields

    cache = Path(args.cache_dir)
    demo = CatalogueIndex(cache / "index-default")
    root = cache / "catalogue-default" / "fashioniq"
    model = load_checkpoint(DEMO_MODEL_DIR)
    vectors, source = extend(np.array(demo.stored_vectors()), args.products)
    items = [dict(demo.items[s], image_id=demo.items[s]["image_id"] if i < len(demo) else f"syn-{i:07d}")
             for i, s in enumerate(source)]
    rows = {it["image_id"]: {k: v for k, v in shop_fields(it["image_id"], it.get("categories") or []).items()
                             if k != "id"} for it in items}
    columns = {"title": "text", "price": "number", "currency": "text", "in_stock": "bool", "brand": "text",
               "sizes": "list", "url": "text", "material": "text"}
    products = ProductTable(rows, columns)
    tune = encode_probe_queries(model, composed_queries(root, "train", 1000, seed=1))
    queries = encode_probe_queries(model, composed_queries(root, "val", args.queries, seed=2))
    base = cache / f"milvus-{args.products}"
    folders = {"faiss exact": base / "faiss-flat", "faiss hnsw": base / "faiss-hnsw",
               "milvus exact": base / "milvus-flat", "milvus hnsw": base / "milvus-hnsw"}
    timings = {}
    for name, folder in folders.items():
        if (folder / "index_info.json").exists():
            continue
        started = time.perf_counter()
        if name.startswith("faiss"):
            options = "IDMap,Flat" if name.endswith("exact") else IndexOptions("HNSW32", probes=tune)
            index_from_vectors(folder, vectors, items, demo.info["model_fingerprint"], options, products)
        else:
            kind = "FLAT" if name.endswith("exact") else "HNSW"
            backend = backend_spec(str(base / "milvus.db"), kind, prefix=f"bench_{kind.lower()}")
            index_from_vectors(folder, vectors, items, demo.info["model_fingerprint"], products=products,
                               backend=backend)
        timings[name] = time.perf_counter() - started
    return {"folders": folders, "queries": queries, "build_s": timings, "products": len(vectors)}


def _batched(idx: dict, q: np.ndarray, filters, batch: int) -> dict:
    """Milliseconds per query when ``batch`` queries go in one search call (as the server's batcher sends them),
    the indexes alternated batch by batch; median over the batches."""
    times: dict[str, list[float]] = {name: [] for name in idx}
    for start in range(0, len(q) - batch + 1, batch):
        for name, index in idx.items():
            started = time.perf_counter()
            index.search(q[start:start + batch], K, filters=filters)
            times[name].append((time.perf_counter() - started) / batch)
    return {f"{name} ms per query, batch {batch}": 1000 * float(np.median(t)) for name, t in times.items() if t}


def measure(setup: dict, batch: int = 16) -> dict:
    """Exactness, recall and single-query latency of the four indexes, unfiltered and filtered."""
    from cti_ir.index.searching import open_index

    idx = {name: open_index(folder) for name, folder in setup["folders"].items()}
    hnsw_ef = idx["faiss hnsw"].search_params.get("efSearch", 16)
    idx["milvus hnsw"].search_params["ef"] = hnsw_ef  # the same search depth as the tuned FAISS graph
    q = setup["queries"]
    out = {"efSearch": hnsw_ef, "batch": batch}
    for label, filters in (("unfiltered", None), ("in stock, price <= 50", FILTER)):
        print(f"[milvus] {label}: searching {len(q)} queries on each index", file=sys.stderr, flush=True)
        results = {name: index.search(q, K, filters=filters) for name, index in idx.items()}
        truth = results["faiss exact"][1]
        row = {"milvus_exact_equals_faiss_exact": float(np.mean([np.array_equal(a, b) for a, b in
                                                                 zip(results["milvus exact"][1], truth)]))}
        for name in ("faiss hnsw", "milvus hnsw"):
            row[f"{name} recall@10"] = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / K
                                                      for a, b in zip(results[name][1], truth)]))
        times: dict[str, list[float]] = {name: [] for name in idx}
        for query in q:  # alternated, so that all see the same machine load
            for name, index in idx.items():
                started = time.perf_counter()
                index.search(query[None], K, filters=filters)
                times[name].append(time.perf_counter() - started)
        for name in idx:
            row[f"{name} ms"] = 1000 * float(np.median(times[name]))
        row.update(_batched(idx, q, filters, batch))
        row["ratio exact (milvus / faiss)"] = row["milvus exact ms"] / row["faiss exact ms"]
        row["ratio hnsw (milvus / faiss)"] = row["milvus hnsw ms"] / row["faiss hnsw ms"]
        out[label] = row
    return out


def tables(result: dict) -> str:
    lines = [f"Milvus Lite vs FAISS: {result['products']:,} products (128-d), {result['queries']} composed queries "
             f"one at a time, k = {K}, {result['threads']} thread(s); HNSW efSearch = ef = {result['efSearch']}.", "",
             "| query | Milvus FLAT = FAISS exact | FAISS exact ms | Milvus FLAT ms | ratio | FAISS HNSW ms | "
             "Milvus HNSW ms | ratio | recall@10 FAISS HNSW | recall@10 Milvus HNSW |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label in ("unfiltered", "in stock, price <= 50"):
        r = result[label]
        lines.append(f"| {label} | {r['milvus_exact_equals_faiss_exact']:.3f} | {r['faiss exact ms']:.3f} | "
                     f"{r['milvus exact ms']:.3f} | {r['ratio exact (milvus / faiss)']:.1f} | "
                     f"{r['faiss hnsw ms']:.3f} | {r['milvus hnsw ms']:.3f} | {r['ratio hnsw (milvus / faiss)']:.1f} | "
                     f"{r['faiss hnsw recall@10']:.3f} | {r['milvus hnsw recall@10']:.3f} |")
    b = result["batch"]
    lines += ["", f"The same queries in batches of {b} (one search call each, as the server's batcher sends "
              f"concurrent searches), milliseconds per query:", "",
              "| query | FAISS exact | Milvus FLAT | ratio | FAISS HNSW | Milvus HNSW | ratio |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for label in ("unfiltered", "in stock, price <= 50"):
        r = result[label]
        ms = {name: r[f"{name} ms per query, batch {b}"] for name in ("faiss exact", "milvus exact", "faiss hnsw",
                                                                       "milvus hnsw")}
        lines.append(f"| {label} | {ms['faiss exact']:.3f} | {ms['milvus exact']:.3f} | "
                     f"{ms['milvus exact'] / ms['faiss exact']:.1f} | {ms['faiss hnsw']:.3f} | "
                     f"{ms['milvus hnsw']:.3f} | {ms['milvus hnsw'] / ms['faiss hnsw']:.1f} |")
    builds = ", ".join(f"{name} {s:.0f} s" for name, s in result["build_s"].items())
    return "\n".join(lines + ["", f"Index builds (this run): {builds or 'cached'}."])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    setup = prepare(args)
    result = {"products": setup["products"], "queries": len(setup["queries"]), "threads": args.threads,
              "build_s": setup["build_s"], **measure(setup, args.batch)}
    write_report(Path(args.out), result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
