"""What a new user gets wrong on the command line is refused in one sentence of ours, with exit code 2, before any
data is read or any model is loaded: numeric flags out of range, contradicting flags, an unknown model, an index
factory FAISS cannot build, --resume with nothing to resume; and what the commands print is short and in flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import cti_ir.evaluate.cli as ev_cli
import cti_ir.index.cli as index_cli
import cti_ir.model.checkpoint
import training.adapt.trainer as adapt
import training.common
import training.fit_embedding_map.trainer as fit_map
from cti_ir.flags import AT_LEAST_ONE, SHARE_BELOW_ONE, Bounds, show_number, unchecked_numeric_flags
from cti_ir.model import export
from cti_ir.model.backbone import local_config_names, unknown_model_message
from tests.conftest import write_image
from training import stage1, stage2, stage3
from training.common import LOOP_BOUNDS


def one_error(capsys) -> str:
    """The single "error: ..." line a refused command printed (no traceback), without its prefix."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err[len("error: "):].rstrip("\n")


@pytest.fixture
def nothing_loads(monkeypatch):
    """Fail the test if a model is loaded or built: every refusal here must come before that."""

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the flags were checked")

    for module in (cti_ir.model.checkpoint, training.common, adapt, fit_map):
        monkeypatch.setattr(module, "load_checkpoint", refuse)
    monkeypatch.setattr(training.common, "starting_model", refuse)


@pytest.fixture
def shop(tmp_path) -> Path:
    for i in range(6):
        write_image(tmp_path / "shop" / "dresses" / f"d{i}.png", (40 * i, 10, 10))
    return tmp_path / "shop"


# ------------------------------------------------------------------------------------------ cti_ir.index build
@pytest.mark.parametrize("flags, message", [
    (["--factory", "NotAnIndex99"], "--factory 'NotAnIndex99' is not an index FAISS can build for this model's 32-d "
                                    "vectors (FAISS: could not parse index string NotAnIndex99); use 'auto', or a "
                                    "factory string such as 'IDMap,Flat', 'HNSW32' or 'IVF256,Flat'"),
    (["--factory", "PQ5"], "(FAISS: '!(d % M == 0)' failed"),  # FAISS's own reason: 32 is not a multiple of 5
    (["--factory", "IVF1000000000,Flat"], "factory 'IVF1000000000,Flat' has 1000000000 inverted lists and needs at "
                                          "least 39000000000 vectors to train; the catalogue has 6."),
    (["--reject-fraction", "0.1", "--reject-threshold", "0.5"], "give --reject-fraction or --reject-threshold, not "
                                                                "both"),
    (["--reject-fraction", "0.1"], "rejecting uncertain images needs an ensemble of at least two --gallery-model "
                                   "members"),
    (["--reject-fraction", "1"], "--reject-fraction must be at least 0 and below 1, got 1"),
    (["--target-recall", "1.5"], "--target-recall must be above 0 and at most 1, got 1.5"),
    (["--splits", "val"], "--splits belongs to --dataset"),
    (["--memory-budget", "lots"], "memory budget 'lots' is not a size"),
    (["--search-param", "efSearch=0"], "--search-param efSearch must be positive"),
    (["--workers", "-1"], "--workers must be at least 0, got -1"),
])
def test_index_build_refuses_bad_flags_before_loading_the_model(tiny_checkpoint, shop, tmp_path, capsys,
                                                                nothing_loads, flags, message):
    out = tmp_path / "index"
    assert index_cli.main(["build", "--checkpoint", str(tiny_checkpoint), "--images", str(shop), "--out", str(out),
                           "--no-progress", *flags]) == 2
    assert message in one_error(capsys)
    assert not out.exists()  # nothing was embedded: not even the folder was made


def test_index_tuning_vectors_of_another_dimension_are_refused_before_loading(tiny_checkpoint, shop, tmp_path,
                                                                             capsys, nothing_loads):
    vectors = tmp_path / "queries.npy"
    np.save(vectors, np.ones((4, 7), dtype=np.float32))
    assert index_cli.main(["build", "--checkpoint", str(tiny_checkpoint), "--images", str(shop), "--out",
                           str(tmp_path / "index"), "--tune-queries", str(vectors)]) == 2
    assert one_error(capsys) == f"the tuning query vectors of {vectors} have 7 dimensions, the model 32"


