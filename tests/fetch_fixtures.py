"""A local image host for the fetcher tests, and small Fashion-IQ folders to fetch for.

`ImageHost` is an ``http.server`` on 127.0.0.1 in a thread. Each URL path is given a behaviour: a good JPEG or PNG,
a 404, an HTML error page, an empty or truncated file, a connection dropped half-way, a request that never gets an
answer (until the test releases it), redirects, a redirect loop, a server that is busy once then answers, a 1x1 GIF
placeholder, a WebP. It counts the requests per path, so tests can check that nothing is downloaded twice.

The Fashion-IQ folders come from one of two sources of annotations: ``GENERATED`` (made here, in the published
formats, with Amazon-style ASINs and URLs, one URL with an escaped ``%2B`` and one image in two categories, as the
published files have), which every machine has, or ``PUBLISHED``, the first triplets of the real annotation files
and URL lists (tests using it are marked ``needs_real_benchmarks("fashioniq")``).
"""

from __future__ import annotations

import functools
import io
import json
import threading
import zlib
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from PIL import Image, ImageDraw

from tests.conftest import REAL_BENCHMARKS

FIQ_ANNOTATIONS = REAL_BENCHMARKS / "fashioniq"
GENERATED, PUBLISHED = "generated", "published"
CATEGORIES = ("dress", "shirt", "toptee")
SPLITS = ("train", "val", "test")


