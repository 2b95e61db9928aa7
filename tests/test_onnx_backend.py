"""The inference backends (`cti_ir.model.onnx_export`, `onnx_backend`, `inference`) and the text cache.

The export runs once per module on a tiny random model (``cti-tiny``); everything else reads that folder or a
copy of it. ONNX Runtime's absence is simulated by hiding the module (``sys.modules[name] = None`` makes its import
fail), which is what a machine without the ``onnx`` extra sees.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.inference import InferenceModel, eligible_backends, load_inference_model
from cti_ir.model.onnx_backend import (
    ACCURACY_FILE,
    ACCURACY_FORMAT,
    CONFIG_FILE,
    OnnxError,
    read_onnx_config,
)
from cti_ir.model.text_cache import TextEmbeddingCache, normaliser_for
from tests.test_index import save_tiny_checkpoint

pytest.importorskip("onnxruntime", reason="the onnx extra (pip install -e '.[dev]') is not installed")
pytest.importorskip("onnxscript", reason="the onnx extra (pip install -e '.[dev]') is not installed")

TEXTS = ["", "is red", "Is  RED", "is shorter and black with long sleeves and a floral print", "very " * 40]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx")


@pytest.fixture(scope="module")
def checkpoint(workdir) -> Path:
    return save_tiny_checkpoint(workdir / "ckpt")


@pytest.fixture(scope="module")
def export(checkpoint) -> Path:
    from cti_ir.model.onnx_export import main

    assert main(["--checkpoint", str(checkpoint)]) == 0
    return checkpoint / "onnx"


def hide_onnxruntime(monkeypatch) -> None:
    for name in [n for n in sys.modules if n == "onnxruntime" or n.startswith("onnxruntime.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)


# ------------------------------------------------------------------------------------------------ the export
@torch.no_grad()
def test_export_round_trip_gives_pytorchs_outputs(checkpoint, export):
    config = json.loads((export / CONFIG_FILE).read_text())
    assert config["checkpoint_fingerprint"] == json.loads((checkpoint / "cti_config.json").read_text())["fingerprint"]
    assert config["towers"]["text"]["truncate"] == "argmax"  # open_clip's causal text tower: variable length
    reference = load_checkpoint(checkpoint)
    pixels = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    want_images, want_texts = reference.encode_images(pixels), reference.encode_texts(TEXTS)
    for backend, tolerance, min_cosine in (("onnx", 1e-5, 0.99999), ("onnx-int8", 0.1, 0.98)):
        model = load_inference_model(checkpoint, backend, text_cache_size=0)
        assert model.image_tower is not None and model.text_tower is not None
        images, texts = model.encode_images(pixels), model.encode_texts(TEXTS)
        assert images.shape == want_images.shape and texts.shape == want_texts.shape
        assert (images - want_images).abs().max() <= tolerance, backend
        assert (texts - want_texts).abs().max() <= tolerance, backend  # rows of many lengths, cut after end of text
        assert (images * want_images).sum(1).min() >= min_cosine and (texts * want_texts).sum(1).min() >= min_cosine
        # The rest is the model's: the composer composes the backend's features.
        query = model.compose(images, texts[:3]).query
        assert query.shape == (3, 32) and torch.allclose(query.norm(dim=1), torch.ones(3), atol=1e-5)


@torch.no_grad()
def test_the_exported_composer_composes_as_pytorch_and_manual_weights_stay_in_pytorch(checkpoint, export):
    config = json.loads((export / CONFIG_FILE).read_text())
    assert config["composer"]["file"] in config["files"]  # its SHA-256 is checked like a tower's
    assert config["round_trip"]["composer"]["fp32"]["max_abs_diff"] <= 1e-5
    reference = load_checkpoint(checkpoint)
    generator = torch.Generator().manual_seed(2)
    images = torch.nn.functional.normalize(torch.randn(5, 32, generator=generator), dim=-1)
    texts = torch.nn.functional.normalize(torch.randn(5, 32, generator=generator), dim=-1)
    for backend in ("onnx", "onnx-int8"):
        model = load_inference_model(checkpoint, backend, text_cache_size=0)
        assert model.onnx_composer is not None and "composer on ONNX Runtime" in model.describe_backend()
        for rows in (slice(0, 5), slice(2, 3)):  # a batch and a single query
            want, got = reference.compose(images[rows], texts[rows]), model.compose(images[rows], texts[rows])
            for name in ("query", "image_weight", "text_weight"):
                assert torch.allclose(getattr(got, name), getattr(want, name), atol=1e-5), (backend, name)
    calls = []
    real = model.onnx_composer
    model.onnx_composer = lambda *a: calls.append(a) or real(*a)
    manual = (torch.full((5,), 0.8), torch.full((5,), 0.2))
    got = model.compose(images, texts, manual)
    assert calls == [] and torch.allclose(got.image_weight, manual[0])
    assert torch.allclose(got.query, reference.compose(images, texts, manual).query, atol=1e-6)
    model.compose(images, texts)
    assert len(calls) == 1


@torch.no_grad()
def test_an_export_without_a_composer_composes_in_pytorch(checkpoint, export, tmp_path):
    """An export written before the composer was exported (no ``composer`` entry) still serves."""
    copy = shutil.copytree(export, tmp_path / "onnx")
    config = json.loads((copy / CONFIG_FILE).read_text())
    (copy / config["composer"]["file"]).unlink()
    del config["files"][config["composer"]["file"]], config["composer"], config["round_trip"]["composer"]
    (copy / CONFIG_FILE).write_text(json.dumps(config))
    model = load_inference_model(checkpoint, "onnx", onnx_dir=copy)
    assert model.onnx_composer is None and model.describe_backend() == "onnx (image and text towers on ONNX Runtime)"
    images = torch.nn.functional.normalize(torch.randn(3, 32), dim=-1)
    assert torch.allclose(model.compose(images, images.flip(0)).query,
                          load_checkpoint(checkpoint).compose(images, images.flip(0)).query, atol=1e-6)


def test_a_changed_composer_file_is_refused(checkpoint, export, tmp_path):
    copy = shutil.copytree(export, tmp_path / "onnx")
    with open(copy / "composer_fp32.onnx", "ab") as f:
        f.write(b"\0")
    for backend in ("onnx", "onnx-int8"):
        with pytest.raises(OnnxError, match="composer_fp32.onnx does not match the SHA-256"):
            load_inference_model(checkpoint, backend, onnx_dir=copy)


@torch.no_grad()
def test_the_onnx_backend_builds_the_same_index(checkpoint, export, workdir):
    from cti_ir.index.catalogue import items_from_folder
    from cti_ir.index.catalogue_index import build_index
    from tests.test_index import draw_catalogue, stored_vectors

    items = items_from_folder(draw_catalogue(workdir / "catalogue", per_category=4))
    build_index(load_checkpoint(checkpoint), items, workdir / "index-torch", chunk_size=64, progress=False)
    build_index(load_inference_model(checkpoint, "onnx"), items, workdir / "index-onnx", chunk_size=64,
                progress=False)
    torch_vectors, onnx_vectors = stored_vectors(workdir / "index-torch"), stored_vectors(workdir / "index-onnx")
    assert abs(torch_vectors - onnx_vectors).max() < 1e-5


def test_export_refuses_a_folder_that_is_not_an_export(checkpoint, tmp_path, capsys):
    from cti_ir.model.onnx_export import main

    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.txt").write_text("mine")
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "photos")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an ONNX export" in err and "Traceback" not in err
    assert (tmp_path / "photos" / "keep.txt").read_text() == "mine"


# --------------------------------------------------------------------------------------- refusals, fallback
def test_an_export_of_another_checkpoint_is_refused(export, workdir):
    other = save_tiny_checkpoint(workdir / "other", seed=1)
    with pytest.raises(OnnxError, match="was made from the checkpoint with fingerprint .* not from this one"):
        load_inference_model(other, "onnx", onnx_dir=export)


def test_a_changed_file_is_refused(checkpoint, export, tmp_path):
    copy = shutil.copytree(export, tmp_path / "onnx")
    with open(copy / "text_int8.onnx", "r+b") as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 1]))
    with pytest.raises(OnnxError, match="text_int8.onnx does not match the SHA-256"):
        load_inference_model(checkpoint, "onnx-int8", onnx_dir=copy)
    assert load_inference_model(checkpoint, "onnx", onnx_dir=copy).backend == "onnx"  # fp32 files are intact


def test_an_onnx_backend_without_an_export_says_how_to_make_one(checkpoint, tmp_path):
    with pytest.raises(OnnxError, match="no ONNX export in .*python -m cti_ir.model.onnx_export --checkpoint"):
        load_inference_model(checkpoint, "onnx", onnx_dir=tmp_path / "none")


def test_without_onnxruntime_every_backend_falls_back_to_pytorch_with_one_notice(checkpoint, export, monkeypatch):
    hide_onnxruntime(monkeypatch)
    notices = []
    for backend in ("onnx", "onnx-int8", "auto"):
        model = load_inference_model(checkpoint, backend, notify=notices.append)
        assert model.backend == "torch" and model.image_tower is None and model.text_tower is None
    assert len(notices) == 3 and all("onnxruntime is not installed" in n and "\n" not in n for n in notices)
    with torch.no_grad():
        assert model.encode_texts(["is red"]).shape == (1, 32)


def test_without_onnxruntime_the_export_command_says_what_to_install(checkpoint, monkeypatch, tmp_path, capsys):
    from cti_ir.model.onnx_export import main

    hide_onnxruntime(monkeypatch)
    assert main(["--checkpoint", str(checkpoint), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "pip install 'cti-ir[onnx]'" in err


# ------------------------------------------------------------------------------------------------------ auto
def test_auto_takes_int8_only_where_its_accuracy_was_measured_and_met_the_bar(checkpoint, export, tmp_path,
                                                                             monkeypatch):
    import cti_ir.model.inference as inference

    folder = shutil.copytree(export, tmp_path / "onnx")
    config = read_onnx_config(folder, json.loads((checkpoint / "cti_config.json").read_text())["fingerprint"])
    assert eligible_backends(config, None)[0] == ["torch", "onnx"]  # int8 was never measured
    monkeypatch.setattr(inference, "time_composed_query",
                        lambda models: {"torch": 3.0, "onnx": 2.0, "onnx-int8": 1.0}
                        if "onnx-int8" in models else {"torch": 3.0, "onnx": 2.0})
    notices = []
    assert load_inference_model(checkpoint, "auto", onnx_dir=folder, notify=notices.append).backend == "onnx"
    assert "never measured" in notices[-1]

    def record(meets: bool, files) -> None:
        (folder / ACCURACY_FILE).write_text(json.dumps({
            "format": ACCURACY_FORMAT, "onnx_files": files,
            "backends": {"onnx": {"meets_bar": True}, "onnx-int8": {"meets_bar": meets, "summary": "lists 0.97"}}}))

    record(True, config["files"])
    assert load_inference_model(checkpoint, "auto", onnx_dir=folder, notify=notices.append).backend == "onnx-int8"
    record(False, config["files"])
    assert load_inference_model(checkpoint, "auto", onnx_dir=folder, notify=notices.append).backend == "onnx"
    assert "below the accuracy bar (lists 0.97)" in notices[-1]
    record(True, {"image_int8.onnx": "an earlier export"})  # measured on other files: not this export's record
    assert load_inference_model(checkpoint, "auto", onnx_dir=folder, notify=notices.append).backend == "onnx"


def test_auto_without_an_export_runs_on_pytorch_with_a_notice(checkpoint, tmp_path):
    notices = []
    model = load_inference_model(checkpoint, "auto", onnx_dir=tmp_path / "none", notify=notices.append)
    assert model.backend == "torch" and len(notices) == 1 and "no ONNX export" in notices[0]


# ------------------------------------------------------------------------------------------------ text cache
def counting_encoder(calls: list):
    def encode(texts):
        calls.append(list(texts))
        return torch.stack([torch.full((4,), float(len(t))) for t in texts])
    return encode


def test_the_text_cache_is_bounded_and_forgets_the_least_recently_used():
    calls: list = []
    cache = TextEmbeddingCache(capacity=2)
    encode = counting_encoder(calls)
    cache.encode_texts(["a", "bb"], encode, "m")
    cache.encode_texts(["a"], encode, "m")            # "a" is now the most recent
    cache.encode_texts(["ccc"], encode, "m")          # evicts "bb"
    assert len(cache) == 2
    out = cache.encode_texts(["a", "bb", "ccc", "bb"], encode, "m")
    assert calls == [["a", "bb"], ["ccc"], ["bb"]]    # only "bb" was encoded again, once for its two rows
    assert out[:, 0].tolist() == [1.0, 2.0, 3.0, 2.0]
    assert (cache.hits, cache.misses) == (3, 5)  # per text asked for: a row found, or not
    assert len(cache) == 2


def test_the_text_cache_is_emptied_for_a_new_model():
    calls: list = []
    cache = TextEmbeddingCache(capacity=10)
    encode = counting_encoder(calls)
    cache.encode_texts(["is red"], encode, "model-a/torch")
    cache.encode_texts(["is red"], encode, "model-a/torch")
    cache.encode_texts(["is red"], encode, "model-b/torch")
    assert calls == [["is red"], ["is red"]] and len(cache) == 1


def test_the_cache_key_keeps_case_unless_the_tokenizer_lower_cases():
    from open_clip.tokenizer import SimpleTokenizer

    assert normaliser_for(SimpleTokenizer(context_length=16))("  Is \u00a0RED ") == "is red"
    assert normaliser_for(object())("  Is \u00a0RED ") == "Is RED"  # e.g. a case-sensitive Hugging Face tokenizer


@torch.no_grad()
def test_the_models_text_cache_encodes_each_text_once_and_gives_the_towers_rows(checkpoint):
    model = load_inference_model(checkpoint, "torch", text_cache_size=8)
    first = model.encode_texts(["is red", "is shorter"])
    again = model.encode_texts(["IS  red", "is shorter", "is red"])
    assert model.text_encodes == 2 and torch.equal(again[0], first[0]) and torch.equal(again[2], first[0])
    assert torch.allclose(first, model.model.encode_texts(["is red", "is shorter"]), atol=1e-6)
    model.fingerprint = "another-model"  # e.g. another granularity of an adapted checkpoint: the cache starts over
    model.encode_texts(["is red"])
    assert model.text_encodes == 3 and model.model.fingerprint == "another-model"


def test_inference_model_reads_and_sets_the_models_attributes(checkpoint):
    base = load_checkpoint(checkpoint)
    model = InferenceModel(base)
    assert model.embed_dim == base.embed_dim and model.preprocess is base.preprocess and model.eval() is model


# ------------------------------------------------------------------------------------ the accuracy check
def test_backend_check_records_verdicts_that_auto_reads(checkpoint, export, tmp_path, capsys):
    from cti_ir.evaluate import backend_check
    from cti_ir.model.onnx_backend import read_accuracy
    from tests.conftest import make_fake_fashioniq, make_fake_shoes

    folder = shutil.copytree(export, tmp_path / "onnx")
    fiq, shoes = make_fake_fashioniq(tmp_path / "fiq"), make_fake_shoes(tmp_path / "shoes")
    assert backend_check.main(["--checkpoint", str(checkpoint), "--onnx-dir", str(folder), "--layout", "fashioniq",
                               str(fiq), "--layout", "shoes", str(shoes)]) == 0
    out = capsys.readouterr().out
    assert "| onnx-int8 |" in out and "onnx: meets the bar" in out
    record = read_accuracy(folder, json.loads((folder / CONFIG_FILE).read_text()))
    assert set(record["backends"]) == {"onnx", "onnx-int8"} and len(record["layouts"]) == 2
    fp32 = next(iter(record["layouts"].values()))["onnx"]
    assert fp32["list recall@10"] == 1.0 and record["backends"]["onnx"]["meets_bar"]


def test_backend_check_refusals_are_one_line(checkpoint, tmp_path, capsys):
    from cti_ir.evaluate import backend_check

    assert backend_check.main(["--checkpoint", str(checkpoint), "--layout", "shoes", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err == f"error: --layout shoes {tmp_path / 'none'}: no such folder\n"
    assert backend_check.main(["--checkpoint", str(checkpoint), "--batch-size", "0", "--layout", "shoes",
                               str(tmp_path)]) == 2
    assert "--batch-size must be at least 1" in capsys.readouterr().err


def test_the_commands_flags_have_help_and_bounds():
    from cti_ir.evaluate import backend_check
    from cti_ir.flags import unchecked_numeric_flags
    from cti_ir.model import onnx_export
    from tests.cli_help import help_problems

    for parser, bounds in ((onnx_export.build_parser(), {}),
                           (backend_check.build_parser(), backend_check.BACKEND_CHECK_BOUNDS)):
        assert help_problems(parser) == [] and unchecked_numeric_flags(parser, bounds) == []


def test_index_build_takes_the_model_backend_flag(checkpoint, export, workdir, capsys):
    from cti_ir.index import cli as index_cli
    from tests.test_index import draw_catalogue, stored_vectors

    images = draw_catalogue(workdir / "cli-catalogue", per_category=3)
    for backend in ("torch", "onnx"):
        assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(images), "--out",
                               str(workdir / f"cli-{backend}"), "--model-backend", backend, "--workers", "0",
                               "--no-progress"]) == 0
    capsys.readouterr()
    assert abs(stored_vectors(workdir / "cli-torch") - stored_vectors(workdir / "cli-onnx")).max() < 1e-5
    assert index_cli.main(["build", "--checkpoint", str(checkpoint), "--images", str(images), "--out",
                           str(workdir / "cli-x"), "--model-backend", "onnx", "--onnx-dir", str(workdir / "none"),
                           "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no ONNX export in") and err.count("\n") == 1


# ------------------------------------------------------------------------------- int8 of some towers only
@pytest.fixture(scope="module")
def image_only(checkpoint, export, workdir) -> Path:
    """The checkpoint's export with only the image tower quantised (``--int8-towers image``). Tracing is what costs
    in an export (seconds of CPU), so the towers already traced from this checkpoint stand in for a new trace;
    quantising, recording and the round-trip check run as they do in any export."""
    from cti_ir.model import onnx_export

    out = workdir / "onnx-image-only"
    with pytest.MonkeyPatch.context() as patch:  # undone at once: later exports in this module trace for real
        patch.setattr(onnx_export, "_trace",
                      lambda module, examples, path, *names_and_dims: shutil.copy(export / path.name, path))
        assert onnx_export.main(["--checkpoint", str(checkpoint), "--out", str(out), "--int8-towers", "image"]) == 0
    return out


@torch.no_grad()
def test_int8_of_the_image_tower_only_runs_the_text_towers_fp32_file(checkpoint, image_only):
    config = read_onnx_config(image_only, json.loads((checkpoint / "cti_config.json").read_text())["fingerprint"])
    assert config["towers"]["text"]["files"] == {"fp32": "text_fp32.onnx", "int8": "text_fp32.onnx"}
    assert config["towers"]["image"]["files"]["int8"] == "image_int8.onnx"
    assert config["quantisation"]["towers"] == ["image"] and not (image_only / "text_int8.onnx").exists()
    fp32 = load_inference_model(checkpoint, "onnx", onnx_dir=image_only, text_cache_size=0)
    int8 = load_inference_model(checkpoint, "onnx-int8", onnx_dir=image_only, text_cache_size=0)
    assert torch.equal(int8.encode_texts(TEXTS), fp32.encode_texts(TEXTS))  # the same fp32 graph
    pixels = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    images, want = int8.encode_images(pixels), fp32.encode_images(pixels)
    assert not torch.equal(images, want) and (images * want).sum(1).min() > 0.98  # quantised, and close


def test_a_changed_int8_image_tower_is_still_refused(checkpoint, image_only, tmp_path):
    copy = shutil.copytree(image_only, tmp_path / "onnx")
    with open(copy / "image_int8.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(OnnxError, match="image_int8.onnx does not match the SHA-256"):
        load_inference_model(checkpoint, "onnx-int8", onnx_dir=copy)


def test_int8_towers_refuses_an_empty_choice(checkpoint, tmp_path):
    from cti_ir.model.onnx_export import export_onnx

    with pytest.raises(OnnxError, match="--int8-towers takes image, text or both"):
        export_onnx(checkpoint, tmp_path / "out", int8_towers=[])


@pytest.mark.slow  # a random ViT-B-32 exported and checked: about 700 MB of ONNX files, minutes on 2 cores
@torch.no_grad()
def test_a_vit_b_32_exports_and_its_image_int8_backend_stays_close(tmp_path):
    """The architecture a shop serves: 224-px images, 77-token texts cut after the end-of-text token."""
    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel
    from cti_ir.model.onnx_export import main

    torch.manual_seed(0)
    checkpoint = save_checkpoint(CIRModel.create("ViT-B-32", None, composer="adaptive"), tmp_path / "vitb32")
    assert main(["--checkpoint", str(checkpoint), "--int8-towers", "image"]) == 0
    config = json.loads((checkpoint / "onnx" / CONFIG_FILE).read_text())
    assert config["towers"]["text"]["truncate"] == "argmax" and config["towers"]["image"]["shape"] == [3, 224, 224]
    assert all(r["fp32"]["max_abs_diff"] <= 1e-4 for r in config["round_trip"].values())
    reference = load_inference_model(checkpoint, "torch", text_cache_size=0)
    int8 = load_inference_model(checkpoint, "onnx-int8", text_cache_size=0)
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    assert (int8.encode_images(pixels) * reference.encode_images(pixels)).sum(1).min() > 0.98
    assert (int8.encode_texts(TEXTS) - reference.encode_texts(TEXTS)).abs().max() < 1e-4
