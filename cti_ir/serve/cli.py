"""The command line of the search page: what `python app.py` runs.

    python app.py                                   # built-in demo: generated catalogue + demo model, cached
    python app.py --checkpoint runs/stage3/best --index index/   # your own model and catalogue index
    python app.py --help
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

# Light imports only: the flags are checked (and refused in a second) before torch, FAISS and Gradio load.
from cti_ir.model.backend_flags import add_backend_flags
from cti_ir.model.images import DEFAULT_MAX_PIXELS
from cti_ir.serve.api_server import MAX_WORKERS, configure_logging
from cti_ir.serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS
from cti_ir.serve.thumbnails import ThumbnailCache
from cti_ir.serve.upload_cache import DEFAULT_UPLOAD_CACHE_MB

# Prepares the built-in demo: (cache dir, checkpoint or None, size, progress) -> (checkpoint, index, info). The
# library cannot import the generator (``data_prep`` sits above it), so ``app.py`` passes it in.
DemoPreparer = Callable[..., tuple[Path, Path, dict]]


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python app.py``."""
    p = argparse.ArgumentParser(
        prog="python app.py",
        description="Serve the composed text+image fashion search page. With neither --checkpoint nor --index it "
                    "runs the built-in demo: it generates a catalogue, indexes it with the shipped demo model "
                    "(all cached, so only the first launch takes minutes) and serves it.")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint folder (cti-ir format) that encodes the queries. With --index: serve that "
                        "index. Alone: build the demo index with this checkpoint instead of the demo model")
    p.add_argument("--index", default=None,
                   help="index folder built with `python -m cti_ir.index build`; without --checkpoint, the "
                        "checkpoint recorded in its index_info.json is used")
    p.add_argument("--similar-index", action="append", default=[], metavar="INDEX",
                   help="repeatable: an index built with the same adapted checkpoint at another granularity "
                        "(`python -m cti_ir.index build --checkpoint ADAPTED --granularity G ...`) for \"More like "
                        "this\"; the page then offers a choice of granularity (the main index serves its own too)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860,
                   help="port to listen on, 1 to 65535 (default 7860); checked before anything is loaded")
    p.add_argument("--share", action="store_true",
                   help="also open a temporary public *.gradio.live link (off by default; needs internet)")
    p.add_argument("--cache-dir", default=None,
                   help="where the demo keeps its catalogue and index (default: $CTI_IR_CACHE, else "
                        "~/.cache/cti-ir/demo)")
    p.add_argument("--demo-size", choices=("small", "default"), default="default",
                   help="size of the generated demo catalogue: default (~17,900 products, a few minutes the first "
                        "time) or small (~1,600 products, seconds)")
    p.add_argument("--max-upload-mb", type=float, default=20,
                   help="largest upload accepted, in megabytes (default 20); images above "
                        f"{DEFAULT_MAX_PIXELS / 1e6:.0f} megapixels are refused whatever their file size")
    p.add_argument("--upload-cache-mb", type=float, default=DEFAULT_UPLOAD_CACHE_MB,
                   help=f"megabytes of recent reference photos kept, prepared and encoded, so that a photo sent "
                        f"again with a new text is not decoded or encoded again (default {DEFAULT_UPLOAD_CACHE_MB}, "
                        f"per worker; 0 keeps none)")
    p.add_argument("--concurrency", type=int, default=16,
                   help="gradio_client searches handled at the same time (default 16); they share the batches "
                        "below with the page and the JSON API, others wait in Gradio's queue")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help=f"most searches (page and JSON API together) answered in one encoder pass and one FAISS "
                        f"search (default {DEFAULT_MAX_BATCH})")
    p.add_argument("--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS,
                   help=f"how long a search may wait for others to share its batch, in milliseconds (default "
                        f"{DEFAULT_MAX_WAIT_MS:g}; only matters when traffic is light, 0 = never wait)")
    p.add_argument("--thumbnail-dir", default=None,
                   help="where result thumbnails are kept, a folder of their own: the server sends every file in "
                        "it, and no other catalogue file (default: $CTI_IR_CACHE/thumbnails, else "
                        "~/.cache/cti-ir/thumbnails). Missing thumbnails are made in the background at start")
    p.add_argument("--threads", type=int, default=1,
                   help="torch and FAISS threads per search (default 1: on a few cores, single queries are several "
                        "times faster with one thread than with threads competing; see benchmarks/README.md)")
    p.add_argument("--queue-size", type=int, default=64,
                   help="searches that may wait for the model (page, JSON API and gradio_client together) before "
                        "new ones are turned away with \"busy, try again\" (default 64)")
    p.add_argument("--read-requests", choices=("on", "off"), default="on",
                   help="on (default): a request the request reader understands fully goes to the model in one "
                        "canonical wording, and the answer's notes say what was read (docs/results/phrasing.md)")
    p.add_argument("--api-only", action="store_true",
                   help="serve the JSON API alone, without the page (what a shop's own site calls); with --workers "
                        "it uses several cores (cti_ir/serve/api_server.py)")
    p.add_argument("--workers", type=int, default=1,
                   help="with --api-only: worker processes answering the JSON API, each with its own model and "
                        "batcher (default 1; one per core is a good start: one process uses about one core)")
    p.add_argument("--shared-socket", action="store_true",
                   help="with --workers: let the workers accept from one shared socket (uvicorn's supervisor) "
                        "instead of handing each new connection to the worker holding the fewest; for comparison, "
                        "and used anyway where processes cannot pass connections (not Unix)")
    add_backend_flags(p, "--backend", "--model-backend")
    return p


