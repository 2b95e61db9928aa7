"""The paraphrase benchmark's report on a tiny catalogue, its refusal of a folder without attributes, and stage-3
augmentation in the training phrasings (never the held-apart ones)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from benchmarks.phrasing import bench_paraphrase, unnamed_colour
from benchmarks.phrasing.paraphrase_stats import flip_share, permutation_noise, spread
from cti_ir.data import open_benchmark
from tests.test_phrasing import held_out_marker


def test_spread_flips_and_noise_floor():
    assert spread([50.0, 40.0, 45.0]) == pytest.approx(20.0)
    assert spread([0.0, 0.0]) == 0.0
    hits = np.array([[1, 1], [0, 0], [1, 0], [0, 1]], dtype=bool)
    assert flip_share(hits) == pytest.approx(50.0)
    # A style that misses every query the other hits: far beyond what shuffling within queries gives.
    rng = np.random.default_rng(0)
    base = rng.random(400) < 0.5
    skewed = np.stack([base, np.zeros(400, dtype=bool)], axis=1)
    noise = permutation_noise(skewed, permutations=200)
    assert noise["spread"] == pytest.approx(100.0) and noise["p95"] < 30.0 and noise["p_value"] < 0.01
    same = np.stack([base, base], axis=1)
    assert permutation_noise(same, permutations=50)["spread"] == 0.0


def test_benchmark_reports_every_style_on_a_tiny_catalogue(synth_small, tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "report"
    assert bench_paraphrase.main(["--data", str(synth_small), "--out", str(out), "--permutations", "20",
                                  "--checkpoint", f"tiny={tiny_checkpoint}",
                                  "--checkpoint", f"sum={tiny_checkpoint}@sum"]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    assert out.with_suffix(".md").is_file() and "R@10 per style" in capsys.readouterr().out
    styles = result["styles"]
    assert result["phrasing_set"] == "heldout" and len(styles) == 13
    fiq_queries = sum(len(s.queries) for s in open_benchmark("fashioniq", synth_small / "fashioniq").eval_splits())
    for label in ("tiny", "sum"):
        for layout in ("fashioniq", "shoes"):
            r = result["checkpoints"][label][layout]
            assert set(r["rows"]) == {"published", "catalogue", *styles}
            assert all(0.0 <= row["R@10"] <= 100.0 for row in r["rows"].values())
            for group in ("frames", "all"):
                s = r["summary"][group]
                assert 0.0 <= s["spread"] <= 100.0 and 0.0 <= s["flip_share"] <= 100.0 and 0 < s["p_value"] <= 1
            assert r["summary"]["frames"]["styles"] == [x for x in styles if x not in ("misspelled", "synonyms")]
            assert r["tokens"]["polite"]["context_length"] > 0
            for style in styles:  # every rewritten text is a held-apart phrasing
                assert all(held_out_marker(t) for t in r["examples"][style]), style
        assert result["checkpoints"][label]["fashioniq"]["queries"] == fiq_queries


def test_benchmark_stops_cleanly_without_attributes(synth_small, tiny_checkpoint, tmp_path, capsys):
    real_like = tmp_path / "data" / "fashioniq"
    real_like.mkdir(parents=True)
    for name in ("captions", "image_splits", "images"):
        (real_like / name).symlink_to(synth_small / "fashioniq" / name)
    code = bench_paraphrase.main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "r"),
                                  "--layouts", "fashioniq", "--checkpoint", f"tiny={tiny_checkpoint}"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no product_descriptions.jsonl" in err and err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()


def test_training_texts_use_the_training_phrasings_only(synth_small):
    from training.examples import TripletExamples
    from training.phrasing_augment import PhrasingWording

    roots = {name: synth_small / name for name in ("fashioniq", "shoes")}
    triplets = [t for name, root in roots.items() for t in open_benchmark(name, root).triplets("train")]
    plain = TripletExamples(triplets, lambda t, i: i, lambda x: x, lambda xs: xs, seed=0)
    wording = PhrasingWording(roots, share=1.0, pairs=True)
    phrased = TripletExamples(triplets, lambda t, i: i, lambda x: x, lambda xs: xs, seed=0, wording=wording)
    again = TripletExamples(triplets, lambda t, i: i, lambda x: x, lambda xs: xs, seed=0, wording=wording)
    texts = [phrased.text(i, 1) for i in range(len(triplets))]
    assert texts == [again.text(i, 1) for i in range(len(triplets))]  # reproducible, so --resume is exact
    assert texts != [phrased.text(i, 2) for i in range(len(triplets))]  # drawn afresh each epoch
    assert all(held_out_marker(t) is None for t in texts)
    # The mixed catalogue's vague, partial, absolute and mistaken triplets keep their captions.
    kept = sum(t == p for t, p in zip(texts, (plain.text(i, 1) for i in range(len(triplets)))))
    assert 0.2 * len(triplets) < kept < 0.7 * len(triplets)
    second = wording.second(triplets[0], texts[0], random.Random(1))
    assert held_out_marker(second) is None


def test_focus_gives_the_styles_naming_the_old_value_their_share():
    from data_prep.phrasing import STYLES
    from training.phrasing_augment import FOCUS_STYLES, style_weights

    weights = dict(zip(STYLES, style_weights(0.4)))
    assert sum(weights.values()) == pytest.approx(1.0)
    assert sum(weights[s] for s in FOCUS_STYLES) == pytest.approx(0.4)
    assert len({w for s, w in weights.items() if s not in FOCUS_STYLES}) == 1
    assert style_weights(None) == [1.0] * len(STYLES)


def test_augmentation_needs_attributes(tmp_path):
    from training.phrasing_augment import PhrasingWording

    with pytest.raises(ValueError, match="product_descriptions.jsonl"):
        PhrasingWording({"fashioniq": tmp_path}, share=0.5)


def test_stage3_refuses_bad_phrasing_flags(synth_small, capsys):
    from training import stage3

    base = ["--data", f"fashioniq={synth_small / 'fashioniq'}", "--out", "unused", "--epochs", "1"]
    assert stage3.main(base + ["--phrasing-augment", "1.5"]) == 2
    assert "error: --phrasing-augment is a share between 0 and 1" in capsys.readouterr().err
    assert stage3.main(base + ["--phrasing-consistency", "0.5"]) == 2
    assert "needs --phrasing-augment above 0" in capsys.readouterr().err
    assert stage3.main(base + ["--phrasing-augment", "0.5", "--phrasing-focus", "-1"]) == 2
    assert "error: --phrasing-focus is a share between 0 and 1" in capsys.readouterr().err


@pytest.mark.slow  # four stage-3 runs and the paraphrase benchmark of five models: about 30 CPU-seconds
def test_phrasing_training_benchmark_trains_each_arm_and_summarises_over_seeds(synth_small, tiny_checkpoint,
                                                                                tmp_path, capsys):
    from benchmarks.phrasing import bench_training as bench

    work = tmp_path / "robust"
    argv = ["--train-data", str(synth_small), "--eval-data", str(synth_small), "--init", str(tiny_checkpoint),
            "--work", str(work), "--arms", "control", "augment", "--seeds", "0", "1", "--epochs", "1",
            "--permutations", "10", "--export-demo", str(tmp_path / "demo")]
    assert bench.main(argv) == 0
    from safetensors import safe_open  # the demo is the augment run of the first seed, stored in fp16

    demo_args = json.loads((tmp_path / "demo" / "training_args.json").read_text())
    assert demo_args["phrasing_augment"] == 0.5 and demo_args["seed"] == 0
    with safe_open(tmp_path / "demo" / "open_clip_model.safetensors", framework="pt") as weights:
        assert {str(weights.get_tensor(k).dtype) for k in weights.keys()} == {"torch.float16"}
    for seed in (0, 1):  # each arm trained with its own flags, from the start's composer
        control = json.loads((work / f"control_s{seed}" / "training_args.json").read_text())
        augment = json.loads((work / f"aug_s{seed}" / "training_args.json").read_text())
        assert control["phrasing_augment"] == 0.0 and augment["phrasing_augment"] == 0.5
        assert augment["init_composer"] and augment["seed"] == seed
    raw = json.loads((work / "paraphrase.json").read_text())["checkpoints"]
    summary = json.loads((work / "phrasing_training.json").read_text())["summary"]
    assert set(summary) == {"start", "start+reader", "control", "control+reader", "augment", "augment+reader"}
    for layout in ("fashioniq", "shoes"):
        rows = summary["augment+reader"][layout]
        assert rows["negation"] == [raw[f"augment#{s}+reader"][layout]["rows"]["negation"]["R@10"] for s in (0, 1)]
        assert rows["frames: spread"] == [raw[f"augment#{s}+reader"][layout]["summary"]["frames"]["spread"]
                                          for s in (0, 1)]
        assert len(rows["training catalogue: score"]) == 2
        assert "training catalogue: score" not in summary["start"][layout]
    assert "R@10 per held-apart style, mean ± sd over training seeds" in capsys.readouterr().out
    # Run again: nothing is trained or measured twice.
    logs = {p: p.read_bytes() for p in work.glob("*_s*/log.jsonl")}
    report = (work / "paraphrase.json").stat().st_mtime_ns
    assert bench.main(argv) == 0
    assert {p: p.read_bytes() for p in logs} == logs and (work / "paraphrase.json").stat().st_mtime_ns == report


def test_phrasing_training_benchmark_refuses_to_export_a_demo_without_the_augment_arm(tiny_checkpoint, tmp_path,
                                                                                     capsys):
    from benchmarks.phrasing import bench_training as bench

    for layout in ("fashioniq", "shoes"):
        (tmp_path / "data" / layout).mkdir(parents=True)
    data = tmp_path / "data"
    code = bench.main(["--train-data", str(data), "--eval-data", str(data), "--init",
                       str(tiny_checkpoint), "--work", str(tmp_path / "w"), "--arms", "control",
                       "--export-demo", str(tmp_path / "demo")])
    assert code == 2 and "add augment to --arms" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "demo").exists()


def test_phrasing_training_benchmark_refuses_a_folder_without_layouts(tiny_checkpoint, tmp_path, capsys):
    from benchmarks.phrasing import bench_training as bench

    code = bench.main(["--train-data", str(tmp_path), "--eval-data", str(tmp_path), "--init", str(tiny_checkpoint),
                       "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: --train-data") and err.count("\n") == 1


def test_unnamed_colour_words_each_variant_and_reports_them(synth_small, tiny_checkpoint, tmp_path):
    reference = {"category": "dress", "color": "white", "secondary_color": None, "pattern": "solid",
                 "sleeve": "short", "neckline": "crew", "length": "knee", "fit": "loose"}
    target = {**reference, "color": "black", "sleeve": "sleeveless"}
    model = unnamed_colour.load_checkpoint(tiny_checkpoint)
    texts = unnamed_colour.variant_texts(model, reference, target, None, "q0")
    assert "black" in texts["named"] and "sleeveless" in texts["named"]
    assert "black" not in texts["unnamed"] and "sleeveless" in texts["unnamed"]
    assert texts["not_reference"].endswith("is not white") and texts["different_colour"].endswith("different color")
    # only a colour with something more: a colour alone, or no colour, is not such a query
    assert unnamed_colour.variant_texts(model, reference, {**reference, "color": "black"}, None, "q1") is None
    assert unnamed_colour.variant_texts(model, reference, {**reference, "sleeve": "long"}, None, "q2") is None
    out = tmp_path / "unnamed"
    assert unnamed_colour.main(["--data", str(synth_small), "--checkpoint", str(tiny_checkpoint),
                                "--out", str(out)]) == 0
    result = json.loads(out.with_suffix(".json").read_text())
    for layout in ("fashioniq", "shoes"):
        r = result["layouts"][layout]
        assert 0 < r["queries"] <= r["of"] and set(r["R@10"]) == set(unnamed_colour.VARIANTS)
        assert all(0.0 <= x <= 100.0 for x in r["R@10"].values())
    assert "| unnamed |" in out.with_suffix(".md").read_text()


def test_unnamed_colour_refuses_a_folder_without_layouts(tiny_checkpoint, tmp_path, capsys):
    assert unnamed_colour.main(["--data", str(tmp_path), "--checkpoint", str(tiny_checkpoint),
                                "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "python -m data_prep.synth" in err and err.count("\n") == 1
