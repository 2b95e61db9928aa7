"""Recall@K: the arithmetic, the protocol plumbing, and the CLI on the generated catalogue."""

import json

import pytest
import torch
import torch.nn.functional as F

import cti_ir.evaluate.cli as ev_cli
import cti_ir.evaluate.evaluator as ev
from cti_ir.model.composers import ComposeOutput
from cti_ir.data import EvalSplit, Query


def test_recall_at_k_counts_ranks_below_k():
    ranks = torch.tensor([0, 1, 9, 10, 49, 50])
    r = ev.recall_at_k(ranks, (1, 10, 50))
    assert r == {"R@1": pytest.approx(100 / 6), "R@10": pytest.approx(300 / 6), "R@50": pytest.approx(500 / 6)}


def test_ties_count_against_the_target():
    gallery = torch.eye(4)
    query = torch.zeros(1, 4)  # scores every item 0: the target must not win a tie for free
    assert ev.target_ranks(query, gallery, torch.tensor([2])).item() == 3
    assert ev.target_ranks(gallery[1:2], gallery, torch.tensor([1])).item() == 0


class OneHotModel(torch.nn.Module):
    """A stub model: image ids are one-hot vectors; a text names the id it wants; the composer follows the text.

    It makes the expected recall of a protocol computable by hand.
    """

    def __init__(self, ids, follow="text"):
        super().__init__()
        self.pos = {i: n for n, i in enumerate(ids)}
        self.embed_dim = len(ids)
        self.follow = follow
        self.device = torch.device("cpu")
        self.preprocess = None

    def encode_texts(self, texts):
        return torch.stack([F.one_hot(torch.tensor(self.pos[t]), self.embed_dim).float() for t in texts])

    def compose(self, img, txt, weights=None):
        q = txt if self.follow == "text" else img
        n = q.shape[0]
        return ComposeOutput(q, torch.zeros(n), torch.ones(n))


def test_evaluate_split_maps_queries_to_their_targets(monkeypatch):
    ids = [f"g{i}" for i in range(20)]
    model = OneHotModel(ids + ["outside"])

    def fake_encode(model_, wanted, path_of, *a, **k):
        return torch.stack([F.one_hot(torch.tensor(model.pos[i]), model.embed_dim).float() for i in wanted])

    monkeypatch.setattr(ev, "encode_images", fake_encode)
    # Queries whose reference is outside the gallery must still be encoded and work.
    queries = [Query(reference="outside" if i == 0 else f"g{i}", text=f"g{(i + 3) % 20}", target=f"g{(i + 3) % 20}")
               for i in range(10)]
    split = EvalSplit(name="dress", queries=queries, gallery=ids)
    oracle = ev.evaluate_split(model, split, path_of=None, ks=(1, 10))
    assert oracle["R@1"] == 100.0 and oracle["queries"] == 10 and oracle["gallery"] == 20
    assert oracle["image_weight"] == {"mean": 0.0, "std": 0.0, "min": 0.0, "max": 0.0}  # the stub composes text only
    model.follow = "image"  # the reference alone never is the target here
    assert ev.evaluate_split(model, split, path_of=None, ks=(1,))["R@1"] == 0.0


def test_weight_stats_and_table_line():
    stats = ev.weight_stats(torch.tensor([0.2, 0.4, 0.6, 0.8]))
    assert stats["mean"] == pytest.approx(0.5) and stats["min"] == pytest.approx(0.2)
    assert stats["max"] == pytest.approx(0.8) and stats["std"] == pytest.approx(0.2236, abs=1e-4)
    result = ev.summarize("shoes", {"shoes": {"R@1": 10, "R@10": 40, "R@50": 70, "queries": 4, "gallery": 9,
                                              "image_weight": stats}})
    assert "shoes mean 0.50, std 0.22, range 0.20-0.80" in ev_cli.format_table(result)


def test_summary_follows_the_papers():
    per = {c: {"R@10": r10, "R@50": r50} for c, r10, r50 in (("dress", 10, 50), ("shirt", 20, 60), ("toptee", 30, 70))}
    s = ev.summarize("fashioniq", per)
    assert s["average"] == {"R@10": 20, "R@50": 60} and s["score"] == 40
    s = ev.summarize("shoes", {"shoes": {"R@1": 10, "R@10": 40, "R@50": 70}})
    assert s["score"] == 40


