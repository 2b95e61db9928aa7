"""The whole-catalogue protocol: the benchmark's queries searched in the index the page serves, beside (never
instead of) the published protocol, whose galleries hold one category of one split.

    python -m cti_ir.evaluate --checkpoint demo_model --dataset fashioniq --root data/fashioniq \\
        --whole-catalogue runs/demo_index

Each query's reference photo is encoded and composed with its caption as the page does, and searched among every
product of the index (all categories, all splits; the reference itself left out, as the page leaves it out) in
three ways:

- ``all``: every category (what the page searched by default before);
- ``same``: the reference's category unless the caption asks another (``cti_ir.index.category_intent``): the page's
  and the API's default for a catalogue product;
- ``same_upload``: the same, with the reference treated as a shopper's own photo: its category is that of the
  closest other catalogue product. The server guesses an upload's category with the index's classifiers
  (``cti_ir.index.photo_category_model``, else ``cti_ir.index.category_model``) instead; they were fit on these
  very products, so they would score the references as photos they have seen.
  ``benchmarks/session/bench_upload_category.py`` measures them on photos kept out of their fit, beside this rule.

Reported per split and mode: Recall@K over the whole catalogue, the share of the top 10 in the reference's category
(the issue's measure of a page that mixes dresses into a search for a dress), and how many captions ask for another
category.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cti_ir.index.catalogue_index import CatalogueIndex, check_compatible
from cti_ir.index.category_intent import asked_category

MODES = ("all", "same", "same_upload")
TOP = 10


@torch.no_grad()
def evaluate_whole_catalogue(model, bench, index_folder: str | Path, splits: Sequence, ks: Sequence[int],
                             batch_size: int = 128, num_workers: int = 0, progress: bool = False) -> dict:
    """The whole-catalogue result of ``splits`` (``EvalSplit`` lists of ``bench``) in the index at
    ``index_folder``, built with ``model`` (refused otherwise)."""
    from cti_ir.evaluate.evaluator import encode_images, encode_texts

    index = CatalogueIndex(index_folder)
    check_compatible(index.info, model)
    position = {it["image_id"]: i for i, it in enumerate(index.items)}
    out: dict = {"index": str(index_folder), "products": len(index), "modes": list(MODES), "splits": {}}
    for split in splits:
        queries = [q for q in split.queries if q.reference in position and q.target in position]
        if not queries:
            out["splits"][split.name] = {"queries": 0, "not_in_index": len(split.queries)}
            continue
        refs = sorted({q.reference for q in queries})
        ref_row = {r: i for i, r in enumerate(refs)}
        images = encode_images(model, refs, bench.image_path, batch_size, num_workers,
                               desc=f"{split.name} references", progress=progress)
        image_feats = images[torch.tensor([ref_row[q.reference] for q in queries])]
        text_feats = encode_texts(model, [q.text for q in queries])
        composed = model.compose(image_feats.to(model.device), text_feats.to(model.device)).query.float().cpu().numpy()
        uploads = _upload_categories(index, images.float().cpu().numpy(), refs, position)
        result = {"queries": len(queries), "not_in_index": len(split.queries) - len(queries)}
        for mode in MODES:
            categories = [_category(index, q, position, uploads[ref_row[q.reference]], mode) for q in queries]
            result[mode] = _score(index, composed, queries, categories, position, ks)
        out["splits"][split.name] = result
    return out


def _category(index, query, position, upload_category, mode: str) -> str | None:
    if mode == "all":
        return None
    own = (index.items[position[query.reference]].get("categories") or [None])[0]
    current = own if mode == "same" else upload_category
    return asked_category(query.text, index.categories, current) or current


def _upload_categories(index, vectors: np.ndarray, refs: Sequence[str], position: dict) -> list[str | None]:
    """Per reference: the category of the closest catalogue product other than itself."""
    _, ids = index.search(vectors, 2)
    out = []
    for ref, row in zip(refs, ids):
        other = next((int(i) for i in row if i >= 0 and int(i) != position[ref]), None)
        out.append((index.items[other].get("categories") or [None])[0] if other is not None else None)
    return out


def _score(index, vectors: np.ndarray, queries, categories, position, ks) -> dict:
    k_max = max(max(ks), TOP)
    groups: dict[str | None, list[int]] = {}
    for i, c in enumerate(categories):
        groups.setdefault(c, []).append(i)
    hits_of: list[list[int]] = [[] for _ in queries]
    for category, rows in groups.items():
        _, ids = index.search(vectors[rows], k_max + 1, category)
        for r, i in enumerate(rows):
            reference = position[queries[i].reference]
            hits_of[i] = [int(x) for x in ids[r] if x >= 0 and int(x) != reference][:k_max]
    recall = {f"R@{k}": 100.0 * float(np.mean([position[q.target] in h[:k] for q, h in zip(queries, hits_of)]))
              for k in ks}
    shares, asked = [], 0
    for q, hits, category in zip(queries, hits_of, categories):
        own = set(index.items[position[q.reference]].get("categories") or [])
        if asked_category(q.text, index.categories, next(iter(own), None)) is not None:
            asked += 1
            continue
        top = hits[:TOP]
        shares.append(sum(bool(own & set(index.items[h].get("categories") or [])) for h in top) / max(len(top), 1))
    return {**recall, "top10_in_reference_category": 100.0 * float(np.mean(shares)) if shares else None,
            "captions_asking_another_category": asked}


def format_whole_catalogue(result: dict, ks: Sequence[int]) -> str:
    """The whole-catalogue table (Markdown)."""
    lines = [f"\nwhole catalogue: {result['products']} products of {result['index']} (beside the published "
             f"protocol above; the reference left out, as the page does)",
             "| split | mode | " + " | ".join(f"R@{k}" for k in ks) + " | top 10 in the reference's category (%) "
             "| captions asking another category |", "|" + "---|" * (len(ks) + 4)]
    for name, r in result["splits"].items():
        for mode in result["modes"]:
            if mode not in r:
                continue
            m = r[mode]
            share = "-" if m["top10_in_reference_category"] is None else f"{m['top10_in_reference_category']:.1f}"
            lines.append(f"| {name} | {mode} | " + " | ".join(f"{m[f'R@{k}']:.2f}" for k in ks)
                         + f" | {share} | {m['captions_asking_another_category']} |")
    return "\n".join(lines)
