"""What every searchable index version holds besides its vectors: the items, their categories and product fields.

Shared by the FAISS index (``cti_ir.index.searching``) and the Milvus one (``cti_ir.index.milvus_backend``), so
that both answer the engine with the same items, categories, product fields and filter checks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cti_ir.index.filters import FilterMasks, ProductFilter
from cti_ir.index.layout import ITEMS_FILE, read_version
from cti_ir.index.products import PRODUCTS_FILE, ProductTable


class ItemTable:
    """One version of an index folder: ``info``, ``items`` (position -> record), ``products`` and categories."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.info, self.version_dir = read_version(self.folder)
        with open(self.version_dir / ITEMS_FILE, encoding="utf-8") as f:
            self.items = [json.loads(line) for line in f if line.strip()]
        products_file = self.version_dir / PRODUCTS_FILE
        columns = (self.info.get("products") or {}).get("columns", {})
        self.products = ProductTable.read_stored(products_file, columns) if products_file.is_file() \
            else ProductTable()
        self.filters = FilterMasks([it["image_id"] for it in self.items], self.products)
        by_category: dict[str, list[int]] = {}
        for i, it in enumerate(self.items):
            for c in it.get("categories") or []:
                by_category.setdefault(c, []).append(i)
        self._by_category = {c: np.asarray(v, dtype=np.int64) for c, v in by_category.items()}
        # efSearch / nprobe / ef tuned or given at build time; {} for exact search.
        self.search_params = dict(self.info.get("search_params") or {})

    @property
    def categories(self) -> list[str]:
        return sorted(self._by_category)

    @property
    def version(self) -> int:
        """The version number of this index (0 for a folder written before versions existed)."""
        return int(self.info.get("version", 0))

    def __len__(self) -> int:
        return len(self.items)

    def product(self, position: int) -> dict:
        """The product fields of the item at ``position`` ({} when it has none)."""
        return self.products.get(self.items[position]["image_id"])

    def parse_filters(self, filters: Mapping[str, Any] | ProductFilter | None) -> ProductFilter | None:
        """A checked filter for this index's product columns; ``ValueError`` naming what is wrong."""
        return self.filters.parse(filters)

    def check_category(self, category: str | None) -> None:
        if category and category not in self._by_category:
            raise ValueError(f"unknown category {category!r}; the index has {', '.join(self.categories)}")

    def _category_mask(self, category: str) -> np.ndarray:
        mask = np.zeros(len(self.items), dtype=bool)
        mask[self._by_category[category]] = True
        return mask
