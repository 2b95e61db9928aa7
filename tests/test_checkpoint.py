"""Checkpoint folders: round trip, clear errors, no pickle."""

import json
import re
from pathlib import Path

import pytest
import torch

import cti_ir
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from cti_ir.model.cir_model import CIRModel


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = CIRModel.create("cti-tiny", composer="adaptive").eval()
    path = save_checkpoint(model, tmp_path_factory.mktemp("ck") / "ckpt", training_args={"lr": 1e-3},
                           metrics={"score": 1.0})
    return model, path


def test_round_trip_gives_the_same_model(saved):
    model, path = saved
    loaded = cti_ir.load(path)
    pixels = torch.randn(3, 3, 32, 32)
    texts = ["is red", "has long sleeves", ""]
    with torch.no_grad():
        a = model.compose(model.encode_images(pixels), model.encode_texts(texts))
        b = loaded.compose(loaded.encode_images(pixels), loaded.encode_texts(texts))
    assert torch.equal(a.query, b.query)
    config = json.loads((path / "cti_config.json").read_text())
    assert loaded.fingerprint == config["fingerprint"] and re.fullmatch(r"[0-9a-f]{16}", loaded.fingerprint)
    assert json.loads((path / "training_args.json").read_text()) == {"lr": 1e-3}


def test_backbone_half_is_an_open_clip_local_dir(saved):
    import open_clip

    model, path = saved
    oc = open_clip.create_model(f"local-dir:{path}")
    state = model.backbone.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in oc.state_dict().items())


def test_fp16_storage_loads_back_as_fp32(saved, tmp_path):
    model, _ = saved
    path = save_checkpoint(model, tmp_path / "half", storage_dtype=torch.float16)
    loaded = cti_ir.load(path)
    assert next(loaded.parameters()).dtype == torch.float32
    assert (path / "open_clip_model.safetensors").stat().st_size < (
        0.6 * sum(p.numel() * 4 for p in model.backbone.parameters()))


def copy_ckpt(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_missing_file_is_named(saved, tmp_path):
    path = copy_ckpt(saved[1], tmp_path / "c")
    (path / "composer.safetensors").unlink()
    with pytest.raises(CheckpointError, match="composer.safetensors is missing"):
        cti_ir.load(path)


def test_file_from_another_checkpoint_is_refused(saved, tmp_path):
    path = copy_ckpt(saved[1], tmp_path / "c")
    other = save_checkpoint(CIRModel.create("cti-tiny", composer="adaptive"), tmp_path / "other")
    (path / "composer.safetensors").write_bytes((other / "composer.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not match the checksum"):
        cti_ir.load(path)


def test_weights_that_do_not_fit_the_config_are_refused(saved, tmp_path):
    path = copy_ckpt(saved[1], tmp_path / "c")
    other = save_checkpoint(CIRModel.create("cti-tiny", composer="combiner"), tmp_path / "other")
    (path / "composer.safetensors").write_bytes((other / "composer.safetensors").read_bytes())
    with pytest.raises(CheckpointError, match="does not fit the composer"):
        load_checkpoint(path, verify=False)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        cti_ir.load(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="cti_config.json is missing"):
        cti_ir.load(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "cti_config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        cti_ir.load(bad)


def test_interrupted_save_falls_back_to_the_previous_checkpoint(saved, tmp_path):
    # A save killed between its two renames leaves only <name>.old: it is complete and must load.
    copy_ckpt(saved[1], tmp_path / "ckpt.old")
    assert cti_ir.load(tmp_path / "ckpt").fingerprint == cti_ir.load(saved[1]).fingerprint


def test_no_code_path_unpickles():
    root = Path(cti_ir.__file__).parent.parent
    offenders = []
    for py in list((root / "cti_ir").rglob("*.py")) + list((root / "training").rglob("*.py")):
        text = py.read_text()
        for m in re.finditer(r"torch\.load\((.*)", text):
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{py}: {m.group(0)}")
        if re.search(r"\bpickle\.loads?\(", text):
            offenders.append(f"{py}: pickle.load")
    assert offenders == []


def test_a_new_stage_takes_the_encoders_and_a_fresh_composer(saved, tmp_path):
    model, path = saved
    # The checkpoint's composer (adaptive) is not loaded: a combiner starts fresh on the same encoders.
    fresh = load_checkpoint(path, new_composer=("combiner", {}))
    assert fresh.composer_name == "combiner"
    assert all(torch.equal(a, b) for a, b in zip(fresh.backbone.parameters(), model.backbone.parameters()))
