"""The graph-forms benchmark exports a checkpoint in both forms, times them in turns and checks their outputs."""

from __future__ import annotations

import json

import pytest

from benchmarks.speed import graph_forms
from tests.test_index import save_tiny_checkpoint


@pytest.mark.slow  # two exports of a tiny model: about 25 s on 2 cores
def test_it_reports_both_forms_of_each_tower(tmp_path, capsys):
    pytest.importorskip("onnxscript", reason="the onnx extra (pip install -e '.[dev]') is not installed")
    checkpoint = save_tiny_checkpoint(tmp_path / "ckpt", "cti-small")
    out = tmp_path / "results" / "forms.json"
    assert graph_forms.main(["--checkpoint", str(checkpoint), "--workdir", str(tmp_path / "work"), "--rounds", "2",
                             "--calls", "3", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())["demo"]
    for tower in ("image", "text"):
        row = report[tower]
        assert row["graph"] == {"lean": "lean", "plain": "plain"} and row["nodes"]["lean"] < row["nodes"]["plain"]
        assert row["max_abs_diff"] < 1e-5 and all(len(v) == 2 for v in row["cpu_ms_per_round"].values())
    assert report["text"]["input_shape"][1] < 16  # cut after the end of text, not the whole context


def test_a_missing_checkpoint_is_refused_with_a_sentence(tmp_path, capsys):
    assert graph_forms.main(["--checkpoint", str(tmp_path / "nothing"), "--workdir", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
