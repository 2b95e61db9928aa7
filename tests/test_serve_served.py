"""The page and the JSON API served together on a loopback port, as ``python app.py`` serves them.

Through ``gradio_client`` (the page's public endpoints), raw HTTP (what Gradio and our routes accept) and raw
sockets (chunked bodies): refusals are our sentences and raise for scripts, only thumbnails and indexed photos are
sent, and every request body is bounded.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import cti_ir.serve.gradio_io as gradio_io
import cti_ir.serve.server as server_mod
from cti_ir.serve.engine import SearchEngine
from tests.app_fixtures import free_port, make_tiny_catalogue

pytestmark = pytest.mark.filterwarnings("ignore:::gradio.queueing")  # pandas deprecations inside Gradio's queue

UPLOAD_MB = 0.05


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("served_catalogue"))


@pytest.fixture(scope="module")
def served(catalogue, tmp_path_factory):
    """The page and the JSON API launched on a free loopback port, as ``python app.py`` serves them."""
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    server = server_mod.create_server(engine, thumbnail_dir=tmp_path_factory.mktemp("thumbs"),
                                      max_upload_mb=UPLOAD_MB)
    port = free_port()
    gradio_io.launch(server.demo, engine, port=port, prevent_thread_lock=True, quiet=True, max_upload_mb=UPLOAD_MB,
                     api=server.api, thumbnails=server.thumbnails)
    try:
        yield server, f"http://127.0.0.1:{port}/"
    finally:
        server.demo.close()
        server.batcher.close()


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], verbose=False)


def fetch(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_search_endpoint_answers_and_a_refusal_raises(served, client, catalogue, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    server, _ = served
    red_dress = catalogue.images / "dress" / "red_dress.png"
    gallery, weights, status, history = client.predict(
        handle_file(str(red_dress)), "is blue and has long sleeves", "shoes", 3, False, 0.5, api_name="/search")
    assert "Found **3** products in `shoes` (image + text)" in status
    assert "predicted by the composer" in weights
    assert len(gallery) == 3
    for item in gallery:
        assert item["caption"].startswith("shoes · ") and Path(item["image"]).is_file()  # served and downloaded
        assert Path(item["image"]).suffix == ".jpg"  # a thumbnail, not the PNG photo
    assert history["data"][0][2] == "is blue and has long sleeves"

    # A refused search raises with our sentence: a script cannot mistake it for the previous search's results.
    not_image = tmp_path / "renamed.png"
    not_image.write_text("plain text pretending to be a PNG")
    with pytest.raises(AppError, match="The file is not an image that can be read") as refused:
        client.predict(handle_file(str(not_image)), "is red", "All", 5, False, 0.5, api_name="/search")
    assert "Traceback" not in str(refused.value)

    noise = tmp_path / "noise.png"  # ~120 kB, over the 0.05 MB upload limit: refused before the handler
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(noise)
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict(handle_file(str(noise)), "is red", "All", 5, False, 0.5, api_name="/search")

    gallery, weights, status, _ = client.predict(handle_file(str(red_dress)), "is red", "All", 4, True, 0.25,
                                                 api_name="/search")
    assert len(gallery) == 4 and "image **0.25** · text **0.75**" in weights
    before = server.batcher.stats.queries
    gallery, weights, status, _ = client.predict(handle_file(str(red_dress)), "default", "All", 3,
                                                 api_name="/more_like_this")
    assert len(gallery) == 3 and "more like this" in status and "image only (more like this)" in weights
    assert server.batcher.stats.queries == before + 1  # "more like this" goes through the shared batcher too


def test_each_bad_input_raises_our_sentence_naming_the_parameter(served, client, catalogue, capfd, caplog):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    _, url = served
    info = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/search"]
    params = {p["parameter_name"]: p for p in info["parameters"]}
    assert list(params) == ["image", "text", "category", "k", "override", "image_weight"]
    assert params["image"]["parameter_has_default"] and params["image"]["parameter_default"] is None  # optional
    assert params["k"]["type"]["type"] == "integer" and "between 1 and 200" in params["k"]["type"]["description"]
    red = handle_file(str(catalogue.images / "dress" / "red_dress.png"))
    caplog.set_level("INFO", logger="cti_ir")
    capfd.readouterr()
    bad = [  # arguments after the image, and the sentence the caller gets
        (("is red", "All", "lots", False, 0.5), "k must be a whole number between 1 and 200, got 'lots'."),
        (("is red", "All", 2.7, False, 0.5), "k must be a whole number between 1 and 200, got 2.7."),
        (("is red", "All", 201, False, 0.5), "k must be between 1 and 200, got 201."),
        (("is red", "All", 1e308, False, 0.5), "k must be between 1 and 200, got 1e+308."),
        (("is red", "All", 5, True, "heavy"), "The image weight must be a number between 0 and 1, got 'heavy'."),
        (("is red", "All", 5, True, 1.5), "The image weight must be between 0 and 1, got 1.5."),
        (("is red", "All", 5, "maybe", 0.5), "override must be true or false, got the text 'maybe'."),
        (("is red", "hats", 5, False, 0.5), "Unknown category 'hats'; choose one of dress, shirt, shoes."),
        (("is red", 7, 5, False, 0.5), "The category must be a name, got the number 7."),
        ((["is", "red"], "All", 5, False, 0.5), "The text must be a string, got a list."),  # as the JSON API says
    ]
    for args, message in bad:
        with pytest.raises(AppError) as refused:
            client.predict(red, *args, api_name="/search")
        assert str(refused.value) == message
    _, _, status, _ = client.predict(red, "is red", "All", 200, False, 0.5, api_name="/search")
    assert "Found **12** products" in status  # the engine's limit is reachable: the whole tiny catalogue
    payloads = {
        "not-a-file": "The image must be an uploaded image file (in Python: gradio_client.handle_file(path)), or "
                      "nothing for a text-only search; got the text 'not-a-file'.",
        5: "got the number 5.",
    }
    for image, message in payloads.items():
        with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")):
            client.predict(image, "is red", "All", 5, False, 0.5, api_name="/search")
    # One INFO line per refused request, and no traceback anywhere in the server's output.
    refused = [r for r in caplog.records if r.name.startswith("cti_ir") and "refused" in r.getMessage()]
    assert len(refused) == len(bad) + len(payloads) and all(r.levelname == "INFO" and not r.exc_info
                                                            for r in refused)
    assert "Traceback" not in capfd.readouterr().err


def _call_search(url: str, image_payload) -> str:
    """The raw answer of Gradio's HTTP API for one search with ``image_payload`` (no client-side upload)."""
    body = json.dumps({"data": [image_payload, "is red", "All", 5, False, 0.5]}).encode()
    status, _, answer = fetch(url + "gradio_api/call/search", "POST", body, {"Content-Type": "application/json"})
    assert status == 200, answer
    event = json.loads(answer)["event_id"]
    return fetch(f"{url}gradio_api/call/search/{event}")[2].decode()


