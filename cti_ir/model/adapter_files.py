"""Saving and loading image adapters, alone or inside an adapted checkpoint, and their fingerprints.

An adapter folder (a checkpoint folder can be one too) holds::

    adapter_config.json    format, version, registry name and arguments of the adapters, their granularities,
                           the default granularity, the SHA-256 of the weights, and the fingerprint of the base
                           model they fit
    adapters.safetensors   the adapter sets and fusion layers (nothing of the base model)

An *adapted checkpoint* is the base checkpoint's files, byte for byte, plus these two files, with a
``cti_config.json`` that lists them too and records ``base_fingerprint``. Loading refuses adapters whose base
fingerprint is not the model's, and any file whose checksum does not match.

Fingerprints, which indexes record, say which embedding space a vector lives in: ``"off"`` gives the base model's
fingerprint (an index built with the base model still serves), ``"fusion"`` the adapted checkpoint's, and a single
set ``"k64"`` the adapted checkpoint's followed by ``-k64``. An index built at one granularity is therefore never
searched with another.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from cti_ir.files import read_format_json, replace_dir_atomic, sha256_file, staging_dir, write_json_atomic
from cti_ir.model.adapters import FUSION, OFF, AdapterConfig, ImageAdapters, granularity_name, install_adapters
from cti_ir.model.checkpoint_files import CONFIG_FILE, CheckpointError, model_fingerprint, read_checkpoint_config

FORMAT = "cti-ir-image-adapters"
FORMAT_VERSION = 1
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapters.safetensors"
ADAPTER_FILES = (ADAPTER_CONFIG, ADAPTER_WEIGHTS)


class AdapterError(ValueError):
    """Adapters that are missing, corrupt, or made for another model."""



def save_adapters(adapters: ImageAdapters, folder: str | os.PathLike, base_fingerprint: str,
                  extra: dict[str, Any] | None = None) -> dict[str, str]:
    """Write ``adapters`` into ``folder`` (created if needed); returns ``{file name: sha256}`` of both files.

    ``extra`` is recorded in the config (e.g. how the adapters were trained).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / ADAPTER_WEIGHTS
    state = {k: v.detach().cpu().contiguous() for k, v in adapters.state_dict().items()}
    tmp = weights.with_name(f".{weights.name}.tmp")
    save_file(state, str(tmp))
    os.replace(tmp, weights)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "registry_name": adapters.config.adapter,
        "config": adapters.config.to_json(), "default": adapters.default, "granularities": adapters.names,
        "parameters": adapters.count_parameters(), "base_fingerprint": base_fingerprint,
        "sha256": {ADAPTER_WEIGHTS: sha256_file(weights)}, **(extra or {}),
    }
    write_json_atomic(folder / ADAPTER_CONFIG, config)
    for name in ADAPTER_FILES:
        os.chmod(folder / name, 0o644)  # safetensors writes 0600; checkpoints are meant to be shared
    return {name: sha256_file(folder / name) for name in ADAPTER_FILES}


