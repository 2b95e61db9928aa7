"""Embedding transformations: map a gallery model's image embeddings into the query model's embedding space.

The building block of asymmetric search (Linial, Shoshan et al., "Asymmetric Image Retrieval with Cross Model
Compatible Ensembles", WACV 2024): a heavy gallery model embeds the catalogue offline, a learned transformation
carries its embeddings into the light query model's space, and queries are encoded by the query model alone.
What the paper states is the direction (gallery space -> query space, the query embedding used as is). The form
below is our reconstruction: the paper's code is not public, and the residual-bottleneck shape follows the
"RBT" module of Wang et al. (BMVC 2020), which the paper builds on.

A trained transformation is its own folder::

    transform_config.json    format, version, registry name and kwargs, input/output dimensions, the fingerprints
                             of the query model and of the gallery model(s) it connects (and where their
                             checkpoints were, for messages), SHA-256 of the weights, and its own fingerprint
    transform.safetensors    the weights
    training_args.json, metrics.json   (optional) how it was trained and how well it aligns

Loading refuses a folder whose weights do not match their checksum, and the gallery encoder refuses a
transformation whose fingerprints do not match the models it is used with.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from cti_ir.files import replace_dir_atomic, sha256_file, staging_dir, write_json_atomic

FORMAT = "cti-ir-transform"
FORMAT_VERSION = 1
CONFIG_FILE = "transform_config.json"
WEIGHTS_FILE = "transform.safetensors"


class EmbeddingMapError(ValueError):
    """A transformation folder is missing, corrupt, or does not connect the models it is used with."""


class ResidualBottleneckMap(nn.Module):
    """``normalize(A x + sum_p MLP_p(x))``: a linear map plus parallel bottleneck MLP paths.

    Takes L2-normalised ``(N, d_in)`` gallery embeddings, returns L2-normalised ``(N, d_out)`` embeddings in the
    query space. The linear part does most of the work (two embedding spaces trained on the same kind of data are
    close to linearly related); the bottleneck paths add what a linear map cannot. LayerNorm rather than the
    original RBT's BatchNorm, so that one image encodes the same alone as in a batch.
    """

    def __init__(self, d_in: int, d_out: int, bottleneck: int = 64, paths: int = 4):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)
        self.paths = nn.ModuleList(
            nn.Sequential(nn.Linear(d_in, bottleneck), nn.LayerNorm(bottleneck), nn.GELU(),
                          nn.Linear(bottleneck, bottleneck), nn.LayerNorm(bottleneck), nn.GELU(),
                          nn.Linear(bottleneck, d_out))
            for _ in range(paths))
        for path in self.paths:  # the paths start silent: the transformation starts as its linear part
            nn.init.zeros_(path[-1].weight)
            nn.init.zeros_(path[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.linear(x)
        for path in self.paths:
            y = y + path(x)
        return F.normalize(y, dim=-1)


class LinearMap(nn.Module):
    """``normalize(A x + b)``: the simplest transformation (a baseline and a sanity check)."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.linear(x), dim=-1)


