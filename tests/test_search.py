"""The search engine (`cti_ir.serve.engine`): composed, image-only and text-only queries, weights, filters, bad input.

Runs on a tiny random model (``cti-tiny``) and a PIL-drawn catalogue indexed in a temporary folder; the helpers
come from ``tests/test_index.py``.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch

from cti_ir.index.catalogue import items_from_folder
from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.images import load_image
from cti_ir.index.catalogue_index import IndexMismatchError, build_index
from cti_ir.serve.engine import MAX_K, MAX_TEXT_CHARS, QueryError, SearchEngine, clean_text
from tests.test_index import CATEGORIES, PER_CATEGORY, draw_catalogue, save_tiny_checkpoint, stored_vectors

TEXT = "is red and has long sleeves"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("search")


@pytest.fixture(scope="module")
def checkpoint(workdir) -> Path:
    return save_tiny_checkpoint(workdir / "ckpt")


@pytest.fixture(scope="module")
def index_folder(workdir, checkpoint) -> Path:
    catalogue = draw_catalogue(workdir / "catalogue")
    build_index(load_checkpoint(checkpoint), items_from_folder(catalogue), workdir / "index", chunk_size=64,
                progress=False)
    return workdir / "index"


@pytest.fixture(scope="module")
def engine(checkpoint, index_folder) -> SearchEngine:
    return SearchEngine(checkpoint, index_folder)


@pytest.fixture(scope="module")
def vectors(index_folder) -> np.ndarray:
    return stored_vectors(index_folder)


@pytest.fixture(scope="module")
def reference(engine):
    """A catalogue item (a shirt) used as the reference photo, and its image."""
    item = engine.index.items[PER_CATEGORY + 7]
    return item, load_image(item["path"])


def assert_ranked(result, k: int, vectors: np.ndarray, query: np.ndarray | None = None) -> None:
    """k distinct hits, best first, each scored with its stored vector (and with `query` when given)."""
    assert len(result.hits) == k
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert len({h.id for h in result.hits}) == k
    if query is not None:
        np.testing.assert_allclose(scores, vectors[[h.id for h in result.hits]] @ query, atol=1e-5)
        # Nothing outside the hits scores better than the last hit (exact index).
        assert (vectors @ query).max() <= scores[0] + 1e-5
        assert np.sort(vectors @ query)[-k] == pytest.approx(scores[-1], abs=1e-5)


# ---------------------------------------------------------------------------------------------------- modes
@torch.no_grad()
def test_composed_query_uses_the_composers_weights(engine, reference, vectors):
    item, image = reference
    result = engine.search(image=image, text=TEXT, k=10)
    assert result.mode == "composed" and result.text == TEXT and result.notes == []
    model = engine.model
    img = model.encode_images(model.preprocess(image).unsqueeze(0))
    out = model.compose(img, model.encode_texts([TEXT]))
    assert result.image_weight == pytest.approx(float(out.image_weight[0]), abs=1e-6)
    assert result.text_weight == pytest.approx(float(out.text_weight[0]), abs=1e-6)
    assert result.image_weight + result.text_weight == pytest.approx(1.0, abs=1e-6)
    assert 0 < result.image_weight < 1
    assert_ranked(result, 10, vectors, out.query[0].numpy())
    hit = result.hits[0]
    row = engine.index.items[hit.id]
    assert (hit.image_id, hit.path, hit.categories) == (row["image_id"], row["path"], row["categories"])


def test_image_only_query_finds_the_image_itself(engine, reference, vectors):
    item, image = reference
    result = engine.search(image=image, k=5)
    assert result.mode == "image" and (result.image_weight, result.text_weight) == (1.0, 0.0)
    assert result.hits[0].image_id == item["image_id"] and result.hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert_ranked(result, 5, vectors, vectors[result.hits[0].id])


@torch.no_grad()
def test_text_only_query(engine, vectors):
    result = engine.search(text=TEXT, k=7)
    assert result.mode == "text" and (result.image_weight, result.text_weight) == (0.0, 1.0)
    assert_ranked(result, 7, vectors, engine.model.encode_texts([TEXT])[0].numpy())


@torch.no_grad()
def test_manual_weights_override_the_composer(engine, reference, vectors):
    _, image = reference
    result = engine.search(image=image, text=TEXT, k=10, weights=(3, 1))
    assert (result.image_weight, result.text_weight) == pytest.approx((0.75, 0.25))
    model = engine.model
    img, txt = model.encode_images(model.preprocess(image).unsqueeze(0)), model.encode_texts([TEXT])
    query = model.compose(img, txt, (torch.tensor([0.75]), torch.tensor([0.25]))).query[0].numpy()
    assert_ranked(result, 10, vectors, query)
    other = engine.search(image=image, text=TEXT, k=10, weights=(0.0, 2.0))
    assert (other.image_weight, other.text_weight) == pytest.approx((0.0, 1.0))
    assert [h.id for h in other.hits] != [h.id for h in result.hits]


@pytest.mark.parametrize("weights", [(-1, 1), (0, 0), (float("nan"), 1), (float("inf"), 1), ("a", 1), (1,)])
def test_invalid_manual_weights_are_refused(engine, reference, weights):
    with pytest.raises(QueryError, match="manual weights must be"):
        engine.search(image=reference[1], text=TEXT, weights=weights)


def test_category_filter(engine, reference):
    _, image = reference
    assert engine.categories == list(CATEGORIES)
    for category in CATEGORIES:
        result = engine.search(image=image, text=TEXT, k=20, category=category)
        assert len(result.hits) == 20 and all(h.categories == [category] for h in result.hits)
    # More asked than the category holds: all of it, no padding (-1) rows.
    result = engine.search(image=image, k=MAX_K, category="shoes")
    assert len(result.hits) == PER_CATEGORY and len({h.id for h in result.hits}) == PER_CATEGORY
    assert result.hits[0].image_id.startswith("shoes/")


def test_faiss_threads_reach_every_thread_that_searches(checkpoint, index_folder, reference):
    """OpenMP keeps its thread count per thread: a server's batcher thread must get the engine's setting too."""
    import threading

    import faiss

    seen = {}

    def in_a_new_thread(engine=None):
        seen["default"] = faiss.omp_get_max_threads()  # what FAISS would use here: one thread per core
        if engine is not None:
            engine.search(image=reference[1], text=TEXT, k=5)
            seen["searched with"] = faiss.omp_get_max_threads()

    def run(engine=None):
        thread = threading.Thread(target=in_a_new_thread, args=(engine,))
        thread.start()
        thread.join()

    run()  # a new thread's default, which the main thread's own setting (other tests set it) does not change
    wanted = seen["default"] + 1
    run(SearchEngine(checkpoint, index_folder, threads=wanted))
    assert seen["default"] != wanted and seen["searched with"] == wanted


# ---------------------------------------------------------------------------------------------- bad queries
@pytest.mark.parametrize("kwargs, message", [
    ({}, "give a reference image, a text, or both"),
    ({"text": ""}, "give a reference image, a text, or both"),
    ({"text": "   \t\n  "}, "give a reference image, a text, or both"),
    ({"text": "\u200b\u200d\u2060"}, "give a reference image, a text, or both"),  # zero-width only
    ({"text": "\x00\x07\x1b"}, "give a reference image, a text, or both"),           # control characters only
    ({"text": TEXT, "k": 0}, "k must be between 1 and 200, got 0"),
    ({"text": TEXT, "k": -3}, "k must be between 1 and 200, got -3"),
    ({"text": TEXT, "k": MAX_K + 1}, "k must be between 1 and 200, got 201"),
    ({"text": TEXT, "k": "ten"}, "k must be a whole number between 1 and 200, got 'ten'"),
    ({"text": TEXT, "k": None}, "k must be a whole number between 1 and 200, got None"),
    ({"text": TEXT, "k": 2.7}, r"k must be a whole number between 1 and 200, got 2\.7"),
    ({"text": TEXT, "k": True}, "k must be a whole number"),
    ({"text": TEXT, "category": "hats"}, "unknown category 'hats'; choose one of dresses, shirts, shoes"),
])
def test_bad_queries_raise_query_error(engine, kwargs, message):
    with pytest.raises(QueryError, match=message):
        engine.search(**kwargs)


def test_query_error_is_a_value_error():
    assert issubclass(QueryError, ValueError)


# ------------------------------------------------------------------------------------------------- odd text
def test_very_long_text_is_cut_with_a_note(engine, reference, vectors):
    long_text = "is red and has long sleeves " * 3572  # ~100,000 characters
    assert len(long_text) > 100_000
    result = engine.search(image=reference[1], text=long_text, k=10)
    assert result.mode == "composed"
    assert result.notes[0] == f"the text was cut to its first {MAX_TEXT_CHARS} characters"
    # what is encoded is the request reader's reading of the cut text: its wording, then the word the cut left
    # dangling ("long" of "long s"), since the whole would not fit the text tower
    assert result.text == "is red and has long sleeves, long" and "read in part" in result.notes[1]
    unread = engine.search_batch([engine.prepare(image=reference[1], text=long_text, k=10, read_requests=False)])[0]
    assert len(unread.text) == MAX_TEXT_CHARS and unread.notes == [result.notes[0]]
    assert_ranked(result, 10, vectors)
    assert len(engine.search(text=long_text, k=3).hits) == 3


@pytest.mark.parametrize("text", [
    "👗 but 🔴 with ✨ sparkles 👩‍👩‍👧",                 # emoji, with a zero-width-joiner sequence
    "فستان أحمر بأكمام طويلة",                             # right-to-left (Arabic)
    "שמלה אדומה is red",                                    # mixed RTL and LTR
    "is red \u202eeveR\u202c and \u200fshort",               # bidi override and marks
    "red\u200bdress\u200d\u2060\ufeff",                      # zero-width characters
    "\x00is\x07 red\x1b[31m dress\x7f\r\n",                  # control characters, ANSI escape
    "cafe\u0301 colou\u0308red",                             # combining marks (NFC-normalised)
    "is \ud800 red",                                         # a lone surrogate (invalid UTF-16)
    "赤いドレス 长袖 빨간",                                   # CJK
])
def test_odd_unicode_text_works(engine, reference, vectors, text):
    for image in (reference[1], None):
        result = engine.search(image=image, text=text, k=5)
        assert result.mode == ("composed" if image is not None else "text")
        assert_ranked(result, 5, vectors)
        assert result.text and result.text == result.text.strip()
        assert not any(unicodedata.category(ch).startswith("C") for ch in result.text)
        assert "  " not in result.text
        assert unicodedata.is_normalized("NFC", result.text)


def test_clean_text():
    assert clean_text(None) == ("", [])
    assert clean_text("  is\tred \n\n and   long ") == ("is red and long", [])
    assert clean_text("cafe\u0301")[0] == "caf\u00e9"
    assert clean_text("red\x00dress")[0] == "red dress"
    assert clean_text("x" * (MAX_TEXT_CHARS + 1))[0] == "x" * MAX_TEXT_CHARS


# ----------------------------------------------------------------------------------------------- loading
def test_engine_refuses_a_checkpoint_that_did_not_build_the_index(index_folder, tmp_path):
    other = save_tiny_checkpoint(tmp_path / "other", seed=1)
    with pytest.raises(IndexMismatchError, match="rebuild the index with this one"):
        SearchEngine(other, index_folder)
    small = save_tiny_checkpoint(tmp_path / "small", "cti-small")
    with pytest.raises(IndexMismatchError, match="32-dimensional vectors but the checkpoint embeds into 128"):
        SearchEngine(small, index_folder)


def test_engine_without_mmap_gives_the_same_results(checkpoint, index_folder, engine, reference):
    in_memory = SearchEngine(checkpoint, index_folder, mmap=False)
    a = engine.search(image=reference[1], text=TEXT, k=10)
    b = in_memory.search(image=reference[1], text=TEXT, k=10)
    assert [h.id for h in a.hits] == [h.id for h in b.hits]


# ------------------------------------------------------------------------------------------------ batching
def batch_of_queries(engine, reference):
    """Queries of every kind: composed, image-only, text-only, manual weights, category filters, different k."""
    _, image = reference
    other = load_image(engine.index.items[5]["path"])
    return [
        dict(image=image, text=TEXT, k=10),
        dict(text="a blue dress", k=3),
        dict(image=other, k=7, category="shoes"),
        dict(image=image, text="is darker", k=5, weights=(0.8, 0.2)),
        dict(image=other, text=TEXT, k=12, category="shirts"),
        dict(text="has stripes", k=1, category="shirts"),
        dict(image=image, text=TEXT, k=4, weights=(1, 3)),
    ]


def assert_same_result(a, b):
    assert (a.mode, a.text, a.notes) == (b.mode, b.text, b.notes)
    assert [h.id for h in a.hits] == [h.id for h in b.hits]
    np.testing.assert_allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-5)
    assert (a.image_weight, a.text_weight) == pytest.approx((b.image_weight, b.text_weight), abs=1e-5)


def test_batched_search_gives_the_same_hits_as_one_by_one(engine, reference):
    queries = batch_of_queries(engine, reference)
    alone = [engine.search(**q) for q in queries]
    batched = engine.search_batch([engine.prepare(**q) for q in queries])
    assert len(batched) == len(queries)
    for a, b, q in zip(alone, batched, queries):
        assert_same_result(a, b)
        assert len(b.hits) == q["k"]
        if q.get("category"):
            assert all(h.categories == [q["category"]] for h in b.hits)
    assert engine.search_batch([]) == []


def test_batcher_groups_concurrent_searches_and_answers_each_its_own(engine, reference):
    from concurrent.futures import ThreadPoolExecutor

    from cti_ir.serve.batching import SearchBatcher

    queries = batch_of_queries(engine, reference) * 3
    alone = [engine.search(**q) for q in queries]
    # A long wait so that the threads' queries meet in a few batches whatever the machine's load.
    batcher = SearchBatcher(engine, max_batch=8, max_wait_ms=200)
    try:
        with ThreadPoolExecutor(len(queries)) as pool:
            batched = list(pool.map(lambda q: batcher.search(**q), queries))
        for a, b in zip(alone, batched):
            assert_same_result(a, b)
        assert batcher.stats.queries == len(queries)
        assert 1 < batcher.stats.largest <= 8 and batcher.stats.batches < len(queries)
        with pytest.raises(QueryError, match="k must be between") as error:  # checked in the caller's thread
            batcher.search(text=TEXT, k=0)
        assert error.value.parameter == "k" and batcher.stats.queries == len(queries)
    finally:
        batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.search(text=TEXT)


def test_batcher_hands_an_engine_failure_to_every_caller_of_the_batch(engine):
    from cti_ir.serve.batching import SearchBatcher

    class Broken:
        index, categories = engine.index, engine.categories
        prepare = staticmethod(engine.prepare)

        @staticmethod
        def search_batch(queries):
            raise MemoryError("out of memory")

    batcher = SearchBatcher(Broken(), max_wait_ms=0)
    try:
        with pytest.raises(MemoryError, match="out of memory"):
            batcher.search(text=TEXT)
    finally:
        batcher.close()


# ------------------------------------------------------------------------------------- more like this, stored
def test_more_like_this_uses_the_vector_the_index_holds(engine, vectors, reference):
    item, image = reference
    position = engine.position_of(item["image_id"])
    query = engine.prepare_similar(image_id=item["image_id"], k=5)
    assert query.pixels is None and query.exclude == item["image_id"]  # nothing to decode or encode
    np.testing.assert_array_equal(query.vector.numpy(), vectors[position])
    result = engine.similar(image_id=item["image_id"], k=5)
    by_photo = engine.similar(image=image, k=6)  # the photo finds the product itself first; the id leaves it out
    assert [h.image_id for h in result.hits] == [h.image_id for h in by_photo.hits][1:]
    np.testing.assert_allclose([h.score for h in result.hits], [h.score for h in by_photo.hits][1:], atol=1e-4)


@pytest.mark.parametrize("factory, stored", [("HNSW32", True), ("IVF4,Flat", False)])
def test_stored_vectors_of_other_index_types(checkpoint, workdir, factory, stored):
    folder = workdir / f"index-{factory.replace(',', '-')}"
    if not folder.exists():
        build_index(load_checkpoint(checkpoint), items_from_folder(workdir / "catalogue"), folder, factory=factory,
                    chunk_size=64, progress=False)
    engine = SearchEngine(checkpoint, folder)
    held = stored_vectors(folder)
    for position in (0, 7, len(held) - 1):
        query = engine.prepare_similar(image_id=engine.index.items[position]["image_id"], k=3)
        if stored:  # HNSW under an id map whose ids are not in insertion order: rows found through the map
            np.testing.assert_array_equal(query.vector.numpy(), held[position])
        else:  # an IVF index cannot give its vectors back: the photo is encoded instead
            assert query.vector is None and query.pixels is not None
        assert engine.similar(image_id=engine.index.items[position]["image_id"], k=3).hits


def test_similar_and_composed_queries_share_a_batch(engine, reference):
    item, image = reference
    queries = [engine.prepare(text=TEXT, k=4), engine.prepare_similar(image_id=item["image_id"], k=3),
               engine.prepare_similar(image=image, k=2, category="shoes"), engine.prepare(image=image, k=2)]
    batched = engine.search_batch(queries)
    assert [r.mode for r in batched] == ["text", "similar", "similar", "image"]
    assert_same_result(batched[1], engine.similar(image_id=item["image_id"], k=3))
    assert_same_result(batched[2], engine.similar(image=image, k=2, category="shoes"))
    assert_same_result(batched[0], engine.search(text=TEXT, k=4))


@pytest.mark.parametrize("k, message", [
    (1e308, "got 1e+308"), (10 ** 400, "got a number too large to show"), ("x" * 5000, "got 'xxxx"),
])
def test_k_is_quoted_short(engine, k, message):
    with pytest.raises(QueryError) as error:
        engine.prepare(text=TEXT, k=k)
    assert message in str(error.value) and len(str(error.value)) < 100


def test_batcher_turns_away_searches_beyond_max_pending(engine):
    import threading

    from cti_ir.serve.batching import SearchBatcher, ServerBusy

    started, release = threading.Event(), threading.Event()

    class Slow:
        index, categories = engine.index, engine.categories
        prepare = staticmethod(engine.prepare)

        @staticmethod
        def search_batch(queries):
            started.set()
            release.wait(30)
            return engine.search_batch(queries)

    batcher = SearchBatcher(Slow(), max_batch=1, max_wait_ms=0, max_pending=1)
    results = []
    try:
        first = threading.Thread(target=lambda: results.append(batcher.search(text=TEXT, k=1)))
        first.start()
        assert started.wait(30)  # the worker is busy with the first search
        second = threading.Thread(target=lambda: results.append(batcher.search(text=TEXT, k=2)))
        second.start()
        while not batcher._queue:  # the second one waits
            second.join(0.01)
        with pytest.raises(ServerBusy, match="1 searches are already waiting"):
            batcher.search(text=TEXT, k=3)
        release.set()
        first.join(30)
        second.join(30)
        assert sorted(len(r.hits) for r in results) == [1, 2] and batcher.stats.turned_away == 1
    finally:
        release.set()
        batcher.close()
