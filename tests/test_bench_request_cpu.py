"""The in-process request-cost benchmark runs on a tiny catalogue, times the three kinds of request, and says
whether the engine's upload cache was on for each."""

from __future__ import annotations

import json

from benchmarks.speed import request_cpu
from tests.app_fixtures import make_tiny_catalogue


def test_it_times_each_kind_and_writes_its_results(tmp_path, capsys):
    catalogue = make_tiny_catalogue(tmp_path / "shop")
    out = tmp_path / "results" / "request_cpu.json"
    assert request_cpu.main(["--index", str(catalogue.index), "--checkpoint", str(catalogue.checkpoint),
                             "--searches", "3", "--repeats", "2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["kinds"]
    assert [r["kind"] for r in rows] == ["new", "again", "reference"]
    assert all(len(r["cpu_ms"]) == 2 and r["cpu_ms_median"] > 0 for r in rows)
    assert [r["upload_cache"] for r in rows] == ["off", "on", "on"]
    assert len(capsys.readouterr().out.strip().splitlines()) == 3  # one JSON line per kind as it is measured


def test_a_missing_index_is_refused_with_a_sentence(tmp_path, capsys):
    assert request_cpu.main(["--index", str(tmp_path / "nothing")]) == 2
    assert "no index folder at" in capsys.readouterr().err