def resolve_model_and_index(args: argparse.Namespace, prepare_demo: DemoPreparer | None = None) -> tuple[Path, Path]:
    """The (checkpoint, index) to serve: the ones given, or the demo's (built or loaded from the cache)."""
    if args.index:
        if args.checkpoint:
            return Path(args.checkpoint), Path(args.index)
        from cti_ir.index.catalogue_index import read_index_info

        recorded = read_index_info(args.index).get("source", {}).get("checkpoint")
        if not recorded:
            raise ValueError(f"{args.index}/index_info.json does not record its checkpoint; pass --checkpoint")
        return Path(recorded), Path(args.index)
    if prepare_demo is None:
        raise ValueError("no built-in demo here: pass --index (and --checkpoint), or run `python app.py`")
    checkpoint, index, _ = prepare_demo(args.cache_dir, checkpoint=args.checkpoint, size=args.demo_size,
                                        progress=lambda m: print(m, flush=True))
    return checkpoint, index


def listen_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on ``host:port`` (a sentence naming the flag to change), or None.

    Checked before the model and index load, which can take minutes: a taken port is reported at once.
    """
    if not 1 <= port <= 65535:
        return f"--port must be between 1 and 65535, got {port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        return (f"--host {host!r} is not an address this machine can listen on; use 127.0.0.1 (this machine "
                f"only) or 0.0.0.0 (the network)")
    with socket.socket(family, kind, proto) as probe:
        # As the server will: a port whose last connections are still closing (TIME_WAIT) is free to use.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return (f"port {port} on {host} is already in use (another server, perhaps an earlier "
                        f"`python app.py`); stop it, or choose another port with --port")
            if e.errno == errno.EACCES:
                return f"port {port} needs administrator rights; choose one above 1023 with --port"
            if e.errno == errno.EADDRNOTAVAIL:
                return (f"--host {host} is not an address of this machine; use 127.0.0.1 (this machine only) or "
                        f"0.0.0.0 (the network)")
            return f"cannot listen on {host}:{port} ({e.strerror or e}); choose another --host or --port"
    return None


def _flag_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the flags, checked before anything is loaded (None: nothing)."""
    if args.concurrency < 1 or args.queue_size < 1 or args.max_batch < 1 or args.threads < 1:
        return "--concurrency, --queue-size, --max-batch and --threads must be at least 1"
    if not 1 <= args.workers <= MAX_WORKERS:
        return f"--workers must be between 1 and {MAX_WORKERS}, got {args.workers}"
    if args.workers > 1 and not args.api_only:
        return ("--workers needs --api-only: the page keeps its shoppers' sessions in one process; serve the JSON "
                "API alone with `python app.py --api-only --workers N`")
    if args.api_only and args.share:
        return "--share makes a public link to the page, which --api-only does not serve; leave one of them out"
    if not args.max_upload_mb > 0 or args.max_upload_mb > 1024:
        return f"--max-upload-mb must be more than 0 and at most 1024, got {args.max_upload_mb:g}"
    if not 0 <= args.upload_cache_mb <= 65536:
        return f"--upload-cache-mb must be between 0 and 65536, got {args.upload_cache_mb:g}"
    if not 0 <= args.max_wait_ms <= 1000:
        return f"--max-wait-ms must be between 0 and 1000, got {args.max_wait_ms:g}"
    foreign = ThumbnailCache(args.thumbnail_dir).foreign_entries()
    if foreign:
        return (f"the thumbnail folder {ThumbnailCache(args.thumbnail_dir).folder} holds other files "
                f"({', '.join(foreign)}); the server sends every file in it, so give --thumbnail-dir a folder of "
                f"its own")
    return listen_problem(args.host, args.port)


