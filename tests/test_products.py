"""Product fields: the products file is checked line by line, attached at build time or later without
re-encoding, stored in each index version, and read back by the served index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cti_ir.index.catalogue_index as index_mod
import cti_ir.index.cli as index_cli
from cti_ir.index.catalogue import items_from_folder
from cti_ir.index.catalogue_index import CatalogueIndex, build_index, read_index_info
from cti_ir.index.products import read_products
from cti_ir.model.checkpoint import load_checkpoint
from tests.test_index import draw_catalogue, save_tiny_checkpoint, tree_digest

CATEGORIES = ("dresses", "shirts")
PER_CATEGORY = 12


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("products")
    images = draw_catalogue(root / "images", per_category=PER_CATEGORY, categories=CATEGORIES, size=32)
    checkpoint = save_tiny_checkpoint(root / "ckpt")
    return {"root": root, "images": images, "checkpoint": checkpoint, "model": load_checkpoint(checkpoint),
            "ids": [it.image_id for it in items_from_folder(images)]}


def write_lines(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def shop_rows(ids: list[str]) -> list[dict]:
    return [{"id": i, "title": f"Product {n}", "price": 10 + n, "currency": "eur", "in_stock": n % 2 == 0,
             "brand": ["Acme", "Zeta"][n % 2], "sizes": ["S", "M"] if n % 3 else ["L"], "colour": "red",
             "url": f"https://shop.example/{n}"} for n, i in enumerate(ids)]


# ------------------------------------------------------------------------------------------------ reading
def test_jsonl_products_are_read_with_their_types(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [
        {"id": "a", "title": "Red dress", "price": "19.90", "currency": "eur", "in_stock": "yes",
         "sizes": ["S", "M"], "season": "summer", "rating": 4.5, "url": None},
        "",
        {"id": "b", "price": 5, "in_stock": False, "sizes": []}])
    table = read_products(path)
    assert table.rows["a"] == {"title": "Red dress", "price": 19.9, "currency": "EUR", "in_stock": True,
                               "sizes": ["S", "M"], "season": "summer", "rating": 4.5}
    assert table.rows["b"] == {"price": 5, "in_stock": False}  # an empty list is no value
    assert table.columns == {"title": "text", "price": "number", "currency": "text", "in_stock": "bool",
                             "sizes": "list", "season": "text", "rating": "number"}


def test_csv_products_are_read_with_their_types(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("id,title,price,in_stock,brand,sizes,stock_count,material\n"
                    "a,Red dress,19.90,true,Acme,S|M,3,cotton\n"
                    "b,Blue shirt,,no,Zeta,L,12,\n", encoding="utf-8")
    table = read_products(path)
    assert table.rows["a"] == {"title": "Red dress", "price": 19.9, "in_stock": True, "brand": "Acme",
                               "sizes": ["S", "M"], "stock_count": 3, "material": "cotton"}
    assert table.rows["b"] == {"title": "Blue shirt", "in_stock": False, "brand": "Zeta", "sizes": ["L"],
                               "stock_count": 12}
    assert table.columns["stock_count"] == "number"  # every value of the column is a number


@pytest.mark.parametrize("rows, message", [
    ([{"id": "a", "price": "cheap"}], r"p\.jsonl:1: price must be a number, 0 or more, got 'cheap'"),
    ([{"id": "a", "price": -1}], r"p\.jsonl:1: price must be a number, 0 or more, got -1"),
    ([{"id": "a"}, {"id": "b", "in_stock": "maybe"}], r"p\.jsonl:2: in_stock must be true or false, got 'maybe'"),
    ([{"id": "a"}, {"id": "a"}], r"p\.jsonl:2: product id 'a' was already given on line 1"),
    ([{"title": "no id"}], r"p\.jsonl:1: every product needs an id"),
    (["{not json"], r"p\.jsonl:1: not valid JSON"),
    ([[1, 2]], r"p\.jsonl:1: a product must be a JSON object, got list"),
    ([{"id": "a", "rating": 4}, {"id": "b", "rating": "good"}], r"p\.jsonl:2: rating holds a text here but a "
                                                               r"number on earlier lines"),
    ([{"id": "a", "currency": "euro"}], r"currency must be a three-letter code"),
    ([{"id": "a", "url": "shop.example/a"}], r"url must be an http:// or https:// address"),
    ([{"id": "a", "sizes": [["S"]]}], r"sizes must be a list of texts"),
    ([{"id": "a", "bad name": 1}], r"column name 'bad name' must be letters, digits and _"),
])
def test_bad_products_are_refused_naming_the_line(tmp_path, rows, message):
    with pytest.raises(ValueError, match=message):
        read_products(write_lines(tmp_path / "p.jsonl", rows))


def test_bad_csv_and_files_are_refused_clearly(tmp_path):
    bad = tmp_path / "p.csv"
    bad.write_text("id,price\na,1\nb,1,extra\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.csv:3: more values than the header has columns"):
        read_products(bad)
    bad.write_text("id,in_stock\na,true\nb,perhaps\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"p\.csv:3: in_stock must be true or false, got 'perhaps'"):
        read_products(bad)
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises(ValueError, match=r"must be JSONL \(\.jsonl\) or CSV \(\.csv\), not \.xlsx"):
        read_products(tmp_path / "p.xlsx")
    with pytest.raises(FileNotFoundError, match="products file not found"):
        read_products(tmp_path / "missing.csv")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="lists no products"):
        read_products(tmp_path / "empty.jsonl")


# ------------------------------------------------------------------------------------------- in the index
def test_build_attaches_products_and_the_index_serves_them(shop, tmp_path, capsys):
    products = write_lines(tmp_path / "p.jsonl", shop_rows(shop["ids"][:-2]) + [{"id": "not-indexed", "price": 1}])
    out = tmp_path / "index"
    assert index_cli.main(["build", "--checkpoint", str(shop["checkpoint"]), "--images", str(shop["images"]),
                           "--out", str(out), "--products", str(products), "--no-progress"]) == 0
    info = read_index_info(out)
    assert info["products"]["count"] == len(shop["ids"]) - 1 and info["products"]["indexed"] == len(shop["ids"]) - 2
    assert info["products"]["columns"]["price"] == "number" and info["version"] == 1
    index = CatalogueIndex(out)
    first = index.items.index(next(it for it in index.items if it["image_id"] == shop["ids"][0]))
    assert index.product(first)["title"] == "Product 0" and index.product(first)["currency"] == "EUR"
    last = [it["image_id"] for it in index.items].index(shop["ids"][-1])
    assert index.product(last) == {}  # a product without a row has no fields


def test_bad_products_file_stops_the_build_before_any_image_is_embedded(shop, tmp_path, capsys, monkeypatch):
    bad = write_lines(tmp_path / "p.jsonl", [{"id": "a", "price": 1}, {"id": "b", "price": "n/a"}])
    monkeypatch.setattr(index_mod, "embed_items", lambda *a, **k: pytest.fail("an image was embedded"))
    assert index_cli.main(["build", "--checkpoint", str(shop["checkpoint"]), "--images", str(shop["images"]),
                           "--out", str(tmp_path / "index"), "--products", str(bad), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {bad}:2: price must be a number, 0 or more, got 'n/a'"
    assert not (tmp_path / "index").exists()


def test_products_attached_later_without_re_encoding(shop, tmp_path, capsys, monkeypatch):
    out = tmp_path / "index"
    build_index(shop["model"], items_from_folder(shop["images"]), out, chunk_size=8, progress=False)
    assert "products" not in read_index_info(out) and CatalogueIndex(out).products.columns == {}
    embeddings = tree_digest(out / "embeddings")
    monkeypatch.setattr(index_mod, "embed_items", lambda *a, **k: pytest.fail("an image was embedded"))
    csv_file = tmp_path / "p.csv"
    csv_file.write_text("id,title,price,in_stock\n" + "".join(f"{i},T{n},{n},{'yes' if n % 2 else 'no'}\n"
                                                             for n, i in enumerate(shop["ids"])), encoding="utf-8")
    capsys.readouterr()
    assert index_cli.main(["products", "--index", str(out), "--file", str(csv_file)]) == 0
    assert capsys.readouterr().out.strip() == (f"attached the fields of {len(shop['ids'])} products to {out} "
                                               f"({len(shop['ids'])} of them indexed); now version 2")
    index = CatalogueIndex(out)
    assert index.version == 2 and index.products.rows[shop["ids"][3]] == {"title": "T3", "price": 3, "in_stock": True}
    assert tree_digest(out / "embeddings") == embeddings
    # The FAISS file is the previous version's, linked: nothing was rebuilt.
    assert (out / "versions" / "v000002" / "index.faiss").stat().st_ino == \
        (out / "versions" / "v000001" / "index.faiss").stat().st_ino

    digest = tree_digest(out)
    assert index_cli.main(["products", "--index", str(out), "--file", str(csv_file)]) == 0
    assert capsys.readouterr().out.startswith("nothing changed:")
    assert tree_digest(out) == digest

    bad = write_lines(tmp_path / "bad.jsonl", [{"id": "x", "in_stock": 3}])
    assert index_cli.main(["products", "--index", str(out), "--file", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {bad}:1: in_stock must be true or false, got 3"
    assert tree_digest(out) == digest


def test_generated_shop_fields_are_valid_and_stable_per_product(shop, tmp_path):
    from data_prep.shop_fields import main as shop_fields_main, shop_fields

    out = tmp_path / "index"
    build_index(shop["model"], items_from_folder(shop["images"]), out, chunk_size=8, progress=False)
    assert shop_fields_main(["--index", str(out), "--out", str(tmp_path / "p.jsonl")]) == 0
    table = read_products(tmp_path / "p.jsonl")  # the generated file passes the products file's checks
    assert set(table.rows) == set(shop["ids"])
    assert {"title", "price", "currency", "in_stock", "brand", "url"} <= set(table.columns)
    # A product's fields depend on its id and the seed only, not on the rest of the catalogue.
    one = shop["ids"][3]
    assert shop_fields(one, ["dresses"], seed=0) == {"id": one, **table.rows[one]}
    assert shop_fields(one, ["dresses"], seed=1) != shop_fields(one, ["dresses"], seed=0)
