"""Where a composed query's CPU goes: ``SearchEngine.search`` on a kept index, timed whole and stage by stage.

A search here is what the end-to-end row of ``bench_speed --parts search`` times (a decoded photo and a text
handed to ``SearchEngine.search``, one torch and FAISS thread), but on one engine alone, the queries back to back
as a serving engine answers them: ``bench_speed`` alternates its exact and approximate engines query by query,
and at 1M products the exact engine's scan of the whole matrix leaves the next query cold caches.

Two kinds of figure:

- **the whole search**: thread-CPU milliseconds of each search, ``--repeats`` passes over the queries without any
  instrument; the median of each pass's p50 is reported. The engine's text caches are emptied before each pass,
  so every pass meets each text anew (the generated captions rarely recur: as in ``bench_speed``);
- **stages**: one more pass with a timer around each stage (preprocessing, the image and text towers, the
  composer, the request reader, the category decisions, the index search, the hits); their mean thread-CPU
  milliseconds a search, and what is left over (``rest``: checking the query, batching, copying, and any stage
  the code timed has no function for: ``stages_timed`` lists those it had).

``results_sha256`` digests every query's top-k ids, so two runs (two backends, or two versions of the code) can be
checked for the same results. To compare code versions, run this file from each version's tree, in turns, on the
same index (the machine's speed drifts between minutes; compare pairs, not single runs)::

    python -m benchmarks.speed.bench_speed --parts search --vectors real --sizes 1000000 --budgets 256MiB \\
        --threads 1 --real-index runs/scale/index-large-real --real-catalogue runs/scale/data-large \\
        --search-backend onnx --search-onnx-dir runs/onnx/demo --no-memory --workdir runs/scale/keep --keep
    python -m benchmarks.speed.query_stages --index runs/scale/keep/gallery-real-1000000-1 \\
        --catalogue runs/scale/data-large --backend onnx --onnx-dir runs/onnx/demo --out runs/stages.json
    git worktree add /tmp/before COMMIT      # then the same command from /tmp/before, and again, in turns
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Sequence

#: Modification texts for queries made from the index's own products (no ``--catalogue``); they recur, so the
#: engine's text caches answer most of them, unlike the generated catalogue's captions.
TEXTS = ("is red", "has long sleeves", "is shorter", "is darker", "make it blue", "with a floral print",
         "no sleeves", "is longer and black")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.query_stages", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--index", required=True, help="the index to search (e.g. a 1M gallery kept by bench_speed --keep)")
    p.add_argument("--checkpoint", default="demo_model", help="the model the index was built with")
    p.add_argument("--catalogue", default=None,
                   help="a generated catalogue (data_prep.synth --out): its Fashion-IQ-layout val triplets are the "
                        "queries, as in bench_speed; without it, the index's own products with a few recurring texts")
    p.add_argument("--backend", default="torch", help="the model backend (torch, onnx, onnx-int8, auto)")
    p.add_argument("--onnx-dir", default=None, help="the ONNX export folder; none: CHECKPOINT/onnx")
    p.add_argument("--queries", type=int, default=200, help="queries a pass")
    p.add_argument("--repeats", type=int, default=3, help="uninstrumented passes (the median of their p50 is reported)")
    p.add_argument("--k", type=int, default=10, help="results a query")
    p.add_argument("--seed", type=int, default=0, help="which val triplets of --catalogue are drawn")
    p.add_argument("--out", default=None, help="also write the results here as JSON")
    return p


def _queries(args, engine) -> tuple[list[tuple], str]:
    """``(image, text)`` pairs, the images decoded here so that decoding is not timed."""
    from cti_ir.model.images import load_image

    if args.catalogue:
        from benchmarks.speed.speed_search import real_queries

        rows = real_queries(Path(args.catalogue), args.queries, args.seed)
        return [(load_image(q["image_path"]), q["text"]) for q in rows], "catalogue val captions"
    items = engine.index.items[: args.queries]
    return ([(load_image(it["path"]), TEXTS[i % len(TEXTS)]) for i, it in enumerate(items)],
            "index products, recurring texts")


def _timed(name: str, function: Callable, totals: Counter) -> Callable:
    @functools.wraps(function)
    def wrapper(*a, **kw):
        start = time.thread_time()
        try:
            return function(*a, **kw)
        finally:
            totals[name] += time.thread_time() - start
    return wrapper


def forget_texts(engine) -> None:
    """Empty the engine's text-embedding and request-reading caches, so that a pass over the same queries meets
    each text anew, as the first pass did (older code may have neither)."""
    cache = getattr(engine.model, "text_cache", None)
    if cache is not None:
        cache.clear()
    readings = getattr(engine, "readings", None)
    if readings is not None:
        engine.readings = type(readings)(readings.capacity)


def instrument(engine, totals: Counter) -> tuple[Callable[[], None], list[str]]:
    """Put a thread-CPU timer around each stage the engine's code has (older code may lack some); returns what
    takes the timers off again (the model's class and a module are patched, so they would outlive the engine) and
    the stages timed."""
    from cti_ir.serve import session_search

    patched: list[tuple[object, str, bool, object]] = []
    timed_names: list[str] = []

    def patch(owner, name: str) -> None:
        if hasattr(owner, name):
            own = vars(owner)  # a class's, a module's or an instance's own attributes
            patched.append((owner, name, name in own, own.get(name)))
            timed_names.append(name)
            setattr(owner, name, _timed(name, getattr(owner, name), totals))

    for name in ("encode_images", "encode_texts", "compose"):
        patch(type(engine.model), name)
    for name in ("resolve_category", "final_categories"):
        patch(session_search, name)
    for name in ("preprocess", "_read_request", "_hits"):
        patch(engine, name)
    patch(engine.index, "search")

    def undo() -> None:
        for owner, name, had_own, original in reversed(patched):
            if had_own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)  # the instance's timer goes; its class's method shows again
    return undo, timed_names


def run(args) -> dict:
    import faiss
    import torch

    from cti_ir.serve.engine import SearchEngine

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    engine = SearchEngine(args.checkpoint, args.index, backend=args.backend, onnx_dir=args.onnx_dir, threads=1)
    queries, source = _queries(args, engine)
    for image, text in queries[:20]:  # warm up: first calls of each operator, the mapped index's first pages
        engine.search(image=image, text=text, k=args.k)
    passes, digest = [], hashlib.sha256()
    for r in range(args.repeats):
        forget_texts(engine)
        cpu = []
        for image, text in queries:
            start = time.thread_time()
            result = engine.search(image=image, text=text, k=args.k)
            cpu.append(time.thread_time() - start)
            if r == 0:
                digest.update(json.dumps([h.image_id for h in result.hits]).encode())
        passes.append(statistics.median(cpu) * 1e3)
    totals: Counter = Counter()
    forget_texts(engine)
    undo, timed_names = instrument(engine, totals)
    try:
        start = time.thread_time()
        for image, text in queries:
            engine.search(image=image, text=text, k=args.k)
        whole = (time.thread_time() - start) / len(queries) * 1e3
    finally:
        undo()
    stages = {name: round(seconds / len(queries) * 1e3, 3) for name, seconds in totals.most_common()}
    stages["rest"] = round(whole - sum(stages.values()), 3)
    describe = getattr(engine.model, "describe_backend", None)
    return {"queries": len(queries), "query_source": source, "backend": describe() if describe else args.backend,
            "cpu_ms_p50": round(statistics.median(passes), 3), "cpu_ms_p50_per_pass": [round(p, 3) for p in passes],
            "instrumented_cpu_ms_mean": round(whole, 3), "stages_ms_mean": stages, "stages_timed": timed_names,
            "results_sha256": digest.hexdigest()}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.queries < 1 or args.repeats < 1 or args.k < 1:
        print("error: --queries, --repeats and --k must be at least 1", file=sys.stderr)
        return 2
    for flag, folder in (("--index", args.index), ("--catalogue", args.catalogue)):
        if folder is not None and not Path(folder).is_dir():
            print(f"error: no folder at {folder} ({flag}); build the index or generate the catalogue first "
                  f"(docs/results/speed.md has the commands)", file=sys.stderr)
            return 2
    import cti_ir

    results = {"code": str(Path(cti_ir.__file__).parent), **run(args)}
    print(json.dumps(results, indent=1), flush=True)
    if args.out:
        from cti_ir.files import write_json_atomic

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
