"""Live updates under load: catalogue changes published while concurrent JSON clients search, over HTTP.

    python -m benchmarks.catalogue.bench_live_updates [--updates 100] [--clients 16] [--out runs/catalogue/live_updates]

Starts the real server (``python app.py --index ... --checkpoint ...``) on a copy of the demo catalogue's index
with generated shop fields (``bench_filters`` prepares both in its cache), then ``--clients`` threads send
``POST /api/search`` one after another (texts, catalogue references, six filters) while ``--updates`` changes are
made with ``python -m cti_ir.index``'s own commands (adds, field changes with new prices, removals, photos
re-embedded by ``update``: ``benchmarks/catalogue/live_shop.py``), each one a new index version that the server's
live reload picks up. After each change the script waits until ``GET /api/status`` reports the new version (the
reload lag). Reported: requests answered and failed (any answer but HTTP 200, or no answer), latency percentiles,
answers that did not pass their filter, stale answers (a product returned after its removal was served, or a price
older than the last one served), and the checks after the last change (``live_shop.verify``).

What this does not measure: several server processes, a Milvus backend, or changes made by another machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.catalogue.live_shop import CYCLE, FILTERS, Shop, passes, verify
from benchmarks.common import REPO_ROOT, error, write_report

CACHE = REPO_ROOT / "runs" / "catalogue" / "demo-cache"
TEXTS = ("is red and has long sleeves", "is darker and shorter", "a blue striped shirt", "has a floral print",
         "a black mini dress", "is white with short sleeves", "is looser and longer", "a green top with buttons")
SERVED_WAIT_S = 120.0  # longest wait for the server to report a change's version before it counts as missed


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.catalogue.bench_live_updates",
                                description=__doc__.split("\n")[0])
    p.add_argument("--source-index", default=str(CACHE / "index-default"),
                   help="index copied for the run (default: bench_filters' demo index; it is not changed)")
    p.add_argument("--products-file", default=str(CACHE / "products-default.jsonl"),
                   help="the shop fields attached to the copy first (default: bench_filters' generated ones)")
    p.add_argument("--work", default=str(REPO_ROOT / "runs" / "catalogue" / "live"),
                   help="folder of the run: the index copy, the new photos, the server log (emptied first)")
    p.add_argument("--thumbnail-dir", default=str(REPO_ROOT / "runs" / "catalogue" / "live-thumbnails"),
                   help="the server's thumbnail folder, made before the server starts and kept between runs")
    p.add_argument("--updates", type=int, default=100, help="catalogue changes to publish (default 100)")
    p.add_argument("--clients", type=int, default=16, help="concurrent JSON API clients (default 16)")
    p.add_argument("--warmup-s", type=float, default=10.0, help="seconds of searching before the first change "
                                                                "(default 10; its requests are counted apart)")
    p.add_argument("--port", type=int, default=0, help="the server's port (default 0: a free one)")
    p.add_argument("--threads", type=int, default=1, help="the server's torch and FAISS threads (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the changes and the clients' requests (default 0)")
    p.add_argument("--out", default=str(REPO_ROOT / "runs" / "catalogue" / "live_updates"), help="report base name")
    return p


class Http:
    """``POST /api/search`` and ``GET /api/status`` of one server, one connection per thread."""

    def __init__(self, host: str, port: int, timeout: float = 120.0):
        self.host, self.port, self.timeout = host, port, timeout
        self._local = threading.local()

    def _request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
        for attempt in (0, 1):  # a kept-alive connection the server closed is opened again, once
            conn = getattr(self._local, "conn", None) or http.client.HTTPConnection(self.host, self.port,
                                                                                    timeout=self.timeout)
            self._local.conn = conn
            try:
                conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
                response = conn.getresponse()
                return response.status, json.loads(response.read() or b"{}")
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                conn.close()
                self._local.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def post(self, body: dict) -> tuple[int, dict]:
        return self._request("POST", "/api/search", json.dumps(body).encode("utf-8"))

    def status(self) -> dict:
        code, answer = self._request("GET", "/api/status")
        if code != 200:
            raise RuntimeError(f"GET /api/status answered HTTP {code}")
        return answer


class Clients:
    """``n`` threads searching until stopped; each request's start, latency, status and answer checks are kept.

    ``removed_at[id]`` (when the server was seen serving a product's removal), ``prices[id]`` (each price with
    when it was seen served) and ``latest_price(id)`` (the price the shop set last) let a client tell a stale
    answer from a fresh one.
    """

    def __init__(self, http_: Http, n: int, stable: Sequence[str], latest_price, seed: int = 0):
        self.http, self.n, self.stable, self.latest_price = http_, n, sorted(stable), latest_price
        self.seed = seed
        self.stop = threading.Event()
        self.records: list[tuple] = []      # (start, seconds, status, filter violations, stale hits)
        self.problems: list[str] = []
        self.removed_at: dict[str, float] = {}
        self.prices: dict[str, list[tuple[float, float]]] = {}
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def join(self) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(timeout=300)

    def _loop(self, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        while not self.stop.is_set():
            spec = rng.choice(FILTERS)
            body = {"text": rng.choice(TEXTS), "k": 10, **({"filters": spec} if spec else {})}
            if rng.random() < 0.5:
                body["reference_id"] = rng.choice(self.stable)
            start = time.monotonic()
            try:
                code, answer = self.http.post(body)
            except Exception as e:  # noqa: BLE001 - a request with no answer is a failure to count, not a crash
                code, answer = 0, {"error": {"message": f"{type(e).__name__}: {e}"}}
            seconds = time.monotonic() - start
            violations, stale = self._check(answer, body, start) if code == 200 else (0, 0)
            if code != 200 and len(self.problems) < 20:
                self.problems.append(f"HTTP {code}: {answer.get('error', {}).get('message')} ({body})")
            self.records.append((start, seconds, code, violations, stale))

    def _check(self, answer: dict, body: dict, start: float) -> tuple[int, int]:
        violations = stale = 0
        spec = body.get("filters") or {}
        for hit in answer.get("hits", []):
            image_id, product = hit["image_id"], hit.get("product") or {}
            violations += not passes(product, spec)
            problem = None
            if self.removed_at.get(image_id, float("inf")) < start:
                problem = f"{image_id} returned after its removal was served"
            history = self.prices.get(image_id)
            if history:
                seen = [i for i, (at, _) in enumerate(history) if at < start]
                # The last price served when the request started, or a later one: the change being published
                # now may be served before this script has seen it served (its price is the shop's already).
                allowed = {price for _, price in history[seen[-1]:]} | {self.latest_price(image_id)} if seen else None
                if allowed is not None and product.get("price") not in allowed:
                    problem = f"{image_id} at {product.get('price')}, after {sorted(allowed)} was served"
            if problem is not None:
                stale += 1
                if len(self.problems) < 20:
                    self.problems.append(f"stale answer: {problem} ({body})")
        return violations, stale


def wait_served(http_: Http, version: int, timeout: float = SERVED_WAIT_S) -> float | None:
    """Seconds until ``GET /api/status`` reports ``version`` (or a later one); None if it did not in time."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if http_.status()["index"]["version"] >= version:
            return time.monotonic() - start
        time.sleep(0.05)
    return None


