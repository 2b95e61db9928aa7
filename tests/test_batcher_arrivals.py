"""The batcher's announcements: once callers say a query is on its way, the worker waits for those (and only those)
instead of idling until ``max_wait_ms``. A recording engine stands in for the model: it answers each query with
itself and remembers the batches."""

import threading

from cti_ir.serve.batching import SearchBatcher

LONG_WAIT_MS = 600_000  # ten minutes: a test that waited for it would hit the suite's timeout instead


class RecordingEngine:
    def __init__(self):
        self.batches: list[list] = []

    def search_batch(self, queries):
        self.batches.append(list(queries))
        return list(queries)


class HeldCaller:
    """A caller that announces its query, then holds in the middle of preparing it until released; it then submits
    ``query`` (or, with ``refuse``, gives up as a refused query does)."""

    def __init__(self, batcher: SearchBatcher, query: str, results: list, refuse: bool = False):
        self.batcher, self.query, self.results, self.refuse = batcher, query, results, refuse
        self.preparing, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        with self.batcher.arriving():
            self.preparing.set()
            self.release.wait(60)
            if not self.refuse:
                self.results.append(self.batcher.submit(self.query))

    def start(self):
        self.thread.start()
        assert self.preparing.wait(60)  # announced, still preparing its query
        return self

    def finish(self):
        self.release.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def _caller(batcher: SearchBatcher, query: str, results: list, announce: bool = True) -> threading.Thread:
    def run():
        if announce:
            with batcher.arriving():
                results.append(batcher.submit(query))
        else:
            results.append(batcher.submit(query))
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_an_announced_query_alone_is_answered_without_the_long_wait():
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=LONG_WAIT_MS)
    results = []
    try:
        caller = _caller(batcher, "q1", results)
        caller.join(60)
        assert not caller.is_alive() and results == ["q1"] and engine.batches == [["q1"]]
    finally:
        batcher.close()


def _fast_and_slow_together(batcher: SearchBatcher, engine: RecordingEngine, results: list) -> None:
    """A query queued while another is announced waits for it; both are answered in one batch."""
    slow = HeldCaller(batcher, "slow", results)
    try:
        slow.start()
        fast = _caller(batcher, "fast", results)
        fast.join(0.3)
        assert fast.is_alive() and engine.batches == []  # queued, waiting for the announced one
        slow.finish()
        fast.join(60)
        assert sorted(results) == ["fast", "slow"] and engine.batches == [["fast", "slow"]]
    finally:
        slow.release.set()


def test_the_worker_waits_for_a_query_still_on_its_way_and_answers_both_together():
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=LONG_WAIT_MS)
    try:
        _fast_and_slow_together(batcher, engine, [])
    finally:
        batcher.close()


def test_an_announced_query_that_is_refused_before_queueing_releases_the_wait():
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=LONG_WAIT_MS)
    results = []
    refused = HeldCaller(batcher, "bad", results, refuse=True)
    try:
        refused.start()
        good = _caller(batcher, "good", results)
        good.join(0.3)
        assert good.is_alive()  # waiting for the announced query
        refused.finish()
        good.join(60)
        assert results == ["good"] and engine.batches == [["good"]]
    finally:
        refused.release.set()
        batcher.close()


def test_without_announcements_the_wait_is_max_wait_as_before():
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=2, max_wait_ms=LONG_WAIT_MS)
    results = []
    try:
        first = _caller(batcher, "a", results, announce=False)
        first.join(0.3)
        assert first.is_alive() and engine.batches == []  # waits for company, as the page's callers expect
        second = _caller(batcher, "b", results, announce=False)
        first.join(60)
        second.join(60)
        assert sorted(results) == ["a", "b"] and engine.batches == [["a", "b"]]
    finally:
        batcher.close()


def test_announcements_never_make_the_worker_wait_beyond_max_wait():
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=0)
    results = []
    slow = HeldCaller(batcher, "slow", results)
    try:
        slow.start()
        fast = _caller(batcher, "fast", results)
        fast.join(60)
        assert not fast.is_alive() and engine.batches == [["fast"]]  # answered, not held for the slow one
        slow.finish()
        assert engine.batches == [["fast"], ["slow"]]
    finally:
        slow.release.set()
        batcher.close()


def test_after_a_batch_of_two_a_lone_query_waits_for_its_companion():
    """Under steady load the clients of the batch just answered come back at once: with fewer queued than the last
    batch held, the worker waits (at most max_wait_ms) for them instead of splitting them into smaller batches."""
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=LONG_WAIT_MS)
    results = []
    try:
        _fast_and_slow_together(batcher, engine, results)
        alone = _caller(batcher, "c", results)
        alone.join(0.3)
        assert alone.is_alive() and engine.batches == [["fast", "slow"]]  # waits for a second query
        companion = _caller(batcher, "d", results)
        alone.join(60)
        companion.join(60)
        assert engine.batches[-1] == ["c", "d"]
    finally:
        batcher.close()


def test_the_wait_for_a_companion_ends_at_max_wait():
    engine = RecordingEngine()
    batcher = SearchBatcher(engine, max_batch=16, max_wait_ms=50)
    results = []
    try:
        pair = [_caller(batcher, name, results, announce=False) for name in ("a", "b")]
        for caller in pair:
            caller.join(60)
        alone = _caller(batcher, "c", results)
        alone.join(60)  # answered alone once 50 ms have passed
        assert not alone.is_alive() and engine.batches[-1] == ["c"]
    finally:
        batcher.close()
