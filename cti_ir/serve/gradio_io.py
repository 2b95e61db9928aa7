"""How the search page bends Gradio to its rules: every input reaches our handler, every error is our sentence.

Gradio checks some inputs itself before a handler runs: a slider refuses a value outside its range, a dropdown
one outside its choices, an image a payload that is not a file. Its refusals are its own words ("Value: hats is
not in the list of choices: [...]", or only "The upstream Gradio app has raised an exception") and each one writes
a traceback to the server log. The page's rule is the JSON API's: the handler parses, the engine validates and
raises ``QueryError`` naming the parameter, and the user reads our own sentence. So:

- every event of the page is registered with ``preprocess=False`` (Gradio's public switch): handlers get the raw
  values, and the image as Gradio's file payload, whose path Gradio has checked is an upload of this server or
  a file it serves (``cti_ir.serve.references`` decodes it with our own checks);
- :func:`report_unreadable_inputs` turns what Gradio still refuses before any handler runs (a non-file ``image``,
  a path that is not an upload) into a one-line log entry and a ``gr.Error`` with our message, and refuses an
  image URL before Gradio would fetch it. This is the one place that relies on a Gradio internal
  (``Blocks.preprocess_data``); it checks at start-up that the method is still what it wraps, and the tests pin
  the behaviour (``tests/test_serve_gradio.py``), so a Gradio upgrade that changes it fails loudly.

Also here: Markdown escaping for the status area, and :func:`launch`, which serves the page, the thumbnails (the
only catalogue images the server sends) and the JSON API's routes on one server, every request body bounded.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import urllib.parse

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads it at import

import gradio as gr  # noqa: E402

from cti_ir.serve.body_limit import BodyLimit  # noqa: E402
from cti_ir.serve.messages import describe_value  # noqa: E402

log = logging.getLogger("cti_ir.app")

#: The parameters of ``gradio.Blocks.preprocess_data`` that :func:`report_unreadable_inputs` wraps.
PREPROCESS_DATA_PARAMETERS = ("self", "block_fn", "inputs", "state", "explicit_call")
#: Request bodies above the largest upload by more than this are refused (form fields, JSON envelopes).
BODY_MARGIN_BYTES = 1024 * 1024

#: Result and picker captions: the product label and score on the first line, then the description, wrapped (three
#: lines, all of it on hover) instead of Gradio's one clipped line; the picker's captions span the thumbnail. The
#: picker shows no selection: the reference image and its label say what was picked, and a highlight that Gradio
#: keeps after an upload would point at a product that is no longer the reference.
PAGE_CSS = """
#results .caption-label, #catalogue-picker .caption-label {
  white-space: normal; max-width: 100%; left: 0; right: 0; bottom: 0; border-radius: 0; opacity: 0.92;
  display: -webkit-box; -webkit-box-orient: vertical; -webkit-line-clamp: 3; line-clamp: 3; overflow: hidden;
  line-height: 1.25;
}
#catalogue-picker .caption-label { -webkit-line-clamp: 1; line-clamp: 1; text-align: center; }
#results .thumbnail-lg:hover .caption-label { -webkit-line-clamp: unset; line-clamp: unset; opacity: 1; }
#picker-heading p { margin: 0; }
#catalogue-picker .thumbnail-item.selected { --ring-color: transparent; border-color: var(--border-color-primary); }
"""


def _is_url(path: str) -> bool:
    return path.lower().startswith(("http://", "https://", "ftp://", "//"))


def image_payload_problem(value) -> str | None:
    """Our sentence for an image payload refused before Gradio touches it (None: let Gradio check it).

    A file payload is a dict with a ``path``; a URL there would make Gradio download it from the server, which is
    not what a search needs and not what this server should do for strangers.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        return (f"The image must be an uploaded image file (in Python: gradio_client.handle_file(path)), or nothing "
                f"for a text-only search; got {describe_value(value)}.")
    path = str(value.get("path") or "")
    if _is_url(path):
        return (f"Image URLs are not accepted ({path[:200]}): this server does not fetch images from the web. "
                f"Download the photo and upload the file (in Python: gradio_client.handle_file(\"photo.jpg\") with "
                f"a local path).")
    return None


