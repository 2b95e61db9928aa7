"""Composed search without triplets: ``python -m training.zeroshot`` and the pseudo-token composer.

Everything starts from a tiny open_clip model exported by ``cti_ir.model.export`` (offline, as a shop would start
from any open_clip model) and trains on a small text corpus in a few seconds.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from cti_ir.model import export
from cti_ir.model.backbone import create_backbone
from cti_ir.model.checkpoint import load_checkpoint, save_checkpoint
from cti_ir.model.zeroshot import PLACEHOLDER
from tests.resume_check import assert_resumes_bit_identically, log_rows
from tests.shop_path import export_demo_open_clip_folder, search_shoes_index
from training.zeroshot import cli

COLOURS = ["red", "blue", "green", "black", "white", "yellow", "pink", "grey"]
GARMENTS = ["dress", "shirt", "skirt", "coat"]
DETAILS = ["long sleeves", "short sleeves", "a v-neck", "stripes"]


def photo(seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A cti-tiny open_clip model, exported as a zero-shot checkpoint (sum composer) from its weights file."""
    folder = tmp_path_factory.mktemp("zs_export")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        state = {k: v.contiguous() for k, v in create_backbone("cti-tiny").model.state_dict().items()}
    save_file(state, str(folder / "tiny.safetensors"))
    assert export.main(["--model", "cti-tiny", "--pretrained", str(folder / "tiny.safetensors"),
                        "--out", str(folder / "ck")]) == 0
    return folder / "ck"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Product-description-like texts: 96 training rows and 16 held out, in the generator's JSONL layout."""
    rows = [{"text": f"{c} {g} with {d}", "split": "train"} for c in COLOURS for g in GARMENTS for d in DETAILS[:3]]
    random.Random(0).shuffle(rows)
    rows += [{"text": f"{c} {g} with stripes", "split": "val"} for c in COLOURS for g in GARMENTS[:2]]
    path = tmp_path_factory.mktemp("zs_corpus") / "descriptions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def flags(init: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return ["--init", str(init), "--texts", str(corpus), "--out", str(out), "--batch-size", "16", "--epochs", "4",
            "--lr", "3e-3", "--warmup-steps", "2", "--threads", "1", "--no-progress", *extra]


