"""Shopping sessions through the JSON API: the client sends its history, the answer returns the turn to append."""

from __future__ import annotations

import json

import pytest

from cti_ir.serve.batching import SearchBatcher
from cti_ir.serve.engine import SearchEngine
from cti_ir.serve.http_api import SearchApi
from cti_ir.serve.session import MAX_TURNS
from tests.app_fixtures import make_tiny_catalogue


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("session_api_catalogue"))


@pytest.fixture(scope="module")
def client(catalogue):
    from starlette.testclient import TestClient

    batcher = SearchBatcher(SearchEngine(catalogue.checkpoint, catalogue.index), max_wait_ms=1)
    with TestClient(SearchApi(batcher).app()) as test_client:
        yield test_client
    batcher.close()


def search(client, **fields):
    return client.post("/api/search", json=fields)


def test_a_session_round_trip(client):
    first = search(client, reference_id="dress/red_dress", text="make it green", k=3, history=[])
    assert first.status_code == 200, first.text
    answer = first.json()
    assert answer["category"] == "dress", "the reference's category by default"
    assert answer["session"]["carried"] == ["colour: green"]
    turn = answer["turn"]
    assert turn["reference"] == "dress/red_dress" and turn["shown"] == [h["image_id"] for h in answer["hits"]]
    assert "dress/red_dress" not in turn["shown"], "the reference itself is never shown"
    turn["picked"] = turn["shown"][0]
    second = search(client, reference_id=turn["picked"], text="", k=3, category="all", history=[turn]).json()
    assert second["session"]["carried"] == ["colour: green"], "the first turn's request holds"
    assert second["category"] is None
    # every dress was shown or used: the green products not yet shown come first
    assert {h["image_id"] for h in second["hits"][:2]} == {"shirt/green_shirt", "shoes/green_shoes"}


def test_a_session_in_a_form(client):
    history = json.dumps([{"text": "make it blue", "reference": "shirt/red_shirt", "shown": ["shirt/blue_shirt"],
                           "picked": "shirt/blue_shirt"}])
    response = client.post("/api/search", data={"reference_id": "shirt/blue_shirt", "text": "as shoes",
                                                "history": history, "k": "2"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["category"] == "shoes", "the words ask for another category"
    assert answer["session"]["carried"] == ["colour: blue"]
    assert [h["image_id"] for h in answer["hits"]][0] == "shoes/blue_shoes"


@pytest.mark.parametrize("fields, fragment", [
    ({"history": "not json", "text": "red"}, "history must be a JSON list of turns"),
    ({"history": {"text": "red"}, "text": "red"}, "history must be a list of turns"),
    ({"history": [{"text": "red"}] * (MAX_TURNS + 1), "text": "red"}, f"at most {MAX_TURNS} are accepted"),
    ({"history": [{"text": ["red"]}], "text": "red"}, "must be a string"),
    ({"history": [{"shown": ["dress/red_dress", 7]}], "text": "red"}, "must be a list of product ids"),
    ({"history": [{"picked": "dress/purple_dress"}], "text": "red"}, "which is not in the catalogue"),
    ({"reference_id": "dress/purple_dress", "text": "red"}, "is not a product of the catalogue"),
    ({"reference_id": 12, "text": "red"}, "reference_id must be the id of a catalogue product"),
])
def test_bad_session_input_gets_our_4xx_message(client, fields, fragment):
    response = search(client, **fields)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    parameter = "reference_id" if "reference_id" in fields else "history"
    assert error["parameter"] == parameter and fragment in error["message"]
    assert "Traceback" not in response.text


def test_the_page_carries_a_session_and_new_session_forgets_it(tmp_path_factory):
    from cti_ir.serve.page import SearchPage
    from cti_ir.serve.session_api import SAME_CATEGORY_CHOICE

    catalogue = make_tiny_catalogue(tmp_path_factory.mktemp("session_page_catalogue"))
    page = SearchPage(SearchEngine(catalogue.checkpoint, catalogue.index), seed=0)
    assert page.categories[:2] == [SAME_CATEGORY_CHOICE, "All"], "the reference's category is the default"
    red = str(catalogue.images / "dress" / "red_dress.png")
    first = page.search(red, "make it green", SAME_CATEGORY_CHOICE, 3, reference_id="dress/red_dress")
    assert all(h["categories"] == ["dress"] for h in first.hits) and "`dress`" in first.status
    picked = first.hits[0]
    second = page.search(picked["path"], "", "All", 3, reference_id=picked["image_id"], history=first.history)
    assert "carried over from the earlier turns: colour: green" in second.status
    assert {h["image_id"] for h in second.hits[:2]} == {"shirt/green_shirt", "shoes/green_shoes"}
    results, hits, history, rows, status = page.new_session()
    assert history == [] and rows == []
    fresh = page.search(picked["path"], "", "All", 3, reference_id=picked["image_id"], history=history)
    assert "carried over" not in fresh.status


def test_an_uploaded_photo_answer_says_which_category_was_guessed_and_how_sure(client, tmp_path):
    from tests.app_fixtures import draw_product

    path = tmp_path / "upload.png"
    draw_product("shoes", (0, 160, 0)).save(path)
    response = client.post("/api/search", files={"image": ("upload.png", path.read_bytes(), "image/png")},
                           data={"text": "in red", "k": "3"})
    assert response.status_code == 200, response.text
    answer = response.json()
    guess = answer["category_guess"]
    assert answer["category"] == guess["category"] and 0 < guess["confidence"] <= 1
    assert isinstance(guess["unsure"], bool) and all(a["category"] != guess["category"] for a in guess["alternatives"])
    assert all(h["categories"] == [guess["category"]] for h in answer["hits"])
    catalogue_reference = search(client, reference_id="dress/red_dress", text="in blue", k=2).json()
    assert "category_guess" not in catalogue_reference, "a catalogue product's category is known, not guessed"


def test_a_session_turn_through_the_api_keeps_the_product_filters(catalogue, tmp_path):
    import shutil

    from starlette.testclient import TestClient

    from cti_ir.index import cli as index_cli

    index = tmp_path / "index"
    shutil.copytree(catalogue.index, index, symlinks=True)
    products = tmp_path / "products.jsonl"
    products.write_text("".join(json.dumps({"id": i, "in_stock": "green" not in i}) + "\n" for i in catalogue.ids))
    assert index_cli.main(["products", "--index", str(index), "--file", str(products)]) == 0
    turn = {"text": "make it green", "reference": "dress/red_dress", "shown": ["dress/blue_dress"],
            "picked": "dress/blue_dress"}
    with TestClient(SearchApi(SearchEngine(catalogue.checkpoint, index)).app()) as api:
        kept = search(api, reference_id="dress/blue_dress", text="", k=5, category="all", history=[turn],
                      in_stock=True).json()
        unfiltered = search(api, reference_id="dress/blue_dress", text="", k=5, category="all",
                            history=[turn]).json()
    assert kept["session"]["carried"] == ["colour: green"]
    assert "green" in unfiltered["hits"][0]["image_id"], "without the filter the carried colour comes first"
    assert kept["hits"] and not any("green" in h["image_id"] for h in kept["hits"]), "out of stock stays out"
