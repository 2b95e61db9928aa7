"""The JSON API alone, without the page, in one or more worker processes: what a shop puts behind its own site.

    python app.py --api-only --workers 2 --checkpoint runs/stage3/best --index index/
    python app.py --api-only --workers 2          # the built-in demo's catalogue and model

Why worker processes: one Python process answers at most about one core's worth of requests, however many cores
the machine has. Request parsing, preprocessing, the batcher's bookkeeping and the answer's JSON hold Python's
global interpreter lock, and only the model's and FAISS's native code runs beside them; measured under 16 clients
on a 2-core machine, the page's server used 1.3 cores and its batcher thread spent more than half of its time
waiting for the lock (docs/results/speed.md). Several processes share the machine's cores the way one cannot.

How: a small supervisor (``cti_ir.serve.worker_pool``) listens, starts ``N`` worker processes and hands each new
connection to the worker holding the fewest (uvicorn's own supervisor, where workers share the listening socket,
let one worker take most connections opened at once); it starts a new worker when one dies. Each worker loads the
engine itself (:func:`app_from_environment`, given the settings in an environment variable, since the workers are
new interpreters): the model, its own batcher and the index, which is memory-mapped, so the workers share its pages
in the operating system's cache. The JSON API keeps no state between requests (a shopping session's history
travels with each request, ``cti_ir.serve.session_api``), so any worker may answer any request. The page, which
keeps its sessions in its process, is not served here: ``python app.py`` without ``--api-only`` serves both in one
process.

Besides the routes of :class:`~cti_ir.serve.http_api.SearchApi` (search, product photos, status), this server sends
the result thumbnails itself, at ``/api/thumbnails/...``, from the thumbnail folder only. Every request body is
bounded (``cti_ir.serve.body_limit``) as on the page's server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from cti_ir.model.images import DEFAULT_MAX_PIXELS
from cti_ir.serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS
from cti_ir.serve.upload_cache import DEFAULT_UPLOAD_CACHE_MB

CONFIG_ENV = "CTI_IR_API_SERVER"  # the settings handed to the worker processes, as JSON
THUMBNAIL_PATH = "/api/thumbnails"
MAX_WORKERS = 64

log = logging.getLogger("cti_ir.api")


@dataclass
class ApiServerSettings:
    """Everything a worker process needs to serve the JSON API the way the command line asked."""

    checkpoint: str
    index: str
    similar_indexes: list[str] = field(default_factory=list)
    backend: str = "torch"
    onnx_dir: str | None = None
    read_requests: bool = True
    threads: int = 1
    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    queue_size: int = 64
    max_upload_mb: float = 20
    max_pixels: int = DEFAULT_MAX_PIXELS
    thumbnail_dir: str | None = None
    upload_cache_mb: float = DEFAULT_UPLOAD_CACHE_MB

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ApiServerSettings:
        return cls(**json.loads(text))


def load_engine(settings: ApiServerSettings):
    """The search engine of ``settings``, with this process's torch and FAISS thread counts set."""
    import faiss
    import torch

    from cti_ir.serve.engine import SearchEngine

    torch.set_num_threads(settings.threads)
    faiss.omp_set_num_threads(settings.threads)  # this thread; the engine sets it in the thread that searches
    return SearchEngine(settings.checkpoint, settings.index, similar_indexes=settings.similar_indexes,
                        backend=settings.backend, onnx_dir=settings.onnx_dir, read_requests=settings.read_requests,
                        threads=settings.threads, upload_cache_mb=settings.upload_cache_mb)


def thumbnail_url(folder: Path) -> Callable[[str], str]:
    """``path -> URL`` for the files of the thumbnail ``folder`` as this server sends them."""
    def url(path: str) -> str:
        return THUMBNAIL_PATH + "/" + urllib.parse.quote(Path(path).relative_to(folder).as_posix())
    return url


