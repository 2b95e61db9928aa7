"""Load test of the search page and the JSON API on loopback: latency percentiles and the server's CPU per request.

    python app.py --port 7860 &
    python -m benchmarks.speed.load_page --url http://127.0.0.1:7860/ --pid $! --clients 16 --duration 20
    python -m benchmarks.speed.load_page --serve --cache-dir /tmp/cti_demo --clients 16 --duration 20   # starts app.py
    python -m benchmarks.speed.load_page --serve --phases api --generator wrk --app-args --api-only --workers 2

A page request is what a browser sends when Search is pressed: ``POST /gradio_api/run/page_search`` for the page's
own search event (or, for an event on Gradio's queue, ``POST /gradio_api/queue/join`` and its event stream), with
the client's reference photo uploaded once per shopper session (``POST /gradio_api/upload`` and the page's upload
event, as the browser does); a session lasts ``--turns`` searches, then the client starts a new one, so histories
stay shopper-sized. A JSON API request is ``POST /api/search`` with the same photo (multipart) and text. Each client
is one thread on its own keep-alive connection. Every answer is checked (results found), and anything else counts as
failed. The server's CPU time comes from ``/proc/<pid>/stat`` before and after each phase: CPU milliseconds per
request, apart from the clients' own (which share the machine's cores); a server's worker processes count as its
own. ``--generator wrk`` loads the JSON API with wrk instead of Python threads (``benchmarks/speed/wrk_load.py``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Callable, Sequence

from benchmarks.speed.wrk_load import run_wrk, wrk_available
from cti_ir.files import write_json_atomic

REPO = Path(__file__).resolve().parents[2]
TEXTS = ("is red and has long sleeves", "is shorter and has no sleeves", "is blue rather than white with a v-neck",
         "has a floral print and is more casual", "are black with a higher heel", "have a shiny finish and no straps")


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def cpu_by_process(pid: int | None) -> dict[int, float] | None:
    """User + system CPU seconds of process ``pid`` and of each of its child processes (all their threads; the
    JSON API's worker processes with ``--api-only --workers N``), or None without /proc."""
    if pid is None:
        return None
    fields = _stat_fields(pid)
    if fields is None:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    seconds = {pid: (int(fields[11]) + int(fields[12])) / tick}
    for entry in Path("/proc").iterdir():
        child = _stat_fields(int(entry.name)) if entry.name.isdigit() and entry.name != str(pid) else None
        if child is not None and child[1] == str(pid):  # field 4 of stat, the parent's pid
            seconds[int(entry.name)] = (int(child[11]) + int(child[12])) / tick
    return seconds


def server_cpu(before: dict[int, float] | None, after: dict[int, float] | None, requests: int, pid: int) -> dict:
    """The server's CPU milliseconds per request over a phase and, with worker processes, each one's CPU seconds
    (an uneven split shows that the clients' connections landed unevenly on the workers)."""
    if before is None or after is None or not requests:
        return {}
    spent = {p: after[p] - before.get(p, 0.0) for p in after}
    result = {"server_cpu_ms_per_request": round(sum(spent.values()) * 1000 / requests, 1)}
    workers = sorted(round(s, 1) for p, s in spent.items() if p != pid and s > 0.05)
    if len(workers) > 1:
        result["worker_cpu_s"] = workers
    return result


class Connection:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, base: str):
        parts = urllib.parse.urlsplit(base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        try:
            self.conn.request(method, path, body=body, headers=headers or {})
            return self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # a fresh connection for the next try
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            raise

    def json(self, method: str, path: str, payload=None, body: bytes | None = None, headers: dict | None = None):
        if payload is not None:
            body, headers = json.dumps(payload).encode(), {"Content-Type": "application/json"}
        response = self.request(method, path, body, headers)
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status} from {path}: {data[:200]!r}")
        return json.loads(data)