def run(shop: Shop, http_: Http, updates: int, clients: int, warmup_s: float = 10.0, seed: int = 0,
        progress=None) -> dict:
    """Search with ``clients`` threads while ``updates`` changes are published; then the checks of the result."""
    searchers = Clients(http_, clients, shop.stable, lambda i: shop.rows.get(i, {}).get("price"), seed)
    searchers.start()
    time.sleep(warmup_s)
    changes_start = time.monotonic()
    changes = []
    for n in range(updates):
        kind = CYCLE[n % len(CYCLE)]
        started = time.monotonic()
        entry = shop.apply(kind)
        entry["publish_s"] = time.monotonic() - started
        entry["reload_lag_s"] = wait_served(http_, entry["version"])
        seen = time.monotonic()
        for image_id in entry.get("removed", []):
            searchers.removed_at[image_id] = seen
        for image_id in entry.get("repriced", []) + entry.get("new_rows", []):
            searchers.prices.setdefault(image_id, []).append((seen, shop.rows[image_id]["price"]))
        changes.append(entry)
        if progress is not None:
            progress(f"change {n + 1}/{updates}: {kind}, version {entry['version']}, published in "
                     f"{entry['publish_s']:.2f} s, served after {entry['reload_lag_s']} s")
    changes_end = time.monotonic()
    searchers.join()
    checks = verify(shop, http_.post, http_.status, list(TEXTS))
    return {"updates": updates, "clients": clients, "warmup_s": warmup_s,
            "requests": summary(searchers.records, changes_start, changes_end),
            "request_problems": searchers.problems, "changes": changes, "change_summary": change_summary(changes),
            "changes_s": changes_end - changes_start, "after_last_change": checks}