def read_adapter_config(folder: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``adapter_config.json`` of an adapter (or adapted checkpoint) folder, with clear errors."""
    path = Path(folder) / ADAPTER_CONFIG
    if not path.is_file():
        raise AdapterError(f"{folder} holds no adapters: {ADAPTER_CONFIG} is missing")
    config = read_format_json(path, FORMAT, FORMAT_VERSION, AdapterError, "the adapters")
    return config


def load_adapters(folder: str | os.PathLike, model, granularity: str | None = None,
                  verify: bool = True) -> ImageAdapters:
    """Attach the adapters saved in ``folder`` to ``model`` (a base model loaded from its checkpoint).

    Refuses adapters trained for another base model (fingerprint), corrupt weights, or weights that do not fit the
    recorded configuration.
    """
    folder = Path(folder)
    config = read_adapter_config(folder)
    if config.get("base_fingerprint") != model.fingerprint:
        raise AdapterError(
            f"the adapters in {folder} were trained for model {config.get('base_fingerprint')}, not for this model "
            f"({model.fingerprint}); adapt this model with `python -m training.adapt` or load the model they fit")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise AdapterError(f"{folder} is incomplete: {ADAPTER_WEIGHTS} is missing")
    if verify and sha256_file(weights) != config.get("sha256", {}).get(ADAPTER_WEIGHTS):
        raise AdapterError(f"{weights} does not match the checksum in {ADAPTER_CONFIG}: the file was changed or "
                           f"comes from other adapters")
    try:
        adapter_config = AdapterConfig.from_json(config["config"])
        adapters = ImageAdapters(adapter_config, granularity or config.get("default"))
    except (KeyError, TypeError, ValueError) as e:
        raise AdapterError(f"{folder / ADAPTER_CONFIG} does not describe adapters this code can build: {e}") from e
    try:
        state = load_file(str(weights))
    except Exception as e:  # safetensors raises its own error types for truncated or foreign files
        raise AdapterError(f"cannot read {weights} as safetensors ({e}); the adapters are corrupt") from e
    expected = adapters.state_dict()
    if set(state) != set(expected) or any(state[k].shape != expected[k].shape for k in expected):
        raise AdapterError(f"{weights} does not fit the adapters described in {ADAPTER_CONFIG}")
    adapters.load_state_dict(state)
    adapters.base_fingerprint = model.fingerprint
    return install_adapters(model, adapters)


# ------------------------------------------------------------------------------------------- fingerprints
def granularity_fingerprint(adapters: ImageAdapters, granularity: str) -> str:
    """The fingerprint of the embedding space ``granularity`` gives (see the module docstring)."""
    name = adapters.check(granularity_name(granularity))
    if name == OFF:
        return adapters.base_fingerprint
    adapted = getattr(adapters, "adapted_fingerprint", None)
    if adapted is None:
        raise AdapterError("these adapters are not saved in a checkpoint yet, so they have no fingerprint")
    return adapted if name == FUSION else f"{adapted}-{name}"


def set_granularity(model, granularity: str | int) -> str:
    """Make ``granularity`` the model's default (and its fingerprint that space's); returns its canonical name."""
    adapters = getattr(model, "adapters", None)
    name = granularity_name(granularity)
    if adapters is None:
        if name != OFF:
            raise AdapterError(f"the model has no adapters, so granularity {name!r} is not available (only 'off')")
        return name
    adapters.default = adapters.check(name)
    model.fingerprint = granularity_fingerprint(adapters, name)
    return name


def match_index_granularity(model, index_fingerprint: str) -> str | None:
    """If one of the model's granularities built the index, make it the model's default and return its name.

    Returns None (and changes nothing) when none does; the usual compatibility check then reports the mismatch.
    """
    adapters = getattr(model, "adapters", None)
    if adapters is None:
        return None
    for name in adapters.names:
        if granularity_fingerprint(adapters, name) == index_fingerprint:
            return set_granularity(model, name)
    return None


# --------------------------------------------------------------------------------------- adapted checkpoints
def attach_checkpoint_adapters(model, folder: Path, config: dict[str, Any], granularity: str | None) -> None:
    """Called by ``load_checkpoint``: attach an adapted checkpoint's adapters and choose the granularity.

    ``model.fingerprint`` holds the checkpoint's recorded fingerprint on entry; on return it is the fingerprint of
    the chosen granularity.
    """
    if not config.get("adapters"):
        if granularity is not None:
            try:
                set_granularity(model, granularity)  # "off" is the only choice; anything else is refused
            except (AdapterError, ValueError) as e:
                raise CheckpointError(f"{folder}: {e}") from e
        return
    base_files = {n: sha for n, sha in config["files"].items() if n not in ADAPTER_FILES}
    base_fingerprint = model_fingerprint(base_files, model.describe())
    if config.get("base_fingerprint") != base_fingerprint:
        raise CheckpointError(f"{folder}: the recorded base fingerprint does not match the base model's files; the "
                              f"checkpoint is corrupt")
    adapted = config["fingerprint"]
    model.fingerprint = base_fingerprint
    try:
        adapters = load_adapters(folder, model, verify=False)  # load_checkpoint has verified every checksum
        adapters.adapted_fingerprint = adapted
        set_granularity(model, granularity or adapters.default)
    except (AdapterError, ValueError) as e:
        raise CheckpointError(str(e)) from e


def adapted_config(base_config: dict[str, Any], base_fingerprint: str, adapter_checksums: dict[str, str],
                   adapters: ImageAdapters, description: dict[str, Any]) -> dict[str, Any]:
    """The ``cti_config.json`` of an adapted checkpoint (the base's, plus the adapter files and fingerprints)."""
    files = {**{n: s for n, s in base_config["files"].items() if n not in ADAPTER_FILES}, **adapter_checksums}
    config = {k: v for k, v in base_config.items() if not k.startswith("_")}
    config.update(files=files, base_fingerprint=base_fingerprint,
                  adapters={"default": adapters.default, "granularities": adapters.names},
                  fingerprint=model_fingerprint(files, description))
    return config


def write_adapted_checkpoint(base_checkpoint: str | os.PathLike, model, out: str | os.PathLike,
                             training_args: dict | None = None, metrics: dict | None = None,
                             extra: dict[str, Any] | None = None) -> Path:
    """Write ``out``: the base checkpoint's files copied byte for byte, plus ``model.adapters``; atomically.

    Copying (rather than re-saving) keeps the base fingerprint, so indexes and composed search built with the base
    model keep working with the adapted checkpoint at granularity ``"off"``.
    """
    base_config = read_checkpoint_config(base_checkpoint)
    if base_config.get("adapters"):
        raise AdapterError(f"{base_checkpoint} is already adapted; adapt its base checkpoint instead")
    if base_config["fingerprint"] != getattr(model.adapters, "base_fingerprint", None):
        raise AdapterError(f"the adapters were trained on model {model.adapters.base_fingerprint}, not on "
                           f"{base_checkpoint} ({base_config['fingerprint']})")
    base_folder = Path(base_config["_folder"])
    final = Path(out)
    tmp = staging_dir(final)
    try:
        for name, expected in base_config["files"].items():
            shutil.copyfile(base_folder / name, tmp / name)
            if sha256_file(tmp / name) != expected:
                raise AdapterError(f"{base_folder / name} does not match its recorded checksum; the base checkpoint "
                                   f"is corrupt")
            os.chmod(tmp / name, 0o644)
        checksums = save_adapters(model.adapters, tmp, base_config["fingerprint"], extra)
        config = adapted_config(base_config, base_config["fingerprint"], checksums, model.adapters, model.describe())
        write_json_atomic(tmp / CONFIG_FILE, config)
        if training_args is not None:
            write_json_atomic(tmp / "training_args.json", training_args)
        if metrics is not None:
            write_json_atomic(tmp / "metrics.json", metrics)
        replace_dir_atomic(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    model.adapters.adapted_fingerprint = config["fingerprint"]
    model.fingerprint = granularity_fingerprint(model.adapters, model.adapters.default)
    return final


def adapter_summary(model) -> dict[str, Any] | None:
    """What a caller may want to show about a model's adapters (None for a model without)."""
    adapters = getattr(model, "adapters", None)
    if adapters is None:
        return None
    return {"granularities": adapters.names, "default": adapters.default,
            "parameters": adapters.count_parameters()}
