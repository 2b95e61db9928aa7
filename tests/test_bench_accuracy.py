"""The accuracy benchmark's tabulation: paired seeds by seed number, the reference variant, finished runs only."""

from __future__ import annotations

import copy

import pytest


@pytest.fixture(scope="module")
def kind_result(synth_small, tiny_checkpoint):
    """One seed's per-kind result on both layouts, from the real evaluator on the generated catalogue."""
    import cti_ir
    from cti_ir.evaluate.evaluator import evaluate

    model = cti_ir.load(tiny_checkpoint)
    return {name: evaluate(model, name, synth_small / name, progress=False, by_kind=True, weight_sweep=5)
            for name in ("fashioniq", "shoes")}


def shifted(result: dict, points: float) -> dict:
    """A copy of a seed's result with every layout score and every per-kind score raised by ``points``."""
    out = copy.deepcopy(result)
    for layout in out.values():
        layout["score"] += points
        for kind in layout["by_kind"].values():
            kind["score"] += points
    return out


def test_paired_seeds_match_by_seed_number_and_name_the_reference(kind_result):
    from benchmarks.accuracy.accuracy_kinds import format_kind_tables, summarize_kinds

    kinds = {"plain-balance": [shifted(kind_result, 1.0), shifted(kind_result, 2.0), shifted(kind_result, 3.0)],
             "combiner": [shifted(kind_result, 0.5), shifted(kind_result, 5.0)]}
    summary = summarize_kinds(kinds, reference="plain-balance",
                              seeds={"plain-balance": [0, 1, 2], "combiner": [2, 0]})
    paired = summary["paired"]["combiner"]
    # seed 0: 1.0 - 5.0; seed 2: 3.0 - 0.5 (seed 1 has no combiner run and is left out)
    assert paired["seeds"] == [0, 2]
    assert paired["overall"] == pytest.approx([-4.0, 2.5])
    assert paired["ahead"] == 1 and paired["of"] == 2
    for kind in paired["kinds"].values():
        assert kind["mean"] == pytest.approx(-0.75) and kind["ahead"] == 1
    text = format_kind_tables(summary)
    assert "plain-balance − combiner: -4.00 (seed 0), +2.50 (seed 2) (ahead on 1 of 2)" in text
    assert "oracle balance (plain-balance's features)" in text
    assert "| combiner (2 seeds) |" in text and "| plain-balance (3 seeds) |" in text


def test_finished_only_without_finished_runs_is_a_clear_error(tmp_path, capsys):
    from benchmarks.accuracy import bench_accuracy

    code = bench_accuracy.main(["--work", str(tmp_path), "--data", str(tmp_path / "data"), "--finished-only",
                                "--variants", "full", "combiner", "--seeds", "0", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no finished stage-3 run of full, combiner with seeds 0 1")
    assert not (tmp_path / "runs").exists() and not (tmp_path / "accuracy.md").exists()


def test_run_finished_needs_the_last_and_best_checkpoints(tmp_path):
    from benchmarks.accuracy.bench_accuracy import run_finished

    run = tmp_path / "s3_full_seed0"
    (run / "best").mkdir(parents=True)
    (run / "best" / "metrics.json").write_text("{}")
    assert not run_finished(run)  # killed before its end: best/ exists, last/ does not yet
    (run / "last").mkdir()
    (run / "last" / "cti_config.json").write_text("{}")
    assert run_finished(run)
