"""The network that names an uploaded photo's category from its pixels: its fit on an index's own photos, its
files, the versions that carry it, the engine's use of it and its fallbacks."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from cti_ir.index import cli as index_cli
from cti_ir.index.layout import read_version
from cti_ir.index.photo_category_model import (
    MIN_PHOTOS,
    WEIGHTS_FILE,
    PhotoCategoryModelError,
    fit_photo_category_model,
    fit_plan,
    read_photo_category_model,
    write_photo_category_model,
)
from cti_ir.serve import session_search
from cti_ir.serve.engine import SearchEngine

PER_CATEGORY = MIN_PHOTOS + 10


def draw(category: str, rng: random.Random, size: int = 40) -> Image.Image:
    """A photo whose category is in its shape (a tall dress, a wide shoe), never in its colour or position."""
    img = Image.new("RGB", (size, size), (255, 255, 255))
    colour = tuple(rng.randrange(0, 200) for _ in range(3))
    dx, dy = rng.randrange(-4, 5), rng.randrange(-4, 5)
    d = ImageDraw.Draw(img)
    if category == "dress":
        d.polygon([(16 + dx, 3 + dy), (24 + dx, 3 + dy), (32 + dx, 36 + dy), (8 + dx, 36 + dy)], fill=colour)
    else:
        d.ellipse([3 + dx, 16 + dy, 37 + dx, 28 + dy], fill=colour)
    return img


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """An index of 60 dresses and 60 shoes (a cti-tiny checkpoint), before any photo category model."""
    from cti_ir.index.catalogue import items_from_folder
    from cti_ir.index.catalogue_index import build_index
    from cti_ir.model.checkpoint import load_checkpoint, save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    root = tmp_path_factory.mktemp("photo_category_shop")
    rng = random.Random(0)
    for category in ("dress", "shoes"):
        (root / "photos" / category).mkdir(parents=True)
        for i in range(PER_CATEGORY):
            draw(category, rng).save(root / "photos" / category / f"{category}_{i:03d}.png")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        checkpoint = save_checkpoint(CIRModel.create("cti-tiny"), root / "checkpoint")
    build_index(load_checkpoint(checkpoint), items_from_folder(root / "photos"), root / "index", progress=False)
    return root, checkpoint


@pytest.fixture(scope="module")
def fitted(shop, tmp_path_factory):
    """A copy of the shop's index after ``photo-category`` (the fit's printed line, the index folder)."""
    import shutil

    root, checkpoint = shop
    index = tmp_path_factory.mktemp("photo_category_fitted") / "index"
    shutil.copytree(root / "index", index, symlinks=True)
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = index_cli.main(["photo-category", "--index", str(index), "--checkpoint", str(checkpoint),
                                 "--steps", "80", "--workers", "0", "--no-progress"])
    assert status == 0
    return printed.getvalue(), index


def test_the_fit_publishes_a_network_that_tells_the_shapes_apart(shop, fitted):
    printed, index = fitted
    info, version = read_version(index)
    _, before = read_version(shop[0] / "index")
    assert info["version"] > json.loads((before / "index_info.json").read_text())["version"]
    model = read_photo_category_model(version)
    assert model is not None and model.categories == ["dress", "shoes"]
    record = info["photo_category"]
    assert record["categories"] == 2 and record["steps"] == 80
    assert record["fit_photos"] + record["held_out_photos"] == 2 * PER_CATEGORY
    assert min(record["held_out_accuracy"].values()) >= 0.9, record
    assert "photo category model: 2 categories" in printed and "held-out photos" in printed


def test_the_answering_network_gives_the_stored_networks_probabilities(fitted):
    _, index = fitted
    model = read_photo_category_model(read_version(index)[1])
    pixels = torch.randn(5, 3, model.pixel_side, model.pixel_side, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():  # the stored network, batch normalisation unfolded, as the fit left it
        logits = model.net(pixels).double().numpy() / model.temperature
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.probabilities(pixels), expected, atol=1e-5)
    np.testing.assert_allclose(model.probabilities(pixels[2:3]), expected[2:3], atol=1e-5)  # alone as in a batch


def test_an_upload_is_searched_in_the_category_its_pixels_show(shop, fitted):
    _, index = fitted
    engine = SearchEngine(shop[1], index)
    rng = random.Random(123)  # photos the network never saw
    for category in ("dress", "shoes"):
        for _ in range(3):
            result = engine.search(image=draw(category, rng), text="in red", k=5, category="auto")
            assert result.category == result.category_guess.category == category
            assert result.category_guess.confidence is not None
            assert all(h.categories[0] == category for h in result.hits)
    assert session_search.photo_category_model_of(engine.index) is not None


def test_later_versions_carry_the_network_and_its_record(shop, fitted, tmp_path):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(fitted[1], index, symlinks=True)
    info, version = read_version(index)
    gone = sorted(json.loads(line)["image_id"] for line in (version / "items.jsonl").read_text().splitlines())[0]
    assert index_cli.main(["remove", "--index", str(index), "--ids", gone]) == 0
    new_info, new_version = read_version(index)
    assert new_version != version and new_info["count"] == info["count"] - 1
    assert new_info["photo_category"] == info["photo_category"]
    assert read_photo_category_model(new_version).categories == ["dress", "shoes"]


def test_a_changed_network_is_refused_and_the_engine_falls_back_to_the_vectors(shop, fitted, tmp_path, caplog):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(fitted[1], index, symlinks=True)
    _, version = read_version(index)
    weights = version / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.unlink()  # a hard link to the fitted copy's file: replace it, do not write through it
    weights.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    with pytest.raises(PhotoCategoryModelError, match="changed since it was fit"):
        read_photo_category_model(version)
    engine = SearchEngine(shop[1], index)
    result = engine.search(image=draw("dress", random.Random(5)), text="in red", k=3, category="auto")
    assert result.category_guess is not None  # the linear category model on the photo's vector answered
    assert "photo category model cannot be used" in caplog.text


def test_the_plan_leaves_out_small_categories_and_needs_two():
    items = ([{"categories": ["dress"], "path": f"d{i}"} for i in range(MIN_PHOTOS)]
             + [{"categories": ["shoes"], "path": f"s{i}"} for i in range(MIN_PHOTOS + 5)]
             + [{"categories": ["hat"], "path": f"h{i}"} for i in range(MIN_PHOTOS - 1)]
             + [{"categories": ["bag"]} for _ in range(MIN_PHOTOS)])   # no photo path: not fit on
    categories, rows, labels = fit_plan(items)
    assert categories == ["dress", "shoes"]
    assert len(rows) == len(labels) == 2 * MIN_PHOTOS + 5
    assert all(items[r]["categories"][0] == categories[k] for r, k in zip(rows, labels))
    assert fit_plan(items[MIN_PHOTOS:]) is None


def test_a_stored_network_gives_the_same_answers_and_refuses_other_pixels(tmp_path):
    rng = np.random.default_rng(0)
    # Two "categories" of 16 x 16 photos that differ in brightness: easy, so a short fit is enough.
    photos = torch.from_numpy(np.concatenate([rng.normal(-1, 0.3, (60, 3, 16, 16)),
                                              rng.normal(1, 0.3, (60, 3, 16, 16))]).astype(np.float32))
    labels = np.repeat([0, 1], 60)
    model = fit_photo_category_model(photos, labels, ["dark", "light"], pixel_side=16, fingerprint="f", steps=30)
    write_photo_category_model(tmp_path, model)
    again = read_photo_category_model(tmp_path)
    assert np.allclose(model.probabilities(photos[:10]), again.probabilities(photos[:10]))
    assert [g.category for g in again.guess(photos[[0, 100]])] == ["dark", "light"]
    assert [g.category for g in again.guess(photos[[0, 100]], allowed=["light"])] == ["light", "light"]
    assert again.accepts(photos[:1]) and not again.accepts(torch.zeros(1, 3, 32, 32))
    with pytest.raises(ValueError, match="the network reads 16 x 16"):
        fit_photo_category_model(torch.zeros(4, 3, 9, 9), np.array([0, 0, 1, 1]), ["a", "b"], pixel_side=16)
    with pytest.raises(ValueError, match="at least 16"):
        fit_photo_category_model(torch.zeros(4, 3, 8, 8), np.array([0, 0, 1, 1]), ["a", "b"], pixel_side=8)


def test_the_command_says_when_the_index_has_too_few_photos(shop, tmp_path, capsys):
    import shutil

    index = tmp_path / "index"
    shutil.copytree(shop[0] / "index", index, symlinks=True)
    _, version = read_version(index)
    rows = (version / "items.jsonl").read_text().splitlines()
    dresses = [json.loads(r)["image_id"] for r in rows if json.loads(r)["categories"] == ["dress"]]
    assert index_cli.main(["remove", "--index", str(index), "--ids", *dresses[:20]]) == 0
    capsys.readouterr()
    assert index_cli.main(["photo-category", "--index", str(index), "--checkpoint", str(shop[1]),
                           "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: a photo category model needs at least two categories with 50 photos each")
    assert "shoes 60, dress 40" in err and "Traceback" not in err
    assert index_cli.main(["photo-category", "--index", str(index), "--steps", "0"]) == 2
    assert capsys.readouterr().err.strip() == "error: --steps must be at least 1, got 0"
