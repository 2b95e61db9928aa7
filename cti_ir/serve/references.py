"""The page's reference image: what a request sends for it, decoded once and kept for the searches that follow.

A shopper uploads a photo once and then searches with it several times (other texts, other categories, more like
this). The upload event decodes and checks the photo (a bad file is refused at once); the pixels the image encoder
takes are kept by file identity in the engine's upload cache, so later searches with the same file neither decode
nor resize it again, nor encode it. A catalogue product picked as the reference is kept the same way, under its
catalogue file.
"""

from __future__ import annotations

import base64
import binascii
import os

import torch
from PIL import Image

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, load_image_bytes
from cti_ir.serve.engine import QueryError
from cti_ir.serve.messages import describe_value


def reference_source(image, max_pixels: int = DEFAULT_MAX_PIXELS) -> str | Image.Image | None:
    """The reference a request names: a file path, a decoded image, or None for a text-only search.

    ``image`` is what the page's events receive (Gradio's file payload, a dict whose ``path`` Gradio has already
    checked is an upload of this server or a file it serves), or, for Python callers of the handlers, a path or
    a PIL image. A ``data:`` URL payload is decoded here, with the same checks as a file.
    """
    if image is None or (isinstance(image, str) and not image.strip()):
        return None
    if isinstance(image, Image.Image):
        if image.width * image.height > max_pixels:
            raise ImageLoadError("<image>", f"too many pixels ({image.width}x{image.height})")
        return image.convert("RGB")
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, dict):
        url = str(image.get("url") or "")
        if url.startswith("data:") and "," in url:
            try:
                data = base64.b64decode(url.split(",", 1)[1], validate=False)
            except (binascii.Error, ValueError):
                raise ImageLoadError("<image>", "not an image (unreadable data URL)") from None
            return load_image_bytes(data, name="<image>", max_pixels=max_pixels)
        if image.get("path"):
            return str(image["path"])
    raise QueryError(f"the image must be an uploaded image file, or nothing for a text-only search; got "
                     f"{describe_value(image)}", "image")


class ReferencePixels:
    """The image encoder's input for reference files, decoded once per file and kept in the engine's upload cache
    (``cti_ir.serve.upload_cache``: bounded, least recently used out), which then also keeps the file's vector.

    Keyed by the file's real path, size and modification time, so a replaced file is decoded again. Thread-safe;
    two requests that miss the same file at once both decode it, and the first result is kept.
    """

    def __init__(self, engine, max_pixels: int = DEFAULT_MAX_PIXELS):
        self.engine = engine
        self.max_pixels = max_pixels
        self.decoded = 0  # files decoded so far (the tests and benchmarks read it)

    def get(self, source: str | Image.Image) -> torch.Tensor:
        """The preprocessed pixels of a file (decoded now unless kept) or of a decoded image; raises
        ``ImageLoadError`` for a file that cannot be used."""
        return self.get_keyed(source)[0]

    def get_keyed(self, source: str | Image.Image) -> tuple[torch.Tensor, tuple | None]:
        """``(pixels, key)``: :meth:`get`'s pixels and the file's key in the engine's upload cache (pass it to
        ``prepare(upload_key=...)``: the photo is then encoded once); None for a decoded image or a file that
        cannot be looked at, which are not kept."""
        if isinstance(source, Image.Image):
            return self.engine.preprocess(source), None
        try:
            real = os.path.realpath(source)
            st = os.stat(real)
        except (OSError, ValueError):
            return self._decode(source), None  # our decoder says what is wrong with it
        key = ("file", real, st.st_size, st.st_mtime_ns)
        return self.engine.uploads.pixels(key, lambda: self._decode(real)), key

    def _decode(self, path: str) -> torch.Tensor:
        # Our own decoder, not the web framework's: it checks the pixel count in the header before decoding.
        pixels = self.engine.preprocess(load_image(path, max_pixels=self.max_pixels))
        self.decoded += 1
        return pixels