def product_image(key: str, fmt: str = "JPEG", size: tuple[int, int] = (48, 64)) -> bytes:
    """A small generated product photo, different for every key, encoded as ``fmt``."""
    seed = zlib.crc32(key.encode())
    colour = (seed & 255, (seed >> 8) & 255, (seed >> 16) & 255)
    img = Image.new("RGB", size, (250, 250, 250))
    d = ImageDraw.Draw(img)
    d.rectangle([size[0] // 5, size[1] // 6, size[0] * 4 // 5, size[1] * 5 // 6], fill=colour)
    d.ellipse([size[0] // 3, 2, size[0] * 2 // 3, size[1] // 4], fill=(colour[2], colour[0], colour[1]))
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


GIF_PIXEL = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")
HTML_PAGE = b"<!DOCTYPE html><html><head><title>404</title></head><body>Sorry, we couldn't find that page</body></html>"

#: Behaviours that end with a stored image, and those that end dead (with the words the reason must contain).
GOOD_KINDS = ("jpeg", "png", "redirect", "flaky")
DEAD_KINDS = {
    "404": "HTTP 404",
    "html": "a web page instead of an image",
    "html-as-jpeg": "a web page instead of an image",
    "empty": "empty response (0 bytes)",
    "truncated": "truncated or corrupt image data",
    "short": "connection closed after",
    "timeout": "no answer within the",
    "redirect-404": "HTTP 404",
    "loop": "too many redirects",
    "gif": "smaller than --min-side",
    "webp": "not JPEG or PNG",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when 8 workers (and their redirects) connect at once; a dropped
    # SYN is retried by the kernel after a second, which a short client timeout would report as a dead link.
    request_queue_size = 128


class ImageHost:
    """The server; ``routes`` maps a URL path to a behaviour, ``hits`` counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.release = threading.Event()      # ends "timeout" / "hang" requests
        self.hang_seen = threading.Event()    # set when a "hang" request arrives
        self.lock = threading.RLock()
        self._bodies: dict[tuple[str, str], bytes] = {}
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with host.lock:
                    host.hits[path] += 1
                    count = host.hits[path]
                host.serve(self, path, count)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "ImageHost":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def body_for(self, path: str, kind: Optional[str] = None) -> bytes:
        """The image bytes a good path serves (what must end up on disk, byte for byte)."""
        fmt = "PNG" if (kind or self.routes[path]) == "png" else "JPEG"
        with self.lock:  # made once per path: the handlers stay fast, so a short client timeout is not hit by load
            if (path, fmt) not in self._bodies:
                self._bodies[(path, fmt)] = product_image(path, fmt)
            return self._bodies[(path, fmt)]

    def serve(self, h: BaseHTTPRequestHandler, path: str, count: int) -> None:
        kind = self.routes.get(path, "404")
        if path.startswith("/hop/"):  # second leg of a redirect: the image of the original path
            path = path[4:]
            kind = self.routes.get(path, "404")
            kind = {"redirect": "jpeg", "redirect-404": "404"}.get(kind, kind)
        if kind == "hang":
            self.hang_seen.set()
            self.release.wait(20)
            kind = "jpeg"
        if kind == "flaky" and count == 1:
            return self._send(h, 503, b"busy", "text/plain", extra={"Retry-After": "0"})
        if kind in ("jpeg", "png", "flaky"):
            return self._send(h, 200, self.body_for(path, "png" if kind == "png" else "jpeg"),
                              "image/png" if kind == "png" else "image/jpeg")
        if kind in ("404",):
            return self._send(h, 404, HTML_PAGE, "text/html")
        if kind == "html":
            return self._send(h, 200, HTML_PAGE, "text/html; charset=utf-8")
        if kind == "html-as-jpeg":
            return self._send(h, 200, HTML_PAGE, "image/jpeg")
        if kind == "empty":
            return self._send(h, 200, b"", "image/jpeg")
        if kind == "truncated":
            full = product_image(path, size=(120, 160))
            return self._send(h, 200, full[: len(full) * 2 // 3], "image/jpeg")
        if kind == "short":
            full = self.body_for(path, "jpeg")
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", str(len(full)))
            h.end_headers()
            h.wfile.write(full[: len(full) // 2])
            h.wfile.flush()
            h.close_connection = True
            return None
        if kind == "timeout":
            self.release.wait(10)
            return None
        if kind in ("redirect", "redirect-404"):
            return self._send(h, 302, b"", "text/plain", extra={"Location": "/hop" + path})
        if kind == "loop":
            return self._send(h, 302, b"", "text/plain", extra={"Location": path})
        if kind == "gif":
            return self._send(h, 200, GIF_PIXEL, "image/gif")
        if kind == "webp":
            return self._send(h, 200, product_image(path, "WEBP"), "image/webp")
        raise AssertionError(f"unknown kind {kind}")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str, extra: Optional[dict] = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(body)


_CAPTIONS = ("is red", "has long sleeves", "is shorter and darker", " is more flowing", "", "Is a Black Dress!",
             "has a v-neck", "is lighter", "fits looser", "has stripes")


@functools.cache
def _generated() -> tuple[dict[tuple[str, str], list], dict[str, str]]:
    """Annotation files (name -> content) and ASIN -> URL, in the published formats, made up here.

    Per category and split: 6 triplets (test ones without a target, as published) and a split list of their images
    plus 4 others. The first image of shirt's val list is also in toptee's (the published lists share images).
    """
    files: dict[tuple[str, str], list] = {}
    urls: dict[str, str] = {}
    n = 0

    def new_asin() -> str:
        nonlocal n
        n += 1
        asin = f"B0{zlib.crc32(str(n).encode()):08X}"
        tail = f"{zlib.crc32(asin.encode()):08x}"
        image = f"{n % 9 + 1}{tail[:4]}{'%2B' if n == 2 else ''}{tail[4:]}L._SY445_.jpg"
        urls[asin] = f"http://ecx.images-amazon.com/images/I/{image}"
        return asin

    shared = None
    for cat in CATEGORIES:
        for split in SPLITS:
            trips, pool = [], []
            for i in range(6):
                row = {"candidate": new_asin(), "captions": [_CAPTIONS[n % 10], _CAPTIONS[(n + 3) % 10]]}
                if split != "test":
                    row = {"target": new_asin(), **row}
                trips.append(row)
            pool = [i for t in trips for i in (t.get("target"), t["candidate"]) if i] + [new_asin() for _ in range(4)]
            if (cat, split) == ("shirt", "val"):
                shared = pool[0]
            if (cat, split) == ("toptee", "val"):
                pool.insert(1, shared)
            files[("captions", f"cap.{cat}.{split}.json")] = trips
            files[("image_splits", f"split.{cat}.{split}.json")] = pool
    return files, urls


@functools.lru_cache(maxsize=1)
def _published_urls() -> dict[str, str]:
    """ASIN -> URL of the published lists (as they are: ``ASIN \\t URL``)."""
    urls = {}
    for cat in CATEGORIES:
        for line in (FIQ_ANNOTATIONS / "extra_from_yanbeic_VAL" / "image_url" / f"asin2url.{cat}.txt").open():
            fields = line.split()
            if len(fields) >= 2:
                urls.setdefault(fields[0], fields[-1])
    return urls


@functools.cache
def _published_json(folder: str, name: str) -> list:
    return json.loads((FIQ_ANNOTATIONS / folder / name).read_text())


def annotation_json(source: str, folder: str, name: str) -> list:
    """The content of ``folder/name`` (a caption file or a split list) of ``source``."""
    return _published_json(folder, name) if source == PUBLISHED else _generated()[0][(folder, name)]


def url_lines(source: str) -> dict[str, str]:
    """ASIN -> URL of ``source``'s lists."""
    return _published_urls() if source == PUBLISHED else _generated()[1]


def make_small_fashioniq(root: Path, per_split: dict[str, int], extra_pool: int = 2,
                         splits: tuple[str, ...] = SPLITS, source: str = GENERATED) -> Path:
    """A Fashion-IQ root with the first triplets of ``source``'s annotation files.

    Per category and split: the first ``per_split[split]`` triplets, and as the split list their images plus the
    first ``extra_pool`` other ASINs of the source's split list.
    """
    (root / "captions").mkdir(parents=True)
    (root / "image_splits").mkdir()
    for cat in CATEGORIES:
        for split in splits:
            trips = annotation_json(source, "captions", f"cap.{cat}.{split}.json")[: per_split[split]]
            real_pool = annotation_json(source, "image_splits", f"split.{cat}.{split}.json")
            used = list(dict.fromkeys(i for t in trips for i in (t["candidate"], t.get("target")) if i))
            others = [a for a in real_pool if a not in used][:extra_pool]
            (root / "captions" / f"cap.{cat}.{split}.json").write_text(json.dumps(trips))
            (root / "image_splits" / f"split.{cat}.{split}.json").write_text(json.dumps(used + others))
    return root


def write_url_lists(root: Path, host: ImageHost, kinds: dict[str, str], leave_out: tuple[str, ...] = (),
                    source: str = GENERATED) -> Path:
    """``root/image_url/asin2url.<cat>.txt`` in the published format, ``source``'s URLs moved to ``host`` (same path).

    ``kinds`` maps each ASIN to its behaviour; ASINs in ``leave_out`` get no line (a URL missing from the lists).
    """
    real = url_lines(source)
    folder = root / "image_url"
    folder.mkdir(parents=True, exist_ok=True)
    for cat in CATEGORIES:
        ids = set()
        for split in SPLITS:
            f = root / "image_splits" / f"split.{cat}.{split}.json"
            if f.is_file():
                ids.update(json.loads(f.read_text()))
            c = root / "captions" / f"cap.{cat}.{split}.json"
            if c.is_file():
                ids.update(i for t in json.loads(c.read_text()) for i in (t["candidate"], t.get("target")) if i)
        lines = []
        for asin in sorted(ids):
            if asin in leave_out:
                continue
            path = "/" + real[asin].split("/", 3)[3]          # /images/I/<id>._SY445_.jpg
            host.routes[path] = kinds[asin]
            lines.append(f"{asin} \t {host.base}{path}\n")
        (folder / f"asin2url.{cat}.txt").write_text("".join(lines))
    return folder


def url_path(lists: Path, asin: str) -> str:
    """The URL path the lists give ``asin``."""
    for f in lists.glob("asin2url.*.txt"):
        for line in f.read_text().splitlines():
            fields = line.split()
            if fields and fields[0] == asin:
                return "/" + fields[-1].split("/", 3)[3]
    raise KeyError(asin)