def test_index_metadata_with_a_dataset_is_refused(tiny_checkpoint, fake_fiq, tmp_path, capsys, nothing_loads):
    meta = tmp_path / "meta.jsonl"
    meta.write_text("")
    assert index_cli.main(["build", "--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root",
                           str(fake_fiq), "--metadata", str(meta), "--out", str(tmp_path / "index")]) == 2
    assert one_error(capsys).startswith("--metadata describes the images of an --images folder")


# ------------------------------------------------------------------------------------------------ the trainers
@pytest.mark.parametrize("main, argv, message", [
    (stage3.main, ["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
    (stage3.main, ["--epochs", "-1"], "--epochs must be at least 1, got -1"),
    (stage3.main, ["--accum-steps", "0"], "--accum-steps must be at least 1, got 0"),
    (stage3.main, ["--lr", "nan"], "--lr must be a finite number, got nan"),
    (stage3.main, ["--weight-forcing", "1.5"], "--weight-forcing must be between 0 and 1, got 1.5"),
    (stage3.main, ["--weight-temperature", "0"], "--weight-temperature must be above 0, got 0"),
    (stage3.main, ["--max-steps", "0"], "--max-steps must be at least 1, got 0"),
    (stage1.main, ["--batch-size", str(10 ** 400 * -1)], "--batch-size must be at least 1, got -1e+400"),
    (stage2.main, ["--attribute-vocab-size", "0"], "--attribute-vocab-size must be at least 1, got 0"),
    (fit_map.main, ["--val-fraction", "1"], "--val-fraction must be at least 0 and below 1, got 1"),
    (fit_map.main, ["--temperature", "-0.1"], "--temperature must be above 0, got -0.1"),
    (adapt.main, ["--set-lr", "0"], "--set-lr must be above 0, got 0"),
    (adapt.main, ["--batch-size", "0"], "--batch-size must be at least 1, got 0"),
])
def test_trainers_refuse_numbers_out_of_range_before_any_work(main, argv, message, tmp_path, tiny_checkpoint,
                                                               capsys, nothing_loads):
    assert main([*_required(main, tmp_path, tiny_checkpoint), *argv]) == 2
    assert one_error(capsys) == message
    assert not (tmp_path / "run").exists()


def _required(main, tmp_path: Path, checkpoint: Path) -> list[str]:
    """The required flags of each trainer, pointing at data that does not exist: a refusal of a flag proves that
    the flags are checked before the data is opened."""
    out = ["--out", str(tmp_path / "run")]
    return {
        stage1.main: ["--data", str(tmp_path / "no-data"), *out],
        stage2.main: ["--corpus", str(tmp_path / "no-corpus.jsonl"), *out],
        stage3.main: ["--data", f"shoes={tmp_path / 'no-shoes'}", *out],
        fit_map.main: ["--query", str(checkpoint), "--gallery", str(checkpoint), "--data",
                       f"shoes={tmp_path / 'no-shoes'}", *out],
        adapt.main: ["--checkpoint", str(checkpoint), "--images", str(tmp_path / "no-images"), *out],
    }[main]


def test_every_numeric_flag_of_every_cli_has_a_checked_range():
    for parser, bounds in ((stage1.build_parser(), LOOP_BOUNDS),
                           (stage2.build_parser(), {**LOOP_BOUNDS, **stage2.STAGE2_BOUNDS}),
                           (stage3.build_parser(), {**LOOP_BOUNDS, **stage3.STAGE3_BOUNDS}),
                           (fit_map.build_parser(), {**LOOP_BOUNDS, **fit_map.MAP_FIT_BOUNDS}),
                           (adapt.build_parser(), adapt.ADAPT_BOUNDS),
                           (index_cli.build_parser(), index_cli.INDEX_BOUNDS),
                           (ev_cli.build_parser(), ev_cli.EVALUATE_BOUNDS)):
        assert unchecked_numeric_flags(parser, bounds) == [], parser.prog


def test_bounds_read_as_words_and_huge_numbers_stay_short():
    assert AT_LEAST_ONE.describe() == "at least 1" and SHARE_BELOW_ONE.describe() == "at least 0 and below 1"
    assert Bounds(0, 1, low_open=True).describe() == "above 0 and at most 1"
    assert not AT_LEAST_ONE.allows(0) and SHARE_BELOW_ONE.allows(0) and not SHARE_BELOW_ONE.allows(1)
    assert show_number(10 ** 400) == "1e+400" and show_number(1e308) == "1e+308" and show_number(-3) == "-3"


def test_an_unknown_model_is_one_sentence_the_same_in_training_and_export(tmp_path, capsys, nothing_loads):
    sentence = unknown_model_message("no-such-model")
    assert sentence.startswith("no-such-model is not an open_clip model name; use one of our configs (")
    assert stage1.main([*_required(stage1.main, tmp_path, tmp_path), "--model", "no-such-model"]) == 2
    assert one_error(capsys) == sentence
    assert export.main(["--model", "no-such-model", "--pretrained", "x.safetensors", "--out",
                        str(tmp_path / "export")]) == 2
    assert one_error(capsys) == sentence
    assert "(did you mean cti-small" in unknown_model_message("cti-smal")


def test_stage_help_lists_every_registered_model_config():
    names = local_config_names()
    assert {"cti-tiny", "cti-small", "cti-resnet", "cti-convnext", "cti-base"} <= set(names)
    for parser in (stage1.build_parser(), stage2.build_parser(), stage3.build_parser(), export.build_parser()):
        text = " ".join(parser.format_help().split())  # argparse wraps lines (and breaks "cti-" at the hyphen)
        assert all(name in text.replace("- ", "-") for name in names), parser.prog


@pytest.mark.parametrize("argv, message", [
    (["--init", "CKPT", "--model", "cti-tiny"], "--init CKPT starts from that checkpoint's model, and --model would "
                                                "choose another one; give --init to continue a checkpoint, or --model "
                                                "(with --pretrained) to start a new model, not both"),
    (["--init", "CKPT", "--pretrained", "w.safetensors"], "and --pretrained would choose another one"),
    (["--init-composer"], "--init-composer keeps the composer of the --init checkpoint, and no --init was given"),
])
def test_stage3_refuses_contradicting_model_flags(argv, message, tmp_path, tiny_checkpoint, capsys, nothing_loads):
    argv = [str(tiny_checkpoint) if a == "CKPT" else a for a in argv]
    assert stage3.main([*_required(stage3.main, tmp_path, tiny_checkpoint), *argv]) == 2
    assert message.replace("CKPT", str(tiny_checkpoint)) in one_error(capsys)


@pytest.mark.parametrize("main", [stage1.main, stage2.main, stage3.main, fit_map.main])
def test_resume_on_a_fresh_or_empty_folder_is_refused(main, tmp_path, tiny_checkpoint, capsys, nothing_loads):
    argv = [*_required(main, tmp_path, tiny_checkpoint), "--resume"]
    assert main(argv) == 2
    run = tmp_path / "run"
    assert one_error(capsys) == (f"--resume: {run} holds no run to continue (no train_state.pt); leave out --resume "
                                 f"to start a new run there")
    run.mkdir()
    assert main(argv) == 2 and "holds no run to continue" in one_error(capsys)


def test_adapt_resume_with_no_adaptation_to_continue_is_refused(tmp_path, tiny_checkpoint, capsys, nothing_loads):
    assert adapt.main([*_required(adapt.main, tmp_path, tiny_checkpoint), "--resume"]) == 2
    assert one_error(capsys) == (f"--resume: {tmp_path / 'run'}.work holds no adaptation to continue (no "
                                 f"adapt_manifest.json); leave out --resume to start one")


def test_benchmarks_pass_resume_only_where_there_is_a_run_to_continue(tmp_path):
    from benchmarks.common import without_fresh_resume

    argv = ["--data", "x", "--out", str(tmp_path / "run"), "--resume"]
    assert without_fresh_resume(stage3, argv) == argv[:-1]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "train_state.pt").write_bytes(b"")
    assert without_fresh_resume(stage3, argv) == argv
    adapt_argv = ["--out", str(tmp_path / "adapted"), "--resume"]
    assert without_fresh_resume(adapt, adapt_argv) == adapt_argv[:-1]
    (tmp_path / "adapted.work").mkdir()
    (tmp_path / "adapted.work" / adapt.MANIFEST).write_text("{}")
    assert without_fresh_resume(adapt, adapt_argv) == adapt_argv


# --------------------------------------------------------------------------------------------- cti_ir.evaluate
def _drop_references(root: Path, category: str) -> None:
    """Delete the reference image of every val query of ``category`` (each query then misses an image)."""
    for t in json.loads((root / "captions" / f"cap.{category}.val.json").read_text()):
        for p in (root / "images").glob(f"{t['candidate']}.*"):
            p.unlink()


def test_evaluate_reports_a_category_with_no_query_left_as_not_evaluated(fake_fiq, tiny_checkpoint, capsys):
    argv = ["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(fake_fiq)]
    _drop_references(fake_fiq, "dress")
    assert ev_cli.main(argv) == 2  # without --skip-missing: the flag to pass is named as a flag
    err = one_error(capsys)
    assert "pass --skip-missing to continue without them" in err and "skip_missing=True" not in err

    assert ev_cli.main([*argv, "--skip-missing", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert sorted(result["splits"]) == ["shirt", "toptee"]  # dress is not scored 0: it is not scored at all
    assert result["not_evaluated"]["dress"]["queries_published"] == 4
    shirt, toptee = result["splits"]["shirt"], result["splits"]["toptee"]
    for k in ("R@10", "R@50"):
        assert result["average"][k] == pytest.approx((shirt[k] + toptee[k]) / 2)
    assert result["score"] == pytest.approx((result["average"]["R@10"] + result["average"]["R@50"]) / 2)
    assert result["reduced_protocol"]["categories_not_evaluated"] == ["dress"]
    table = ev_cli.format_table(result)
    assert "| dress | not evaluated | not evaluated | 0 / 4 |" in table
    assert "| average of shirt, toptee |" in table
    assert "not evaluated (left out of the averages and the score): dress" in table

    for category in ("shirt", "toptee"):
        _drop_references(fake_fiq, category)
    assert ev_cli.main([*argv, "--skip-missing"]) == 2
    assert one_error(capsys).startswith("no queries left to evaluate in dress, shirt, toptee")


def test_evaluate_refuses_bad_numbers_and_unknown_categories(fake_fiq, tiny_checkpoint, capsys, monkeypatch):
    argv = ["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(fake_fiq)]
    assert ev_cli.main([*argv, "--categories", "hats"]) == 2
    assert one_error(capsys) == f"unknown category hats; {fake_fiq} has dress, shirt, toptee"
    monkeypatch.setattr(cti_ir.model.checkpoint, "load_checkpoint", lambda *a, **k: pytest.fail("model loaded"))
    assert ev_cli.main([*argv, "--batch-size", "0"]) == 2
    assert one_error(capsys) == "--batch-size must be at least 1, got 0"
    assert ev_cli.main([*argv, "--weight-sweep", "1"]) == 2
    assert one_error(capsys) == "--weight-sweep must be at least 2, got 1"


def test_evaluation_table_says_when_the_gallery_was_an_ensemble():
    result = {"dataset": "shoes", "splits": {"shoes": {"R@1": 1.0, "R@10": 2.0, "R@50": 3.0, "queries": 5,
                                                       "gallery": 9}},
              "average": {"R@1": 1.0, "R@10": 2.0, "R@50": 3.0}, "score": 2.0,
              "gallery": {"mode": "ensemble", "members": [{}, {}, {}]}}
    assert "galleries embedded by an ensemble of 3 gallery models" in ev_cli.format_table(result)
