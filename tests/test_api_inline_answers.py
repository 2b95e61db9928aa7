"""The JSON API answers a shop-sized photo on its event loop (decoded and prepared there, the batch awaited as a
future) and a large one in a worker thread; both give the same answer. Also the batcher's futures and the
thumbnail cache's memory of thumbnails already made."""

from __future__ import annotations

import io
import os
import threading
import time

import pytest
from PIL import Image

from cti_ir.serve import http_api
from cti_ir.serve.batching import SearchBatcher, ServerBusy
from cti_ir.serve.engine import SearchEngine
from cti_ir.serve.http_api import API_PATH, SearchApi
from cti_ir.serve.thumbnails import ThumbnailCache
from tests.app_fixtures import make_tiny_catalogue


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("inline_catalogue"))


@pytest.fixture(scope="module")
def engine(catalogue):
    return SearchEngine(catalogue.checkpoint, catalogue.index)


@pytest.fixture
def threads_used(monkeypatch):
    """How many requests went to a worker thread (Starlette's ``run_in_threadpool``, which the endpoint uses)."""
    import starlette.concurrency

    calls = []
    original = starlette.concurrency.run_in_threadpool

    async def counting(func, *args, **kwargs):
        calls.append(func.__name__)
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(starlette.concurrency, "run_in_threadpool", counting)
    return calls


def _answers(engine, photo: bytes, thumbnails=None) -> list[dict]:
    from starlette.testclient import TestClient

    batcher = SearchBatcher(engine, max_wait_ms=1)
    try:
        with TestClient(SearchApi(batcher, thumbnails=thumbnails, file_url=lambda p: "/t" + p).app()) as client:
            answers = []
            for fields in ({"text": "is red", "k": "5"}, {"k": "3", "category": "all"}):
                response = client.post(API_PATH, data=fields, files={"image": ("p.png", photo, "image/png")})
                assert response.status_code == 200, response.text
                answers.append(response.json())
            text_only = client.post(API_PATH, json={"text": "a red dress", "k": 4})
            assert text_only.status_code == 200, text_only.text
            answers.append(text_only.json())
            refused = client.post(API_PATH, data={"text": "is red", "k": "0"},
                                  files={"image": ("p.png", photo, "image/png")})
            assert refused.status_code == 400 and refused.json()["error"]["parameter"] == "k"
            broken = client.post(API_PATH, data={"text": "is red"}, files={"image": ("p.png", b"no", "image/png")})
            assert broken.status_code == 400 and broken.json()["error"]["parameter"] == "image"
        return [{key: value for key, value in a.items() if key != "took_ms"} for a in answers]
    finally:
        batcher.close()


def test_a_small_photo_is_answered_on_the_event_loop_a_large_one_in_a_thread_with_the_same_answer(
        engine, catalogue, threads_used, monkeypatch):
    photo = (catalogue.images / "dress" / "red_dress.png").read_bytes()
    inline = _answers(engine, photo)
    assert threads_used == ["_answer"]  # only the unreadable upload: its header says nothing of its size
    assert inline[0]["hits"] and inline[0]["mode"] == "composed" and inline[2]["mode"] == "text"

    threads_used.clear()
    monkeypatch.setattr(http_api, "INLINE_PIXELS", 1)  # every photo is now "large"
    threaded = _answers(engine, photo)
    assert threads_used == ["_answer"] * 4  # the three photos (one refused) and the broken upload; text inline
    assert threaded == inline


def test_a_searcher_without_futures_is_answered_in_a_thread(engine, catalogue, threads_used):
    from starlette.testclient import TestClient

    photo = (catalogue.images / "dress" / "red_dress.png").read_bytes()
    with TestClient(SearchApi(engine).app()) as client:  # the engine itself blocks: never on the event loop
        response = client.post(API_PATH, data={"text": "is red"}, files={"image": ("p.png", photo, "image/png")})
    assert response.status_code == 200 and response.json()["hits"]
    assert threads_used == ["_answer"]


def test_the_inline_limit_reads_the_header_only():
    buffer = io.BytesIO()
    Image.new("RGB", (2000, 1000), "white").save(buffer, format="PNG")
    assert http_api.pixel_count(buffer.getvalue()) == 2_000_000
    assert http_api.pixel_count(buffer.getvalue()[:60]) == 2_000_000  # the header alone is enough
    assert http_api.pixel_count(b"not an image") is None


class Recording:
    def __init__(self, fail: bool = False):
        self.fail = fail

    def search_batch(self, queries):
        if self.fail:
            raise ValueError("broken batch")
        return [f"answer to {q}" for q in queries]