def build_api_app(engine, settings: ApiServerSettings):
    """The JSON API over ``engine`` as an ASGI app (Starlette), with its batcher; the batcher closes on shutdown."""
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount
    from starlette.staticfiles import StaticFiles

    from cti_ir.serve.batching import SearchBatcher
    from cti_ir.serve.body_limit import BodyLimit
    from cti_ir.serve.gradio_io import ImmutableFiles
    from cti_ir.serve.http_api import ENVELOPE_BYTES, SearchApi
    from cti_ir.serve.thumbnails import ThumbnailCache

    batcher = SearchBatcher(engine, max_batch=settings.max_batch, max_wait_ms=settings.max_wait_ms,
                            max_pending=settings.queue_size)
    thumbnails = ThumbnailCache(settings.thumbnail_dir)
    thumbnails.folder.mkdir(parents=True, exist_ok=True)
    max_bytes = int(settings.max_upload_mb * 1024 * 1024)
    api = SearchApi(batcher, max_upload_bytes=max_bytes, max_pixels=settings.max_pixels,
                    file_url=thumbnail_url(thumbnails.folder), thumbnails=thumbnails)

    @asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    # StaticFiles sends files inside its folder only (a path that climbs out of it is a 404).
    routes = api.routes() + [Mount(THUMBNAIL_PATH, StaticFiles(directory=thumbnails.folder), name="thumbnails")]
    # The JSON API's own bound (a base64 photo plus the other fields) for every route: nothing else here reads more.
    middleware = [Middleware(BodyLimit, limit=max_bytes * 4 // 3 + ENVELOPE_BYTES),
                  Middleware(ImmutableFiles, prefix=THUMBNAIL_PATH)]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                    exception_handlers={404: _not_here, 405: _not_here})
    app.state.batcher, app.state.thumbnails = batcher, thumbnails
    return app


async def _not_here(request, exc):
    """Our JSON error for a path this server does not serve (the framework's would be a bare "Not Found")."""
    from starlette.responses import JSONResponse

    from cti_ir.serve.catalogue_api import STATUS_PATH
    from cti_ir.serve.http_api import API_PATH

    status = getattr(exc, "status_code", 404)
    if request.url.path.startswith(THUMBNAIL_PATH + "/"):
        message = ("No such thumbnail: use the thumbnail_url of a search result." if status == 404 else
                   f"Thumbnails are sent for GET requests, not {request.method}.")
    else:
        message = (f"This server answers the JSON API only: POST {API_PATH} to search, GET {STATUS_PATH} for what "
                   f"it serves (the page is served by `python app.py` without --api-only).")
    return JSONResponse({"error": {"status": status, "parameter": None, "message": message}}, status_code=status)


def configure_logging() -> None:
    """How the servers log (the page's and the API workers'): warnings from the libraries (not a line per
    request), our refusals as one INFO line each."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cti_ir").setLevel(logging.INFO)


def app_from_environment():
    """uvicorn's app factory in a worker process: the engine and the app from the settings in ``CTI_IR_API_SERVER``."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start the API with `python app.py --api-only`")
    configure_logging()
    settings = ApiServerSettings.from_json(text)
    started = time.perf_counter()
    engine = load_engine(settings)
    log.info("worker %d ready in %.1f s (%d products, model on %s)", os.getpid(), time.perf_counter() - started,
             len(engine.index), engine.model.describe_backend())
    return build_api_app(engine, settings)


def announce_when_ready(url: str, message: str, stop: threading.Event, timeout_s: float = 600.0) -> threading.Thread:
    """Print ``message`` once ``url`` answers (the workers load the engine after the socket is open)."""
    def run() -> None:
        deadline = time.monotonic() + timeout_s
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        print(message, flush=True)
                        return
            except OSError:
                pass
            stop.wait(0.25)

    thread = threading.Thread(target=run, name="announce", daemon=True)
    thread.start()
    return thread


def serve(settings: ApiServerSettings, host: str, port: int, workers: int, engine=None,
          shared_socket: bool = False) -> None:
    """Serve the JSON API on ``host:port`` until interrupted.

    ``workers`` 1 serves in this process (with ``engine`` when given, already loaded); more start that many worker
    processes, each loading its own engine, fed connections by :class:`~cti_ir.serve.worker_pool.WorkerPool`, or,
    with ``shared_socket`` (or where connections cannot be passed between processes), by uvicorn's supervisor.
    """
    import uvicorn

    if workers == 1:
        engine = engine if engine is not None else load_engine(settings)
        uvicorn.run(build_api_app(engine, settings), host=host, port=port, log_level="warning")
        return
    from cti_ir.serve.worker_pool import WorkerPool, fd_passing_available

    os.environ[CONFIG_ENV] = settings.to_json()  # inherited by the worker processes
    factory = f"{__name__}:app_from_environment"
    if fd_passing_available() and not shared_socket:  # each connection to the least busy worker
        WorkerPool(factory, host, port, workers).run()
    else:
        uvicorn.run(factory, factory=True, host=host, port=port, workers=workers, log_level="warning")
