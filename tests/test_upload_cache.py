"""A photo sent again is worked on once: decoded, preprocessed, encoded and categorised the first time, then taken
from the engine's upload cache (``cti_ir.serve.upload_cache``), with the same answer as the work done again; a
catalogue product as the reference reads no photo at all.

Encoder work is counted by the engine's model (``InferenceModel.image_encodes``); the catalogue is the PIL-drawn
one of ``tests.app_fixtures``, served through the JSON API and the page as a shopper uses them.
"""

from __future__ import annotations

import io
import shutil

import pytest
import torch
from PIL import Image

from cti_ir.serve import session_search
from cti_ir.serve.batching import SearchBatcher
from cti_ir.serve.engine import SearchEngine
from cti_ir.serve.upload_cache import NOT_GUESSED, UploadCache, upload_key
from tests.app_fixtures import make_tiny_catalogue

TEXTS = ("make it green", "is darker", "has long sleeves")


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("uploads"))


def _png(catalogue, name: str = "dress/red_dress.png") -> bytes:
    out = io.BytesIO()
    Image.open(catalogue.images / name).convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _post_all(engine: SearchEngine, photo: bytes, texts=TEXTS, **fields) -> list[dict]:
    from starlette.testclient import TestClient

    from cti_ir.serve.http_api import SearchApi

    batcher = SearchBatcher(engine, max_wait_ms=1)
    try:
        with TestClient(SearchApi(batcher).app()) as client:
            answers = [client.post("/api/search", files={"image": ("photo.png", photo, "image/png")},
                                   data={"text": text, "k": "5", **fields}) for text in texts]
    finally:
        batcher.close()
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    return [a.json() for a in answers]


def test_the_json_api_works_on_a_photo_sent_again_once_and_answers_as_if_anew(catalogue, monkeypatch):
    guessed_rows = []
    guess = session_search.guess_categories
    monkeypatch.setattr(session_search, "guess_categories",
                        lambda index, vectors, pixels=None: guessed_rows.append(len(vectors)) or guess(index, vectors,
                                                                                                      pixels))
    photo = _png(catalogue)
    kept = SearchEngine(catalogue.checkpoint, catalogue.index)
    answers = _post_all(kept, photo)  # the photo's own category ("auto"): guessed from it
    assert kept.model.image_encodes == 1 and sum(guessed_rows) == 1
    assert kept.uploads.misses == 1 and kept.uploads.hits == len(TEXTS) - 1
    # Without the cache every request does the whole work again, and the answers are the same.
    anew = SearchEngine(catalogue.checkpoint, catalogue.index)
    anew.uploads = UploadCache(max_bytes=0)
    again = _post_all(anew, photo)
    assert anew.model.image_encodes == len(TEXTS) and sum(guessed_rows) == 1 + len(TEXTS)
    for a, b in zip(answers, again):
        assert [h["image_id"] for h in a["hits"]] == [h["image_id"] for h in b["hits"]]
        assert [h["score"] for h in a["hits"]] == pytest.approx([h["score"] for h in b["hits"]], abs=1e-5)
        assert a["category"] == b["category"] and a["category_guess"] == b["category_guess"]
        assert a["image_weight"] == pytest.approx(b["image_weight"], abs=1e-5)


def test_another_photo_is_worked_on_anew(catalogue):
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    red = _post_all(engine, _png(catalogue), texts=("is darker",), category="all")[0]
    blue = _post_all(engine, _png(catalogue, "shirt/blue_shirt.png"), texts=("is darker",), category="all")[0]
    assert engine.model.image_encodes == 2 and len(engine.uploads) == 2
    assert [h["image_id"] for h in red["hits"]] != [h["image_id"] for h in blue["hits"]]


def test_a_broken_upload_is_refused_each_time_and_never_kept(catalogue):
    from starlette.testclient import TestClient

    from cti_ir.serve.http_api import SearchApi

    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    broken = _png(catalogue)[:200]  # a PNG cut short: its header reads, its pixels do not
    with TestClient(SearchApi(engine).app()) as client:
        for _ in range(2):
            answer = client.post("/api/search", files={"image": ("photo.png", broken, "image/png")},
                                 data={"text": "is red"})
            assert answer.status_code == 400 and answer.json()["error"]["parameter"] == "image"
            assert "damaged or incomplete" in answer.json()["error"]["message"]
    assert len(engine.uploads) == 0 and engine.uploads.misses == 2


