"""Checkpoint folders: save and load a ``CIRModel`` without pickle.

A checkpoint is a folder::

    open_clip_config.json        {"model_cfg": ..., "preprocess_cfg": ...}  (open_clip's own local-dir format)
    open_clip_model.safetensors  backbone weights (open_clip's own local-dir format)
    composer.safetensors         composer weights (empty for parameter-free baselines)
    cti_config.json              format version, composer name and arguments, SHA-256 of each weights file,
                                 and the fingerprint (a hash of all of them) that indexes record
    training_args.json           the arguments of the run that made it (optional)
    metrics.json                 its validation metrics (optional)
    aux_heads.safetensors        training-only heads, e.g. stage 2's attribute head (optional)
    tokenizer.json, ...          a Hugging Face tokenizer's files, when the model uses one (optional)
    hf_text/config.json          a Hugging Face text tower's config, when the model has one (optional)
    adapter_config.json          image-tower adapters of an adapted checkpoint (optional; cti_ir.model.adapter_files)
    adapters.safetensors

The backbone half is a valid open_clip ``local-dir:`` folder, so ``open_clip.create_model("local-dir:PATH")`` opens
it too. Weights are read only with safetensors; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from cti_ir.files import replace_dir_atomic, sha256_file, staging_dir, write_json_atomic
from cti_ir.model.adapter_files import adapted_config, attach_checkpoint_adapters, save_adapters
from cti_ir.model.backbone import backbone_from_config, save_text_assets
from cti_ir.model.checkpoint_files import (  # noqa: F401 (re-exported: the names callers know checkpoints by)
    AUX_WEIGHTS,
    BACKBONE_WEIGHTS,
    COMPOSER_WEIGHTS,
    CONFIG_FILE,
    FORMAT,
    FORMAT_VERSION,
    OPEN_CLIP_CONFIG,
    CheckpointError,
    model_fingerprint,
    read_checkpoint_config,
)
from cti_ir.model.cir_model import CIRModel
from cti_ir.model.text_vocabulary import TextVocabularyError, read_text_vocabulary, write_text_vocabulary


def _contiguous(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        v = v.detach().cpu()
        if dtype is not None and v.is_floating_point():
            v = v.to(dtype)
        out[k] = v.contiguous()
    return out


def save_checkpoint(
    model: CIRModel,
    path: str | os.PathLike,
    training_args: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    aux_modules: dict[str, torch.nn.Module] | None = None,
    extra_files: dict[str, Any] | None = None,
    storage_dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model`` as a checkpoint folder at ``path``, atomically (an old folder there is replaced).

    ``storage_dtype=torch.float16`` halves the size on disk (the demo model); weights are loaded back as fp32.
    ``extra_files`` are written as JSON files beside the weights (e.g. a vocabulary).
    """
    final = Path(path)
    tmp = staging_dir(final)
    try:
        # open_clip's shared weights (tied embeddings) would be saved twice; safetensors refuses shared storage.
        backbone_state = _contiguous(model.backbone.state_dict(), storage_dtype)
        save_file(backbone_state, str(tmp / BACKBONE_WEIGHTS))
        save_file(_contiguous(model.composer.state_dict(), storage_dtype), str(tmp / COMPOSER_WEIGHTS))
        files = [BACKBONE_WEIGHTS, COMPOSER_WEIGHTS]
        # A Hugging Face tokenizer / text tower: its files travel with the checkpoint (loads offline, as saved).
        files += save_text_assets(model.backbone, model.tokenizer, tmp)
        if aux_modules:
            aux = {f"{name}.{k}": v for name, m in aux_modules.items() for k, v in m.state_dict().items()}
            save_file(_contiguous(aux, None), str(tmp / AUX_WEIGHTS))
            files.append(AUX_WEIGHTS)
        write_json_atomic(tmp / OPEN_CLIP_CONFIG, {"model_cfg": model.model_cfg, "preprocess_cfg": _jsonable(model.preprocess_cfg)})
        checksums = {name: sha256_file(tmp / name) for name in files + [OPEN_CLIP_CONFIG]}
        fingerprint = model_fingerprint(checksums, model.describe())
        config = {"format": FORMAT, "format_version": FORMAT_VERSION, **model.describe(),
                  "embed_dim": model.embed_dim, "files": checksums, "fingerprint": fingerprint}
        if getattr(model, "adapters", None) is not None:  # an adapted model: its adapters too, and their fingerprints
            config = adapted_config(config, fingerprint, save_adapters(model.adapters, tmp, fingerprint),
                                    model.adapters, model.describe())
        write_json_atomic(tmp / CONFIG_FILE, config)
        if training_args is not None:
            write_json_atomic(tmp / "training_args.json", _jsonable(training_args))
        if metrics is not None:
            write_json_atomic(tmp / "metrics.json", metrics)
        for name, obj in (extra_files or {}).items():
            write_json_atomic(tmp / name, obj)
        if model.text_vocabulary is not None:  # the words it was trained on, for the request reader
            write_text_vocabulary(tmp, model.text_vocabulary)
        for f in tmp.rglob("*"):
            os.chmod(f, 0o755 if f.is_dir() else 0o644)  # safetensors writes 0600; checkpoints are shared and served
        replace_dir_atomic(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu", verify: bool = True,
                    new_composer: tuple[str, dict] | None = None, granularity: str | None = None) -> CIRModel:
    """Load a checkpoint folder written by ``save_checkpoint``; raises ``CheckpointError`` with what is wrong.

    ``new_composer=(name, kwargs)`` loads the backbone only and attaches a freshly initialised composer of that
    kind: how a stage starts from the previous stage's encoders (whose composer, if any, was never trained).
    An adapted checkpoint (``python -m training.adapt``) comes with its image adapters attached; ``granularity``
    ("fusion", "off" or a set such as "k64"; default: the checkpoint's) chooses which the image encoder uses.
    """
    config = read_checkpoint_config(path)
    folder = Path(config["_folder"])
    for name in config["files"]:
        if not (folder / name).is_file():
            raise CheckpointError(f"checkpoint {folder} is incomplete: {name} is missing")
    if verify:
        for name, expected in config["files"].items():
            if sha256_file(folder / name) != expected:
                raise CheckpointError(
                    f"{folder / name} does not match the checksum recorded in {CONFIG_FILE}: the file was changed "
                    f"or comes from another checkpoint. Re-export the checkpoint or restore the original file."
                )
    try:
        oc = json.loads((folder / OPEN_CLIP_CONFIG).read_text(encoding="utf-8"))
        backbone = backbone_from_config(oc["model_cfg"], oc["preprocess_cfg"], folder)
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{folder / OPEN_CLIP_CONFIG} does not describe an open_clip model: {e}") from e
    composer = config.get("composer", {})
    if new_composer is not None:
        model = CIRModel(backbone, new_composer[0], new_composer[1])
    else:
        model = CIRModel(backbone, composer.get("name", "adaptive"), composer.get("kwargs", {}))
    _load_weights(model.backbone, folder / BACKBONE_WEIGHTS, "backbone")
    if new_composer is None:
        _load_weights(model.composer, folder / COMPOSER_WEIGHTS, "composer")
    model.fingerprint = config["fingerprint"]
    try:
        model.text_vocabulary = read_text_vocabulary(folder)
    except TextVocabularyError as e:
        raise CheckpointError(str(e)) from e
    if config.get("adapters") or granularity is not None:
        attach_checkpoint_adapters(model, folder, config, granularity)
    return model.to(device).eval()


def load_aux_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The training-only heads of a checkpoint (empty when it has none)."""
    file = Path(read_checkpoint_config(path)["_folder"]) / AUX_WEIGHTS
    return load_file(str(file)) if file.is_file() else {}


def _load_weights(module: torch.nn.Module, file: Path, what: str) -> None:
    try:
        state = load_file(str(file))
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise CheckpointError(f"cannot read {file} as safetensors ({e}); the checkpoint is corrupt") from e
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong_shape:
        detail = "; ".join(
            part for part in (
                f"missing {missing[:3]}{'...' if len(missing) > 3 else ''}" if missing else "",
                f"unexpected {unexpected[:3]}{'...' if len(unexpected) > 3 else ''}" if unexpected else "",
                f"shape mismatch for {wrong_shape[:3]}" if wrong_shape else "",
            ) if part
        )
        raise CheckpointError(f"{file} does not fit the {what} described by the checkpoint's config: {detail}")
    module.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> CIRModel:
    """Load a trained model from a checkpoint folder (see ``load_checkpoint``)."""
    return load_checkpoint(path, device=device)
