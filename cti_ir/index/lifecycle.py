"""The catalogue as it lives: products removed, photos and product fields changed, product fields attached.

    python -m cti_ir.index products --index index/ --file products.csv        # attach (replace) the product fields
    python -m cti_ir.index remove   --index index/ --ids sku-1 sku-2          # or --ids-file delisted.txt
    python -m cti_ir.index update   --index index/ --images shop_photos/ [--products changed.jsonl]

Each change is one step of the index's log (``cti_ir.index.chunk_log``) and is published as a new version
(``cti_ir.index.versions``): atomic for a running server, and a change that was killed resumes, run again, to the
index an uninterrupted run gives. A change that changes nothing writes nothing and says so (``changed`` False).

``update`` re-embeds only the photos whose file content changed (their SHA-256 differs from the one recorded when
they were embedded); a photo that moved (another path, same bytes) or a changed category or description is
recorded without re-encoding. Products of the source that are not in the index are left to ``add``, products of the
index missing from the source to ``remove``. Only re-embedding needs the model: ``remove``, ``products`` and
field-only updates run without loading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from cti_ir.files import sha256_file
from cti_ir.index.catalogue import CatalogueItem
from cti_ir.index.catalogue_index import (
    KEEP_PRODUCTS,
    apply_change,
    catalogued_ids,
    change_encoder,
    republish,
    served_products,
)
from cti_ir.index.layout import read_index_info
from cti_ir.index.products import ProductTable


class _Recorded:
    """The model and gallery encoder an index records, for changes that embed nothing: what a rebuild writes
    about them, without loading them."""

    def __init__(self, info: dict):
        self.fingerprint = info["model_fingerprint"]
        self.gallery = info.get("gallery") or {"mode": "symmetric"}

    def describe(self) -> dict:
        return self.gallery


def read_id_file(path: str | Path) -> list[str]:
    """Product ids from a file: one per line (blank lines and ``#`` comments skipped), or the ``id`` column of a
    ``.jsonl`` or ``.csv`` file (a products file works)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"file of ids not found: {path}")
    if path.suffix.lower() in (".jsonl", ".csv"):
        from cti_ir.index.products import read_products

        return list(read_products(path).rows)
    ids = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines()]
    ids = [i for i in ids if i and not i.startswith("#")]
    if not ids:
        raise ValueError(f"{path} lists no product ids (one per line)")
    return ids


def remove_from_index(out: str | Path, ids: Sequence[str]) -> dict:
    """Remove the products ``ids`` (their vectors, items and product fields) from the index at ``out``.

    Returns the info of the index now served, with ``change``: ``removed``, ``unknown`` (ids that are not in the
    index, e.g. removed before) and ``changed``.
    """
    out = Path(out)
    info = read_index_info(out)
    catalogued = catalogued_ids(out)
    wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip()))
    if not wanted:
        raise ValueError("give at least one product id to remove")
    found = [i for i in wanted if i in catalogued]
    unknown = [i for i in wanted if i not in catalogued]
    change = {"removed": len(found), "unknown": unknown, "changed": bool(found)}
    if not found:
        return {**info, "change": change}
    if len(found) == len(catalogued):
        raise ValueError(f"removing these {len(found)} products would leave the index empty; build a new index "
                         f"instead")
    products = served_products(out)
    if products is not None:
        gone = set(found)
        products = ProductTable({i: row for i, row in products.rows.items() if i not in gone}, products.columns)
    recorded = _Recorded(info)
    plan = {"kind": "remove", "removed": sorted(found)}
    info = apply_change(out, recorded, recorded, info, plan, [], removed=sorted(found),
                        products=products if products is not None else KEEP_PRODUCTS)
    return {**info, "change": change}