def multipart(fields: dict[str, str], file_field: str, name: str, data: bytes) -> tuple[bytes, str]:
    boundary = "load-page-" + uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{name}"\r\n'
                 f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class PageClient:
    """A browser's requests: upload once per session, then Search presses through Gradio's queue."""

    def __init__(self, base: str, events: dict, photo: Path, turns: int, search_event: str = "page_search"):
        self.base, self.events, self.photo, self.turns = base, events, photo, turns
        self.search_event = search_event
        self.conn = Connection(base)
        self.searches = 0
        self.session = self.payload = None

    def _event(self, name: str, data: list) -> dict:
        fn_index, trigger, queued = self.events[name]
        body = {"data": data, "event_data": None, "fn_index": fn_index, "trigger_id": trigger,
                "session_hash": self.session}
        if not queued:  # an event that skips the queue: one request, one answer (as the browser sends it)
            return self.conn.json("POST", f"/gradio_api/run/{name}", body)
        joined = self.conn.json("POST", "/gradio_api/queue/join", body)
        response = self.conn.request("GET", f"/gradio_api/queue/data?session_hash={self.session}")
        done = None
        for line in response:  # server-sent events, one JSON object per "data:" line
            if line.startswith(b"data:"):
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == joined["event_id"]:
                    done = message
                if message.get("msg") == "close_stream":
                    break
        response.read()
        if done is None or not done.get("success"):
            raise RuntimeError(f"{name} failed: {str(done)[:300]}")
        return done["output"]

    def _new_session(self) -> None:
        self.session = uuid.uuid4().hex[:11]
        body, content_type = multipart({}, "files", self.photo.name, self.photo.read_bytes())
        path = self.conn.json("POST", f"/gradio_api/upload?upload_id={uuid.uuid4().hex[:11]}", body=body,
                              headers={"Content-Type": content_type})[0]
        self.payload = {"path": path, "url": f"{self.base.rstrip('/')}/gradio_api/file={path}",
                        "orig_name": self.photo.name, "size": self.photo.stat().st_size, "mime_type": "image/png",
                        "meta": {"_type": "gradio.FileData"}}
        self._event("reference_uploaded", [self.payload])

    def __call__(self, i: int) -> None:
        if self.session is None or self.searches % self.turns == 0:
            self._new_session()
        self.searches += 1
        output = self._event(self.search_event, [self.payload, TEXTS[i % len(TEXTS)], "All", 10, False, 0.5,
                                             None, None, None])
        status = output["data"][2]
        if "Found" not in str(status):
            raise RuntimeError(f"no results: {str(status)[:200]}")


class ApiClient:
    """``POST /api/search`` with a photo and a text."""

    def __init__(self, base: str, photo: Path):
        self.conn = Connection(base)
        self.photo = photo.read_bytes()

    def __call__(self, i: int) -> None:
        body, content_type = multipart({"text": TEXTS[i % len(TEXTS)], "k": "10"}, "image", "photo.png", self.photo)
        answer = self.conn.json("POST", "/api/search", body=body, headers={"Content-Type": content_type})
        if not answer.get("hits"):
            raise RuntimeError("no hits")


def run_phase(name: str, make_client: Callable[[], Callable[[int], None]], clients: int, duration: float,
              pid: int | None) -> dict:
    """``clients`` threads sending requests for ``duration`` seconds; latency, throughput, failures, server CPU."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    start_barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def loop(n: int) -> None:
        client = make_client()
        start_barrier.wait()
        i = n * 1000
        while time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            try:
                client(i)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(f"{type(e).__name__}: {e}"[:200])
            else:
                with lock:
                    latencies.append(time.perf_counter() - t)
            i += 1

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    cpu0, wall0 = cpu_by_process(pid), time.perf_counter()
    stop_at[0] = wall0 + duration
    start_barrier.wait()
    for t in threads:
        t.join()
    wall, cpu1 = time.perf_counter() - wall0, cpu_by_process(pid)
    done = len(latencies)
    result = {"phase": name, "clients": clients, "duration_s": round(wall, 1), "requests": done,
              "failed": len(failures), "per_s": round(done / wall, 1),
              "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
              "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
              "max_ms": round(max(latencies, default=float("nan")) * 1000, 1)}
    result.update(server_cpu(cpu0, cpu1, done + len(failures), pid))
    if failures:
        result["first_failures"] = failures[:3]
    return result


def wrk_phase(url: str, photo: Path, args, pid: int | None) -> dict:
    """The JSON API phase driven by wrk (``benchmarks/speed/wrk_load.py``), with the server's CPU per request."""
    endpoint = url.rstrip("/") + "/api/search"
    if args.warmup > 0:
        run_wrk(endpoint, TEXTS, photo, args.clients, args.warmup)
    cpu0 = cpu_by_process(pid)
    result = {"phase": "api", "generator": "wrk", "clients": args.clients,
              **run_wrk(endpoint, TEXTS, photo, args.clients, args.duration)}
    result.update(server_cpu(cpu0, cpu_by_process(pid), result["requests"] + result["failed"], pid))
    return result


