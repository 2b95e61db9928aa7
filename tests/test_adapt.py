"""Label-free adaptation (Grappa): pseudo-labels, adapters, fusion, neighbour propagation, the CLI and its outputs.

Tiny models (``cti-tiny``) on a tiny multi-view catalogue from the generator; seconds on a CPU.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cti_ir.model.adapter_files import AdapterError, load_adapters, write_adapted_checkpoint
from cti_ir.model.adapters import GranularityFusion, attach_adapters, granularity_name
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config
from cti_ir.adapt.pseudo_labels import default_granularities, kmeans, nearest_neighbours
from data_prep import synth_views
import training.adapt.tasks as adapt_tasks
import training.adapt.trainer as adapt
from training.adapt.data import prepare_images
from training.adapt.tasks import CosineClassifier, FusionModule, propagation_loss, propagation_targets

from tests.adapt_fixtures import FAST


def pixels(n=6, size=32, seed=0):
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def encode(model, x, granularity=None):
    model.eval()
    if granularity is None:
        return model.encode_images(x)
    with model.adapters.using(granularity):
        return model.encode_images(x)


# ------------------------------------------------------------------------------------------------ pseudo-labels
def clustered_features(seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, 16))
    x = np.concatenate([c + 0.3 * rng.standard_normal((20, 16)) for c in centres]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_pseudo_labels_are_deterministic_for_a_seed():
    x = clustered_features()
    a, ca = kmeans(x, 6, seed=3)
    b, cb = kmeans(x, 6, seed=3)
    assert np.array_equal(a, b) and np.array_equal(ca, cb)
    assert a.shape == (120,) and set(a.tolist()) == set(range(6))
    assert np.allclose(np.linalg.norm(ca, axis=1), 1.0, atol=1e-5)
    # The clusters follow the six groups the features were drawn from (k-means may merge two and split another).
    purity = sum(np.bincount(a[i * 20:(i + 1) * 20]).max() for i in range(6)) / 120
    assert purity >= 0.8
    assert not np.array_equal(kmeans(x, 6, seed=4)[1], ca)  # the seed matters


def test_default_granularities_scale_with_the_catalogue():
    assert default_granularities(3000) == [8, 32, 128, 512]
    assert default_granularities(40) == [8]
    big = default_granularities(1_000_000)
    assert len(big) == 5 and big[0] == 8 and big[-1] <= 250_000 and big == sorted(big)
    with pytest.raises(ValueError, match="too few"):
        default_granularities(20)


def test_nearest_neighbours_exclude_the_image_itself():
    x = clustered_features()
    nn = nearest_neighbours(x, 5)
    assert nn.shape == (120, 5)
    assert all(i not in row for i, row in enumerate(nn))
    assert (nn[:20] < 20).all()  # neighbours come from the image's own group


def test_granularity_names():
    assert granularity_name("64") == granularity_name("k64") == granularity_name(64) == "k64"
    assert granularity_name("Fusion") == "fusion" and granularity_name("off") == "off"
    with pytest.raises(ValueError, match="unknown granularity"):
        granularity_name("coarse")


# ------------------------------------------------------------------------------------------- adapters, fusion
def test_fresh_adapters_give_the_frozen_features(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint)
    x = pixels()
    frozen = encode(model, x)
    adapters = attach_adapters(model, granularities=[4, 8])
    for name in ("fusion", "k4", "k8", "off"):
        assert torch.equal(encode(model, x, name), frozen), name
    # Adapters that moved away from zero do change the features (so the check above is not vacuous).
    with torch.no_grad():
        for p in adapters.parameters():
            p.add_(0.05 * torch.randn_like(p))
    assert not torch.allclose(encode(model, x, "fusion"), frozen)
    assert torch.equal(encode(model, x, "off"), frozen)


def test_fusion_attentions_sum_to_one(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint)
    torch.manual_seed(0)  # before attaching: the adapters' initial weights come from the global generator too
    adapters = attach_adapters(model, granularities=[4, 8, 16])
    with torch.no_grad():
        for p in adapters.parameters():
            p.add_(0.1 * torch.randn_like(p))
        with adapters.recording() as attentions:
            model.encode_images(pixels(5))
    assert len(attentions) == adapters.config.n_blocks
    for a in attentions:
        assert a.shape == (5, 3)
        assert torch.allclose(a.sum(-1), torch.ones(5), atol=1e-6)
        assert (a > 0).all() and (a < 1).all()
        assert not torch.allclose(a, torch.full_like(a, 1 / 3))  # the weights depend on the image


def test_neighbour_propagation_moves_an_attention_towards_its_neighbours():
    torch.manual_seed(0)
    fusion = GranularityFusion(dim=16, n_sets=3, key_dim=8)
    with torch.no_grad():
        fusion.key.weight.normal_(0, 0.5)  # start away from uniform
    pooled, residuals = torch.randn(1, 16), torch.randn(1, 3, 16)
    bank = torch.tensor([[[1 / 3, 1 / 3, 1 / 3]], [[0.8, 0.1, 0.1]], [[0.7, 0.2, 0.1]], [[0.9, 0.05, 0.05]]])
    target = propagation_targets(bank, torch.tensor([[1, 2, 3]]))       # image 0's neighbours: 1, 2, 3
    assert torch.allclose(target, torch.tensor([[[0.8, 0.35 / 3, 0.25 / 3]]]))
    optimizer = torch.optim.SGD(fusion.parameters(), lr=0.05)
    before = propagation_loss(fusion(pooled, residuals)[:, None], target).item()
    for _ in range(20):
        optimizer.zero_grad()
        propagation_loss(fusion(pooled, residuals)[:, None], target).backward()
        optimizer.step()
    attention = fusion(pooled, residuals)
    assert propagation_loss(attention[:, None], target).item() < before / 2
    assert attention[0, 0] > 0.6  # towards the neighbours' preference for the first set


def test_fusion_module_pulls_towards_neighbours_and_updates_the_bank(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint)
    adapters = attach_adapters(model, granularities=[4, 8])
    torch.manual_seed(0)
    with torch.no_grad():
        for p in adapters.parameters():
            p.add_(0.5 * torch.randn_like(p))
    dim = model.embed_dim
    classifiers = [CosineClassifier(torch.randn(4, dim)), CosineClassifier(torch.randn(8, dim))]
    neighbours = np.array([[1, 2], [0, 2], [0, 1], [0, 1]])
    module = FusionModule(model, classifiers, neighbours, n_images=4, propagation_weight=1.0)
    module.bank[1:3] = torch.tensor([0.9, 0.1])                         # images 1 and 2 prefer the first set
    batch = {"pixels": pixels(1), "labels": torch.tensor([[0, 0]]), "index": torch.tensor([0])}
    _, logs = module(batch, None)
    attention = module.bank[0]                                           # the batch's attentions are stored
    assert attention.shape == (adapters.config.n_blocks, 2)
    assert torch.allclose(attention.sum(-1), torch.ones(adapters.config.n_blocks))
    assert not torch.allclose(attention, torch.full_like(attention, 0.5))
    target = torch.tensor([0.9, 0.1]).expand_as(attention)
    assert float(logs["propagation_loss"]) == pytest.approx(float(propagation_loss(attention, target)), rel=1e-5)
    assert torch.equal(module.bank[3], torch.full_like(module.bank[3], 0.5))  # not in the batch: untouched


# ----------------------------------------------------------------------------------------------- the CLI
def test_adapt_writes_a_checkpoint_that_every_tool_loads(adapted, tiny_checkpoint):
    config = read_checkpoint_config(adapted)
    base = read_checkpoint_config(tiny_checkpoint)
    # The base files are copied byte for byte, so the base fingerprint is the base checkpoint's.
    for name, sha in base["files"].items():
        assert config["files"][name] == sha
        assert (adapted / name).read_bytes() == (tiny_checkpoint / name).read_bytes()
    assert config["base_fingerprint"] == base["fingerprint"] != config["fingerprint"]
    assert {"adapter_config.json", "adapters.safetensors"} <= set(config["files"])
    model = load_checkpoint(adapted)
    assert model.adapters.names == ["fusion", "k4", "k8", "off"]
    # The default granularity is the coarsest set (--default-granularity coarsest); the checkpoint's recorded
    # fingerprint is the fusion's space.
    assert model.adapters.default == "k4" and model.fingerprint == f"{config['fingerprint']}-k4"
    assert load_checkpoint(adapted, granularity="fusion").fingerprint == config["fingerprint"]
    assert load_checkpoint(adapted, granularity="k8").fingerprint == f"{config['fingerprint']}-k8"
    assert load_checkpoint(adapted, granularity="off").fingerprint == base["fingerprint"]
    x = pixels()
    frozen = encode(load_checkpoint(tiny_checkpoint), x)
    assert torch.allclose(encode(model, x, "off"), frozen, atol=1e-6)
    features = {g: encode(model, x, g) for g in ("fusion", "k4", "k8")}
    assert all(not torch.allclose(f, frozen, atol=1e-4) for f in features.values())  # training moved them
    metrics = json.loads((adapted / "metrics.json").read_text())
    assert metrics["granularities"] == [4, 8] and metrics["images"] == 48
    assert metrics["added_parameters"]["total"] > 0
    with pytest.raises(CheckpointError, match="no adapter set for granularity k16"):
        load_checkpoint(adapted, granularity="16")
    with pytest.raises(CheckpointError, match="has no adapters"):
        load_checkpoint(tiny_checkpoint, granularity="k8")


def test_adapters_for_another_model_are_refused(adapted, tmp_path):
    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    torch.manual_seed(1)
    other = load_checkpoint(save_checkpoint(CIRModel.create("cti-tiny"), tmp_path / "other"))
    with pytest.raises(AdapterError, match="were trained for model"):
        load_adapters(adapted, other)
    with pytest.raises(AdapterError, match="not on"):
        model = load_checkpoint(adapted)
        write_adapted_checkpoint(tmp_path / "other", model, tmp_path / "mixed")


def test_corrupt_adapter_weights_are_refused(adapted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(adapted, copy)
    data = bytearray((copy / "adapters.safetensors").read_bytes())
    data[-1] ^= 0xFF
    (copy / "adapters.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match the checksum"):
        load_checkpoint(copy)


def test_an_interrupted_adaptation_resumes_to_the_same_adapters(adapted, views, tiny_checkpoint, tmp_path,
                                                                monkeypatch, capsys):
    argv = ["--checkpoint", str(tiny_checkpoint), "--images", str(views / "adapt"), "--out", str(tmp_path / "out"),
            *FAST]

    def interrupt_after(cls, calls):
        original, seen = cls.forward, {"n": 0}

        def forward(self, batch, gather):
            seen["n"] += 1
            if seen["n"] > calls:
                raise KeyboardInterrupt("simulated kill")
            return original(self, batch, gather)
        monkeypatch.setattr(cls, "forward", forward)

    interrupt_after(adapt_tasks.FusionModule, 4)   # killed in the fusion's second epoch (its memory bank filled)
    with pytest.raises(KeyboardInterrupt):
        adapt.main(argv)
    monkeypatch.undo()
    assert not (tmp_path / "out").exists()
    assert adapt.main(argv + ["--resume"]) == 0  # the sets are reused, the fusion continues from its last state
    assert "finished earlier, reused" in capsys.readouterr().err
    straight = load_file(str(adapted / "adapters.safetensors"))
    resumed = load_file(str(tmp_path / "out" / "adapters.safetensors"))
    assert straight.keys() == resumed.keys()
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)


def test_a_work_folder_is_reused_only_with_resume(adapted, views, tiny_checkpoint, capsys):
    argv = ["--checkpoint", str(tiny_checkpoint), "--images", str(views / "adapt"), "--out", str(adapted), *FAST]
    assert adapt.main(argv) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert adapt.main(argv + ["--resume"]) == 0  # everything finished earlier is reused
    assert "finished earlier, reused" in capsys.readouterr().err


def test_bad_files_are_reported_and_skipped_only_with_a_flag(views, tiny_checkpoint, tmp_path, capsys):
    images = tmp_path / "shop"
    shutil.copytree(views / "adapt", images)
    (images / "dress" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (images / "notes.txt").write_text("prices")
    (images / ".DS_Store").write_bytes(b"\0\0")  # hidden files are not part of the catalogue
    argv = ["--checkpoint", str(tiny_checkpoint), "--images", str(images), "--out", str(tmp_path / "out"), *FAST]
    assert adapt.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 2 file(s)") and "broken.jpg" in err and "notes.txt" in err and "--skip-bad" in err
    assert ".DS_Store" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    # With the flag, the same preparation leaves them out and lists them.
    prepared = prepare_images(load_checkpoint(tiny_checkpoint), images, tmp_path / "work", skip_bad=True,
                              progress=False)
    assert len(prepared) == 48 and prepared.features.shape == (48, 32) and prepared.pixels.shape[0] == 48
    assert sorted(s["path"].rsplit("/", 1)[-1] for s in prepared.skipped) == ["broken.jpg", "notes.txt"]
    listing = json.loads((tmp_path / "work" / "prepared" / "images.json").read_text())
    assert listing["skipped"] == prepared.skipped and "dress/broken.jpg" not in listing["paths"]


def test_every_flag_is_explained():
    from benchmarks.grappa import bench_grappa, grappa_composed

    from tests.cli_help import help_problems

    for parser in (adapt.build_parser(), synth_views.build_parser(), bench_grappa.build_parser(),
                   grappa_composed.build_parser()):
        assert help_problems(parser) == []  # each flag has its own help; a default it states is the parser's


def test_default_granularity_names_a_space_the_adaptation_makes(tiny_checkpoint, tmp_path, capsys):
    from cti_ir.adapt.pseudo_labels import serving_granularity

    assert serving_granularity("coarsest", [32, 8, 128]) == "k8"
    assert serving_granularity("Fusion", [8, 32]) == "fusion" and serving_granularity("32", [8, 32]) == "k32"
    assert serving_granularity("off", [8]) == "off"
    base = ["--checkpoint", str(tiny_checkpoint), "--images", str(tmp_path), "--out", str(tmp_path / "out")]
    # Refused before any image is read: an unknown word, and a set the adaptation will not train.
    assert adapt.main(base + ["--default-granularity", "finest"]) == 2
    assert "use coarsest, fusion, off or one of the adapter sets" in capsys.readouterr().err
    assert adapt.main(base + ["--granularities", "4,8", "--default-granularity", "k16"]) == 2
    assert "no adapter set has 16 clusters (the sets: k4, k8)" in capsys.readouterr().err
