"""``python app.py --api-only``: the JSON API without the page, in one process or in ``--workers`` processes.

In-process (Starlette's test client) for what the API-only app answers; one real start of ``app.py --api-only
--workers 2`` for the worker processes, which answer searches and stop on Ctrl+C.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cti_ir.serve import cli
from cti_ir.serve.api_server import THUMBNAIL_PATH, ApiServerSettings, build_api_app
from cti_ir.serve.engine import SearchEngine
from tests.app_fixtures import free_port, make_tiny_catalogue
from tests.test_serve_cli import no_loading, run  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("api_only_catalogue"))


@pytest.fixture(scope="module")
def client(catalogue, tmp_path_factory):
    from starlette.testclient import TestClient

    settings = ApiServerSettings(checkpoint=str(catalogue.checkpoint), index=str(catalogue.index), max_upload_mb=0.05,
                                 thumbnail_dir=str(tmp_path_factory.mktemp("api_only_thumbs")))
    app = build_api_app(SearchEngine(catalogue.checkpoint, catalogue.index), settings)
    with TestClient(app) as test_client:  # its exit runs the app's shutdown, which closes the batcher
        yield test_client


def test_a_search_answers_with_thumbnails_this_server_sends(client, catalogue):
    photo = (catalogue.images / "dress" / "red_dress.png").read_bytes()
    answer = client.post("/api/search", data={"text": "is blue", "k": "3", "category": "all"},
                         files={"image": ("dress.png", photo)})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]
    assert len(hits) == 3
    for hit in hits:
        assert hit["thumbnail_url"].startswith(THUMBNAIL_PATH + "/")
        thumbnail = client.get(hit["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
        assert "immutable" in thumbnail.headers["cache-control"]  # names never change content
        photo_answer = client.get(hit["image_url"])
        assert photo_answer.status_code == 200 and photo_answer.content[:8] == b"\x89PNG\r\n\x1a\n"
    status = client.get("/api/status").json()
    assert status["index"]["products"] == 12


@pytest.mark.parametrize("path", [THUMBNAIL_PATH + "/..%2f..%2findex_info.json", THUMBNAIL_PATH + "/nothing.jpg"])
def test_nothing_but_thumbnails_is_sent_from_the_thumbnail_path(client, path):
    answer = client.get(path)
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "No such thumbnail: use the thumbnail_url of a search result."


def test_other_paths_get_our_sentence_naming_the_api(client):
    answer = client.get("/")
    assert answer.status_code == 404
    message = answer.json()["error"]["message"]
    assert "JSON API only: POST /api/search" in message and "without --api-only" in message


def test_a_body_over_the_limit_is_refused_with_413(client):
    answer = client.post("/api/search", content=b"x" * 200_000, headers={"Content-Type": "application/json"})
    assert answer.status_code == 413
    assert "larger than" in answer.json()["error"]["message"]


@pytest.mark.parametrize("argv, message", [
    (["--workers", "2"], "--workers needs --api-only"),
    (["--api-only", "--workers", "0"], "--workers must be between 1 and 64, got 0"),
    (["--api-only", "--share"], "--share makes a public link to the page, which --api-only does not serve"),
])
def test_worker_flags_are_checked_before_loading(argv, message, no_loading, capsys, tmp_path):  # noqa: F811
    preparer, calls = no_loading
    err = run([*argv, "--thumbnail-dir", str(tmp_path)], preparer, capsys)
    assert message in err and calls == []


def _post_search(url: str, photo: bytes) -> dict:
    boundary = "api-only-test"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nis blue\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="p.png"\r\n\r\n').encode() + \
        photo + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_two_worker_processes_answer_and_stop_on_ctrl_c(catalogue, tmp_path):
    port = free_port()
    command = [sys.executable, str(REPO / "app.py"), "--api-only", "--workers", "2", "--port", str(port),
               "--checkpoint", str(catalogue.checkpoint), "--index", str(catalogue.index),
               "--thumbnail-dir", str(tmp_path / "thumbs")]
    server = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    try:
        deadline = time.monotonic() + 240
        for line in server.stdout:
            lines.append(line)
            if line.startswith("JSON API:") or time.monotonic() > deadline:
                break
        assert any(line.startswith("JSON API:") and "2 worker processes" in line for line in lines), "".join(lines)
        photo = (catalogue.images / "dress" / "red_dress.png").read_bytes()
        for _ in range(4):
            answer = _post_search(f"http://127.0.0.1:{port}/api/search", photo)
            assert answer["hits"] and answer["mode"] == "composed"
        server.send_signal(signal.SIGINT)
        rest, _ = server.communicate(timeout=60)
        lines.append(rest)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    log = "".join(lines)
    assert sum("worker" in line and "ready" in line for line in log.splitlines()) == 2, log
    assert "Traceback" not in log


def test_the_load_generators_request_is_one_the_api_answers(client, catalogue):
    from benchmarks.speed.wrk_load import BOUNDARY, lua_script, multipart_body

    photo = (catalogue.images / "dress" / "red_dress.png").read_bytes()
    answer = client.post("/api/search", content=multipart_body("is blue", photo),
                         headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
    assert answer.status_code == 200, answer.text
    hits = answer.json()["hits"]  # k=10 of the photo's own category, which has 4 products in the tiny catalogue
    assert len(hits) == 4 and all(hit["categories"] == ["dress"] for hit in hits)
    script = lua_script(["is blue", "is red"], photo)
    assert script.count("\\137\\080\\078\\071") == 2  # the PNG signature (bytes 137 'P' 'N' 'G') in each body
