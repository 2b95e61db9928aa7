"""The category of an uploaded photo: the index's category model, its files, its doubts, and the fallback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from cti_ir.index.category_model import (
    FILES,
    WEIGHTS_FILE,
    CategoryModelError,
    fit_category_model,
    read_category_model,
)
from cti_ir.index.layout import read_version
from cti_ir.serve.engine import SearchEngine
from cti_ir.serve.session_search import guess_note
from tests.app_fixtures import make_tiny_catalogue


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return make_tiny_catalogue(tmp_path_factory.mktemp("category_model_catalogue"))


def photo(catalogue, image_id: str) -> Image.Image:
    return Image.open(catalogue.images / f"{image_id}.png")


def test_a_built_index_carries_a_category_model_that_a_new_version_keeps(catalogue, tmp_path):
    _, version = read_version(catalogue.index)
    model = read_category_model(version)
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    assert model is not None and model.categories == engine.categories
    assert model.info["model_fingerprint"] == engine.index.info["model_fingerprint"]
    vectors = np.stack([engine._stored_vector(engine.index, i).numpy() for i in range(len(engine.index))])
    guessed = [g.category for g in model.guess(vectors)]
    assert guessed == [it["categories"][0] for it in engine.index.items], "the products it was fit on"
    # A new version that changes only the product fields keeps the model (nothing is refit).
    index = tmp_path / "index"
    shutil.copytree(catalogue.index, index, symlinks=True)
    products = tmp_path / "products.jsonl"
    products.write_text("".join(json.dumps({"id": i, "in_stock": True}) + "\n" for i in catalogue.ids))
    from cti_ir.index import cli as index_cli

    assert index_cli.main(["products", "--index", str(index), "--file", str(products)]) == 0
    _, new_version = read_version(index)
    assert new_version != version and read_category_model(new_version).categories == model.categories


def test_an_upload_is_searched_in_its_guessed_category_and_an_old_index_falls_back(catalogue, tmp_path):
    upload = photo(catalogue, "shoes/green_shoes")
    result = SearchEngine(catalogue.checkpoint, catalogue.index).search(image=upload, text="in red", k=3,
                                                                        category="auto")
    guess = result.category_guess
    assert result.category == guess.category == "shoes" and guess.confidence is not None
    assert all(h.categories == ["shoes"] for h in result.hits)
    assert any("the photo's category" in n or "not sure" in n for n in result.notes)
    # An index written before the model existed: the closest product's category, no confidence.
    old = tmp_path / "old_index"
    shutil.copytree(catalogue.index, old, symlinks=True)
    _, version = read_version(old)
    for name in FILES:
        (version / name).unlink()
    fallback = SearchEngine(catalogue.checkpoint, old).search(image=upload, text="in red", k=3, category="auto")
    assert fallback.category == "shoes" and fallback.category_guess.confidence is None
    assert any("closest to the photo" in n for n in fallback.notes)


def test_a_changed_weights_file_is_refused_and_the_engine_falls_back(catalogue, tmp_path, caplog):
    index = tmp_path / "index"
    shutil.copytree(catalogue.index, index, symlinks=True)
    _, version = read_version(index)
    weights = version / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.unlink()  # a hard link to the original version: replace it, never write through it
    weights.write_bytes(data[:-4] + b"\0\0\0\0")
    with pytest.raises(CategoryModelError, match="changed since the index was built"):
        read_category_model(version)
    result = SearchEngine(catalogue.checkpoint, index).search(image=photo(catalogue, "dress/red_dress"), k=2,
                                                              category="auto")
    assert result.category == "dress" and result.category_guess.confidence is None
    assert "category model cannot be used" in caplog.text


def test_categories_the_vectors_cannot_tell_apart_get_unsure_guesses():
    rng = np.random.default_rng(0)

    def draw(centre, n):
        v = centre + 0.15 * rng.standard_normal((n, 16))
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    garment, shoe = np.eye(16)[0], np.eye(16)[1]
    # shirts and tops drawn alike (as the demo model's vectors nearly are), shoes apart
    vectors = np.concatenate([draw(garment, 200), draw(garment, 200), draw(shoe, 200)])
    items = [{"categories": [c]} for c in ["shirt"] * 200 + ["toptee"] * 200 + ["shoes"] * 200]
    model = fit_category_model(vectors, items)
    assert model.info["held_out_accuracy"]["shoes"] == 1.0
    assert max(model.info["held_out_accuracy"]["shirt"], model.info["held_out_accuracy"]["toptee"]) < 0.75
    garments = model.guess(draw(garment, 100))
    assert np.mean([g.unsure for g in garments]) > 0.9, "a guess between look-alikes says it is unsure"
    unsure = next(g for g in garments if g.unsure)
    note = guess_note(unsure)
    assert note.startswith("not sure") and unsure.alternatives[0][0] in note, "it names what else it may be"
    assert {unsure.category, unsure.alternatives[0][0]} == {"shirt", "toptee"}
    assert unsure.to_json()["unsure"] is True
    shoes = model.guess(draw(shoe, 50))
    assert all(g.category == "shoes" for g in shoes) and np.mean([g.unsure for g in shoes]) < 0.1
    assert fit_category_model(vectors[:200], items[:200]) is None, "one category: nothing to guess"
