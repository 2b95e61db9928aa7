"""Stage 3 on mined pairs: ``training.stage3 --data pairs=products.jsonl`` trains the encoders and the composer on
pairs of a shop's products, and checks itself on pairs mined among held-out products, never on a benchmark.

The material is the generator's own ``product_descriptions.jsonl`` (the ``synth_small`` catalogue).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.images import load_image
from tests.resume_check import assert_resumes_bit_identically, log_rows
from tests.shop_path import export_demo_open_clip_folder, search_shoes_index
from training import stage3
from training.zeroshot.pair_source import HOLD_OUT_EVERY, MinedPairSource

LAYOUTS = ("fashioniq", "shoes")


def descriptions(data: Path) -> list[str]:
    return [str(data / layout / "product_descriptions.jsonl") for layout in LAYOUTS]


def flags(init: Path, data: Path, out: Path, *extra: str) -> list[str]:
    sources = [x for path in descriptions(data) for x in ("--data", f"pairs={path}")]
    return ["--init", str(init), *sources, "--out", str(out), "--batch-size", "64", "--epochs", "2",
            "--pairs-per-product", "1", "--lr", "1e-3", "--warmup-steps", "2", "--threads", "1", "--no-progress",
            "--check-size", "200", "--eval-batch-size", "64", *extra]


def test_training_pairs_come_from_training_products_and_check_pairs_from_held_out_ones(synth_small):
    source = MinedPairSource(descriptions(synth_small), seed=0)
    split = {p.path: p.split for p in source.products}
    triplets = source.triplets()
    assert len(triplets) == len(source.pairs) > 100
    assert all(split[t.reference] == split[t.target] == "train" for t in triplets)
    assert all(source.image_path(t.reference).is_file() for t in triplets)
    assert all(t.captions[0] == p.text for t, p in zip(triplets, source.pairs))
    checked = {source.products[i].split for p in source.check for i in (p.reference, p.target)}
    assert source.check and checked == {"val"}


def test_a_file_without_splits_holds_out_one_product_in_ten_whatever_its_order(synth_small, tmp_path):
    rows = [{k: v for k, v in json.loads(line).items() if k != "split"}
            for path in descriptions(synth_small)[:1] for line in Path(path).read_text().splitlines()]
    folder = Path(descriptions(synth_small)[0]).parent

    def held_out(order: list[dict]) -> set[str]:
        path = folder / f"no_splits_{id(order)}.jsonl"  # beside the photos, which rows name relative to the file
        path.write_text("".join(json.dumps(r) + "\n" for r in order))
        try:
            source = MinedPairSource([str(path)], seed=0)
        finally:
            path.unlink()
        trained = {source.products[i].image_id for p in source.pairs for i in (p.reference, p.target)}
        checked = {source.products[i].image_id for p in source.check for i in (p.reference, p.target)}
        assert checked and not trained & checked
        assert source.held_out_products == pytest.approx(len(rows) / HOLD_OUT_EVERY, rel=0.25)
        return checked

    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    assert held_out(rows) == held_out(shuffled)


@pytest.fixture(scope="module")
def trained(tiny_checkpoint, synth_small, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("stage3_pairs") / "run"

    def no_benchmark(*args, **kwargs):
        raise AssertionError("a run on mined pairs read a benchmark")

    with pytest.MonkeyPatch.context() as patch:  # neither the data nor the per-epoch check may open a benchmark
        patch.setattr(stage3, "open_benchmark", no_benchmark)
        patch.setattr(stage3, "evaluate", no_benchmark)
        assert stage3.main(flags(tiny_checkpoint, synth_small, run, "--save-every", "8")) == 0
    return run


def test_stage3_on_pairs_trains_the_encoders_without_reading_a_benchmark(trained, tiny_checkpoint):
    rows = log_rows(trained)
    losses = [r["retrieval_loss"] for r in rows if "retrieval_loss" in r]
    assert np.mean(losses[-4:]) < np.mean(losses[:4])
    before = load_file(str(Path(tiny_checkpoint) / "open_clip_model.safetensors"))
    after = load_file(str(trained / "best" / "open_clip_model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)  # unlike training.zeroshot, encoders learn
    evals = [r["eval"] for r in rows if "eval" in r]
    assert len(evals) == 2 and all(set(e["details"]) == {"pairs"} for e in evals)
    assert all(e["details"]["pairs"]["check_pairs"] == 200 and e["score"] == e["pairs_score"] for e in evals)


def test_the_check_is_the_recall_of_held_out_pairs_among_their_photos(trained, synth_small):
    """The logged score, recomputed here photo by photo with the last checkpoint's own encoders."""
    model = load_checkpoint(trained / "last")
    model.eval()
    source = MinedPairSource(descriptions(synth_small), seed=0, check_size=200)
    used = sorted({i for p in source.check for i in (p.reference, p.target)})
    with torch.no_grad():
        photos = {i: model.encode_images(model.preprocess(load_image(source.products[i].path))[None])[0]
                  for i in used}
        hits = 0
        for p in source.check:
            query = model.compose(photos[p.reference][None], model.encode_texts([p.text])).query[0]
            scores = {i: float(query @ photos[i]) for i in used if i != p.reference}
            hits += p.target in sorted(scores, key=scores.get, reverse=True)[:10]
    last = [r["eval"] for r in log_rows(trained) if "eval" in r][-1]
    assert last["score"] == pytest.approx(100 * hits / len(source.check), abs=100 / len(source.check) + 1e-9)


