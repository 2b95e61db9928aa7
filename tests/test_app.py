"""The search page: handlers called directly, the demo preparation, the CLI, and one served end-to-end run."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

import app
from cti_ir.checkpoint import save_checkpoint
from cti_ir.model import CIRModel
from cti_ir.search import MAX_TEXT_CHARS, SearchEngine
from tests.app_fixtures import free_port, make_tiny_catalogue, write_decompression_bomb


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("app_catalogue"))


@pytest.fixture(scope="module")
def engine(catalogue):
    return SearchEngine(catalogue.checkpoint, catalogue.index)


@pytest.fixture(scope="module")
def page(engine):
    return app.SearchPage(engine, seed=0)


@pytest.fixture
def red_dress(catalogue) -> str:
    return str(catalogue.images / "dress" / "red_dress.png")


def result_ids(out: app.SearchOutput) -> list[str]:
    return [h["image_id"] for h in out.hits]


def assert_ok(out: app.SearchOutput, k: int) -> None:
    assert "Error" not in out.status, out.status
    assert len(out.gallery) == len(out.hits) == k
    for (image, caption), hit in zip(out.gallery, out.hits):
        assert image == hit["path"] and Path(image).is_file()
        assert caption.startswith(f"{hit['image_id']} · score ")
        assert hit["description"] in caption
    scores = [h["score"] for h in out.hits]
    assert scores == sorted(scores, reverse=True)


def assert_error(out: app.SearchOutput, *fragments: str) -> None:
    assert out.status.startswith("**Error:**"), out.status
    for fragment in fragments:
        assert fragment in out.status, out.status
    assert out.gallery == [] and out.hits == []
    assert "Traceback" not in out.status


# ------------------------------------------------------------------------------------------------ queries
def test_composed_query(page, red_dress):
    out = page.search(red_dress, "is blue and has long sleeves", "All", 5)
    assert_ok(out, 5)
    assert "(image + text)" in out.status
    assert "predicted by the composer" in out.weights
    turn = out.history[-1]
    wi, wt = (float(x) for x in turn["weights"].split(" / "))
    assert 0 <= wi <= 1 and abs(wi + wt - 1) < 0.011
    assert out.history_rows == [[1, "uploaded image", "is blue and has long sleeves", "All", out.hits[0]["image_id"],
                                 turn["weights"]]]


def test_image_only_and_text_only(page, red_dress, catalogue):
    image_only = page.search(red_dress, "", "All", 12)
    assert_ok(image_only, 12)
    assert set(result_ids(image_only)) == set(catalogue.ids)
    assert result_ids(image_only)[0] == "dress/red_dress"  # an image is closest to itself
    assert "image only" in image_only.weights
    text_only = page.search(None, "a green shirt", "All", 3)
    assert_ok(text_only, 3)
    assert "text only" in text_only.weights and text_only.history[-1]["reference"] == "—"


def test_category_filter(page, red_dress):
    out = page.search(red_dress, "is black", "shoes", 10)
    assert_ok(out, 4)  # the category holds 4 products: fewer than k is fine
    assert all(h["categories"] == ["shoes"] for h in out.hits)
    assert "in `shoes`" in out.status


def test_manual_weights_override(page, red_dress):
    out = page.search(red_dress, "is blue", "All", 12, override=True, image_weight=1.0)
    assert "set manually" in out.weights and "image **1.00** · text **0.00**" in out.weights
    image_only = page.search(red_dress, "", "All", 12)
    assert result_ids(out)[0] == result_ids(image_only)[0]
    out = page.search(red_dress, "is blue", "All", 5, override=True, image_weight=0.3)
    assert "image **0.30** · text **0.70**" in out.weights
    out = page.search(None, "is blue", "All", 5, override=True, image_weight=0.3)
    assert "apply only when both" in out.status


def test_click_to_refine_updates_reference_and_history(page, red_dress):
    first = page.search(red_dress, "is blue", "All", 5)
    picked = first.hits[1]
    ref = page.select_result(first.hits, gr.SelectData(None, {"index": 1, "value": None}))
    assert ref.image == picked["path"] and ref.reference_id == picked["image_id"]
    assert f"`{picked['image_id']}`" in ref.reference_label and ref.text == ""
    second = page.search(ref.image, "is green", "All", 5, reference_id=ref.reference_id, history=first.history)
    assert_ok(second, 5)
    assert picked["image_id"] not in result_ids(second)  # the reference itself is left out of its results
    assert [row[1] for row in second.history_rows] == ["uploaded image", picked["image_id"]]
    assert [row[0] for row in second.history_rows] == [1, 2]
    assert second.history_rows[1][2] == "is green"
    stale = page.select_result([], gr.SelectData(None, {"index": 3, "value": None}))
    assert "no longer available" in stale.status


def test_pick_from_catalogue_and_random(page, engine):
    assert len(page.samples) == 8
    assert {s["categories"][0] for s in page.samples[:3]} == set(engine.categories)
    picked = page.select_sample(gr.SelectData(None, {"index": 2, "value": None}))
    assert picked.reference_id == page.samples[2]["image_id"] and Path(picked.image).is_file()
    rnd = page.random_product()
    assert rnd.reference_id in {it["image_id"] for it in engine.index.items}
    assert page.reference_uploaded()[0] is None and page.reference_cleared()[0] is None
    assert page.new_session()[2] == []


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_images_give_messages(page, tmp_path, red_dress):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is a text file, not a PNG")
    assert_error(page.search(str(not_image), "is red"), "not an image")
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(Path(red_dress).read_bytes()[:120])
    assert_error(page.search(str(truncated), "is red"), "cannot be used")
    bomb = write_decompression_bomb(tmp_path / "bomb.png")  # 30000 x 30000 declared
    assert_error(page.search(str(bomb), "is red"), "too many pixels")
    big = write_decompression_bomb(tmp_path / "big.png", 8000, 8000)  # under PIL's own limit, over ours
    assert_error(page.search(str(big), "is red"), "too many pixels", "8000x8000")
    assert_error(page.search(str(tmp_path / "gone.png"), "is red"), "file not found")
    assert_error(page.search(12345, "is red"), "unsupported value")
    assert_ok(page.search(red_dress, "is red", "All", 3), 3)  # and the next query works


def test_empty_and_bad_parameters_give_messages(page, red_dress):
    assert_error(page.search(None, ""), "Give a reference image, a text, or both")
    assert_error(page.search(None, " \u200b\t\x00\n "), "Give a reference image")  # nothing left once cleaned
    assert_error(page.search("", None), "Give a reference image")
    assert_error(page.search(red_dress, "x", "handbags"), "Unknown category")
    assert_error(page.search(red_dress, "x", "All", 0), "between 1 and")
    assert_error(page.search(red_dress, "x", "All", "lots"), "whole number")
    assert_error(page.search(red_dress, "x", "All", 5, override=True, image_weight=1.5), "between 0 and 1")
    assert_error(page.search(red_dress, "x", "All", 5, override=True, image_weight="heavy"), "a number")
    history = [{"turn": 1, "reference": "—", "text": "t", "category": "All", "top": "x", "weights": "0 / 1"}]
    kept = page.search(None, "", history=history)
    assert kept.history == history and len(kept.history_rows) == 1  # an error keeps the history
    assert_ok(page.search(red_dress, "is red", "All", 3), 3)


def test_long_and_odd_unicode_text(page, red_dress):
    out = page.search(red_dress, "is red " * 15000, "All", 4)  # ~100k characters
    assert_ok(out, 4)
    assert f"cut to its first {MAX_TEXT_CHARS} characters" in out.status
    for text in ("is red 👗🔥 and sparkly ✨", "أحمر مع أكمام طويلة", "אדום\u200f with \u202eRTL", "is\u200b\u200d red\ufeff",
                 "is \x07red\x1b[31m", "\ud800 lone surrogate", "ǅ\u0301\u0327 combining", "\U0001F9D1\u200d\U0001F3A8"):
        out = page.search(red_dress, text, "All", 3)
        assert_ok(out, 3)
    out = page.search(None, "\u200b\u200b👗", "All", 2)  # text only, made of an emoji
    assert_ok(out, 2)


def test_missing_catalogue_image_shows_placeholder(page, catalogue, red_dress):
    victim = catalogue.images / "dress" / "blue_dress.png"
    hidden = victim.with_suffix(".hidden")
    shutil.move(victim, hidden)
    try:
        out = page.search(red_dress, "", "dress", 4)
        assert "Error" not in out.status and len(out.gallery) == 4
        slot = result_ids(out).index("dress/blue_dress")
        image, caption = out.gallery[slot]
        assert image is page.placeholder and caption.startswith("[image missing] dress/blue_dress")
        assert "missing from disk (`dress/blue_dress`)" in out.status
        stale = page.select_result(out.hits, gr.SelectData(None, {"index": slot, "value": None}))
        assert "missing from disk" in stale.status and "dress/blue" in stale.status
    finally:
        shutil.move(hidden, victim)
    assert_ok(page.search(red_dress, "", "dress", 4), 4)


def test_markdown_escaping():
    assert app.md_escape("<b>*x*</b> [a](b) | _") == "\\<b\\>\\*x\\*\\</b\\> \\[a\\](b) \\| \\_"


# ------------------------------------------------------------------------------------------- app and CLI
def test_build_app_and_catalogue_dirs(engine, catalogue):
    demo = app.build_app(engine, example_texts=["is red"])
    assert isinstance(demo, gr.Blocks)
    api = [d for d in demo.config["dependencies"] if d.get("api_name") == "search"]
    assert len(api) == 1
    assert sorted(app.catalogue_dirs(engine)) == sorted(str(catalogue.images / c) for c in ("dress", "shirt", "shoes"))


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--checkpoint", "--index", "--host", "--port", "--share", "--cache-dir", "--max-upload-mb",
                 "--concurrency", "--queue-size", "--demo-size"):
        assert flag in text


def test_main_reports_bad_paths_without_traceback(tmp_path, capsys, catalogue):
    assert app.main(["--checkpoint", str(tmp_path / "nope"), "--index", str(catalogue.index)]) == 2
    assert app.main(["--index", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 2 and "Traceback" not in err


# ------------------------------------------------------------------------------------------------ demo
def _fake_synth(calls: list):
    """Stand-ins for data_prep.synth.main / is_complete writing a tiny Fashion-IQ + Shoes pair in seconds."""
    from tests.conftest import make_fake_fashioniq, make_fake_shoes

    def main(argv):
        out = Path(argv[argv.index("--out") + 1])
        calls.append(argv)
        make_fake_fashioniq(out / "fashioniq")
        make_fake_shoes(out / "shoes")
        (out / "done").write_text("ok")
        return 0

    return main, lambda out, seed, size: (Path(out) / "done").is_file()


def test_prepare_demo_builds_once_then_reuses(tmp_path, monkeypatch, catalogue):
    from data_prep import demo
    from data_prep import synth

    calls: list = []
    fake_main, fake_complete = _fake_synth(calls)
    monkeypatch.setattr(synth, "main", fake_main)
    monkeypatch.setattr(synth, "is_complete", fake_complete)
    messages: list[str] = []
    checkpoint, index, info = demo.prepare_demo(tmp_path / "cache", catalogue.checkpoint, messages.append, "small")
    assert checkpoint == catalogue.checkpoint and index == tmp_path / "cache" / "index-small"
    assert calls == [["--out", str(tmp_path / "cache" / "catalogue-small"), "--size", "small", "--seed", "0"]]
    assert info["products"] == 3 * (8 + 10 + 4) + 11 and Path(info["fashioniq"]).is_dir()  # conftest's fakes
    assert any(m.startswith("[1/3] catalogue: generating") for m in messages)
    assert any(m.startswith("[3/3] index: embedding") for m in messages)
    engine = SearchEngine(checkpoint, index)
    assert engine.categories == ["boots", "dress", "pumps", "shirt", "toptee"]

    messages.clear()
    demo.prepare_demo(tmp_path / "cache", catalogue.checkpoint, messages.append, "small")
    assert len(calls) == 1
    assert any("using the cached small catalogue" in m for m in messages)
    assert any(m.startswith("[3/3] index: using the cached index") for m in messages)

    other = save_checkpoint(CIRModel.create("cti-tiny"), tmp_path / "other_checkpoint")  # another fingerprint
    messages.clear()
    _, index, _ = demo.prepare_demo(tmp_path / "cache", other, messages.append, "small")
    assert any("holds an index of another model" in m for m in messages)
    SearchEngine(other, index)  # the rebuilt index matches the new checkpoint


def test_prepare_demo_without_demo_model_uses_a_labelled_stand_in(tmp_path, monkeypatch):
    from data_prep import demo
    from data_prep import synth

    fake_main, fake_complete = _fake_synth([])
    monkeypatch.setattr(synth, "main", fake_main)
    monkeypatch.setattr(synth, "is_complete", fake_complete)
    monkeypatch.setattr(demo, "DEMO_MODEL_DIR", tmp_path / "no_demo_model")
    monkeypatch.setattr(demo, "FALLBACK_ARCH", "cti-tiny")  # the real fallback is cti-small; tiny keeps this fast
    monkeypatch.setenv(demo.CACHE_ENV, str(tmp_path / "env_cache"))
    messages: list[str] = []
    checkpoint, index, _ = demo.prepare_demo(progress=messages.append, size="small")
    assert checkpoint == tmp_path / "env_cache" / "untrained-model"
    assert any("WARNING" in m and "UNTRAINED" in m for m in messages)
    first = (checkpoint / "cti_config.json").read_text()
    messages.clear()
    demo.prepare_demo(progress=messages.append, size="small")  # same stand-in, so the index is reused
    assert (checkpoint / "cti_config.json").read_text() == first
    assert any(m.startswith("[3/3] index: using the cached index") for m in messages)
    with pytest.raises(ValueError, match="demo size"):
        demo.prepare_demo(tmp_path, size="huge")


# ------------------------------------------------------------------------------------------- end to end
@pytest.mark.filterwarnings("ignore:::gradio.queueing")  # pandas deprecations inside Gradio's queue, not ours
def test_served_app_answers_the_search_api(engine, catalogue, tmp_path):
    from gradio_client import Client, handle_file

    demo = app.build_app(engine)
    port = free_port()
    app.launch(demo, engine, port=port, prevent_thread_lock=True, quiet=True, max_upload_mb=0.05)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        red_dress = catalogue.images / "dress" / "red_dress.png"
        gallery, weights, status, history = client.predict(
            handle_file(str(red_dress)), "is blue and has long sleeves", "shoes", 3, False, 0.5, api_name="/search")
        assert "Found **3** products in `shoes` (image + text)" in status
        assert "predicted by the composer" in weights
        assert len(gallery) == 3
        for item in gallery:
            assert item["caption"].startswith("shoes/") and Path(item["image"]).is_file()  # served and downloaded
        assert history["data"][0][2] == "is blue and has long sleeves"

        not_image = tmp_path / "renamed.png"
        not_image.write_text("plain text pretending to be a PNG")
        gallery, _, status, _ = client.predict(handle_file(str(not_image)), "is red", "All", 5, False, 0.5,
                                               api_name="/search")
        assert gallery == [] and status.startswith("**Error:**") and "not an image" in status

        noise = tmp_path / "noise.png"  # ~120 kB, over the 0.05 MB upload limit: refused before the handler
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(noise)
        with pytest.raises(ValueError, match="exceeds the maximum file size"):
            client.predict(handle_file(str(noise)), "is red", "All", 5, False, 0.5, api_name="/search")

        gallery, weights, status, _ = client.predict(handle_file(str(red_dress)), "is red", "All", 4, True, 0.25,
                                                     api_name="/search")
        assert len(gallery) == 4 and "image **0.25** · text **0.75**" in weights
    finally:
        demo.close()
