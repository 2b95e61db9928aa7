"""The catalogue as it lives: remove and update, each atomic and resumable, and silent when nothing changed."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import cti_ir.index.catalogue_index as index_mod
import cti_ir.index.cli as index_cli
import cti_ir.index.versions as versions_mod
from cti_ir.index.catalogue import items_from_folder
from cti_ir.index.catalogue_index import CatalogueIndex, build_index, read_index_info
from cti_ir.index.lifecycle import remove_from_index, update_index
from cti_ir.index.products import ProductTable
from cti_ir.model.checkpoint import load_checkpoint
from tests.test_index import draw_catalogue, draw_product, save_tiny_checkpoint, tree_digest

CATEGORIES = ("dresses", "shirts")
PER_CATEGORY = 12
CHUNK = 4


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("lifecycle")
    images = draw_catalogue(root / "images", per_category=PER_CATEGORY, categories=CATEGORIES, size=32)
    checkpoint = save_tiny_checkpoint(root / "ckpt")
    model = load_checkpoint(checkpoint)
    base = root / "base"
    products = ProductTable({it.image_id: {"price": 10 + n, "in_stock": n % 2 == 0}
                             for n, it in enumerate(items_from_folder(images))},
                            {"price": "number", "in_stock": "bool"})
    build_index(model, items_from_folder(images), base, chunk_size=CHUNK, progress=False, products=products,
                source={"checkpoint": str(checkpoint)})
    return {"root": root, "images": images, "checkpoint": checkpoint, "model": model, "base": base}


def copy_index(shop, tmp_path: Path, name: str = "index") -> Path:
    out = tmp_path / name
    shutil.copytree(shop["base"], out, symlinks=True)
    return out


def state(folder: Path) -> dict:
    """What an index serves: items, vectors, product fields and info (its build time left out)."""
    index = CatalogueIndex(folder)
    info = {k: v for k, v in index.info.items() if k != "built_at"}
    return {"items": index.items, "vectors": np.array(index.stored_vectors()), "products": index.products.rows,
            "info": info}


def assert_same_state(a: dict, b: dict) -> None:
    assert a["items"] == b["items"] and a["products"] == b["products"] and a["info"] == b["info"]
    np.testing.assert_allclose(a["vectors"], b["vectors"], rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------------------- remove
def test_remove_equals_a_build_without_those_products(shop, tmp_path, capsys):
    out = copy_index(shop, tmp_path)
    before = state(out)
    gone = ["dresses/dresses-003", "shirts/shirts-000"]
    ids_file = tmp_path / "delisted.txt"
    ids_file.write_text("# delisted today\n" + "\n".join(gone) + "\n\nno-such-product\n", encoding="utf-8")
    assert index_cli.main(["remove", "--index", str(out), "--ids-file", str(ids_file)]) == 0
    assert capsys.readouterr().out.strip() == (f"removed 2 products from {out}; 1 not in the index: no-such-product; "
                                               f"now {2 * PER_CATEGORY - 2} products, version 2")
    after = state(out)
    kept = [i for i, it in enumerate(before["items"]) if it["image_id"] not in gone]
    assert after["items"] == [before["items"][i] for i in kept]
    np.testing.assert_array_equal(after["vectors"], before["vectors"][kept])
    assert set(after["products"]) == set(before["products"]) - set(gone)  # their fields are gone too
    # A build of the catalogue without them serves the same products in the same order with the same vectors.
    fresh = tmp_path / "fresh"
    items = [it for it in items_from_folder(shop["images"]) if it.image_id not in gone]
    build_index(shop["model"], items, fresh, chunk_size=CHUNK, progress=False)
    assert [it["image_id"] for it in state(fresh)["items"]] == [it["image_id"] for it in after["items"]]
    np.testing.assert_allclose(state(fresh)["vectors"], after["vectors"], rtol=0, atol=1e-6)

    digest = tree_digest(out)
    assert index_cli.main(["remove", "--index", str(out), "--ids", *gone]) == 0
    assert capsys.readouterr().out.strip() == (f"nothing changed: none of the 2 ids is in {out}; 2 not in the index: "
                                               f"{', '.join(gone)}")
    assert tree_digest(out) == digest


def test_remove_refuses_to_empty_the_index_and_missing_files(shop, tmp_path, capsys):
    out = copy_index(shop, tmp_path)
    every = [it.image_id for it in items_from_folder(shop["images"])]
    assert index_cli.main(["remove", "--index", str(out), "--ids", *every]) == 2
    assert capsys.readouterr().err.strip() == (f"error: removing these {len(every)} products would leave the index "
                                               f"empty; build a new index instead")
    assert index_cli.main(["remove", "--index", str(out), "--ids-file", str(tmp_path / "none.txt")]) == 2
    assert capsys.readouterr().err.strip() == f"error: file of ids not found: {tmp_path / 'none.txt'}"
    assert index_cli.main(["remove", "--index", str(tmp_path / "no-index"), "--ids", "a"]) == 2
    assert "error: no index at" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------------- update
def changed_shop(shop, tmp_path: Path) -> tuple[Path, list[str], Path]:
    """A copy of the images with three photos redrawn and one product re-categorised (by metadata)."""
    images = tmp_path / "images"
    shutil.copytree(shop["images"], images)
    redrawn = ["dresses/dresses-001", "dresses/dresses-007", "shirts/shirts-011"]
    for n, image_id in enumerate(redrawn):
        draw_product(images / f"{image_id}.png", 900 + n, 32)
    metadata = tmp_path / "metadata.jsonl"
    metadata.write_text(json.dumps({"file_name": "shirts/shirts-004.png", "category": "tops"}) + "\n")
    return images, redrawn, metadata


def test_update_re_embeds_only_changed_photos(shop, tmp_path, capsys, monkeypatch):
    out = copy_index(shop, tmp_path)
    images, redrawn, metadata = changed_shop(shop, tmp_path)
    embedded = []
    real = index_mod.embed_items
    monkeypatch.setattr(index_mod, "embed_items",
                        lambda model, items, *a, **k: embedded.extend(it.image_id for it in items) or
                        real(model, items, *a, **k))
    products = tmp_path / "changed.jsonl"
    products.write_text(json.dumps({"id": "shirts/shirts-002", "price": 99, "in_stock": False, "brand": "Zeta"}) + "\n")
    before = state(out)
    assert index_cli.main(["update", "--index", str(out), "--images", str(images), "--metadata", str(metadata),
                           "--products", str(products), "--no-progress"]) == 0
    # The photos now live in another folder: the 21 unchanged ones are recorded at their new paths (one of them
    # also re-categorised), without re-encoding.
    assert capsys.readouterr().out.strip() == (f"updated {out}: 3 photos embedded again, 21 moved or re-described, "
                                               f"1 products' fields changed; now version 2")
    assert sorted(embedded) == redrawn
    after = state(out)
    ids = [it["image_id"] for it in after["items"]]
    assert ids == [it["image_id"] for it in before["items"]]  # every product keeps its place
    model_vectors = index_mod.embed_items(shop["model"], [it for it in items_from_folder(images)
                                                          if it.image_id in redrawn])[0]
    for row, image_id in enumerate(redrawn):
        np.testing.assert_allclose(after["vectors"][ids.index(image_id)], model_vectors[row], atol=1e-5)
    unchanged = [i for i, image_id in enumerate(ids) if image_id not in redrawn]
    np.testing.assert_array_equal(after["vectors"][unchanged], before["vectors"][unchanged])
    assert after["items"][ids.index("shirts/shirts-004")]["categories"] == ["tops"]
    assert all(it["path"].startswith(str(images)) for it in after["items"])
    assert after["products"]["shirts/shirts-002"] == {"price": 99, "in_stock": False, "brand": "Zeta"}
    assert after["products"]["shirts/shirts-003"] == before["products"]["shirts/shirts-003"]

    digest = tree_digest(out)
    embedded.clear()
    assert index_cli.main(["update", "--index", str(out), "--images", str(images), "--metadata", str(metadata),
                           "--products", str(products), "--no-progress"]) == 0
    assert capsys.readouterr().out.strip() == f"nothing changed: {out} is up to date"
    assert embedded == [] and tree_digest(out) == digest


def test_update_of_fields_alone_loads_no_model(shop, tmp_path, capsys, monkeypatch):
    out = copy_index(shop, tmp_path)
    monkeypatch.setattr(index_cli, "main", index_cli.main)  # the CLI as it is; the model loader must not run
    import cti_ir.model.checkpoint as checkpoint_mod

    monkeypatch.setattr(checkpoint_mod, "load_checkpoint", lambda *a, **k: pytest.fail("the model was loaded"))
    products = tmp_path / "p.csv"
    products.write_text("id,price\ndresses/dresses-000,1.5\n", encoding="utf-8")
    assert index_cli.main(["update", "--index", str(out), "--images", str(shop["images"]),
                           "--products", str(products)]) == 0
    assert "0 photos embedded again, 0 moved or re-described, 1 products' fields changed" in capsys.readouterr().out
    assert CatalogueIndex(out).products.rows["dresses/dresses-000"] == {"price": 1.5}
    assert index_cli.main(["update", "--index", str(out)]) == 2
    assert capsys.readouterr().err.startswith("error: give the catalogue (--images or --dataset)")


def test_product_rows_of_products_not_in_the_index_change_nothing(shop, tmp_path, capsys):
    out = copy_index(shop, tmp_path)
    version = read_index_info(out)["version"]
    products = tmp_path / "p.csv"
    products.write_text("id,price\ndresses/removed-or-never-added,3\n", encoding="utf-8")
    assert index_cli.main(["update", "--index", str(out), "--products", str(products)]) == 0
    said = capsys.readouterr().out
    assert said.startswith(f"nothing changed: {out} is up to date") and "1 product rows name no product" in said
    assert read_index_info(out)["version"] == version  # no new version published
    assert "dresses/removed-or-never-added" not in CatalogueIndex(out).products.rows


# ------------------------------------------------------------------------------------------------- resumption
class Killed(BaseException):
    """Stands for a SIGKILL at one point of a change (a BaseException, like the interrupt of a real run)."""


KILL_POINTS = ["after the first re-embedded chunk", "after the change chunk", "before the version is renamed",
               "before current is switched", "after current is switched"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_change_killed_anywhere_resumes_to_the_uninterrupted_index(shop, tmp_path, monkeypatch, point):
    images, redrawn, metadata = changed_shop(shop, tmp_path)
    items = items_from_folder(images, metadata)
    reference = copy_index(shop, tmp_path, "reference")
    update_index(reference, items, model=shop["model"], chunk_size=2, progress=False)
    remove_from_index(reference, ["dresses/dresses-002"])

    out = copy_index(shop, tmp_path)
    _arm(monkeypatch, point)
    with pytest.raises(Killed):
        update_index(out, items, model=shop["model"], chunk_size=2, progress=False)
    monkeypatch.undo()
    assert CatalogueIndex(out).version in (1, 2)  # the old version or the new one, whole
    update_index(out, items, model=shop["model"], chunk_size=2, progress=False)
    remove_from_index(out, ["dresses/dresses-002"])
    assert_same_state(state(out), state(reference))
    assert not (out / "change_plan.json").exists()


def _arm(monkeypatch, point: str) -> None:
    if point == "after the first re-embedded chunk":
        real, calls = index_mod.embed_items, []

        def embed(*a, **k):
            if calls:
                raise Killed
            calls.append(1)
            return real(*a, **k)

        monkeypatch.setattr(index_mod, "embed_items", embed)
    elif point == "after the change chunk":
        real_chunk = index_mod.write_change_chunk
        monkeypatch.setattr(index_mod, "write_change_chunk", lambda *a, **k: (real_chunk(*a, **k), _raise())[0])
    elif point == "before the version is renamed":
        real_replace = versions_mod.os.replace
        monkeypatch.setattr(versions_mod.os, "replace",
                            lambda a, b: _raise() if Path(b).name.startswith("v0") else real_replace(a, b))
    elif point == "before current is switched":
        monkeypatch.setattr(versions_mod, "_point", lambda *a: _raise())
    else:
        monkeypatch.setattr(versions_mod, "_link_top_level", lambda *a: _raise())


def _raise():
    raise Killed


@pytest.mark.slow  # a second interpreter and a real kill; the kill points above are the fast check
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_update_killed_with_sigkill_resumes_to_the_uninterrupted_index(shop, tmp_path):
    images = tmp_path / "images"
    shutil.copytree(shop["images"], images)
    for n, path in enumerate(sorted(images.rglob("*.png"))):  # every photo changes: 24 one-image chunks
        draw_product(path, 700 + n, 96)
    reference = copy_index(shop, tmp_path, "reference")
    update_index(reference, items_from_folder(images), model=shop["model"], chunk_size=1, batch_size=1,
                 progress=False)
    out = copy_index(shop, tmp_path)
    cmd = [sys.executable, "-m", "cti_ir.index", "update", "--index", str(out), "--images", str(images),
           "--chunk-size", "1", "--batch-size", "1", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    first_new = out / "embeddings" / f"part-{read_index_info(out)['parts']:05d}.json"
    while not first_new.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"the update ended on its own before the kill: {stderr.decode()}"
    assert CatalogueIndex(out).version == 1  # still serving the version before
    assert index_cli.main(cmd[3:]) == 0
    assert_same_state(state(out), state(reference))
