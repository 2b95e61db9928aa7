"""The JSON API (``POST /api/search``, ``cti_ir.serve.http_api``): answers, and a 4xx JSON error for every bad input.

Runs the API's routes in-process (Starlette's test client, no server); the served page and API together are
tested in ``tests/test_app.py``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from PIL import Image

from cti_ir.serve.batching import SearchBatcher
from cti_ir.serve.http_api import API_PATH, SearchApi
from cti_ir.serve.engine import SearchEngine
from cti_ir.serve.thumbnails import ThumbnailCache
from tests.app_fixtures import make_tiny_catalogue, write_decompression_bomb


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("api_catalogue"))


@pytest.fixture(scope="module")
def engine(catalogue):
    return SearchEngine(catalogue.checkpoint, catalogue.index)


@pytest.fixture(scope="module")
def client(engine, tmp_path_factory):
    from starlette.testclient import TestClient

    batcher = SearchBatcher(engine, max_wait_ms=1)
    api = SearchApi(batcher, max_upload_bytes=200_000, file_url=lambda p: "/files" + p,
                    thumbnails=ThumbnailCache(tmp_path_factory.mktemp("thumbs"), size=32))
    with TestClient(api.app()) as test_client:
        yield test_client
    batcher.close()


@pytest.fixture
def red_dress(catalogue) -> bytes:
    return (catalogue.images / "dress" / "red_dress.png").read_bytes()


def assert_refused(response, status: int, parameter: str | None, *fragments: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["status"] == status and error["parameter"] == parameter
    for fragment in fragments:
        assert fragment in error["message"], error["message"]
    assert "Traceback" not in response.text and "\\" not in error["message"]
    return error


def test_composed_query_from_a_form_upload(client, engine, red_dress):
    response = client.post(API_PATH, files={"image": ("dress.png", red_dress, "image/png")},
                           data={"text": "is blue and has long sleeves", "k": "5", "category": "shoes"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["mode"] == "composed" and body["weights_source"] == "composer"
    assert body["image_weight"] + body["text_weight"] == pytest.approx(1.0, abs=1e-5)
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4]  # the category holds 4 products
    assert all(h["categories"] == ["shoes"] for h in body["hits"])
    expected = engine.search(image=Image.open(io.BytesIO(red_dress)), text="is blue and has long sleeves", k=5,
                             category="shoes")
    assert [h["image_id"] for h in body["hits"]] == [h.image_id for h in expected.hits]
    assert [h["score"] for h in body["hits"]] == pytest.approx([h.score for h in expected.hits], abs=1e-5)
    hit = body["hits"][0]
    assert hit["image_url"] == "/api/image/shoes/red_shoes" and hit["thumbnail_url"].endswith(".jpg")
    assert hit["description"].startswith("a ") and body["took_ms"] > 0
    photo = client.get(hit["image_url"])  # the indexed photo itself, by product id
    assert photo.status_code == 200 and photo.content == Path(expected.hits[0].path).read_bytes()


def test_json_body_text_only_manual_weights_and_base64_image(client, red_dress):
    body = client.post(API_PATH, json={"text": "a green shirt", "k": 3}).json()
    assert body["mode"] == "text" and len(body["hits"]) == 3
    body = client.post(API_PATH, json={"image_base64": base64.b64encode(red_dress).decode(), "text": "is blue",
                                       "image_weight": 0.25, "k": 2}).json()
    assert body["mode"] == "composed" and body["weights_source"] == "manual"
    assert (body["image_weight"], body["text_weight"]) == pytest.approx((0.25, 0.75))
    image_only = client.post(API_PATH, files={"image": ("d.png", red_dress)}, data={"k": "1"}).json()
    assert image_only["mode"] == "image" and image_only["hits"][0]["image_id"] == "dress/red_dress"


def test_each_bad_input_gets_a_json_4xx_naming_the_field(client, red_dress, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="cti_ir")
    post = lambda **kw: client.post(API_PATH, **kw)  # noqa: E731
    assert_refused(post(data={"text": ""}), 400, None, "Give a reference image, a text, or both")
    assert_refused(post(data={"text": "x", "k": "lots"}), 400, "k", "k must be a whole number between 1 and 200")
    assert_refused(post(data={"text": "x", "k": "2.7"}), 400, "k", "got '2.7'")
    assert_refused(post(data={"text": "x", "k": "0"}), 400, "k", "k must be between 1 and 200, got 0")
    assert_refused(post(json={"text": "x", "k": True}), 400, "k", "whole number")
    assert_refused(post(data={"text": "x", "image_weight": "heavy"}), 400, "image_weight", "a number between 0 and 1")
    assert_refused(post(data={"text": "x", "image_weight": "1.5"}), 400, "image_weight", "between 0 and 1, got 1.5")
    assert_refused(post(data={"text": "x", "category": "hats"}), 400, "category",
                   "Unknown category 'hats'; choose one of dress, shirt, shoes")
    assert_refused(post(data={"text": "x", "kk": "5"}), 400, "kk", "Unknown field kk; the fields are image, text")
    assert_refused(post(data={"text": "x", "image": "photo.jpg"}), 400, "image", "must be a file upload")
    assert_refused(post(files={"image": ("a.png", red_dress), "text": ("t.txt", b"is red")}), 400, "text",
                   "must be a plain value, not a file")
    assert_refused(post(files={"image": ("notes.png", b"just some text")}), 400, "image",
                   "not an image that can be read")
    bomb = write_decompression_bomb(tmp_path / "big.png", 8000, 8000).read_bytes()
    assert_refused(post(files={"image": ("big.png", bomb)}), 400, "image",
                   "The photo is 8000 × 8000 pixels (64 megapixels), more than the 40 megapixels accepted")
    assert_refused(post(json={"image_base64": "%%%"}), 400, "image_base64", "not valid base64")
    assert_refused(post(json={"text": 5}), 400, "text", "text must be a string")
    assert_refused(post(json=["is red"]), 400, None, "must be a JSON object")
    assert_refused(post(content=b"{not json", headers={"content-type": "application/json"}), 400, None,
                   "not valid JSON")
    assert_refused(post(content=b"is red", headers={"content-type": "text/plain"}), 415, None,
                   "multipart/form-data", "not text/plain")
    assert_refused(post(files={"image": ("big.bin", b"\0" * 300_000)}), 413, None, "larger than")
    assert_refused(client.get(API_PATH), 405, None, "POST")
    # Each refusal is one INFO line naming the field; no traceback.
    refused = [r for r in caplog.records if r.name == "cti_ir.api"]
    assert len(refused) == 20 and all(r.levelname == "INFO" and not r.exc_info for r in refused)
    assert "refused (400, k)" in caplog.text


def test_a_server_bug_is_a_500_without_details_and_a_logged_traceback(engine, caplog):
    from starlette.testclient import TestClient

    class Failing:  # an engine whose checking of a query breaks
        @staticmethod
        def prepare(**kwargs):
            raise RuntimeError("secret internal detail")

        submit = prepare

    with TestClient(SearchApi(Failing()).app()) as failing:
        response = failing.post(API_PATH, data={"text": "is red"})
    error = assert_refused(response, 500, None, "error on the server", "server log")
    assert "secret" not in error["message"]
    assert any(r.exc_info and "secret internal detail" in str(r.exc_info[1]) for r in caplog.records)


def test_values_are_quoted_as_sent_and_short(client):
    post = lambda body: client.post(API_PATH, json=body)  # noqa: E731
    error = assert_refused(post({"text": "x", "k": 1e308}), 400, "k", "k must be between 1 and 200, got 1e+308")
    assert len(error["message"]) < 80  # not the 309 digits of int(1e308)
    assert_refused(post({"text": "x", "k": 10 ** 400}), 400, "k", "got a number too large to show")
    # JSON's own spelling, not Python's: true, not True; lists and objects as sent.
    assert_refused(post({"text": "x", "k": True}), 400, "k", "k must be a whole number between 1 and 200, got true.")
    assert_refused(post({"text": "x", "k": [5]}), 400, "k", "got [5].")
    assert_refused(post({"text": "x", "image_weight": False}), 400, "image_weight", "got false.")
    assert_refused(post({"text": ["is", "red"]}), 400, "text", 'text must be a string, got ["is", "red"].')
    error = assert_refused(post({"text": "x", "category": "h" * 5000}), 400, "category", "Unknown category 'hhh")
    assert len(error["message"]) < 200


def test_nested_json_is_a_400_not_a_recursion_error(client, caplog):
    caplog.set_level(logging.INFO, logger="cti_ir")
    deep = "[" * 5000 + "]" * 5000  # 10 KB
    for body in (deep, '{"text": ' + deep + "}"):
        response = client.post(API_PATH, content=body, headers={"content-type": "application/json"})
        assert_refused(response, 400, None, "nested too deeply", "one flat JSON object")
    assert not any(r.exc_info for r in caplog.records)


def test_an_empty_image_is_refused_not_dropped(client, red_dress):
    assert_refused(client.post(API_PATH, files={"image": ("empty.jpg", b"", "image/jpeg")}, data={"text": "is red"}),
                   400, "image", "The uploaded file is empty")
    assert_refused(client.post(API_PATH, json={"image_base64": "", "text": "is red"}), 400, "image_base64",
                   "The uploaded file is empty")
    # An HTML form whose file input was left empty sends a nameless empty file: that is no image at all.
    body = client.post(API_PATH, files={"image": ("", b"", "application/octet-stream")}, data={"text": "is red"})
    assert body.status_code == 200 and body.json()["mode"] == "text"


def test_base64_with_a_data_url_prefix_or_line_breaks(client, red_dress):
    encoded = base64.b64encode(red_dress).decode()
    assert_refused(client.post(API_PATH, json={"image_base64": "data:image/png;base64," + encoded}), 400,
                   "image_base64", "drop the data URL prefix", "data:image/jpeg;base64,")
    wrapped = "\n".join(encoded[i:i + 76] for i in range(0, len(encoded), 76)) + "\n"  # as `base64 photo.png`
    body = client.post(API_PATH, json={"image_base64": wrapped, "k": 1}).json()
    assert body["mode"] == "image" and body["hits"][0]["image_id"] == "dress/red_dress"


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_other_method_gets_our_405(client, method):
    response = client.request(method, API_PATH, json={"text": "x"})
    assert_refused(response, 405, None, f"POST request to {API_PATH}, not {method}")
    assert response.headers["allow"] == "POST" and "detail" not in response.json()
    response = client.request(method, "/api/image/dress/red_dress")
    assert_refused(response, 405, None, "GET /api/image/")


def test_product_photos_are_sent_by_id_only(client, catalogue):
    assert client.get("/api/image/dress/red_dress").content == (catalogue.images / "dress/red_dress.png").read_bytes()
    outside = ("dress/nope", "..%2F..%2F..%2Fetc%2Fpasswd", "dress/red_dress.png", str(catalogue.images / "dress"))
    for image_id in outside:
        assert_refused(client.get(f"/api/image/{image_id}"), 404, "image_id", "no product")


def test_a_chunked_body_is_read_only_up_to_the_limit(client):
    def chunks():  # 5 MB without a Content-Length, for a 200 kB limit
        for _ in range(5 * 1024):
            yield b"x" * 1024

    body = json.dumps({"text": "is red"}).encode()
    response = client.post(API_PATH, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_refused(response, 413, None, "larger than 0.191 MB")
    response = client.post(API_PATH, content=chunks(), headers={"content-type": "multipart/form-data; boundary=x"})
    assert_refused(response, 413, None, "larger than")
    assert client.post(API_PATH, content=iter([body]), headers={"content-type": "application/json"}).status_code == 200


def test_a_busy_server_answers_503_and_the_page_says_try_again(engine):
    from starlette.testclient import TestClient

    from cti_ir.serve.batching import ServerBusy
    from cti_ir.serve.page import SearchPage

    class Busy:  # a batcher whose queue is full, over the real engine
        @staticmethod
        def search(*args, **kwargs):
            raise ServerBusy("64 searches are already waiting")

        submit = search

    Busy.engine = engine
    with TestClient(SearchApi(Busy()).app()) as busy:
        assert_refused(busy.post(API_PATH, data={"text": "is red"}), 503, None, "busy", "try again in a moment")
    out = SearchPage(engine, searcher=Busy()).search(None, "is red")
    assert out.status == "**Error:** The server is busy with other searches right now; please try again in a moment."
