"""Running a checkpoint's towers and composer with ONNX Runtime: the export folder, its checks, the sessions.

An export folder (written by ``python -m cti_ir.model.onnx_export``, by default ``CHECKPOINT/onnx``) holds::

    image_fp32.onnx, text_fp32.onnx     the towers as exported from PyTorch (same outputs to ~1e-7)
    image_int8.onnx, text_int8.onnx     the same, weights quantised to int8 (dynamic quantisation); a tower left
                                        out by ``onnx_export --int8-towers`` has no int8 file: its ``int8``
                                        entry names its fp32 file, which the int8 backend then runs
    composer_fp32.onnx                  (when the composer could be exported) the composer, fp32 in both backends:
                                        image and text features -> query and the weights behind it
    onnx_config.json                    format, the checkpoint's fingerprint, each file's SHA-256, the towers'
                                        inputs, the graph form asked for and each tower's form written (``lean``
                                        or ``plain``, see ``onnx_graphs``; none recorded in an export made
                                        before: plain), what the export's round-trip check measured
    accuracy.json                       (optional) each backend's retrieval accuracy against PyTorch fp32, written
                                        by ``python -m cti_ir.evaluate.backend_check``; ``--backend auto`` reads it

An ONNX file is a protobuf graph, not pickle, but it is still code and weights we run: a folder is used only when
its recorded fingerprint is the checkpoint's and every file it names has the recorded SHA-256.

The text tower is exported with a variable sequence length. open_clip's text transformer is causal and reads the
embedding at the end-of-text token, so no position after that token changes the result: :class:`OnnxTextTower`
cuts the padded token rows after the batch's last end-of-text token (a 77-token context is often 8 tokens), which
is what makes a ViT-B-32 text query cheap. Towers for which this does not hold are exported and run at full length.

The composer is a few small layers, yet in PyTorch it cost a demo-model query 0.65 to 1.5 ms of CPU right after
the ONNX towers had run (0.35 ms timed alone: each framework's first calls after the other's run from cold caches),
and 0.2 to 0.3 ms in ONNX Runtime on the same machine (docs/results/speed.md has the measurements). An export
without a composer (made before it was exported, or of a composer that reads the raw texts) composes in PyTorch.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cti_ir.files import read_format_json, sha256_file
from cti_ir.model.compose_output import ComposeOutput

FORMAT = "cti-ir-onnx"
FORMAT_VERSION = 1
CONFIG_FILE = "onnx_config.json"
ACCURACY_FILE = "accuracy.json"
ACCURACY_FORMAT = "cti-ir-backend-accuracy"
#: The folder an export goes to when the user names none: inside the checkpoint folder, so it travels with it.
DEFAULT_SUBFOLDER = "onnx"
#: Precision of each ONNX backend name.
PRECISIONS = {"onnx": "fp32", "onnx-int8": "int8"}
TOWERS = ("image", "text")
COMPOSER_FILE = "composer_fp32.onnx"
#: The composer graph's inputs and outputs, in order.
COMPOSER_INPUTS = ("image_features", "text_features")
COMPOSER_OUTPUTS = ("query", "image_weight", "text_weight")
INSTALL_HINT = "pip install 'cti-ir[onnx]'"


class OnnxError(ValueError):
    """An export folder is missing, incomplete, changed, or made from another checkpoint; the message says what
    to do."""


def importable(name: str) -> bool:
    """True when package ``name`` imports (an optional extra may be missing, or present but broken)."""
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def onnxruntime_available() -> bool:
    """True when ONNX Runtime can be imported (it is the optional ``onnx`` extra)."""
    return importable("onnxruntime")


def tower_file(tower: str, precision: str) -> str:
    """The file name of one tower at one precision, e.g. ``image_int8.onnx``."""
    return f"{tower}_{precision}.onnx"


def default_onnx_dir(checkpoint: str | Path) -> Path:
    """Where a checkpoint's export is looked for and written unless the user names a folder."""
    return Path(checkpoint) / DEFAULT_SUBFOLDER


def export_command(checkpoint: str | Path, folder: str | Path | None = None) -> str:
    """The command that (re)writes the export folder, for messages."""
    out = "" if folder is None or Path(folder) == default_onnx_dir(checkpoint) else f" --out {folder}"
    return f"python -m cti_ir.model.onnx_export --checkpoint {checkpoint}{out}"