def _refused_payload_message(value) -> str:
    source = str(value.get("path") or value.get("url") or "") if isinstance(value, dict) else ""
    if source:
        return (f"The image {source[:200]} is not a file uploaded to this server. Upload the file (in Python: "
                f"gradio_client.handle_file(path)).")
    return (f"The image must be an uploaded image file (in Python: gradio_client.handle_file(path)), or nothing "
            f"for a text-only search; got {describe_value(value)}.")


def check_preprocess_data_hook() -> None:
    """Fail loudly, at start-up, if this Gradio no longer has the method :func:`report_unreadable_inputs` wraps."""
    method = getattr(gr.Blocks, "preprocess_data", None)
    params = tuple(inspect.signature(method).parameters) if callable(method) else ()
    if params != PREPROCESS_DATA_PARAMETERS or not inspect.iscoroutinefunction(method):
        raise RuntimeError(
            f"gradio {gr.__version__} changed Blocks.preprocess_data (parameters {params}, expected "
            f"{PREPROCESS_DATA_PARAMETERS}), which the page wraps to word the refusals of bad image payloads; "
            f"install the gradio version in pyproject.toml, or adapt cti_ir/serve/gradio_io.py")


def report_unreadable_inputs(demo: gr.Blocks, image: gr.components.Component) -> gr.Blocks:
    """Failures of Gradio's own input processing become our message, logged as one line (see the module doc).

    Every input of the page reaches its handler raw (``preprocess=False``), so what can still fail here is
    ``image``: the only input whose payload Gradio validates, or checks against its upload folder.
    """
    check_preprocess_data_hook()
    gradio_preprocess_data = demo.preprocess_data

    def refuse(message: str, why: str):
        log.info("request refused (image): %s [%s]", message, why)
        return gr.Error(message, title="Cannot search", print_exception=False)

    async def preprocess_data(block_fn, inputs, state, explicit_call=False):
        value = next((v for block, v in zip(block_fn.inputs, inputs) if block is image), None)
        problem = image_payload_problem(value)
        if problem is not None:
            raise refuse(problem, "payload")
        try:
            return await gradio_preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - whatever Gradio raised, the caller gets one sentence
            raise refuse(_refused_payload_message(value), type(e).__name__) from None

    demo.preprocess_data = preprocess_data
    return demo


def md_escape(text: str) -> str:
    """Escape text for a gr.Markdown so that user input (file names, categories, texts) renders literally.

    Only characters that would start a Markdown or HTML construct where they stand are escaped, so that API
    callers, who read the Markdown source, still get a readable message: ``max_pixels`` and ``42 > 40`` stay as
    they are, while ``_word_``, ``*``, ``[link]``, ``<tag>`` and a leading ``#`` or ``>`` are escaped.
    """
    text = re.sub(r"([\\`*\[\]~])", r"\\\1", str(text))
    text = re.sub(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])", r"\\_", text)  # intraword _ never emphasises
    text = re.sub(r"<(?=[A-Za-z/!?])", r"\\<", text)                     # only a tag's < starts HTML
    return re.sub(r"(?m)^(\s*)([>#+-])", r"\1\\\2", text)              # quote, heading, list at a line start


def md_code(text: str) -> str:
    """``text`` as a Markdown code span: product ids stay literal (``img_womens_boots_1.jpg``) and readable."""
    return "`" + str(text).replace("`", "'").replace("\n", " ") + "`"


def gradio_file_url(path: str) -> str:
    """The URL at which the server sends a file of an allowed folder (catalogue photos, thumbnails)."""
    return "/gradio_api/file=" + urllib.parse.quote(str(path), safe="/")


