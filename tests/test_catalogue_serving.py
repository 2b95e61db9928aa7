"""The shop's catalogue while serving: product fields in hits, filters through the engine and the JSON API,
``GET /api/status``, and live reload of a changed index without a restart and without a failed request."""

from __future__ import annotations

import dataclasses
import shutil
import threading
import time

import pytest

from cti_ir.index.catalogue import items_from_folder
from cti_ir.index.catalogue_index import add_to_index
from cti_ir.index.lifecycle import attach_products, remove_from_index, update_index
from cti_ir.index.products import ProductTable
from cti_ir.serve.batching import SearchBatcher
from cti_ir.serve.engine import QueryError, SearchEngine
from cti_ir.serve.http_api import API_PATH, SearchApi
from cti_ir.serve.page_view import caption, hit_dicts
from tests.app_fixtures import COLOURS, make_tiny_catalogue

BRANDS = {"red": "Acme", "blue": "Zeta", "green": "Acme", "black": "Nord"}


def fields(image_id: str, price_bump: float = 0) -> dict:
    colour = image_id.split("/")[1].split("_")[0]
    n = list(COLOURS).index(colour)
    return {"title": f"{colour} {image_id.split('/')[0]}", "price": 10.0 * (n + 1) + price_bump, "currency": "EUR",
            "in_stock": n % 2 == 0, "brand": BRANDS[colour], "sizes": ["S", "M"] if n < 2 else ["L"]}


def table(ids, price_bump: float = 0) -> ProductTable:
    return ProductTable({i: fields(i, price_bump) for i in ids},
                        {"title": "text", "price": "number", "currency": "text", "in_stock": "bool", "brand": "text",
                         "sizes": "list"})


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    catalogue = make_tiny_catalogue(tmp_path_factory.mktemp("shop"))
    attach_products(catalogue.index, table(catalogue.ids))
    return catalogue


@pytest.fixture
def shop(base, tmp_path):
    """The tiny catalogue's index (with product fields, version 2) copied for one test, and an engine on it."""
    index = tmp_path / "index"
    shutil.copytree(base.index, index, symlinks=True)
    catalogue = dataclasses.replace(base, index=index)
    return catalogue, SearchEngine(catalogue.checkpoint, index)


def api_client(engine):
    from starlette.testclient import TestClient

    return TestClient(SearchApi(engine, file_url=lambda p: "/files" + p).app())


def test_hits_carry_product_fields_and_filters_keep_only_passing_products(shop):
    catalogue, engine = shop
    result = engine.search(text="a red dress", k=12)
    assert len(result.hits) == 12 and all(h.product == fields(h.image_id) for h in result.hits)
    filtered = engine.search(text="a red dress", k=12, filters={"in_stock": True, "price_max": 20})
    assert {h.image_id for h in filtered.hits} == {i for i in catalogue.ids
                                                   if fields(i)["in_stock"] and fields(i)["price"] <= 20}
    both = engine.search(text="a dress", k=5, category="shirt", filters={"brand": "acme", "size": "M"})
    assert [h.image_id for h in both.hits] == ["shirt/red_shirt"]  # the only Acme shirt in size M
    # The page shows the fields that exist under each result.
    line = caption(hit_dicts(filtered.hits)[0]).splitlines()[1]
    assert line == f"{filtered.hits[0].product['title']} · 10.00 EUR · in stock"
    with pytest.raises(QueryError, match="unknown filter 'colour'") as refused:
        engine.search(text="a dress", filters={"colour": "red"})
    assert refused.value.parameter == "filters"


def test_the_json_api_takes_filters_and_returns_product_fields(shop):
    catalogue, engine = shop
    with api_client(engine) as client:
        r = client.post(API_PATH, json={"text": "a blue shirt", "k": 12, "category": "all",
                                        "filters": {"brand": ["Zeta", "Nord"]}, "in_stock": False})
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert {h["image_id"] for h in hits} == {i for i in catalogue.ids if fields(i)["brand"] in ("Zeta", "Nord")}
        assert all(h["product"] == fields(h["image_id"]) for h in hits)
        form = client.post(API_PATH, data={"text": "a shirt", "category": "all", "price_min": "25",
                                                   "size": "L"})
        assert form.status_code == 200 and {h["product"]["price"] for h in form.json()["hits"]} == {30.0, 40.0}
        for body, parameter, message in [
            ({"text": "x", "filters": {"price_min": "cheap"}}, "filters", "filter price_min must be a number"),
            ({"text": "x", "filters": [1]}, "filters", "filters must be an object"),
            ({"text": "x", "filters": {"in_stock": True}, "in_stock": False}, "in_stock", "given both"),
        ]:
            r = client.post(API_PATH, json=body)
            assert r.status_code == 400 and r.json()["error"]["parameter"] == parameter, r.text
            assert message.lower() in r.json()["error"]["message"].lower()
        bad_form = client.post(API_PATH, data={"text": "x", "filters": "{not json"})
        assert bad_form.status_code == 400 and bad_form.json()["error"]["parameter"] == "filters"