def test_the_batchers_future_carries_the_result_or_the_batchs_exception():
    batcher = SearchBatcher(Recording(), max_wait_ms=0)
    try:
        assert batcher.submit_future("q1").result(60) == "answer to q1"
        assert batcher.submit("q2") == "answer to q2"
    finally:
        batcher.close()
    failing = SearchBatcher(Recording(fail=True), max_wait_ms=0)
    try:
        with pytest.raises(ValueError, match="broken batch"):
            failing.submit_future("q").result(60)
    finally:
        failing.close()


class Held:
    """An engine that holds every batch until released, and remembers the batches."""

    def __init__(self):
        self.release, self.batches = threading.Event(), []

    def search_batch(self, queries):
        self.release.wait(60)
        self.batches.append(list(queries))
        return list(queries)


def _taken_by_the_worker(batcher: SearchBatcher, query: str):
    """Submit ``query`` and return its future once the worker has taken it (and holds, with a Held engine)."""
    future = batcher.submit_future(query)
    deadline = time.monotonic() + 60
    while batcher._queue and time.monotonic() < deadline:  # noqa: SLF001 - the queue empties when it is taken
        time.sleep(0.01)
    return future


def test_a_full_queue_refuses_the_future_at_once():
    engine = Held()
    batcher = SearchBatcher(engine, max_wait_ms=0, max_pending=1)
    try:
        first = _taken_by_the_worker(batcher, "a")
        second = batcher.submit_future("b")  # waits in the queue
        with pytest.raises(ServerBusy):
            batcher.submit_future("c")
        engine.release.set()
        assert first.result(60) == "a" and second.result(60) == "b"
    finally:
        engine.release.set()
        batcher.close()


def test_a_thumbnail_is_named_once_and_made_again_when_its_original_changes(tmp_path, monkeypatch):
    original = tmp_path / "shirt.png"
    Image.new("RGB", (64, 64), "red").save(original)
    cache = ThumbnailCache(tmp_path / "thumbs", size=32)
    named = []
    name_of = cache._name_of  # noqa: SLF001 - counts how often a thumbnail is named and looked for

    def counting(*args):
        named.append(args[0])
        return name_of(*args)

    monkeypatch.setattr(cache, "_name_of", counting)
    first = cache.path_for(original)
    assert first and os.path.isfile(first)
    assert [cache.path_for(original) for _ in range(5)] == [first] * 5
    assert len(named) == 1  # remembered: one stat of the original a call, no more

    Image.new("RGB", (64, 64), "blue").save(original)
    os.utime(original, ns=(1, 1))  # a changed original, whatever the clock's resolution
    second = cache.path_for(original)
    assert second != first and os.path.isfile(second) and len(named) == 2
    assert Image.open(second).getpixel((5, 5))[2] > 200  # made from the new, blue original
    original.unlink()
    assert cache.path_for(original) is None  # a removed original has no thumbnail, remembered or not


def test_a_cancelled_future_is_left_out_and_the_worker_keeps_answering():
    engine = Held()
    batcher = SearchBatcher(engine, max_wait_ms=0)
    try:
        first = _taken_by_the_worker(batcher, "first")
        assert not first.cancel()  # running: its caller can no longer take it back
        dropped = batcher.submit_future("dropped")
        assert dropped.cancel()  # a caller that gave up before its batch began (an event loop dropping a request)
        kept = batcher.submit_future("kept")
        engine.release.set()
        assert first.result(60) == "first" and kept.result(60) == "kept"
        assert batcher.submit("later") == "later"  # the worker survived the cancelled future
        assert ["dropped"] not in engine.batches and all("dropped" not in b for b in engine.batches)
    finally:
        engine.release.set()
        batcher.close()


def test_the_status_reports_what_the_batcher_answered(engine, catalogue):
    from starlette.testclient import TestClient

    photo = (catalogue.images / "dress" / "red_dress.png").read_bytes()
    batcher = SearchBatcher(engine, max_wait_ms=1)
    try:
        with TestClient(SearchApi(batcher).app()) as client:
            assert client.get("/api/status").json()["batching"]["searches"] == 0
            for text in ("is red", "is blue", "is shorter"):
                response = client.post(API_PATH, data={"text": text}, files={"image": ("p.png", photo, "image/png")})
                assert response.status_code == 200
            batching = client.get("/api/status").json()["batching"]
        assert batching["searches"] == 3 and 1 <= batching["batches"] <= 3 and batching["turned_away"] == 0
        sizes = batching["ms_per_search_by_batch_size"]
        assert sizes and all(int(size) >= 1 and ms > 0 for size, ms in sizes.items())
        assert batching["largest_batch"] == max(int(size) for size in sizes)
    finally:
        batcher.close()
    with TestClient(SearchApi(engine).app()) as client:  # an engine without a batcher: nothing to report
        assert "batching" not in client.get("/api/status").json()