def summary(records: list[tuple], start: float, end: float) -> dict:
    """Counts and latency percentiles of the requests sent while the changes were made (and of all of them)."""
    def stats(rows):
        ms = np.array([r[1] for r in rows]) * 1000 if rows else np.zeros(1)
        return {"requests": len(rows), "failed": sum(r[2] != 200 for r in rows),
                "filter_violations": sum(r[3] for r in rows), "stale_hits": sum(r[4] for r in rows),
                "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)),
                "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max())}

    during = [r for r in records if start <= r[0] <= end]
    return {"during_changes": {**stats(during), "per_s": len(during) / max(end - start, 1e-9)},
            "all": stats(records)}


def change_summary(changes: list[dict]) -> dict:
    lags = [c["reload_lag_s"] for c in changes if c["reload_lag_s"] is not None]
    kinds: dict[str, int] = {}
    for c in changes:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    return {"kinds": kinds, "not_served_in_time": sum(c["reload_lag_s"] is None for c in changes),
            "publish_s_median": float(np.median([c["publish_s"] for c in changes])) if changes else 0.0,
            "reload_lag_s_median": float(np.median(lags)) if lags else None,
            "reload_lag_s_max": float(max(lags)) if lags else None}


def prepare(args) -> tuple[Shop, Path]:
    """A fresh copy of the source index with the shop fields attached, and thumbnails made ahead."""
    from cti_ir.index.cli import main as index_main
    from cti_ir.index.layout import read_index_info
    from cti_ir.index.products import read_products
    from cti_ir.serve.thumbnails import ThumbnailCache

    source, work = Path(args.source_index), Path(args.work)
    if not (source / "index_info.json").exists() or not Path(args.products_file).is_file():
        raise FileNotFoundError(f"{source} or {args.products_file} is missing: run `python -m "
                                f"benchmarks.catalogue.bench_filters` first, or pass --source-index and "
                                f"--products-file")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(source, work / "index", symlinks=True)
    if index_main(["products", "--index", str(work / "index"), "--file", args.products_file]) != 0:
        raise RuntimeError("attaching the products file failed")
    info = read_index_info(work / "index")
    checkpoint = Path(info["source"]["checkpoint"])
    shop = Shop(work / "index", work, checkpoint, read_products(args.products_file).rows, seed=args.seed)
    made = ThumbnailCache(args.thumbnail_dir).warm(it["path"] for it in shop.items.values())
    print(f"[live] {len(shop.items):,} products at version {shop.version}; {made} thumbnails made",
          file=sys.stderr, flush=True)
    return shop, checkpoint


def start_server(args, shop: Shop, checkpoint: Path, port: int) -> subprocess.Popen:
    """``python app.py`` on the index copy, in its own process (it inherits this one's CPU priority)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    log = open(Path(args.work) / "server.log", "w", encoding="utf-8")  # noqa: SIM115 - the server writes it
    return subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), "--index", str(shop.index), "--checkpoint",
                             str(checkpoint), "--port", str(port), "--thumbnail-dir", args.thumbnail_dir,
                             "--threads", str(args.threads), "--concurrency", str(args.clients)],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_up(http_: Http, server: subprocess.Popen, timeout: float = 900.0) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"the server stopped with status {server.returncode}; see its log")
        try:
            http_.status()
            return
        except (OSError, RuntimeError, http.client.HTTPException):
            time.sleep(1.0)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def tables(result: dict) -> str:
    r, c, a = result["requests"]["during_changes"], result["change_summary"], result["after_last_change"]
    kinds = ", ".join(f"{n} {k}" for k, n in c["kinds"].items())
    lines = [f"Live updates over HTTP: {result['products_start']:,} products at the start, {result['updates']} "
             f"changes ({kinds}) published while {result['clients']} JSON clients searched; server "
             f"`python app.py` with {result['threads']} thread(s).", "",
             "| requests during the changes | failed | per s | p50 ms | p95 ms | p99 ms | max ms | answers off their "
             "filter | stale hits |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
             f"| {r['requests']:,} | {r['failed']} | {r['per_s']:.1f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | "
             f"{r['p99_ms']:.0f} | {r['max_ms']:.0f} | {r['filter_violations']} | {r['stale_hits']} |", "",
             "| changes | not served within 120 s | publish s (median) | reload lag s (median / max) |",
             "|---:|---:|---:|---|",
             f"| {result['updates']} | {c['not_served_in_time']} | {c['publish_s_median']:.2f} | "
             f"{c['reload_lag_s_median'] or 0:.2f} / {c['reload_lag_s_max'] or 0:.2f} |", "",
             f"After the last change: served version {a['served_version']} (expected {a['expected_version']}), "
             f"{a['served_products']:,} products (expected {a['expected_products']:,}); {a['hits_checked']:,} hits of "
             f"{len(TEXTS) * len(FILTERS)} searches checked; changed products found at their new price "
             f"{a['changed_products_found_with_new_price']}/{a['changed_products']}; removed products absent "
             f"{a['removed_products_absent']}/{a['removed_products']}; re-embedded photos found first "
             f"{a['new_photos_found_first']}/{a['new_photos']}; problems: {a['problem_count']}."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.updates < 1 or args.clients < 1 or args.threads < 1 or args.warmup_s < 0:
        return error("--updates, --clients and --threads must be at least 1, --warmup-s at least 0")
    if not 0 <= args.port <= 65535:
        return error(f"--port must be between 0 and 65535, got {args.port}")
    shop, checkpoint = prepare(args)
    port = args.port or _free_port()
    server = start_server(args, shop, checkpoint, port)
    try:
        http_ = Http("127.0.0.1", port)
        wait_up(http_, server)
        products_start = len(shop.items)
        result = run(shop, http_, args.updates, args.clients, args.warmup_s, args.seed,
                     progress=lambda m: print(f"[live] {m}", file=sys.stderr, flush=True))
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
    log = (Path(args.work) / "server.log").read_text(encoding="utf-8", errors="replace")
    result.update(products_start=products_start, threads=args.threads, server_log_errors=log.count("Traceback"),
                  cpu_count=os.cpu_count(), load_average_end=os.getloadavg())
    write_report(Path(args.out), result, tables)
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    sys.exit(main())
