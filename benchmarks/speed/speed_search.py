"""Part ``search`` of ``python -m benchmarks.speed.bench_speed``: composed-query latency and ANN recall at
catalogue scale.

For each kind of gallery vectors (``--vectors``) and each size (``--sizes``):

- **real**: the embeddings of an index folder built with the model (``--real-index``: the demo model over the
  ``large`` generated catalogue, 101,196 images), extended beyond their number as ``benchmarks.speed.scale_vectors``
  documents; queries are real composed queries of that catalogue (a Fashion-IQ-layout reference photo and its
  relative caption, from ``--real-catalogue``), so recall is measured where the model's queries actually land;
- **random**: uniformly random directions, no neighbourhood structure: the worst case for any ANN index. Queries
  are composed from generated product pictures and fixed modification texts.

Galleries are written as real index folders (``index.faiss``, ``items.jsonl``, ``index_info.json``) by the library's
own ``cti_ir.index.factory.build_tuned_index``: exact search, and ``--factory auto`` under each ``--budgets`` memory
budget (its choice, with efSearch / nprobe tuned at build time for ``--target-recall`` and recorded), plus any
``--factories`` given. They are opened by ``cti_ir.serve.engine.SearchEngine`` memory-mapped, as the app does, and the
engines take turns query by query (the machine's load changes over minutes). Reported per index: end-to-end
latency of ``SearchEngine.search(image, text, k)``, the search alone, the search with a category filter, recall@k
of the composed queries against exact search, how often the annotated target product is in the top k (real), how
often a planted match is (random), build time, and the memory of a separate process serving the largest gallery.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmarks.common import REPO_ROOT
from benchmarks.speed.common import CATEGORIES, MODIFICATIONS, percentiles, product_image
from benchmarks.speed.scale_vectors import extend_vectors, load_index_vectors, random_vectors

EXACT = "IDMap,Flat"


# ---------------------------------------------------------------------------------------------------- queries
def real_queries(catalogue: Path, count: int, seed: int) -> list[dict]:
    """``count`` composed queries of the catalogue's Fashion-IQ-layout val split: reference photo, caption, target."""
    from cti_ir.data import open_benchmark

    bench = open_benchmark("fashioniq", catalogue / "fashioniq")
    queries = [(q, bench.image_path(q.reference), split.name) for split in bench.eval_splits(split="val")
               for q in split.queries]
    rng = np.random.default_rng(seed)
    chosen = [queries[i] for i in sorted(rng.choice(len(queries), min(count, len(queries)), replace=False))]
    return [{"image_path": str(path), "text": q.text, "target": f"fashioniq/images/{q.target}", "category": cat}
            for q, path, cat in chosen]


def generated_queries(count: int, image_size: int) -> list[dict]:
    """``count`` composed queries of generated product pictures (50 at most, reused) and the fixed texts."""
    images = [product_image(10_000 + i, image_size) for i in range(min(count, 50))]
    return [{"image": images[i % len(images)], "text": MODIFICATIONS[i % len(MODIFICATIONS)]} for i in range(count)]


def _image_of(query: dict):
    from cti_ir.model.images import load_image

    if "image" not in query:
        query["image"] = load_image(query["image_path"])
    return query["image"]


def encode_queries(model, queries: list[dict]) -> tuple[np.ndarray, list[float]]:
    """The composed query vectors and the seconds each took (preprocess + encode image and text + compose)."""
    import torch

    vectors, seconds = [], []
    with torch.no_grad():
        for q in queries[:3]:  # warm-up (oneDNN kernel selection)
            image = model.encode_images(model.preprocess(_image_of(q)).unsqueeze(0))
            model.compose(image, model.encode_texts([q["text"]]))
        for q in queries:
            image = _image_of(q)
            t0 = time.perf_counter()
            img = model.encode_images(model.preprocess(image).unsqueeze(0))
            vectors.append(model.compose(img, model.encode_texts([q["text"]])).query[0].float().numpy())
            seconds.append(time.perf_counter() - t0)
    return np.stack(vectors).astype(np.float32), seconds


