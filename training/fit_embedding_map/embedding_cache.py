"""A resumable on-disk cache of one frozen image encoder's embeddings of a list of catalogue images.

Training an embedding transformation (``training.fit_embedding_map``) reads two frozen models' embeddings of the same images
many times over; encoding them once and keeping them on disk makes every epoch cost only the transformation's
own work, and lets several transformations (other seeds, other gallery models) share the encoding.

    CACHE/<model fingerprint>-<hash of the image list>/part-NNNNN.npy + part-NNNNN.json

Each chunk is written atomically, its ``.json`` last, so a killed encoding resumes at the first missing chunk
without duplicates. Frozen encoders see each image once, with the model's inference preprocessing (no
augmentation), which is exactly what the gallery side sees when it indexes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.index.catalogue import CatalogueItem
from cti_ir.index.catalogue_index import embed_items


def cache_folder(cache: Path, fingerprint: str, items: Sequence[CatalogueItem]) -> Path:
    """The cache folder of one model over one image list (another list or model gets another folder)."""
    digest = hashlib.sha256("\n".join(f"{it.image_id}\t{it.path}" for it in items).encode()).hexdigest()[:12]
    return Path(cache) / f"{fingerprint}-{digest}"


def cached_embeddings(model, items: Sequence[CatalogueItem], cache: str | Path, chunk_size: int = 1024,
                      batch_size: int = 128, workers: int = 0, skip_bad: bool = False, progress: bool = True,
                      desc: str = "embed") -> tuple[np.ndarray, list[str]]:
    """Embeddings of the readable ``items`` by ``model``'s image tower (rows) and their image ids.

    Encodes only the chunks the cache does not hold yet. Unreadable images raise, or are left out with
    ``skip_bad`` (so two models' caches can hold different ids: join them by id).
    """
    folder = cache_folder(Path(cache), model.fingerprint, items)
    folder.mkdir(parents=True, exist_ok=True)
    n_chunks = (len(items) + chunk_size - 1) // chunk_size
    done = [c for c in range(n_chunks) if (folder / f"part-{c:05d}.json").is_file()]
    bar = tqdm(total=len(items), initial=min(len(done) * chunk_size, len(items)), desc=desc, unit="img",
               disable=not progress, file=sys.stderr)
    for c in range(n_chunks):
        part = folder / f"part-{c:05d}"
        if part.with_suffix(".json").is_file():
            continue
        chunk = items[c * chunk_size:(c + 1) * chunk_size]
        vecs, kept, bad, _ = embed_items(model, chunk, batch_size, workers, skip_bad)

        def save(tmp: str, array=vecs) -> None:
            with open(tmp, "wb") as f:
                np.save(f, array)

        write_atomic(part.with_suffix(".npy"), save)
        write_json_atomic(part.with_suffix(".json"), {"ids": [chunk[k].image_id for k in kept],
                                                      "skipped": [err for _, err in bad]}, indent=None)
        bar.update(len(chunk))
    bar.close()
    vectors, ids = [], []
    for c in range(n_chunks):
        part = folder / f"part-{c:05d}"
        meta = json.loads(part.with_suffix(".json").read_text(encoding="utf-8"))
        v = np.load(part.with_suffix(".npy"), allow_pickle=False)
        if len(v) != len(meta["ids"]):
            raise ValueError(f"{part}.npy holds {len(v)} rows but its .json lists {len(meta['ids'])}: the cache is "
                             f"corrupt; delete {folder} and run again")
        vectors.append(v)
        ids += meta["ids"]
    dim = vectors[0].shape[1] if vectors else model.embed_dim
    return (np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32)), ids


def join_by_id(tables: Sequence[tuple[np.ndarray, list[str]]]) -> tuple[list[np.ndarray], list[str]]:
    """Rows of several (vectors, ids) tables restricted to the ids all of them hold, in the first table's order."""
    common = set(tables[0][1])
    for _, ids in tables[1:]:
        common &= set(ids)
    order = [i for i in tables[0][1] if i in common]
    out = []
    for vectors, ids in tables:
        position = {image_id: k for k, image_id in enumerate(ids)}
        out.append(vectors[[position[i] for i in order]])
    return out, order
