"""python -m data_prep.check: published counts on the real annotations, image problems on fake folders."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.check import main
from tests.conftest import REAL_BENCHMARKS, needs_real_benchmarks

FIQ_ROOT = REAL_BENCHMARKS / "fashioniq"
SHOES_ROOT = REAL_BENCHMARKS / "shoes"
REPO = Path(__file__).resolve().parents[1]


def run_json(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, dict]:
    code = main(["--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)  # json.loads fails unless stdout is exactly one JSON object


def eval_counts(result: dict) -> dict:
    return {c["category"]: (c["queries"], c["gallery"]) for c in result["eval"]["categories"]}


@needs_real_benchmarks("fashioniq")
def test_fiq_published_counts_text(capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "fashioniq", "--root", str(FIQ_ROOT), "--annotations-only"]) == 0
    out = capsys.readouterr().out
    for needle in ("2,017", "2,038", "1,961", "3,817", "6,346", "5,373", "not checked", "hidden", "74,381"):
        assert needle in out, needle


@needs_real_benchmarks("fashioniq")
def test_fiq_published_counts_json(capsys: pytest.CaptureFixture) -> None:
    code, res = run_json(capsys, "--dataset", "fashioniq", "--root", str(FIQ_ROOT), "--annotations-only")
    assert code == 0 and res["ok"] and res["images"] is None
    assert res["eval"]["split"] == "val" and res["protocol"] == "standard"
    assert eval_counts(res) == {"dress": (2017, 3817), "shirt": (2038, 6346), "toptee": (1961, 5373)}
    rows = {(r["split"], r["category"]): r for r in res["splits"]}
    assert rows[("train", "dress")]["triplets"] == 5985 and rows[("train", "shirt")]["split_images"] == 19036
    assert rows[("test", "toptee")]["labelled"] is False and rows[("val", "toptee")]["labelled"] is True
    assert res["empty_captions"] == {"train": 12, "val": 3, "test": 1}

    code, res = run_json(capsys, "--dataset", "fashioniq", "--root", str(FIQ_ROOT), "--annotations-only",
                         "--protocol", "val")
    assert code == 0
    assert eval_counts(res) == {"dress": (4034, 2628), "shirt": (4075, 3089), "toptee": (3920, 2902)}


@needs_real_benchmarks("shoes")
def test_shoes_published_counts(capsys: pytest.CaptureFixture) -> None:
    code, res = run_json(capsys, "--dataset", "shoes", "--root", str(SHOES_ROOT), "--annotations-only")
    assert code == 0
    rows = {r["split"]: r for r in res["splits"]}
    assert rows["train"]["triplets"] == 8990 and rows["test"]["triplets"] == 1761
    assert rows["train"]["split_images"] == 10000
    assert eval_counts(res) == {"shoes": (1761, 4658)}
    assert (res["all_triplets"], res["reference_equals_target"]) == (10751, 27)
    assert main(["--dataset", "shoes", "--root", str(SHOES_ROOT), "--annotations-only"]) == 0
    out = capsys.readouterr().out
    assert "8,990" in out and "1,761" in out and "4,658" in out


@needs_real_benchmarks("shoes")
def test_real_roots_have_no_images(capsys: pytest.CaptureFixture) -> None:
    code, res = run_json(capsys, "--dataset", "shoes", "--root", str(SHOES_ROOT), "--no-decode")
    assert code == 1 and not res["ok"]
    assert res["images"]["missing"] == 14658 and "no image files" in res["images"]["hint"]
    assert res["images"]["eval_impact"] == [{"category": "shoes", "queries_dropped": 1761, "gallery_dropped": 4658}]


def test_wrong_root_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "fashioniq", "--root", str(tmp_path), "--annotations-only"]) == 2
    err = capsys.readouterr().err
    assert "captions/" in err and "expected a Fashion-IQ root" in err
    code, res = run_json(capsys, "--dataset", "shoes", "--root", str(tmp_path))
    assert code == 2 and not res["ok"] and "relative_captions_shoes.json" in res["error"]


def test_shoes_has_no_val_protocol(fake_shoes: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "shoes", "--root", str(fake_shoes), "--protocol", "val"]) == 2
    assert "only the standard protocol" in capsys.readouterr().err


def test_help_explains_flags(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--dataset", "--root", "--annotations-only", "--json", "--protocol", "--no-decode", "Exit code"):
        assert flag in out


def test_fake_fiq_all_good(fake_fiq: Path, capsys: pytest.CaptureFixture) -> None:
    code, res = run_json(capsys, "--dataset", "fashioniq", "--root", str(fake_fiq))
    assert code == 0 and res["ok"]
    assert res["images"]["checked"] == 3 * (8 + 10 + 4) and res["images"]["verified"]
    assert res["images"]["missing"] == 0 and res["images"]["unreadable"] == 0
    assert eval_counts(res) == {c: (4, 10) for c in ("dress", "shirt", "toptee")}


def test_fake_fiq_missing_and_corrupt(fake_fiq: Path, capsys: pytest.CaptureFixture) -> None:
    from cti_ir.data import FashionIQ

    ds = FashionIQ(fake_fiq)
    ds.image_path("dress-val-t0").unlink()
    ds.image_path("toptee-train-r1").write_bytes(b"\x89PNG garbage")
    code = main(["--dataset", "fashioniq", "--root", str(fake_fiq), "--workers", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 missing, 1 unreadable" in out and "dress-val-t0.jpg" in out and "toptee-train-r1" in out
    assert "REDUCED PROTOCOL" in out and "PROBLEMS FOUND" in out
    reduced = out[out.index("REDUCED PROTOCOL"):].splitlines()
    # queries and gallery images of the eval split, then training triplets: kept / published
    assert ["val", "dress", "3", "/", "4", "9", "/", "10"] in [line.split() for line in reduced]
    assert ["train", "toptee", "2", "/", "3"] in [line.split() for line in reduced]
    # existence only: the corrupt file passes, the missing one does not
    code, res = run_json(capsys, "--dataset", "fashioniq", "--root", str(fake_fiq), "--no-decode")
    assert code == 1 and (res["images"]["missing"], res["images"]["unreadable"]) == (1, 0)
    assert res["images"]["missing_examples"] == [str(fake_fiq / "images" / "dress-val-t0.jpg")]


def test_fake_shoes_too_many_pixels(fake_shoes: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--dataset", "shoes", "--root", str(fake_shoes)]) == 0
    capsys.readouterr()
    code, res = run_json(capsys, "--dataset", "shoes", "--root", str(fake_shoes), "--max-pixels", "10")
    assert code == 1 and res["images"]["unreadable"] == 11
    assert "too many pixels" in res["images"]["unreadable_examples"][0]["reason"]


def test_module_entry_point_json_on_stdout_only(fake_shoes: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "data_prep.check", "--dataset", "shoes", "--root", str(fake_shoes), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["ok"] and res["images"]["checked"] == 11


# -- on the synthetic generator's output (data_prep.synth, written by a colleague) -----------------------------------


@pytest.fixture(scope="module")
def synth_out(synth_small: Path) -> Path:
    """The generator's small output, made once per session (tests/pipeline_fixtures.py)."""
    return synth_small


