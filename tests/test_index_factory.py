"""``--factory auto`` and build-time tuning (`cti_ir.index.factory`): which index a catalogue gets, and the search
parameter it is served with.

The end-to-end tests index real image files with a tiny model (the catalogue of ``test_index``'s helpers); the
tuning tests use clustered vectors made with numpy, which have the structure ANN indexes are meant for.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import cti_ir.index.catalogue_index as index_mod
import cti_ir.index.cli as index_cli
import cti_ir.index.factory as index_factory
import cti_ir.index.searching as index_searching
import cti_ir.index.tuning as index_tuning
from cti_ir.index.catalogue import items_from_folder
from cti_ir.index.catalogue_index import CatalogueIndex, build_index, read_index_info
from cti_ir.index.factory import choose_factory, make_faiss_index, parse_memory
from cti_ir.index.tuning import (
    IndexOptions,
    build_tuned_index,
    exact_top_k,
    held_out_queries,
    neighbour_recall,
    parse_search_params,
    tune_search_parameter,
)
from cti_ir.model.checkpoint import load_checkpoint
from tests.test_index import draw_catalogue, stored_vectors


@pytest.fixture(autouse=True, scope="module")
def one_faiss_thread():
    """FAISS with one OpenMP thread, as the app and the benchmark run it: on a busy 2-core machine, training a
    small PQ with two spinning OpenMP threads took 11 s instead of 0.2 s."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint  # the session's cti-tiny checkpoint (conftest)


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_checkpoint(checkpoint)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    return draw_catalogue(tmp_path_factory.mktemp("catalogue"), per_category=60)