# ---------------------------------------------------------------------------------------------------- galleries
def write_vector_index(folder: Path, vectors: np.ndarray, categories: list[str], ids: list[str], options,
                       fingerprint: str) -> dict:
    """An index folder over ``vectors`` in ``cti_ir.index``'s layout, the FAISS index made by the library's own
    ``build_tuned_index`` (auto choice, training on a sample, build-time tuning). Returns the build's record."""
    import faiss

    from cti_ir.index.catalogue_index import INDEX_FILE, INFO_FILE, ITEMS_FILE
    from cti_ir.index.tuning import build_tuned_index

    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    index, decided = build_tuned_index(vectors, options)
    build_s = time.perf_counter() - t0
    faiss.write_index(index, str(folder / INDEX_FILE))
    del index
    with open(folder / ITEMS_FILE, "w", encoding="utf-8") as f:
        for lo in range(0, len(vectors), 100_000):
            f.write("".join(json.dumps({"image_id": ids[i], "path": "", "categories": [categories[i]]}) + "\n"
                            for i in range(lo, min(len(vectors), lo + 100_000))))
    info = {"format": "cti-ir-index", "format_version": 1, "model_fingerprint": fingerprint,
            "dim": int(vectors.shape[1]), "normalized": True, "metric": "inner_product", **decided,
            "count": len(vectors), "skipped": 0, "skipped_examples": [], "source": {"benchmark": "vectors"},
            "complete": True}
    (folder / INFO_FILE).write_text(json.dumps(info), encoding="utf-8")
    return {"build_s": build_s, "file_bytes": (folder / INDEX_FILE).stat().st_size, **decided}


def _gallery(kind: str, size: int, args, dim: int, log) -> tuple[np.ndarray, list[str], list[str]]:
    """``size`` gallery vectors of ``kind`` with each one's category and image id."""
    if kind == "random":
        vectors = random_vectors(size, dim, args.seed + size)
        return vectors, [CATEGORIES[i % 3] for i in range(size)], [f"v{i}" for i in range(size)]
    real, categories, ids = load_index_vectors(args.real_index, with_ids=True)
    vectors, categories = extend_vectors(real, categories, size, args.seed, log)
    return vectors, categories, ids[:size] + [f"synthetic-{i}" for i in range(max(0, size - len(ids)))]


def _index_options(args, n: int, dim: int, probes: np.ndarray | None) -> list[tuple[str, Any]]:
    """(label, IndexOptions) of the indexes measured at this size: exact, auto per budget, extra factories."""
    from cti_ir.index.factory import choose_factory, format_bytes, parse_memory
    from cti_ir.index.tuning import IndexOptions

    out = [("exact", IndexOptions(EXACT))]
    seen = {EXACT}
    for budget in args.budgets:
        factory = choose_factory(n, dim, parse_memory(budget)).factory
        if factory not in seen:
            seen.add(factory)
            out.append((f"auto, {format_bytes(parse_memory(budget))}",
                        IndexOptions("auto", parse_memory(budget), args.target_recall, verbose=True, probes=probes)))
    for factory in args.factories:
        if factory not in seen:
            seen.add(factory)
            out.append(("given", IndexOptions(factory, target_recall=args.target_recall, verbose=True,
                                              probes=probes)))
    return out


def tuning_queries(kind: str, model, args) -> tuple[np.ndarray | None, str]:
    """The queries the ANN indexes are tuned on: never the ones measured. Real: the catalogue's training triplets
    (as ``python -m cti_ir.index build --dataset`` uses them); random: other generated pictures and texts."""
    from cti_ir.index.build import benchmark_probe_queries, encode_probe_queries

    if args.tune_on == "catalogue":
        return None, "held-out catalogue vectors"
    if kind == "real" and args.real_catalogue:
        queries = benchmark_probe_queries("fashioniq", Path(args.real_catalogue) / "fashioniq", 1000, args.seed)
        return encode_probe_queries(model, queries), f"{len(queries)} composed queries of the training triplets"
    images = [product_image(50_000 + i, args.query_image_size) for i in range(200)]
    vectors, _ = encode_queries(model, [{"image": images[i % 200], "text": MODIFICATIONS[(i * 7 + 3) % 12]}
                                        for i in range(1000)])
    return vectors, "1000 composed queries of other generated pictures"


