"""How the search page bends Gradio to its rules: every input reaches our handler, every error is our sentence.

Gradio checks some inputs itself before the handler runs: a slider refuses a value outside its range, a dropdown
one outside its choices, an image a payload that is not a file. Its refusals are its own words ("Value: hats is
not in the list of choices: [...]", or, for a type error, only "The upstream Gradio app has raised an exception"),
and each one writes a traceback to the server log. The page's rule is the JSON API's: the handler parses, the
engine validates and raises ``QueryError`` naming the parameter, and the user reads our own sentence. So:

- :func:`raw_input` makes a component hand the raw value to the handler (which checks it like the JSON API does);
- :func:`upload_image` gives the handler the uploaded file's path, decoded later by ``cti_ir.model.images``;
- :func:`report_unreadable_inputs` turns what Gradio still refuses before any component sees it (a non-file
  ``image``, a URL it cannot fetch, a server path that is not an upload) into a one-line log entry and a
  ``gr.Error`` with our message, without a traceback.

Also here: Markdown escaping for the status area, and :func:`launch`, which serves the page, the catalogue's
folders, the thumbnails and the JSON API's routes on one server.

Overrides are set on instances, not subclasses: a subclass of a Gradio component or of ``gr.Blocks`` makes Gradio's
metaclass write ``.pyi`` stubs at import time.
"""

from __future__ import annotations

import logging
import os
import re
import urllib.parse
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads it at import

import gradio as gr  # noqa: E402

log = logging.getLogger("cti_ir.app")

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


def _override_preprocess(component, preprocess):
    # Remembered under a name of ours: report_unreadable_inputs puts it back on the per-session copies Gradio makes.
    component.preprocess = component._cti_ir_preprocess = preprocess
    return component


def raw_input(component):
    """``component`` hands its raw payload to the handler: no range, choice or type check of Gradio's own."""
    return _override_preprocess(component, lambda payload: payload)


def upload_image(**kwargs) -> gr.Image:
    """``gr.Image(type="filepath")`` that hands the handler the uploaded file's path without opening it.

    Gradio's own preprocessing opens the upload with PIL; a file that is not an image (or a decompression bomb)
    then fails inside Gradio with a generic error before our handler runs. Here the handler gets the path and
    validates it with ``cti_ir.model.images.load_image``, which reports a clear reason in the status area. Gradio has
    already checked that the path is an upload of this server (or a file it served), so no other file can be read.
    """
    component = gr.Image(type="filepath", **kwargs)
    gradio_preprocess = component.preprocess

    def preprocess(payload):
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        return gradio_preprocess(payload)

    return _override_preprocess(component, preprocess)


def _image_payload_message(value) -> str:
    if isinstance(value, dict):
        source = str(value.get("url") or value.get("path") or "")
        if source.startswith(("http://", "https://")):
            return (f"The image could not be fetched from {source[:200]}; the server may have no internet access. "
                    f"Upload the file instead (in Python: gradio_client.handle_file(path)).")
        if source:
            return (f"The image {source[:200]} is not a file uploaded to this server. Upload the file (in Python: "
                    f"gradio_client.handle_file(path)).")
    return (f"The image must be an uploaded image file (in Python: gradio_client.handle_file(path)), or nothing "
            f"for a text-only search; got a {type(value).__name__}.")


def report_unreadable_inputs(demo: gr.Blocks, image: gr.components.Component) -> gr.Blocks:
    """Failures of Gradio's own input processing become our message, logged as one line (see the module doc).

    Every other input of the page hands its raw value to the handler (:func:`raw_input`), so a failure here is
    about ``image``: the only input whose payload Gradio validates, fetches or checks against its upload folder.

    Also, before each event: when a handler updates a component's properties (``gr.update(...)``), Gradio rebuilds
    that component for the session from its constructor arguments, and the rebuilt copy has Gradio's own
    ``preprocess`` again; ours is put back on it here, so the rules hold for the whole session.
    """
    gradio_preprocess_data = demo.preprocess_data

    async def preprocess_data(block_fn, inputs, state, *args, **kwargs):
        if state is not None:
            for block in block_fn.inputs:
                ours = getattr(block, "_cti_ir_preprocess", None)
                if ours is not None and block._id in state and state[block._id] is not block:
                    state[block._id].preprocess = ours
        try:
            return await gradio_preprocess_data(block_fn, inputs, state, *args, **kwargs)
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - whatever Gradio raised, the caller gets one sentence
            value = next((v for block, v in zip(block_fn.inputs, inputs) if block is image), None)
            message = _image_payload_message(value)
            log.info("request refused (image): %s [%s]", message, type(e).__name__)
            raise gr.Error(message, title="Cannot search", print_exception=False) from None

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


def catalogue_dirs(engine) -> list[str]:
    """The folders holding the indexed images: the only files the server may send besides its own."""
    parents = sorted({str(Path(it["path"]).parent) for it in engine.index.items})
    kept: list[str] = []
    for p in parents:  # sorted, so a folder comes before its sub-folders
        if not any(p == k or p.startswith(k.rstrip(os.sep) + os.sep) for k in kept):
            kept.append(p)
    return kept


def launch(demo: gr.Blocks, engine, host: str = "127.0.0.1", port: int | None = 7860,
           share: bool = False, queue_size: int = 64, max_upload_mb: float = 20, api=None, thumbnails=None,
           **kwargs):
    """Queue and launch ``demo``, serving the catalogue's image folders; returns Gradio's (app, url, share_url).

    ``api`` adds the JSON API's routes to the same server; ``thumbnails`` adds their folder to the files served.
    """
    allowed = catalogue_dirs(engine)
    if thumbnails is not None:
        thumbnails.folder.mkdir(parents=True, exist_ok=True)
        # First: Gradio checks a served file against the allowed folders in order, resolving each path.
        allowed.insert(0, str(thumbnails.folder))
        # Thumbnails never change (a new photo gets a new name), so Gradio may send them as they are: a result
        # page's ten files are then neither checked against every allowed folder, hashed nor copied into its
        # cache, which was half of the server's work per page search. (Gradio keeps this list per process.)
        gr.set_static_paths([thumbnails.folder])
    demo.queue(max_size=queue_size)
    # Routes given to the app's constructor come before Gradio's own, so /api/search is ours.
    app_kwargs = {"routes": api.routes()} if api is not None else None
    return demo.launch(server_name=host, server_port=port, share=share, allowed_paths=allowed,
                       max_file_size=int(max_upload_mb * 1024 * 1024), show_error=False, css=PAGE_CSS,
                       app_kwargs=app_kwargs, **kwargs)
