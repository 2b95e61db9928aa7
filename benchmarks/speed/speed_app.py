"""Parts ``app`` and ``launch`` of ``python -m benchmarks.speed.bench_speed``: the app under concurrent clients,
and the seconds until ``python app.py`` answers.

app       p50/p95 latency of the app under N concurrent clients (default 16) on loopback for a fixed time: first
          the page's ``/search`` endpoint, each thread with its own ``gradio_client.Client``, then the JSON API
          (``POST /api/search``, multipart upload + text, each thread on its own keep-alive HTTP connection);
          every failed request is counted. ``--app-script`` measures another copy of the app (a baseline).
launch    Seconds from starting ``python app.py`` (no arguments: the built-in demo) until its page answers HTTP 200:
          once on an empty demo cache (generate the catalogue, index it) and then ``--launches`` more times on the
          filled cache. The cache lives in the work folder, so the user's own demo cache is never touched.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

from benchmarks.speed.common import MODIFICATIONS, percentiles, product_image, write_image_folder


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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



def reference_photos(workdir: Path, size: int, count: int = 8) -> list[str]:
    """The clients' reference photos: ``count`` generated product pictures written as JPEG files."""
    files = []
    for i in range(count):
        path = workdir / "app-queries" / f"reference-{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        product_image(20_000 + i, size).save(path, quality=90)
        files.append(str(path))
    return files


def small_index(args, checkpoint: Path, workdir: Path, log: Callable[[str], None]) -> Path:
    """An index of 300 generated images, for an app launched without an index to serve."""
    from cti_ir.index.catalogue import items_from_folder
    from cti_ir.index.catalogue_index import build_index
    from cti_ir.model.checkpoint import load_checkpoint

    log("[app] building a small index for the app (300 generated images)")
    folder = write_image_folder(workdir / "app-shop", 300, args.image_size, seed=args.seed)
    index = workdir / "app-index"
    build_index(load_checkpoint(checkpoint), items_from_folder(folder), index, overwrite=True,
                progress=False, source={"checkpoint": str(checkpoint.resolve())})
    return index


def launch_app(args, checkpoint: Path, index: Path, workdir: Path, log: Callable[[str], None]):
    """Start ``--app-script`` on a free loopback port; returns (process, its open log file, URL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, str(args.app_script), "--checkpoint", str(checkpoint), "--index", str(index),
           "--host", "127.0.0.1", "--port", str(port)] + list(args.app_args)
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1",
               CTI_IR_CACHE=str(workdir / "app-cache"))  # thumbnails in the work folder, not the user's cache
    app_log = open(workdir / "app.log", "w")  # noqa: SIM115 - closed by bench_app once the app is stopped
    log(f"[app] launching: {' '.join(cmd)}")
    proc = subprocess.Popen(cmd, cwd=str(Path(args.app_script).resolve().parent), env=env, stdout=app_log,
                            stderr=subprocess.STDOUT)
    return proc, app_log, url


def bench_app(args, checkpoint: Path, index: Path | None, workdir: Path, log: Callable[[str], None]) -> dict:
    """Latency of the app's page (``/search`` through gradio_client) and of its JSON API under concurrent
    clients on loopback, one after the other on the same launched app."""
    from gradio_client import Client, handle_file

    reference_files = reference_photos(workdir, args.query_image_size)
    proc, app_log = None, None
    url = args.url
    if not url:
        if index is None:
            index = small_index(args, checkpoint, workdir, log)
        proc, app_log, url = launch_app(args, checkpoint, index, workdir, log)
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


# -------------------------------------------------------------------------------------------------- part: launch
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


def markdown(results: dict[str, Any]) -> list[str]:
    """The app and launch parts' tables (from the whole results dict: the two parts sit side by side in it)."""
    lines: list[str] = []
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
    return lines
