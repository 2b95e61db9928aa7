"""The search page: handlers called directly, the demo preparation, the CLI, and one served end-to-end run."""

from __future__ import annotations

import shutil
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

import app
import cti_ir.serve.page as page_mod
import cti_ir.serve.server as server_mod
from cti_ir.model.checkpoint import save_checkpoint
from cti_ir.model.cir_model import CIRModel
from cti_ir.serve.engine import MAX_TEXT_CHARS, SearchEngine
from tests.app_fixtures import free_port, make_tiny_catalogue, write_decompression_bomb


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("app_catalogue"))


@pytest.fixture(scope="module")
def engine(catalogue):
    return SearchEngine(catalogue.checkpoint, catalogue.index)


@pytest.fixture(scope="module")
def page(engine):
    return page_mod.SearchPage(engine, seed=0)


@pytest.fixture
def red_dress(catalogue) -> str:
    return str(catalogue.images / "dress" / "red_dress.png")


def result_ids(out: page_mod.SearchOutput) -> list[str]:
    return [h["image_id"] for h in out.hits]


def assert_ok(out: page_mod.SearchOutput, k: int, by_score: bool = True) -> None:
    assert "Error" not in out.status, out.status
    assert len(out.gallery) == len(out.hits) == k
    for (image, caption), hit in zip(out.gallery, out.hits):
        assert image == hit["path"] and Path(image).is_file()
        category, _, name = hit["image_id"].partition("/")  # the tiny catalogue's ids are category/colour_category
        assert caption.startswith(f"{category} · {name} · score ")
        assert hit["description"] in caption
    scores = [h["score"] for h in out.hits]
    # A later turn of a session ranks by what the session asks first (cti_ir.serve.session), by score within that.
    assert scores == sorted(scores, reverse=True) or not by_score


def assert_error(out: page_mod.SearchOutput, *fragments: str, kept: list | None = None) -> None:
    """An error message in the status; the results shown before (``kept``) stay."""
    assert out.status.startswith("**Error:**"), out.status
    for fragment in fragments:
        assert fragment in out.status, out.status
    assert out.hits == (kept or []) and len(out.gallery) == len(out.hits)
    assert "Traceback" not in out.status and "\\" not in out.status  # our sentence, no Markdown escapes


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
    assert_ok(second, 5, by_score=False)
    assert all("green" in i for i in result_ids(second)[:2]), "the second turn is a session turn: green first"
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
    assert page.reference_cleared()[0] is None
    assert page.new_session()[2] == []


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_images_give_messages(page, tmp_path, red_dress):
    shown = page.search(red_dress, "is red", "All", 3)  # results on the page before each bad query
    assert_ok(shown, 3)
    bad = lambda image: page.search(image, "is red", hits=shown.hits, history=shown.history)  # noqa: E731
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is a text file, not a PNG")
    assert_error(bad(str(not_image)), "not an image that can be read", "JPEG, PNG or WebP", kept=shown.hits)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(Path(red_dress).read_bytes()[:120])
    assert_error(bad(str(truncated)), "damaged or incomplete", kept=shown.hits)
    bomb = write_decompression_bomb(tmp_path / "bomb.png")  # 30000 x 30000 declared: PIL's own limit refuses it
    out = bad(str(bomb))
    assert_error(out, "The photo declares 900 megapixels, more than the 40 megapixels accepted", kept=shown.hits)
    assert "DOS" not in out.status and "decompression" not in out.status  # our words, not Pillow's
    big = write_decompression_bomb(tmp_path / "big.png", 8000, 8000)  # under PIL's own limit, over ours
    out = bad(str(big))
    assert_error(out, "The photo is 8000 × 8000 pixels (64 megapixels), more than the 40 megapixels accepted. "
                      "Upload a smaller photo.", kept=shown.hits)
    assert "max_pixels" not in out.status and ">" not in out.status
    assert_error(bad(str(tmp_path / "gone.png")), "no longer on the server", "Upload it again", kept=shown.hits)
    assert_error(bad(12345), "The image must be an uploaded image file", "got the number 12345", kept=shown.hits)
    assert bad(12345).history == shown.history  # a failed query adds no turn
    assert_ok(page.search(red_dress, "is red", "All", 3), 3)  # and the next query works


