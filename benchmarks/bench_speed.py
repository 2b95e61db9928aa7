"""Speed benchmark: composed-query latency, indexing throughput and the app's latency under concurrent clients.

    python -m benchmarks.bench_speed                                   # search + indexing, galleries 10k/100k/1M
    python -m benchmarks.bench_speed --parts search --sizes 10000 100000 --queries 50
    python -m benchmarks.bench_speed --parts app --duration 30          # launches app.py on a free loopback port
    python -m benchmarks.bench_speed --parts app --url http://127.0.0.1:7860/   # an app that is already running
    python -m benchmarks.bench_speed --parts launch                    # `python app.py`: first and later launch

Four parts, each optional (``--parts``):

search    End-to-end latency of one composed query through ``cti_ir.search.SearchEngine.search`` (preprocess and
          encode the reference image, encode the text, compose, search the index, build the hits) against galleries
          of random L2-normalised vectors of the model's dimension, for exact search ("IDMap,Flat") and an ANN
          factory (default "IVF{nlist},Flat", trained on a subsample, searched with the engine's nprobe=16). The
          galleries are real index folders (index.faiss, items.jsonl, index_info.json) opened memory-mapped as the
          app opens them; the two engines take turns query by query. Also: search-only latency, search with a
          category filter, the ANN's recall@10 against exact search for the composed query vectors, how often it
          returns a planted match for queries made near gallery points, and an nprobe sweep.
indexing  Images/s of ``cti_ir.index.build_index`` on a folder of JPEG product pictures (``--images`` or generated),
          against the encoder's raw forward throughput (``model.encode_images`` on ready-made tensors of the same
          batch size) and the decode + preprocess throughput, on the same machine.
app       p50/p95 latency of the app under N concurrent clients (default 16) on loopback for a fixed time: first
          the page's ``/search`` endpoint, each thread with its own ``gradio_client.Client``, then the JSON API
          (``POST /api/search``, multipart upload + text, each thread on its own keep-alive HTTP connection);
          every failed request is counted. ``--app-script`` measures another copy of the app (a baseline).
launch    Seconds from starting ``python app.py`` (no arguments: the built-in demo) until its page answers HTTP 200:
          once on an empty demo cache (generate the catalogue, index it) and then ``--launches`` more times on the
          filled cache. The cache lives in the work folder, so the user's own demo cache is never touched.

Results go to a JSON file (``--out``) and are printed as Markdown tables. This is a measurement script, not a test:
it asserts nothing, and numbers depend on the machine (see the ``machine`` entry of the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ("dress", "shirt", "toptee")
MODIFICATIONS = (
    "is red and has long sleeves", "is shorter and black", "has a floral print", "is blue with no sleeves",
    "is more casual and white", "has a v-neck and is green", "is longer with a belt", "has stripes and is grey",
    "is darker and more formal", "has a higher heel", "is pink with ruffles", "is made of denim",
)


# ------------------------------------------------------------------------------------------------------- helpers
def percentiles(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / mean / max in milliseconds, and the sample count."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    if ms.size == 0:
        return {"n": 0, "p50_ms": math.nan, "p95_ms": math.nan, "mean_ms": math.nan, "max_ms": math.nan}
    return {"n": int(ms.size), "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
            "mean_ms": float(ms.mean()), "max_ms": float(ms.max())}


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    import faiss
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "faiss_threads": faiss.omp_get_max_threads(), "torch": torch.__version__, "faiss": faiss.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "cuda": torch.cuda.is_available(), "load_average_1_5_15": list(os.getloadavg())}


def product_image(seed: int, size: int = 256):
    """A product-like picture (a garment shape with a stripe on a plain background), distinct per seed."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)

    def colour():
        return tuple(int(c) for c in rng.integers(0, 256, 3))

    img = Image.new("RGB", (size, size), colour())
    draw = ImageDraw.Draw(img)
    a, b = sorted(int(v) for v in rng.integers(size // 16, size - size // 16, 2))
    box = (a // 2, a // 3, max(b, a // 2 + size // 8), size - size // 16)
    (draw.ellipse, draw.rectangle)[seed % 2](box, fill=colour(), outline=colour(), width=max(1, size // 64))
    y = int(rng.integers(0, size))
    draw.line((0, y, size, y), fill=colour(), width=max(1, size // 32))
    return img


def write_image_folder(folder: Path, n: int, size: int, seed: int = 0) -> Path:
    """``n`` JPEG product pictures in ``folder/<category>/``, like a shop's photo folder."""
    for i in range(n):
        path = folder / CATEGORIES[i % len(CATEGORIES)] / f"item-{i:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        product_image(seed + i, size).save(path, quality=90)
    return folder


def resolve_checkpoint(arg: str | None, workdir: Path, log: Callable[[str], None]) -> Path:
    """The checkpoint to measure: the one given, else ``demo_model/``, else a random cti-small one saved to workdir."""
    if arg:
        return Path(arg)
    if (REPO_ROOT / "demo_model").is_dir():
        return REPO_ROOT / "demo_model"
    import torch

    from cti_ir.checkpoint import save_checkpoint
    from cti_ir.model import CIRModel

    log("no --checkpoint and no demo_model/: using a randomly initialised cti-small model (same cost as trained)")
    torch.manual_seed(0)
    return save_checkpoint(CIRModel.create("cti-small"), workdir / "cti-small-random")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -------------------------------------------------------------------------------------------------- part: search
def ann_factory_for(template: str, n: int, nlist: str) -> str:
    """Fill ``{nlist}`` in the factory: ``auto`` = the largest power of two <= min(max, n / 39), at least 1."""
    if "{nlist}" not in template:
        return template
    if nlist.startswith("auto"):
        cap = int(nlist.split(":")[1]) if ":" in nlist else 1024
        lists = 1
        while lists * 2 <= min(cap, n // 39):
            lists *= 2
    else:
        lists = int(nlist)
    return template.format(nlist=lists)


def write_vector_index(folder: Path, vectors: np.ndarray, factory: str, fingerprint: str, train_size: int,
                       seed: int) -> dict[str, float]:
    """An index folder over ``vectors`` in the layout ``cti_ir.index`` writes, with ids 0..N-1.

    Built here rather than with ``build_index`` because the vectors are not images, and because IVF is trained on a
    subsample (``make_faiss_index`` trains on everything, which costs minutes at 1M on two cores).
    """
    import faiss

    from cti_ir.index import INDEX_FILE, INFO_FILE, ITEMS_FILE

    folder.mkdir(parents=True, exist_ok=True)
    n, dim = vectors.shape
    index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    t0 = time.perf_counter()
    if not index.is_trained:
        rng = np.random.default_rng(seed)
        sample = vectors[np.sort(rng.choice(n, min(train_size, n), replace=False))]
        index.train(sample)
    t1 = time.perf_counter()
    ids = np.arange(n, dtype=np.int64)
    try:
        index.add_with_ids(vectors, ids)
    except RuntimeError:  # HNSW / plain Flat have no add_with_ids: wrap like make_faiss_index does
        index = faiss.IndexIDMap(index)
        index.add_with_ids(vectors, ids)
    t2 = time.perf_counter()
    faiss.write_index(index, str(folder / INDEX_FILE))
    with open(folder / ITEMS_FILE, "w", encoding="utf-8") as f:
        for start in range(0, n, 100_000):
            f.write("".join(f'{{"image_id": "v{i}", "path": "", "categories": ["{CATEGORIES[i % 3]}"]}}\n'
                            for i in range(start, min(n, start + 100_000))))
    info = {"format": "cti-ir-index", "format_version": 1, "model_fingerprint": fingerprint, "dim": dim,
            "normalized": True, "metric": "inner_product", "factory": factory, "count": n, "skipped": 0,
            "skipped_examples": [], "source": {"benchmark": "random vectors"}, "complete": True}
    (folder / INFO_FILE).write_text(json.dumps(info), encoding="utf-8")
    return {"train_s": t1 - t0, "add_s": t2 - t1, "write_s": time.perf_counter() - t2}


def bench_search(args, checkpoint: Path, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Latency of composed queries against galleries of each size, exact and ANN; ANN recall@k."""
    import faiss
    import torch

    from cti_ir.checkpoint import load_checkpoint
    from cti_ir.search import SearchEngine

    model = load_checkpoint(checkpoint)
    dim, fingerprint = model.embed_dim, model.fingerprint
    images = [product_image(10_000 + i, args.query_image_size) for i in range(min(args.queries, 50))]
    queries = [(images[i % len(images)], MODIFICATIONS[i % len(MODIFICATIONS)]) for i in range(args.queries)]

    # Encoding alone, independent of the gallery: the part of the latency no index choice can remove. The
    # composed vectors are kept: they are the queries of the search-only timings and of the recall measurement.
    encode_s, vectors = [], []
    with torch.no_grad():
        for image, text in queries[:3]:  # warm-up (oneDNN kernel selection)
            model.compose(model.encode_images(model.preprocess(image).unsqueeze(0)), model.encode_texts([text]))
        for image, text in queries:
            t0 = time.perf_counter()
            img = model.encode_images(model.preprocess(image).unsqueeze(0))
            vectors.append(model.compose(img, model.encode_texts([text])).query[0].float().numpy())
            encode_s.append(time.perf_counter() - t0)
    composed = np.stack(vectors).astype(np.float32)
    del model
    rows = []
    for n in args.sizes:
        rng = np.random.default_rng(args.seed + n)
        t0 = time.perf_counter()
        gallery = rng.standard_normal((n, dim), dtype=np.float32)
        faiss.normalize_L2(gallery)
        # Queries near gallery points (cosine ~0.7 to a planted match, ~0.3 at most to any other point): the case
        # where the catalogue holds the product asked for. On unstructured random vectors the rest of an exact
        # top-k is noise that no ANN can be expected to reproduce, so the planted match is what recall measures.
        planted = rng.choice(n, args.queries, replace=False)
        near = gallery[planted] + rng.standard_normal((args.queries, dim), dtype=np.float32) / math.sqrt(dim)
        faiss.normalize_L2(near)
        log(f"[search] {n:,} random {dim}-d vectors in {time.perf_counter() - t0:.1f} s")
        engines, size_rows = [], []
        for kind, factory in (("exact", args.exact_factory),
                              ("ann", ann_factory_for(args.ann_factory, n, args.nlist))):
            folder = workdir / f"gallery-{n}-{kind}"
            try:
                build = write_vector_index(folder, gallery, factory, fingerprint, args.train_size, args.seed)
            except RuntimeError as e:
                log(f"[search] {factory} on {n:,}: cannot build ({e}); skipped")
                continue
            log(f"[search] {n:,} {factory}: trained {build['train_s']:.1f} s, added {build['add_s']:.1f} s")
            t0 = time.perf_counter()
            engines.append(SearchEngine(checkpoint, folder))
            size_rows.append({"size": n, "kind": kind, "factory": factory, "build": build,
                              "engine_load_s": time.perf_counter() - t0})
        del gallery
        # End to end, the engines take turns query by query: on a shared machine the load changes over minutes,
        # and alternating exposes exact and ANN search to the same conditions.
        for row, e2e in zip(size_rows, _time_end_to_end(engines, queries, args.k)):
            row["end_to_end"] = percentiles(e2e)
        exact_ids: dict[str, np.ndarray] = {}
        for row, engine in zip(size_rows, engines):
            row.update(_time_search(engine, composed, near, planted, args.k, exact_ids, row["kind"], args.nprobe))
            log(f"[search] {n:,} {row['factory']}: end-to-end p50 {row['end_to_end']['p50_ms']:.1f} ms, "
                f"p95 {row['end_to_end']['p95_ms']:.1f} ms, search-only p50 {row['search_only']['p50_ms']:.2f} ms"
                + (f", recall@{args.k} vs exact {row['recall_composed']:.3f}" if "recall_composed" in row else "")
                + f", planted match in top-{args.k} {row['planted_recall']:.3f}")
        rows += size_rows
        del engines
        if not args.keep:
            for row in size_rows:
                shutil.rmtree(workdir / f"gallery-{n}-{row['kind']}", ignore_errors=True)
    return {"encode_only": percentiles(encode_s), "rows": rows, "queries": args.queries, "k": args.k,
            "train_size": args.train_size}


def _time_end_to_end(engines, queries, k: int) -> list[list[float]]:
    """Seconds of each ``engine.search(image, text, k)``, per engine, the engines alternating query by query."""
    for engine in engines:  # warm-up: first touch of the mapped index, oneDNN kernel selection
        for image, text in queries[:3]:
            engine.search(image=image, text=text, k=k)
    times: list[list[float]] = [[] for _ in engines]
    for image, text in queries:
        for engine, out in zip(engines, times):
            t0 = time.perf_counter()
            result = engine.search(image=image, text=text, k=k)
            out.append(time.perf_counter() - t0)
            if len(result.hits) != k:
                raise RuntimeError(f"the engine returned {len(result.hits)} hits, not {k}")
    return times


def _time_search(engine, composed: np.ndarray, near: np.ndarray, planted: np.ndarray, k: int,
                 exact_ids: dict[str, np.ndarray], kind: str, nprobes: Sequence[int]) -> dict[str, Any]:
    """Search-only and filtered-search latency of one engine's index, and its recall.

    Recall is measured twice: the overlap of the top-k with the exact top-k for the composed query vectors, and
    the fraction of near queries whose planted gallery point is in the top-k. IVF indexes are also swept over
    ``nprobes`` (search only; the engine itself always uses CatalogueIndex's default).
    """

    def timed_search(qs: np.ndarray, category: str | None = None, **kwargs):
        times, ids = [], []
        for q in qs:
            t0 = time.perf_counter()
            _, found = engine.index.search(q[None], k, category, **kwargs)
            times.append(time.perf_counter() - t0)
            ids.append(found[0])
        return times, np.stack(ids)

    search_s, composed_ids = timed_search(composed)
    _, near_ids = timed_search(near)
    filtered_s, _ = timed_search(composed[: max(10, len(composed) // 2)], CATEGORIES[0])
    out = {"search_only": percentiles(search_s),
           "search_filtered": percentiles(filtered_s), "planted_recall": _planted_recall(near_ids, planted)}
    if kind == "exact":
        exact_ids["composed"] = composed_ids
    elif exact_ids:
        out["recall_composed"] = _recall(composed_ids, exact_ids["composed"])
    if kind != "exact" and faiss_nlist(engine.index.index):
        out["nprobe_sweep"] = []
        nlist = faiss_nlist(engine.index.index)
        for nprobe in nprobes:
            if nprobe > nlist:  # probes every list already: the same as nprobe = nlist
                continue
            times, ids = timed_search(composed, nprobe=nprobe)
            _, near_ids = timed_search(near, nprobe=nprobe)
            out["nprobe_sweep"].append({
                "nprobe": nprobe, "search_only": percentiles(times),
                "planted_recall": _planted_recall(near_ids, planted),
                **({"recall_composed": _recall(ids, exact_ids["composed"])} if exact_ids else {})})
    return out


def faiss_nlist(index) -> int:
    """Inverted lists of an IVF index (0 for other types)."""
    import faiss

    try:
        return faiss.extract_index_ivf(index).nlist
    except RuntimeError:
        return 0


def _recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the exact top-k that the approximate top-k contains."""
    return float(np.mean([len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def _planted_recall(found: np.ndarray, planted: np.ndarray) -> float:
    """Fraction of queries whose planted gallery point is among the results."""
    return float(np.mean([p in f for f, p in zip(found.tolist(), planted.tolist())]))


# ------------------------------------------------------------------------------------------------ part: indexing
def bench_indexing(args, checkpoint: Path, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Images/s of build_index on real files vs the encoder's forward pass and the decode + preprocess step."""
    import torch

    from cti_ir.catalogue import items_from_folder
    from cti_ir.checkpoint import load_checkpoint
    from cti_ir.images import load_image
    from cti_ir.index import build_index

    model = load_checkpoint(checkpoint)
    if args.images:
        folder = Path(args.images)
    else:
        folder = workdir / "shop"
        t0 = time.perf_counter()
        write_image_folder(folder, args.n_images, args.image_size, seed=args.seed)
        log(f"[indexing] wrote {args.n_images} JPEG images of {args.image_size}px in {time.perf_counter() - t0:.1f} s")
    items = items_from_folder(folder)
    n, batch = len(items), args.batch_size
    pixel_shape = tuple(model.preprocess(load_image(items[0].path)).shape)

    # 1. The encoder alone, on ready-made tensors: the ceiling for indexing on this machine.
    pixels = torch.randn((batch,) + pixel_shape)
    with torch.no_grad():
        model.encode_images(pixels)  # warm-up
        t0 = time.perf_counter()
        done = 0
        while done < n:
            model.encode_images(pixels[: min(batch, n - done)])
            done += batch
    forward_ips = n / (time.perf_counter() - t0)

    # 2. Decoding and preprocessing alone, in this process (what workers=0 does before each forward).
    t0 = time.perf_counter()
    for it in items:
        model.preprocess(load_image(it.path))
    decode_ips = n / (time.perf_counter() - t0)

    rows = [{"stage": f"encoder forward only (encode_images, batch {batch})", "images_per_s": forward_ips},
            {"stage": "decode + preprocess only (load_image + preprocess, 1 process)", "images_per_s": decode_ips}]
    index_folder = None
    for workers in args.workers:
        out = workdir / f"index-w{workers}"
        t0 = time.perf_counter()
        info = build_index(model, items, out, batch_size=batch, workers=workers, chunk_size=args.chunk_size,
                           overwrite=True, progress=False, source={"checkpoint": str(checkpoint.resolve())})
        seconds = time.perf_counter() - t0
        rows.append({"stage": f"build_index end to end (workers={workers}, batch {batch}, "
                              f"chunk {args.chunk_size})", "images_per_s": info["count"] / seconds,
                     "seconds": seconds})
        log(f"[indexing] build_index workers={workers}: {info['count'] / seconds:.0f} images/s")
        index_folder = out
    for row in rows:
        row["vs_forward"] = row["images_per_s"] / forward_ips
    return {"images": n, "image_folder": str(folder), "pixel_shape": list(pixel_shape), "rows": rows,
            "index": str(index_folder) if index_folder else None}


# ----------------------------------------------------------------------------------------------------- part: app
def wait_for_app(url: str, proc: subprocess.Popen | None, timeout: float) -> None:
    """Block until the app answers HTTP on ``url``; fail early if its process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the app exited with status {proc.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"the app did not answer on {url} within {timeout:.0f} s")


def stop_process(proc: subprocess.Popen) -> None:
    """Terminate a launched app, and kill it if it has not exited within 30 s."""
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_clients(clients: int, duration: float, connect: Callable[[int], Any],
                request: Callable[[Any, int], str | None]) -> dict:
    """``clients`` threads, each with its own connection (``connect(n)``), send requests back to back for
    ``duration`` seconds; ``request(connection, i)`` returns None on success or why it failed. Every failure counts."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start_barrier = threading.Barrier(clients + 1)
    stop_at = [math.inf]

    def client_loop(n: int) -> None:
        try:
            connection = connect(n)
        except Exception as e:  # noqa: BLE001 - a client that cannot connect is a failure to report
            with lock:
                failures.append(f"client {n} could not connect: {type(e).__name__}: {e}")
            start_barrier.wait()
            return
        start_barrier.wait()
        i = n
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            try:
                problem = request(connection, i)
            except Exception as e:  # noqa: BLE001 - every failure is counted, whatever its type
                problem = f"{type(e).__name__}: {e}"
            elapsed = time.perf_counter() - t
            i += clients
            with lock:
                (failures.append(problem) if problem else latencies.append(elapsed))

    threads = [threading.Thread(target=client_loop, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    start_barrier.wait()  # every client connected: the timed window starts now
    began = time.perf_counter()
    stop_at[0] = began + duration
    for t in threads:
        t.join(duration + 120)
    wall = time.perf_counter() - began
    return {"clients": clients, "duration_s": duration, "wall_s": wall, "requests": len(latencies) + len(failures),
            "failed": len(failures), "failure_examples": sorted(set(failures))[:5], "latency": percentiles(latencies),
            "throughput_rps": len(latencies) / wall}


def multipart_body(fields: dict[str, str], image: bytes, boundary: str = "cti-ir-bench-boundary") -> tuple[bytes, str]:
    """A multipart/form-data body with the text fields and one image file, and its Content-Type."""
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="reference.jpg"\r\n'
                 f'Content-Type: image/jpeg\r\n\r\n'.encode() + image + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def bench_json_api(args, url: str, reference_files: list[str], log: Callable[[str], None]) -> dict:
    """Latency of ``POST /api/search`` under concurrent clients, each on its own keep-alive HTTP connection."""
    import http.client
    import urllib.parse

    parsed = urllib.parse.urlparse(url)
    bodies = [multipart_body({"text": MODIFICATIONS[i % len(MODIFICATIONS)], "k": "10"}, Path(f).read_bytes())
              for i, f in enumerate(reference_files)]

    def connect(n: int):
        return http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)

    def request(connection, i: int) -> str | None:
        body, content_type = bodies[i % len(bodies)]
        connection.request("POST", "/api/search", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            return f"HTTP {response.status}: {data[:200].decode(errors='replace')}"
        return None if json.loads(data).get("hits") else "no hits"

    log(f"[app] JSON API: {args.clients} clients for {args.duration:.0f} s on {url}api/search")
    return {"url": url + "api/search", **run_clients(args.clients, args.duration, connect, request)}


def bench_app(args, checkpoint: Path, index: Path | None, workdir: Path, log: Callable[[str], None]) -> dict:
    """Latency of the app's page (``/search`` through gradio_client) and of its JSON API under concurrent
    clients on loopback, one after the other on the same launched app."""
    from gradio_client import Client, handle_file

    reference_files = []
    for i in range(8):
        path = workdir / "app-queries" / f"reference-{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        product_image(20_000 + i, args.query_image_size).save(path, quality=90)
        reference_files.append(str(path))
    proc, app_log = None, None
    url = args.url
    if not url:
        if index is None:
            log("[app] building a small index for the app (300 generated images)")
            from cti_ir.catalogue import items_from_folder
            from cti_ir.checkpoint import load_checkpoint
            from cti_ir.index import build_index

            folder = write_image_folder(workdir / "app-shop", 300, args.image_size, seed=args.seed)
            index = workdir / "app-index"
            build_index(load_checkpoint(checkpoint), items_from_folder(folder), index, overwrite=True,
                        progress=False, source={"checkpoint": str(checkpoint.resolve())})
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        cmd = [sys.executable, str(args.app_script), "--checkpoint", str(checkpoint), "--index", str(index),
               "--host", "127.0.0.1", "--port", str(port)] + list(args.app_args)
        env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
                   CTI_IR_CACHE=str(workdir / "app-cache"))  # thumbnails in the work folder, not the user's cache
        app_log = open(workdir / "app.log", "w")
        log(f"[app] launching: {' '.join(cmd)}")
        proc = subprocess.Popen(cmd, cwd=str(Path(args.app_script).resolve().parent), env=env, stdout=app_log,
                                stderr=subprocess.STDOUT)
    url = url if url.endswith("/") else url + "/"
    try:
        t0 = time.perf_counter()
        try:
            wait_for_app(url, proc, args.app_startup_timeout)
        except (RuntimeError, TimeoutError) as e:
            tail = (workdir / "app.log").read_text(errors="replace")[-2000:] if app_log is not None else ""
            raise RuntimeError(f"{e}; the end of its output:\n{tail}") from None
        log(f"[app] answering on {url} after {time.perf_counter() - t0:.1f} s")
        out: dict[str, Any] = {"url": url, "launched": proc is not None, "app_args": list(args.app_args),
                               "app_script": str(args.app_script)}
        if "page" in args.app_endpoints:
            log(f"[app] page: {args.clients} gradio_client clients for {args.duration:.0f} s ({args.api_name})")

            def page_request(client, i: int) -> str | None:
                reference, text = reference_files[i % len(reference_files)], MODIFICATIONS[i % len(MODIFICATIONS)]
                return _app_output_problem(client.predict(handle_file(reference), text, *args.app_extra,
                                                          api_name=args.api_name))

            out.update(run_clients(args.clients, args.duration,
                                   lambda n: Client(url, verbose=False, download_files=False), page_request))
        if "json" in args.app_endpoints:
            out["json_api"] = bench_json_api(args, url, reference_files, log)
        return out
    finally:
        if proc is not None:
            stop_process(proc)
        if app_log is not None:
            app_log.close()


def bench_launch(args, workdir: Path, log: Callable[[str], None]) -> dict:
    """Seconds until ``python app.py`` answers, on an empty demo cache and then on the filled one."""
    cache = workdir / "launch-cache"
    shutil.rmtree(cache, ignore_errors=True)  # the first launch must start from nothing
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", CTI_IR_CACHE=str(cache))
    times: list[float] = []
    for n in range(1 + args.launches):
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        cmd = [sys.executable, str(args.app_script), "--port", str(port)]
        log(f"[launch] {'first launch (empty cache)' if n == 0 else f'later launch {n}'}: {' '.join(cmd)}")
        with open(workdir / f"launch-{n}.log", "w") as app_log:
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=str(Path(args.app_script).resolve().parent), env=env,
                                    stdout=app_log, stderr=subprocess.STDOUT)
            try:
                wait_for_app(url, proc, args.app_startup_timeout)
                times.append(time.perf_counter() - t0)
            except (RuntimeError, TimeoutError) as e:
                tail = (workdir / f"launch-{n}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{e}; the end of its output:\n{tail}") from None
            finally:
                stop_process(proc)
        log(f"[launch] answering after {times[-1]:.1f} s")
    return {"first_s": times[0], "later_s": times[1:], "cache": str(cache)}


def _app_output_problem(out: Any) -> str | None:
    """Why an answer of /search is not a successful search (the page turns errors into a status message)."""
    if not isinstance(out, (list, tuple)) or not out:
        return f"unexpected output {type(out).__name__}"
    gallery = out[0]
    status = " ".join(str(x) for x in out[1:3])
    if "**Error:**" in status:
        return status.strip()[:200]
    if not gallery:
        return f"no results: {status.strip()[:200]}"
    return None


# ------------------------------------------------------------------------------------------------------- report
def markdown_report(results: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    lines: list[str] = []
    m = results["machine"]
    lines += [f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, torch {m['torch']} ({m['torch_threads']} threads), "
              f"faiss {m['faiss']} ({m['faiss_threads']} threads); checkpoint: {results['checkpoint_kind']} "
              f"({results.get('embed_dim', '?')}-d). Load average (1/5/15 min) at the start "
              f"{'/'.join(f'{v:.1f}' for v in m['load_average_1_5_15'])}, at the end "
              f"{'/'.join(f'{v:.1f}' for v in results.get('load_average_end', [math.nan] * 3))}.", ""]
    s = results.get("search")
    if s:
        enc = s["encode_only"]
        lines += [f"### Composed-query latency ({s['queries']} queries, k={s['k']}; encode + compose alone: "
                  f"p50 {enc['p50_ms']:.1f} ms, p95 {enc['p95_ms']:.1f} ms)", "",
                  "| gallery | factory | end-to-end p50 | p95 | search only p50 | p95 | with category filter p50 | "
                  f"recall@{s['k']} vs exact | planted match in top-{s['k']} | build (train + add) |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in s["rows"]:
            e, so, sf = r["end_to_end"], r["search_only"], r["search_filtered"]
            rc = f"{r['recall_composed']:.3f}" if "recall_composed" in r else "1 (reference)"
            b = r["build"]
            lines.append(f"| {r['size']:,} | `{r['factory']}` | {e['p50_ms']:.1f} ms | {e['p95_ms']:.1f} ms | "
                         f"{so['p50_ms']:.2f} ms | {so['p95_ms']:.2f} ms | {sf['p50_ms']:.2f} ms | {rc} | "
                         f"{r['planted_recall']:.3f} | {b['train_s']:.1f} + {b['add_s']:.1f} s |")
        lines.append("")
        sweeps = [(r, sw) for r in s["rows"] for sw in r.get("nprobe_sweep", [])]
        if sweeps:
            lines += ["ANN search only, by nprobe (the engine uses 16):", "",
                      f"| gallery | factory | nprobe | search p50 | p95 | recall@{s['k']} vs exact | "
                      f"planted match in top-{s['k']} |", "|---:|---|---:|---:|---:|---:|---:|"]
            for r, sw in sweeps:
                lines.append(f"| {r['size']:,} | `{r['factory']}` | {sw['nprobe']} | "
                             f"{sw['search_only']['p50_ms']:.2f} ms | {sw['search_only']['p95_ms']:.2f} ms | "
                             f"{sw.get('recall_composed', math.nan):.3f} | {sw['planted_recall']:.3f} |")
            lines.append("")
    ix = results.get("indexing")
    if ix:
        lines += [f"### Indexing throughput ({ix['images']} JPEG images, model input {ix['pixel_shape']})", "",
                  "| stage | images/s | vs encoder forward |", "|---|---:|---:|"]
        for r in ix["rows"]:
            lines.append(f"| {r['stage']} | {r['images_per_s']:.0f} | {r['vs_forward']:.2f}x |")
        lines.append("")
    a = results.get("app")
    if a:
        rows = [("page, `/search` (gradio_client)", a)] if "latency" in a else []
        if a.get("json_api"):
            rows.append(("JSON API, `POST /api/search`", a["json_api"]))
        first = rows[0][1] if rows else {"clients": "?", "duration_s": math.nan}
        lines += [f"### App under {first['clients']} concurrent clients ({first['duration_s']:.0f} s each on "
                  f"loopback{', ' + ' '.join(a['app_args']) if a['app_args'] else ''})", "",
                  "| endpoint | requests | failed | p50 | p95 | max | throughput |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, r in rows:
            lat = r["latency"]
            lines.append(f"| {name} | {r['requests']} | {r['failed']} | {lat['p50_ms']:.0f} ms | "
                         f"{lat['p95_ms']:.0f} ms | {lat['max_ms']:.0f} ms | {r['throughput_rps']:.1f} req/s |")
        lines.append("")
        for name, r in rows:
            if r["failure_examples"]:
                lines += [f"Failures ({name}): " + "; ".join(r["failure_examples"]), ""]
    la = results.get("launch")
    if la:
        later = ", ".join(f"{t:.1f} s" for t in la["later_s"]) or "-"
        lines += ["### Launch of `python app.py` on the demo (until the page answers)", "",
                  "| first launch (empty cache) | later launches |", "|---:|---:|",
                  f"| {la['first_s']:.1f} s | {later} |", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench_speed", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parts", nargs="+", choices=["search", "indexing", "app", "launch"],
                   default=["search", "indexing"],
                   help="which measurements to run")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint folder to measure (default: demo_model/ if present, else a random cti-small)")
    p.add_argument("--out", default="runs/bench_speed.json", help="results JSON file")
    p.add_argument("--workdir", default=None,
                   help="folder for the generated galleries, images and indexes (default: a temporary folder, "
                        "removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the gallery index folders in --workdir")
    p.add_argument("--seed", type=int, default=0, help="seed of the random galleries and generated images")
    p.add_argument("--threads", type=int, default=None,
                   help="torch and faiss threads (default: their own default, all cores)")
    g = p.add_argument_group("search")
    g.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000],
                   help="gallery sizes (random L2-normalised vectors of the model's dimension)")
    g.add_argument("--queries", type=int, default=100, help="composed queries timed per gallery and factory")
    g.add_argument("--k", type=int, default=10, help="results per query (and the recall@k cut-off)")
    g.add_argument("--exact-factory", default="IDMap,Flat", help="FAISS factory of the exact baseline")
    g.add_argument("--ann-factory", default="IVF{nlist},Flat",
                   help="FAISS factory of the approximate index; {nlist} is replaced according to --nlist "
                        "(e.g. 'IVF{nlist},Flat', 'IVF{nlist},PQ32', 'HNSW32')")
    g.add_argument("--nlist", default="auto",
                   help="inverted lists for {nlist}: a number, or 'auto[:MAX]' = the largest power of two that "
                        "leaves 39 vectors per list, at most MAX (default 1024)")
    g.add_argument("--nprobe", nargs="*", type=int, default=[1, 16, 64, 256],
                   help="IVF nprobe values of the search-only recall/latency sweep (the engine itself uses 16)")
    g.add_argument("--train-size", type=int, default=50_000,
                   help="vectors the ANN index is trained on (a random subsample of the gallery)")
    g.add_argument("--query-image-size", type=int, default=256, help="side of the generated reference photos")
    g = p.add_argument_group("indexing")
    g.add_argument("--images", default=None,
                   help="folder of catalogue images to index (default: generate --n-images JPEGs)")
    g.add_argument("--n-images", type=int, default=2000, help="images to generate when --images is not given")
    g.add_argument("--image-size", type=int, default=256, help="side of the generated catalogue images")
    g.add_argument("--batch-size", type=int, default=128, help="encoder batch size (build_index's default)")
    g.add_argument("--chunk-size", type=int, default=2048, help="build_index chunk size")
    g.add_argument("--workers", nargs="+", type=int, default=[0, 2],
                   help="build_index data-loader workers to measure (one build each)")
    g = p.add_argument_group("app")
    g.add_argument("--url", default=None, help="measure an app already running at this URL instead of launching one")
    g.add_argument("--app-script", default=str(REPO_ROOT / "app.py"), help="the app to launch")
    g.add_argument("--app-index", default=None,
                   help="index folder the app serves (default: the one built by the indexing part, else a small "
                        "generated one)")
    g.add_argument("--app-args", nargs=argparse.REMAINDER, default=[],
                   help="extra command-line arguments for the app (must come last), e.g. --concurrency 4")
    g.add_argument("--clients", type=int, default=16, help="concurrent clients, one thread and Client each")
    g.add_argument("--duration", type=float, default=30.0, help="seconds the clients keep sending queries")
    g.add_argument("--api-name", default="/search", help="Gradio endpoint the page's clients call")
    g.add_argument("--app-endpoints", nargs="+", choices=["page", "json"], default=["page", "json"],
                   help="what to measure, one after the other on the same app: the page (gradio_client on "
                        "--api-name) and the JSON API (POST /api/search, keep-alive HTTP connections)")
    g.add_argument("--app-extra", nargs="*", default=[],
                   help="extra positional values after (image, text) for the endpoint, as JSON "
                        "(e.g. '\"All\"' 10); by default the endpoint's own defaults are used")
    g.add_argument("--app-startup-timeout", type=float, default=600.0,
                   help="seconds to wait for a launched app to answer (app and launch parts)")
    g = p.add_argument_group("launch")
    g.add_argument("--launches", type=int, default=2, help="later launches timed after the first one")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts, write the JSON, print the tables. Returns the exit status."""
    args = build_parser().parse_args(argv)
    args.app_extra = [json.loads(v) for v in args.app_extra]
    if any(n < 1 for n in args.sizes) or args.queries < 1 or args.clients < 1 or args.duration <= 0:
        print("error: --sizes, --queries and --clients must be >= 1 and --duration > 0", file=sys.stderr)
        return 2
    if "search" in args.parts and args.queries > min(args.sizes):
        print("error: --queries must not exceed the smallest gallery size", file=sys.stderr)
        return 2

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    import faiss
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        checkpoint = resolve_checkpoint(args.checkpoint, workdir, log)
        from cti_ir.checkpoint import read_checkpoint_config

        results: dict[str, Any] = {"machine": machine_info(), "checkpoint": str(checkpoint),
                                   "checkpoint_kind": "given" if args.checkpoint else (
                                       "demo_model" if checkpoint == REPO_ROOT / "demo_model" else
                                       "random cti-small"),
                                   "embed_dim": read_checkpoint_config(checkpoint)["embed_dim"],
                                   "argv": list(argv if argv is not None else sys.argv[1:]),
                                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        t0 = time.perf_counter()
        if "search" in args.parts:
            results["search"] = bench_search(args, checkpoint, workdir, log)
        if "indexing" in args.parts:
            results["indexing"] = bench_indexing(args, checkpoint, workdir, log)
        if "app" in args.parts:
            index = Path(args.app_index) if args.app_index else (
                Path(results["indexing"]["index"]) if results.get("indexing", {}).get("index") else None)
            try:
                results["app"] = bench_app(args, checkpoint, index, workdir, log)
            except RuntimeError as e:  # the app did not start: say why, keep what was measured before
                log(f"error: app part failed: {e}")
                results["app_error"] = str(e)
        if "launch" in args.parts:
            try:
                results["launch"] = bench_launch(args, workdir, log)
            except RuntimeError as e:
                log(f"error: launch part failed: {e}")
                results["launch_error"] = str(e)
        results["total_s"] = time.perf_counter() - t0
        results["load_average_end"] = list(os.getloadavg())  # other processes on the machine skew latencies
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown_report(results))
    log(f"results written to {out} ({results['total_s']:.0f} s)")
    return 1 if "app_error" in results or "launch_error" in results else 0


if __name__ == "__main__":
    if str(REPO_ROOT) not in sys.path:  # `python benchmarks/bench_speed.py` from anywhere
        sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
