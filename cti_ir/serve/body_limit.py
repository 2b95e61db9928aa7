"""A ceiling on every request body the server reads, with or without a Content-Length.

A client may send a body in chunks without announcing its length (``Transfer-Encoding: chunked``); a handler that
reads "the body" then reads whatever arrives, gigabytes included. :class:`BodyLimit` wraps the server's ASGI app:
a request that announces more than the limit is refused at once, and one that sends more than it is cut off as
soon as it does, with HTTP 413 and our JSON error object (the app is told the client disconnected). The JSON API
bounds its own bodies more tightly (``cti_ir.serve.http_api``); this is the ceiling for every route, the web
framework's own included.
"""

from __future__ import annotations

import json


def too_large_response(limit: int) -> bytes:
    """Our JSON error object for a body over ``limit`` bytes."""
    message = (f"The request body is larger than {limit / 1024 / 1024:.3g} MB, the most this server accepts. "
               f"Send a smaller photo.")
    return json.dumps({"error": {"status": 413, "parameter": None, "message": message}}).encode()


class BodyLimit:
    """ASGI middleware: at most ``limit`` bytes of body per HTTP request (see the module doc)."""

    def __init__(self, app, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(send)
        received = 0
        started = refused = False

        async def limited_receive():
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Answer now, and tell the app the client has gone: it stops reading, and whatever it
                    # would answer (a framework's own 400) is dropped below.
                    refused = True
                    if not started:
                        await self._refuse(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not refused:  # the app's own failure: not ours to hide
                raise

    async def _refuse(self, send) -> None:
        body = too_large_response(self.limit)
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