def test_bad_upload_is_removed_at_once_and_the_picker_forgets_its_pick(page, tmp_path, red_dress):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is a text file, not a PNG")
    refused = page.reference_uploaded(str(not_image))
    assert refused.image is None and refused.reference_id is None  # no broken-image icon left on the page
    assert refused.status.startswith("**Error:**") and "not an image that can be read" in refused.status
    assert "No reference image" in refused.reference_label
    assert refused.picker == page.picker_without_highlight()
    accepted = page.reference_uploaded(red_dress)
    assert accepted.image == gr.update() and accepted.reference_id is None  # the upload stays as it is
    assert accepted.reference_label == "Reference: your uploaded image" and "Error" not in accepted.status
    assert accepted.picker == page.picker_without_highlight()  # the earlier pick is no longer selected
    picked = page.select_sample(gr.SelectData(None, {"index": 1, "value": None}))
    assert picked.picker == gr.update()  # a pick from the picker keeps its own highlight
    assert page.random_product().picker == page.picker_without_highlight()


def test_empty_and_bad_parameters_give_messages(page, red_dress, caplog):
    caplog.set_level("INFO", logger="cti_ir")
    assert_error(page.search(None, ""), "Give a reference image, a text, or both")
    assert_error(page.search(None, " \u200b\t\x00\n "), "Give a reference image")  # nothing left once cleaned
    assert_error(page.search("", None), "Give a reference image")
    assert_error(page.search(red_dress, "x", "handbags"), "Unknown category 'handbags'; choose one of dress, shirt")
    assert_error(page.search(red_dress, "x", 7), "The category must be a name, got the number 7")
    assert_error(page.search(red_dress, ["is", "red"]), "The text must be a string, got a list")
    assert_error(page.search(red_dress, "x", "All", 0), "k must be between 1 and 200, got 0")
    assert_error(page.search(red_dress, "x", "All", "lots"), "k must be a whole number between 1 and 200, got 'lots'")
    assert_error(page.search(red_dress, "x", "All", 2.7), "k must be a whole number between 1 and 200, got 2.7")
    assert_error(page.search(red_dress, "x", "All", 5, override=True, image_weight=1.5), "between 0 and 1, got 1.5")
    assert_error(page.search(red_dress, "x", "All", 5, override=True, image_weight="heavy"),
                 "The image weight must be a number between 0 and 1, got 'heavy'")
    assert_error(page.search(red_dress, "x", "All", 5, override="maybe"), "override must be true or false")
    # Expected mistakes: one line each at INFO, naming the parameter; never a traceback.
    refused = [r for r in caplog.records if r.name.startswith("cti_ir")]
    assert len(refused) == 12 and all(r.levelname == "INFO" and not r.exc_info for r in refused)
    assert "search refused (k): k must be a whole number" in caplog.text
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
        assert image is page.placeholder and caption.startswith("[image missing] dress · blue_dress · score")
        assert "missing from disk (`dress/blue_dress`)" in out.status
        stale = page.select_result(out.hits, gr.SelectData(None, {"index": slot, "value": None}))
        assert "missing from disk" in stale.status and "dress/blue" in stale.status
    finally:
        shutil.move(hidden, victim)
    assert_ok(page.search(red_dress, "", "dress", 4), 4)


def test_markdown_escaping():
    # What would render as markup is escaped; what renders literally anyway stays readable for API callers.
    assert page_mod.md_escape("<b>*x*</b> [a](b) | _x_") == "\\<b>\\*x\\*\\</b> \\[a\\](b) | \\_x\\_"
    assert page_mod.md_escape("42,000,000 > max_pixels=40,000,000") == "42,000,000 > max_pixels=40,000,000"
    assert page_mod.md_escape("# title\n> quote") == "\\# title\n\\> quote"


