"""Requests read once: the same modification texts recur ("is red", "is shorter"), so the engine keeps what the
request reader made of them.

Reading a request (``cti_ir.index.request_reading.read_for_engine``) tokenises it against the fashion vocabulary,
reads the reference's description into facets and, for a reading in part, tokenises the joined text to check it
fits the text tower: about a twentieth of the CPU a JSON API search costs on the demo model. What it returns depends
only on the text, the reference's description, the category and the model (its context and the words it learned),
so those are the key, and a hit is exactly what reading again would give. At most ``capacity`` readings are kept,
the least recently used forgotten first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable

#: Readings kept by default: short texts and notes, well under a megabyte.
DEFAULT_CAPACITY = 4096


class RequestReadingCache:
    """Least-recently-used readings ``(text to encode, note or None)``, thread-safe; ``hits`` and ``misses`` count
    lookups."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        if capacity < 0:
            raise ValueError(f"the request reading cache capacity must not be negative, got {capacity}")
        self.capacity = capacity
        self._kept: OrderedDict[tuple, tuple[str, str | None]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._kept)

    def read(self, key: tuple, read: Callable[[], tuple[str, str | None]]) -> tuple[str, str | None]:
        """The reading kept under ``key`` (the model's fingerprint, the text, the reference's description and the
        category), or ``read()``'s, then kept."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                self.hits += 1
                return found
            self.misses += 1
        reading = read()  # outside the lock: two threads reading one new text both read it, and agree
        if self.capacity:
            with self._lock:
                self._kept[key] = reading
                self._kept.move_to_end(key)
                while len(self._kept) > self.capacity:
                    self._kept.popitem(last=False)
        return reading
