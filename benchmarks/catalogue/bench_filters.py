"""Filtered search on the demo catalogue with generated shop fields: exactness, recall and cost.

    python -m benchmarks.catalogue.bench_filters [--size default] [--queries 500] [--out runs/catalogue/filters]

The demo catalogue (``data_prep.demo``: generated catalogue, shipped demo model, its index) gets generated shop
fields (``data_prep.shop_fields``). Its vectors are indexed three ways (exact ``IDMap,Flat``; ``HNSW32`` and an IVF
index, both tuned at build time to recall@10 0.95 on the catalogue's training queries), and composed queries of
the validation triplets (reference photo + caption, never used for tuning) are searched under each filter:

- **exact**: the share of queries whose top 10 equals a brute-force search over the products that pass the filter
  (checked by a plain-Python reading of the filter, not the library's masks);
- **recall@10** of each index against that brute force, and whether ``k`` passing results came back whenever
  ``k`` exist;
- **cost**: milliseconds per query, one query at a time, filtered and unfiltered alternated query by query in the
  same run (the machine is shared: only the ratio is worth comparing), and the first filtered query, which builds
  the filter's mask (cached afterwards).

Writes ``OUT.json`` and ``OUT.md``; the catalogue and indexes are kept under ``--cache-dir`` for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import REPO_ROOT, set_threads, write_report

K = 10
FILTERS = {
    "in stock": {"in_stock": True},
    "price 20-60": {"price_min": 20, "price_max": 60},
    "brand Orla": {"brand": "Orla"},
    "size M": {"size": "M"},
    "in stock, <= 50, Acme or Zeta": {"in_stock": True, "price_max": 50, "brand": ["Acme", "Zeta"]},
    "in stock, size XS, brand Tessa": {"in_stock": True, "size": "XS", "brand": "Tessa"},
    "category dress + in stock": {"_category": "dress", "in_stock": True},
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.catalogue.bench_filters", description=__doc__.split("\n")[0])
    p.add_argument("--cache-dir", default=str(REPO_ROOT / "runs" / "catalogue" / "demo-cache"),
                   help="where the demo catalogue, model index and the benchmark's indexes are kept")
    p.add_argument("--size", default="default", choices=["small", "default"], help="demo catalogue size")
    p.add_argument("--queries", type=int, default=500, help="validation queries measured (default 500)")
    p.add_argument("--timed", type=int, default=200, help="queries timed one at a time per filter (default 200)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and FAISS (default 1)")
    p.add_argument("--out", default=str(REPO_ROOT / "runs" / "catalogue" / "filters"),
                   help="report base name (OUT.json, OUT.md)")
    return p


def passes(row: dict, spec: dict) -> bool:
    """The filter's meaning, read plainly (the brute force's own reading, independent of cti_ir.index.filters)."""
    for key, value in spec.items():
        if key == "_category":
            continue
        if key.endswith(("_min", "_max")):
            have = row.get(key[:-4])
            if have is None or (have < value if key.endswith("_min") else have > value):
                return False
        elif key == "in_stock":
            if row.get("in_stock") is not value:
                return False
        else:
            have = row.get("sizes" if key == "size" else key)
            have = {str(h).casefold() for h in (have if isinstance(have, list) else [have] if have else [])}
            if not have & {str(v).casefold() for v in (value if isinstance(value, list) else [value])}:
                return False
    return True


def composed_queries(dataset_root: Path, split: str, limit: int, seed: int) -> list[dict]:
    """Reference photo + caption of ``split``'s triplets (Fashion-IQ layout), shuffled, at most ``limit``."""
    from cti_ir.data import open_benchmark

    bench = open_benchmark("fashioniq", dataset_root)
    triplets = [t for t in bench.triplets(split) if any(c.strip() for c in t.captions)]
    random.Random(seed).shuffle(triplets)
    out = []
    for t in triplets[:limit]:
        path = bench.image_path(t.reference)
        if path is not None and os.path.isfile(path):
            out.append({"image": str(path), "text": " and ".join(c.strip(" .") for c in t.captions if c.strip())})
    return out


def prepare(args) -> dict:
    """The demo catalogue and its index, generated shop fields, and the three indexes of the benchmark."""
    from cti_ir.index.build import encode_probe_queries
    from cti_ir.index.catalogue_index import CatalogueIndex, index_from_vectors
    from cti_ir.index.products import read_products
    from cti_ir.index.tuning import IndexOptions
    from cti_ir.model.checkpoint import load_checkpoint
    from data_prep.demo import prepare_demo
    from data_prep.shop_fields import fields_for_index

    cache = Path(args.cache_dir)
    checkpoint, demo_index, catalogue = prepare_demo(cache, size=args.size, progress=lambda m: print(m, flush=True))
    model = load_checkpoint(checkpoint)
    root = Path(catalogue["fashioniq"]) if "fashioniq" in catalogue else cache / f"catalogue-{args.size}" / "fashioniq"
    products_file = cache / f"products-{args.size}.jsonl"
    if not products_file.is_file():
        rows = fields_for_index(demo_index)
        products_file.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    products = read_products(products_file)
    demo = CatalogueIndex(demo_index)
    vectors = np.array(demo.stored_vectors())
    tune = encode_probe_queries(model, composed_queries(root, "train", 1000, seed=1))
    queries = encode_probe_queries(model, composed_queries(root, "val", args.queries, seed=2))
    n_lists = 1 << int(round(np.log2(2 * np.sqrt(len(vectors)))))
    variants = {"exact": "IDMap,Flat", "HNSW32": IndexOptions("HNSW32", probes=tune),
                f"IVF{n_lists},Flat": IndexOptions(f"IVF{n_lists},Flat", probes=tune)}
    folders = {}
    for name, options in variants.items():
        folder = cache / f"filters-{args.size}-{name.replace(',', '-')}"
        if not (folder / "index_info.json").exists():
            index_from_vectors(folder, vectors, demo.items, demo.info["model_fingerprint"], options, products)
        folders[name] = folder
    return {"folders": folders, "vectors": vectors, "items": demo.items, "products": products, "queries": queries,
            "catalogue": {"products": len(vectors), "dim": int(vectors.shape[1]), "queries": len(queries),
                          "fields": products.describe()}}


