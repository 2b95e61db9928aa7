"""Safe image loading: every image the project reads goes through here.

`load_image` returns a fully decoded RGB ``PIL.Image.Image`` or raises `ImageLoadError` naming the file and the
reason, so that a bad file in a benchmark, a training corpus or a web upload fails with one clear message instead
of a PIL traceback deep inside a DataLoader worker.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageLoadError",
    "load_image",
    "load_image_bytes",
]

#: Largest image (width * height) accepted by default. Product photos are far below this; anything bigger is
#: either a mistake or a decompression bomb, and decoding it would take gigabytes of memory.
DEFAULT_MAX_PIXELS = 40_000_000

PathLike = Union[str, os.PathLike]


class ImageLoadError(ValueError):
    """An image could not be loaded. ``path`` names the file (or upload), ``reason`` says why."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot load image {self.path}: {reason}")


def load_image(path: PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS,
               draft: tuple[int, int] | None = None) -> Image.Image:
    """Open the image file at ``path`` and return it as a fully decoded RGB image.

    ``draft=(w, h)`` lets a JPEG be decoded at a reduced scale (1/2, 1/4 or 1/8, in the DCT: several times faster)
    as long as the result stays at least ``w`` x ``h``; other formats ignore it. For a model that resizes its
    input to 224 px anyway, a 2000 px product photo then decodes at 250 px.

    EXIF orientation is applied, and palette / alpha images are composited onto white (product photos with
    transparent backgrounds are shot on white, and black would be a colour change the model would see).

    Raises `ImageLoadError` if the file is missing, is not an image, is truncated or corrupt, or has more than
    ``max_pixels`` pixels. PIL's process-wide ``Image.MAX_IMAGE_PIXELS`` is never changed.
    """
    path = Path(path)
    if not path.exists():
        raise ImageLoadError(path, "file not found")
    if not path.is_file():
        raise ImageLoadError(path, "not a regular file")
    try:
        fp = open(path, "rb")
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open file ({exc.strerror or exc})") from exc
    with fp:
        return _decode(fp, path, max_pixels, draft)


def load_image_bytes(
    data: Union[bytes, bytearray, memoryview, BinaryIO],
    *,
    name: str = "<upload>",
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Image.Image:
    """Decode an image from bytes or a binary file-like object (e.g. a web upload) into RGB.

    ``name`` is used in error messages. Same checks and conversions as `load_image`.
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) == 0:
            raise ImageLoadError(name, "empty data")
        data = io.BytesIO(bytes(data))
    return _decode(data, name, max_pixels)


def pixel_count(data: Union[bytes, bytearray, memoryview]) -> int | None:
    """Width times height of an encoded image, read from its header alone (no pixels are decoded); None when the
    header cannot be read (the decoder then reports why)."""
    try:
        with Image.open(io.BytesIO(data)) as img:  # BytesIO takes any bytes-like object: no copy of a large upload
            width, height = img.size
    except Exception:  # noqa: BLE001 - PIL raises many types on broken headers; decoding names the problem
        return None
    return width * height


def _decode(fp: BinaryIO, name: object, max_pixels: int, draft: tuple[int, int] | None = None) -> Image.Image:
    # Why no warnings.catch_warnings() around Image.open: it swaps the process-global warning filters and is not
    # thread-safe (the web app decodes uploads in threads). PIL only warns above its own limit (~89 Mpx), which is
    # above our default, so such images are rejected by the size check right below anyway; above twice its limit
    # PIL raises DecompressionBombError, which is converted here.
    try:
        img = Image.open(fp)
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(name, f"too many pixels (decompression bomb): {exc}") from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(name, "not an image (unrecognised file format)") from exc
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, struct.error...) on broken headers
        raise ImageLoadError(name, f"corrupt image header ({type(exc).__name__}: {exc})") from exc

    with img:
        width, height = img.size
        if width <= 0 or height <= 0:
            raise ImageLoadError(name, f"invalid image size {width}x{height}")
        # Checked before decoding: the header is cheap to read, the pixels are not.
        if width * height > max_pixels:
            raise ImageLoadError(
                name,
                f"too many pixels ({width}x{height} = {width * height:,} > max_pixels={max_pixels:,}); "
                "possible decompression bomb",
            )
        if draft is not None and img.format == "JPEG":
            img.draft("RGB", draft)  # picks the largest DCT reduction that keeps both sides >= the size asked
        try:
            img.load()
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(name, f"too many pixels (decompression bomb): {exc}") from exc
        except OSError as exc:
            raise ImageLoadError(name, f"truncated or corrupt image data ({exc})") from exc
        except Exception as exc:  # malformed files surface as SyntaxError, ValueError, IndexError, ...
            raise ImageLoadError(name, f"corrupt image data ({type(exc).__name__}: {exc})") from exc
        try:
            out = _to_rgb(ImageOps.exif_transpose(img))
        except Exception as exc:  # broken EXIF blocks or modes PIL cannot convert
            raise ImageLoadError(name, f"cannot convert to RGB ({type(exc).__name__}: {exc})") from exc
        # The result must not share state with `img`, which the `with` closes.
        return out.copy() if out is img else out


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited onto a white background."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode == "RGB":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # High bit-depth greyscale: scale into 8 bits instead of clipping everything above 255 to white.
        lo, hi = img.getextrema()
        scale = 255.0 / (hi - lo) if hi > lo else 1.0
        img = img.convert("F").point(lambda v: (v - lo) * scale).convert("L")
    return img.convert("RGB")
