"""python -m cti_ir.model.export: a zero-shot checkpoint from a weights file or a local-dir: folder, offline.

The exported checkpoint must be usable as it is (index build, search page handlers, evaluation) and must keep the
source model's own preprocessing and tokenizer, compared here with what open_clip itself builds from the source.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

import cti_ir.evaluate.cli as ev_cli

import cti_ir.model.export as export

import cti_ir.index.cli as index
from cti_ir.model.backbone import create_backbone
from cti_ir.model.checkpoint import load_checkpoint

TEXTS = ["is red and has long sleeves", "Is Darker, and SHORTER!", ""]


class NotWeights:
    """An object a weights file must not contain (loading it needs unpickling)."""


def photo(seed: int = 0, size=(90, 60)) -> Image.Image:
    """A non-square image, so that resize modes and crops matter."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[0], size[1], 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    """A cti-tiny backbone's weights as .safetensors and as a plain torch state dict, plus its state."""
    folder = tmp_path_factory.mktemp("weights")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        state = {k: v.contiguous() for k, v in create_backbone("cti-tiny").model.state_dict().items()}
    save_file(state, str(folder / "tiny.safetensors"))
    torch.save(state, folder / "tiny.pt")
    return {"safetensors": folder / "tiny.safetensors", "pt": folder / "tiny.pt"}


