"""The text-length report on the published annotation files: what a model's context length must hold."""

from __future__ import annotations

import json

from tests.conftest import REAL_BENCHMARKS, needs_real_benchmarks


@needs_real_benchmarks("fashioniq", "shoes")
def test_text_lengths_count_every_caption_and_query_of_the_published_files(tiny_checkpoint, tmp_path, capsys):
    from benchmarks.phrasing import text_lengths

    out = tmp_path / "lengths"
    assert text_lengths.main(["--checkpoint", str(tiny_checkpoint), "--fashioniq", str(REAL_BENCHMARKS / "fashioniq"),
                              "--shoes", str(REAL_BENCHMARKS / "shoes"), "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    fiq, shoes = result["datasets"]["fashioniq"], result["datasets"]["shoes"]
    # Counted from the files themselves: every val triplet has two captions and is one standard-protocol query.
    val = [t for c in ("dress", "shirt", "toptee") for t in json.loads(
        (REAL_BENCHMARKS / "fashioniq" / "captions" / f"cap.{c}.val.json").read_text())]
    assert fiq["val captions"]["texts"] == sum(len(t["captions"]) for t in val) == 2 * len(val)
    queries = fiq["val queries (standard protocol)"]
    assert queries["texts"] == len(val)
    assert queries["mean"] > 1.5 * fiq["val captions"]["mean"]  # two captions joined into one text
    # The tiny model reads 16 tokens: joined queries overflow it far more often than single captions do.
    assert result["context_length"] == 16 and queries["max"] > 16
    assert queries["over_context_pct"] > 5 * fiq["val captions"]["over_context_pct"] > 0
    shoe_triplets = json.loads(next(REAL_BENCHMARKS.glob("shoes/**/relative_captions_shoes.json")).read_text())
    assert shoes["train captions"]["texts"] + shoes["test captions"]["texts"] == len(shoe_triplets)
    assert shoes["test queries (standard protocol)"]["texts"] == shoes["test captions"]["texts"]
    assert "| fashioniq | val queries (standard protocol) | 6,016 |" in capsys.readouterr().out


def test_text_lengths_refuse_a_run_without_folders_and_a_missing_folder(tmp_path, capsys):
    from benchmarks.phrasing import text_lengths

    assert text_lengths.main(["--out", str(tmp_path / "x")]) == 2
    assert "give --fashioniq and/or --shoes" in capsys.readouterr().err
    assert text_lengths.main(["--shoes", str(tmp_path / "absent"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --shoes") and "is not a folder" in err and err.count("\n") == 1
    assert not list(tmp_path.glob("x.*"))
