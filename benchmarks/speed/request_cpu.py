"""CPU a JSON API search costs the server, in-process and without HTTP, for three kinds of request a shop sees:

- ``new``: a photo the server has not seen (each search another catalogue photo, the upload cache off);
- ``again``: the same photo sent again with another text, as a shopper refining a request does (cache as served);
- ``reference``: a catalogue product as the reference (``reference_id``), as every later turn of a session is.

Each search goes through ``SearchApi._search`` on the engine itself (one query a batch, one torch and FAISS
thread): decoding, preprocessing, the request reader, both towers, the composer, the category guess, FAISS and
the answer's JSON, but no HTTP parsing and no batching, so the figures are per search alone and steadier than a
load test's. The process's CPU time is read around ``--searches`` searches, ``--repeats`` times; the median is
reported. To compare with older code, run this file with that code first on the path (its engine then has no
upload cache, and every kind is worked on anew)::

    python -m benchmarks.speed.request_cpu --index runs/qc/index-default --out runs/request_cpu.json
    git worktree add /tmp/before COMMIT      # the code to compare with
    PYTHONPATH=/tmp/before python benchmarks/speed/request_cpu.py --index runs/qc/index-default
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Sequence

TEXTS = ("is red", "has long sleeves", "is shorter", "is darker", "make it blue", "with a floral print",
         "no sleeves", "is longer and black")
KINDS = ("new", "again", "reference")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.request_cpu", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--index", required=True, help="the index to search (e.g. the demo's, runs/qc/index-default)")
    p.add_argument("--checkpoint", default="demo_model", help="the model the index was built with")
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS), help="which requests to time")
    p.add_argument("--searches", type=int, default=300, help="searches per timing")
    p.add_argument("--repeats", type=int, default=5, help="timings per kind (the median is reported)")
    p.add_argument("--out", default=None, help="also write the results here as JSON")
    return p


def _png(path: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.open(path).convert("RGB").save(out, format="PNG")  # a client's upload: the photo as a PNG file
    return out.getvalue()


def _engine(checkpoint, index: str, cache_mb: float | None):
    from cti_ir.serve.engine import SearchEngine

    kwargs = {}
    if cache_mb is not None and "upload_cache_mb" in inspect.signature(SearchEngine).parameters:
        kwargs["upload_cache_mb"] = cache_mb
    return SearchEngine(checkpoint, index, threads=1, **kwargs)


def time_kind(kind: str, args) -> dict:
    """Median CPU milliseconds a search of ``kind`` costs, and every timing."""
    import faiss
    import torch

    from cti_ir.serve.http_api import SearchApi

    torch.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    engine = _engine(args.checkpoint, args.index, 0 if kind == "new" else None)
    api = SearchApi(engine)
    items = engine.index.items[: min(len(engine.index.items), max(args.searches, 50))]
    photos = [_png(it["path"]) for it in items] if kind == "new" else [_png(items[0]["path"])]

    def search(i: int) -> None:
        fields = {"text": TEXTS[i % len(TEXTS)], "k": "10"}
        if kind == "reference":
            api._search({**fields, "reference_id": items[i % len(items)]["image_id"]}, None, "image")
        else:
            api._search(fields, photos[i % len(photos)], "image")

    for i in range(20):  # warm up: first calls of each operator, the text cache
        search(i)
    timings = []
    for _ in range(args.repeats):
        start = time.process_time()
        for i in range(args.searches):
            search(i)
        timings.append((time.process_time() - start) / args.searches * 1e3)
    return {"kind": kind, "cpu_ms_median": round(statistics.median(timings), 3),
            "cpu_ms": [round(t, 3) for t in timings],
            "upload_cache": "off" if kind == "new" else ("on" if hasattr(engine, "uploads") else "none in this code")}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.searches < 1 or args.repeats < 1:
        print("error: --searches and --repeats must be at least 1", file=sys.stderr)
        return 2
    if not Path(args.index).is_dir():
        print(f"error: no index folder at {args.index}; build one, or start the demo once (python app.py)",
              file=sys.stderr)
        return 2
    import cti_ir

    results = {"code": str(Path(cti_ir.__file__).parent), "searches": args.searches, "kinds": []}
    for kind in args.kinds:
        row = time_kind(kind, args)
        print(json.dumps(row), flush=True)
        results["kinds"].append(row)
    if args.out:
        from cti_ir.files import write_json_atomic

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
