"""Filters on product fields inside the search: exact results equal a brute-force search over the passing
products, approximate indexes return k passing results whenever k exist, and bad filters are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import cti_ir.index.searching as searching
from cti_ir.index.catalogue_index import CatalogueIndex, index_from_vectors
from cti_ir.index.filters import parse_filters
from cti_ir.index.products import ProductTable
from cti_ir.index.tuning import IndexOptions

N, DIM, K = 2000, 32, 10
BRANDS = ("Acme", "Zeta", "Nord", "Orla", "Vale")
SIZES = ("XS", "S", "M", "L", "XL")
CATEGORIES = ("dress", "shirt", "toptee")
FILTERS = [
    {"in_stock": True},
    {"price_min": 20, "price_max": 60},
    {"brand": "acme"},                                  # letter case is ignored
    {"brand": ["Zeta", "Nord"], "in_stock": "true"},
    {"size": "XS"},
    {"sizes": ["XL", "XS"], "price_max": 50.5, "in_stock": False},
    {"colour": "red", "rating_min": 3},
    {"brand": "Vale", "size": "M", "in_stock": True, "price_min": 100},   # a few dozen products pass
]


def clustered_vectors(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """Vectors around 40 centres, L2-normalised: neighbourhoods for an approximate index to use."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def shop_fields(n: int, seed: int = 1) -> tuple[list[dict], ProductTable]:
    rng = np.random.default_rng(seed)
    records, rows = [], {}
    for i in range(n):
        image_id = f"p{i:05d}"
        records.append({"image_id": image_id, "path": f"/nowhere/{image_id}.jpg",
                        "categories": [CATEGORIES[i % 3]], "description": ""})
        if i % 50 == 49:
            continue  # a product without fields passes no field filter
        sizes = [s for s in SIZES if rng.random() < 0.4]
        rows[image_id] = {"price": round(float(rng.uniform(5, 200)), 2), "in_stock": bool(rng.random() < 0.7),
                          "brand": BRANDS[int(rng.integers(0, 5))], "colour": ["red", "blue"][i % 2],
                          "rating": int(rng.integers(1, 6)), **({"sizes": sizes} if sizes else {})}
    columns = {"price": "number", "in_stock": "bool", "brand": "text", "colour": "text", "rating": "number",
               "sizes": "list"}
    return records, ProductTable(rows, columns)


def passes(row: dict, spec: dict) -> bool:
    """The filter semantics, written out plainly for the brute force."""
    for key, value in spec.items():
        if key.endswith("_min") or key.endswith("_max"):
            field = key[:-4]
            if field not in row or (row[field] < value if key.endswith("_min") else row[field] > value):
                return False
        elif key == "in_stock":
            if row.get("in_stock") is not (value in (True, "true")):
                return False
        else:
            field = "sizes" if key == "size" else key
            wanted = {str(v).casefold() for v in (value if isinstance(value, list) else [value])}
            have = row.get(field)
            have = {h.casefold() for h in (have if isinstance(have, list) else [have] if have else [])}
            if not wanted & have:
                return False
    return True


def brute_force(vectors, queries, records, products, spec, k, category=None):
    ok = np.array([passes(products.get(r["image_id"]), spec) and (category is None or category in r["categories"])
                   for r in records])
    positions = np.flatnonzero(ok)
    scores = queries @ vectors[positions].T
    order = np.argsort(-scores, axis=1)[:, :k]
    return positions[order], len(positions)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    root = tmp_path_factory.mktemp("filters")
    vectors = clustered_vectors(N, DIM)
    records, products = shop_fields(N)
    folders = {}
    # "hnsw" and "ivf" are tuned at build time to recall@10 0.95 without filters; "ivf1" probes one list of 16,
    # so that most filtered queries find fewer than k passing products in it.
    # Tuned on queries like the ones measured (others of the same kind): held-out catalogue vectors are easier.
    probes = query_vectors(300, seed=11)
    for name, options in {"exact": "IDMap,Flat", "hnsw": IndexOptions("HNSW32", probes=probes),
                          "ivf": IndexOptions("IVF16,Flat", probes=probes),
                          "ivf1": IndexOptions("IVF16,Flat", search_params={"nprobe": 1})}.items():
        folders[name] = root / name
        index_from_vectors(folders[name], vectors, records, "fp-test", options, products)
    queries = query_vectors(40, seed=3)
    return {"vectors": vectors, "records": records, "products": products, "folders": folders, "queries": queries}


def query_vectors(n: int, seed: int) -> np.ndarray:
    """Queries near the catalogue's clusters but on no product, as composed queries fall between products."""
    queries = clustered_vectors(n, DIM, seed=seed)
    queries += 0.05 * np.random.default_rng(seed + 100).normal(size=queries.shape).astype(np.float32)
    return np.ascontiguousarray(queries / np.linalg.norm(queries, axis=1, keepdims=True), dtype=np.float32)


def check_passing(index: CatalogueIndex, ids: np.ndarray, spec: dict, category=None) -> None:
    for i in ids[ids >= 0]:
        assert passes(index.product(int(i)), spec), (index.items[i], spec)
        assert category is None or category in index.items[i]["categories"]