@pytest.mark.parametrize("item, label", [
    ({"image_id": "img_womens_high_heels_838.jpg", "categories": ["high_heels"]}, "high heels · 838"),
    ({"image_id": "B00N5GK9GH", "categories": ["dress", "toptee"]}, "dress · B00N5GK9GH"),
    ({"image_id": "dresses/dress-017", "categories": ["dresses"]}, "dresses · dress-017"),
    ({"image_id": "summer/very-long-product-identifier-0042", "categories": []}, "…ntifier-0042"),
])
def test_item_labels_name_the_type_and_the_ids_tail(item, label):
    assert page_mod.item_label(item) == label


def test_picker_and_results_show_labels_and_thumbnails(engine, tmp_path, red_dress):
    from cti_ir.serve.thumbnails import ThumbnailCache

    thumbs = ThumbnailCache(tmp_path / "thumbs", size=32)
    page = page_mod.SearchPage(engine, seed=0, thumbnails=thumbs)
    for (image, label), item in zip(page.sample_gallery(), page.samples):
        assert label == page_mod.item_label(item) and " · " in label
        assert Path(image).parent.parent == tmp_path / "thumbs"
        with Image.open(image) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) == 32  # 64 px originals, shrunk
    out = page.search(red_dress, "is blue", "All", 4)
    assert [Path(image).suffix for image, _ in out.gallery] == [".jpg"] * 4
    assert all(image == thumbs.path_for(h["path"]) for (image, _), h in zip(out.gallery, out.hits))


def test_warming_makes_each_missing_thumbnail_once_and_skips_unreadable_files(engine, tmp_path):
    from cti_ir.serve.thumbnails import ThumbnailCache

    thumbs = ThumbnailCache(tmp_path / "thumbs", size=32)
    paths = [it["path"] for it in engine.index.items]
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert thumbs.warm(paths + [str(broken), str(tmp_path / "gone.png")]) == len(paths)
    assert all(Path(thumbs.path_for(p)).is_file() for p in paths)
    assert thumbs.warm(paths) == 0  # all there: nothing made again
    stop = server_mod.threading.Event()
    stop.set()
    assert ThumbnailCache(tmp_path / "other", size=32).warm(paths, stop) == 0  # a stop set before it starts


def test_an_upload_is_decoded_once_for_all_its_searches(engine, red_dress):
    engine.uploads.clear()  # the module's engine has seen this photo in earlier tests
    page = page_mod.SearchPage(engine, seed=0)
    assert page.reference_uploaded(red_dress).reference_label == "Reference: your uploaded image"
    first = page.search(red_dress, "is blue", "All", 3)
    again = page.search(red_dress, "is green", "shirt", 2)
    more = page.more_like_this(image=red_dress, k=2)
    assert page.pixels.decoded == 1  # decoded when it was uploaded, never again
    assert_ok(first, 3)
    assert_ok(again, 2)
    assert result_ids(more)[0] == "dress/red_dress"  # the photo itself is the nearest product
    expected = engine.search(image=Image.open(red_dress), text="is blue", k=3)
    assert result_ids(first) == [h.image_id for h in expected.hits]


def test_the_history_keeps_its_last_fifty_turns(page):
    history = [{"turn": n, "reference": "—", "text": f"t{n}", "category": "All", "top": "x", "weights": "0 / 1"}
               for n in range(1, 51)]
    out = page.search(None, "is red", "All", 2, history=history)
    assert len(out.history) == len(out.history_rows) == 50  # every search sends the table back: it stays small
    assert out.history[0]["turn"] == 2 and out.history[-1]["turn"] == 51


