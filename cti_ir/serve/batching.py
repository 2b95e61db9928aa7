"""Dynamic batching: searches that arrive within a few milliseconds of each other are answered together.

A web server answers each request in its own thread. One query alone leaves most of a forward pass's cost in fixed
overheads (Python, operator dispatch, one FAISS call per query); sixteen queries in one batch cost little more than
one. :class:`SearchBatcher` sits between the request threads and a :class:`~cti_ir.serve.engine.SearchEngine`:

- the request thread checks its query (:meth:`SearchEngine.prepare`: bad input fails at once, in that thread, and
  never takes a place in a batch) and queues it;
- one worker thread takes the first waiting query, waits at most ``max_wait_ms`` for more (or until ``max_batch``
  are waiting), and answers them all with :meth:`SearchEngine.search_batch`: one image-encoder pass, one
  text-encoder pass, one FAISS search per category filter;
- each request thread gets exactly its own result (or the batch's exception) back; an event loop, which must not
  block, queues with :meth:`SearchBatcher.submit_future` and awaits the future instead (the JSON API does, for
  shop-sized photos, which it decodes on the loop).

"More like this" queries (:meth:`SearchBatcher.similar`) share the batches too: a catalogue product's stored vector
needs no encoder at all, and the FAISS search is shared with the other queries of its index and category.

Under load the worker is busy while new queries queue up, so the next batch starts at once, with no waiting at
all; the wait only matters when traffic is light, and is bounded by ``max_wait_ms``. A caller may also say that a
query is on its way (:meth:`SearchBatcher.arriving`, around decoding the photo and preparing the query, as the JSON
API does): once any caller has, the worker waits for company only while such a query is still on its way, instead
of idling until ``max_wait_ms`` when every client's query is already queued.

```python
batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=5)
result = batcher.search(image=photo, text="is red", k=10)      # from any number of threads at once
batcher.close()
```
"""

from __future__ import annotations

import threading
import time
from collections import deque
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # annotations only: the batcher's constants load without torch (python app.py --help is quick)
    from cti_ir.serve.engine import SearchEngine, SearchQuery, SearchResult

DEFAULT_MAX_BATCH = 16
DEFAULT_MAX_WAIT_MS = 5.0


class ServerBusy(RuntimeError):
    """More searches are waiting than the batcher accepts (``max_pending``): this one is turned away at once,
    rather than waiting behind all of them; the caller is told to try again in a moment."""


@dataclass
class _Pending:
    query: SearchQuery
    future: Future = field(default_factory=Future)  # the result, or the batch's exception


@dataclass
class BatchStats:
    """What the batcher has done so far (for logs and benchmarks)."""

    batches: int = 0
    queries: int = 0
    largest: int = 0
    turned_away: int = 0   # refused with ServerBusy
    #: batch size -> [batches answered, seconds spent in ``search_batch``]: what a query costs at each size
    by_size: dict[int, list] = field(default_factory=dict)

    @property
    def mean_batch(self) -> float:
        return self.queries / self.batches if self.batches else 0.0

    def record(self, size: int, seconds: float) -> None:
        """Count one answered batch of ``size`` queries that took ``seconds``."""
        self.batches += 1
        self.queries += size
        self.largest = max(self.largest, size)
        entry = self.by_size.setdefault(size, [0, 0.0])
        entry[0] += 1
        entry[1] += seconds

    def per_item_ms(self) -> dict[int, float]:
        """Mean milliseconds of model and index work per query, by batch size (the gain of batching, measured)."""
        return {size: 1000.0 * seconds / (count * size) for size, (count, seconds) in sorted(self.by_size.items())}


