"""The JSON search API, ``POST /api/search``: composed search for shops that call us from their own code.

Served by ``python app.py`` on the page's own server and port (the routes are handed to the web framework, see
``app.launch``), so one process, one model and one batcher serve both. A request is either
``multipart/form-data`` (what ``curl -F`` and HTML forms send) or a JSON object::

    curl -s http://127.0.0.1:7860/api/search -F image=@dress.jpg -F text="is red and has long sleeves" -F k=5
    curl -s http://127.0.0.1:7860/api/search -H 'Content-Type: application/json' \\
         -d '{"text": "a red dress with long sleeves", "k": 5, "category": "dress"}'

Fields (all optional, but an image or a text must be given):

- ``image``: the reference photo, a file upload (JSON: ``image_base64``, the file's bytes in base64);
- ``text``: how the wanted product differs from the photo;
- ``k``: how many results, a whole number from 1 to 200 (default 10);
- ``category``: only products of this catalogue category; left out, the reference's own category (or the one the
  words ask for), ``"all"`` for every category;
- ``history`` and ``reference_id``: a turn of a shopping session (``cti_ir.serve.session_api``);
- ``image_weight``: a number from 0 to 1 that replaces the composer's predicted image weight (the text gets the
  rest); leave it out to let the composer decide per query.

The answer is ``{"mode", "image_weight", "text_weight", "text", "notes", "took_ms", "hits": [{"rank", "image_id",
"score", "categories", "description", "image_url", "thumbnail_url"}], "category", "turn"}`` (plus ``"session"``
in a session); ``image_url`` is
``GET /api/image/<image_id>``, which sends an indexed product's photo (and no other file). A request that cannot
be answered gets ``{"error": {"status", "parameter", "message"}}`` with HTTP 400 (bad input: ``parameter`` names
the field), 404 (no such product), 413 (body too large, however it is sent: the body is read up to the limit and
no further), 415 (another content type), 405 (another method) or 503 (too many searches waiting: try again);
anything else is our bug: HTTP 500 with a short message, and the traceback goes to the server log only. Expected
mistakes are logged as one line at INFO level.

A photo of at most ``INLINE_PIXELS`` (and a search without a photo) is decoded and prepared on the event loop, and
its batch awaited as a future: under load that costs less CPU than handing every request to a worker thread; a
larger photo is decoded in a worker thread, so that it never holds up the other connections.

The handler only parses and formats: the engine checks the query (``SearchEngine.prepare`` raises ``QueryError``
naming the parameter) and ``cti_ir.model.images`` checks the photo.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import re
import time
import urllib.parse
from contextlib import contextmanager, nullcontext
from typing import Any, Callable

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image_bytes, pixel_count
from cti_ir.serve.batching import ServerBusy
from cti_ir.serve.catalogue_api import FILTER_FIELDS, filters_of, product_of, status_route
from cti_ir.serve.messages import image_error_message, query_error_message
from cti_ir.serve.session_api import SESSION_FIELDS, category_of, history_of, reference_of, session_answer
from cti_ir.serve.engine import QueryError, SearchResult, parse_image_weight

log = logging.getLogger("cti_ir.api")

API_PATH = "/api/search"
IMAGE_PATH = "/api/image"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]  # all of them get our answer, 405 included
ENVELOPE_BYTES = 64 * 1024  # form boundaries and the other fields, on top of the image
FIELDS = ("image", "text", "k", "category", "image_weight") + FILTER_FIELDS + SESSION_FIELDS
JSON_FIELDS = ("image_base64", "text", "k", "category", "image_weight") + FILTER_FIELDS + SESSION_FIELDS
DEFAULT_K = 10
# Photos up to this size are decoded and prepared on the event loop itself (about a millisecond for a shop-sized
# photo; a worker thread costs more than that in hand-overs and contention for the interpreter); larger ones go to
# a worker thread, so that a 40-megapixel upload never holds up the other connections.
INLINE_PIXELS = 1_000_000


class ApiError(Exception):
    """A request we refuse, with its HTTP status and the field at fault (None when it is the whole request)."""

    def __init__(self, status: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter

    def payload(self) -> dict:
        return {"error": {"status": self.status, "parameter": self.parameter, "message": self.message}}


class SearchApi:
    """The request handler of ``POST /api/search`` over anything with the ``SearchEngine.search`` signature.

    ``searcher`` is an engine or a ``cti_ir.serve.batching.SearchBatcher``; ``file_url(path)`` turns a catalogue file
    into the URL the server serves it at (None: no URLs in the answer); ``thumbnails`` (a
    ``cti_ir.serve.thumbnails.ThumbnailCache``) adds a small image per hit.
    """

    def __init__(self, searcher, max_upload_bytes: int = 20 * 1024 * 1024, max_pixels: int = DEFAULT_MAX_PIXELS,
                 file_url: Callable[[str], str] | None = None, thumbnails=None):
        self.searcher = searcher
        self.max_upload_bytes = max_upload_bytes
        self.max_pixels = max_pixels
        self.file_url = file_url
        self.thumbnails = thumbnails

    def routes(self) -> list:
        """Starlette routes to hand to a FastAPI/Starlette app (``routes=`` or ``app.router.routes``)."""
        from starlette.routing import Route

        return [Route(API_PATH, self.endpoint, methods=METHODS, name="cti_ir_api_search"),
                Route(IMAGE_PATH + "/{image_id:path}", self.image_endpoint, methods=METHODS, name="cti_ir_api_image"),
                status_route(lambda: getattr(self.searcher, "engine", self.searcher),  # GET /api/status
                             lambda: getattr(self.searcher, "stats", None))]

    def app(self):
        """A FastAPI app serving only the JSON API (tests; serving it without the page)."""
        from fastapi import FastAPI

        return FastAPI(routes=self.routes(), docs_url=None, redoc_url=None, openapi_url=None)

    # ------------------------------------------------------------------------------------------------ handler
    async def endpoint(self, request):
        from starlette.concurrency import run_in_threadpool
        from starlette.responses import JSONResponse

        started = time.perf_counter()
        try:
            if request.method != "POST":
                raise ApiError(405, f"Send the search as a POST request to {API_PATH}, not {request.method} (see "
                                    f"the README for the fields).")
            fields, image_bytes, image_field = await self._read_request(request)
            if self._answers_inline(image_bytes):
                answer = await self._answer_inline(fields, image_bytes, image_field)
            else:
                # Decoding, encoding and searching block: in a worker thread, so the server keeps accepting requests.
                answer = await run_in_threadpool(self._answer, fields, image_bytes, image_field)
        except ApiError as e:
            return self._refused(request, e)
        except Exception:  # noqa: BLE001 - our bug: the details go to the log, never to the caller
            log.exception("%s %s failed", request.method, API_PATH)
            return JSONResponse(ApiError(500, "The search failed because of an error on the server; the details "
                                              "are in the server log.").payload(), status_code=500)
        answer["took_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return JSONResponse(answer)

    def _refused(self, request, e: ApiError):
        from starlette.responses import JSONResponse

        log.info("%s %s refused (%d%s): %s", request.method, request.url.path[:200], e.status,
                 f", {e.parameter}" if e.parameter else "", e.message)
        headers = {"Allow": "POST" if request.url.path == API_PATH else "GET, HEAD"} if e.status == 405 else None
        return JSONResponse(e.payload(), status_code=e.status, headers=headers)

    async def _read_request(self, request) -> tuple[dict[str, Any], bytes | None, str]:
        """The fields, the image's bytes (None: no image) and the image's field name, the body read up to the
        limit of its type and no further (a chunked body announces no length)."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            # base64 makes the photo a third larger
            return self._json_fields(await self._body(request, self.max_upload_bytes * 4 // 3 + ENVELOPE_BYTES))
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            body = await self._body(request, self.max_upload_bytes + ENVELOPE_BYTES)
            return await self._form_fields(request, body)
        raise ApiError(415, "Send the search as multipart/form-data (curl -F image=@photo.jpg -F text=...) or as "
                            f"application/json, not {content_type or 'a body without a Content-Type'}.")

    async def _body(self, request, limit: int) -> bytes:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise ApiError(413, self._too_large())
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:  # stop reading: the rest of a huge body is never taken in
                raise ApiError(413, self._too_large())
            chunks.append(chunk)
        return b"".join(chunks)

    async def _form_fields(self, request, body: bytes) -> tuple[dict[str, Any], bytes | None, str]:
        from starlette.requests import Request

        async def replay():  # the body, already read within the limit, for Starlette's form parser
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=2, max_fields=len(FIELDS) + 2)
        except Exception:  # noqa: BLE001 - Starlette's parser raises several types for malformed bodies
            raise ApiError(400, "The request body is not valid form data; send the fields with curl -F or an "
                                "HTML form.") from None
        try:
            unknown = sorted(set(form.keys()) - set(FIELDS))
            if unknown:
                raise ApiError(400, f"Unknown field {', '.join(unknown)}; the fields are {', '.join(FIELDS)}.",
                               unknown[0])
            fields: dict[str, Any] = {}
            for name in FIELDS[1:]:
                values = form.getlist(name)
                if len(values) > 1:
                    raise ApiError(400, f"The field {name} was sent {len(values)} times; send it once.", name)
                if values:
                    if not isinstance(values[0], str):
                        raise ApiError(400, f"The field {name} must be a plain value, not a file.", name)
                    fields[name] = values[0]
            images = form.getlist("image")
            if len(images) > 1:
                raise ApiError(400, "Send one reference image, not several.", "image")
            image_bytes = None
            if images:
                image = images[0]
                if isinstance(image, str):
                    if image.strip():
                        raise ApiError(400, "The image must be a file upload (curl -F image=@photo.jpg), not "
                                            "text.", "image")
                else:
                    image_bytes = await image.read()
                    if not image_bytes and not image.filename:
                        image_bytes = None  # an HTML form's file input left empty: no image, as with curl
            return fields, image_bytes, "image"
        finally:
            await form.close()

    def _json_fields(self, body: bytes) -> tuple[dict[str, Any], bytes | None, str]:
        try:
            data = json.loads(body)
        except RecursionError:  # Python's parser recurses once per level: 5,000 nested brackets exhaust it
            raise ApiError(400, "The request body is nested too deeply; send one flat JSON object of the search "
                                "fields.") from None
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object with the search fields.")
        unknown = sorted(set(data) - set(JSON_FIELDS))
        if unknown:
            raise ApiError(400, f"Unknown field {_short(', '.join(unknown))}; the fields are "
                                f"{', '.join(JSON_FIELDS)}.", _short(unknown[0]))
        image_bytes = None
        encoded = data.pop("image_base64", None)
        if encoded is not None:
            image_bytes = self._decode_base64(encoded)
        for name, what in (("text", "a string"), ("category", "a string")):
            value = data.get(name)
            if value is not None and not isinstance(value, str):
                raise ApiError(400, f"{name} must be {what}, got {_json_value(value)}.", name)
        for name, what in (("k", "a whole number between 1 and 200"), ("image_weight", "a number between 0 and 1")):
            value = data.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
                raise ApiError(400, f"{name} must be {what}, got {_json_value(value)}.", name)
        return data, image_bytes, "image_base64"

    def _decode_base64(self, encoded: Any) -> bytes:
        if not isinstance(encoded, str):
            raise ApiError(400, f"image_base64 must be a string: the photo file's bytes in base64, got "
                                f"{_json_value(encoded)}.", "image_base64")
        if encoded.lstrip()[:5].lower() == "data:":
            raise ApiError(400, "image_base64 must be the photo file's bytes in base64 alone: drop the data URL "
                                "prefix (data:image/jpeg;base64, up to and including the comma).", "image_base64")
        try:  # line breaks, as `base64` writes every 76 characters, are fine; anything else is not base64
            return base64.b64decode(re.sub(r"\s+", "", encoded), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "image_base64 is not valid base64; encode the photo file's bytes in base64.",
                           "image_base64") from None

    def _too_large(self) -> str:
        return f"The upload is larger than {self.max_upload_bytes / 1024 / 1024:.3g} MB. Send a smaller photo."

    # ------------------------------------------------------------------------------------------------- search
    def _answer(self, fields: dict[str, Any], image_bytes: bytes | None, image_field: str = "image") -> dict:
        # The batcher's worker waits for this query while its photo is decoded and it is prepared, and no longer.
        arriving = getattr(self.searcher, "arriving", None)
        with arriving() if arriving is not None else nullcontext():
            return self._search(fields, image_bytes, image_field)

    def _answers_inline(self, image_bytes: bytes | None) -> bool:
        """Whether this request is decoded and prepared on the event loop: only with a searcher that answers
        without blocking (the batcher's futures), and only for a photo of at most :data:`INLINE_PIXELS`."""
        if not hasattr(self.searcher, "submit_future"):
            return False
        if image_bytes is None:
            return True
        pixels = pixel_count(image_bytes)
        return pixels is not None and pixels <= INLINE_PIXELS

    async def _answer_inline(self, fields: dict[str, Any], image_bytes: bytes | None, image_field: str) -> dict:
        """Decode and prepare here, queue the query, and wait for its batch without blocking the event loop."""
        with self.searcher.arriving():
            pixels, key = self._upload(image_bytes, image_field)
            with _query_errors():
                common, pixels, reference_id, history = self._query_fields(fields, pixels)
                future = self.searcher.submit_future(self.searcher.engine.prepare(
                    text=fields.get("text"), pixels=pixels, upload_key=key, reference_id=reference_id,
                    session=history, **common))
        with _query_errors():
            result = await asyncio.wrap_future(future)
        return self._answer_of(result, common, reference_id, history)

    def _search(self, fields: dict[str, Any], image_bytes: bytes | None, image_field: str) -> dict:
        pixels, key = self._upload(image_bytes, image_field)
        with _query_errors():
            common, pixels, reference_id, history = self._query_fields(fields, pixels)
            # A catalogue reference: the index's stored vector (no decoding, no encoding) where the index allows it.
            result = self.searcher.submit(self._engine.prepare(
                text=fields.get("text"), pixels=pixels, upload_key=key, reference_id=reference_id, session=history,
                **common))
        return self._answer_of(result, common, reference_id, history)

    @property
    def _engine(self):
        return getattr(self.searcher, "engine", self.searcher)

    def _upload(self, image_bytes: bytes | None, image_field: str) -> tuple[Any, Any]:
        """``(pixels, key)`` of the uploaded photo (``(None, None)``: no photo), decoded and prepared once while the
        engine keeps it (``cti_ir.serve.upload_cache``: a shopper sends one photo with each new text); an empty or
        broken file is refused as the page refuses it, not searched as text only."""
        if image_bytes is None:
            return None, None
        return self._engine.upload_pixels(image_bytes, lambda data: self._image(data, image_field))

    def _image(self, image_bytes: bytes, image_field: str):
        """The decoded upload; :class:`ApiError` (400) naming the field for a file that is not a usable photo."""
        try:
            return load_image_bytes(image_bytes, name=image_field, max_pixels=self.max_pixels)
        except ImageLoadError as e:
            raise ApiError(400, image_error_message(e, self.max_pixels), image_field) from None

    def _query_fields(self, fields: dict[str, Any], pixels) -> tuple[dict[str, Any], Any, str | None, list | None]:
        """``(the search's keyword arguments, the uploaded photo's pixels, the reference's catalogue id, the
        session's turns)``."""
        weights = None
        if fields.get("image_weight") not in (None, ""):
            weights = parse_image_weight(fields["image_weight"])
        k = fields.get("k")
        common = dict(k=DEFAULT_K if k in (None, "") else k, category=category_of(fields), weights=weights,
                      **({"filters": spec} if (spec := filters_of(fields)) else {}))
        reference_id = reference_of(self._engine, fields, pixels is not None)
        return common, pixels, reference_id, history_of(fields)  # history: a shopping session (session_api)

    def _answer_of(self, result: SearchResult, common: dict, reference_id: str | None, history) -> dict:
        return {**self.format(result, manual=common["weights"] is not None),
                **session_answer(result, reference_id, history is not None)}

    def format(self, result: SearchResult, manual: bool = False) -> dict:
        """The JSON answer for a search result."""
        hits = []
        for rank, h in enumerate(result.hits, 1):
            hit = {"rank": rank, "image_id": h.image_id, "score": round(h.score, 6), "categories": h.categories,
                   "description": h.description, "product": product_of(h)}
            if self.file_url is not None:
                hit["image_url"] = image_url(h.image_id)
                thumb = self.thumbnails.path_for(h.path) if self.thumbnails is not None else None
                hit["thumbnail_url"] = self.file_url(thumb) if thumb else None
            hits.append(hit)
        return {"mode": result.mode, "image_weight": round(result.image_weight, 6),
                "text_weight": round(result.text_weight, 6),
                "weights_source": "manual" if manual and result.mode == "composed" else (
                    "composer" if result.mode == "composed" else "single modality"),
                "text": result.text, "notes": result.notes, "hits": hits}

    # ------------------------------------------------------------------------------------------ product photos
    async def image_endpoint(self, request):
        """``GET /api/image/<image_id>``: an indexed product's photo; nothing else on disk is reachable here."""
        from starlette.responses import FileResponse

        try:
            if request.method not in ("GET", "HEAD"):
                raise ApiError(405, f"Fetch a product photo with GET {IMAGE_PATH}/<image_id>, not {request.method}.")
            image_id = request.path_params["image_id"]
            engine = getattr(self.searcher, "engine", self.searcher)
            item = engine.item(image_id) if hasattr(engine, "item") else None
            if item is None:
                raise ApiError(404, f"There is no product {_short(image_id)!r} in the catalogue.", "image_id")
            if not os.path.isfile(item["path"]):
                raise ApiError(404, f"The photo of product {_short(image_id)!r} is no longer on the server.",
                               "image_id")
        except ApiError as e:
            return self._refused(request, e)
        return FileResponse(item["path"])


@contextmanager
def _query_errors():
    """The engine's and the batcher's refusals as our answers: a bad query is a 400 naming its field, a full queue
    a 503."""
    try:
        yield
    except QueryError as e:
        raise ApiError(400, query_error_message(e), e.parameter) from None
    except ServerBusy:
        raise ApiError(503, "The server is busy with other searches right now; try again in a moment.") from None


def image_url(image_id: str) -> str:
    """The URL path at which the server sends the photo of product ``image_id``."""
    return f"{IMAGE_PATH}/{urllib.parse.quote(image_id, safe='/')}"


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _json_value(value: Any) -> str:
    """A value as JSON writes it (``true``, ``[1, 2]``), cut short: messages quote what was sent."""
    return _short(json.dumps(value, ensure_ascii=False))