def test_image_urls_and_server_paths_are_refused_without_being_fetched(served):
    _, url = served
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the standard library's name
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    photo_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=photo_server.serve_forever, daemon=True).start()
    try:
        photo = f"http://127.0.0.1:{photo_server.server_address[1]}/dress.jpg"
        answer = _call_search(url, {"path": photo, "url": photo, "meta": {"_type": "gradio.FileData"}})
    finally:
        photo_server.shutdown()
    assert "event: error" in answer and "Image URLs are not accepted" in answer, answer
    assert "may have no internet access" not in answer and "upload the file" in answer
    assert hits == []  # refused before anything was fetched
    answer = _call_search(url, {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}})
    assert "event: error" in answer and "/etc/passwd is not a file uploaded to this server" in answer


def test_only_thumbnails_and_indexed_photos_are_sent(served, catalogue):
    server, url = served
    (catalogue.images / "dress" / "notes.txt").write_text("not indexed, not an image")
    answer = json.loads(fetch(url + "api/search", "POST", json.dumps({"text": "a red dress", "k": 2}).encode(),
                              {"Content-Type": "application/json"})[2])
    hit = answer["hits"][0]
    status, headers, thumb = fetch(url.rstrip("/") + hit["thumbnail_url"])
    assert status == 200 and thumb[:3] == b"\xff\xd8\xff"  # a JPEG thumbnail
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"  # its name changes with its content
    status, _, photo = fetch(url.rstrip("/") + hit["image_url"])
    assert status == 200 and photo[:4] == b"\x89PNG"  # the indexed photo, by product id
    # Nothing else of the catalogue's folders: neither the photos by path nor a file beside them.
    for path in (catalogue.images / "dress" / "red_dress.png", catalogue.images / "dress" / "notes.txt",
                 catalogue.index / "items.jsonl"):
        assert fetch(url + gradio_io.gradio_file_url(str(path)).lstrip("/"))[0] == 403, path
    # A picked product is shown as a thumbnail of the thumbnail folder, searched with its own photo.
    picked = server_mod.SearchPage(server.batcher.engine, thumbnails=server.thumbnails).select_sample(0)
    assert Path(picked.image).parent.parent == server.thumbnails.folder
    assert fetch(url + gradio_io.gradio_file_url(picked.image).lstrip("/"))[0] == 200


