"""Milvus as the vector store of an index folder: for catalogues beyond one machine (FAISS stays the default).

    python -m cti_ir.index build --checkpoint ckpt --images photos/ --out index/ --backend milvus \\
        --milvus-uri index/milvus.db                     # Milvus Lite: a local file, one machine, tests
    python -m cti_ir.index build ... --backend milvus --milvus-uri http://milvus.internal:19530 [--milvus-token T]

The index folder stays the catalogue's control plane: the chunk log of embeddings, the items, the product fields
and the versions (``cti_ir.index.versions``) are written exactly as for FAISS, and ``add``, ``remove``, ``update``
and ``products`` work unchanged. What differs is where the vectors are searched: each published version is loaded
into its own Milvus collection (``<prefix>_v000003``, recorded in that version's ``index_info.json``), with the
product fields as typed, nullable scalar columns (texts lower-cased, as the filters compare them) and the
categories as an array, so a filter runs inside Milvus's search as a boolean expression. Switching ``current``
switches the collection with it; the collections of pruned versions are dropped, and one left by a change killed
before its switch is replaced when the change runs again.

Milvus does not compose a query: the engine computes the query vector (image + text) as always and hands it over.
``FLAT`` is exact search (the same results as FAISS's exact index); ``HNSW`` is the approximate index, searched
with ``ef`` (divided by a filter's share of passing products, as for FAISS: ``cti_ir.index.searching``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cti_ir.index.filters import ProductFilter
from cti_ir.index.item_table import ItemTable

MILVUS = "milvus"
INDEX_TYPES = {"FLAT": {}, "HNSW": {"M": 32, "efConstruction": 200}}
DEFAULT_EF = 64
EF_MAX = 4096
INSERT_BATCH = 5000
INDEX_WAIT_S = 1800  # longest wait for Milvus to index a new collection before it is served anyway
MAX_TEXT = 1024      # longest text kept in a filter column (longer ones are cut: filters compare short values)
MAX_LIST = 256       # most values of a list column (sizes)


def backend_spec(uri: str, index_type: str = "FLAT", token: str | None = None, prefix: str = "cti_ir") -> dict:
    """What ``index_info.json`` records about a Milvus backend (a token is not recorded: give it again, or set
    ``MILVUS_TOKEN``)."""
    index_type = index_type.upper()
    if index_type not in INDEX_TYPES:
        raise ValueError(f"--milvus-index must be one of {', '.join(INDEX_TYPES)}, got {index_type!r}")
    if not uri:
        raise ValueError("--backend milvus needs --milvus-uri: a local file (Milvus Lite, e.g. index/milvus.db) or "
                         "a server address (http://host:19530)")
    if not uri.startswith(("http://", "https://", "tcp://", "unix:")):
        uri = str(Path(uri).resolve())  # Milvus Lite: a file, found again from any working directory
        if not uri.endswith(".db"):
            raise ValueError(f"a Milvus Lite file must end in .db, got {uri!r}")
    return {"kind": MILVUS, "uri": uri, "index_type": index_type, "prefix": prefix,
            **({"token_given": True} if token else {})}


@functools.lru_cache(maxsize=8)
def client(uri: str):
    """One client per address for the whole process (Milvus Lite starts a local server per file)."""
    import os

    from pymilvus import MilvusClient

    return MilvusClient(uri, token=os.environ.get("MILVUS_TOKEN", ""))


def collection_name(backend: Mapping, version: int) -> str:
    return f"{backend.get('prefix', 'cti_ir')}_v{version:06d}"


def decided(backend: Mapping) -> dict:
    """The ``index_info.json`` fields a FAISS build records, for a Milvus collection."""
    params = {} if backend["index_type"] == "FLAT" else {"ef": DEFAULT_EF}
    return {"factory": f"milvus:{backend['index_type']}", "factory_requested": f"milvus:{backend['index_type']}",
            "factory_reason": "given", "search_params": params, "tuning": None}


def publish(backend: Mapping, version: int, vectors: np.ndarray, items: list[dict], products) -> str:
    """Load one version into a new collection (replacing one of the same name left by a killed change)."""
    from pymilvus import DataType, MilvusClient

    milvus, name = client(backend["uri"]), collection_name(backend, version)
    if milvus.has_collection(name):
        milvus.drop_collection(name)
    columns = dict(products.columns) if products is not None else {}
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("pos", DataType.INT64, is_primary=True)
    schema.add_field("vec", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
    schema.add_field("categories", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=64, max_length=256)
    kinds = {"number": {"datatype": DataType.DOUBLE}, "bool": {"datatype": DataType.BOOL},
             "text": {"datatype": DataType.VARCHAR, "max_length": MAX_TEXT},
             "list": {"datatype": DataType.ARRAY, "element_type": DataType.VARCHAR, "max_capacity": MAX_LIST,
                      "max_length": MAX_TEXT}}
    for column, kind in columns.items():
        schema.add_field(f"f_{column}", nullable=True, **kinds[kind])
    index_params = milvus.prepare_index_params()
    index_params.add_index(field_name="vec", index_type=backend["index_type"], metric_type="IP",
                           params=INDEX_TYPES[backend["index_type"]])
    milvus.create_collection(name, schema=schema, index_params=index_params)
    for start in range(0, len(items), INSERT_BATCH):
        rows = [_row(start + r, vectors[start + r], it, products, columns)
                for r, it in enumerate(items[start:start + INSERT_BATCH])]
        milvus.insert(name, rows)
    # Sealed and indexed before it is served: rows left in growing segments are searched without the index
    # (on 30k x 128-d in Milvus Lite: 717 ms a query unflushed, 39 ms flushed).
    milvus.flush(name)
    _wait_for_index(milvus, name, len(items))
    # Released and loaded again: Milvus Lite (3.x) keeps searching the segments it loaded at creation without the
    # index built since (recall 1.0 at any ef, brute-force cost) until the collection is loaded anew.
    milvus.release_collection(name)
    milvus.load_collection(name)
    return name


def _wait_for_index(milvus, name: str, rows: int, timeout_s: float = INDEX_WAIT_S) -> None:
    """Wait until the vector index covers every row (Milvus builds it in the background after a flush)."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        state = milvus.describe_index(name, "vec")
        if int(state.get("indexed_rows", 0)) >= rows and not int(state.get("pending_index_rows", 0)):
            return
        time.sleep(0.5)


