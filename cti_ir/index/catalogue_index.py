"""The catalogue index: FAISS over the gallery embeddings, with a table of what each vector is.

    python -m cti_ir.index build --checkpoint runs/stage3/best --images shop_photos/ --out index/ [--products p.csv]
    python -m cti_ir.index build --checkpoint ... --dataset fashioniq --root data/fashioniq --out index/
    python -m cti_ir.index add   --index index/ --images new_photos/
    python -m cti_ir.index info  --index index/

What an index folder holds is described in ``cti_ir.index.layout``; removals, photo and product-field updates are
in ``cti_ir.index.lifecycle``, searching in ``cti_ir.index.searching``.

Embedding chunks are written atomically and skipped when present, so a build that was killed resumes where it
stopped, without duplicates or losses. The index is rebuilt from all chunks at the end (``cti_ir.index.chunk_log``
replays them) and published as a new version (``cti_ir.index.versions``), so resuming gives the same index as an
uninterrupted build, and a server reading the folder never sees half of a change.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from cti_ir.files import sha256_file, write_atomic, write_json_atomic
from cti_ir.index.build import (
    ChunkLoader,
    Shard,
)
from cti_ir.index.catalogue import CatalogueItem
from cti_ir.index.category_model import fit_category_model, write_category_model
from cti_ir.index.chunk_log import (  # noqa: F401 - embedded_count is part of this module's interface
    chunk_files,
    drop_chunks_from,
    embedded_count,
    read_log,
    save_npy,
    write_change_chunk,
)
from cti_ir.index.factory import AUTO
from cti_ir.index.layout import (  # noqa: F401 - the names callers import from here
    ADD_PLAN_FILE,
    CHANGE_PLAN_FILE,
    EMBEDDINGS_DIR,
    INDEX_FILE,
    INFO_FILE,
    ITEMS_FILE,
    PLAN_FILE,
    REJECTED_FILE,
    IndexMismatchError,
    check_compatible,
    read_index_info,
    read_version,
)
from cti_ir.index.milvus_backend import decided as milvus_decided
from cti_ir.index.products import PRODUCTS_FILE, ProductTable
from cti_ir.index.publishing import (  # noqa: F401 - importable from here
    KEEP_PRODUCTS,
    carry_photo_category_model,
    publish_index_version,
    republish,
    served_photo_category,
    served_products,
)
from cti_ir.index.searching import CatalogueIndex  # noqa: F401 - importable from here as before
from cti_ir.index.tuning import IndexOptions, build_tuned_index
from cti_ir.index.versions import remove_versions
from cti_ir.model.images import ImageLoadError

# Images per embedding chunk, the unit of resumption: a kill loses at most one chunk's work (about a second of
# encoding on a CPU for a small model), and a catalogue of a few hundred images already has resume points.
DEFAULT_CHUNK_SIZE = 512
DEFAULT_FACTORY = AUTO


# ---------------------------------------------------------------------------------------------------- encoding
@torch.no_grad()
def embed_items(encoder, items: Sequence[CatalogueItem], batch_size: int = 128, workers: int = 0,
                skip_bad: bool = False, batches=None
                ) -> tuple[np.ndarray, list[int], list[tuple[int, str]], np.ndarray | None]:
    """Embeddings (float32, L2-normalised) of the readable items, their positions, the unreadable ones, and the
    items' uncertainty (ensembles; None otherwise).

    ``encoder`` is a ``CIRModel`` (its image tower) or a gallery encoder of ``cti_ir.asymmetric.ensemble``. ``batches`` are
    the items' loaded batches from a build-wide ``index_build.ChunkLoader``; without it the items get a loader of
    their own (``workers`` decoding processes).
    """
    encoder = as_gallery_encoder(encoder)
    if batches is None:
        batches = ChunkLoader(encoder, items, [(0, len(items))], batch_size, workers).batches_of(0, len(items))
    vecs, kept, bad, uncertainty = [], [], [], []
    for positions, pixels, errors in batches:
        if errors and not skip_bad:
            raise ImageLoadError(*errors[0][1])
        bad += [(i, str(ImageLoadError(path, reason))) for i, (path, reason) in errors]
        if pixels is not None:
            out = encoder.encode(pixels)
            vecs.append(out.vectors.float().cpu().numpy())
            if out.uncertainty is not None:
                uncertainty.append(out.uncertainty.float().cpu().numpy())
            kept += positions
    dim = encoder.embed_dim
    return ((np.concatenate(vecs) if vecs else np.zeros((0, dim), np.float32)), kept, bad,
            np.concatenate(uncertainty) if uncertainty else None)


def as_gallery_encoder(model_or_encoder):
    """A ``CIRModel`` becomes the symmetric encoder of its own image tower; gallery encoders pass through."""
    from cti_ir.asymmetric.ensemble import SymmetricEncoder

    return model_or_encoder if hasattr(model_or_encoder, "encode") else SymmetricEncoder(model_or_encoder)


# ------------------------------------------------------------------------------------------------------ build
def _plan_of(items: Sequence[CatalogueItem], chunk_size: int, fingerprint: str, start_part: int = 0) -> dict:
    return {"fingerprint": fingerprint, "chunk_size": chunk_size, "start_part": start_part,
            "image_ids": [it.image_id for it in items]}


def _encode_chunks(model, items, out: Path, chunk_size: int, start_part: int, batch_size: int, workers: int,
                   skip_bad: bool, progress: bool, shard: Shard | None = None) -> None:
    """Encode ``items`` chunk by chunk into ``out/embeddings``, skipping chunks already there.

    One loader feeds every chunk still to do (``index_build.ChunkLoader``); in a sharded build this process does
    only the chunks its ``shard`` owns.
    """
    shard = shard or Shard()
    emb_dir = out / EMBEDDINGS_DIR
    emb_dir.mkdir(parents=True, exist_ok=True)
    n_chunks = (len(items) + chunk_size - 1) // chunk_size
    mine = [c for c in range(n_chunks) if shard.owns(c)]
    bounds = {c: (c * chunk_size, min((c + 1) * chunk_size, len(items))) for c in mine}
    todo = [c for c in mine if not (emb_dir / f"part-{start_part + c:05d}.json").is_file()]
    total = sum(stop - start for start, stop in bounds.values())
    done = total - sum(bounds[c][1] - bounds[c][0] for c in todo)
    if done and progress:
        print(f"resuming: {done} of {total} images already embedded in {emb_dir}", file=sys.stderr, flush=True)
    if shard.world > 1 and progress:
        print(f"process {shard.rank} of {shard.world}: embedding {total} of the {len(items)} images "
              f"({len(mine)} of {n_chunks} chunks)", file=sys.stderr, flush=True)
    bar = tqdm(total=total, desc="index images", unit="img", disable=not progress, file=sys.stderr,
               initial=done, position=shard.local_rank if shard.world > 1 else None)
    loader = ChunkLoader(as_gallery_encoder(model), items, [bounds[c] for c in todo], batch_size, workers)
    for c in todo:
        part = emb_dir / f"part-{start_part + c:05d}"
        chunk = items[bounds[c][0]:bounds[c][1]]
        vecs, kept, bad, uncertainty = embed_items(model, chunk, batch_size, workers, skip_bad,
                                                   batches=loader.batches_of(*bounds[c]))
        write_atomic(part.with_suffix(".npy"), lambda tmp: save_npy(tmp, vecs))
        # The file's hash lets `update` re-embed only the photos whose content changed.
        records = [{**chunk[k].to_json(), "sha256": sha256_file(chunk[k].path)} for k in kept]
        if uncertainty is not None:  # kept with the chunk so a rejection rule can change without re-encoding
            for record, u in zip(records, uncertainty):
                record["uncertainty"] = round(float(u), 6)
        # The .json is written last: its presence marks the chunk complete.
        write_json_atomic(part.with_suffix(".json"), {
            "items": records,
            "skipped": [{"path": chunk[k].path, "error": err} for k, err in bad]}, indent=None)
        bar.update(len(chunk))
    bar.close()


def _finalize(out: Path, model, factory: str, source: dict, gallery: dict | None = None,
              rejection: dict | None = None, products: ProductTable | str | None = KEEP_PRODUCTS,
              backend: dict | None = None) -> dict:
    """Build the FAISS index and the item table from all embedding chunks and publish them as the next version.

    ``gallery`` describes the gallery encoder (``{"mode": "symmetric"}`` when None). For an ensemble index,
    ``rejection`` (``{"fraction": F}`` or ``{"threshold": U}``) leaves the most uncertain images out of the FAISS
    index; they stay listed in ``rejected.jsonl`` with their uncertainty, and their embeddings stay in the chunks,
    so running the build again with another rule brings them back without re-encoding. ``products`` is the
    product table of the new version (``KEEP_PRODUCTS``: the served version's; None: none). With a Milvus
    ``backend`` (``cti_ir.index.milvus_backend``) the vectors go to a collection instead of a FAISS file.
    """
    import faiss

    vectors, items, skipped = read_log(out)
    if len(items) == 0:
        reasons = "; ".join(s["error"] for s in skipped[:3])
        raise ValueError(f"none of the {len(skipped)} catalogue images could be read, so there is nothing to index"
                         + (f"; the first reasons: {reasons}" if reasons else ""))
    n_parts = len(chunk_files(out))
    gallery = gallery or {"mode": "symmetric"}
    vectors, items, rejected, rejection_info = _apply_rejection(vectors, items, gallery, rejection)
    # `factory` is a factory string or IndexOptions (auto, memory budget, recall target): see index_factory.
    index, decided = (None, milvus_decided(backend)) if backend else build_tuned_index(vectors, factory)
    info = {
        "format": "cti-ir-index", "format_version": 1, "model_fingerprint": model.fingerprint,
        "dim": int(vectors.shape[1]), "normalized": True, "metric": "inner_product", **decided,
        "count": len(items), "skipped": len(skipped), "skipped_examples": skipped[:20], "source": source,
        "parts": n_parts,  # embedding chunks the index was built from; later changes number theirs after them
        "gallery": gallery,  # symmetric, or the asymmetric ensemble that embedded the catalogue
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "complete": True,
    }
    if rejection_info is not None:
        info["rejection"] = rejection_info
    if backend:
        info["backend"] = dict(backend)

    # What an uploaded photo's category is, guessed at search time (cti_ir.index.category_model).
    category_model = fit_category_model(vectors, items, model.fingerprint)
    carried = served_photo_category(out)  # the served version's photo category model goes on (write_files)
    if carried is not None:
        info["photo_category"] = carried

    def write_files(folder: Path) -> None:
        carry_photo_category_model(out, folder)
        if index is not None:
            faiss.write_index(index, str(folder / INDEX_FILE))
        if category_model is not None:
            write_category_model(folder, category_model)
        _write_jsonl(folder / ITEMS_FILE, items)
        if rejected is not None:
            _write_jsonl(folder / REJECTED_FILE, rejected)

    return publish_index_version(out, info, write_files, products, items, vectors)


def _apply_rejection(vectors: np.ndarray, items: list[dict], gallery: dict, rejection: dict | None):
    """(vectors, items) kept after an ensemble index's rejection rule, the rejected items (None for a symmetric
    index) and what to record about the rule."""
    from cti_ir.asymmetric.ensemble import rejection_mask

    if gallery["mode"] == "symmetric" or not items or "uncertainty" not in items[0]:
        return vectors, items, None, None
    uncertainty = np.array([it["uncertainty"] for it in items], dtype=np.float64)
    rule = rejection or {}
    reject, threshold = rejection_mask(uncertainty, rule.get("fraction"), rule.get("threshold"))
    rejected = sorted((it for it, r in zip(items, reject) if r), key=lambda it: -it["uncertainty"])
    if reject.all():
        raise ValueError("the rejection rule rejects every image; use a smaller --reject-fraction or a higher "
                         "--reject-threshold")
    info = {"rule": rule, "threshold": threshold, "rejected": int(reject.sum()),
            "uncertainty": {"mean": float(uncertainty.mean()), "median": float(np.median(uncertainty)),
                            "p95": float(np.quantile(uncertainty, 0.95)), "max": float(uncertainty.max())}}
    return vectors[~reject], [it for it, r in zip(items, reject) if not r], rejected, info


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def build_index(model, items: Sequence[CatalogueItem], out: str | Path, factory: str = DEFAULT_FACTORY,
                chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 128, workers: int = 0, skip_bad: bool = False,
                overwrite: bool = False, progress: bool = True, source: dict | None = None, gallery=None,
                reject_fraction: float | None = None, reject_threshold: float | None = None,
                shard: Shard | None = None, products: ProductTable | str | None = KEEP_PRODUCTS,
                backend: dict | None = None) -> dict:
    """Embed ``items`` and write an index folder at ``out`` for queries of ``model``; resumes an interrupted build.

    The catalogue is embedded by ``model``'s own image tower, or by ``gallery`` (an ``EnsembleEncoder`` of
    ``cti_ir.asymmetric.ensemble``: asymmetric search), in which case ``reject_fraction`` / ``reject_threshold`` leave the most
    uncertain images out (see ``_finalize``). ``products`` (``cti_ir.index.products.read_products``) attaches the
    shop's product fields (by default a build run again keeps those attached since); ``backend`` (``milvus_backend.
    backend_spec``) stores the vectors in Milvus instead of a FAISS file. Running the same build again with another rule or factory
    re-finalises from the stored embeddings without re-encoding.

    A build that fails leaves ``out`` as its resume point when it holds embedded images, and removes what it wrote
    when it holds none (an error before the first chunk, or no readable image at all).

    ``shard`` (``index_build.shard_from_env()`` under torchrun) makes this process one of several: each embeds its
    share of the chunks into ``out``, process 0 then builds the index from all of them, and the other processes
    return ``{"rank": r, "world": n}`` (see ``cti_ir.index.build``).
    """
    shard = shard or Shard()
    out = Path(out)
    if model.fingerprint is None:
        raise ValueError("the model has no fingerprint: load it from a checkpoint folder (cti_ir.load)")
    encoder = gallery if gallery is not None else model
    rejection = _rejection_rule(gallery, reject_fraction, reject_threshold)
    plan = _plan_of(items, chunk_size, as_gallery_encoder(encoder).fingerprint)
    plan_file = out / PLAN_FILE
    if overwrite:
        pass  # cleared below by process 0, once every process has checked its arguments
    elif plan_file.is_file():
        if json.loads(plan_file.read_text(encoding="utf-8")) != plan:
            raise IndexMismatchError(
                f"{out} holds another build (different model, catalogue or chunk size); pass --overwrite to "
                f"start it again, or choose another --out")
    elif (out / INFO_FILE).is_file():
        raise IndexMismatchError(f"{out} already holds an index; use `add` to extend it or --overwrite")
    created = not out.exists()
    shard.barrier()  # every process has checked --out before process 0 writes to it
    if shard.is_main:
        if overwrite:
            _clear(out)
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(plan_file, plan, indent=None)
    shard.barrier()
    try:
        _encode_chunks(encoder, list(items), out, chunk_size, 0, batch_size, workers, skip_bad, progress, shard)
        shard.barrier()  # every chunk is on disk
        if not shard.is_main:
            return {"rank": shard.rank, "world": shard.world}
        return _finalize(out, model, factory, source or {}, as_gallery_encoder(encoder).describe(), rejection,
                         products, backend)
    except BaseException:
        if shard.is_main and shard.world == 1 and embedded_count(out) == 0:
            # nothing worth resuming from: leave no half-made folder behind
            _clear(out)
            if created:
                shutil.rmtree(out, ignore_errors=True)
        raise


def _rejection_rule(gallery, fraction: float | None, threshold: float | None) -> dict | None:
    if fraction is None and threshold is None:
        return None
    if fraction is not None and threshold is not None:
        raise ValueError("give --reject-fraction or --reject-threshold, not both")
    if gallery is None or len(getattr(gallery, "members", [])) < 2:
        raise ValueError("rejecting uncertain images needs an ensemble of at least two --gallery-model members "
                         "(the uncertainty is the spread among their embeddings)")
    if fraction is not None and not 0 <= fraction < 1:
        raise ValueError(f"--reject-fraction must be in [0, 1), got {fraction}")
    return {"fraction": fraction} if fraction is not None else {"threshold": threshold}


def _clear(out: Path) -> None:
    remove_versions(out)
    for name in (INDEX_FILE, ITEMS_FILE, INFO_FILE, PLAN_FILE, ADD_PLAN_FILE, CHANGE_PLAN_FILE, REJECTED_FILE,
                 PRODUCTS_FILE):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / EMBEDDINGS_DIR, ignore_errors=True)


def add_to_index(model, items: Sequence[CatalogueItem], out: str | Path, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 batch_size: int = 128, workers: int = 0, skip_bad: bool = False, progress: bool = True,
                 gallery=None, probes=None) -> dict:
    """Add the ``items`` not yet indexed (by image id) to the index at ``out``; returns the new info.

    An ensemble index needs the same ``gallery`` encoder it was built with (checked by fingerprint); its
    rejection rule is applied again over the whole catalogue.
    """
    out = Path(out)
    info = read_index_info(out)
    check_compatible(info, model)
    encoder = change_encoder(out, info, model, gallery)
    indexed = catalogued_ids(out)
    count_before = info["count"]
    new = [it for it in items if it.image_id not in indexed]
    if new:
        plan = _plan_of(new, chunk_size, encoder.fingerprint)
        info = apply_change(out, model, encoder, info, plan, new, chunk_size, batch_size, workers, skip_bad,
                            progress, probes=probes)
    # Counted from the index, not from `new`: unreadable images skipped with skip_bad are not added.
    info["added"] = info["count"] - count_before
    info["already_indexed"] = len(items) - len(new)
    return info


def change_encoder(out: Path, info: dict, model, gallery=None):
    """The gallery encoder a change of ``out`` embeds with: ``gallery``, else ``model``'s own image tower; it
    must be the one the index was built with (checked by fingerprint)."""
    recorded = info.get("gallery") or {"mode": "symmetric"}
    encoder = as_gallery_encoder(gallery if gallery is not None else model)
    if recorded["mode"] != encoder.mode or recorded.get("encoder_fingerprint", encoder.fingerprint) != \
            encoder.fingerprint:
        raise IndexMismatchError(
            f"{out} was embedded by a {recorded['mode']} gallery encoder "
            f"{recorded.get('encoder_fingerprint', '')}, not by this {encoder.mode} one; change it with the same "
            f"--gallery-model members the index was built with (by default the recorded ones are used)")
    return encoder


def catalogued_ids(out: Path) -> dict[str, dict]:
    """The served version's item records by id, the rejected ones of an ensemble index included (they are
    catalogued too: not new, not re-encoded)."""
    _, version = read_version(out)
    records: dict[str, dict] = {}
    for name in (ITEMS_FILE, REJECTED_FILE):
        if (version / name).is_file():
            with open(version / name, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        record = json.loads(line)
                        records[record["image_id"]] = record
    return records


def apply_change(out: Path, model, encoder, info: dict, plan: dict, to_embed: Sequence[CatalogueItem],
                 chunk_size: int = DEFAULT_CHUNK_SIZE, batch_size: int = 128, workers: int = 0,
                 skip_bad: bool = False, progress: bool = True, removed: Sequence[str] = (),
                 records: Sequence[dict] = (), products=KEEP_PRODUCTS, probes=None) -> dict:
    """Apply one change to the index at ``out`` and publish it: embed ``to_embed`` (new products or changed
    photos), then record ``removed`` ids and changed ``records`` in a chunk of their own, then rebuild.

    ``plan`` describes the change; it is kept in ``change_plan.json`` until the change is published, so a killed
    change run again with the same plan keeps its finished chunks, and one with another plan first drops them
    (they would otherwise be applied twice).
    """
    pending = out / CHANGE_PLAN_FILE
    old_plan = json.loads(pending.read_text(encoding="utf-8")) if pending.is_file() else None
    # Chunks numbered from `start` on are not in the served index (left by an interrupted change, if any).
    start = info.get("parts")
    if start is None:  # an index written before "parts" was recorded
        start = old_plan["start_part"] if old_plan else len(chunk_files(out))
    plan = {**plan, "start_part": start}
    if old_plan != plan:
        drop_chunks_from(out, start)
        write_json_atomic(pending, plan, indent=None)
    to_embed = list(to_embed)
    if to_embed:
        _encode_chunks(encoder, to_embed, out, chunk_size, start, batch_size, workers, skip_bad, progress)
    if removed or records:
        number = start + (len(to_embed) + chunk_size - 1) // chunk_size
        if not (out / EMBEDDINGS_DIR / f"part-{number:05d}.json").is_file():
            write_change_chunk(out, number, int(info["dim"]), list(removed), list(records))
    rule = (info.get("rejection") or {}).get("rule") or None
    options = replace(IndexOptions.recorded(info), probes=probes)
    info = _finalize(out, model, options, info.get("source", {}), encoder.describe(), rule, products,
                     info.get("backend"))
    pending.unlink(missing_ok=True)
    return info


def index_from_vectors(out: str | Path, vectors: np.ndarray, records: Sequence[dict], model_fingerprint: str,
                       factory=DEFAULT_FACTORY, products: ProductTable | None = None,
                       chunk_size: int = 65_536, backend: dict | None = None) -> dict:
    """Write an index folder from vectors already computed (L2-normalised, row i = ``records[i]``, each with at
    least ``image_id`` and ``path``): benchmarks, tests and migrations. The folder is what a build writes."""
    out = Path(out)
    if (out / INFO_FILE).exists():
        raise IndexMismatchError(f"{out} already holds an index")
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    for c, start in enumerate(range(0, len(records), chunk_size)):
        part = out / EMBEDDINGS_DIR / f"part-{c:05d}"
        chunk = vectors[start:start + chunk_size]
        write_atomic(part.with_suffix(".npy"), lambda tmp, chunk=chunk: save_npy(tmp, chunk))
        write_json_atomic(part.with_suffix(".json"), {"items": list(records[start:start + chunk_size]),
                                                      "skipped": []}, indent=None)

    class Recorded:  # what _finalize records about the model: its fingerprint
        fingerprint = model_fingerprint

    return _finalize(out, Recorded, factory, {"vectors": True}, None, None, products, backend)