def brute_force(setup: dict, spec: dict) -> tuple[np.ndarray, np.ndarray, int]:
    """(top-k ids, their scores, products passing) of an exhaustive search over the passing products."""
    category = spec.get("_category")
    ok = np.array([passes(setup["products"].get(it["image_id"]), spec) and
                   (category is None or category in (it.get("categories") or [])) for it in setup["items"]])
    positions = np.flatnonzero(ok)
    scores = setup["queries"] @ setup["vectors"][positions].T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return positions[order], np.take_along_axis(scores, order, axis=1), len(positions)


def measure(index, setup: dict, spec: dict, timed: int) -> dict:
    """Exactness, recall, count and cost of one filter on one index."""
    truth, truth_scores, passing = brute_force(setup, spec)
    category = spec.get("_category")
    filters = {k: v for k, v in spec.items() if k != "_category"}
    started = time.perf_counter()
    index.search(setup["queries"][:1], K, category=category, filters=filters)  # builds and caches the mask
    first_ms = (time.perf_counter() - started) * 1000
    scores, ids = index.search(setup["queries"], K, category=category, filters=filters)
    same = [np.array_equal(a, b) or np.allclose(s, t, atol=1e-5)  # a tie may swap two equal scores
            for a, b, s, t in zip(ids, truth, scores, truth_scores)]
    recall = [len(set(a.tolist()) & set(b.tolist())) / len(b) for a, b in zip(ids, truth)]
    filtered, unfiltered = [], []
    for q in setup["queries"][:timed]:  # alternated, so that both see the same machine load
        t0 = time.perf_counter()
        index.search(q[None], K, category=category, filters=filters)
        t1 = time.perf_counter()
        index.search(q[None], K)
        t2 = time.perf_counter()
        filtered.append(t1 - t0)
        unfiltered.append(t2 - t1)
    f_ms, u_ms = 1000 * float(np.median(filtered)), 1000 * float(np.median(unfiltered))
    return {"passing": passing, "share": passing / len(setup["items"]), "exact_share": float(np.mean(same)),
            "recall_at_10": float(np.mean(recall)), "k_returned": bool(((ids >= 0).sum(1) == min(K, passing)).all()),
            "filtered_ms": f_ms, "unfiltered_ms": u_ms, "ratio": f_ms / u_ms, "first_query_ms": first_ms}


def run(args) -> dict:
    from cti_ir.index.catalogue_index import CatalogueIndex

    setup = prepare(args)
    results = {"catalogue": setup["catalogue"], "k": K, "threads": args.threads, "indexes": {}}
    for name, folder in setup["folders"].items():
        index = CatalogueIndex(folder)
        row = {"factory": index.info["factory"], "search_params": index.search_params, "filters": {}}
        _, unfiltered_ids = index.search(setup["queries"], K)
        truth, _, _ = brute_force(setup, {})
        row["unfiltered_recall_at_10"] = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / K
                                                        for a, b in zip(unfiltered_ids, truth)]))
        for label, spec in FILTERS.items():
            row["filters"][label] = measure(index, setup, spec, args.timed)
            print(f"{name:>14}  {label:<32} {json.dumps(row['filters'][label])}", flush=True)
        results["indexes"][name] = row
    return results


def tables(result: dict) -> str:
    c = result["catalogue"]
    lines = [f"Filtered search: {c['products']:,} products ({c['dim']}-d), {c['queries']} composed validation queries, "
             f"k = {result['k']}, {result['threads']} thread(s); times are medians of single queries, filtered and "
             f"unfiltered alternated in one run.", ""]
    for name, row in result["indexes"].items():
        params = ", ".join(f"{k}={v:g}" for k, v in row["search_params"].items()) or "exact"
        lines += [f"**{name}** ({params}; unfiltered recall@10 {row['unfiltered_recall_at_10']:.3f})", "",
                  "| filter | passing | top 10 = brute force | recall@10 | k returned | filtered ms | unfiltered ms | "
                  "ratio | first query ms |", "|---|---:|---:|---:|---|---:|---:|---:|---:|"]
        for label, m in row["filters"].items():
            lines.append(f"| {label} | {m['passing']:,} ({m['share']:.0%}) | {m['exact_share']:.3f} | "
                         f"{m['recall_at_10']:.3f} | {'yes' if m['k_returned'] else 'NO'} | {m['filtered_ms']:.3f} | "
                         f"{m['unfiltered_ms']:.3f} | {m['ratio']:.2f} | {m['first_query_ms']:.1f} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    result = run(args)
    write_report(Path(args.out), result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