# ---------------------------------------------------------------------------------------------------- timing
def time_end_to_end(engines, queries: list[dict], k: int) -> tuple[list[list[float]], list[list[float]]]:
    """Wall and thread-CPU seconds of each ``engine.search(image, text, k)``, per engine, the engines alternating
    query by query. The search runs in the calling thread (model and FAISS, one thread each with ``--threads 1``),
    so its CPU time is what the query costs a core, without the waiting a shared machine adds."""
    for engine in engines:  # warm-up: first touch of the mapped index, oneDNN kernel selection
        for q in queries[:3]:
            engine.search(image=_image_of(q), text=q["text"], k=k)
    times: list[list[float]] = [[] for _ in engines]
    cpu: list[list[float]] = [[] for _ in engines]
    for q in queries:
        image = _image_of(q)
        for engine, out, out_cpu in zip(engines, times, cpu):
            t0, c0 = time.perf_counter(), time.thread_time()
            result = engine.search(image=image, text=q["text"], k=k)
            out.append(time.perf_counter() - t0)
            out_cpu.append(time.thread_time() - c0)
            if len(result.hits) != k:
                raise RuntimeError(f"the engine returned {len(result.hits)} hits, not {k}")
    return times, cpu


def timed_search(index, queries: np.ndarray, k: int, category: str | None = None):
    """Seconds of each single-query ``index.search`` and the ids each found."""
    times, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        _, found = index.search(q[None], k, category)
        times.append(time.perf_counter() - t0)
        ids.append(found[0])
    return times, np.stack(ids)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the exact top-k that the approximate top-k contains."""
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def hit_rate(found: np.ndarray, wanted: np.ndarray) -> float:
    """Fraction of queries whose wanted id is among their results (queries without one are left out)."""
    rows = [(f, w) for f, w in zip(found.tolist(), wanted.tolist()) if w >= 0]
    return float(np.mean([w in f for f, w in rows])) if rows else math.nan


# ---------------------------------------------------------------------------------------------------- memory
_RSS_PROBE = r"""
import json, sys, time
import faiss, torch
ckpt, index, threads, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads); faiss.omp_set_num_threads(threads)
from PIL import Image
from cti_ir.serve.engine import SearchEngine
def status():
    out = {}
    for line in open("/proc/self/status"):
        key = line.split(":")[0]
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
            out[key + "_mb"] = int(line.split()[1]) / 1024
    return out
t0 = time.perf_counter(); engine = SearchEngine(ckpt, index); loaded = status(); load_s = time.perf_counter() - t0
image = Image.new("RGB", (256, 256), (180, 40, 60))
for i in range(n):
    engine.search(image=image, text=f"is darker and has {i % 7} buttons", k=10, category=None if i % 2 else None)
