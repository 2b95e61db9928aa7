"""Uploads worked on once: what the engine made of a recent reference photo, kept so that the same photo sent again
is neither decoded, preprocessed, encoded nor categorised again.

A shopper refines a request on one photo: "make it red", then "with long sleeves", then "a bit shorter". The JSON
API's client sends the photo again with every text, and the page names the same uploaded file again. Decoding and
preprocessing the photo, the image tower and the photo category network were, together, about three fifths of the
CPU a JSON API search cost on the demo model (a worker profile, ``docs/results/speed.md``); none of it depends on
the text. So the engine keeps, per photo:

- the preprocessed pixels (the image tower's input), made once from the decoded photo;
- the image tower's vector for them, once a batch has encoded them;
- the category guessed for the photo, per index version (a new version may bring another category model).

The key says which photo: a digest of the uploaded bytes (:func:`upload_key`), or the file's real path, size and
modification time for a file the page names. A hit is what the same work would give again: the pixels and the
vector are those the first request made (the encoder's output for one photo does not depend on anything else
in its batch beyond rounding), so a photo sent twice is searched with the very same vector. The cache belongs to one
engine, whose model does not change while it serves; it is bounded by bytes (pixels dominate: 27 kB a photo for
the demo model's 48 px input, 0.6 MB for a 224 px one), the least recently used photo forgotten first. Only photos
that decoded and preprocessed without error are kept: a refused upload is refused again, with the same message.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

#: Megabytes of pixels and vectors kept by default (``app.py --upload-cache-mb``): about 2,400 photos at the demo
#: model's input size, about 100 at 224 px a side. 0 keeps nothing.
DEFAULT_UPLOAD_CACHE_MB = 64
DEFAULT_MAX_BYTES = DEFAULT_UPLOAD_CACHE_MB * 1024 * 1024
#: Most photos kept, whatever their size (category guesses and keys cost a little each, too).
DEFAULT_MAX_PHOTOS = 4096
#: What :meth:`UploadCache.guess` returns for a photo whose category was never guessed in that index version
#: (a kept guess may itself be None: the index could not name one).
NOT_GUESSED = object()


def upload_key(data: bytes | bytearray | memoryview) -> str:
    """The key of an uploaded photo's bytes: their SHA-256 digest. Two different photos share a key only by a
    collision no one can aim for without breaking the hash. SHA-256 rather than BLAKE2: processors with SHA
    instructions hash a 33 kB PNG in 24 us against 63 us (measured on the 2-core machine of the benchmarks)."""
    return "upload:" + hashlib.sha256(data).hexdigest()


@dataclass
class KeptUpload:
    """What the engine made of one photo so far."""

    pixels: torch.Tensor                                   # the image tower's input (C, H, W)
    vector: torch.Tensor | None = None                     # the image tower's output, once encoded
    guesses: dict[Hashable, Any] = field(default_factory=dict)  # index version -> CategoryGuess (or None)

    @property
    def nbytes(self) -> int:
        """Bytes of tensors this entry holds."""
        vector = self.vector.numel() * self.vector.element_size() if self.vector is not None else 0
        return self.pixels.numel() * self.pixels.element_size() + vector


class UploadCache:
    """Least-recently-used :class:`KeptUpload` entries by key, bounded by ``max_bytes`` and ``max_photos``;
    thread-safe (the web server's event loop, its decoding threads and the batcher's worker all use it).

    ``hits`` counts photos found, ``misses`` photos worked on anew, ``encoded_reused`` encodings saved.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, max_photos: int = DEFAULT_MAX_PHOTOS):
        if max_bytes < 0 or max_photos < 0:
            raise ValueError(f"the upload cache bounds must not be negative, got {max_bytes} bytes and "
                             f"{max_photos} photos")
        self.max_bytes, self.max_photos = int(max_bytes), int(max_photos)
        self._kept: OrderedDict[Hashable, KeptUpload] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.encoded_reused = 0

    def __len__(self) -> int:
        return len(self._kept)

    @property
    def keeps(self) -> bool:
        """Whether anything is kept at all (bounds of 0 keep nothing: the key need not even be computed)."""
        return self.max_bytes > 0 and self.max_photos > 0

    @property
    def nbytes(self) -> int:
        """Bytes of tensors kept now."""
        return self._bytes

    def pixels(self, key: Hashable, make: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The pixels kept for ``key``, or ``make()``'s (decode and preprocess; its errors propagate, and nothing
        is kept), then kept."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                self.hits += 1
                return kept.pixels
            self.misses += 1
        pixels = make()  # outside the lock: decoding takes milliseconds; two threads missing one photo both decode
        self._put(key, KeptUpload(pixels))
        return pixels

    def vector(self, key: Hashable) -> torch.Tensor | None:
        """The image tower's vector kept for ``key`` (None: not encoded yet, or forgotten)."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is None or kept.vector is None:
                return None
            self.encoded_reused += 1
            return kept.vector

    def keep_vector(self, key: Hashable, vector: torch.Tensor) -> None:
        """Keep the image tower's vector of a photo whose pixels are kept (a forgotten photo keeps nothing)."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept.vector is None:
                kept.vector = vector.detach().float().cpu().clone()
                self._bytes += kept.vector.numel() * kept.vector.element_size()
                self._evict()

    def guess(self, key: Hashable, version: Hashable) -> Any:
        """The category guessed for the photo in index ``version``, or :data:`NOT_GUESSED`."""
        with self._lock:
            kept = self._kept.get(key)
            return kept.guesses.get(version, NOT_GUESSED) if kept is not None else NOT_GUESSED

    def keep_guess(self, key: Hashable, version: Hashable, guess: Any) -> None:
        """Keep the category guessed for a kept photo in index ``version`` (the versions a photo was guessed in
        are few: one, or two across a reload)."""
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None:
                if len(kept.guesses) >= 4:  # versions come and go on a live index: keep the recent ones
                    kept.guesses.pop(next(iter(kept.guesses)))
                kept.guesses[version] = guess

    def clear(self) -> None:
        """Forget every photo."""
        with self._lock:
            self._kept.clear()
            self._bytes = 0

    def _put(self, key: Hashable, entry: KeptUpload) -> None:
        if entry.nbytes > self.max_bytes or not self.max_photos:
            return
        with self._lock:
            if key in self._kept:  # another thread kept the same photo meanwhile: keep its entry (and vector)
                self._kept.move_to_end(key)
                return
            self._kept[key] = entry
            self._bytes += entry.nbytes
            self._evict()

    def _evict(self) -> None:
        # called with the lock held
        while self._kept and (self._bytes > self.max_bytes or len(self._kept) > self.max_photos):
            _, gone = self._kept.popitem(last=False)
            self._bytes -= gone.nbytes