class SearchBatcher:
    """Groups concurrent searches into batches for one engine; thread-safe, one worker thread.

    ``search`` has the signature of :meth:`SearchEngine.search`, so a page or an API handler can use either.
    The worker thread starts with the first query and stops with :meth:`close`.
    """

    def __init__(self, engine: SearchEngine, max_batch: int = DEFAULT_MAX_BATCH,
                 max_wait_ms: float = DEFAULT_MAX_WAIT_MS, max_pending: int | None = None):
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must not be negative, got {max_wait_ms}")
        if max_pending is not None and max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self.engine = engine
        self.max_batch = max_batch
        self.max_pending = max_pending  # None: no limit
        self.max_wait = max_wait_ms / 1000.0
        self.stats = BatchStats()
        self._queue: deque[tuple[float, _Pending]] = deque()
        self._wake = threading.Condition()
        self._closed = False
        self._worker: threading.Thread | None = None
        self._arriving = 0          # queries announced by arriving() and not queued yet
        self._announced = False     # whether any caller ever announced: then the wait follows the announcements
        self._last_size = 0         # queries in the last batch taken
        self._local = threading.local()

    # The engine's read-only parts, so that callers can treat a batcher like the engine it serves.
    @property
    def index(self):
        return self.engine.index

    @property
    def categories(self) -> list[str]:
        return self.engine.categories

    def search(self, image=None, text: str | None = None, k: Any = 10, category: str | None = None,
               weights: Sequence[float] | None = None, filters: dict | None = None) -> SearchResult:
        """Same as :meth:`SearchEngine.search`, answered in a batch with whatever other queries are waiting."""
        return self.submit(self.engine.prepare(image, text, k, category, weights, filters=filters))

    def similar(self, image=None, image_id: str | None = None, k: Any = 10, category: str | None = None,
                granularity: str | None = None) -> SearchResult:
        """Same as :meth:`SearchEngine.similar` ("more like this"), answered in a batch like every search."""
        return self.submit(self.engine.prepare_similar(image, image_id, k, category, granularity))

    @contextmanager
    def arriving(self):
        """Announce, for the body of the ``with``, that this thread will submit a query: the worker then waits for
        it (up to ``max_wait_ms``) rather than answering the queries already queued without it. The announcement
        ends when the query is queued or the body ends (a refused query)."""
        with self._wake:
            self._arriving += 1
            self._announced = True
        self._local.announced = True
        try:
            yield
        finally:
            if getattr(self._local, "announced", False):
                self._local.announced = False
                with self._wake:
                    self._arriving -= 1
                    self._wake.notify()

    def submit(self, query: SearchQuery) -> SearchResult:
        """Queue a prepared query and block until its batch has been answered."""
        return self.submit_future(query).result()

    def submit_future(self, query: SearchQuery) -> Future:
        """Queue a prepared query and return at once with the future of its result (or of the batch's exception),
        for callers that must not block, such as an event loop (``asyncio.wrap_future``). Raises
        :class:`ServerBusy` at once when ``max_pending`` searches are already waiting."""
        pending = _Pending(query)
        with self._wake:
            if getattr(self._local, "announced", False):  # queued (or refused) now: no longer on its way
                self._local.announced = False
                self._arriving -= 1
            if self._closed:
                raise RuntimeError("the search batcher is closed")
            if self.max_pending is not None and len(self._queue) >= self.max_pending:
                self.stats.turned_away += 1
                raise ServerBusy(f"{len(self._queue)} searches are already waiting")
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="search-batcher", daemon=True)
                self._worker.start()
            self._queue.append((time.monotonic(), pending))
            self._wake.notify()
        return pending.future

    def close(self, timeout: float = 10.0) -> None:
        """Answer what is queued, then stop the worker thread."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._worker is not None:
            self._worker.join(timeout)

    def _next_batch(self) -> list[_Pending]:
        """The next batch to answer (empty: closed). A query whose caller gave up waiting (its future cancelled,
        as an event loop does with a request it drops) is left out; the others' futures are marked running, so
        that they can no longer be cancelled and always take their result."""
        with self._wake:
            while True:
                while not self._queue and not self._closed:
                    self._wake.wait()
                if not self._queue:
                    return []
                # Wait for company only as long as the oldest query may still wait; under load it already has.
                # Where callers announce their queries, only while one is on its way.
                deadline = self._queue[0][0] + self.max_wait
                # Under steady load the queries of the batch just answered come back within a millisecond or two;
                # answering the few already queued without them splits the same clients into ever smaller
                # batches. So with fewer queued than the last batch held, wait up to max_wait from now for them;
                # the process's event loop uses the core meanwhile to read and prepare them.
                target = min(self.max_batch, max(1, self._last_size))
                if len(self._queue) < target:
                    deadline = max(deadline, time.monotonic() + self.max_wait)
                while len(self._queue) < self.max_batch and not self._closed:
                    if self._announced and self._arriving <= 0 and len(self._queue) >= target:
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._wake.wait(remaining)
                taken = [self._queue.popleft()[1] for _ in range(min(self.max_batch, len(self._queue)))]
                batch = [p for p in taken if p.future.set_running_or_notify_cancel()]
                if batch:
                    self._last_size = len(batch)
                    return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if not batch:
                return
            started = time.perf_counter()
            results, error = None, None
            try:
                results = self.engine.search_batch([p.query for p in batch])
            except BaseException as e:  # noqa: BLE001 - handed to every waiting caller, who reports it
                error = e
            self.stats.record(len(batch), time.perf_counter() - started)  # before the callers wake and look
            for i, p in enumerate(batch):
                if error is not None:
                    p.future.set_exception(error)
                else:
                    p.future.set_result(results[i])