def test_the_page_encodes_an_uploaded_file_once_across_its_texts(catalogue):
    from cti_ir.serve.page import SearchPage

    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    page = SearchPage(engine, seed=0)
    upload = str(catalogue.images / "shirt" / "green_shirt.png")
    first = [page.search(upload, text, "All", 3) for text in TEXTS]
    assert engine.model.image_encodes == 1
    assert all(out.hits for out in first)


def test_a_catalogue_reference_reads_no_photo_and_says_so_when_one_is_needed(tmp_path, monkeypatch):
    from starlette.testclient import TestClient

    from cti_ir.serve.http_api import SearchApi

    catalogue = make_tiny_catalogue(tmp_path)
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    reference = next(i for i in engine.index.items if i["image_id"] == "dress/red_dress")
    shutil.move(reference["path"], tmp_path / "moved.png")  # the photo is gone; the index keeps its vector
    with TestClient(SearchApi(engine).app()) as client:
        ask = lambda: client.post("/api/search", json={"reference_id": "dress/red_dress",  # noqa: E731
                                                        "text": "make it blue", "k": 3})
        answer = ask()
        assert answer.status_code == 200 and len(answer.json()["hits"]) == 3
        # An asymmetric index cannot use its stored vector: the photo is needed, and its absence is our sentence.
        monkeypatch.setitem(engine.index.info, "gallery", {"mode": "ensemble"})
        refused = ask()
    assert refused.status_code == 400
    assert refused.json()["error"] == {"status": 400, "parameter": "reference_id", "message": (
        "The photo of product 'dress/red_dress' can no longer be read on the server.")}


# ------------------------------------------------------------------------------------------------- the cache
def _pixels(side: int) -> torch.Tensor:
    return torch.zeros(3, side, side)  # 12 * side**2 bytes


def test_the_cache_keeps_the_most_recent_photos_within_its_bytes_and_count():
    cache = UploadCache(max_bytes=3 * 12 * 100, max_photos=10)  # three 10x10 photos
    made = []
    for key in "abcd":
        cache.pixels(key, lambda k=key: made.append(k) or _pixels(10))
    assert made == list("abcd") and len(cache) == 3 and cache.nbytes == 3 * 1200
    cache.pixels("b", lambda: made.append("b again") or _pixels(10))  # kept: not made again, now the most recent
    cache.pixels("e", lambda: made.append("e") or _pixels(10))        # "c" is now the least recent: forgotten
    cache.pixels("c", lambda: made.append("c again") or _pixels(10))
    assert made[-2:] == ["e", "c again"] and "b again" not in made
    assert UploadCache(max_bytes=10 ** 9, max_photos=2).pixels("x", lambda: _pixels(4)) is not None
    small = UploadCache(max_bytes=10 ** 9, max_photos=2)
    for key in "xyz":
        small.pixels(key, lambda: _pixels(4))
    assert len(small) == 2
    nothing = UploadCache(max_bytes=0)
    nothing.pixels("x", lambda: _pixels(4))
    assert len(nothing) == 0 and nothing.nbytes == 0


def test_vectors_and_guesses_are_kept_only_for_kept_photos_and_per_index_version():
    cache = UploadCache(max_bytes=2 * 1200 + 2 * 4 * 8, max_photos=10)
    cache.pixels("a", lambda: _pixels(10))
    cache.keep_vector("a", torch.ones(8))
    cache.keep_vector("gone", torch.ones(8))  # never kept: nothing to attach it to
    assert torch.equal(cache.vector("a"), torch.ones(8)) and cache.vector("gone") is None
    assert cache.nbytes == 1200 + 32
    cache.keep_guess("a", "v1", "dress")
    cache.keep_guess("a", "v2", None)  # an index that could name no category: kept as such
    assert cache.guess("a", "v1") == "dress" and cache.guess("a", "v2") is None
    assert cache.guess("a", "v3") is NOT_GUESSED and cache.guess("gone", "v1") is NOT_GUESSED
    cache.pixels("b", lambda: _pixels(10))
    cache.pixels("c", lambda: _pixels(10))  # over the bytes: "a", the least recent, goes with its vector
    assert cache.vector("a") is None and cache.nbytes == 2 * 1200


def test_a_failed_decoding_keeps_nothing_and_bounds_must_not_be_negative():
    cache = UploadCache()

    def broken():
        raise ValueError("not a photo")

    with pytest.raises(ValueError, match="not a photo"):
        cache.pixels("x", broken)
    assert len(cache) == 0
    with pytest.raises(ValueError, match="must not be negative"):
        UploadCache(max_bytes=-1)


def test_the_key_is_the_photos_bytes():
    assert upload_key(b"one photo") == upload_key(bytearray(b"one photo"))
    assert upload_key(b"one photo") != upload_key(b"one photo ")
