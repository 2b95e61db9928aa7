"""Small JPEG copies of catalogue images for result pages, made when the server starts and kept on disk.

A results page shows ten or more products; sending each full product photo costs bandwidth, and the web framework
copies (and hashes) every file it serves. A thumbnail of at most ``size`` pixels a side is a few kilobytes, and the
thumbnail folder is the only folder of catalogue images the server sends files from (see ``gradio_io.launch``).

Thumbnails are named after the original's absolute path, size and modification time, so an edited or replaced
photo gets a new thumbnail, and one cache folder can serve several catalogues. Files are written atomically, so
concurrent requests for the same thumbnail never see half a file. :meth:`ThumbnailCache.warm` makes the missing
ones of a whole catalogue ahead of the first page view (``python app.py`` runs it in the background at start).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from pathlib import Path
from typing import Iterable

from PIL import Image, ImageDraw

from cti_ir.files import write_atomic
from cti_ir.model.images import ImageLoadError, load_image

DEFAULT_THUMBNAIL_SIZE = 192
REFERENCE_SIZE = 480  # the reference image shown when a catalogue product is picked (280 px high on the page)
THUMBNAIL_QUALITY = 85
DEFAULT_CACHE_DIR = Path("~/.cache/cti-ir/thumbnails")
CACHE_ENV = "CTI_IR_CACHE"  # the same variable as the demo's cache: everything of ours under one folder
PLACEHOLDER_NAME = "image-missing.png"
KNOWN_LIMIT = 100_000  # thumbnails remembered as made; past that the memory starts afresh
_OWN_ENTRY = re.compile(r"[0-9a-f]{2}|image-missing\.png|\.[^/]*\.tmp.*")  # shard folders, placeholder, temp files


def default_thumbnail_dir() -> Path:
    """``$CTI_IR_CACHE/thumbnails`` if the variable is set, else ``~/.cache/cti-ir/thumbnails``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root) / "thumbnails" if root else DEFAULT_CACHE_DIR).expanduser()


def placeholder_image(size: int = 224) -> Image.Image:
    """A grey tile shown in place of a catalogue image that is no longer on disk."""
    img = Image.new("RGB", (size, size), (225, 225, 225))
    draw = ImageDraw.Draw(img)
    draw.line([(0, 0), (size, size)], fill=(180, 180, 180), width=3)
    draw.line([(0, size), (size, 0)], fill=(180, 180, 180), width=3)
    draw.text((size // 2 - 40, size // 2 - 6), "image missing", fill=(90, 90, 90))
    return img


class ThumbnailCache:
    """Thumbnails of at most ``size`` x ``size`` pixels (aspect kept, never enlarged) under ``folder``."""

    def __init__(self, folder: str | os.PathLike | None = None, size: int = DEFAULT_THUMBNAIL_SIZE):
        if size < 16:
            raise ValueError(f"thumbnail size must be at least 16 pixels, got {size}")
        # Absolute: the pages send these paths as URLs, which must not depend on the working directory.
        self.folder = (Path(folder).expanduser() if folder else default_thumbnail_dir()).absolute()
        self.size = size
        # (original, size) -> (its size in bytes, its mtime, the thumbnail made of it): a search answer names ten
        # thumbnails, and checking the original costs one stat where naming and finding its thumbnail cost five
        # times as much. A changed original (size or mtime) still gets a new thumbnail.
        self._known: dict[tuple[str, int], tuple[int, int, str]] = {}

    def path_for(self, image_path: str | os.PathLike, size: int | None = None) -> str | None:
        """The thumbnail of ``image_path`` (``size`` pixels a side, default the cache's), made now if needed;
        None when the original is missing or unreadable."""
        size = size or self.size
        source = os.path.abspath(image_path)
        try:
            st = os.stat(source)
        except OSError:
            return None
        known = self._known.get((source, size))
        if known is not None and known[0] == st.st_size and known[1] == st.st_mtime_ns:
            return known[2]
        thumb = self._name_of(source, st, size)
        if not thumb.is_file():
            try:
                image = load_image(source, draft=(size, size))
            except ImageLoadError:
                return None
            image.thumbnail((size, size), Image.Resampling.LANCZOS)
            thumb.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(thumb, lambda tmp: image.save(tmp, format="JPEG", quality=THUMBNAIL_QUALITY, optimize=True))
        if len(self._known) >= KNOWN_LIMIT:
            self._known.clear()
        self._known[(source, size)] = (st.st_size, st.st_mtime_ns, str(thumb))
        return str(thumb)

    def placeholder(self) -> str:
        """The "image missing" tile as a file of the thumbnail folder (made once), for pages to show as a path."""
        path = self.folder / PLACEHOLDER_NAME
        if not path.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda tmp: placeholder_image(self.size).save(tmp, format="PNG"))
        return str(path)

    def warm(self, image_paths: Iterable[str], stop: threading.Event | None = None, pause_s: float = 0.0) -> int:
        """Make the thumbnails of ``image_paths`` that are missing; returns how many it made. Stops early when
        ``stop`` is set. Unreadable originals are skipped (pages show the placeholder for them).

        Run beside a server's searches, it hands the interpreter over after every file and rests ``pause_s``
        seconds after every thumbnail it makes, so that it never holds up a search for long.
        """
        made = 0
        for path in image_paths:
            if stop is not None and stop.is_set():
                break
            thumb = self._name(os.path.abspath(path), self.size)
            if thumb is not None and not thumb.is_file() and self.path_for(path):
                made += 1
                time.sleep(pause_s)
            else:
                time.sleep(0)  # lets the search threads take the GIL between two checks
        return made

    def _name(self, source: str, size: int) -> Path | None:
        """Where the thumbnail of the file ``source`` (an absolute path) is kept; None if the file is gone."""
        try:
            return self._name_of(source, os.stat(source), size)
        except OSError:
            return None

    def _name_of(self, source: str, st: os.stat_result, size: int) -> Path:
        key = f"{source}\0{st.st_size}\0{st.st_mtime_ns}\0{size}".encode("utf-8", "surrogateescape")
        name = hashlib.sha1(key).hexdigest()
        return self.folder / name[:2] / f"{name}.jpg"

    def foreign_entries(self, limit: int = 3) -> list[str]:
        """Up to ``limit`` names in the folder that are not this cache's own (shard folders, the placeholder).

        The server sends any file of the thumbnail folder to whoever asks, so it must be a folder of its own.
        """
        try:
            names = sorted(os.listdir(self.folder))
        except FileNotFoundError:
            return []
        return [n for n in names if not _OWN_ENTRY.fullmatch(n)][:limit]