print(json.dumps({"after_load": loaded, "after_queries": status(), "queries": n, "load_s": load_s}))
"""


def serving_memory(checkpoint: Path, folder: Path, threads: int, queries: int = 200) -> dict:
    """Memory of a fresh process that opens ``SearchEngine(checkpoint, folder)`` and answers ``queries`` queries.

    RssAnon is the process's own memory; RssFile counts pages of memory-mapped files (the index) it has touched,
    which live in the page cache, are shared between processes and can be dropped by the kernel under pressure.
    """
    proc = subprocess.run([sys.executable, "-c", _RSS_PROBE, str(checkpoint), str(folder), str(threads),
                           str(queries)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=1800,
                          env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    if proc.returncode != 0:
        return {"error": proc.stderr[-1000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------- the part
def bench_search(args, checkpoint: Path, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """See the module docstring."""
    from cti_ir.model.inference import load_inference_model

    model = load_inference_model(checkpoint, args.search_backend, onnx_dir=args.search_onnx_dir)
    out: dict[str, Any] = {"queries": args.queries, "k": args.k, "target_recall": args.target_recall,
                           "budgets": args.budgets, "backend": model.describe_backend(), "kinds": {}}
    for kind in args.vectors:
        if kind == "real" and not args.real_index:
            log("[search] no --real-index: real vectors skipped")
            continue
        queries = (real_queries(Path(args.real_catalogue), args.queries, args.seed) if kind == "real" and
                   args.real_catalogue else generated_queries(args.queries, args.query_image_size))
        model.text_cache = None  # the encoding alone is timed on the towers; the engines keep their cache
        composed, encode_s = encode_queries(model, queries)
        probes, probe_source = tuning_queries(kind, model, args)
        result = {"encode_only": percentiles(encode_s), "query_source": "catalogue val triplets"
                  if "target" in queries[0] else "generated pictures + fixed texts", "tuned_on": probe_source,
                  "rows": []}
        log(f"[search] {kind}: encode + compose p50 {result['encode_only']['p50_ms']:.1f} ms")
        for n in args.sizes:
            result["rows"] += bench_gallery(kind, n, model, checkpoint, queries, composed, probes, args, workdir,
                                            log)
        out["kinds"][kind] = result
    return out


def bench_gallery(kind: str, n: int, model, checkpoint: Path, queries: list[dict], composed: np.ndarray,
                  probes: np.ndarray | None, args, workdir: Path, log: Callable[[str], None]) -> list[dict]:
    """One row per index over a gallery of ``n`` vectors of ``kind``: build, time, recall, serving memory."""
    from cti_ir.serve.engine import SearchEngine

    dim = model.embed_dim
    t0 = time.perf_counter()
    gallery, categories, ids = _gallery(kind, n, args, dim, log)
    log(f"[search] {kind} {n:,} vectors in {time.perf_counter() - t0:.1f} s")
    wanted, near = _wanted(kind, n, queries, gallery, ids, args.seed)
    engines, rows = [], []
    for label, options in _index_options(args, n, dim, probes):
        folder = workdir / f"gallery-{kind}-{n}-{len(rows)}"
        log(f"[search] {kind} {n:,}: building {options.factory} ({label})")
        build = write_vector_index(folder, gallery, categories, ids, options, model.fingerprint)
        log(f"[search] {kind} {n:,}: {build['factory']} built in {build['build_s']:.1f} s, search params "
            f"{build['search_params']}")
        engines.append(SearchEngine(checkpoint, folder, backend=args.search_backend, onnx_dir=args.search_onnx_dir))
        rows.append({"size": n, "label": label, "folder": str(folder), "build": build})
    del gallery
    for row, engine, e2e, e2e_cpu in zip(rows, engines, *time_end_to_end(engines, queries, args.k)):
        cache = engine.model.text_cache
        row.update(end_to_end=percentiles(e2e), end_to_end_cpu=percentiles(e2e_cpu),
                   text_cache={"hits": cache.hits, "misses": cache.misses} if cache is not None else None)
    _time_searches(kind, n, rows, engines, composed, wanted, near, args.k, log)
    del engines
    if n == max(args.sizes) and args.memory:
        for row in rows:
            row["serving_memory"] = serving_memory(checkpoint, Path(row["folder"]), args.threads or 1)
            log(f"[search] {kind} {n:,} {row['build']['factory']}: serving process "
                f"{row['serving_memory'].get('after_queries')}")
    if not args.keep:
        for row in rows:
            shutil.rmtree(row["folder"], ignore_errors=True)
    return rows


def _wanted(kind: str, n: int, queries: list[dict], gallery: np.ndarray, ids: list[str],
            seed: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Each query's wanted gallery row (-1: none) and, for random vectors, the planted queries that find it."""
    if kind == "real" and "target" in queries[0]:
        row_of = {image_id: i for i, image_id in enumerate(ids)}
        return np.array([row_of.get(q["target"], -1) for q in queries]), None
    # Otherwise random rows; for random vectors, queries planted near them (cosine ~0.7 to the match, ~0.3 to others)
    wanted = np.random.default_rng(seed + n).choice(n, len(queries), replace=False)
    if kind != "random":  # real vectors without annotated targets: no planted queries either
        return wanted, None
    dim = gallery.shape[1]
    noise = np.random.default_rng(seed).standard_normal((len(queries), dim), dtype=np.float32)
    near = gallery[wanted] + noise / math.sqrt(dim)
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    return wanted, near