def request_origin(request) -> str | None:
    """Where the browser reached this server, ``scheme://host[:port]`` plus the app's root path (no trailing
    slash), from a ``gr.Request``; None without one (a handler called directly).

    A proxy's ``X-Forwarded-Host`` / ``X-Forwarded-Proto`` win over the request's own host and scheme, as in the
    URLs Gradio writes itself; the answer goes back only to the client that sent them.
    """
    http = getattr(request, "request", None)  # the Starlette request inside gr.Request
    if http is None:
        return None
    headers = http.headers

    def first(name: str) -> str | None:
        value = headers.get(name)
        return value.split(",")[0].strip() or None if value else None

    host = first("x-forwarded-host") or headers.get("host")
    if not host:
        return None
    scheme = first("x-forwarded-proto") or http.url.scheme
    return f"{scheme}://{host}{http.scope.get('root_path', '')}".rstrip("/")


def launch(demo: gr.Blocks, engine=None, host: str = "127.0.0.1", port: int | None = 7860,
           share: bool = False, queue_size: int = 64, max_upload_mb: float = 20, api=None, thumbnails=None,
           **kwargs):
    """Queue and launch ``demo``; returns Gradio's (app, url, share_url).

    The server sends no file of the catalogue's folders: only the thumbnail folder of ``thumbnails`` (a
    ``ThumbnailCache``: result thumbnails and the picked reference, see ``cti_ir.serve.thumbnails``) and what Gradio
    keeps itself (uploads). ``api`` (a ``SearchApi``) adds the JSON API's routes, which send a catalogue photo only
    by its product id. Every request body is bounded (``cti_ir.serve.body_limit``). ``engine`` is unused (kept so
    that earlier callers still work).
    """
    if thumbnails is not None:
        foreign = thumbnails.foreign_entries()
        if foreign:
            raise ValueError(f"the thumbnail folder {thumbnails.folder} holds other files ({', '.join(foreign)}); "
                             f"the server sends every file in it to whoever asks, so give it a folder of its own "
                             f"(--thumbnail-dir)")
        thumbnails.folder.mkdir(parents=True, exist_ok=True)
        # Static: thumbnails never change (a new photo gets a new name), so Gradio sends them as they are, without
        # copying and hashing each into its cache per page search. (Gradio keeps this list per process.)
        gr.set_static_paths([thumbnails.folder])
    demo.queue(max_size=queue_size)
    max_bytes = int(max_upload_mb * 1024 * 1024)
    middleware = [_middleware(BodyLimit, limit=max(max_bytes * 4 // 3, max_bytes) + BODY_MARGIN_BYTES)]
    if thumbnails is not None:
        middleware.append(_middleware(ImmutableFiles, prefix=gradio_file_url(str(thumbnails.folder))))
    app_kwargs = {"middleware": middleware}
    if api is not None:  # routes given to the app's constructor come before Gradio's own, so /api/... are ours
        app_kwargs["routes"] = api.routes()
    return demo.launch(server_name=host, server_port=port, share=share, allowed_paths=[],
                       max_file_size=max_bytes, show_error=False, css=PAGE_CSS, app_kwargs=app_kwargs, **kwargs)


class ImmutableFiles:
    """ASGI middleware: files sent under ``prefix`` may be kept by browsers for a year (``Cache-Control:
    immutable``). Thumbnails are named after their original's path, size and date, so a name never changes
    content; a shopper who sees a product again does not fetch its thumbnail again."""

    def __init__(self, app, prefix: str):
        self.app = app
        self.prefix = urllib.parse.unquote(prefix).rstrip("/") + "/"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope.get("path", "").startswith(self.prefix):
            return await self.app(scope, receive, send)

        async def send_with_header(message):
            if message["type"] == "http.response.start" and message.get("status") == 200:
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"cache-control", b"public, max-age=31536000, immutable")]}
            await send(message)

        await self.app(scope, receive, send_with_header)


def _middleware(cls, **options):
    from starlette.middleware import Middleware

    return Middleware(cls, **options)
