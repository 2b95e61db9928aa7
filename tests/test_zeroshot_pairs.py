"""Composed search from a shop's photos and descriptions: pairs mined from descriptions train a composer.

The material is the generator's own ``product_descriptions.jsonl`` (the ``synth_small`` catalogue): the miner reads
only each row's ``text``, never its ``attributes``, which the tests use to check what it found.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cti_ir.index.facets import read_description, read_request
from cti_ir.index.request_reading import describe_change, read_request_text
from cti_ir.model.checkpoint import load_checkpoint
from tests.resume_check import assert_resumes_bit_identically, log_rows
from tests.shop_path import export_demo_open_clip_folder, search_shoes_index
from training.zeroshot import cli
from training.zeroshot.corpus import CorpusError
from training.zeroshot.pairs import mine_pairs, read_products

LAYOUTS = ("fashioniq", "shoes")


def descriptions(data: Path) -> list[str]:
    return [str(data / layout / "product_descriptions.jsonl") for layout in LAYOUTS]


def flags(init: Path, data: Path, out: Path, *extra: str) -> list[str]:
    sources = [x for path in descriptions(data) for x in ("--pairs", path)]
    return ["--init", str(init), *sources, "--out", str(out), "--batch-size", "32", "--epochs", "3",
            "--lr", "3e-3", "--warmup-steps", "2", "--threads", "1", "--no-progress", "--pairs-per-product", "2",
            *extra]


def test_a_change_is_said_in_the_readers_canonical_wording():
    red = {"colour": "red", "sleeves": "short", "fit": "loose"}
    assert describe_change(red, {"colour": "black", "sleeves": "long", "fit": "loose"}, "dress") == \
        "is black and has long sleeves"
    assert describe_change(red, {"colour": "red", "sleeves": "short"}, "dress") is None  # nothing known differs
    assert describe_change(red, {"colour": "blue", "neckline": "v_neck"}, "shirt") == "is blue"  # unknown: no change
    assert describe_change({"colour": "red", "heel": "low"}, {"colour": "black", "heel": "high"}, "shoes") == \
        "are black and have high heels"


@pytest.fixture(scope="module")
def mined(synth_small):
    products = read_products(descriptions(synth_small))
    train = [i for i, p in enumerate(products) if p.split == "train"]
    return products, train, mine_pairs(products, train, seed=0, max_changes=2, per_product=3)


def test_pairs_are_close_products_of_one_category_and_their_change_asks_the_target(mined, synth_small):
    products, train, pairs = mined
    truth = {}  # the generator's attribute records: only to check the miner, which never reads them
    for path in descriptions(synth_small):
        truth.update({r["image_id"]: r["attributes"] for r in map(json.loads, Path(path).read_text().splitlines())})
    assert len(pairs) > len(train)  # most products start several pairs
    assert len({p.text for p in pairs}) > 50
    for p in pairs:
        ref, tgt = products[p.reference], products[p.target]
        assert ref.category == tgt.category and p.reference != p.target
        assert ref.split == tgt.split == "train"
        before, after = truth[ref.image_id], truth[tgt.image_id]
        assert 1 <= sum(before[k] != after[k] for k in before) <= 3  # one pattern's colour may change with it
        asked = read_request(p.text, read_description(ref.text))
        target_facets = read_description(tgt.text)
        assert asked and all(c.accepts(target_facets.get(slot)) for slot, c in asked.items())
    # the wording is the reader's own: it reads it back as written, but for a recoloured print ("has white
    # flowers" on a floral reference), whose colour it cannot place and leaves as it is
    for p in pairs:
        ref, tgt = (read_description(products[i].text) for i in (p.reference, p.target))
        back = read_request_text(p.text, ref, products[p.reference].category)
        assert (back.understood and back.text == p.text) or ref.get("accent_colour") != tgt.get("accent_colour")


def test_mining_is_deterministic_and_follows_its_seed(mined):
    products, train, pairs = mined
    assert mine_pairs(products, train, seed=0, max_changes=2, per_product=3) == pairs
    assert mine_pairs(products, train, seed=1, max_changes=2, per_product=3) != pairs
    one_change = mine_pairs(products, train, seed=0, max_changes=1, per_product=3)
    assert one_change and all(" and " not in p.text for p in one_change if products[p.reference].category != "shoes")


@pytest.fixture(scope="module")
def trained(tiny_checkpoint, synth_small, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("pairs_run") / "run"
    assert cli.main(flags(tiny_checkpoint, synth_small, run, "--save-every", "5")) == 0
    return run


def test_the_loss_falls_the_encoders_stay_frozen_and_the_check_uses_held_out_products(trained, tiny_checkpoint):
    rows = log_rows(trained)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2
    before = load_file(str(Path(tiny_checkpoint) / "open_clip_model.safetensors"))
    after = load_file(str(trained / "last" / "open_clip_model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    evals = [r["eval"] for r in rows if "eval" in r]
    assert len(evals) == 3 and all(e["check_pairs"] > 0 and 0 <= e["score"] <= 100 for e in evals)
    assert json.loads((trained / "last" / "cti_config.json").read_text())["composer"]["name"] == "adaptive"


def test_a_crashed_run_resumes_bit_identically(trained, tiny_checkpoint, synth_small, tmp_path, monkeypatch):
    # the state of step 10 was saved (--save-every 5): steps 11-12 are lost
    assert_resumes_bit_identically(
        lambda out, *extra: cli.main(flags(tiny_checkpoint, synth_small, out, "--save-every", "5", *extra)),
        tmp_path / "crashed", trained, 12, monkeypatch)


def test_the_trained_composer_composes_the_same_batched_and_alone(trained):
    model = load_checkpoint(trained / "last")
    model.eval()
    torch.manual_seed(0)
    images = torch.nn.functional.normalize(torch.randn(4, model.embed_dim), dim=-1)
    with torch.no_grad():
        texts = model.encode_texts(["is red", "has long sleeves", "is black and striped", "are flat"])
        batched = model.compose(images, texts).query
        alone = torch.cat([model.compose(images[i:i + 1], texts[i:i + 1]).query for i in range(4)])
    assert torch.allclose(batched, alone, atol=1e-6)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("rows, message", [
    ([], "no products to train on"),
    ([{"file_name": "a.png", "text": "red dress", "split": "val"}], "none of split 'train'"),
    ([{"text": "red dress"}], "has no 'file_name'"),
    ([{"file_name": "a.png", "text": 3}], "not a string"),
    ([{"file_name": "a.png", "description": "red dress"}], "--text-column"),
    ([{"file_name": f"{i}.png", "text": t} for i, t in enumerate(["linen summer dress", "wool winter coat"])],
     "nothing to learn a change from"),
])
def test_bad_pairs_material_gets_our_messages(rows, message, tiny_checkpoint, tmp_path, capsys):
    path = write_jsonl(tmp_path / "products.jsonl", rows)
    code = cli.main(["--init", str(tiny_checkpoint), "--pairs", str(path), "--out", str(tmp_path / "run"),
                     "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err


def test_pairs_and_pseudo_token_material_are_not_mixed(tiny_checkpoint, synth_small, tmp_path, capsys):
    path = descriptions(synth_small)[0]
    code = cli.main(["--init", str(tiny_checkpoint), "--pairs", path, "--texts", path, "--out", str(tmp_path / "r")])
    assert code == 2 and "one kind of material per run" in capsys.readouterr().err
    with pytest.raises(CorpusError, match="JSONL file of products"):
        read_products([str(tmp_path / "missing.jsonl")])


@pytest.mark.slow
def test_the_shops_path_from_an_open_clip_folder_offline(synth_small, tmp_path, monkeypatch):
    """Export the demo model's open_clip folder (as any open_clip model), train on mined pairs, index, search."""
    init, run = export_demo_open_clip_folder(tmp_path, monkeypatch), tmp_path / "run"
    assert cli.main(flags(init, synth_small, run, "--epochs", "2")) == 0
    evals = [r["eval"]["score"] for r in log_rows(run) if "eval" in r]
    assert evals[-1] > evals[0] - 5 and evals[-1] > 20  # a trained composer finds held-out targets, not chance
    shoes = synth_small / "shoes"
    engine, _ = search_shoes_index(run / "best", shoes, tmp_path / "index", next(shoes.rglob("*.jpg")),
                                   "are black with a higher heel")
    assert engine.model.composer_name == "adaptive"

