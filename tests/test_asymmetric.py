"""Asymmetric search: transformations (training.fit_embedding_map), the ensemble gallery encoder, uncertainty and rejection,
ensemble index build / resume / add, the compatibility checks, and the degraded-catalogue tool.

Query and gallery models are random ``cti-tiny`` checkpoints (different seeds), the images are the generator's
``small`` catalogue; everything runs on the CPU in seconds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cti_ir.index.catalogue_index as index_mod
import cti_ir.model.checkpoint
import cti_ir.index.cli as index_cli
from cti_ir.index.catalogue import items_from_benchmark
from cti_ir.model.checkpoint import load_checkpoint, save_checkpoint
from cti_ir.asymmetric.ensemble import (EnsembleEncoder, load_ensemble, pairwise_uncertainty, rejection_mask,
                            split_member_spec)
from cti_ir.index.catalogue_index import ITEMS_FILE, REJECTED_FILE, add_to_index, build_index, read_index_info
from cti_ir.model.cir_model import CIRModel
from cti_ir.serve.engine import SearchEngine
from cti_ir.asymmetric.embedding_maps import (EmbeddingMapError, build_embedding_map, init_linear_least_squares, load_embedding_map,
                               save_embedding_map)
import training.fit_embedding_map.trainer as fit_map

from tests.test_index import stored_vectors


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def gallery_ckpts(tmp_path_factory):
    """Two gallery models: random cti-tiny checkpoints of other seeds than the query model."""
    out = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        out.append(save_checkpoint(CIRModel.create("cti-tiny"), tmp_path_factory.mktemp("gallery") / f"g{seed}"))
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synth_small, tiny_checkpoint, gallery_ckpts):
    """One transformation per gallery model, trained on the catalogue's Fashion-IQ training images (the first from a
    random linear part, the second from the default closed-form least-squares start)."""
    work = tmp_path_factory.mktemp("compat")
    runs = []
    for k, g in enumerate(gallery_ckpts):
        run = work / f"run{k}"
        code = fit_map.main(["--query", str(tiny_checkpoint), "--gallery", str(g), "--data",
                            f"fashioniq={synth_small / 'fashioniq'}", "--cache", str(work / "cache"), "--out", str(run),
                            "--epochs", "6", "--batch-size", "64", "--lr", "3e-3", "--seed", str(k), "--no-progress",
                            "--threads", "1", *(["--no-init-least-squares"] if k == 0 else [])])
        assert code == 0
        runs.append(run)
    return runs


def test_transformation_trains_and_reduces_its_loss(trained):
    log = _read_jsonl(trained[0] / "log.jsonl")
    losses = [r["align_loss"] for r in log if "align_loss" in r]
    assert len(losses) >= 40
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])
    evals = [r["eval"] for r in log if "eval" in r]
    assert evals[-1]["mean_cosine"] > evals[0]["mean_cosine"]
    config = json.loads((trained[0] / "best" / "transform_config.json").read_text())
    assert config["query_fingerprint"] == load_checkpoint(json.loads(
        (trained[0] / "training_args.json").read_text())["query"]).fingerprint


def test_transformation_folder_round_trips_and_refuses_tampering(tmp_path):
    torch.manual_seed(0)
    t = build_embedding_map("bottleneck", 48, 32, bottleneck=8, paths=2)
    x = F.normalize(torch.randn(5, 48), dim=-1)
    folder = save_embedding_map(t, tmp_path / "t", name="bottleneck", kwargs={"bottleneck": 8, "paths": 2}, d_in=48,
                            d_out=32, query_fingerprint="q", gallery_fingerprints=["g"])
    loaded, config = load_embedding_map(folder)
    torch.testing.assert_close(loaded(x), t.eval()(x))
    assert torch.allclose(loaded(x).norm(dim=-1), torch.ones(5))
    weights = folder / "transform.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF                                  # one flipped byte inside the tensors
    weights.write_bytes(bytes(data))
    with pytest.raises(EmbeddingMapError, match="checksum"):
        load_embedding_map(folder)


def test_least_squares_start_recovers_a_linear_relation():
    torch.manual_seed(0)
    x = F.normalize(torch.randn(400, 24), dim=-1)
    a, b = torch.randn(24, 16), torch.randn(16)
    y = F.normalize(x @ a + b, dim=-1)
    t = build_embedding_map("bottleneck", 24, 16, bottleneck=8, paths=2)
    assert (t(x) * y).sum(-1).mean() < 0.5                      # a random start is far off
    init_linear_least_squares(t, x, y, ridge=1e-6)
    assert (t(x) * y).sum(-1).mean() > 0.99                     # paths start at zero: the fitted map alone


def test_uncertainty_is_the_mean_pairwise_distance():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.0, 1.0]])
    c = torch.tensor([[-1.0, 0.0]])
    u = pairwise_uncertainty(torch.stack([a, b, c]))
    expected = (math.sqrt(2) + 2 + math.sqrt(2)) / 3   # |a-b|, |a-c|, |b-c|
    assert u.shape == (1,)
    assert u.item() == pytest.approx(expected)
    assert pairwise_uncertainty(torch.stack([a, a, a])).item() == pytest.approx(0.0)


def test_rejection_mask_by_fraction_and_threshold():
    u = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    reject, threshold = rejection_mask(u, fraction=0.4)
    assert reject.tolist() == [False, True, False, True, False]
    assert threshold == pytest.approx(0.7)
    reject, _ = rejection_mask(u, threshold=0.4)
    assert reject.tolist() == [False, True, True, True, False]
    assert not rejection_mask(u)[0].any()
    with pytest.raises(ValueError, match="not both"):
        rejection_mask(u, 0.1, 0.5)


@pytest.fixture(scope="module")
def ensemble(tiny_checkpoint, gallery_ckpts, trained):
    query = load_checkpoint(tiny_checkpoint)
    specs = [f"{gallery_ckpts[0]}:{trained[0] / 'best'}", str(trained[1] / "best")]  # second: recorded gallery
    return query, load_ensemble(query, specs)


def test_ensemble_vector_is_the_renormalised_mean_of_the_transformed_ones(ensemble, gallery_ckpts, trained, synth_small):
    query, enc = ensemble
    items = items_from_benchmark("fashioniq", synth_small / "fashioniq", ["val"])[:6]
    from cti_ir.model.images import load_image

    images = [load_image(it.path) for it in items]
    pixels = tuple(torch.stack(p) for p in zip(*(enc.preprocess(im) for im in images)))
    out = enc.encode(pixels)
    manual = []
    for g, run in zip(gallery_ckpts, trained):
        model = load_checkpoint(g)
        transform, _ = load_embedding_map(run / "best")
        with torch.no_grad():
            manual.append(transform(model.encode_images(torch.stack([model.preprocess(im) for im in images]))))
    expected = F.normalize((manual[0] + manual[1]) / 2, dim=-1)
    torch.testing.assert_close(out.vectors, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out.uncertainty, (manual[0] - manual[1]).norm(dim=-1), atol=1e-5, rtol=0)


def test_mismatched_transformation_or_gallery_model_is_refused(tiny_checkpoint, gallery_ckpts, trained, tmp_path,
                                                               synth_small, capsys, monkeypatch):
    query = load_checkpoint(tiny_checkpoint)
    # The refusals name the checkpoints the transformation's config records, not only fingerprints.
    with pytest.raises(EmbeddingMapError, match="was trained on the gallery model") as refused:
        load_ensemble(query, [f"{gallery_ckpts[1]}:{trained[0] / 'best'}"])   # the other gallery model
    assert str(Path(gallery_ckpts[0]).resolve()) in str(refused.value) and str(gallery_ckpts[1]) in str(refused.value)
    other_query = load_checkpoint(gallery_ckpts[0])
    with pytest.raises(EmbeddingMapError, match="maps into the space of the query model") as refused:
        load_ensemble(other_query, [str(trained[0] / "best")])
    assert str(Path(tiny_checkpoint).resolve()) in str(refused.value)

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the transformation was checked")

    monkeypatch.setattr(cti_ir.model.checkpoint, "load_checkpoint", no_loading)  # refused from the config files
    code = index_cli.main(["build", "--checkpoint", str(gallery_ckpts[0]), "--gallery-model",
                           str(trained[0] / "best"), "--dataset", "fashioniq", "--root",
                           str(synth_small / "fashioniq"), "--out", str(tmp_path / "idx"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: transformation") and "Traceback" not in err
    assert str(Path(tiny_checkpoint).resolve()) in err and not (tmp_path / "idx").exists()
    with pytest.raises(ValueError, match="GALLERY_CHECKPOINT:TRANSFORM"):
        split_member_spec(str(tmp_path / "missing") + ":" + str(tmp_path / "also-missing"))


def test_rejection_keeps_the_report_loses_no_image_and_is_reversible(ensemble, synth_small, tmp_path, monkeypatch,
                                                                     tiny_checkpoint):
    query, enc = ensemble
    items = items_from_benchmark("fashioniq", synth_small / "fashioniq", ["val"])
    out = tmp_path / "idx"
    info = build_index(query, items, out, chunk_size=64, progress=False, gallery=enc, reject_fraction=0.1)
    kept, rejected = _read_jsonl(out / ITEMS_FILE), _read_jsonl(out / REJECTED_FILE)
    assert len(rejected) == round(0.1 * len(items)) == info["rejection"]["rejected"]
    assert sorted(it["image_id"] for it in kept + rejected) == sorted(it.image_id for it in items)
    assert min(it["uncertainty"] for it in rejected) >= max(it["uncertainty"] for it in kept)
    assert info["count"] == len(kept) and info["gallery"]["mode"] == "asymmetric"
    # The same build with another rule re-finalises from the stored embeddings: nothing is encoded again.
    calls = []
    real = index_mod.embed_items
    monkeypatch.setattr(index_mod, "embed_items", lambda *a, **k: calls.append(1) or real(*a, **k))
    info = build_index(query, items, out, chunk_size=64, progress=False, gallery=enc, reject_fraction=0.0)
    assert calls == [] and info["count"] == len(items) and _read_jsonl(out / REJECTED_FILE) == []
    # The app and the engine need only the query model.
    engine = SearchEngine(tiny_checkpoint, out)
    assert len(engine.search(text="is red", k=5).hits) == 5


def test_interrupted_ensemble_build_resumes_to_the_same_index(ensemble, synth_small, tmp_path, monkeypatch):
    query, enc = ensemble
    items = items_from_benchmark("fashioniq", synth_small / "fashioniq", ["val"])
    build_index(query, items, tmp_path / "whole", chunk_size=64, progress=False, gallery=enc, reject_fraction=0.05)
    real, calls = index_mod.embed_items, []

    def crash_after_two(*a, **k):
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(index_mod, "embed_items", crash_after_two)
    with pytest.raises(RuntimeError, match="simulated crash"):
        build_index(query, items, tmp_path / "resumed", chunk_size=64, progress=False, gallery=enc,
                    reject_fraction=0.05)
    monkeypatch.setattr(index_mod, "embed_items", real)
    build_index(query, items, tmp_path / "resumed", chunk_size=64, progress=False, gallery=enc, reject_fraction=0.05)
    for name in (ITEMS_FILE, REJECTED_FILE):
        assert (tmp_path / "resumed" / name).read_text() == (tmp_path / "whole" / name).read_text()
    np.testing.assert_array_equal(stored_vectors(tmp_path / "resumed"), stored_vectors(tmp_path / "whole"))


def test_add_to_an_ensemble_index_uses_the_recorded_members(ensemble, synth_small, tmp_path, tiny_checkpoint):
    query, enc = ensemble
    val = items_from_benchmark("fashioniq", synth_small / "fashioniq", ["val"])
    test = items_from_benchmark("fashioniq", synth_small / "fashioniq", ["test"])
    out = tmp_path / "idx"
    build_index(query, val, out, chunk_size=64, progress=False, gallery=enc, reject_fraction=0.1)
    code = index_cli.main(["add", "--index", str(out), "--checkpoint", str(tiny_checkpoint), "--dataset", "fashioniq",
                           "--root", str(synth_small / "fashioniq"), "--splits", "val", "test", "--no-progress"])
    assert code == 0
    info = read_index_info(out)
    ids = {it["image_id"] for it in _read_jsonl(out / ITEMS_FILE) + _read_jsonl(out / REJECTED_FILE)}
    assert ids == {it.image_id for it in val + test}          # nothing lost, nothing twice
    assert info["count"] + info["rejection"]["rejected"] == len(ids)
    assert info["rejection"]["rejected"] == round(0.1 * len(ids))   # the rule applies to the whole catalogue
    # A symmetric add to an ensemble index is refused.
    with pytest.raises(index_mod.IndexMismatchError, match="same --gallery-model"):
        add_to_index(query, test, out, progress=False)


def test_degraded_copy_degrades_only_the_chosen_share(synth_small, tmp_path):
    from data_prep import degrade

    out = tmp_path / "deg"
    assert degrade.main(["--dataset", "shoes", "--root", str(synth_small / "shoes"), "--out", str(out),
                         "--fraction", "0.1", "--no-progress"]) == 0
    report = json.loads((out / degrade.REPORT_FILE).read_text())
    from cti_ir.data import open_benchmark

    original, copy = open_benchmark("shoes", synth_small / "shoes"), open_benchmark("shoes", out)
    test_ids = original.split_images("test")
    assert len(report["degraded"]) == round(0.1 * len(test_ids))
    assert set(report["degraded"].values()) == set(degrade.KINDS)
    for image_id in test_ids:
        same = original.image_path(image_id).read_bytes() == copy.image_path(image_id).read_bytes()
        assert same != (image_id in report["degraded"])
    assert len(copy.triplets("test")) == len(original.triplets("test"))
    assert degrade.main(["--dataset", "shoes", "--root", str(synth_small / "shoes"), "--out",
                         str(synth_small / "shoes" / "inside")]) == 2


def test_rejection_scoring_of_the_benchmark_by_hand():
    from benchmarks.asymmetric.asymmetric_eval import rejection_precision
    from benchmarks.asymmetric.bench_asymmetric import caught_by_kind

    # 20 images, 2 degraded; the most uncertain 10% (2 images) hold one of them.
    uncertainty = {f"i{k}": float(k) for k in range(20)}
    degraded = {"i19": "blur", "i3": "noise"}
    p = rejection_precision(uncertainty, set(degraded), 0.1)
    assert (p["rejected"], p["degraded_among_rejected"], p["precision"], p["random_precision"]) == (2, 1, 0.5, 0.1)
    assert caught_by_kind(uncertainty, list(uncertainty), degraded, 0.1) == {
        "blur": {"degraded": 1, "rejected": 1}, "noise": {"degraded": 1, "rejected": 0}}


def test_benchmark_flags_are_explained():
    from benchmarks.asymmetric import asymmetric_refit, bench_asymmetric
    import training.fit_embedding_map.trainer as fit_map

    from tests.cli_help import help_problems

    for parser in (bench_asymmetric.build_parser(), asymmetric_refit.build_parser(), fit_map.build_parser()):
        assert help_problems(parser) == []  # each flag has its own help; a default it states is the parser's