def read_onnx_config(folder: str | Path, checkpoint_fingerprint: str, checkpoint: str | Path = "CHECKPOINT",
                     precisions: tuple[str, ...] = ("fp32", "int8"), verify: bool = True) -> dict[str, Any]:
    """The checked ``onnx_config.json`` of an export folder; raises :class:`OnnxError` naming what is wrong.

    Refused: no folder or config, another format, an export of another checkpoint (fingerprint), and, with
    ``verify``, a missing file or one whose SHA-256 differs from the recorded one, for the towers of
    ``precisions`` that the export holds.
    """
    folder = Path(folder)
    redo = export_command(checkpoint, folder)
    if not (folder / CONFIG_FILE).is_file():
        raise OnnxError(f"no ONNX export in {folder} ({CONFIG_FILE} is missing); write it with: {redo}")
    config = read_format_json(folder / CONFIG_FILE, FORMAT, FORMAT_VERSION, OnnxError, "the ONNX export")
    made_from = config.get("checkpoint_fingerprint")
    if made_from != checkpoint_fingerprint:
        raise OnnxError(f"the ONNX export in {folder} was made from the checkpoint with fingerprint {made_from}, not "
                        f"from this one ({checkpoint_fingerprint}); export it again: {redo}")
    if verify:
        for name in files_of(config, precisions):
            path = folder / name
            if not path.is_file():
                raise OnnxError(f"the ONNX export in {folder} is incomplete: {name} is missing; export it again: "
                                f"{redo}")
            if sha256_file(path) != config["files"].get(name):
                raise OnnxError(f"{path} does not match the SHA-256 recorded in {CONFIG_FILE}: the file was changed "
                                f"or comes from another export; export it again: {redo}")
    config["_folder"] = str(folder)
    return config


def files_of(config: dict[str, Any], precisions: tuple[str, ...]) -> list[str]:
    """The files of the exported towers at ``precisions`` (a tower that was not exported has none), and the
    composer's, which every precision runs."""
    towers = [name for tower in TOWERS for p, name in (config["towers"].get(tower) or {}).get("files", {}).items()
              if p in precisions]
    composer = config.get("composer")
    return towers + ([composer["file"]] if isinstance(composer, dict) and precisions else [])


def read_accuracy(folder: str | Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The export's ``accuracy.json`` when it measured exactly these files, else None (never measured, or measured
    on an earlier export)."""
    path = Path(folder) / ACCURACY_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or record.get("format") != ACCURACY_FORMAT:
        return None
    return record if record.get("onnx_files") == config.get("files") else None


def session_options(threads: int | None = None):
    """ONNX Runtime options: all graph optimisations, ``threads`` intra-op threads (default: torch's setting, so
    ``--threads`` means the same for both), one inter-op thread, warnings only."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return options


class OnnxImageTower:
    """An exported image tower: preprocessed pixels ``(N, 3, H, W)`` -> L2-normalised embeddings ``(N, D)``."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(pixels.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self.session.run(None, {self.input: array})[0])


class OnnxTextTower:
    """An exported text tower: token ids ``(N, L)`` -> L2-normalised embeddings ``(N, D)``.

    With ``truncate="argmax"`` (a causal text transformer read at its end-of-text token, the highest token id) the
    rows are cut after the batch's last end-of-text token before running; the result is the same.
    """

    #: The shortest sequence the exported graph takes (the exporter treats lengths 0 and 1 as special cases).
    MIN_LENGTH = 2

    def __init__(self, path: str | Path, truncate: str | None, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.truncate = truncate
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        tokens = tokens.detach().cpu().long()
        if self.truncate == "argmax" and tokens.numel():
            length = int(tokens.argmax(dim=1).max()) + 1
            tokens = tokens[:, :max(length, self.MIN_LENGTH)]
        array = np.ascontiguousarray(tokens.numpy(), dtype=np.int64)
        return torch.from_numpy(self.session.run(None, {self.input: array})[0])


class OnnxComposer:
    """An exported composer: image and text features ``(N, D)`` -> the composed query and its weights, the
    ``ComposeOutput`` of the PyTorch composer without the training-only fields."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])

    def __call__(self, image_features: torch.Tensor, text_features: torch.Tensor) -> ComposeOutput:
        feeds = {name: np.ascontiguousarray(x.detach().cpu().numpy(), dtype=np.float32)
                 for name, x in zip(COMPOSER_INPUTS, (image_features, text_features))}
        query, image_weight, text_weight = self.session.run(list(COMPOSER_OUTPUTS), feeds)
        return ComposeOutput(torch.from_numpy(query), torch.from_numpy(image_weight), torch.from_numpy(text_weight))


def load_composer(config: dict[str, Any], threads: int | None = None) -> OnnxComposer | None:
    """The exported composer of a checked export, or None when it holds none (the composer then runs in PyTorch)."""
    composer = config.get("composer")
    if not isinstance(composer, dict):
        return None
    return OnnxComposer(Path(config["_folder"]) / composer["file"], threads)


def load_towers(config: dict[str, Any], precision: str, threads: int | None = None
                ) -> tuple[OnnxImageTower | None, OnnxTextTower | None]:
    """The image and text towers of a checked export at ``precision`` (None for a tower it does not hold)."""
    folder = Path(config["_folder"])
    image_cfg, text_cfg = config["towers"].get("image"), config["towers"].get("text")
    image = OnnxImageTower(folder / image_cfg["files"][precision], threads) \
        if image_cfg and precision in image_cfg.get("files", {}) else None
    text = OnnxTextTower(folder / text_cfg["files"][precision], text_cfg.get("truncate"), threads) \
        if text_cfg and precision in text_cfg.get("files", {}) else None
    return image, text
