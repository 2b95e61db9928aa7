"""What an index folder holds, by name, and the reading of its ``index_info.json``.

::

    index.faiss        the FAISS index (inner product over L2-normalised vectors = cosine), ids 0..N-1
    items.jsonl        one line per id: image_id, path, categories, description, sha256 of the image file
    index_info.json    model fingerprint, dimension, normalisation, factory, count, skipped images, version
    products.jsonl     the shop's product fields (title, price, in_stock, ...), when a products file was attached
    embeddings/        the embeddings, chunk by chunk (part-NNNNN.npy + .json): a log of additions, re-embedded
                       photos and removals that makes every change resumable and lets the index be rebuilt
                       without re-encoding
    versions/, current the served files live in versions/vNNNNNN/; current links to the served one and the names
                       above are links through it (``cti_ir.index.versions``)
"""

from __future__ import annotations

import json
from pathlib import Path

from cti_ir.index.versions import current_dir

INDEX_FILE = "index.faiss"
ITEMS_FILE = "items.jsonl"
INFO_FILE = "index_info.json"
REJECTED_FILE = "rejected.jsonl"
PLAN_FILE = "build_plan.json"
ADD_PLAN_FILE = "add_plan.json"
CHANGE_PLAN_FILE = "change_plan.json"
EMBEDDINGS_DIR = "embeddings"


class IndexMismatchError(ValueError):
    """An index was built by another model than the one it is used with, or is incomplete."""


def read_index_info(folder: str | Path) -> dict:
    """The served ``index_info.json`` of an index folder, with clear errors when it is not a complete index."""
    folder = Path(folder)
    info, _ = read_version(folder)
    return info


def read_version(folder: str | Path) -> tuple[dict, Path]:
    """(the served version's info, the folder holding its files), resolved once so both belong to one version."""
    folder = Path(folder)
    version = current_dir(folder)
    info_file = version / INFO_FILE
    if not info_file.is_file():
        hint = " (an interrupted build: run the same build command again to resume it)" \
            if (folder / PLAN_FILE).is_file() else ""
        raise FileNotFoundError(f"no index at {folder}: {INFO_FILE} is missing{hint}")
    info = json.loads(info_file.read_text(encoding="utf-8"))
    needed = (ITEMS_FILE,) if (info.get("backend") or {}).get("kind") == "milvus" else (INDEX_FILE, ITEMS_FILE)
    for name in needed:  # a Milvus-backed index keeps its vectors in a collection, not in index.faiss
        if not (version / name).is_file():
            raise IndexMismatchError(f"index {folder} is incomplete: {name} is missing; rebuild it")
    return info, version


def check_compatible(info: dict, model) -> None:
    """Refuse a model whose embeddings are not those stored in the index."""
    if info["dim"] != model.embed_dim:
        raise IndexMismatchError(
            f"the index holds {info['dim']}-dimensional vectors but the checkpoint embeds into {model.embed_dim}; "
            f"use the checkpoint the index was built with or rebuild the index")
    if info["model_fingerprint"] != model.fingerprint:
        raise IndexMismatchError(
            f"the index was built with model {info['model_fingerprint']} but the checkpoint is {model.fingerprint}; "
            f"queries would be compared with vectors of another embedding space. Use the checkpoint the index was "
            f"built with, or rebuild the index with this one")