def _chunked_post(port: int, path: str, content_type: str, total: int) -> tuple[int, bytes, int]:
    """POST ``total`` bytes in 64 kB chunks without a Content-Length; returns (status, body, bytes sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
                  f"Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * 65536
        try:
            while sent < total:
                s.sendall(b"10000\r\n" + chunk + b"\r\n")
                sent += len(chunk)
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed: it stopped reading
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4:
            data = s.recv(65536)
            if not data:
                break
            answer += data
        head, _, body = answer.partition(b"\r\n\r\n")
        while True:
            try:
                data = s.recv(65536)
            except OSError:
                break
            if not data:
                break
            body += data
    return int(head.split()[1]), body, sent


def test_every_request_body_is_bounded_however_it_is_sent(served):
    _, url = served
    port = int(url.rsplit(":", 1)[1].strip("/"))
    total = 3 * 1024 * 1024  # the ceiling here: about 1.07 MB
    status, body, _ = _chunked_post(port, "/api/search", "application/json", total)
    assert status == 413 and b'"parameter": null' in body.replace(b'"parameter":null', b'"parameter": null')
    assert b"larger than 0.05 MB" in body
    # Gradio's own routes too (the ceiling: the largest upload plus 1 MB for the rest of a request).
    status, body, _ = _chunked_post(port, "/gradio_api/queue/join", "application/json", total)
    assert status == 413 and b"the most this server accepts" in body


def test_other_methods_on_the_served_api_get_our_error_object(served):
    _, url = served
    status, headers, body = fetch(url + "api/search", "PUT", b"{}", {"Content-Type": "application/json"})
    assert status == 405 and headers["Allow"] == "POST"
    assert json.loads(body)["error"]["message"].startswith("Send the search as a POST request to /api/search, not PUT")


def _page_search(url: str, text: str, headers: dict | None = None) -> dict:
    """A Search press as the browser sends it (the page's own event, outside the queue): its output data."""
    config = json.loads(fetch(url + "config")[2])
    event = next(d for d in config["dependencies"] if d.get("api_name") == "page_search")
    body = {"data": [None, text, "All", 3, False, 0.5, None, None, None], "event_data": None,
            "fn_index": event["id"], "trigger_id": event["targets"][0][0], "session_hash": "pagetest123"}
    status, _, answer = fetch(url + "gradio_api/run/page_search", "POST", json.dumps(body).encode(),
                              {"Content-Type": "application/json", **(headers or {})})
    assert status == 200, answer[:300]
    return json.loads(answer)["data"]


def test_a_page_search_sends_its_thumbnails_as_urls_of_this_server(served):
    server, url = served
    gallery = _page_search(url, "a red dress")[0]
    assert len(gallery) == 3
    for entry in gallery:
        image = entry["image"]
        # The full URL under which the browser reached the server, into the thumbnail folder, and it is sent.
        assert image["url"].startswith(url.rstrip("/") + gradio_io.gradio_file_url(str(server.thumbnails.folder))), image
        status, _, body = fetch(image["url"])
        assert status == 200 and body[:3] == b"\xff\xd8\xff"
    # Behind a proxy: the host and scheme the proxy says the browser used.
    proxied = _page_search(url, "a red dress", {"X-Forwarded-Host": "shop.example", "X-Forwarded-Proto": "https"})
    assert proxied[0][0]["image"]["url"].startswith("https://shop.example/gradio_api/file=")
