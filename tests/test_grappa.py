"""The Grappa benchmark's pieces and the product around an adapted checkpoint.

The multi-view generator (and that the catalogue renders stay reproducible), mAP@R by hand, the benchmark's
task labels and evaluation, indexes at several granularities, "similar products" in ``SearchEngine`` and "more like
this" on the page. Tiny models on a tiny generated catalogue; seconds on a CPU.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from benchmarks.grappa.grappa_tasks import TASKS, EvalSet, evaluate_model
import cti_ir.index.cli as index_cli
from cti_ir.model.checkpoint import load_checkpoint, read_checkpoint_config
from cti_ir.index.catalogue_index import IndexMismatchError, read_index_info
from cti_ir.evaluate.ranks import retrieval_scores
from cti_ir.serve.engine import QueryError, SearchEngine
from data_prep import synth_views
from data_prep.synth_catalogue import SIZES, plan_fashioniq, plan_shoes
from data_prep.synth_render import render_product



# ------------------------------------------------------------------------------------------------ generator
_RENDER_FIRST_PRODUCTS = """
import hashlib
from data_prep.synth_catalogue import SIZES, plan_fashioniq, plan_shoes
from data_prep.synth_render import render_product
digest = hashlib.sha256()
for p in plan_fashioniq(0, SIZES["small"]).products[:6] + plan_shoes(0, SIZES["small"]).products[:4]:
    digest.update(render_product(p.attributes, p.render_seed).tobytes())
