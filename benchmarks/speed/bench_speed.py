"""Speed benchmark: composed-query latency, indexing throughput and the app's latency under concurrent clients.

    python -m benchmarks.speed.bench_speed --threads 1 --real-index runs/scale/index-large-real \
        --real-catalogue runs/scale/data-large                         # search + indexing, galleries 10k/100k/1M
    python -m benchmarks.speed.bench_speed --parts search --vectors random --sizes 10000 100000 --queries 50
    python -m benchmarks.speed.bench_speed --parts training --train-data runs/bench/data     # the three stages
    python -m benchmarks.speed.bench_speed --parts app --duration 30          # launches app.py on a free loopback port
    python -m benchmarks.speed.bench_speed --parts app --url http://127.0.0.1:7860/   # an app that is already running
    python -m benchmarks.speed.bench_speed --parts launch                    # `python app.py`: first and later launch

Five parts, each optional (``--parts``):

search    Composed-query latency and ANN recall at catalogue scale (``benchmarks/speed/speed_search.py``): real vectors
          (the demo model's embeddings of the ``large`` generated catalogue, extended to 1M as
          ``benchmarks/speed/scale_vectors.py`` documents; real composed queries of that catalogue) and random vectors
          (the worst case), exact search against ``--factory auto`` under each ``--budgets`` memory budget, tuned
          at build time for ``--target-recall``; end to end through ``SearchEngine.search``, search alone, with a
          category filter, recall@k vs exact, target / planted match found, build time, serving memory.
indexing  Images/s of ``cti_ir.index.build_index`` with the CLI's default flags against the encoder's raw forward
          throughput, alternating repeats (``benchmarks/speed/speed_indexing.py``).
training  Each stage's training-loop examples/s against the raw forward + backward + step of the same model and
          batch, alternating repeats (``benchmarks/speed/speed_training.py``).
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

REPO_ROOT = Path(__file__).resolve().parents[2]
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

    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    log("no --checkpoint and no demo_model/: using a randomly initialised cti-small model (same cost as trained)")
    torch.manual_seed(0)
    return save_checkpoint(CIRModel.create("cti-small"), workdir / "cti-small-random")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
            from cti_ir.index.catalogue import items_from_folder
            from cti_ir.model.checkpoint import load_checkpoint
            from cti_ir.index.catalogue_index import build_index

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
    from benchmarks.speed import speed_indexing, speed_search, speed_training

    if results.get("search"):
        lines += speed_search.markdown(results["search"])
    if results.get("indexing"):
        lines += speed_indexing.markdown(results["indexing"])
    if results.get("training"):
        lines += speed_training.markdown(results["training"])
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
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.bench_speed", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parts", nargs="+", choices=["search", "indexing", "training", "app", "launch"],
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
    g.add_argument("--vectors", nargs="+", choices=["real", "random"], default=["real", "random"],
                   help="gallery vectors: real (--real-index, extended beyond its size) and/or random")
    g.add_argument("--real-index", default=None,
                   help="index folder whose embeddings are the real vectors, e.g. the demo model over the large "
                        "generated catalogue: python -m cti_ir.index build --checkpoint demo_model --images DATA "
                        "--out runs/scale/index-large-real (see benchmarks/README.md)")
    g.add_argument("--real-catalogue", default=None,
                   help="the generated catalogue those embeddings come from (python -m data_prep.synth --size "
                        "large): its val triplets are the real composed queries, its images the indexing set")
    g.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000],
                   help="gallery sizes")
    g.add_argument("--queries", type=int, default=200, help="composed queries timed per gallery and index")
    g.add_argument("--k", type=int, default=10, help="results per query (and the recall@k cut-off)")
    g.add_argument("--budgets", nargs="+", default=["4GiB", "256MiB"],
                   help="memory budgets of --factory auto: one auto index per distinct choice (at 1M x 128-d: "
                        "HNSW32 under 4GiB, IVF-PQ with re-ranking under 256MiB)")
    g.add_argument("--factories", nargs="*", default=[],
                   help="further FAISS factory strings to measure (tuned like auto's choice)")
    g.add_argument("--target-recall", type=float, default=0.95, help="recall@10 target of the build-time tuning")
    g.add_argument("--tune-on", choices=["queries", "catalogue"], default="queries",
                   help="what the ANN indexes are tuned on: composed queries other than the measured ones (the "
                        "catalogue's training triplets), or held-out catalogue vectors (the fallback of "
                        "`cti_ir.index build` without queries)")
    g.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the serving-process memory measurement at the largest size")
    g.add_argument("--query-image-size", type=int, default=256, help="side of the generated reference photos")
    g = p.add_argument_group("indexing")
    g.add_argument("--image-sets", nargs="+", choices=["shop", "catalogue"], default=["shop", "catalogue"],
                   help="shop: generated 256px JPEGs (or --images); catalogue: --real-catalogue's product photos")
    g.add_argument("--images", default=None,
                   help="folder of catalogue images for the shop set (default: generate --n-images JPEGs)")
    g.add_argument("--n-images", type=int, default=2000, help="images per set")
    g.add_argument("--image-size", type=int, default=256, help="side of the generated shop images")
    g.add_argument("--batch-size", type=int, default=128, help="encoder batch size (build_index's default)")
    g.add_argument("--workers", nargs="*", type=int, default=[0],
                   help="build_index decoding workers to measure besides the default (one build each)")
    g.add_argument("--index-repeats", type=int, default=3, help="alternating repeats of raw forward and builds")
    g = p.add_argument_group("training")
    g.add_argument("--train-data", default="runs/bench/data",
                   help="generated catalogue the stages train on (python -m data_prep.synth --size default)")
    g.add_argument("--stages", nargs="+", choices=["stage1", "stage2", "stage3"],
                   default=["stage1", "stage2", "stage3"], help="stages to measure")
    g.add_argument("--train-steps", type=int, default=20, help="timed optimizer steps per measurement")
    g.add_argument("--train-warmup", type=int, default=3, help="steps run before timing starts")
    g.add_argument("--train-repeats", type=int, default=3, help="alternating repeats of raw and loop")
    g.add_argument("--train-batch-size", type=int, default=None,
                   help="batch size (default: each stage CLI's own, 128 / 128 / 64)")
    g.add_argument("--arch", default="cti-small",
                   help="architecture when there is no --checkpoint (the demo model's otherwise)")
    g.add_argument("--train-image-cache", default="auto",
                   help="the loop's --image-cache (auto|DIR|none); 'auto' uses a folder in --workdir")
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
    for flag, value in (("--real-index", args.real_index), ("--real-catalogue", args.real_catalogue)):
        if value and not Path(value).is_dir():
            print(f"error: {flag} {value} is not a folder", file=sys.stderr)
            return 2
    if "training" in args.parts and not Path(args.train_data, "fashioniq").is_dir():
        print(f"error: --train-data {args.train_data} holds no generated catalogue; make one with "
              f"python -m data_prep.synth --out {args.train_data} --size default", file=sys.stderr)
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
        from cti_ir.model.checkpoint import read_checkpoint_config

        results: dict[str, Any] = {"machine": machine_info(), "checkpoint": str(checkpoint),
                                   "checkpoint_kind": "given" if args.checkpoint else (
                                       "demo_model" if checkpoint == REPO_ROOT / "demo_model" else
                                       "random cti-small"),
                                   "embed_dim": read_checkpoint_config(checkpoint)["embed_dim"],
                                   "argv": list(argv if argv is not None else sys.argv[1:]),
                                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        t0 = time.perf_counter()
        from benchmarks.speed import speed_indexing, speed_search, speed_training

        if "search" in args.parts:
            results["search"] = speed_search.bench_search(args, checkpoint, workdir, log)
        if "indexing" in args.parts:
            results["indexing"] = speed_indexing.bench_indexing(args, checkpoint, workdir, log)
        if "training" in args.parts:
            args.loop_kwargs = {"image_cache": str(workdir / "image-cache") if args.train_image_cache == "auto"
                                else (None if args.train_image_cache == "none" else args.train_image_cache)}
            results["training"] = speed_training.bench_training(
                args, checkpoint if args.checkpoint or checkpoint == REPO_ROOT / "demo_model" else None,
                Path(args.train_data), workdir, log)
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
    if str(REPO_ROOT) not in sys.path:  # `python benchmarks/speed/bench_speed.py` from anywhere
        sys.path.insert(0, str(REPO_ROOT))
    sys.exit(main())
