"""What a checkpoint folder is on disk: its file names, its config, its fingerprint, and the error for a bad one.

The bottom of the checkpoint code: ``checkpoint`` (save and load a model) and ``adapter_files`` (the image adapters
an adapted checkpoint carries) both build on it, so neither needs the other's internals.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cti_ir.files import read_format_json

FORMAT = "cti-ir-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "cti_config.json"
OPEN_CLIP_CONFIG = "open_clip_config.json"
BACKBONE_WEIGHTS = "open_clip_model.safetensors"
COMPOSER_WEIGHTS = "composer.safetensors"
AUX_WEIGHTS = "aux_heads.safetensors"


class CheckpointError(ValueError):
    """A checkpoint folder is missing, incomplete, corrupt or does not match what it is used with."""



def model_fingerprint(checksums: dict[str, str], description: dict[str, Any]) -> str:
    """A short hash of a model's file checksums and description: what indexes and add-ons record to match it."""
    blob = json.dumps({"files": checksums, **description}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def read_checkpoint_config(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``cti_config.json`` of a checkpoint folder, with clear errors when it is not one."""
    folder = Path(path)
    if not folder.exists():
        old = folder.with_name(folder.name + ".old")
        if old.is_dir():  # a save was interrupted between its two renames: the previous checkpoint is complete
            folder = old
        else:
            raise CheckpointError(f"checkpoint folder not found: {folder}")
    if not folder.is_dir():
        raise CheckpointError(f"{folder} is a file; a checkpoint is a folder holding {CONFIG_FILE} and the weights")
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(
            f"{folder} is not a cti-ir checkpoint: {CONFIG_FILE} is missing (for a plain open_clip model use "
            f"training's --model/--pretrained flags instead)"
        )
    config = read_format_json(config_path, FORMAT, FORMAT_VERSION, CheckpointError, "the checkpoint")
    config["_folder"] = str(folder)
    return config