def attach_products(out: str | Path, products: ProductTable) -> dict:
    """Attach ``products`` to the index at ``out``, replacing its product fields; nothing is re-encoded or rebuilt.

    ``change`` says how many products the table has, how many of them are indexed, and whether anything changed.
    """
    out = Path(out)
    info = read_index_info(out)
    current = served_products(out)
    indexed = set(catalogued_ids(out))
    change = {"products": len(products), "indexed": sum(1 for i in products.rows if i in indexed),
              "changed": current is None or current.rows != products.rows}
    if change["changed"]:
        info = republish(out, products)
    return {**info, "change": change}


def update_index(out: str | Path, items: Sequence[CatalogueItem] | None = None, products: ProductTable | None = None,
                 model=None, gallery=None, chunk_size: int = 512, batch_size: int = 128, workers: int = 0,
                 skip_bad: bool = False, progress: bool = True) -> dict:
    """Bring the index at ``out`` up to date with the catalogue ``items`` and the product rows ``products``.

    Photos whose file content changed are re-embedded with ``model`` (a loaded model, or a function that loads it:
    called only when a photo changed) and ``gallery`` (an ensemble index's encoder, if any); other changes of an
    item are recorded as they are; ``products`` rows replace those of the same ids. Returns the info of the index
    served now, with ``change``: ``re_embedded``, ``records``, ``products``, ``not_indexed`` (items of the source
    that ``add`` would add) and ``changed``.
    """
    out = Path(out)
    info = read_index_info(out)
    catalogued = catalogued_ids(out)
    changed_photos, changed_records, not_indexed = _compare(items or [], catalogued)
    current = served_products(out)
    merged, unknown = None, 0
    if products is not None:
        # Rows of products the index does not hold (removed, or not added yet) change nothing it serves.
        unknown = sum(1 for i in products.rows if i not in catalogued)
        products = ProductTable({i: row for i, row in products.rows.items() if i in catalogued}, products.columns)
        merged = current.merged(products) if current is not None else products
        if current is not None and merged.rows == current.rows:
            merged = None
    change = {"re_embedded": len(changed_photos), "records": len(changed_records),
              "products": 0 if merged is None else sum(1 for i, row in products.rows.items()
                                                       if current is None or current.rows.get(i) != row),
              "not_indexed": not_indexed, "product_rows_not_indexed": unknown}
    change["changed"] = bool(changed_photos or changed_records or merged is not None)
    if not change["changed"]:
        return {**info, "change": change}
    if not changed_photos and not changed_records:
        return {**republish(out, merged), "change": change}
    model = _loaded(model) if changed_photos else _Recorded(info)
    encoder = change_encoder(out, info, model, gallery) if changed_photos else model
    plan = {"kind": "update", "fingerprint": getattr(encoder, "fingerprint", None), "chunk_size": chunk_size,
            "image_ids": [it.image_id for it in changed_photos], "records": changed_records}
    info = apply_change(out, model, encoder, info, plan, changed_photos, chunk_size, batch_size, workers,
                        skip_bad, progress, records=changed_records,
                        products=merged if merged is not None else KEEP_PRODUCTS)
    return {**info, "change": change}


def _compare(items: Sequence[CatalogueItem], catalogued: dict[str, dict]
             ) -> tuple[list[CatalogueItem], list[dict], int]:
    """(items whose photo changed, records of items that changed otherwise, items not in the index)."""
    photos, records, not_indexed = [], [], 0
    for item in items:
        old = catalogued.get(item.image_id)
        if old is None:
            not_indexed += 1
            continue
        digest = sha256_file(item.path) if Path(item.path).is_file() else None
        if digest is None:  # the photo is gone: nothing to re-embed (remove the product to take it out)
            continue
        if digest != old.get("sha256"):
            photos.append(item)
            continue
        record = {**item.to_json(), "sha256": digest}
        if "uncertainty" in old:
            record["uncertainty"] = old["uncertainty"]
        if record != old:
            records.append(record)
    return photos, records, not_indexed


def _loaded(model: object | Callable[[], object]):
    if model is None:
        raise ValueError("some photos changed and must be embedded again: give the model (the checkpoint the index "
                         "was built with)")
    return model() if callable(model) and not hasattr(model, "encode_images") else model

