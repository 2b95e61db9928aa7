"""The catalogue a session benchmark searches: generated, indexed with the checkpoint, its vectors in memory.

The index is the one the page would serve (``cti_ir.index``, every image of both layouts, all splits), built once
under the work folder and reused; the simulation reads its stored vectors back (the ``embeddings/`` chunks) so a
catalogue product used as a reference costs no image encoding: its vector is the one the page's "use as
reference" would get.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Gallery:
    """The indexed catalogue: L2-normalised vectors ``(N, D)``, product ids, categories and attributes."""

    vectors: np.ndarray
    ids: list[str]
    index_categories: list[list[str]]     # the index's categories of each item (shoes: the shoe type folder)
    descriptions: list[str]               # each item's description, as the index holds it
    products: dict[str, dict]             # image id -> generator attributes (with "category")
    folder: Path
    paths: list[str]                      # each item's photo file

    def __post_init__(self):
        self.position = {image_id: i for i, image_id in enumerate(self.ids)}
        self.layout_category = np.array([self.products[i]["category"] for i in self.ids])

    def mask(self, category: str) -> np.ndarray:
        """Items of one layout category (dress, shirt, toptee or shoes: every shoe type)."""
        return self.layout_category == category


def ensure_catalogue(out: Path, seed: int, size: str = "default") -> Path:
    """Generate the catalogue with ``seed`` at ``out`` unless it is already complete there."""
    from data_prep import synth

    if not synth.is_complete(out, seed, size):
        code = synth.main(["--out", str(out), "--size", size, "--seed", str(seed), "--caption-mix", "relative",
                           "--workers", "1", "--quiet"])
        if code != 0:
            raise SystemExit(f"generating the catalogue at {out} failed (exit status {code})")
    return out


def ensure_index(checkpoint: Path, catalogue: Path, out: Path):
    """Index every image of ``catalogue`` (both layouts) with ``checkpoint`` at ``out``; resumes or reuses."""
    from cti_ir.index.catalogue import items_from_benchmark
    from cti_ir.index.catalogue_index import build_index, read_index_info
    from cti_ir.model.checkpoint import load_checkpoint, read_checkpoint_config

    fingerprint = read_checkpoint_config(checkpoint)["fingerprint"]
    if (out / "index_info.json").is_file():
        info = read_index_info(out)
        if info.get("complete") and info.get("model_fingerprint") == fingerprint:
            return info
    model = load_checkpoint(checkpoint)
    items = items_from_benchmark("fashioniq", catalogue / "fashioniq") + items_from_benchmark(
        "shoes", catalogue / "shoes")
    return build_index(model, items, out, workers=0, progress=False,
                       source={"catalogue": str(catalogue.resolve()), "benchmark": "session"})


def load_gallery(index: Path, catalogue: Path) -> Gallery:
    """The index's stored vectors and items, with the generator's attributes of each product."""
    from data_prep.shopper import load_products

    vectors, ids, categories, descriptions, paths = [], [], [], [], []
    for meta_file in sorted((index / "embeddings").glob("part-*.json")):
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        vectors.append(np.load(meta_file.with_suffix(".npy"), allow_pickle=False))
        ids += [it["image_id"] for it in meta["items"]]
        categories += [list(it.get("categories") or []) for it in meta["items"]]
        descriptions += [it.get("description", "") for it in meta["items"]]
        paths += [it.get("path", "") for it in meta["items"]]
    products = load_products(catalogue / "fashioniq", catalogue / "shoes")
    return Gallery(np.ascontiguousarray(np.concatenate(vectors), dtype=np.float32), ids, categories, descriptions,
                   products, index, paths)
