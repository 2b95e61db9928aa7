"""The whole-catalogue protocol beside the published one: the published numbers unchanged, the page's default
category keeps the top 10 in the reference's category."""

from __future__ import annotations

import json

import pytest

from cti_ir.evaluate import cli as evaluate_cli


@pytest.fixture(scope="module")
def small_index(synth_small, tiny_checkpoint, tmp_path_factory):
    from cti_ir.index.catalogue import items_from_benchmark
    from cti_ir.index.catalogue_index import build_index
    from cti_ir.model.checkpoint import load_checkpoint

    out = tmp_path_factory.mktemp("whole") / "index"
    items = items_from_benchmark("fashioniq", synth_small / "fashioniq") + items_from_benchmark(
        "shoes", synth_small / "shoes")
    build_index(load_checkpoint(tiny_checkpoint), items, out, progress=False)
    return out


def test_whole_catalogue_beside_the_published_protocol(synth_small, tiny_checkpoint, small_index, tmp_path,
                                                       capsys):
    args = ["--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq", "--root", str(synth_small / "fashioniq")]
    assert evaluate_cli.main(args + ["--output", str(tmp_path / "published.json")]) == 0
    assert evaluate_cli.main(args + ["--whole-catalogue", str(small_index), "--output", str(tmp_path / "both.json")]) == 0
    printed = capsys.readouterr().out
    published = json.loads((tmp_path / "published.json").read_text())
    both = json.loads((tmp_path / "both.json").read_text())
    assert both["splits"] == published["splits"] and both["score"] == published["score"], "published unchanged"
    whole = both["whole_catalogue"]
    assert whole["products"] > max(r["gallery"] for r in published["splits"].values())
    for name, split in whole["splits"].items():
        assert split["queries"] == published["splits"][name]["queries"]
        assert split["same"]["top10_in_reference_category"] == 100.0, "the reference's category by default"
        assert split["all"]["top10_in_reference_category"] <= 100.0
        assert {"R@10", "R@50"} <= set(split["all"])
    assert "whole catalogue:" in printed and "| dress | same |" in printed


def test_a_whole_catalogue_index_of_another_model_is_refused(synth_small, small_index, tmp_path, capsys):
    import torch

    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    torch.manual_seed(1)
    other = save_checkpoint(CIRModel.create("cti-tiny"), tmp_path / "other")
    code = evaluate_cli.main(["--checkpoint", str(other), "--dataset", "fashioniq", "--root",
                              str(synth_small / "fashioniq"), "--whole-catalogue", str(small_index)])
    assert code == 2 and "error:" in capsys.readouterr().err
