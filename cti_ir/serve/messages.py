"""Plain sentences for the mistakes a search user can make, shared by the web page and the JSON API.

Every message says what was wrong and what to do, in our own words: no library text ("could be decompression bomb
DOS attack"), no Markdown escapes, no Python reprs beyond the value the user sent.
"""

from __future__ import annotations

import re
from typing import Any

from cti_ir.model.images import ImageLoadError
from cti_ir.serve.engine import QueryError, brief_repr

SUPPORTED_FORMATS = "JPEG, PNG or WebP"


def _megapixels(pixels: float) -> str:
    mp = pixels / 1e6
    return f"{mp:.0f}" if mp >= 10 else f"{mp:.1f}"


def image_error_message(error: ImageLoadError, max_pixels: int) -> str:
    """What to tell the user about a reference photo that cannot be used (``error`` from ``cti_ir.model.images``)."""
    reason = error.reason
    limit = f"{_megapixels(max_pixels)} megapixels"
    if reason.startswith("too many pixels"):
        size = re.search(r"\((\d+)x(\d+)", reason)
        if size:  # our own check: the header's size
            w, h = int(size.group(1)), int(size.group(2))
            return (f"The photo is {w} × {h} pixels ({_megapixels(w * h)} megapixels), more than the {limit} "
                    f"accepted. Upload a smaller photo.")
        declared = re.search(r"\((\d+) pixels\)", reason)  # Pillow's own limit, which it reports in pixels
        if declared:
            return (f"The photo declares {_megapixels(int(declared.group(1)))} megapixels, more than the {limit} "
                    f"accepted. Upload a smaller photo.")
        return f"The photo has more than the {limit} accepted. Upload a smaller photo."
    if reason.startswith("not an image"):
        return f"The file is not an image that can be read. Upload a photo as {SUPPORTED_FORMATS}."
    if reason.startswith("empty data"):
        return f"The uploaded file is empty. Upload a photo as {SUPPORTED_FORMATS}."
    if reason.startswith(("file not found", "not a regular file", "cannot open file")):
        return "The uploaded photo is no longer on the server (uploads are kept for an hour). Upload it again."
    if reason.startswith(("truncated", "corrupt", "invalid image size")):
        return ("The photo is damaged or incomplete (perhaps cut short while downloading or copying), so it "
                "cannot be read. Upload it again or use another photo.")
    return f"The photo cannot be read. Upload a photo as {SUPPORTED_FORMATS}."


def query_error_message(error: QueryError) -> str:
    """The engine's reason as a sentence: capitalised (unless it starts with the parameter's name), with a full
    stop."""
    text = str(error).strip()
    if not (error.parameter and text.startswith(error.parameter + " ")):
        text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "?", "!")) else text + "."


def describe_value(value: Any) -> str:
    """What was sent, in words for a message: ``the number 5``, ``true``, ``a list``, ``the text 'abc'``.

    JSON's spelling for true, false and null: the page's API and the JSON API both travel as JSON.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"the number {brief_repr(value)}"
    if isinstance(value, str):
        return f"the text {brief_repr(value)}"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"
