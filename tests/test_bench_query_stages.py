"""The query-stage benchmark times a search whole and stage by stage on a tiny catalogue, digests the results so
two runs can be compared, and takes its timers off again."""

from __future__ import annotations

import json

from benchmarks.speed import query_stages
from cti_ir.model.inference import InferenceModel
from cti_ir.serve import session_search
from tests.app_fixtures import make_tiny_catalogue


def test_it_times_the_stages_and_leaves_the_code_as_it_found_it(tmp_path, capsys):
    catalogue = make_tiny_catalogue(tmp_path / "shop")
    originals = (InferenceModel.encode_images, InferenceModel.compose, session_search.final_categories)
    outs = [tmp_path / "results" / f"stages{i}.json" for i in (1, 2)]
    for out in outs:
        assert query_stages.main(["--index", str(catalogue.index), "--checkpoint", str(catalogue.checkpoint),
                                  "--queries", "5", "--repeats", "2", "--k", "3", "--out", str(out)]) == 0
    first, second = (json.loads(out.read_text()) for out in outs)
    assert first["queries"] == 5 and len(first["cpu_ms_p50_per_pass"]) == 2 and first["cpu_ms_p50"] > 0
    stages = first["stages_ms_mean"]
    for stage in ("encode_images", "encode_texts", "compose", "preprocess", "search", "final_categories"):
        assert stage in first["stages_timed"]
        assert stages[stage] > 0, stage
    # the stages and the rest add up to the instrumented pass's whole
    assert abs(sum(stages.values()) - first["instrumented_cpu_ms_mean"]) < 0.01
    # the same code, model and queries find the same results
    assert first["results_sha256"] == second["results_sha256"]
    assert (InferenceModel.encode_images, InferenceModel.compose, session_search.final_categories) == originals
    assert '"stages_ms_mean"' in capsys.readouterr().out


def test_a_missing_folder_is_refused_with_a_sentence(tmp_path, capsys):
    catalogue_dir = tmp_path / "nothing"
    assert query_stages.main(["--index", str(tmp_path), "--catalogue", str(catalogue_dir)]) == 2
    assert f"no folder at {catalogue_dir} (--catalogue)" in capsys.readouterr().err


def test_each_pass_meets_its_texts_anew(tmp_path):
    from cti_ir.serve.engine import SearchEngine

    catalogue = make_tiny_catalogue(tmp_path / "shop")
    engine = SearchEngine(catalogue.checkpoint, catalogue.index)
    engine.search(text="is red", k=2)
    assert len(engine.model.text_cache) == 1 and len(engine.readings) == 1
    query_stages.forget_texts(engine)
    assert len(engine.model.text_cache) == 0 and len(engine.readings) == 0
    engine.search(text="is red", k=2)  # the emptied caches still serve
    assert len(engine.model.text_cache) == 1
