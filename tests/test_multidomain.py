"""The multi-domain Grappa benchmark: its generator (data_prep.synth_domains), evaluation, report and small run."""

import hashlib
import json

import numpy as np
import pytest

from benchmarks.grappa import bench_multidomain, multidomain_select
from benchmarks.grappa.multidomain_diagnose import cluster_agreement, knn_same_domain
from benchmarks.grappa.multidomain_report import acceptance, summarise
from benchmarks.grappa.multidomain_select import per_query_ap, simulate
from benchmarks.grappa.multidomain_tasks import MultiDomainEval, centred, evaluate_model
from cti_ir.evaluate.ranks import retrieval_scores
from cti_ir.model.checkpoint import load_checkpoint
from data_prep import synth_domains

SMALL = ["--adapt-images", "12", "--queries", "6", "--gallery", "18", "--views", "2", "--quiet", "--workers", "1"]


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """Four domains: 12 adaptation images each (shoes: 6 products x 2 photos), 6 queries, 18 gallery images."""
    out = tmp_path_factory.mktemp("domains") / "d"
    assert synth_domains.main(["--out", str(out), *SMALL]) == 0
    return out


def _items(root):
    return [json.loads(line) for line in (root / "items.jsonl").read_text(encoding="utf-8").splitlines()]


