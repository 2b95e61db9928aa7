"""The modules the ONNX export traces (`cti_ir.model.onnx_graphs`): the lean towers compute PyTorch's embeddings, fall
back to the plain form where they would not, and the export writes and records the form it traced."""

from __future__ import annotations

import json

import pytest
import torch

from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.onnx_graphs import (
    ImageTower,
    LeanImageTower,
    LeanTextTower,
    TextTower,
    image_graph,
    text_graph,
)
from tests.test_index import save_tiny_checkpoint


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    # The demo model's shape (3 image and 2 text blocks): blocks before the last one, and the last one read alone.
    return save_tiny_checkpoint(tmp_path_factory.mktemp("graphs") / "ckpt", "cti-small", seed=3)


@pytest.fixture(scope="module")
def model(checkpoint):
    return load_checkpoint(checkpoint)


def tokens_of_many_lengths(model) -> torch.Tensor:
    """Texts whose ends of text fall at different positions, cut after the longest one as the backend cuts them."""
    tokens = model.tokenize(["", "is red", "is shorter and black with long sleeves and a floral print", "a b c"])
    return tokens[:, :int(tokens.argmax(dim=1).max()) + 1]


@torch.no_grad()
def test_the_lean_towers_give_the_models_embeddings(model):
    clip = model.backbone
    pixels = torch.randn(3, 3, *model.preprocess_cfg["size"], generator=torch.Generator().manual_seed(0))
    want = model.encode_images(pixels)
    assert torch.allclose(LeanImageTower(clip)(pixels), want, atol=1e-6)
    assert torch.allclose(ImageTower(clip)(pixels), want, atol=1e-6)
    tokens = tokens_of_many_lengths(model)
    assert tokens.shape[1] < model.model_cfg["text_cfg"]["context_length"]  # rows shorter than the context
    want = model.encode_tokens(model.tokenize(["", "is red", "is shorter and black with long sleeves and a floral "
                                                "print", "a b c"]))
    assert torch.allclose(LeanTextTower(clip)(tokens), want, atol=1e-6)
    assert torch.allclose(TextTower(clip, True)(tokens), want, atol=1e-6)
    # Each row is read at its own end of text: a row alone gives what it gives in the batch.
    assert torch.allclose(LeanTextTower(clip)(tokens[1:2]), want[1:2], atol=1e-6)


def test_towers_the_lean_form_does_not_know_are_traced_plain(checkpoint):
    clip = load_checkpoint(checkpoint).backbone
    assert image_graph(clip, "lean")[1] == "lean" and text_graph(clip, "lean")[1] == "lean"
    assert image_graph(clip, "plain")[1] == "plain" and text_graph(clip, "plain")[1] == "plain"
    clip.visual.pool_type = "avg"  # read as the mean of the patch tokens: every token of the last block counts
    module, form = image_graph(clip, "lean")
    assert form == "plain" and isinstance(module, ImageTower)
    clip.transformer.resblocks[0].attn.add_zero_attn = True  # an attention with an added key row
    module, form = text_graph(clip, "lean")
    assert form == "plain" and isinstance(module, TextTower) and module.truncate  # still cut after the end of text
    clip.attn_mask = torch.zeros_like(clip.attn_mask)  # not causal: later tokens change the end of text's output
    module, form = text_graph(clip, "lean")
    assert form == "plain" and isinstance(module, TextTower) and not module.truncate


def export(checkpoint, folder, form: str) -> dict:
    """Export ``checkpoint``'s fp32 towers in ``form`` into ``folder``; returns the folder's config, ready for
    ``load_towers``."""
    pytest.importorskip("onnxruntime", reason="the onnx extra (pip install -e '.[dev]') is not installed")
    pytest.importorskip("onnxscript", reason="the onnx extra (pip install -e '.[dev]') is not installed")
    from cti_ir.model.onnx_backend import CONFIG_FILE
    from cti_ir.model.onnx_export import main

    assert main(["--checkpoint", str(checkpoint), "--out", str(folder), "--precisions", "fp32", "--graph", form]) == 0
    return {**json.loads((folder / CONFIG_FILE).read_text()), "_folder": str(folder)}


@pytest.fixture(scope="module")
def lean_export(checkpoint, tmp_path_factory) -> dict:
    return export(checkpoint, tmp_path_factory.mktemp("lean") / "onnx", "lean")


@torch.no_grad()
def test_the_lean_export_is_recorded_and_gives_the_models_embeddings(model, lean_export):
    from cti_ir.model.onnx_backend import load_towers

    assert lean_export["graph"] == "lean"  # asked for, and written for both towers
    assert {lean_export["towers"][name]["graph"] for name in ("image", "text")} == {"lean"}
    image, text = load_towers(lean_export, "fp32", threads=1)
    pixels = torch.randn(2, 3, *model.preprocess_cfg["size"], generator=torch.Generator().manual_seed(1))
    assert torch.allclose(image(pixels), model.encode_images(pixels), atol=1e-5)
    tokens = tokens_of_many_lengths(model)
    full = model.tokenize(["", "is red", "is shorter and black with long sleeves and a floral print", "a b c"])
    assert torch.allclose(text(tokens), model.encode_tokens(full), atol=1e-5)
    assert torch.allclose(text(full[2:3]), model.encode_tokens(full[2:3]), atol=1e-5)  # one row, the full context


@pytest.mark.slow  # a second export of the same towers: about 25 s on 2 cores
@torch.no_grad()
def test_the_plain_export_gives_the_same_outputs_in_more_nodes(model, checkpoint, lean_export, tmp_path):
    import onnx

    from cti_ir.model.onnx_backend import load_towers

    plain_export = export(checkpoint, tmp_path / "plain", "plain")
    assert plain_export["graph"] == "plain"
    assert {plain_export["towers"][name]["graph"] for name in ("image", "text")} == {"plain"}
    pixels = torch.randn(2, 3, *model.preprocess_cfg["size"], generator=torch.Generator().manual_seed(2))
    tokens = tokens_of_many_lengths(model)
    (lean_image, lean_text), (plain_image, plain_text) = (load_towers(config, "fp32", threads=1)
                                                          for config in (lean_export, plain_export))
    assert torch.allclose(lean_image(pixels), plain_image(pixels), atol=1e-5)
    assert torch.allclose(lean_text(tokens), plain_text(tokens), atol=1e-5)
    for name in ("image", "text"):
        nodes = [len(onnx.load(f"{config['_folder']}/{config['towers'][name]['files']['fp32']}").graph.node)
                 for config in (lean_export, plain_export)]
        assert nodes[0] < nodes[1], (name, nodes)