@pytest.fixture(scope="module")
def exported(weights, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("export") / "zeroshot"
    assert export.main(["--model", "cti-tiny", "--pretrained", str(weights["safetensors"]), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("kind", ["safetensors", "pt"])
def test_export_from_a_weights_file_keeps_the_weights(kind, weights, tmp_path, capsys):
    out = tmp_path / "ck"
    assert export.main(["--model", "cti-tiny", "--pretrained", str(weights[kind]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "python -m cti_ir.index build" in printed
    model = load_checkpoint(out)
    expected = torch.load(weights["pt"], weights_only=True)
    got = model.backbone.state_dict()
    assert set(got) == set(expected) and all(torch.equal(got[k], expected[k]) for k in expected)
    assert model.composer_name == "sum"
    args = json.loads((out / "training_args.json").read_text())
    assert args["trained"] is False and args["export"]["pretrained"] == str(weights[kind])
    assert len(args["export"]["pretrained_sha256"]) == 64


def test_exported_checkpoint_runs_index_search_page_and_evaluation(exported, fake_shoes, tmp_path, capsys):
    from cti_ir.serve.page import SearchPage
    from cti_ir.serve.server import build_app
    from cti_ir.serve.engine import SearchEngine

    idx = tmp_path / "index"
    assert index.main(["build", "--checkpoint", str(exported), "--dataset", "shoes", "--root", str(fake_shoes),
                       "--out", str(idx), "--no-progress"]) == 0
    engine = SearchEngine(exported, idx)
    page = SearchPage(engine, seed=0)
    reference = next(fake_shoes.rglob("img_womens_pumps_0.jpg"))
    out = page.search(str(reference), "is red", "All", 3)
    assert "Error" not in out.status and len(out.hits) == 3
    assert "image **0.50** · text **0.50**" in out.weights  # the sum composer's fixed weights
    build_app(engine)  # the page builds on it (what `python app.py --checkpoint --index` serves)
    capsys.readouterr()

    assert ev_cli.main(["--checkpoint", str(exported), "--dataset", "shoes", "--root", str(fake_shoes),
                          "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["splits"]["shoes"]["queries"] == 2 and result["fingerprint"] == engine.model.fingerprint


def test_zero_shot_checkpoint_is_a_stage3_starting_point(exported, fake_shoes, tmp_path):
    """The next step the export prints, `python -m training.stage3 --init CHECKPOINT`, trains from it: one step on a
    tiny Shoes folder writes checkpoints that load, with an adaptive composer on the exported encoders."""
    from training import stage3

    run = tmp_path / "run"
    assert stage3.main(["--data", f"shoes={fake_shoes}", "--init", str(exported), "--out", str(run), "--max-steps", "1",
                        "--batch-size", "2", "--threads", "1", "--no-progress", "--image-cache", "none"]) == 0
    start = load_checkpoint(exported)
    for name in ("best", "last"):
        model = load_checkpoint(run / name)
        assert model.composer_name == "adaptive" and model.embed_dim == start.embed_dim
        assert json.loads((run / name / "training_args.json").read_text())["init"] == str(exported)
        assert json.loads((run / name / "metrics.json").read_text())["step"] == 1
    before, after = start.backbone.state_dict(), model.backbone.state_dict()
    assert set(after) == set(before)
    moved = max((after[k].float() - before[k].float()).abs().max().item() for k in before)
    assert 0 < moved < 0.01  # the exported encoders, after one small optimizer step
    with torch.no_grad():
        out = model.compose(model.encode_images(model.preprocess(photo()).unsqueeze(0)), model.encode_texts(TEXTS[:1]))
    assert out.query.shape == (1, start.embed_dim) and 0 < out.image_weight.item() < 1


def _local_dir(folder: Path, model_cfg: dict, preprocess_cfg: dict) -> Path:
    """An open_clip local-dir: folder (config + weights) made from one of our configs."""
    import open_clip

    folder.mkdir(parents=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg,
                                                              "preprocess_cfg": preprocess_cfg}))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = open_clip.create_model(f"local-dir:{folder}", pretrained_text=False)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder


def _tiny_cfg(**vision) -> dict:
    cfg = json.loads((Path(__file__).resolve().parents[1] / "cti_ir" / "model" / "configs" / "cti-tiny.json").read_text())
    cfg["vision_cfg"].update(vision)
    return cfg


@pytest.mark.parametrize("preprocess_cfg", [
    # a ViT-B-32-style setup: OpenAI mean/std, bicubic, shortest side + centre crop
    {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
     "interpolation": "bicubic", "resize_mode": "shortest"},
    # a SigLIP-style setup: mean/std 0.5, squash, bilinear
    {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear", "resize_mode": "squash"},
])
def test_local_dir_model_keeps_its_own_preprocessing_and_tokenizer(preprocess_cfg, tmp_path, capsys):
    import open_clip

    source = _local_dir(tmp_path / "src", _tiny_cfg(image_size=64, patch_size=32), preprocess_cfg)
    out = tmp_path / "ck"
    assert export.main(["--model", f"local-dir:{source}", "--out", str(out)]) == 0
    ours = load_checkpoint(out)
    ref_model, _, ref_preprocess = open_clip.create_model_and_transforms(f"local-dir:{source}")
    ref_tokenizer = open_clip.get_tokenizer(f"local-dir:{source}")
    for seed in range(3):
        img = photo(seed)
        assert torch.equal(ours.preprocess(img), ref_preprocess(img))
    assert ours.preprocess(photo()).shape == (3, 64, 64)
    assert torch.equal(ours.tokenize(TEXTS), ref_tokenizer(TEXTS))
    with torch.no_grad():
        pixels = torch.stack([ref_preprocess(photo(s)) for s in range(2)])
        expected = torch.nn.functional.normalize(ref_model.encode_image(pixels), dim=-1)
        assert torch.allclose(ours.encode_images(pixels), expected, atol=1e-6)


def test_preprocessing_overrides_are_used_and_recorded(weights, tmp_path, capsys):
    import open_clip

    out = tmp_path / "ck"
    assert export.main(["--model", "cti-tiny", "--pretrained", str(weights["safetensors"]), "--out", str(out),
                        "--image-mean", "0.5", "0.5", "0.5", "--image-std", "0.25", "0.25", "0.25",
                        "--resize-mode", "squash", "--interpolation", "bilinear"]) == 0
    ours = load_checkpoint(out)
    _, _, ref = open_clip.create_model_and_transforms(
        "cti-tiny", pretrained=str(weights["safetensors"]), image_mean=(0.5,) * 3, image_std=(0.25,) * 3,
        image_resize_mode="squash", image_interpolation="bilinear")
    assert torch.equal(ours.preprocess(photo()), ref(photo()))
    assert ours.preprocess_cfg["resize_mode"] == "squash" and list(ours.preprocess_cfg["std"]) == [0.25] * 3


def test_a_tags_recorded_preprocessing_is_available_offline():
    args = export.build_parser().parse_args(["--model", "ViT-B-16-SigLIP", "--pretrained", "w.bin", "--out", "x",
                                             "--preprocess-from-tag", "webli"])
    assert export.resolve_preprocess(args) == {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5),
                                               "interpolation": "bicubic", "resize_mode": "squash"}
    args.preprocess_from_tag = "nosuchtag"
    with pytest.raises(export.ExportError, match="knows no pretrained tag 'nosuchtag' for ViT-B-16-SigLIP"):
        export.resolve_preprocess(args)
    openai_like = {"mean": (0.48145466, 0.4578275, 0.40821073), "std": (0.26862954, 0.26130258, 0.27577711),
                   "interpolation": "bicubic", "resize_mode": "shortest"}
    assert "webli" in export.tag_preprocess_note("ViT-B-16-SigLIP", openai_like)
    assert export.tag_preprocess_note("ViT-B-32", openai_like) == ""  # its tags all use OpenAI's preprocessing


def _tiny_hf_text_source(folder: Path) -> Path:
    """A tiny BERT config and WordPiece tokenizer saved locally (what an hf tokenizer / text tower names)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, PreTrainedTokenizerFast

    words = "[PAD] [UNK] [CLS] [SEP] [MASK] is red blue and has long short sleeves a dress darker ! ,".split()
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                            sep_token="[SEP]", mask_token="[MASK]").save_pretrained(folder)
    BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=64, max_position_embeddings=32).save_pretrained(folder)
    return folder


def test_hf_tokenizer_and_text_tower_travel_in_the_checkpoint(tmp_path, monkeypatch):
    """An HF tokenizer (and an HF text tower) named by a path or hub id: the checkpoint loads without them."""
    import open_clip

    hf = _tiny_hf_text_source(tmp_path / "tiny-bert")
    cfg = _tiny_cfg()
    cfg["text_cfg"] = {"hf_model_name": str(hf), "hf_tokenizer_name": str(hf), "hf_proj_type": "linear",
                       "hf_pooler_type": "cls_pooler", "context_length": 16,
                       "tokenizer_kwargs": {"clean": "canonicalize"}}
    source = _local_dir(tmp_path / "src", cfg, {"mean": [0.5] * 3, "std": [0.5] * 3})
    shutil.copytree(hf, source, dirs_exist_ok=True)  # open_clip's local-dir convention: tokenizer files inside
    out = tmp_path / "ck"
    assert export.main(["--model", f"local-dir:{source}", "--out", str(out)]) == 0
    ref_tokenizer = open_clip.get_tokenizer(f"local-dir:{source}")
    ref = load_checkpoint(out)
    with torch.no_grad():
        expected_text = ref.encode_texts(TEXTS)

    shutil.rmtree(hf)   # the names in the config now point nowhere, and the hub is out of reach
    shutil.rmtree(source)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model = load_checkpoint(out)
    assert type(model.tokenizer).__name__ == "HFTokenizer"
    assert torch.equal(model.tokenize(TEXTS), ref_tokenizer(TEXTS))
    assert torch.equal(model.tokenize(["Is DARKER"]), model.tokenize(["is darker"]))  # the canonicalize kwarg
    with torch.no_grad():
        assert torch.allclose(model.encode_texts(TEXTS), expected_text, atol=1e-6)
    saved = json.loads((out / "cti_config.json").read_text())["files"]
    assert "tokenizer.json" in saved and "hf_text/config.json" in saved  # checksummed like the weights


def test_errors_are_one_line_with_what_to_do(weights, exported, tmp_path, capsys):
    cases = [
        (["--model", "cti-tiny", "--out", str(tmp_path / "a")], "--pretrained is required for cti-tiny"),
        (["--model", "cti-tiny", "--pretrained", str(weights["safetensors"]), "--out", str(exported)],
         "exists; choose another --out or pass --overwrite"),
        (["--model", f"local-dir:{tmp_path}", "--pretrained", "x", "--out", str(tmp_path / "b")],
         "--pretrained is not used with local-dir: sources"),
        (["--model", f"local-dir:{tmp_path}", "--out", str(tmp_path / "b")], "open_clip_config.json is missing"),
        (["--model", "cti-tiny", "--pretrained", str(tmp_path / "none.safetensors"), "--out", str(tmp_path / "c")],
         "not found"),
        (["--model", "no-such-model", "--pretrained", str(weights["pt"]), "--out", str(tmp_path / "d")],
         "no-such-model is not an open_clip model name"),
    ]
    for argv, words in cases:
        assert export.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and words in err and "Traceback" not in err, (argv, err)

    pickled = tmp_path / "pickled.pt"
    torch.save({"thing": NotWeights()}, pickled)
    assert export.main(["--model", "cti-tiny", "--pretrained", str(pickled), "--out", str(tmp_path / "e")]) == 2
    assert "needs unpickling" in capsys.readouterr().err
    other = tmp_path / "small.safetensors"
    with torch.random.fork_rng(devices=[]):
        save_file({k: v.contiguous() for k, v in create_backbone("cti-small").model.state_dict().items()}, str(other))
    assert export.main(["--model", "cti-tiny", "--pretrained", str(other), "--out", str(tmp_path / "f")]) == 2
    assert "do not fit cti-tiny" in capsys.readouterr().err
    assert not any((tmp_path / n).exists() for n in "abcdef")
    with pytest.raises(SystemExit):
        export.main(["--model", "cti-tiny", "--pretrained", "x", "--out", "y", "--composer", "adaptive"])
    assert "invalid choice: 'adaptive'" in capsys.readouterr().err


@pytest.mark.slow  # a real ViT-B-32 (600 MB of weights written and read three times): about a minute
def test_vit_b_32_weights_file_keeps_open_clips_preprocessing_and_tokens(tmp_path, capsys):
    """The ViT-B-32 architecture exported from a weights file: open_clip's own preprocessing and tokens, also with
    --preprocess-from-tag and explicit overrides (OpenAI mean/std by default)."""
    import open_clip

    torch.manual_seed(0)
    reference = open_clip.create_model("ViT-B-32")
    weights = tmp_path / "vitb32.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(weights))
    ref_tokenizer = open_clip.get_tokenizer("ViT-B-32")
    squash = {"image_mean": (0.5,) * 3, "image_std": (0.5,) * 3, "image_resize_mode": "squash"}
    for extra, ref_kwargs in [([], {}), (["--preprocess-from-tag", "openai"], {}),
                              (["--image-mean", "0.5", "0.5", "0.5", "--image-std", "0.5", "0.5", "0.5",
                                "--resize-mode", "squash"], squash)]:
        out = tmp_path / f"ck{len(extra)}"
        assert export.main(["--model", "ViT-B-32", "--pretrained", str(weights), "--out", str(out), *extra]) == 0
        ours = load_checkpoint(out)
        _, _, ref_preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=str(weights),
                                                                     **ref_kwargs)
        assert torch.equal(ours.preprocess(photo(size=(300, 200))), ref_preprocess(photo(size=(300, 200))))
        assert torch.equal(ours.tokenize(TEXTS), ref_tokenizer(TEXTS))
        if not extra:
            assert list(ours.preprocess_cfg["mean"]) == [0.48145466, 0.4578275, 0.40821073]
    assert all(torch.equal(a, b) for a, b in zip(ours.backbone.state_dict().values(),
                                                 reference.state_dict().values()))
