"""Publishing an index version: the files, the product table, the vector store (FAISS file or Milvus collection)
and ``index_info.json``, written beside the served version and switched to at once (``cti_ir.index.versions``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cti_ir.files import write_json_atomic
from cti_ir.index.category_model import FILES as CATEGORY_MODEL_FILES
from cti_ir.index.chunk_log import read_log
from cti_ir.index.layout import INDEX_FILE, INFO_FILE, ITEMS_FILE, REJECTED_FILE, read_version
from cti_ir.index.photo_category_model import FILES as PHOTO_CATEGORY_FILES
from cti_ir.index.products import PRODUCTS_FILE, ProductTable
from cti_ir.index.versions import KEEP_VERSIONS, current_dir, link_or_copy, publish_version

#: ``products=`` of a publication: keep the product fields of the version served now.
KEEP_PRODUCTS = "keep"


def served_products(out: str | Path) -> ProductTable | None:
    """The product table of the version an index folder serves now (None: it has none)."""
    version = current_dir(out)
    if not (version / PRODUCTS_FILE).is_file() or not (version / INFO_FILE).is_file():
        return None
    info = json.loads((version / INFO_FILE).read_text(encoding="utf-8"))
    return ProductTable.read_stored(version / PRODUCTS_FILE, (info.get("products") or {}).get("columns", {}))


def publish_index_version(out: Path, info: dict, write_files: Callable[[Path], None], products,
                          items: list[dict], vectors: np.ndarray | None = None) -> dict:
    """Publish the next version of ``out``: ``write_files(folder)`` writes the index files, this adds the product
    table (``KEEP_PRODUCTS``: the served one), loads a Milvus backend's collection (``vectors``, row i = ``items[i]``;
    None: read back from the chunk log) and writes ``index_info.json`` (with the version number) last."""
    table = served_products(out) if products == KEEP_PRODUCTS else products
    backend = info.get("backend")
    indexed = {it["image_id"] for it in items}

    def write(folder: Path, number: int) -> None:
        write_files(folder)
        info.pop("products", None)
        if table is not None:
            table.write(folder / PRODUCTS_FILE)
            info["products"] = {**table.describe(), "indexed": sum(1 for i in table.rows if i in indexed)}
        if backend is not None:
            from cti_ir.index import milvus_backend

            stored = vectors if vectors is not None else _logged_vectors(out, items)
            info["backend"] = {**backend, "collection": milvus_backend.publish(backend, number, stored, items, table)}
        info["version"] = number
        write_json_atomic(folder / INFO_FILE, info)

    publish_version(out, write)
    if backend is not None:  # the collections of pruned versions, and of unfinished ones, go too
        from cti_ir.index import milvus_backend

        milvus_backend.drop_versions(backend, info["version"] - KEEP_VERSIONS + 1, info["version"])
    return info


def _logged_vectors(out: Path, items: list[dict]) -> np.ndarray:
    """The vectors of ``items`` as the chunk log holds them (a version published without rebuilding)."""
    vectors, logged, _ = read_log(out)
    row = {it["image_id"]: r for r, it in enumerate(logged)}
    return vectors[[row[it["image_id"]] for it in items]]


def republish(out: Path, products: ProductTable | None, note: dict | None = None,
              extra: Callable[[Path], None] | None = None) -> dict:
    """A new version with the served index and items (hard links: nothing rebuilt, nothing re-encoded) and
    another product table (``KEEP_PRODUCTS``: the same); ``extra(folder)`` writes further files into it (those it
    writes replace the served version's)."""
    info, version = read_version(out)
    info = {**info, **(note or {}), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    with open(version / ITEMS_FILE, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]

    def write_files(folder: Path) -> None:
        if extra is not None:
            extra(folder)
        for name in (INDEX_FILE, ITEMS_FILE, REJECTED_FILE, *CATEGORY_MODEL_FILES, *PHOTO_CATEGORY_FILES):
            if (version / name).is_file() and not (folder / name).exists():
                link_or_copy(version / name, folder / name)

    return publish_index_version(out, info, write_files, products, items)


def served_photo_category(out: Path) -> dict | None:
    """What the served version of ``out`` records about its photo category model; None when it has none."""
    version = current_dir(out)
    if not all((version / name).is_file() for name in (*PHOTO_CATEGORY_FILES, INFO_FILE)):
        return None
    info = json.loads((version / INFO_FILE).read_text(encoding="utf-8"))
    return info.get("photo_category") or {}


def carry_photo_category_model(out: Path, folder: Path) -> None:
    """Link the served version's photo category model into a new version ``folder`` (a rebuild after ``add``,
    ``remove`` or ``update``: the network is fit on photos, not on the vectors that changed)."""
    served = current_dir(out)
    for name in PHOTO_CATEGORY_FILES:
        if (served / name).is_file():
            link_or_copy(served / name, folder / name)