def test_cli_on_generated_catalogue(synth_small, tiny_checkpoint, capsys):
    fiq = synth_small / "fashioniq"
    assert ev_cli.main(["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(fiq), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for cat in ("dress", "shirt", "toptee"):
        triplets = json.loads((fiq / "captions" / f"cap.{cat}.val.json").read_text())
        pool = json.loads((fiq / "image_splits" / f"split.{cat}.val.json").read_text())
        assert result["splits"][cat]["queries"] == len(triplets)
        assert result["splits"][cat]["gallery"] == len(set(pool))
        assert 0 <= result["splits"][cat]["R@10"] <= result["splits"][cat]["R@50"] <= 100
    assert result["reduced_protocol"] == {"reduced": False, "reduced_splits": [], "categories_not_evaluated": []}
    assert ev_cli.protocol_line(result) == ("protocol: full standard protocol on val (every query and gallery image "
                                        "the annotation files define)")
    assert ev_cli.main(["--checkpoint", str(tiny_checkpoint), "--dataset", "shoes", "--root",
                    str(synth_small / "shoes")]) == 0
    table = capsys.readouterr().out
    assert "| shoes |" in table and "R@1" in table


def test_cli_reports_a_missing_image_clearly(synth_small, tiny_checkpoint, tmp_path, capsys):
    import shutil

    root = tmp_path / "fiq"
    shutil.copytree(synth_small / "fashioniq", root)
    victim = json.loads((root / "image_splits" / "split.dress.val.json").read_text())[0]
    (root / "images" / f"{victim}.png").unlink()
    assert ev_cli.main(["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(root)]) == 2
    assert victim in capsys.readouterr().err
    assert ev_cli.main(["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(root),
                    "--skip-missing", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    pool = json.loads((root / "image_splits" / "split.dress.val.json").read_text())
    assert result["splits"]["dress"]["gallery"] == len(set(pool)) - 1
    # the reduced protocol is reported: kept / published, in the JSON and in the table
    trips = json.loads((root / "captions" / "cap.dress.val.json").read_text())
    kept = sum(victim not in (t["candidate"], t["target"]) for t in trips)
    dress = result["splits"]["dress"]
    assert (dress["queries"], dress["queries_published"]) == (kept, len(trips))
    assert (dress["gallery"], dress["gallery_published"]) == (len(set(pool)) - 1, len(set(pool)))
    assert result["reduced_protocol"] == {"reduced": True, "reduced_splits": ["dress"],
                                          "categories_not_evaluated": []}
    shirt = result["splits"]["shirt"]
    assert shirt["queries"] == shirt["queries_published"] and shirt["gallery"] == shirt["gallery_published"]
    table = ev_cli.format_table(result)  # what the CLI prints without --json
    assert f"| {_count(kept, len(trips))} | {len(set(pool)) - 1} / {len(set(pool))} |" in table
    assert "REDUCED PROTOCOL, not comparable with published numbers: dress " in table
    assert f"{len(set(pool)) - 1} of {len(set(pool))} gallery images" in table


def _count(kept: int, published: int) -> str:
    return str(kept) if kept == published else f"{kept} / {published}"


def test_a_category_subset_is_labelled_reduced(synth_small, tiny_checkpoint, capsys):
    argv = ["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(synth_small / "fashioniq")]
    assert ev_cli.main([*argv, "--categories", "dress", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reduced_protocol"] == {"reduced": True, "reduced_splits": [],
                                          "categories_not_evaluated": ["shirt", "toptee"]}
    assert "categories not evaluated: shirt, toptee" in ev_cli.format_table(result)


def test_stage3_with_skip_missing_evaluates_on_the_reduced_protocol(fake_fiq, tmp_path):
    """Dead Fashion-IQ links are in val too: the epoch-end evaluation must skip them, not end the run."""
    from training import stage3

    victim = json.loads((fake_fiq / "captions" / "cap.dress.val.json").read_text())[1]["target"]
    for p in (fake_fiq / "images").glob(f"{victim}.*"):
        p.unlink()
    out = tmp_path / "run"
    assert stage3.main(["--data", f"fashioniq={fake_fiq}", "--model", "cti-tiny", "--out", str(out), "--epochs", "1",
                        "--batch-size", "4", "--skip-missing", "--no-progress", "--threads", "1"]) == 0
    details = json.loads((out / "best" / "metrics.json").read_text())["details"]["fashioniq"]
    assert details["reduced_protocol"]["reduced_splits"] == ["dress"]
    assert (details["splits"]["dress"]["queries"], details["splits"]["dress"]["queries_published"]) == (3, 4)


# --- caption kinds and the oracle balance ---------------------------------------------------------------------

def _plane_case(best_weights):
    """Queries whose target lies exactly where a plain weighted sum of image e1 and text e2 points at its known
    best weight; every other grid direction is a gallery distractor, so only that weight ranks the target first."""
    from cti_ir.evaluate.weight_sweep import weight_grid

    grid = weight_grid(21)
    directions = F.normalize(torch.stack([grid, 1 - grid], dim=1).float(), dim=-1)
    gallery = torch.cat([directions, torch.zeros(21, 1)], dim=1)  # 21 items on the e1-e2 quarter circle
    n = len(best_weights)
    image = torch.tensor([[1.0, 0.0, 0.0]]).repeat(n, 1)
    text = torch.tensor([[0.0, 1.0, 0.0]]).repeat(n, 1)
    targets = torch.tensor([int(round(w * 20)) for w in best_weights])
    return grid, image, text, gallery, targets


def test_oracle_sweep_finds_the_known_best_weight():
    from cti_ir.evaluate.weight_sweep import agreement, oracle_balance, sweep_ranks

    best_weights = [0.0, 0.3, 0.75, 1.0]
    grid, image, text, gallery, targets = _plane_case(best_weights)
    ranks = sweep_ranks(image, text, gallery, targets, grid)
    best, mask, centre = oracle_balance(ranks, grid)
    assert best.tolist() == [0, 0, 0, 0]
    assert mask.sum(dim=1).tolist() == [1, 1, 1, 1]  # one best weight each
    assert centre.tolist() == pytest.approx(best_weights)
    assert (ranks[:, 10] > 0).all()  # the fixed 50/50 mix ranks a distractor above every target here
    exact = agreement(torch.tensor(best_weights), mask, centre, grid)
    assert exact == {"hit_rate": 1.0, "mae": pytest.approx(0.0, abs=1e-6), "pearson": pytest.approx(1.0)}
    off = agreement(torch.tensor([0.5, 0.5, 0.5, 0.5]), mask, centre, grid)
    assert off["hit_rate"] == 0.0 and off["pearson"] is None
    assert off["mae"] == pytest.approx((0.5 + 0.2 + 0.25 + 0.5) / 4)


def test_sweep_summary_reports_the_ceiling_and_the_best_fixed_weight():
    from cti_ir.evaluate.weight_sweep import summarize_sweep, sweep_ranks

    grid, image, text, gallery, targets = _plane_case([0.3, 0.3, 0.3, 0.9])
    ranks = sweep_ranks(image, text, gallery, targets, grid)
    s = summarize_sweep(ranks, grid, (1,), torch.full((4,), 0.3), ranks[:, 6])
    assert s["oracle"]["R@1"] == 100.0
    assert s["best_fixed"]["image_weight"] == pytest.approx(0.3) and s["best_fixed"]["R@1"] == 75.0
    assert s["composer"]["R@1"] == 75.0 and s["agreement"]["hit_rate"] == 0.75


def test_by_kind_counts_match_the_annotation(synth_small, tiny_checkpoint, capsys):
    fiq = synth_small / "fashioniq"
    assert ev_cli.main(["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(fiq), "--by-kind",
                    "--weight-sweep", "5", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in (fiq / "caption_provenance.jsonl").read_text().splitlines()]
    expected = {}
    for r in rows:
        if r["split"] == "val":
            expected[r["kind"]] = expected.get(r["kind"], 0) + 1
    assert {k: v["queries"] for k, v in result["by_kind"].items()} == expected
    assert sum(expected.values()) == sum(s["queries"] for s in result["splits"].values())
    sweep = result["weight_sweep"]
    assert sweep["grid"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert set(sweep["by_kind"]) == set(expected)
    for section in [sweep["all"], *sweep["by_kind"].values()]:
        # With hindsight per query, the oracle is at least as good as any one weight for all queries.
        assert section["oracle"]["score"] >= section["best_fixed"]["score"]
        assert max(f["score"] for f in section["fixed"].values()) == section["best_fixed"]["score"]
    # The pooled composer recall is the queries' own recall: it matches the per-category table.
    n = sum(s["queries"] for s in result["splits"].values())
    pooled = sum(s["R@10"] * s["queries"] for s in result["splits"].values()) / n
    assert sweep["all"]["composer"]["R@10"] == pytest.approx(pooled)
    table = ev_cli.format_table(result)
    assert "per caption kind" in table and "| vague |" in table and "weight sweep" in table


def test_by_kind_on_a_folder_without_kinds_is_a_clear_error(fake_fiq, tiny_checkpoint, capsys):
    assert ev_cli.main(["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(fake_fiq),
                    "--by-kind"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "caption_provenance.jsonl" in err and "leave out --by-kind" in err
    assert len(err.strip().splitlines()) == 1
