"""The served-index benchmark of an upload's category: uploads from another catalogue, through the engine."""

from __future__ import annotations

import pytest

from benchmarks.session import bench_served_upload_category as bench


@pytest.fixture(scope="module")
def small_index(synth_small, tiny_checkpoint, tmp_path_factory):
    from benchmarks.session.gallery import ensure_index

    index = tmp_path_factory.mktemp("served_upload") / "index"
    ensure_index(tiny_checkpoint, synth_small, index)
    return index


def test_uploads_are_played_through_the_engine_per_group(synth_small, small_index, tiny_checkpoint):
    from cti_ir.serve.engine import SearchEngine

    drawn = bench.uploads(synth_small, 3, seed=0)
    assert set(drawn) == set(bench.GROUPS) and all(len(v) == 3 for v in drawn.values())
    engine = SearchEngine(tiny_checkpoint, small_index)
    assert {own for path, own in drawn["shoes"]} <= set(engine.categories)  # shoe types named as the index names them
    assert all(path.is_file() for photos in drawn.values() for path, _ in photos)
    groups = bench.measure(engine, drawn, "in another colour")
    for g in bench.GROUPS:
        assert groups[g]["photos"] == 3 and all(0 <= groups[g][k] <= 100 for k in ("right", "share", "unsure"))
    table = bench.tables({"settings": {"index": "i", "guesser": "none", "catalogue_seed": 0, "text": "t"},
                          "groups": groups})
    assert "| searched in the photo's own category |" in table and "| photos | 3 | 3 | 3 | 3 |" in table


def test_bad_input_is_refused_in_our_words(small_index, tiny_checkpoint, tmp_path, capsys):
    assert bench.main(["--index", str(tmp_path)]) == 2
    assert "is not an index folder" in capsys.readouterr().err
    assert bench.main(["--index", str(small_index), "--checkpoint", str(tiny_checkpoint), "--text", "as a dress",
                       "--work", str(tmp_path)]) == 2
    assert "names a category" in capsys.readouterr().err