@pytest.mark.parametrize("dataset", ["fashioniq", "shoes"])
def test_synth_small_output_passes_check(synth_out: Path, dataset: str, capsys: pytest.CaptureFixture) -> None:
    code, res = run_json(capsys, "--dataset", dataset, "--root", str(synth_out / dataset))
    assert code == 0 and res["ok"], res["images"]
    assert res["images"]["checked"] > 0 and res["images"]["verified"]
    assert res["images"]["missing"] == 0 and res["images"]["unreadable"] == 0
    assert all(c["queries"] > 0 and c["gallery"] > 0 for c in res["eval"]["categories"])


def test_synth_small_output_readers(synth_out: Path) -> None:
    from cti_ir.data import open_benchmark, open_image_text

    for name in ("fashioniq", "shoes"):
        bench = open_benchmark(name, synth_out / name)
        for split in bench.eval_splits():  # images checked by default
            gallery = set(split.gallery)
            assert split.queries and all(q.target in gallery for q in split.queries)
        assert bench.triplets("train", check=True)
    corpus = open_image_text(synth_out / "open_domain", "validation")
    img, text = corpus[0]
    assert len(corpus) > 0 and img.mode == "RGB" and text


def test_fiq_without_test_files_reports_the_split_absent_and_checks_the_rest(fake_fiq: Path,
                                                                            capsys: pytest.CaptureFixture) -> None:
    # A shop's or a lab's own set in the Fashion-IQ layout often has train and val only.
    for f in list((fake_fiq / "captions").glob("*.test.json")) + list((fake_fiq / "image_splits").glob("*.test.json")):
        f.unlink()
    code, res = run_json(capsys, "--dataset", "fashioniq", "--root", str(fake_fiq))
    assert code == 0 and res["ok"] and res["absent_splits"] == ["test"]
    rows = {(r["split"], r["category"]): r for r in res["splits"]}
    assert rows[("test", "dress")]["absent"] and rows[("test", "dress")]["missing_files"] == [
        str(fake_fiq / "captions" / "cap.dress.test.json"), str(fake_fiq / "image_splits" / "split.dress.test.json")]
    assert rows[("train", "shirt")]["triplets"] == 3 and not rows[("train", "shirt")]["absent"]
    assert eval_counts(res) == {c: (4, 10) for c in ("dress", "shirt", "toptee")}
    assert res["images"]["checked"] == 3 * (8 + 10) and res["images"]["reduced_protocol"]["reduced"] is False
    assert main(["--dataset", "fashioniq", "--root", str(fake_fiq)]) == 0
    out = capsys.readouterr().out
    assert ["test", "dress", "absent"] in [line.split() for line in out.splitlines()]
    assert "absent (annotation files missing, not checked): dress/test, shirt/test, toptee/test" in out


def test_fiq_without_val_files_has_no_evaluation_but_checks_train(fake_fiq: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    for f in (fake_fiq / "captions").glob("cap.*.val.json"):
        f.unlink()
    code, res = run_json(capsys, "--dataset", "fashioniq", "--root", str(fake_fiq))
    assert code == 0 and res["eval"] is None and res["absent_splits"] == ["val"]
    assert res["images"]["checked"] == 3 * (8 + 4) and res["images"]["reduced_protocol"]["eval"] == []
    assert main(["--dataset", "fashioniq", "--root", str(fake_fiq), "--annotations-only"]) == 0
    assert "no evaluation split" in capsys.readouterr().out
