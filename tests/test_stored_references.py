"""A catalogue product as the reference of a composed query costs no image encoding (its stored index vector is
used); asymmetric indexes encode the photo and say why; repeated texts are encoded once (the engine's text cache).

Encoder work is counted by the engine's model (``InferenceModel.image_encodes`` / ``text_encodes``: images and texts
that really went through a tower), on a tiny random model and a PIL-drawn catalogue (helpers of ``test_index``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cti_ir.index.catalogue import items_from_folder
from cti_ir.index.catalogue_index import build_index
from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.images import load_image
from cti_ir.serve.batching import SearchBatcher
from cti_ir.serve.engine import QueryError, SearchEngine
from cti_ir.serve.stored_references import ASYMMETRIC_NOTE
from tests.test_index import draw_catalogue, save_tiny_checkpoint


@pytest.fixture(scope="module")
def engine(tmp_path_factory) -> SearchEngine:
    workdir: Path = tmp_path_factory.mktemp("stored")
    checkpoint = save_tiny_checkpoint(workdir / "ckpt")
    build_index(load_checkpoint(checkpoint), items_from_folder(draw_catalogue(workdir / "catalogue")),
                workdir / "index", chunk_size=64, progress=False)
    return SearchEngine(checkpoint, workdir / "index")


def test_a_catalogue_reference_costs_no_image_encoding(engine):
    item = engine.index.items[5]
    model = engine.model
    before = model.image_encodes
    by_id = engine.search_batch([engine.prepare(text="is red", reference_id=item["image_id"], k=8),
                                 engine.prepare(reference_id=item["image_id"], k=8)])
    assert model.image_encodes == before  # neither the composed nor the image-only query encoded a photo
    assert [r.mode for r in by_id] == ["composed", "image"]
    assert all(item["image_id"] not in [h.image_id for h in r.hits] for r in by_id)  # the reference is left out
    # The same photo sent as an upload is encoded, and finds the same products (the stored vector is its embedding).
    by_photo = engine.search(image=load_image(item["path"]), text="is red", k=9)
    assert model.image_encodes == before + 1
    assert [h.image_id for h in by_id[0].hits] == [h.image_id for h in by_photo.hits if h.image_id != item["image_id"]][:8]
    assert by_id[0].image_weight == pytest.approx(by_photo.image_weight, abs=1e-5)


def test_a_sessions_later_turns_through_the_batcher_cost_no_image_encoding(engine):
    batcher = SearchBatcher(engine)
    try:
        first = batcher.search(image=load_image(engine.index.items[0]["path"]), text="is red", k=5)
        before = engine.model.image_encodes
        reference = first.hits[0].image_id
        for text in ("is shorter", "has long sleeves", "is darker"):  # the shopper picks a result each turn
            result = batcher.submit(engine.prepare(text=text, reference_id=reference, k=5))
            reference = result.hits[0].image_id
        assert engine.model.image_encodes == before
        stats = batcher.stats  # what each query cost, by the size of the batch it was answered in
        assert sum(size * count for size, (count, _) in stats.by_size.items()) == stats.queries == 4
        assert all(ms > 0 for ms in stats.per_item_ms().values())
    finally:
        batcher.close()


def test_an_asymmetric_index_encodes_the_reference_and_says_why(engine, monkeypatch):
    monkeypatch.setitem(engine.index.info, "gallery", {"mode": "ensemble"})  # as an ensemble build records it
    before = engine.model.image_encodes
    result = engine.search_batch([engine.prepare(text="is red", reference_id=engine.index.items[3]["image_id"])])[0]
    assert engine.model.image_encodes == before + 1 and ASYMMETRIC_NOTE in result.notes


def test_an_unknown_reference_is_refused_naming_the_parameter(engine):
    with pytest.raises(QueryError, match="not in the catalogue") as caught:
        engine.prepare(text="is red", reference_id="no-such-product")
    assert caught.value.parameter == "reference_id"


@torch.no_grad()
def test_repeated_texts_are_encoded_once(engine):
    model = engine.model
    engine.search(text="has a floral print and is blue")
    before = model.text_encodes
    for _ in range(3):
        engine.search(text="has  a floral print and is BLUE")  # same tokens: a cache hit
    assert model.text_encodes == before and model.text_cache.hits >= 3


def test_the_json_apis_catalogue_references_cost_no_image_encoding(tmp_path_factory):
    from starlette.testclient import TestClient

    from cti_ir.serve.http_api import SearchApi
    from tests.app_fixtures import make_tiny_catalogue

    catalogue = make_tiny_catalogue(tmp_path_factory.mktemp("api_references"))
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    batcher = SearchBatcher(engine, max_wait_ms=1)
    try:
        with TestClient(SearchApi(batcher).app()) as client:
            before = engine.model.image_encodes
            for text in ("make it green", "make it blue"):
                answer = client.post("/api/search", json={"reference_id": "dress/red_dress", "text": text, "k": 3})
                assert answer.status_code == 200, answer.text
                assert "dress/red_dress" not in [h["image_id"] for h in answer.json()["hits"]]
            assert engine.model.image_encodes == before
    finally:
        batcher.close()


def test_the_pages_later_turns_cost_no_image_encoding(tmp_path_factory):
    from cti_ir.serve.page import SearchPage
    from tests.app_fixtures import make_tiny_catalogue

    catalogue = make_tiny_catalogue(tmp_path_factory.mktemp("page_references"))
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    page = SearchPage(engine, seed=0)
    first = page.search(str(catalogue.images / "dress" / "red_dress.png"), "make it green", "All", 3)  # an upload
    assert engine.model.image_encodes == 1
    picked = first.hits[0]
    second = page.search(picked["path"], "make it darker", "All", 3, reference_id=picked["image_id"],
                         history=first.history)
    assert picked["image_id"] not in [h["image_id"] for h in second.hits]
    assert engine.model.image_encodes == 1  # the picked product's stored vector, nothing encoded