def _row(position: int, vector: np.ndarray, item: dict, products, columns: Mapping[str, str]) -> dict:
    fields = products.get(item["image_id"]) if products is not None else {}
    row = {"pos": position, "vec": vector.tolist(), "categories": [c[:256] for c in item.get("categories") or []]}
    for column, kind in columns.items():
        value = fields.get(column)
        if kind == "text" and value is not None:
            value = str(value).casefold()[:MAX_TEXT]
        elif kind == "list" and value is not None:
            value = [str(v).casefold()[:MAX_TEXT] for v in value][:MAX_LIST]
        row[f"f_{column}"] = value
    return row


def drop_versions(backend: Mapping, keep_from: int, newer_than: int | None = None) -> None:
    """Drop this index's collections of versions below ``keep_from`` (pruned) and above ``newer_than``."""
    milvus, prefix = client(backend["uri"]), f"{backend.get('prefix', 'cti_ir')}_v"
    for name in milvus.list_collections():
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            number = int(name[len(prefix):])
            if number < keep_from or (newer_than is not None and number > newer_than):
                milvus.drop_collection(name)


def expression(product_filter: ProductFilter | None, category: str | None, columns: Mapping[str, str]) -> str:
    """The Milvus boolean expression of a checked filter and a category ("" for none); ``columns`` are the
    product columns' types (a list column matches when it holds one of the values)."""
    parts = [f"ARRAY_CONTAINS(categories, {json.dumps(category)})"] if category else []
    for clause in (product_filter.clauses if product_filter is not None else ()):
        field = f"f_{clause.column}"
        if clause.column not in columns:  # a filter checked against another version's columns: none passes
            parts.append("pos < 0")
        elif clause.flag is not None:
            parts.append(f"{field} == {'true' if clause.flag else 'false'}")
        elif clause.values and columns[clause.column] == "list":
            parts.append(f"ARRAY_CONTAINS_ANY({field}, {json.dumps(list(clause.values))})")
        elif clause.values and columns[clause.column] == "text":
            parts.append(f"{field} in {json.dumps(list(clause.values))}")
        elif clause.values:
            parts.append(f"{field} in [{', '.join(repr(float(v)) for v in clause.values)}]")
        else:
            parts.append(" and ".join(([f"{field} >= {clause.low!r}"] if clause.low is not None else []) +
                                      ([f"{field} <= {clause.high!r}"] if clause.high is not None else [])))
    return " and ".join(f"({p})" for p in parts)


def search(backend: Mapping, collection: str, queries: np.ndarray, k: int, expr: str, ef: int | None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(scores, positions) of each query's top ``k`` passing ``expr``; -1 pads when fewer pass."""
    params: dict[str, Any] = {"metric_type": "IP"}
    if ef is not None:
        params["params"] = {"ef": int(max(ef, k))}
    answers = client(backend["uri"]).search(collection, data=queries.tolist(), limit=k, filter=expr,
                                             output_fields=["pos"], anns_field="vec", search_params=params)
    scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    for row, hits in enumerate(answers):
        for col, hit in enumerate(hits[:k]):
            scores[row, col], ids[row, col] = hit["distance"], hit["entity"]["pos"]
    return scores, ids


def vector_at(backend: Mapping, collection: str, position: int) -> np.ndarray:
    """The stored vector of one position."""
    rows = client(backend["uri"]).query(collection, filter=f"pos == {int(position)}", output_fields=["vec"])
    return np.asarray(rows[0]["vec"], dtype=np.float32)


class MilvusCatalogueIndex(ItemTable):
    """An index version whose vectors live in a Milvus collection; searched like ``CatalogueIndex``."""

    index = None  # no FAISS index: the engine asks this object for a stored vector (vector_at)

    def __init__(self, folder: str | Path, mmap: bool = True):
        super().__init__(folder)
        self.backend = self.info["backend"]
        self.collection = self.backend["collection"]
        # Loaded into the search nodes' memory: a collection comes back "released" after a restart of Milvus Lite
        # (a new process) or of a server, and Milvus refuses to search it until it is loaded again.
        client(self.backend["uri"]).load_collection(self.collection)

    def search(self, queries: np.ndarray, k: int, category: str | None = None, nprobe: int | None = None,
               search_params: dict | None = None, filters: Mapping[str, Any] | ProductFilter | None = None):
        """Top-``k`` (scores, ids) of each query row among the products passing ``category`` and ``filters``."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(int(k), len(self.items)))
        self.check_category(category)
        product_filter = self.parse_filters(filters)
        ef = {**self.search_params, **(search_params or {})}.get("ef")
        if ef is not None and product_filter is not None:  # as for FAISS: a filter's passing neighbours lie farther
            share = max(float(self.filters.mask(product_filter).mean()), 1.0 / len(self.items))
            ef = min(int(np.ceil(ef / share)), EF_MAX)
        return search(self.backend, self.collection, queries, k,
                      expression(product_filter, category, self.products.columns), ef)

    def stored_vectors(self) -> None:
        return None  # the vectors stay in Milvus; vector_at fetches one

    def vector_at(self, position: int) -> np.ndarray:
        return vector_at(self.backend, self.collection, position)
