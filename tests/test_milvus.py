"""The Milvus backend (Milvus Lite, a local file): the same commands, filters and engine API as FAISS, and the
same results as FAISS's exact search."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

import cti_ir.index.cli as index_cli  # noqa: E402
from cti_ir.index import milvus_backend  # noqa: E402
from cti_ir.index.catalogue_index import CatalogueIndex, index_from_vectors, read_index_info  # noqa: E402
from cti_ir.index.lifecycle import attach_products, remove_from_index  # noqa: E402
from cti_ir.index.searching import open_index  # noqa: E402
from cti_ir.serve.engine import SearchEngine  # noqa: E402
from tests.app_fixtures import make_tiny_catalogue  # noqa: E402
from tests.test_filters import FILTERS, K, brute_force, check_passing, clustered_vectors, query_vectors, shop_fields  # noqa: E402,E501

N, DIM = 2000, 32


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The same vectors and products as a FAISS exact index, a Milvus FLAT and a Milvus HNSW index."""
    root = tmp_path_factory.mktemp("milvus")
    vectors = clustered_vectors(N, DIM)
    records, products = shop_fields(N)
    folders = {"faiss": root / "faiss", "flat": root / "flat", "hnsw": root / "hnsw"}
    index_from_vectors(folders["faiss"], vectors, records, "fp", "IDMap,Flat", products)
    for kind, index_type in (("flat", "FLAT"), ("hnsw", "HNSW")):
        backend = milvus_backend.backend_spec(str(root / "milvus.db"), index_type, prefix=f"t_{kind}")
        index_from_vectors(folders[kind], vectors, records, "fp", products=products, backend=backend)
    return {"vectors": vectors, "records": records, "products": products, "folders": folders,
            "queries": query_vectors(40, seed=3)}


def test_milvus_flat_equals_faiss_exact_with_every_filter(pair):
    faiss_index, milvus = CatalogueIndex(pair["folders"]["faiss"]), open_index(pair["folders"]["flat"])
    assert isinstance(milvus, milvus_backend.MilvusCatalogueIndex) and not (pair["folders"]["flat"] /
                                                                             "index.faiss").exists()
    for spec in [None] + FILTERS:
        for category in (None, "toptee"):
            expected_scores, expected = faiss_index.search(pair["queries"], K, category=category, filters=spec)
            scores, ids = milvus.search(pair["queries"], K, category=category, filters=spec)
            np.testing.assert_array_equal(ids, expected)
            np.testing.assert_allclose(scores, expected_scores, atol=1e-5)
    with pytest.raises(ValueError, match="unknown filter 'weight'"):
        milvus.search(pair["queries"], K, filters={"weight": 1})


def test_milvus_hnsw_returns_k_passing_products_with_high_recall(pair):
    milvus = open_index(pair["folders"]["hnsw"])
    recalls = []
    for spec in FILTERS:
        truth, passing = brute_force(pair["vectors"], pair["queries"], pair["records"], pair["products"], spec, K)
        _, ids = milvus.search(pair["queries"], K, filters=spec)
        assert ((ids >= 0).sum(axis=1) == min(K, passing)).all(), spec
        check_passing(milvus, ids, spec)
        recalls += [len(set(f) & set(t)) / K for f, t in zip(ids.tolist(), truth.tolist())]
    assert np.mean(recalls) >= 0.95, np.mean(recalls)


def test_the_commands_and_the_engine_work_on_milvus_as_on_faiss(tmp_path, capsys):
    catalogue = make_tiny_catalogue(tmp_path / "shop")
    out = tmp_path / "milvus-index"
    uri = str(tmp_path / "shop.db")
    assert index_cli.main(["build", "--checkpoint", str(catalogue.checkpoint), "--images", str(catalogue.images),
                           "--out", str(out), "--backend", "milvus", "--milvus-uri", uri, "--no-progress"]) == 0
    info = read_index_info(out)
    assert info["backend"]["kind"] == "milvus" and info["factory"] == "milvus:FLAT"
    rows = {i: {"price": 10.0 + n, "in_stock": n % 2 == 0} for n, i in enumerate(catalogue.ids)}
    products = tmp_path / "p.jsonl"
    products.write_text("".join(f'{{"id": "{i}", "price": {r["price"]}, "in_stock": {str(r["in_stock"]).lower()}}}\n'
                                for i, r in rows.items()))
    assert index_cli.main(["products", "--index", str(out), "--file", str(products)]) == 0
    assert index_cli.main(["remove", "--index", str(out), "--ids", catalogue.ids[0]]) == 0
    faiss_copy = tmp_path / "faiss-index"
    shutil.copytree(catalogue.index, faiss_copy, symlinks=True)
    attach_products(faiss_copy, milvus_backend_free_table(rows))
    remove_from_index(faiss_copy, [catalogue.ids[0]])
    milvus_engine = SearchEngine(catalogue.checkpoint, out)
    faiss_engine = SearchEngine(catalogue.checkpoint, faiss_copy)
    for filters in (None, {"in_stock": True}, {"price_min": 13, "price_max": 19}):
        a = milvus_engine.search(text="a red dress", k=8, category="all", filters=filters)
        b = faiss_engine.search(text="a red dress", k=8, category="all", filters=filters)
        assert [h.image_id for h in a.hits] == [h.image_id for h in b.hits]
        assert [h.product for h in a.hits] == [h.product for h in b.hits]
    # "More like this" reads the stored vector back from Milvus.
    similar = milvus_engine.similar(image_id=catalogue.ids[3], k=3)
    assert similar.hits and catalogue.ids[3] not in {h.image_id for h in similar.hits}
    # Only the collections of the kept versions remain.
    names = milvus_backend.client(read_index_info(out)["backend"]["uri"]).list_collections()
    assert sorted(names) == ["cti_ir_v000001", "cti_ir_v000002", "cti_ir_v000003"]
    assert index_cli.main(["build", "--checkpoint", str(catalogue.checkpoint), "--images", str(catalogue.images),
                           "--out", str(tmp_path / "x"), "--milvus-uri", uri]) == 2
    assert capsys.readouterr().err.strip().endswith("error: --milvus-uri belongs to --backend milvus; add it, or "
                                                    "leave --milvus-uri out")


def milvus_backend_free_table(rows):
    from cti_ir.index.products import ProductTable

    return ProductTable(rows, {"price": "number", "in_stock": "bool"})


def test_a_new_hnsw_collection_is_searched_through_its_graph_not_brute_force(pair):
    """Right after it is published, in the process that built it: Milvus Lite kept searching a new collection's
    segments without the index built after their creation (exact results at any ef) until it was loaded anew."""
    index = open_index(pair["folders"]["hnsw"])
    queries, vectors = pair["queries"], pair["vectors"]
    truth = np.argsort(-(queries @ vectors.T), axis=1)[:, :K]

    def recall(ef: int) -> float:
        _, ids = index.search(queries, K, search_params={"ef": ef})
        return float(np.mean([len(set(a) & set(b)) / K for a, b in zip(ids.tolist(), truth.tolist())]))

    assert recall(10) < 0.95 and recall(512) >= 0.99  # an approximate graph: a larger ef finds more