def test_status_says_what_is_served(shop):
    catalogue, engine = shop
    with api_client(engine) as client:
        status = client.get("/api/status").json()
        assert status["index"]["version"] == 2 and status["index"]["products"] == 12
        assert status["index"]["product_fields"]["price"] == "number"
        assert status["model"]["fingerprint"] == engine.model.fingerprint
        assert client.post("/api/status").status_code == 405


def test_a_running_engine_serves_a_changed_index_without_restart(shop):
    catalogue, engine = shop
    gone = catalogue.ids[0]
    remove_from_index(catalogue.index, [gone])
    update_index(catalogue.index, products=table(catalogue.ids[1:2], price_bump=5))
    assert engine.index.version == 2  # nothing switched yet: the next look at the folder does it
    assert engine.index_watcher.reload() is True and engine.index.version == 4
    hits = engine.search(text="a red dress", k=12).hits
    assert gone not in {h.image_id for h in hits} and len(hits) == 11
    assert {h.image_id: h.product["price"] for h in hits}[catalogue.ids[1]] == fields(catalogue.ids[1])["price"] + 5


def test_updates_while_serving_fail_no_request_and_are_all_reflected(shop):
    """16 concurrent clients search while 40 changes (field changes, removals, additions, a photo change) are
    applied; every request is answered, and after the last change every search reflects it."""
    catalogue, engine = shop
    engine.index_watcher.interval = 0.02
    batcher = SearchBatcher(engine, max_wait_ms=1)
    failures, answered, stop = [], [0], threading.Event()

    def client(n: int) -> None:
        while not stop.is_set():
            try:
                filters = {"in_stock": True} if n % 2 else None
                result = batcher.search(text=["a red dress", "a blue shirt"][n % 2], k=5, filters=filters)
                assert result.hits and (filters is None or all(h.product["in_stock"] for h in result.hits))
                answered[0] += 1
            except Exception as e:  # noqa: BLE001 - every failure is counted
                failures.append(repr(e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    images = catalogue.index.parent / "images"  # this test changes a photo: a copy of the shared catalogue's
    shutil.copytree(catalogue.images, images)
    metadata = catalogue.images.parent / "metadata.jsonl"
    items = {it.image_id: it for it in items_from_folder(images, metadata)}
    try:
        for step in range(40):
            victim = catalogue.ids[step % 12]
            if step % 4 == 0:
                remove_from_index(catalogue.index, [victim])
            elif step % 4 == 1:
                add_to_index(engine.model, [items[catalogue.ids[(step - 1) % 12]]], catalogue.index, progress=False)
            else:
                attach_products(catalogue.index, table(catalogue.ids, price_bump=step))
        gone = catalogue.ids[5]
        remove_from_index(catalogue.index, [gone])
        (images / f"{catalogue.ids[2]}.png").write_bytes((images / f"{catalogue.ids[7]}.png").read_bytes())
        update_index(catalogue.index, items_from_folder(images, metadata), model=engine.model, progress=False)
        final = engine.index.folder
        deadline = time.monotonic() + 30
        while engine.index.version != _served_version(final) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        batcher.close()
    assert failures == [] and answered[0] > 0
    assert engine.index.version == _served_version(final)
    for text in ("a red dress", "a blue shirt", "a green shoe"):
        hits = engine.search(text=text, k=12).hits
        assert gone not in {h.image_id for h in hits} and len(hits) == 11
        assert all(h.product["price"] == fields(h.image_id, price_bump=39)["price"] for h in hits)


def _served_version(folder) -> int:
    from cti_ir.index.catalogue_index import read_index_info

    return read_index_info(folder)["version"]


def test_the_page_says_which_index_version_it_serves(shop):
    from cti_ir.serve.catalogue_api import serving_line

    catalogue, engine = shop
    assert serving_line(engine).startswith("Serving index version 2 (12 products, built ")
    assert "product fields: brand, currency, in_stock, price, sizes, title" in serving_line(engine)
    remove_from_index(catalogue.index, [catalogue.ids[0]])
    engine.index_watcher.reload()
    assert serving_line(engine).startswith("Serving index version 3 (11 products")


def test_the_page_header_shows_the_served_version_and_refreshes_it(shop):
    import gradio as gr

    from cti_ir.serve.server import build_app

    catalogue, engine = shop
    demo = build_app(engine, example_texts=["is red"])
    header = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "serving")
    assert isinstance(header, gr.Markdown) and header.value.startswith("Serving index version 2 (12 products")
    # Its refreshers: on page load and on a timer's tick, private and outside the queue.
    refreshers = [fn for fn in demo.fns.values() if [o._id for o in fn.outputs] == [header._id]]
    triggers = {trigger for fn in refreshers for _, trigger in fn.targets}
    assert triggers == {"load", "tick"} and all(fn.queue is False and fn.api_visibility == "private"
                                                for fn in refreshers)
    remove_from_index(catalogue.index, [catalogue.ids[0]])
    engine.index_watcher.interval = 0
    deadline = time.monotonic() + 5
    while engine.index.version != 3 and time.monotonic() < deadline:  # what a tick triggers: the background reload
        refreshers[0].fn()
        time.sleep(0.02)
    assert refreshers[0].fn().startswith("Serving index version 3 (11 products")


def test_changes_published_while_json_clients_search_are_served_without_a_failed_request(base, tmp_path):
    """A small run of benchmarks.catalogue.bench_live_updates: the real server and the index commands."""
    from benchmarks.catalogue.bench_live_updates import Http, run
    from benchmarks.catalogue.live_shop import Shop
    from cti_ir.serve import gradio_io, server as server_mod
    from tests.app_fixtures import free_port

    index = tmp_path / "index"
    shutil.copytree(base.index, index, symlinks=True)
    engine = SearchEngine(base.checkpoint, index)
    engine.index_watcher.interval = 0.05
    server = server_mod.create_server(engine, thumbnail_dir=tmp_path / "thumbs")
    port = free_port()
    gradio_io.launch(server.demo, engine, port=port, prevent_thread_lock=True, quiet=True, api=server.api,
                     thumbnails=server.thumbnails)
    try:
        shop = Shop(index, tmp_path / "work", base.checkpoint, table(base.ids).rows, stable_share=0.25)
        result = run(shop, Http("127.0.0.1", port), updates=5, clients=4, warmup_s=0.2)
    finally:
        server.demo.close()
        server.batcher.close()
    requests = result["requests"]["all"]
    assert requests["requests"] > 20 and requests["failed"] == 0, result["request_problems"]
    assert requests["filter_violations"] == 0 and requests["stale_hits"] == 0, result["request_problems"]
    assert result["change_summary"]["kinds"] == {"add": 1, "fields": 2, "remove": 1, "photo": 1}
    assert result["change_summary"]["not_served_in_time"] == 0
    after = result["after_last_change"]
    assert after["problem_count"] == 0, after["problems"]
    assert after["served_version"] == shop.version == 7 and after["served_products"] == 12
    assert after["removed_products_absent"] == 2 and after["new_photos_found_first"] == 1
    assert after["changed_products_found_with_new_price"] == after["changed_products"] >= 5


def test_a_session_search_is_answered_from_one_version_when_a_reload_lands_during_it(shop, monkeypatch):
    from cti_ir.index.searching import open_index
    from cti_ir.serve import session_search

    catalogue, engine = shop
    engine.index_watcher.interval = 1e9  # only the switch below changes the served version

    def query():
        return engine.prepare(text="a red dress", k=6, reference_id=catalogue.ids[3], session=[])

    before = [h.image_id for h in engine.search_batch([query()])[0].hits]
    remove_from_index(catalogue.index, [catalogue.ids[0]])  # the next version: every later position moves
    newer, searched = open_index(catalogue.index), session_search.search_planned

    def reload_lands(engine_, *args, **kwargs):  # the watcher's switch, between the search and reading its hits
        found = searched(engine_, *args, **kwargs)
        engine_.index = newer
        return found

    monkeypatch.setattr(session_search, "search_planned", reload_lands)
    assert [h.image_id for h in engine.search_batch([query()])[0].hits] == before