@pytest.fixture(scope="module")
def trained(exported, corpus, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("zs_run") / "run"
    assert cli.main(flags(exported, corpus, run, "--save-every", "2")) == 0
    return run


def test_the_loss_falls_and_the_encoders_stay_frozen(trained, exported):
    losses = [r["loss"] for r in log_rows(trained) if "loss" in r]
    assert len(losses) == 24  # 96 texts / 16 per batch x 4 epochs
    assert np.mean(losses[-6:]) < np.mean(losses[:6]) - 0.3
    before, after = load_file(str(exported / "open_clip_model.safetensors")), \
        load_file(str(trained / "last" / "open_clip_model.safetensors"))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    evals = [r["eval"] for r in log_rows(trained) if "eval" in r]
    assert [e["check_texts"] for e in evals] == [16] * 4  # the held-out rows (split "val"), each epoch


def test_a_crashed_run_resumes_bit_identically(trained, exported, corpus, tmp_path, monkeypatch):
    # the state of step 10 was saved (--save-every 2): step 11 is lost
    assert_resumes_bit_identically(
        lambda out, *extra: cli.main(flags(exported, corpus, out, "--save-every", "2", *extra)),
        tmp_path / "crashed", trained, 11, monkeypatch)


def test_the_composer_round_trips_and_composes_the_same_batched_and_alone(trained, tmp_path):
    model = load_checkpoint(trained / "best")
    assert model.composer_name == "pseudo-token" and model.composer.sum_weight == 1.0
    texts = ["is red and has long sleeves", "is blue", f"has {PLACEHOLDER} stripes", "is a green coat"]
    with torch.no_grad():
        images = model.encode_images(torch.stack([model.preprocess(photo(i)) for i in range(len(texts))]))
        batched = model.compose(images, model.encode_texts(texts)).query
        alone = torch.cat([model.compose(images[i:i + 1], model.encode_texts([t])).query
                           for i, t in enumerate(texts)])
        explicit = model.compose(images, model.encode_texts(texts), texts=texts).query
    assert torch.allclose(batched, alone, atol=1e-6) and torch.equal(batched, explicit)
    assert torch.allclose(batched.norm(dim=-1), torch.ones(len(texts)))
    # The text matters (the pseudo-token is read with it), and so does the image.
    assert (batched[0] - batched[1]).abs().max() > 1e-3
    with torch.no_grad():
        other_image = model.compose(images.flip(0), model.encode_texts(texts)).query
    assert (other_image[0] - batched[0]).abs().max() > 1e-3
    save_checkpoint(model, tmp_path / "again")
    again = load_checkpoint(tmp_path / "again")
    with torch.no_grad():
        assert torch.equal(again.compose(images, again.encode_texts(texts)).query, batched)
    # The plain text embedding is untouched by the pseudo-token hook (text-only search still works).
    plain = load_checkpoint(trained / "best", new_composer=("sum", {}))
    with torch.no_grad():
        assert torch.equal(plain.encode_texts(texts), model.encode_texts(texts))


def test_compose_without_the_texts_is_a_clear_error(trained):
    model = load_checkpoint(trained / "last")
    features = torch.nn.functional.normalize(torch.randn(2, model.embed_dim), dim=-1)
    with pytest.raises(ValueError, match="pass texts= to compose"):
        model.compose(features, features)


def test_index_search_page_and_evaluation_use_it_unchanged(trained, fake_shoes, tmp_path, capsys):
    import cti_ir.evaluate.cli as ev_cli
    import cti_ir.index.cli as index
    from cti_ir.serve.engine import SearchEngine

    checkpoint, idx = trained / "best", tmp_path / "index"
    assert index.main(["build", "--checkpoint", str(checkpoint), "--dataset", "shoes", "--root", str(fake_shoes),
                       "--out", str(idx), "--no-progress"]) == 0
    engine = SearchEngine(checkpoint, idx)
    reference = Image.open(next(fake_shoes.rglob("img_womens_pumps_0.jpg")))
    result = engine.search(image=reference, text="is red", k=3)
    assert len(result.hits) == 3 and (result.image_weight, result.text_weight) == (0.5, 0.5)
    assert len(engine.search(text="is red", k=2).hits) == 2
    capsys.readouterr()
    assert ev_cli.main(["--checkpoint", str(checkpoint), "--dataset", "shoes", "--root", str(fake_shoes),
                        "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["splits"]["shoes"]["queries"] == 2


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("rows, message", [
    ([], "the text corpus is empty"),
    ([{"text": "   ", "split": "train"}, {"text": "red dress", "split": "val"}], "the text corpus is empty"),
    ([{"text": "red dress"}, {"text": 5}], "descriptions.jsonl:2: the text is a number (5), not a string"),
    ([{"title": "red dress"}], "has no 'text' column (it has: title); name the text column with --text-column"),
])
def test_bad_corpora_get_our_messages(rows, message, exported, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "descriptions.jsonl", rows)
    assert cli.main(flags(exported, corpus, tmp_path / "run")) == 2
    err = capsys.readouterr().err
    assert "error: " in err and message in err and "Traceback" not in err


def test_bad_flags_and_models_get_our_messages(exported, corpus, tmp_path, capsys, monkeypatch):
    assert cli.main(["--init", str(exported), "--out", str(tmp_path / "a")]) == 2
    assert "error: nothing to train on: give --texts" in capsys.readouterr().err
    assert cli.main(flags(exported, corpus, tmp_path / "b", "--template", "a photo of {}")) == 2
    assert "the prompt template must hold '*' once" in capsys.readouterr().err
    assert cli.main(flags(exported, corpus, tmp_path / "c", "--mask-share", "0")) == 2
    assert "error: --mask-share must be" in capsys.readouterr().err
    assert cli.main(flags(exported, tmp_path / "missing.txt", tmp_path / "d")) == 2
    assert "error: text corpus not found" in capsys.readouterr().err

    def without_text_tower(path, **kwargs):  # an image-only model: nothing for a pseudo-token to be read by
        model = load_checkpoint(path, **kwargs)
        del model.backbone.token_embedding
        return model

    monkeypatch.setattr(cli, "load_checkpoint", without_text_tower)
    assert cli.main(flags(exported, corpus, tmp_path / "e")) == 2
    assert "has no text tower with token embeddings" in capsys.readouterr().err


def test_texts_and_images_train_together(exported, corpus, fake_shoes, tmp_path):
    """Pic2Word-style examples (unlabeled images, "a photo of *") beside the texts: one folder of images."""
    run = tmp_path / "run"
    assert cli.main(flags(exported, corpus, run, "--images", str(fake_shoes), "--epochs", "1")) == 0
    assert len(list((run / "image_embeddings").rglob("*.npy"))) >= 1
    n_images = len([p for p in fake_shoes.rglob("*.jpg")])
    assert len([r for r in log_rows(run) if "loss" in r]) == (96 + n_images) // 16
    check = next(r["eval"] for r in log_rows(run) if "eval" in r)
    assert (check["check_texts"], check["check_images"]) == (16, n_images)
    assert check["score"] == pytest.approx((check["text_r1"] + check["image_r1"]) / 2)
    # Images alone (Pic2Word's setting) train too, and their check still keeps a best/ checkpoint.
    alone = tmp_path / "images-only"
    assert cli.main(["--init", str(exported), "--images", str(fake_shoes), "--out", str(alone), "--batch-size", "4",
                     "--epochs", "1", "--threads", "1", "--no-progress"]) == 0
    assert (alone / "best" / "composer.safetensors").is_file()


def test_every_flag_is_explained():
    from tests.cli_help import help_problems

    assert help_problems(cli.build_parser()) == []


def test_the_default_query_is_the_mean_of_its_prompts(trained):
    """The trainer's default composer reads each query in several prompts and averages their embeddings."""
    import torch.nn.functional as F

    from cti_ir.model.zeroshot import DEFAULT_TEMPLATES

    model = load_checkpoint(trained / "last")
    assert model.composer.templates == list(DEFAULT_TEMPLATES)
    assert json.loads((trained / "last" / "cti_config.json").read_text())["composer"]["kwargs"]["templates"] == \
        list(DEFAULT_TEMPLATES)
    texts = ["is red and has long sleeves", "is a blue coat"]
    with torch.no_grad():
        images = model.encode_images(torch.stack([model.preprocess(photo(i)) for i in range(2)]))
        tokens = model.composer.pseudo_tokens(images)
        each = [model.prompt_encoder.encode(model.composer.prompts(texts, t), tokens) for t in DEFAULT_TEMPLATES]
        model.composer.sum_weight = 0.0
        query = model.compose(images, model.encode_texts(texts)).query
        model.composer.templates = model.composer.templates[:1]
        first_only = model.compose(images, model.encode_texts(texts)).query
    assert torch.allclose(query, F.normalize(sum(each), dim=-1), atol=1e-6)
    assert torch.allclose(first_only, each[0], atol=1e-6) and (query - first_only).abs().max() > 1e-4


def test_one_template_flag_is_recorded_as_given(exported, corpus, tmp_path):
    run = tmp_path / "run"
    assert cli.main(flags(exported, corpus, run, "--epochs", "1", "--template", "* {}")) == 0
    assert load_checkpoint(run / "last").composer.templates == ["* {}"]


def test_from_the_shipped_models_open_clip_folder_offline(corpus, fake_shoes, tmp_path, monkeypatch):
    """The shop's path: the demo model's open_clip folder (config + weights, as open_clip's local-dir: reads it)
    exported, a few zero-shot steps on texts and unlabeled images, then a search served from an index."""
    init, run = export_demo_open_clip_folder(tmp_path, monkeypatch), tmp_path / "run"
    assert cli.main(flags(init, corpus, run, "--images", str(fake_shoes), "--epochs", "1")) == 0
    losses = [r["loss"] for r in log_rows(run) if "loss" in r]
    assert len(losses) >= 6 and all(np.isfinite(losses))
    engine, _ = search_shoes_index(run / "best", fake_shoes, tmp_path / "index",
                                   next(fake_shoes.rglob("img_womens_pumps_0.jpg")), "is red with a higher heel")
    assert engine.model.composer_name == "pseudo-token"