@torch.no_grad()
def init_linear_least_squares(transform: nn.Module, x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> None:
    """Set a transformation's linear part to the ridge least-squares map from ``x`` to ``y`` (both ``(N, D)``).

    Two embedding spaces of the same images are close to linearly related, so the closed-form fit is a far better
    start than a random matrix; training then refines it (and the bottleneck paths add the non-linear rest).
    """
    ones = torch.ones(len(x), 1, dtype=x.dtype)
    a = torch.cat([x, ones], dim=1).double()
    gram = a.T @ a + ridge * len(x) * torch.eye(a.shape[1], dtype=torch.float64)
    solution = torch.linalg.solve(gram, a.T @ y.double())          # (d_in + 1, d_out)
    transform.linear.weight.copy_(solution[:-1].T.float())
    transform.linear.bias.copy_(solution[-1].float())


EMBEDDING_MAPS: dict[str, type[nn.Module]] = {"bottleneck": ResidualBottleneckMap, "linear": LinearMap}


def build_embedding_map(name: str, d_in: int, d_out: int, **kwargs: Any) -> nn.Module:
    """A new transformation of the registered kind ``name`` from ``d_in`` to ``d_out`` dimensions."""
    if name not in EMBEDDING_MAPS:
        raise EmbeddingMapError(f"unknown transformation {name!r}; choose one of {', '.join(sorted(EMBEDDING_MAPS))}")
    return EMBEDDING_MAPS[name](d_in, d_out, **kwargs)



def save_embedding_map(module: nn.Module, path: str | os.PathLike, *, name: str, kwargs: dict[str, Any], d_in: int,
                   d_out: int, query_fingerprint: str, gallery_fingerprints: Sequence[str],
                   gallery_checkpoints: Sequence[str] = (), metrics: dict | None = None,
                   training_args: dict | None = None, query_checkpoint: str | None = None) -> Path:
    """Write a transformation folder at ``path`` atomically (an old folder there is replaced).

    ``gallery_fingerprints`` lists the gallery model(s) whose embeddings the transformation reads, in input
    order (several when it reads their concatenation). ``gallery_checkpoints`` and ``query_checkpoint`` record
    where the models were, for tools and for the messages that refuse a mismatch; the fingerprints are what is
    checked.
    """
    final = Path(path)
    tmp = staging_dir(final)
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_FILE))
        sha = sha256_file(tmp / WEIGHTS_FILE)
        description = {"name": name, "kwargs": kwargs, "d_in": d_in, "d_out": d_out,
                       "query_fingerprint": query_fingerprint, "gallery_fingerprints": list(gallery_fingerprints)}
        fingerprint = hashlib.sha256(json.dumps({"sha256": sha, **description}, sort_keys=True).encode()).hexdigest()
        config = {"format": FORMAT, "format_version": FORMAT_VERSION, **description,
                  "gallery_checkpoints": [str(c) for c in gallery_checkpoints],
                  **({"query_checkpoint": str(query_checkpoint)} if query_checkpoint else {}),
                  "files": {WEIGHTS_FILE: sha},
                  "fingerprint": fingerprint[:16]}
        write_json_atomic(tmp / CONFIG_FILE, config)
        if metrics is not None:
            write_json_atomic(tmp / "metrics.json", metrics)
        if training_args is not None:
            write_json_atomic(tmp / "training_args.json", training_args)
        for f in tmp.iterdir():
            os.chmod(f, 0o644)
        replace_dir_atomic(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def read_embedding_map_config(path: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``transform_config.json`` of a transformation folder, with clear errors when it is not one."""
    folder = Path(path)
    config_path = folder / CONFIG_FILE
    if not folder.is_dir():
        raise EmbeddingMapError(f"transformation folder not found: {folder}")
    if not config_path.is_file():
        raise EmbeddingMapError(f"{folder} is not a transformation folder: {CONFIG_FILE} is missing (train one with "
                             f"`python -m training.fit_embedding_map`; its usable output is OUT/best)")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EmbeddingMapError(f"{config_path} is not valid JSON ({e}); the transformation is corrupt") from e
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise EmbeddingMapError(f"{config_path} is not a version-{FORMAT_VERSION} {FORMAT} config")
    config["_folder"] = str(folder)
    return config


def recorded_query_checkpoint(config: dict[str, Any]) -> str | None:
    """Where the query model of a transformation was when it was trained: its config's ``query_checkpoint``, or
    for folders written before that was recorded, the ``--query`` of its training_args.json (None if neither)."""
    if config.get("query_checkpoint") or not config.get("_folder"):
        return config.get("query_checkpoint")
    args_file = Path(config["_folder"]) / "training_args.json"
    try:
        query = json.loads(args_file.read_text(encoding="utf-8")).get("query")
    except (OSError, ValueError, AttributeError):
        return None
    return str(query) if query else None


def load_embedding_map(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """The transformation module (eval mode, CPU) and its config; refuses a corrupt or tampered folder."""
    config = read_embedding_map_config(path)
    folder = Path(config["_folder"])
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise EmbeddingMapError(f"transformation {folder} is incomplete: {WEIGHTS_FILE} is missing")
    if sha256_file(weights) != config["files"][WEIGHTS_FILE]:
        raise EmbeddingMapError(f"{weights} does not match the checksum in {CONFIG_FILE}: the file was changed or "
                             f"comes from another transformation; retrain or restore it")
    module = build_embedding_map(config["name"], config["d_in"], config["d_out"], **config["kwargs"])
    try:
        module.load_state_dict(load_file(str(weights)))
    except Exception as e:  # safetensors' own errors for foreign files, torch's for shape mismatches
        raise EmbeddingMapError(f"{weights} does not fit the transformation described by {CONFIG_FILE}: {e}") from e
    return module.eval(), config