def test_a_crashed_run_on_pairs_resumes_bit_identically(trained, tiny_checkpoint, synth_small, tmp_path,
                                                        monkeypatch):
    assert_resumes_bit_identically(
        lambda out, *extra: stage3.main(flags(tiny_checkpoint, synth_small, out, "--save-every", "8", *extra)),
        tmp_path / "crashed", trained, 20, monkeypatch, weights="open_clip_model.safetensors")


def test_missing_photos_stop_with_their_name_or_are_left_out(synth_small, tmp_path, capsys):
    rows = [json.loads(line) for line in Path(descriptions(synth_small)[1]).read_text().splitlines()]
    folder = Path(descriptions(synth_small)[1]).parent
    path = folder / "missing_photo.jsonl"
    rows[0] = {**rows[0], "file_name": "images/not_there.png"}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    try:
        source = MinedPairSource([str(path)], seed=0)
        with pytest.raises(FileNotFoundError, match="not_there.png.*--skip-missing"):
            source.triplets()
        kept = source.triplets(skip_missing=True)
    finally:
        path.unlink()
    assert 0 < len(kept) < len(source.pairs)
    assert not any("not_there" in t.reference or "not_there" in t.target for t in kept)
    assert "mined pairs left out" in capsys.readouterr().err


@pytest.mark.parametrize("data, extra, message", [
    (["pairs="], [], "--data expects fashioniq=DIR, shoes=DIR or pairs=FILE"),
    (["shoes=a", "shoes=b"], [], "--data shoes= is given twice"),
    (["pairs=PRODUCTS"], ["--phrasing-augment", "0.5"], "--data pairs= has none"),
    (["pairs=PRODUCTS"], ["--text-column", "description"], "--text-column"),
    (["pairs=PRODUCTS"], ["--max-changes", "0"], "--max-changes must be at least 1"),
])
def test_bad_pairs_flags_get_our_messages(data, extra, message, synth_small, tiny_checkpoint, tmp_path, capsys):
    products = descriptions(synth_small)[1]
    argv = ["--init", str(tiny_checkpoint), "--out", str(tmp_path / "run"), "--no-progress", *extra]
    for value in data:
        argv += ["--data", value.replace("PRODUCTS", products)]
    assert stage3.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.slow
def test_stage3_on_pairs_from_an_open_clip_folder_offline(synth_small, tmp_path, monkeypatch):
    """The shop's path, encoders trained: an exported open_clip folder, stage 3 on mined pairs, index, search."""
    init, run = export_demo_open_clip_folder(tmp_path, monkeypatch), tmp_path / "run"
    assert stage3.main(flags(init, synth_small, run, "--epochs", "1", "--max-steps", "6", "--lr", "3e-5")) == 0
    (check,) = [r["eval"] for r in log_rows(run) if "eval" in r]
    assert check["details"]["pairs"]["check_pairs"] == 200 and check["score"] > 20  # far above chance (~5 %)
    shoes = synth_small / "shoes"
    search_shoes_index(run / "best", shoes, tmp_path / "index", next(shoes.rglob("*.jpg")),
                       "are black with a higher heel")