def main(argv: Sequence[str] | None = None, prepare_demo: DemoPreparer | None = None) -> int:
    """Command-line entry point; serves until interrupted. Returns the exit status.

    ``prepare_demo`` builds (or loads from its cache) the demo catalogue and index when neither --index nor
    --checkpoint is given; ``app.py`` passes the generator's."""
    args = build_parser().parse_args(argv)
    problem = _flag_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    import faiss  # settings made here in the entry point and nowhere at import
    import torch

    from cti_ir.serve.engine import SearchEngine
    from cti_ir.serve.gradio_io import launch
    from cti_ir.serve.http_api import API_PATH
    from cti_ir.serve.server import create_server, warm_thumbnails

    torch.set_num_threads(args.threads)  # process-wide
    faiss.omp_set_num_threads(args.threads)  # this thread only (OpenMP): the engine sets it where it searches
    # Warnings only: the libraries below log a line per HTTP request at INFO level. Ours log each refused query
    # as one INFO line (what was wrong), and tracebacks only for our own bugs.
    configure_logging()
    from cti_ir.model.checkpoint import CheckpointError

    try:
        checkpoint, index = resolve_model_and_index(args, prepare_demo)
        start = time.perf_counter()
        print(f"loading model {checkpoint} and index {index}", flush=True)
        engine = SearchEngine(checkpoint, index, similar_indexes=args.similar_index, backend=args.model_backend,
                              onnx_dir=args.onnx_dir, read_requests=args.read_requests == "on",
                              threads=args.threads, upload_cache_mb=args.upload_cache_mb)
        print(f"loaded {len(engine.index)} products in {time.perf_counter() - start:.1f} s (model on "
              f"{engine.model.describe_backend()}); starting the server", flush=True)
    except (CheckpointError, ValueError, OSError, RuntimeError) as e:  # OSError: missing folders, full disk
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.api_only:
        return serve_api_only(args, checkpoint, index, engine)
    server = create_server(engine, concurrency=args.concurrency, max_batch=args.max_batch,
                           max_wait_ms=args.max_wait_ms, thumbnail_dir=args.thumbnail_dir,
                           max_upload_mb=args.max_upload_mb, max_pending=args.queue_size)
    try:
        # quiet: Gradio's own start-up lines tell users to edit launch(); ours name our flags instead.
        _, url, share_url = launch(server.demo, engine, host=args.host, port=args.port, share=args.share,
                                   queue_size=args.queue_size, max_upload_mb=args.max_upload_mb, api=server.api,
                                   thumbnails=server.thumbnails, quiet=True, prevent_thread_lock=True)
    except (OSError, ValueError) as e:  # the port was taken while the model loaded; a thumbnail folder in use
        problem = listen_problem(args.host, args.port) if isinstance(e, OSError) else str(e)
        print(f"error: {problem or f'cannot start the server on {args.host}:{args.port}'}", file=sys.stderr)
        server.batcher.close()
        return 2
    warm_thumbnails(engine, server.thumbnails, progress=lambda m: print(m, flush=True))
    where = "this machine only; --host 0.0.0.0 serves the network" if args.host in ("127.0.0.1", "localhost") \
        else f"listening on {args.host}"
    print(f"search page: {url} ({where})", flush=True)
    print(f"JSON API:    {url.rstrip('/')}{API_PATH} (POST; see the README for curl examples)", flush=True)
    if share_url:
        print(f"public link: {share_url} (temporary, from --share)", flush=True)
    elif not args.share:
        print("for a temporary public link, restart with --share (needs internet access)", flush=True)
    print("press Ctrl+C to stop", flush=True)
    try:
        server.demo.block_thread()
    finally:
        server.batcher.close()
    return 0


def serve_api_only(args: argparse.Namespace, checkpoint: Path, index: Path, engine) -> int:
    """``--api-only``: the JSON API alone, in this process or in ``--workers`` processes, until interrupted."""
    import threading

    from cti_ir.serve.api_server import ApiServerSettings, announce_when_ready, serve
    from cti_ir.serve.catalogue_api import STATUS_PATH
    from cti_ir.serve.http_api import API_PATH
    from cti_ir.serve.server import warm_thumbnails

    settings = ApiServerSettings(
        checkpoint=str(checkpoint), index=str(index), similar_indexes=list(args.similar_index),
        backend=args.model_backend, onnx_dir=args.onnx_dir, read_requests=args.read_requests == "on",
        threads=args.threads, max_batch=args.max_batch, max_wait_ms=args.max_wait_ms, queue_size=args.queue_size,
        max_upload_mb=args.max_upload_mb, thumbnail_dir=args.thumbnail_dir, upload_cache_mb=args.upload_cache_mb)
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    where = "this machine only; --host 0.0.0.0 serves the network" if args.host in ("127.0.0.1", "localhost") \
        else f"listening on {args.host}"
    processes = "this process" if args.workers == 1 else f"{args.workers} worker processes"
    stop = threading.Event()
    announce_when_ready(base + STATUS_PATH, f"JSON API:    {base}{API_PATH} ({where}; {processes}; see the README "
                                            f"for curl examples)\npress Ctrl+C to stop", stop)
    # Thumbnails are made here, in the supervising process, when the workers are separate processes.
    warm_thumbnails(engine, ThumbnailCache(args.thumbnail_dir), stop=stop, progress=lambda m: print(m, flush=True))
    try:
        serve(settings, args.host, args.port, args.workers, engine=engine if args.workers == 1 else None,
              shared_socket=args.shared_socket)
    except OSError as e:  # the port is taken, or the host is not this machine's
        print(f"error: could not listen on {args.host}:{args.port} ({e.strerror or e}); choose another --port or "
              f"stop the server using it", file=sys.stderr)
        return 2
    except RuntimeError as e:  # a worker process could not start (its own message came first)
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