def _time_searches(kind: str, n: int, rows: list[dict], engines: list, composed: np.ndarray, wanted: np.ndarray,
                   near: np.ndarray | None, k: int, log: Callable[[str], None]) -> None:
    """Search alone and with a category filter, recall against the first (exact) index, target or match found."""
    exact_ids = None
    filter_category = "shoes" if kind == "real" else "dress"
    for row, engine in zip(rows, engines):
        search_s, found = timed_search(engine.index, composed, k)
        filtered_s, _ = timed_search(engine.index, composed[: max(10, len(composed) // 2)], k,
                                     filter_category if filter_category in engine.index.categories else None)
        row.update(search_only=percentiles(search_s), search_filtered=percentiles(filtered_s))
        if exact_ids is None:
            exact_ids = found
        else:
            row["recall_vs_exact"] = recall(found, exact_ids)
        if near is not None:
            _, near_found = timed_search(engine.index, near, k)
            row["planted_in_top_k"] = hit_rate(near_found, wanted)
        else:
            row["target_in_top_k"] = hit_rate(found, wanted)
        log(f"[search] {kind} {n:,} {row['build']['factory']}: end-to-end p50 "
            f"{row['end_to_end']['p50_ms']:.1f} ms p95 {row['end_to_end']['p95_ms']:.1f} ms (thread CPU p50 "
            f"{row['end_to_end_cpu']['p50_ms']:.1f} ms), search p50 "
            f"{row['search_only']['p50_ms']:.2f} ms, recall@{k} vs exact "
            f"{row.get('recall_vs_exact', 1.0):.3f}")


def markdown(s: dict) -> list[str]:
    """The search part's tables."""
    lines: list[str] = []
    for kind, result in s["kinds"].items():
        enc = result["encode_only"]
        lines += [f"### Composed-query latency, {kind} vectors ({s['queries']} queries from {result['query_source']}, "
                  f"k={s['k']}; model on {s.get('backend', 'torch (PyTorch)')}; encode + compose alone: p50 "
                  f"{enc['p50_ms']:.1f} ms, p95 {enc['p95_ms']:.1f} ms; ANN tuned on {result.get('tuned_on', '?')})",
                  "", "| gallery | index (chosen by) | search params | end-to-end p50 | p95 | its CPU p50 | "
                  "search only p50 | p95 | "
                  f"filtered p50 | recall@{s['k']} vs exact | {'target' if kind == 'real' else 'planted match'} "
                  f"in top-{s['k']} | build | serving RSS anon + file |",
                  "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in result["rows"]:
            e, so, sf, b = r["end_to_end"], r["search_only"], r["search_filtered"], r["build"]
            mem = r.get("serving_memory", {}).get("after_queries")
            mem_s = f"{mem['RssAnon_mb']:.0f} + {mem['RssFile_mb']:.0f} MB" if mem else "-"
            params = ", ".join(f"{k}={v:g}" for k, v in b["search_params"].items()) or "-"
            found = r.get("target_in_top_k", r.get("planted_in_top_k", math.nan))
            lines.append(f"| {r['size']:,} | `{b['factory']}` ({r['label']}) | {params} | {e['p50_ms']:.1f} ms | "
                         f"{e['p95_ms']:.1f} ms | {r.get('end_to_end_cpu', {}).get('p50_ms', math.nan):.1f} ms | "
                         f"{so['p50_ms']:.2f} ms | {so['p95_ms']:.2f} ms | "
                         f"{sf['p50_ms']:.2f} ms | {r.get('recall_vs_exact', 1.0):.3f} | {found:.3f} | "
                         f"{b['build_s']:.0f} s | {mem_s} |")
        lines.append("")
    return lines