def _digest(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.jpg"))}


def _expected_label(item):
    """What a match shares in the item's domain, from its attributes or scene."""
    a = item.get("attributes")
    if item["domain"] == "shoes":
        return item["item_id"]
    if item["domain"] == "tops":
        return f"{a['color']}/{a['pattern']}"
    if item["domain"] == "dresses":
        return f"{a['sleeve']}/{a['fit']}/{a['length']}"
    return item["scene"]["groups"][0]["kind"]


# ---------------------------------------------------------------------------------------------- generator
def test_domain_layout_labels_and_splits(domains):
    items = _items(domains)
    info = json.loads((domains / "domains_info.json").read_text(encoding="utf-8"))
    assert list(info["counts"]) == ["shoes", "tops", "dresses", "scenes"]  # fine to coarse
    assert info["images"] == len(list(domains.rglob("*.jpg"))) == 4 * 12 + 6 * 2 + 3 * (6 + 18)
    for item in items:
        assert all((domains / f).is_file() and f.startswith(f"{item['split']}/{item['domain']}/") for f in item["files"])
    adapt = [i for i in items if i["split"] == "adapt"]
    assert all("query_files" not in i and "gallery_files" not in i for i in adapt)
    assert {i["domain"]: sum(len(j["files"]) for j in adapt if j["domain"] == i["domain"]) for i in adapt} == \
        {"shoes": 12, "tops": 12, "dresses": 12, "scenes": 12}
    for item in (i for i in items if i["split"] == "eval"):
        assert item["label"] == _expected_label(item)
        assert item["query_files"] + item["gallery_files"] == item["files"]
        if item["domain"] == "shoes":  # one query photo, the others in the gallery
            assert len(item["query_files"]) == 1 and len(item["gallery_files"]) == 1
        if item["domain"] == "scenes":
            assert len(item["scene"]["groups"]) == 1  # one kind of object: the class is unambiguous
    data = MultiDomainEval.from_folder(domains)
    assert data.names == ["shoes", "tops", "dresses", "scenes"]
    assert [(len(d.query_files), len(d.gallery_files), len(d.adapt_files)) for d in data.domains] == \
        [(6, 6, 12), (6, 18, 12), (6, 18, 12), (6, 18, 12)]


def test_generator_is_deterministic_and_seeded(domains, tmp_path, capsys):
    again = tmp_path / "again"
    assert synth_domains.main(["--out", str(again), *SMALL]) == 0
    assert (again / "items.jsonl").read_bytes() == (domains / "items.jsonl").read_bytes()
    assert _digest(again) == _digest(domains)
    assert synth_domains.main(["--out", str(again), *SMALL]) == 0
    assert "nothing to do" in capsys.readouterr().out  # a complete output is not rewritten
    other = tmp_path / "other"
    assert synth_domains.main(["--out", str(other), "--seed", "1", *SMALL]) == 0
    assert _digest(other).keys() == _digest(domains).keys() and _digest(other) != _digest(domains)


def test_each_domain_has_its_own_random_stream():
    alone = synth_domains.plan_domains(0, 12, 6, 18, 2, ["dresses"])
    together = synth_domains.plan_domains(0, 12, 6, 18, 2)
    assert alone == [i for i in together if i["domain"] == "dresses"]
    bigger = synth_domains.plan_domains(0, 24, 6, 18, 2)  # more adaptation images: the evaluation is unchanged
    assert [i for i in bigger if i["split"] == "eval"] == [i for i in together if i["split"] == "eval"]


def test_generator_refuses_bad_sizes(tmp_path, capsys):
    assert synth_domains.main(["--out", str(tmp_path), "--views", "1"]) == 2
    assert "error: --views must be >= 2" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- evaluation, report
def test_centring_subtracts_the_mean_and_renormalises():
    x = np.array([[1.0, 1.0], [1.0, -1.0]]) / np.sqrt(2)
    out = centred(x, x.mean(axis=0))
    assert np.allclose(out, [[0.0, 1.0], [0.0, -1.0]])


def test_per_query_ap_averages_to_the_evaluators_map_at_r():
    rng = np.random.default_rng(0)
    similarity = rng.normal(size=(20, 50))
    q, g = rng.integers(0, 6, 20).tolist(), rng.integers(0, 5, 50).tolist()  # class 5: queries without a match
    ap = per_query_ap(similarity, q, g)
    scores = retrieval_scores(similarity, q, g)
    assert np.isnan(ap).sum() == scores["skipped"]
    assert np.nanmean(ap) == pytest.approx(scores["map_at_r"])


def test_a_few_labelled_queries_pick_the_better_space():
    rng = np.random.default_rng(0)
    aps = {"off": {"a": rng.uniform(0, 50, 40).tolist()}, "k8": {"a": rng.uniform(40, 90, 40).tolist()},
           "fusion": {"a": rng.uniform(0, 60, 40).tolist()}}
    out = simulate(aps, n=5, draws=50, seed=0)["a"]
    assert out["chosen"] == {"k8": 1.0} and out["pick"] == pytest.approx(out["oracle"])
    assert out["zero_shot"] < out["pick"]


def test_diagnostics_see_domains_apart_and_clusters_that_follow_a_task():
    domains = np.array(["a"] * 4 + ["b"] * 4)
    features = np.array([[1, 0.1 * i, 0] for i in range(4)] + [[0, 0.1 * i, 1] for i in range(4)], dtype=float)
    assert knn_same_domain(features, domains, k=3) == {"a": 1.0, "b": 1.0}
    labels = np.array(["x", "x", "y", "y", "u", "v", "u", "v"])
    clusters = np.array([0, 0, 1, 1, 2, 3, 3, 2])       # domain a: clusters follow its labels; b: clusters cut them
    out = cluster_agreement(clusters, domains, labels)
    assert out["domain_purity"] == 1.0
    assert out["domains"]["a"] == {"agreement": 1.0, "chance": round(4 / 12, 4)}
    assert out["domains"]["b"]["agreement"] == 0.0


def _run(zero, rows):
    res = lambda m: {"eval": {"domains": {d: {"map_at_r": v, "r_at_1": v} for d, v in zip("ab", m)},
                              "mean_map_at_r": float(np.mean(m)), "mean_r_at_1": float(np.mean(m))},
                     "seconds": 1.0, "added_parameters": 1}
    out = {"zero-shot": res(zero), **{name: res(m) for name, m in rows.items()}}
    out["oracle"]["chosen"] = {"a": "k8", "b": "k32"}
    return {"rows": out}


def test_acceptance_needs_every_domain_up_and_half_the_gap():
    runs = [_run((10, 20), {"fusion": (12, 21), "other": (20, 19), "oracle": (14, 24)})]
    s = summarise(runs)
    assert s["fusion"]["change"]["a"]["mean"] == pytest.approx(2.0)
    assert s["oracle"]["chosen"] == {"a": {"k8": 1}, "b": {"k32": 1}}
    fusion, other = acceptance(s, "fusion"), acceptance(s, "other")
    assert fusion["share_of_gap_closed"] == pytest.approx(3 / 8) and not fusion["done"]
    assert other["closes_half_the_gap"] and not other["beats_zero_shot_on_every_domain"] and not other["done"]
    s = summarise([_run((10, 20), {"fusion": (13, 22), "oracle": (14, 24)})])
    assert acceptance(s, "fusion")["done"]


def test_the_change_table_gives_each_domains_spread_over_runs():
    from benchmarks.grappa.multidomain_report import markdown

    runs = [_run((10, 20), {"fusion": (12, 21), "oracle": (14, 24)}),
            _run((10, 20), {"fusion": (8, 21), "oracle": (14, 24)})]
    summary = summarise(runs)
    report = {"summary": summary, "acceptance": {"fusion": acceptance(summary, "fusion")}, "runs": runs}
    fusion_row = [line for line in markdown(report).splitlines() if line.startswith("| **fusion")][1]
    # domain a: +2 and -2 against zero-shot: mean 0, sd 2, one run of two above it
    assert "| +0.00 ± 2.00 (1/2) | +1.00 ± 0.00 (2/2) |" in fusion_row


# ------------------------------------------------------------------------------------------ small benchmark
def test_small_benchmark_runs_every_row(tiny_checkpoint, tmp_path):
    work = tmp_path / "bench"
    argv = ["--work", str(work), "--checkpoint", str(tiny_checkpoint), "--generators", "0", "--seeds", "0",
            "--adapt-images", "12", "--queries", "6", "--gallery", "18", "--views", "2", "--granularities", "4,8",
            "--set-epochs", "1", "--fusion-epochs", "1", "--threads", "2",
            "--adapt-args", "--batch-size 16 --save-every 1 --warmup-steps 2 --kmeans-iterations 5"]
    assert bench_multidomain.main(argv) == 0
    report = json.loads((work / "results" / "checkpoint" / "default.json").read_text(encoding="utf-8"))
    s = report["summary"]
    assert list(s) == ["zero-shot", "centred-pool", "centred-domain", "k4", "k8", "fusion", "fusion-noprop",
                       "full-finetune", "oracle"]
    rows = report["runs"][0]["rows"]
    for d in ("shoes", "tops", "dresses", "scenes"):  # the oracle is the best single set of each domain
        assert rows["oracle"]["eval"]["domains"][d]["map_at_r"] == max(rows[k]["eval"]["domains"][d]["map_at_r"]
                                                                       for k in ("k4", "k8"))
        att = s["fusion"]["attention"][d]
        assert att["sets"] == ["k4", "k8"] and sum(att["mean"]) == pytest.approx(1.0, abs=1e-3)
    diagnostics = report["runs"][0]["diagnostics"]
    assert set(diagnostics["knn_same_domain"]) == {"shoes", "tops", "dresses", "scenes"}
    assert list(diagnostics["clusters"]) == ["k4", "k8"]
    assert set(report["acceptance"]["fusion"]) >= {"beats_zero_shot_on_every_domain", "share_of_gap_closed", "done"}
    data = MultiDomainEval.from_folder(work / "data" / "domains-0")
    adapted = load_checkpoint(work / "runs" / "checkpoint" / "default" / "domains-0-seed-0" / "fusion")
    assert evaluate_model(adapted, data, "off") == rows["zero-shot"]["eval"]  # "off" is the starting model exactly
    assert (work / "results" / "checkpoint" / "default.md").read_text(encoding="utf-8").startswith("| mAP@R")
    assert bench_multidomain.main(argv) == 0  # resumed: every result is read back, nothing retrained
    assert multidomain_select.main(["--work", str(work), "--start", "checkpoint", "--labelled", "2", "--draws", "5"]) == 0
    picks = json.loads((work / "results" / "checkpoint" / "default-select.json").read_text(encoding="utf-8"))
    assert set(picks["runs"]["domains-0-seed-0"]["2"]) == {"shoes", "tops", "dresses", "scenes"}
