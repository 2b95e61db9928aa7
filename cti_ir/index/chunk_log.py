"""The embedding chunks of an index folder, read as a log of changes to the catalogue.

``embeddings/part-NNNNN.json`` (+ ``.npy``) files are written in order and never rewritten. A chunk holds:

- ``items``: records (image_id, path, categories, description, sha256) with one vector each in the ``.npy``: new
  products, or products whose photo changed (the newer vector replaces the older, at the product's old position);
- ``records`` (optional): records whose photo did not change but whose path, categories or description did;
- ``removed`` (optional): product ids taken out of the catalogue;
- ``skipped``: the images that could not be read.

Replaying the chunks in order gives the catalogue, so an index is always rebuilt from its chunks alone: a change
that was killed resumes (its finished chunks are kept) to the index an uninterrupted change gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.index.layout import EMBEDDINGS_DIR, IndexMismatchError


def chunk_files(out: str | Path) -> list[Path]:
    """The finished chunks (their ``.json``, written last), in order."""
    return sorted(Path(out, EMBEDDINGS_DIR).glob("part-*.json"))


def chunk_number(meta_file: Path) -> int:
    return int(meta_file.stem.split("-")[1])


def read_log(out: str | Path) -> tuple[np.ndarray, list[dict], list[dict]]:
    """(vectors, item records, unreadable files) of the catalogue the chunks describe, in index order."""
    arrays, live, skipped = [], {}, []
    rows = 0
    for meta_file in chunk_files(out):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        v = np.load(meta_file.with_suffix(".npy"), allow_pickle=False)
        if len(v) != len(meta["items"]):
            raise IndexMismatchError(f"{meta_file} lists {len(meta['items'])} items but its .npy holds {len(v)}")
        arrays.append(v)
        for row, record in enumerate(meta["items"]):
            live[record["image_id"]] = (rows + row, record)  # a known id keeps its place, with the new vector
        rows += len(v)
        for record in meta.get("records", []):
            if record["image_id"] in live:
                live[record["image_id"]] = (live[record["image_id"]][0], record)
        for image_id in meta.get("removed", []):
            live.pop(image_id, None)
        skipped += meta["skipped"]
    dim = next((a.shape[1] for a in arrays if a.ndim == 2), 0)
    order = np.fromiter((row for row, _ in live.values()), dtype=np.int64, count=len(live))
    vectors = np.concatenate(arrays)[order] if arrays and len(order) else np.zeros((0, dim), np.float32)
    items = [record for _, record in live.values()]
    return vectors, items, unique_skipped(skipped, items)


def unique_skipped(skipped: list[dict], items: list[dict]) -> list[dict]:
    """One entry per unreadable file that is not in the index, with its latest error.

    ``add`` retries the files an earlier run skipped (they may have been fixed since); without this, a file that
    is still unreadable would be counted once more by every ``add``.
    """
    indexed = {it["path"] for it in items}
    latest = {s["path"]: s for s in skipped if s["path"] not in indexed}
    return list(latest.values())


def write_change_chunk(out: str | Path, number: int, dim: int, removed: list[str] = (),
                       records: list[dict] = ()) -> Path:
    """A chunk without vectors: ``removed`` ids and changed ``records`` (atomic; the ``.json`` last)."""
    part = Path(out, EMBEDDINGS_DIR, f"part-{number:05d}")
    write_atomic(part.with_suffix(".npy"), lambda tmp: save_npy(tmp, np.zeros((0, dim), np.float32)))
    return write_json_atomic(part.with_suffix(".json"), {"items": [], "records": list(records),
                                                         "removed": list(removed), "skipped": []}, indent=None)


def drop_chunks_from(out: str | Path, start: int) -> None:
    """Remove the chunks numbered ``start`` and above (left by an interrupted change of something else)."""
    for meta_file in chunk_files(out):
        if chunk_number(meta_file) >= start:
            meta_file.unlink()
            meta_file.with_suffix(".npy").unlink(missing_ok=True)
    for npy in Path(out, EMBEDDINGS_DIR).glob("part-*.npy"):  # a .npy whose .json was never written
        if chunk_number(npy) >= start and not npy.with_suffix(".json").exists():
            npy.unlink()


def embedded_count(out: str | Path) -> int:
    """Images embedded so far in an index folder's chunks (what a resumed build or add does not encode again)."""
    count = 0
    for meta_file in Path(out, EMBEDDINGS_DIR).glob("part-*.json"):
        try:
            count += len(json.loads(meta_file.read_text(encoding="utf-8"))["items"])
        except (OSError, ValueError, KeyError):
            continue
    return count


def save_npy(path: str, array: np.ndarray) -> None:
    # Through an open file: np.save(path) would append ".npy" to the temporary name. Closed here, before the
    # atomic rename, rather than whenever the garbage collector gets to it.
    with open(path, "wb") as f:
        np.save(f, array)
