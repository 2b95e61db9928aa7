"""Fit an index's photo category model on its own photos and publish it as the index's next version.

    python -m cti_ir.index photo-category --index my_index          # build does it by default

The network (``cti_ir.index.photo_category_model``) reads the photos the index was built from (the ``path`` of each
item) through the index's checkpoint's own preprocessing. The new version links every file of the served one
(nothing is re-embedded) and adds the network's two files; a running server switches to it as to any other
version. Changes published later (``add``, ``remove``, ``update``, ``products``) carry the network over; products
of a category it was not fit on are guessed by the linear category model until it is fit again.

An interrupted fit leaves the served version as it was; run it again to fit from the start (a few minutes).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from cti_ir.index.layout import ITEMS_FILE, check_compatible, read_version
from cti_ir.index.photo_category_model import (
    MIN_SIDE,
    fit_photo_category_model,
    fit_plan,
    input_side,
    thumbnails,
    write_photo_category_model,
)
from cti_ir.index.publishing import KEEP_PRODUCTS, republish

logger = logging.getLogger(__name__)


class NothingToFitError(ValueError):
    """The index has too few photos per category (or paths to none) for a photo category model."""


def fit_index_photo_categories(out: str | Path, model, steps: int | None = None, seed: int = 0,
                               workers: int = 0, progress: bool = True) -> dict:
    """Fit the photo category model of the index at ``out`` (built with ``model``) and publish it; returns the new
    version's info, whose ``photo_category`` entry says what was fit and how accurate it is on held-out photos.

    Raises :class:`NothingToFitError` when fewer than two categories have enough readable photos, and
    ``IndexMismatchError`` for a model the index was not built with.
    """
    out = Path(out)
    info, version = read_version(out)
    check_compatible(info, model)
    with open(version / ITEMS_FILE, encoding="utf-8") as f:
        items = [json.loads(line) for line in f if line.strip()]
    plan = fit_plan(items, seed)
    if plan is None:
        raise NothingToFitError(_too_few(items))
    categories, rows, labels = plan
    pixel_side, photos, readable = load_thumbnails(model, [items[r]["path"] for r in rows], workers, progress)
    if len(readable) < len(rows):
        logger.warning("%d of %d photos could not be read and are left out of the fit", len(rows) - len(readable),
                       len(rows))
    if input_side(pixel_side) < MIN_SIDE:
        raise NothingToFitError(f"the checkpoint reads {pixel_side}-px photos, too few for the network (at least "
                                f"{MIN_SIDE})")
    labels = labels[readable]
    if len(set(labels.tolist())) < 2:
        raise NothingToFitError(f"the photos of {out} could not be read (moved or deleted since the build?); "
                                f"rebuild the index from where they are now")
    bar = _bar(progress, "fitting the photo category model", "step")
    advance = (lambda step, total: _advance(bar, step, total)) if bar is not None else None
    fitted = fit_photo_category_model(photos, labels, categories, pixel_side, model.fingerprint, steps, seed,
                                      progress=advance)
    if bar is not None:
        bar.close()
    note = {"photo_category": {"categories": len(categories), **{k: fitted.info[k] for k in (
        "fit_photos", "held_out_photos", "steps", "held_out_accuracy")}}}
    return republish(out, KEEP_PRODUCTS, note, extra=lambda folder: write_photo_category_model(folder, fitted))


def _too_few(items: Sequence[dict]) -> str:
    from cti_ir.index.photo_category_model import MIN_PHOTOS

    counts: dict[str, int] = {}
    for it in items:
        category = (it.get("categories") or [None])[0]
        if category and it.get("path"):
            counts[category] = counts.get(category, 0) + 1
    shown = ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1])[:6]) or "none"
    return (f"a photo category model needs at least two categories with {MIN_PHOTOS} photos each; this index has "
            f"{shown}. Uploaded photos are guessed by the index's linear category model instead")


def load_thumbnails(model, paths: Sequence[str], workers: int = 0, progress: bool = False):
    """``(pixel side, (N, 3, s, s) float16 thumbnails, positions read)`` of ``paths`` through ``model``'s
    preprocessing; unreadable photos are left out."""
    import torch
    from torch.utils.data import DataLoader

    from cti_ir.index.build import CatalogueImages, draft_side_of

    images = CatalogueImages([SimpleNamespace(path=p) for p in paths], model.preprocess, draft_side_of(model))
    loader = DataLoader(images, batch_size=256, num_workers=workers, collate_fn=images.collate)
    bar = _bar(progress, "reading the photos", "photo", total=len(paths))
    chunks, readable, pixel_side = [], [], None
    for positions, pixels, _bad in loader:
        if pixels is not None:
            pixel_side = int(pixels.shape[-1])
            chunks.append(thumbnails(pixels, input_side(pixel_side)).half())
            readable += positions
        if bar is not None:
            bar.update(len(positions) + len(_bad))
    if bar is not None:
        bar.close()
    if not chunks:
        raise NothingToFitError("none of the index's photos could be read (moved or deleted since the build?); "
                                "rebuild the index from where they are now")
    return pixel_side, torch.cat(chunks), np.array(readable, dtype=np.int64)


def _bar(progress: bool, what: str, unit: str, total: int | None = None):
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit=unit)


def _advance(bar, step: int, total: int) -> None:
    bar.total = total
    bar.update(step - bar.n)
