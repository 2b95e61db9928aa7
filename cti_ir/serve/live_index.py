"""Live reload: a running server picks up a changed index without a restart and without failing a request.

Every change of an index folder (``python -m cti_ir.index add|remove|update|products``, or a build run again) is
written as a new version beside the served one and switched to atomically (``cti_ir.index.versions``). The
:class:`IndexWatcher` notices a new version (it looks at most once per ``interval`` seconds, on the requests'
own path: a ``readlink`` and a ``stat``), opens it in a background thread while requests keep being answered from
the old version, checks it, and hands it over in one assignment. A request holds the index object it started
with, so it is answered from one version whole; the old version's files stay readable while it finishes (its
memory mapping survives the files' removal). A new version that cannot be served (built with another model,
unreadable) is logged and the old one kept.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cti_ir.index.versions import CURRENT_LINK, current_dir

log = logging.getLogger("cti_ir.index")
DEFAULT_INTERVAL_S = 1.0


def version_key(folder: str | Path) -> tuple:
    """What identifies the served version of an index folder: the ``current`` link's target and its info file's
    identity (a folder written before versions existed has only the latter)."""
    folder = Path(folder)
    link = folder / CURRENT_LINK
    target = os.readlink(link) if link.is_symlink() else None
    try:
        stat = (current_dir(folder) / "index_info.json").stat()
        return target, stat.st_ino, stat.st_mtime_ns
    except FileNotFoundError:
        return target, None, None


class IndexWatcher:
    """Watches one index folder; ``switch(new_index)`` is called with each newly served version once opened.

    ``open_index(folder)`` opens the folder's current version (and raises if it cannot be served).
    """

    def __init__(self, folder: str | Path, open_index: Callable[[Path], object], switch: Callable[[object], None],
                 interval: float = DEFAULT_INTERVAL_S):
        self.folder = Path(folder)
        self.open_index, self.switch, self.interval = open_index, switch, interval
        self.served_key = version_key(self.folder)
        self.last_error: str | None = None
        self.reloads = 0
        self._checked = time.monotonic()
        self._loading = False
        self._lock = threading.Lock()

    def poll(self) -> None:
        """Start loading a new version in the background if there is one (cheap; at most once per interval)."""
        now = time.monotonic()
        if now - self._checked < self.interval or self._loading:
            return
        with self._lock:
            if self._loading or now - self._checked < self.interval:
                return
            self._checked = now
            key = version_key(self.folder)
            if key == self.served_key:
                return
            self._loading = True
        threading.Thread(target=self._load, args=(key,), name="cti-ir-index-reload", daemon=True).start()

    def reload(self) -> bool:
        """Load the current version now, in this thread, if it is not the one served; True if it switched."""
        key = version_key(self.folder)
        if key == self.served_key:
            return False
        with self._lock:
            self._loading = True
        return self._load(key)

    def _load(self, key: tuple) -> bool:
        try:
            index = self.open_index(self.folder)
            self.switch(index)
        except Exception as e:  # noqa: BLE001 - keep serving the old version; say why in the log
            self.last_error = f"{type(e).__name__}: {e}"
            log.error("index %s changed but its new version cannot be served, keeping the old one: %s", self.folder,
                      self.last_error)
            self.served_key = key  # not retried until the folder changes again
            return False
        finally:
            with self._lock:
                self._loading = False
        self.served_key, self.last_error = key, None
        self.reloads += 1
        log.info("index %s: now serving version %s (%d products)", self.folder, getattr(index, "version", "?"),
                 len(index))
        return True


def watch_engine_index(engine, folder: str | Path, mmap: bool = True,
                       interval: float = DEFAULT_INTERVAL_S) -> IndexWatcher:
    """An :class:`IndexWatcher` that swaps ``engine``'s main index (also its own granularity's "similar
    products" index) for each new version of ``folder`` that its model can serve."""
    from cti_ir.index.catalogue_index import check_compatible
    from cti_ir.index.searching import open_index

    def switch(index) -> None:
        check_compatible(index.info, engine.model)  # another model's vectors: refused, the old version kept
        engine.similar_indexes[engine.granularity] = index
        engine.index = index  # one assignment: a request sees the old index or the new one, whole

    return IndexWatcher(folder, lambda f: open_index(f, mmap=mmap), switch, interval)