@pytest.mark.parametrize("spec", FILTERS)
@pytest.mark.parametrize("path", ["subset scan", "selector"])
def test_exact_filtered_search_equals_brute_force_over_the_passing_products(catalogue, spec, path, monkeypatch):
    if path != "subset scan":  # FAISS's flat search with the bitmap selector
        monkeypatch.setattr(searching, "EXACT_SUBSET_MAX", 0)
    index = CatalogueIndex(catalogue["folders"]["exact"])
    for category in (None, "shirt"):
        truth, passing = brute_force(catalogue["vectors"], catalogue["queries"], catalogue["records"],
                                     catalogue["products"], spec, K, category)
        assert passing >= K, "the filter should leave at least k products"
        scores, ids = index.search(catalogue["queries"], K, category=category, filters=spec)
        np.testing.assert_array_equal(ids, truth)
        assert (np.diff(scores, axis=1) <= 1e-6).all()


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
@pytest.mark.parametrize("small_subset_scan", [True, False])
def test_approximate_filtered_search_returns_k_passing_products_with_high_recall(catalogue, kind,
                                                                                small_subset_scan, monkeypatch):
    if not small_subset_scan:  # the selector inside the ANN search, and the exact fallback for short answers
        monkeypatch.setattr(searching, "EXACT_SUBSET_MAX", 0)
    index = CatalogueIndex(catalogue["folders"][kind])
    recalls = []
    for spec in FILTERS:
        truth, passing = brute_force(catalogue["vectors"], catalogue["queries"], catalogue["records"],
                                     catalogue["products"], spec, K)
        _, ids = index.search(catalogue["queries"], K, filters=spec)
        assert ((ids >= 0).sum(axis=1) == min(K, passing)).all(), spec
        check_passing(index, ids, spec)
        recalls += [len(set(f) & set(t)) / K for f, t in zip(ids.tolist(), truth.tolist())]
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_a_poorly_probed_index_still_returns_k_passing_products(catalogue, monkeypatch):
    monkeypatch.setattr(searching, "EXACT_SUBSET_MAX", 0)
    index = CatalogueIndex(catalogue["folders"]["ivf1"])
    for spec in FILTERS:
        truth, passing = brute_force(catalogue["vectors"], catalogue["queries"], catalogue["records"],
                                     catalogue["products"], spec, K)
        _, ids = index.search(catalogue["queries"], K, filters=spec)
        assert ((ids >= 0).sum(axis=1) == K).all(), spec
        check_passing(index, ids, spec)


def test_fewer_passing_products_than_k_are_all_returned(catalogue):
    spec = {"brand": "Vale", "size": "XS", "in_stock": True, "price_max": 40}
    truth, passing = brute_force(catalogue["vectors"], catalogue["queries"], catalogue["records"],
                                 catalogue["products"], spec, 50)
    assert 0 < passing < 50
    for kind in ("exact", "hnsw", "ivf", "ivf1"):
        scores, ids = CatalogueIndex(catalogue["folders"][kind]).search(catalogue["queries"], 50, filters=spec)
        assert ((ids >= 0).sum(axis=1) == passing).all(), kind
        assert sorted(ids[0][ids[0] >= 0].tolist()) == sorted(truth[0][:passing].tolist()), kind
    _, ids = CatalogueIndex(catalogue["folders"]["ivf1"]).search(catalogue["queries"], 5,
                                                                filters={"price_min": 1000})
    assert (ids == -1).all()


@pytest.mark.parametrize("spec, message", [
    ({"colour_min": 3}, r"unknown filter 'colour_min'; the products can be filtered on brand, colour, in_stock, "
                        r"price, rating, sizes, price_min, price_max, rating_min, rating_max"),
    ({"weight": 3}, r"unknown filter 'weight'"),
    ({"price_min": "cheap"}, r"filter price_min must be a number, got 'cheap'"),
    ({"in_stock": "maybe"}, r"filter in_stock must be true or false, got 'maybe'"),
    ({"brand": {"a": 1}}, r"filter brand must be a text or a list of texts"),
    ({"price_min": 50, "price_max": 10}, r"price_min \(50\) is above price_max \(10\); no product can pass"),
    ([("in_stock", True)], r"filters must be an object of field names and values"),
])
def test_bad_filters_are_clear_errors(catalogue, spec, message):
    with pytest.raises(ValueError, match=message):
        CatalogueIndex(catalogue["folders"]["exact"]).search(catalogue["queries"][:1], 5, filters=spec)


def test_empty_filter_values_filter_nothing_and_an_index_without_products_says_so(catalogue, tmp_path):
    assert parse_filters({"brand": "", "size": [], "price_min": None}, {"brand": "text", "sizes": "list",
                                                                         "price": "number"}) is None
    index_from_vectors(tmp_path / "plain", catalogue["vectors"][:100], catalogue["records"][:100], "fp")
    plain = CatalogueIndex(tmp_path / "plain")
    with pytest.raises(ValueError, match=r"the index has no product fields to filter on \(filter 'in_stock'\); "
                                         r"attach a products file"):
        plain.search(catalogue["queries"][:1], 5, filters={"in_stock": True})
