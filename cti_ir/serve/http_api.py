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
- ``category``: only products of this catalogue category;
- ``image_weight``: a number from 0 to 1 that replaces the composer's predicted image weight (the text gets the
  rest); leave it out to let the composer decide per query.

The answer is ``{"mode", "image_weight", "text_weight", "text", "notes", "took_ms", "hits": [{"rank", "image_id",
"score", "categories", "description", "image_url", "thumbnail_url"}]}``. A request that cannot be answered gets
``{"error": {"status", "parameter", "message"}}`` with HTTP 400 (bad input: ``parameter`` names the field), 413
(upload too large), 415 (another content type) or 405 (not a POST); anything else is our bug: HTTP 500 with a short
message, and the traceback goes to the server log only. Expected mistakes are logged as one line at INFO level.

The handler only parses and formats: the engine checks the query (``SearchEngine.prepare`` raises ``QueryError``
naming the parameter) and ``cti_ir.model.images`` checks the photo.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any, Callable

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image_bytes
from cti_ir.serve.messages import image_error_message, query_error_message
from cti_ir.serve.engine import QueryError, SearchResult, parse_image_weight

log = logging.getLogger("cti_ir.api")

API_PATH = "/api/search"
FIELDS = ("image", "text", "k", "category", "image_weight")
JSON_FIELDS = ("image_base64", "text", "k", "category", "image_weight")
DEFAULT_K = 10


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

        return [Route(API_PATH, self.endpoint, methods=["GET", "POST"], name="cti_ir_api_search")]

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
                raise ApiError(405, f"Send the search as a POST request to {API_PATH} (see the README for the "
                                    f"fields).")
            fields, image_bytes = await self._read_request(request)
            # Decoding, encoding and searching block: in a worker thread, so the server keeps accepting requests.
            answer = await run_in_threadpool(self._answer, fields, image_bytes)
        except ApiError as e:
            log.info("%s %s refused (%d%s): %s", request.method, API_PATH, e.status,
                     f", {e.parameter}" if e.parameter else "", e.message)
            return JSONResponse(e.payload(), status_code=e.status)
        except Exception:  # noqa: BLE001 - our bug: the details go to the log, never to the caller
            log.exception("%s %s failed", request.method, API_PATH)
            return JSONResponse(ApiError(500, "The search failed because of an error on the server; the details "
                                              "are in the server log.").payload(), status_code=500)
        answer["took_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return JSONResponse(answer)

    async def _read_request(self, request) -> tuple[dict[str, Any], bytes | None]:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_upload_bytes + 64 * 1024:
            raise ApiError(413, self._too_large())
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return self._json_fields(await request.body())
        if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            return await self._form_fields(request)
        raise ApiError(415, "Send the search as multipart/form-data (curl -F image=@photo.jpg -F text=...) or as "
                            f"application/json, not {content_type or 'a body without a Content-Type'}.")

    async def _form_fields(self, request) -> tuple[dict[str, Any], bytes | None]:
        try:
            form = await request.form(max_files=2, max_fields=len(FIELDS) + 2)
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
                    image_bytes = await image.read(self.max_upload_bytes + 1)
                    if len(image_bytes) > self.max_upload_bytes:
                        raise ApiError(413, self._too_large(), "image")
            return fields, image_bytes
        finally:
            await form.close()

    def _json_fields(self, body: bytes) -> tuple[dict[str, Any], bytes | None]:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object with the search fields.")
        unknown = sorted(set(data) - set(JSON_FIELDS))
        if unknown:
            raise ApiError(400, f"Unknown field {', '.join(unknown)}; the fields are {', '.join(JSON_FIELDS)}.",
                           unknown[0])
        image_bytes = None
        encoded = data.pop("image_base64", None)
        if encoded is not None:
            if not isinstance(encoded, str):
                raise ApiError(400, "image_base64 must be a string: the photo file's bytes in base64.",
                               "image_base64")
            try:
                image_bytes = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise ApiError(400, "image_base64 is not valid base64; encode the photo file's bytes in base64.",
                               "image_base64") from None
            if len(image_bytes) > self.max_upload_bytes:
                raise ApiError(413, self._too_large(), "image_base64")
        text = data.get("text")
        if text is not None and not isinstance(text, str):
            raise ApiError(400, f"text must be a string, got {json.dumps(text)[:60]}.", "text")
        category = data.get("category")
        if category is not None and not isinstance(category, str):
            raise ApiError(400, f"category must be a string, got {json.dumps(category)[:60]}.", "category")
        return data, image_bytes

    def _too_large(self) -> str:
        return f"The upload is larger than {self.max_upload_bytes / 1024 / 1024:g} MB. Send a smaller photo."

    # ------------------------------------------------------------------------------------------------- search
    def _answer(self, fields: dict[str, Any], image_bytes: bytes | None) -> dict:
        image = None
        if image_bytes is not None and len(image_bytes) > 0:
            try:
                image = load_image_bytes(image_bytes, name="image", max_pixels=self.max_pixels)
            except ImageLoadError as e:
                raise ApiError(400, image_error_message(e, self.max_pixels), "image") from None
        try:
            weights = None
            if fields.get("image_weight") not in (None, ""):
                weights = parse_image_weight(fields["image_weight"])
            k = fields.get("k")
            result = self.searcher.search(image=image, text=fields.get("text"),
                                          k=DEFAULT_K if k in (None, "") else k,
                                          category=fields.get("category") or None, weights=weights)
        except QueryError as e:
            raise ApiError(400, query_error_message(e), e.parameter) from None
        return self.format(result, manual=weights is not None)

    def format(self, result: SearchResult, manual: bool = False) -> dict:
        """The JSON answer for a search result."""
        hits = []
        for rank, h in enumerate(result.hits, 1):
            hit = {"rank": rank, "image_id": h.image_id, "score": round(h.score, 6), "categories": h.categories,
                   "description": h.description}
            if self.file_url is not None:
                hit["image_url"] = self.file_url(h.path)
                thumb = self.thumbnails.path_for(h.path) if self.thumbnails is not None else None
                hit["thumbnail_url"] = self.file_url(thumb) if thumb else None
            hits.append(hit)
        return {"mode": result.mode, "image_weight": round(result.image_weight, 6),
                "text_weight": round(result.text_weight, 6),
                "weights_source": "manual" if manual and result.mode == "composed" else (
                    "composer" if result.mode == "composed" else "single modality"),
                "text": result.text, "notes": result.notes, "hits": hits}