def clustered(n: int, dim: int = 32, clusters: int = 50, spread: float = 0.35, seed: int = 0) -> np.ndarray:
    """L2-normalised points around random centres: the neighbourhood structure of real embeddings."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32)


# --------------------------------------------------------------------------------------------------- the choice
def test_auto_picks_exact_below_the_threshold_then_hnsw_then_ivf_pq_by_memory():
    assert choose_factory(100_000, 128).factory == "IDMap,Flat"          # 12.8M floats <= 2**24
    big = choose_factory(1_000_000, 128)
    assert big.factory == "HNSW32" and big.memory_bytes <= index_factory.DEFAULT_MEMORY_BUDGET
    tight = choose_factory(1_000_000, 128, memory_budget=parse_memory("256MB"))
    assert tight.factory == "IVF2048,PQ64x4fs,RFlat"
    assert tight.memory_bytes <= parse_memory("256MB") < big.memory_bytes
    assert "exceed the memory budget" in tight.reason
    assert choose_factory(index_factory.HNSW_MAX_ITEMS + 1, 128).factory.startswith("IVF")
    with pytest.raises(ValueError, match="raise --memory-budget or split the catalogue"):
        choose_factory(1_000_000, 128, memory_budget=parse_memory("10MB"))


@pytest.mark.parametrize("text, expected", [("4GB", 4 * 2**30), ("512MiB", 512 * 2**20), ("2g", 2 * 2**30),
                                            ("1.5 GiB", int(1.5 * 2**30)), ("4096", 4096)])
def test_memory_budget_sizes(text, expected):
    assert parse_memory(text) == expected


def test_bad_memory_budget_and_search_params_are_clear_errors():
    with pytest.raises(ValueError, match="write it like 4GB"):
        parse_memory("lots")
    assert parse_search_params(["efSearch=64", "k_factor=4"]) == {"efSearch": 64, "k_factor": 4.0}
    with pytest.raises(ValueError, match="expects efSearch=N, nprobe=N or k_factor=X"):
        parse_search_params(["ef=64"])
    with pytest.raises(ValueError, match="must be positive"):
        parse_search_params(["nprobe=0"])


# ------------------------------------------------------------------------------------------------- the tuning
def test_held_out_queries_and_exact_truth():
    rest, held = held_out_queries(500, n_queries=1000, seed=3)
    assert len(held) == 50 and len(rest) == 450  # a tenth of the catalogue at most
    assert sorted(np.concatenate([rest, held]).tolist()) == list(range(500))
    x = clustered(500)
    truth = exact_top_k(x[held[:2]], x[rest], 5)
    np.testing.assert_array_equal(truth, np.argsort(-(x[held[:2]] @ x[rest].T), axis=1)[:, :5])
    assert neighbour_recall(truth, truth) == 1.0
    assert neighbour_recall(np.array([[3, 4]]), np.array([[3, 9]])) == 0.5


@pytest.mark.parametrize("factory, parameter", [("HNSW16", "efSearch"), ("IVF64,Flat", "nprobe"),
                                                ("IVF32,PQ8x4fs,RFlat", "nprobe")])
def test_tuning_finds_the_smallest_value_reaching_the_target(factory, parameter):
    import faiss

    everything = clustered(6300)
    x, queries = everything[:6000], everything[6000:]  # queries: fresh points of the same distribution
    index, record = build_tuned_index(x, IndexOptions(factory, target_recall=0.9))
    params, tuning = record["search_params"], record["tuning"]
    assert tuning["parameter"] == parameter and tuning["reached"] and tuning["recall"] >= 0.9
    curve = tuning["curve"]
    assert {n: v for n, v in curve[-1].items() if n != "recall"} == params
    # Each parameter is the smallest that works: any step that differs from the result only by a smaller value of
    # one parameter fell short (for IVF-PQ: nprobe first, at a generous k_factor, then k_factor at that nprobe).
    for name in params:
        smaller = [step for step in curve if step[name] < params[name]
                   and all(step[o] == params[o] for o in params if o != name)]
        assert all(step["recall"] < 0.9 for step in smaller), (name, curve)
    if parameter == "nprobe" and "k_factor" in params:
        assert any(step["k_factor"] < params["k_factor"] for step in curve)  # k_factor was lowered, not kept
    # The tuned value keeps its promise on queries it was not tuned on.
    _, truth = faiss.knn(queries, x, 10, metric=faiss.METRIC_INNER_PRODUCT)
    p, _keep = index_factory.search_parameters(index, params)
    _, found = index.search(queries, 10, params=p)
    assert neighbour_recall(found, truth) >= 0.85


def test_exact_index_has_nothing_to_tune():
    index, record = build_tuned_index(clustered(300), IndexOptions("IDMap,Flat"))
    assert record["search_params"] == {} and record["tuning"] is None


def test_unreachable_target_keeps_the_largest_value_and_says_so():
    x = clustered(2000, clusters=2000, spread=1.0)  # no structure: 2-byte PQ codes cannot rank it exactly
    index = make_faiss_index(x[:1800], "IVF16,PQ4x4")
    params, tuning = tune_search_parameter(index, x[1800:], exact_top_k(x[1800:], x[:1800], 10), 0.999)
    assert tuning["reached"] is False and params == {"nprobe": 16} and tuning["curve"][-1]["nprobe"] == 16


# ------------------------------------------------------------------------------------------------- end to end
def test_auto_build_picks_exact_for_a_small_catalogue(model, catalogue, tmp_path):
    info = build_index(model, items_from_folder(catalogue), tmp_path / "small", progress=False)
    assert info["factory_requested"] == "auto" and info["factory"] == "IDMap,Flat"
    assert info["search_params"] == {} and info["tuning"] is None
    assert CatalogueIndex(tmp_path / "small").search_params == {}


def test_auto_build_picks_hnsw_for_a_large_catalogue_and_serves_its_tuned_ef_search(checkpoint, catalogue, tmp_path,
                                                                                      monkeypatch, capsys):
    # "Large" is relative to the exact-search threshold: lowered so that 180 images of 32-d count as large (and an
    # HNSW search over 180 vectors reads as much as a scan of them, which auto would otherwise not accept).
    monkeypatch.setattr(index_factory, "EXACT_MAX_SCALARS", 1000)
    monkeypatch.setattr(index_tuning, "ANN_MAX_RELATIVE_COST", math.inf)
    out = tmp_path / "large"
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images",
                           str(catalogue), "--out", str(out), "--target-recall", "0.99"]) == 0
    err = capsys.readouterr().err
    assert "index type HNSW32" in err and "efSearch=" in err
    info = read_index_info(out)
    assert info["factory"] == "HNSW32" and info["factory_requested"] == "auto"
    assert info["target_recall"] == 0.99 and info["memory_budget"] == 4 * 2**30
    assert info["tuning"]["reached"] and info["tuning"]["recall"] >= 0.99
    assert info["search_params"] == {"efSearch": info["tuning"]["curve"][-1]["efSearch"]}
    opened = CatalogueIndex(out)
    assert opened.search_params == info["search_params"]
    vectors = stored_vectors(out)
    _, ids = opened.search(vectors[:30], 5)
    np.testing.assert_array_equal(ids[:, 0], np.arange(30))

    # The recorded efSearch is the one used: FAISS sees it in the parameters of every search.
    seen = []
    real = index_factory.search_parameters

    def spy(index, values, selector=None):
        seen.append(dict(values))
        return real(index, values, selector)

    monkeypatch.setattr(index_searching, "search_parameters", spy)  # where CatalogueIndex.search takes it
    opened.search(vectors[:1], 5)
    _, ids = opened.search(vectors[:1], 70, category="shoes", search_params={"efSearch": 300})
    assert seen == [info["search_params"], {"efSearch": 300}]
    # The HNSW graph sits in an IDMap (it was filled in two steps around the tuning): the category's selector
    # still filters on the items' positions.
    found = ids[0][ids[0] >= 0]
    assert len(found) == 60 and all(opened.items[i]["categories"] == ["shoes"] for i in found)


def test_memory_budget_sends_auto_to_ivf_pq_and_add_decides_again(model, catalogue, tmp_path, monkeypatch):
    monkeypatch.setattr(index_factory, "EXACT_MAX_SCALARS", 1000)
    monkeypatch.setattr(index_tuning, "ANN_MAX_RELATIVE_COST", math.inf)
    items = items_from_folder(catalogue)
    out = tmp_path / "pq"
    options = IndexOptions(memory_budget=40_000)  # HNSW over 180 x 32-d needs ~47 kB
    info = build_index(model, items[:150], out, options, chunk_size=64, progress=False)
    assert info["factory"].startswith("IVF") and info["factory"].endswith("x4fs,RFlat")
    assert "nprobe" in info["search_params"]
    added = index_mod.add_to_index(model, items, out, chunk_size=64, progress=False)
    assert added["added"] == 30 and added["memory_budget"] == 40_000 and added["factory_requested"] == "auto"
    assert "nprobe" in added["search_params"]


def test_explicit_factory_is_tuned_and_hand_set_parameters_are_kept(model, catalogue, tmp_path):
    items = items_from_folder(catalogue)
    tuned = build_index(model, items, tmp_path / "ivf", "IVF4,Flat", chunk_size=64, progress=False)
    assert tuned["factory"] == "IVF4,Flat" and tuned["factory_requested"] == "IVF4,Flat"
    assert 1 <= tuned["search_params"]["nprobe"] <= 4 and tuned["tuning"]["parameter"] == "nprobe"
    given = build_index(model, items, tmp_path / "given", IndexOptions("IVF4,Flat", search_params={"nprobe": 3}),
                        chunk_size=64, progress=False)
    assert given["search_params"] == {"nprobe": 3} and given["tuning"] == {"given": True}
    again = index_mod.add_to_index(model, items, tmp_path / "given", progress=False)  # nothing new: unchanged
    assert json.loads((tmp_path / "given" / "index_info.json").read_text())["search_params"] == {"nprobe": 3}
    assert again["added"] == 0



# ------------------------------------------------------------------------------------------ tuning on queries
def test_tuning_on_query_vectors_keeps_its_promise_on_such_queries():
    """Queries away from the catalogue (composed queries are) need a larger efSearch than catalogue vectors; tuned
    on such queries, the index reaches the target on fresh ones of the same kind."""
    import faiss

    x = clustered(6000)
    rng = np.random.default_rng(5)
    offsets = rng.standard_normal((600, 32)).astype(np.float32)
    queries = x[rng.integers(0, len(x), 600)] + 0.25 * offsets  # between products, like "this, but red"
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    _, on_catalogue = build_tuned_index(x, IndexOptions("HNSW16", target_recall=0.97))
    index, on_queries = build_tuned_index(x, IndexOptions("HNSW16", target_recall=0.97, probes=queries[:300]))
    assert on_queries["tuning"]["method"].startswith("query vectors") and on_queries["tuning"]["queries"] == 300
    assert on_queries["search_params"]["efSearch"] >= on_catalogue["search_params"]["efSearch"]
    truth = exact_top_k(queries[300:], x, 10)
    p, _keep = index_factory.search_parameters(index, on_queries["search_params"])
    _, found = index.search(queries[300:], 10, params=p)
    assert neighbour_recall(found, truth) >= 0.95
    del faiss


def test_build_of_a_dataset_tunes_on_its_training_queries(checkpoint, synth_small, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(index_factory, "EXACT_MAX_SCALARS", 1000)
    monkeypatch.setattr(index_tuning, "ANN_MAX_RELATIVE_COST", math.inf)
    out = tmp_path / "fiq"
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--dataset", "fashioniq", "--root",
                           str(synth_small / "fashioniq"), "--splits", "val", "--out", str(out), "--no-progress"]) == 0
    tuning = read_index_info(out)["tuning"]
    assert tuning["method"].startswith("query vectors") and tuning["queries"] == 360  # 3 x 120 train triplets

    queries = tmp_path / "queries.jsonl"
    image = next((synth_small / "fashioniq" / "images").iterdir())
    queries.write_text(json.dumps({"image": str(image), "text": "is red"}) + "\n" + json.dumps({"text": "is blue"})
                       + "\n" + json.dumps({"image": image.name}) + "\n")
    monkeypatch.chdir(tmp_path)  # the relative image path is relative to the file, not to the working folder
    (tmp_path / image.name).write_bytes(image.read_bytes())
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--dataset", "fashioniq", "--root",
                           str(synth_small / "fashioniq"), "--splits", "val", "--out", str(tmp_path / "given"),
                           "--no-progress", "--tune-queries", str(queries)]) == 0
    assert read_index_info(tmp_path / "given")["tuning"]["queries"] == 3
    capsys.readouterr()
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{}\n")
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(synth_small / "shoes"),
                           "--out", str(tmp_path / "bad"), "--tune-queries", str(bad)]) == 2
    assert "bad.jsonl:1 has neither an image nor a text" in capsys.readouterr().err


def test_auto_stays_exact_when_the_tuned_index_would_not_save_work(monkeypatch, capsys):
    """Random directions have no neighbourhood structure: the tuned HNSW would read about as much as a scan."""
    monkeypatch.setattr(index_factory, "EXACT_MAX_SCALARS", 1000)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index, record = build_tuned_index(x, IndexOptions("auto", verbose=True))
    assert record["factory"] == "IDMap,Flat" and record["search_params"] == {}
    assert record["tuning"]["fallback_from"] == "HNSW32" and record["tuning"]["relative_cost"] >= 0.5
    assert "HNSW32 was built and tuned, but" in record["factory_reason"]
    assert "exact search instead" in capsys.readouterr().err
    assert index.ntotal == 4000
    # Structured vectors of the same size keep their HNSW index when its search is cheap enough.
    monkeypatch.setattr(index_tuning, "ANN_MAX_RELATIVE_COST", 100.0)
    _, kept = build_tuned_index(clustered(4000), IndexOptions("auto"))
    assert kept["factory"] == "HNSW32" and "fallback_from" not in kept["tuning"]