print(digest.hexdigest())
"""


def test_catalogue_renders_are_reproducible_and_show_their_colour():
    """The demo model and the README's figures were made from catalogue renders: a product's photo (no view seed)
    must come out the same in every run and process, and show the product; views are other photos of it."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from data_prep.synth_attributes import COLOURS

    products = plan_fashioniq(0, SIZES["small"]).products[:6] + plan_shoes(0, SIZES["small"]).products[:4]
    names = list(COLOURS)
    palette = np.array([COLOURS[n] for n in names], dtype=np.float32)
    digest = hashlib.sha256()
    for p in products:
        photo = np.asarray(render_product(p.attributes, p.render_seed))
        digest.update(photo.tobytes())
        assert photo.shape == (128, 128, 3)
        assert np.array_equal(photo, np.asarray(render_product(p.attributes, p.render_seed, None)))
        assert not np.array_equal(photo, np.asarray(render_product(p.attributes, p.render_seed + 1)))
        # The product's colour is the commonest palette colour of the photo once the light studio background
        # (nearest to white or beige) is left out (these first products are neither white nor beige).
        nearest = ((photo.reshape(-1, 1, 3).astype(np.float32) - palette) ** 2).sum(-1).argmin(1)
        counts = np.bincount(nearest, minlength=len(names))
        counts[[names.index("white"), names.index("beige")]] = 0
        assert names[int(counts.argmax())] == p.attributes["color"], (p.attributes, dict(zip(names, counts)))
    # Another process with another hash seed draws the same pixels (no set or dict order leaks into a render).
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run([sys.executable, "-c", _RENDER_FIRST_PRODUCTS], capture_output=True, text=True, env=env,
                          cwd=Path(__file__).resolve().parents[1], timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == digest.hexdigest()


def test_views_of_one_product_are_different_photos():
    product = synth_views.plan_products(0, "adapt", "dress", 1, 3)[0]
    photos = [np.asarray(render_product(product["attributes"], product["design_seed"], v))
              for v in product["view_seeds"]]
    assert all(not np.array_equal(photos[0], other) for other in photos[1:])
    again = np.asarray(render_product(product["attributes"], product["design_seed"], product["view_seeds"][1]))
    assert np.array_equal(again, photos[1])  # one view always gives the same pixels


def test_multiview_catalogue_layout(views, capsys):
    rows = [json.loads(line) for line in (views / "products.jsonl").read_text().splitlines()]
    assert len(rows) == 4 * (6 + 2)
    by_split = {s: {r["product_id"] for r in rows if r["split"] == s} for s in ("adapt", "eval")}
    assert len(by_split["adapt"]) == 24 and len(by_split["eval"]) == 8 and not by_split["adapt"] & by_split["eval"]
    for r in rows:
        assert len(r["files"]) == 2 and all((views / f).is_file() for f in r["files"])
        assert all(f.startswith(f"{r['split']}/{r['category']}/") for f in r["files"])
        assert r["attributes"]["category"] == r["category"]
    near = [r for r in rows if r["near_duplicate_of"]]
    assert all(n["near_duplicate_of"] in by_split[n["split"]] for n in near)
    info = json.loads((views / "views_info.json").read_text())
    assert info["images"] == 64 and info["counts"]["adapt"] == {"products": 24, "images": 48}
    assert synth_views.main(["--out", str(views), "--adapt-products", "6", "--eval-products", "2", "--views", "2",
                             "--quiet"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_generator_refuses_a_single_view(tmp_path, capsys):
    assert synth_views.main(["--out", str(tmp_path), "--views", "1"]) == 2
    assert "error: --views must be >= 2" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------------- metrics
def test_map_at_r_and_r_at_1_by_hand():
    # One query of class "a"; the gallery holds a, b, a, b. R = 2 relevant items.
    similarity = np.array([[0.9, 0.8, 0.1, 0.2],    # ranking a b b a: precision@1 = 1 -> AP@R = (1 + 0) / 2
                           [0.1, 0.9, 0.8, 0.2]])   # ranking b a b a: AP@R = (0 + 1/2) / 2
    scores = retrieval_scores(similarity, ["a", "a"], ["a", "b", "a", "b"])
    assert scores["map_at_r"] == pytest.approx(100 * (0.5 + 0.25) / 2)
    assert scores["r_at_1"] == pytest.approx(50.0)
    assert retrieval_scores(similarity, ["a", "c"], ["a", "b", "a", "b"])["skipped"] == 1  # "c" has no match


def test_task_labels_go_from_coarse_to_fine():
    dress = {"product_id": "p1", "category": "dress", "attributes": {
        "category": "dress", "color": "red", "secondary_color": None, "pattern": "solid", "sleeve": "long",
        "neckline": "crew", "length": "mini", "fit": "loose"}}
    shoe = {"product_id": "p2", "category": "shoes", "attributes": {
        "category": "shoes", "type": "boot", "color": "black", "secondary_color": "white", "heel": "high",
        "finish": "shiny", "closure": "laces"}}
    assert list(TASKS) == ["category", "shape", "colour_pattern", "product"]
    assert TASKS["shape"](dress) == ("dress", "long", "loose", "mini")
    assert TASKS["shape"](shoe) == ("shoes", "boot", "high")
    assert TASKS["colour_pattern"](dress) == ("dress", "red", "solid")
    assert TASKS["colour_pattern"](shoe) == ("shoes", "black", "shiny")
    assert TASKS["product"](dress) == "p1"


def test_benchmark_evaluation_of_an_adapted_model(views, adapted, tiny_checkpoint):
    eval_set = EvalSet.from_catalogue(views)
    assert len(eval_set.query_files) == 8 and len(eval_set.gallery_files) == 8
    model = load_checkpoint(adapted)
    off = evaluate_model(model, eval_set, "off")
    assert off == evaluate_model(load_checkpoint(tiny_checkpoint), eval_set)  # "off" is the base model exactly
    fusion = evaluate_model(model, eval_set)
    for result in (off, fusion):
        assert set(result["tasks"]) == set(TASKS)
        assert all(0 <= t["map_at_r"] <= 100 and 0 <= t["r_at_1"] <= 100 for t in result["tasks"].values())
        assert result["mean_map_at_r"] == pytest.approx(np.mean([t["map_at_r"] for t in result["tasks"].values()]))


# ------------------------------------------------------------------------------------- indexes and search
@pytest.fixture(scope="module")
def indexes(views, adapted, tiny_checkpoint, tmp_path_factory):
    """Indexes of the evaluation photos: with the base model, and with the adapted one at fusion, at k8 and at its
    default granularity (no --granularity)."""
    root = tmp_path_factory.mktemp("indexes")
    out = {"base": root / "base", "fusion": root / "fusion", "k8": root / "k8", "default": root / "default"}
    common = ["--images", str(views / "eval"), "--no-progress", "--workers", "0"]
    assert index_cli.main(["build", "--checkpoint", str(tiny_checkpoint), "--out", str(out["base"]), *common]) == 0
    assert index_cli.main(["build", "--checkpoint", str(adapted), "--granularity", "fusion", "--out",
                           str(out["fusion"]), *common]) == 0
    assert index_cli.main(["build", "--checkpoint", str(adapted), "--out", str(out["default"]), *common]) == 0
    assert index_cli.main(["build", "--checkpoint", str(adapted), "--granularity", "8", "--out", str(out["k8"]),
                           *common]) == 0
    return out


def test_each_granularity_is_its_own_index_space(indexes, adapted, tiny_checkpoint):
    config = read_checkpoint_config(adapted)
    fingerprints = {name: read_index_info(path)["model_fingerprint"] for name, path in indexes.items()}
    assert fingerprints == {"base": read_checkpoint_config(tiny_checkpoint)["fingerprint"],
                            "fusion": config["fingerprint"], "k8": config["fingerprint"] + "-k8",
                            # the checkpoint's default is its coarsest set (training.adapt --default-granularity)
                            "default": config["fingerprint"] + "-k4"}
    # The adapted checkpoint serves the base model's index at granularity "off", and its own at theirs.
    assert SearchEngine(adapted, indexes["base"]).granularity == "off"
    assert SearchEngine(adapted, indexes["k8"]).granularity == "k8"
    with pytest.raises(IndexMismatchError, match="was built with model"):
        SearchEngine(tiny_checkpoint, indexes["fusion"])


def test_similar_products_at_each_granularity(indexes, adapted, views):
    engine = SearchEngine(adapted, indexes["base"], similar_indexes=[indexes["fusion"], indexes["k8"]])
    # The checkpoint's default (k4) has no index here: "More like this" defaults to the main index's space.
    assert engine.similar_granularities == ["off", "fusion", "k8"]
    item = engine.index.items[0]
    for granularity in (None, "fusion", "k8", "off"):
        result = engine.similar(image_id=item["image_id"], k=3, granularity=granularity)
        assert result.mode == "similar" and len(result.hits) == 3
        assert item["image_id"] not in [h.image_id for h in result.hits]  # the product itself is left out
        assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)
    # A photo of a catalogue product finds that product first, in the space of the chosen granularity.
    from PIL import Image

    photo = Image.open(item["path"])
    for granularity in ("fusion", "k8"):
        top = engine.similar(image=photo, k=1, granularity=granularity).hits[0]
        assert top.image_id == item["image_id"] and top.score == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(QueryError, match="no similar-products index for granularity 'k4'"):
        engine.similar(image_id=item["image_id"], granularity="k4")
    with pytest.raises(QueryError, match="not in the catalogue"):
        engine.similar(image_id="nope")
    # Composed queries stay in the main index's space (the unadapted encoder here).
    assert engine.search(image=photo, text="is red", k=2).mode == "composed"


def test_more_like_this_defaults_to_the_checkpoints_default_granularity(indexes, adapted):
    engine = SearchEngine(adapted, indexes["base"], similar_indexes=[indexes["fusion"], indexes["default"]])
    assert engine.granularity == "off" and engine.similar_default == "k4"
    assert engine.similar_granularities == ["k4", "off", "fusion"]
    item = engine.index.items[1]
    result = engine.similar(image_id=item["image_id"], k=2)
    assert result.mode == "similar" and "similar products at granularity k4" in result.notes


def test_a_similar_index_of_another_model_is_refused(indexes, tiny_checkpoint):
    with pytest.raises(IndexMismatchError, match="not one of this checkpoint's granularities"):
        SearchEngine(tiny_checkpoint, indexes["base"], similar_indexes=[indexes["k8"]])


def test_adding_to_an_index_keeps_its_granularity(indexes, views, tmp_path, capsys):
    import shutil

    copy = tmp_path / "k8"
    shutil.copytree(indexes["k8"], copy)
    assert index_cli.main(["add", "--index", str(copy), "--images", str(views / "adapt"), "--no-progress",
                           "--workers", "0"]) == 0
    info = read_index_info(copy)
    assert info["count"] == 16 + 48 and info["model_fingerprint"].endswith("-k8")


# ------------------------------------------------------------------------------------------------- the page
def test_more_like_this_on_the_page(indexes, adapted):
    from cti_ir.serve.page import SearchPage
    from cti_ir.serve.server import build_app

    engine = SearchEngine(adapted, indexes["base"], similar_indexes=[indexes["fusion"], indexes["k8"]])
    page = SearchPage(engine, seed=0)
    assert [value for _, value in page.granularity_choices()] == ["off", "fusion", "k8"]
    item = engine.index.items[2]
    out = page.more_like_this(reference_id=item["image_id"], granularity="k8", k=4)
    assert len(out.gallery) == 4 and len(out.hits) == 4 and "more like this" in out.status
    assert item["image_id"] not in [h["image_id"] for h in out.hits]
    assert out.history[-1]["text"] == "(more like this: k8)" and out.history[-1]["reference"] == item["image_id"]
    uploaded = page.more_like_this(image=item["path"], k=2, history=out.history, hits=out.hits)
    assert uploaded.hits[0]["image_id"] == item["image_id"] and len(uploaded.history) == 2
    refused = page.more_like_this(k=3, history=uploaded.history, hits=uploaded.hits)
    assert refused.status.startswith("**Error:**") and "Choose a product first" in refused.status
    assert refused.hits == uploaded.hits  # the previous results stay on the page
    bad = page.more_like_this(reference_id=item["image_id"], granularity="k99", hits=out.hits)
    assert "No similar-products index for granularity" in bad.status
    assert build_app(engine, page=page) is not None


def test_the_page_offers_no_granularity_choice_without_adapters(indexes, tiny_checkpoint):
    from cti_ir.serve.page import SearchPage

    page = SearchPage(SearchEngine(tiny_checkpoint, indexes["base"]), seed=0)
    assert page.granularity_choices() == [("default", "default")]
    item = page.engine.index.items[0]
    out = page.more_like_this(reference_id=item["image_id"], granularity="default", k=2)
    assert len(out.hits) == 2 and out.history[-1]["text"] == "(more like this)"


def test_image_encoding_is_thread_safe_across_granularities(adapted):
    """Two threads encoding at different granularities at once each get their own (the app serves many users)."""
    from concurrent.futures import ThreadPoolExecutor

    model = load_checkpoint(adapted)
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))

    def encode(granularity):
        with torch.no_grad(), model.adapters.using(granularity):
            return [model.encode_images(x) for _ in range(20)]

    expected = {g: encode(g)[0] for g in ("k4", "k8")}
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(("k4", "k8"), pool.map(encode, ("k4", "k8"))))
    for g, outputs in results.items():
        assert all(torch.allclose(o, expected[g]) for o in outputs)
    assert not torch.allclose(expected["k4"], expected["k8"])