def test_a_picked_product_is_shown_as_a_thumbnail_and_searched_with_its_photo(engine, tmp_path, red_dress):
    from cti_ir.serve.batching import SearchBatcher
    from cti_ir.serve.thumbnails import REFERENCE_SIZE, ThumbnailCache

    thumbs = ThumbnailCache(tmp_path / "thumbs", size=32)
    batcher = SearchBatcher(engine, max_wait_ms=0)
    page = page_mod.SearchPage(engine, seed=0, searcher=batcher, thumbnails=thumbs)
    try:
        first = page.search(red_dress, "is blue", "All", 5)
        ref = page.select_result(first.hits, gr.SelectData(None, {"index": 1, "value": None}))
        picked = first.hits[1]
        assert Path(ref.image).parent.parent == tmp_path / "thumbs"  # the thumbnail folder: all the server sends
        assert ref.image == thumbs.path_for(picked["path"], REFERENCE_SIZE)
        refined = page.search(ref.image, "is green", "All", 5, reference_id=ref.reference_id, history=first.history)
        with_photo = page.search(picked["path"], "is green", "All", 5, reference_id=ref.reference_id,
                                 history=first.history)  # the same session turn, the photo instead of its thumbnail
        assert result_ids(refined) == result_ids(with_photo) and picked["image_id"] not in result_ids(refined)
        assert refined.history_rows[-1][1] == picked["image_id"]
        # "More like this" of a catalogue product: the index's own vector, through the batcher, nothing decoded.
        decoded, queries = page.pixels.decoded, batcher.stats.queries
        more = page.more_like_this(ref.image, ref.reference_id, k=3)
        assert page.pixels.decoded == decoded and batcher.stats.queries == queries + 1
        stored = engine.prepare_similar(image_id=picked["image_id"], k=3)
        assert stored.vector is not None and stored.pixels is None
        by_photo = engine.similar(image=Image.open(picked["path"]), k=4)
        assert result_ids(more) == [h.image_id for h in by_photo.hits if h.image_id != picked["image_id"]][:3]
        # A product id that no longer matches the image shown (a stale state) is not trusted: the upload counts.
        stale = page.search(red_dress, "is green", "All", 5, reference_id=ref.reference_id)
        assert stale.history_rows[-1][1] == "uploaded image"
    finally:
        batcher.close()


def test_a_missing_photo_shows_the_placeholder_file(engine, catalogue, tmp_path, red_dress):
    from cti_ir.serve.thumbnails import ThumbnailCache

    page = page_mod.SearchPage(engine, seed=0, thumbnails=ThumbnailCache(tmp_path / "thumbs", size=32))
    assert Path(page.placeholder).parent == tmp_path / "thumbs"  # a file: not a PIL image encoded per request
    victim = catalogue.images / "shoes" / "red_shoes.png"
    hidden = victim.with_suffix(".hidden")
    shutil.move(victim, hidden)
    try:
        out = page.search(red_dress, "", "shoes", 4)
    finally:
        shutil.move(hidden, victim)
    slot = result_ids(out).index("shoes/red_shoes")
    assert out.gallery[slot][0] == page.placeholder and "missing from disk" in out.status


# ------------------------------------------------------------------------------------------- app and CLI
def test_build_app_has_two_public_endpoints_and_takes_every_input_raw(engine):
    demo = server_mod.build_app(engine, example_texts=["is red"])
    public = {d["api_name"] for d in demo.config["dependencies"] if d.get("api_visibility") == "public"}
    assert public == {"search", "more_like_this"}
    ours = [fn for fn in demo.fns.values() if fn.api_name != "load_example"]
    assert len(ours) == 14 and all(fn.preprocess is False for fn in ours)  # the handlers check every value


def test_help_explains_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--checkpoint", "--index", "--host", "--port", "--share", "--cache-dir", "--max-upload-mb",
                 "--concurrency", "--queue-size", "--demo-size", "--max-batch", "--max-wait-ms", "--thumbnail-dir",
                 "--threads"):
        assert flag in text


def test_main_reports_bad_paths_without_traceback(tmp_path, capsys, catalogue):
    free = ["--port", str(free_port()), "--thumbnail-dir", str(tmp_path / "thumbs")]  # checked first
    assert app.main(["--checkpoint", str(tmp_path / "nope"), "--index", str(catalogue.index), *free]) == 2
    assert app.main(["--index", str(tmp_path / "nope"), *free]) == 2
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
