"""The multi-granularity retrieval tasks of the label-free adaptation benchmark, and their evaluation.

On a multi-view catalogue (``python -m data_prep.synth_views``), each evaluation product has one query photo (its
first view) and its other photos in the gallery, among every other evaluation product's. The same query and
gallery serve four image-to-image tasks, from coarse to fine; only what counts as relevant changes:

- ``category``: same category (dress, shirt, toptee, shoes);
- ``shape``: same category and silhouette: sleeve length, fit and (dresses) length for garments, type and heel
  height for shoes;
- ``colour_pattern``: same category, main colour and pattern (for shoes, which have no pattern: colour and finish);
- ``product``: the same product (another photo of it).

Metrics per task: mAP@R and R@1 (``cti_ir.evaluate.ranks``), and their means over the tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from cti_ir.model.images import load_image
from cti_ir.evaluate.ranks import retrieval_scores


def _shape(p: dict) -> tuple:
    a = p["attributes"]
    if p["category"] == "shoes":
        return ("shoes", a["type"], a["heel"])
    return (p["category"], a["sleeve"], a["fit"], a.get("length"))


def _colour_pattern(p: dict) -> tuple:
    a = p["attributes"]
    return (p["category"], a["color"], a["finish"] if p["category"] == "shoes" else a["pattern"])


#: Task name -> the label of a product under that task (two products are relevant to each other iff equal).
TASKS: dict[str, Callable[[dict], object]] = {
    "category": lambda p: p["category"],
    "shape": _shape,
    "colour_pattern": _colour_pattern,
    "product": lambda p: p["product_id"],
}


@dataclass
class EvalSet:
    """Query and gallery photos of the evaluation products, with each photo's product."""

    root: Path
    query_files: list[str]
    query_products: list[dict]
    gallery_files: list[str]
    gallery_products: list[dict]
    _pixels: dict | None = None

    @classmethod
    def from_catalogue(cls, root: str | Path) -> "EvalSet":
        root = Path(root)
        products = [json.loads(line) for line in (root / "products.jsonl").read_text(encoding="utf-8").splitlines()
                    if line.strip()]
        evaluation = [p for p in products if p["split"] == "eval"]
        if not evaluation:
            raise ValueError(f"{root}/products.jsonl has no evaluation products")
        return cls(root, [p["files"][0] for p in evaluation], evaluation,
                   [f for p in evaluation for f in p["files"][1:]],
                   [p for p in evaluation for _ in p["files"][1:]])

    def pixels(self, preprocess) -> tuple[torch.Tensor, torch.Tensor]:
        """Preprocessed query and gallery pixels, decoded once per preprocessing."""
        key = id(preprocess)
        if self._pixels is None or self._pixels.get("key") != key:
            load = lambda files: torch.stack([preprocess(load_image(self.root / f)) for f in files])  # noqa: E731
            self._pixels = {"key": key, "query": load(self.query_files), "gallery": load(self.gallery_files)}
        return self._pixels["query"], self._pixels["gallery"]


@torch.no_grad()
def encode(model, pixels: torch.Tensor, batch_size: int = 256) -> np.ndarray:
    """L2-normalised embeddings of preprocessed pixels with the model's current image encoder."""
    model.eval()
    return np.concatenate([model.encode_images(pixels[i:i + batch_size].to(model.device)).float().cpu().numpy()
                           for i in range(0, len(pixels), batch_size)])


def evaluate_model(model, eval_set: EvalSet, granularity: str | None = None) -> dict:
    """mAP@R and R@1 per task and their means, for ``model`` at ``granularity`` (None: the model's default)."""
    query_pixels, gallery_pixels = eval_set.pixels(model.preprocess)
    if granularity is not None and getattr(model, "adapters", None) is not None:
        with model.adapters.using(granularity):
            q, g = encode(model, query_pixels), encode(model, gallery_pixels)
    else:
        q, g = encode(model, query_pixels), encode(model, gallery_pixels)
    similarity = q @ g.T
    tasks = {}
    for name, label_of in TASKS.items():
        scores = retrieval_scores(similarity, [label_of(p) for p in eval_set.query_products],
                                  [label_of(p) for p in eval_set.gallery_products])
        tasks[name] = {"map_at_r": scores["map_at_r"], "r_at_1": scores["r_at_1"]}
    return {"tasks": tasks,
            "mean_map_at_r": float(np.mean([t["map_at_r"] for t in tasks.values()])),
            "mean_r_at_1": float(np.mean([t["r_at_1"] for t in tasks.values()]))}
