"""Small JPEG copies of catalogue images for result pages, made on first use and kept on disk.

A results page shows ten or more products; sending each full product photo costs bandwidth, and the web framework
copies (and hashes) every file it serves. A thumbnail of at most ``size`` pixels a side is a few kilobytes.

Thumbnails are named after the original's absolute path, size and modification time, so an edited or replaced
photo gets a new thumbnail, and one cache folder can serve several catalogues. Files are written atomically, so
concurrent requests for the same thumbnail never see half a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from PIL import Image

from cti_ir.files import write_atomic
from cti_ir.model.images import ImageLoadError, load_image

DEFAULT_THUMBNAIL_SIZE = 192
THUMBNAIL_QUALITY = 85
DEFAULT_CACHE_DIR = Path("~/.cache/cti-ir/thumbnails")
CACHE_ENV = "CTI_IR_CACHE"  # the same variable as the demo's cache: everything of ours under one folder


def default_thumbnail_dir() -> Path:
    """``$CTI_IR_CACHE/thumbnails`` if the variable is set, else ``~/.cache/cti-ir/thumbnails``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) / "thumbnails" if root else DEFAULT_CACHE_DIR).expanduser()


class ThumbnailCache:
    """Thumbnails of at most ``size`` x ``size`` pixels (aspect kept, never enlarged) under ``folder``."""

    def __init__(self, folder: str | os.PathLike | None = None, size: int = DEFAULT_THUMBNAIL_SIZE):
        if size < 16:
            raise ValueError(f"thumbnail size must be at least 16 pixels, got {size}")
        self.folder = Path(folder).expanduser() if folder else default_thumbnail_dir()
        self.size = size

    def path_for(self, image_path: str | os.PathLike) -> str | None:
        """The thumbnail of ``image_path``, made now if needed; None when the original is missing or unreadable."""
        source = os.path.abspath(image_path)
        try:
            st = os.stat(source)
        except OSError:
            return None
        key = f"{source}\0{st.st_size}\0{st.st_mtime_ns}\0{self.size}".encode("utf-8", "surrogateescape")
        name = hashlib.sha1(key).hexdigest()
        thumb = self.folder / name[:2] / f"{name}.jpg"
        if thumb.is_file():
            return str(thumb)
        try:
            image = load_image(source)
        except ImageLoadError:
            return None
        image.thumbnail((self.size, self.size), Image.Resampling.LANCZOS)
        thumb.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(thumb, lambda tmp: image.save(tmp, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True))
        return str(thumb)