def page_events(base: str) -> dict:
    """``{api_name: (fn_index, trigger id, queued)}`` of the page's events, from its config."""
    config = Connection(base).json("GET", "/config")
    return {d["api_name"]: (d["id"], d["targets"][0][0] if d.get("targets") else None, d.get("queue") is not False)
            for d in config["dependencies"] if d.get("api_name")}


def start_server(args) -> tuple[subprocess.Popen, str]:
    port = args.port
    command = [sys.executable, str(REPO / "app.py"), "--port", str(port), *args.app_args]
    if args.cache_dir:
        command += ["--cache-dir", args.cache_dir]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
    deadline = time.time() + args.startup_timeout
    for line in proc.stdout:
        print(f"[app] {line.rstrip()}", file=sys.stderr)
        if line.startswith(("search page:", "JSON API:")):  # the page's server, or --api-only's
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # keep draining
            return proc, f"http://127.0.0.1:{port}/"
        if time.time() > deadline:
            break
    proc.terminate()
    raise SystemExit(f"error: the app did not start (exit status {proc.poll()}); see its output above")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.load_page", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--url", default=None, help="a running server (else --serve starts one)")
    p.add_argument("--pid", type=int, default=None, help="the running server's process id, for its CPU time")
    p.add_argument("--serve", action="store_true", help="start `python app.py` on --port and stop it at the end")
    p.add_argument("--port", type=int, default=7861, help="port for --serve")
    p.add_argument("--cache-dir", default=None, help="--cache-dir of the started app (its demo)")
    p.add_argument("--app-args", nargs=argparse.REMAINDER, default=[], help="more flags for the started app (last)")
    p.add_argument("--startup-timeout", type=float, default=900.0, help="seconds to wait for the started app")
    p.add_argument("--photo", default=None, help="the reference photo (default: the first picker product's)")
    p.add_argument("--clients", type=int, default=16, help="concurrent clients, one thread each")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of each phase")
    p.add_argument("--rounds", type=int, default=1,
                   help="measure each phase this many times on the same server (each with new connections)")
    p.add_argument("--turns", type=int, default=10, help="page searches per shopper session")
    p.add_argument("--phases", nargs="+", choices=["page", "api"], default=["page", "api"], help="what to load")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before each measured phase")
    p.add_argument("--search-event", default="page_search",
                   help="the page's event for the Search button (its api_name; \"search\" before the page and "
                        "gradio_client had endpoints of their own)")
    p.add_argument("--generator", choices=["python", "wrk"], default="python",
                   help="what loads the JSON API: Python client threads, or wrk (a C load generator, Debian package "
                        "wrk; its clients cost the shared cores a few percent instead of a large share)")
    p.add_argument("--out", default=None,
                   help="write the results as JSON here too (its folder is made; rewritten after every round)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.url and not args.serve:
        print("error: give --url of a running server (and --pid for its CPU), or --serve", file=sys.stderr)
        return 2
    if args.generator == "wrk" and not wrk_available():
        print("error: --generator wrk needs the wrk program (Debian: apt-get install wrk); or use --generator "
              "python", file=sys.stderr)
        return 2
    proc = None
    try:
        if args.serve:
            proc, url = start_server(args)
            pid = proc.pid
        else:
            url, pid = args.url if args.url.endswith("/") else args.url + "/", args.pid
        events = page_events(url) if "page" in args.phases else {}
        photo = Path(args.photo) if args.photo else None
        if photo is None:  # a catalogue photo the server itself shows: the first result of a text search
            hit = Connection(url).json("POST", "/api/search", {"text": "a red dress", "k": 1})["hits"][0]
            response = Connection(url).request("GET", hit["image_url"])
            photo = Path(f"/tmp/load_page_{os.getpid()}.png")
            photo.write_bytes(response.read())
        makers = {"page": lambda: PageClient(url, events, photo, args.turns, args.search_event),
                  "api": lambda: ApiClient(url, photo)}
        results = []
        for round_number in range(1, args.rounds + 1):
            for phase in args.phases:
                if phase == "api" and args.generator == "wrk":
                    result = wrk_phase(url, photo, args, pid)
                else:
                    if args.warmup > 0:
                        run_phase(phase, makers[phase], args.clients, args.warmup, None)
                    result = run_phase(phase, makers[phase], args.clients, args.duration, pid)
                result = {"round": round_number, **result}
                print(json.dumps(result), flush=True)
                results.append(result)
                if args.out:  # after every round, so that an interrupted run keeps the rounds it measured
                    write_json_atomic(args.out, results)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
