"""Recall@K evaluation under the published protocols (encode, rank, summarise; the command is `cti_ir.evaluate.cli`).

    python -m cti_ir.evaluate --checkpoint runs/stage3/best --dataset fashioniq --root data/fashioniq

Fashion-IQ: R@10 and R@50 per category, their averages over the categories and the headline mean
(avg R@10 + avg R@50) / 2. Shoes: R@1, R@10, R@50 and their mean. The protocol (queries and galleries) comes from
``cti_ir.data``; this module only encodes and ranks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from cti_ir.evaluate.ranks import recall_at_k, target_ranks  # noqa: F401 (part of this module's API)
from cti_ir.model.images import load_image

RECALL_KS = {"fashioniq": (10, 50), "shoes": (1, 10, 50)}


class ImageFileDataset(Dataset):
    """Preprocessed images for a list of ids; a missing or corrupt file raises an error naming it."""

    def __init__(self, ids: Sequence[str], path_of: Callable[[str], Path], preprocess: Callable):
        self.ids, self.path_of, self.preprocess = list(ids), path_of, preprocess

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.preprocess(load_image(self.path_of(self.ids[i])))


@torch.no_grad()
def encode_images(model, ids: Sequence[str], path_of: Callable[[str], Path], batch_size: int = 128,
                  num_workers: int = 0, desc: str = "images", progress: bool = True) -> torch.Tensor:
    """L2-normalised embeddings of the images ``ids`` (rows in the same order), on the CPU."""
    # An explicit generator keeps the global RNG untouched (a training run evaluates mid-way and must resume
    # bit-exactly).
    loader = DataLoader(ImageFileDataset(ids, path_of, model.preprocess), batch_size=batch_size,
                        num_workers=num_workers, generator=torch.Generator().manual_seed(0))
    out = []
    for pixels in tqdm(loader, desc=f"encode {desc}", unit="batch", disable=not progress, file=sys.stderr):
        out.append(model.encode_images(pixels.to(model.device)).float().cpu())
    return torch.cat(out) if out else torch.empty(0, model.embed_dim)


@torch.no_grad()
def encode_texts(model, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """L2-normalised embeddings of strings, on the CPU."""
    out = [model.encode_texts(texts[i:i + batch_size]).float().cpu() for i in range(0, len(texts), batch_size)]
    return torch.cat(out) if out else torch.empty(0, model.embed_dim)


@dataclass
class SplitOutcome:
    """Per-query results of one split, kept for the per-kind and weight-sweep analyses (features on the CPU)."""

    ranks: torch.Tensor              # (Q,) 0-based rank of each target
    image_weights: torch.Tensor      # (Q,) the composer's image weight per query
    reference_features: torch.Tensor  # (Q, D)
    text_features: torch.Tensor      # (Q, D)
    gallery: torch.Tensor            # (N, D)
    target_index: torch.Tensor       # (Q,) row of each target in ``gallery``


@torch.no_grad()
def evaluate_split(model, split, path_of, ks: Sequence[int], batch_size: int = 128, num_workers: int = 0,
                   progress: bool = True, gallery_encoder=None) -> dict[str, float]:
    """Recall@K of ``model`` on one ``EvalSplit`` (queries against its gallery).

    ``gallery_encoder`` (``cti_ir.asymmetric.ensemble.EnsembleEncoder``) embeds the gallery instead of ``model``'s image tower
    (asymmetric search); the reference images are then still encoded by ``model``, as a shopper's photo is.
    """
    return split_result(rank_split(model, split, path_of, batch_size, num_workers, progress, gallery_encoder), split,
                        ks)


def split_result(outcome: SplitOutcome, split, ks: Sequence[int]) -> dict:
    """The table row of one split: Recall@K, counts and the spread of the image weights."""
    result = recall_at_k(outcome.ranks, ks)
    result.update(queries=len(split.queries), gallery=len(split.gallery))
    if outcome.image_weights.numel():
        result["image_weight"] = weight_stats(outcome.image_weights)
    return result


@torch.no_grad()
def rank_split(model, split, path_of, batch_size: int = 128, num_workers: int = 0, progress: bool = True,
               gallery_encoder=None) -> SplitOutcome:
    """Encode one ``EvalSplit``, compose its queries and rank every target (see :func:`evaluate_split`)."""
    model.eval()
    gallery_ids = list(split.gallery)
    position = {image_id: i for i, image_id in enumerate(gallery_ids)}
    missing_targets = [q.target for q in split.queries if q.target not in position]
    if missing_targets:
        raise ValueError(f"{len(missing_targets)} query targets of {split.name} are not in its gallery "
                         f"(first: {missing_targets[0]}); the protocol is broken")
    if gallery_encoder is None:
        extra_refs = sorted({q.reference for q in split.queries} - set(position))
        features = encode_images(model, gallery_ids + extra_refs, path_of, batch_size, num_workers,
                                 desc=f"{split.name} gallery", progress=progress)
        ref_position = {**position, **{r: len(gallery_ids) + i for i, r in enumerate(extra_refs)}}
        gallery = features[: len(gallery_ids)]
    else:
        from cti_ir.asymmetric.ensemble import encode_gallery_images

        gallery = encode_gallery_images(gallery_encoder, gallery_ids, path_of, batch_size, num_workers,
                                        desc=f"{split.name} gallery (ensemble)", progress=progress)
        refs = sorted({q.reference for q in split.queries})
        features = encode_images(model, refs, path_of, batch_size, num_workers, desc=f"{split.name} references",
                                 progress=progress)
        ref_position = {r: i for i, r in enumerate(refs)}
    ref_feats = features[torch.tensor([ref_position[q.reference] for q in split.queries], dtype=torch.long)]
    text_feats = encode_texts(model, [q.text for q in split.queries])
    device = model.device
    queries, image_weights = [], []
    for start in range(0, len(split.queries), 1024):
        out = model.compose(ref_feats[start:start + 1024].to(device), text_feats[start:start + 1024].to(device))
        queries.append(out.query.float().cpu())
        image_weights.append(out.image_weight.float().reshape(-1).cpu())
    queries = torch.cat(queries) if queries else torch.empty(0, model.embed_dim)
    targets = torch.tensor([position[q.target] for q in split.queries], dtype=torch.long)
    return SplitOutcome(target_ranks(queries, gallery, targets),
                        torch.cat(image_weights) if image_weights else torch.empty(0), ref_feats, text_feats, gallery,
                        targets)


def weight_stats(image_weights: torch.Tensor) -> dict[str, float]:
    """Mean, spread and range of the composer's per-query image weights (the text weight is 1 minus it).

    Reported with the recalls so that a run shows whether the adaptive composer really weights queries
    differently, or has settled on one constant mix.
    """
    w = image_weights.double()
    return {"mean": w.mean().item(), "std": w.std(unbiased=False).item(), "min": w.min().item(),
            "max": w.max().item()}


def summarize(dataset: str, per_split: dict[str, dict[str, float]]) -> dict:
    """Averages over categories and the headline score, as the papers report them."""
    ks = RECALL_KS[dataset]
    average = {f"R@{k}": sum(r[f"R@{k}"] for r in per_split.values()) / len(per_split) for k in ks}
    if dataset == "fashioniq":
        score = (average["R@10"] + average["R@50"]) / 2
    else:
        score = sum(average.values()) / len(average)
    return {"dataset": dataset, "splits": per_split, "average": average, "score": score}


def evaluate(model, dataset: str, root: str | Path, split: str | None = None, protocol: str = "standard",
             batch_size: int = 128, num_workers: int = 0, skip_missing: bool = False, progress: bool = True,
             categories: Sequence[str] | None = None, gallery_encoder=None, by_kind: bool = False,
             weight_sweep: int | None = None) -> dict:
    """Evaluate ``model`` on a benchmark folder; returns per-category recalls, averages and ``score``.

    ``by_kind`` adds ``by_kind``: Recall@K per caption kind, pooled over the categories (generated catalogues
    only: their ``caption_provenance.jsonl`` records the kinds). ``weight_sweep`` (grid points, e.g. 21) adds
    ``weight_sweep``: the oracle balance of a plain weighted sum and how the composer's weights follow it
    (:mod:`cti_ir.evaluate.weight_sweep`), over all queries and, with ``by_kind``, per kind.
    """
    from cti_ir.data import open_benchmark

    bench = open_benchmark(dataset, root)
    split = split or ("val" if dataset == "fashioniq" else "test")
    kind_map = None
    if by_kind:  # before encoding anything: a folder without kinds is a user error, found at once
        from cti_ir.data.caption_kinds import read_caption_kinds

        kind_map = read_caption_kinds(bench.root)
    all_splits = bench.eval_splits(split=split, protocol=protocol, skip_missing=skip_missing)
    unknown = sorted(set(categories or []) - {s.name for s in all_splits})
    if unknown:
        raise ValueError(f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)}; {root} has "
                         f"{', '.join(s.name for s in all_splits)}")
    chosen = [s for s in all_splits if s.name in categories] if categories else all_splits
    # A category whose every query lost an image (skip_missing) has nothing to score: it is reported as not
    # evaluated and left out of the averages, not scored 0.
    eval_splits = [s for s in chosen if s.queries]
    not_evaluated = {s.name: {"reason": "no queries left: every query has a missing or unreadable image",
                              "queries_published": s.dropped_queries,
                              "gallery_published": len(s.gallery) + s.dropped_gallery}
                     for s in chosen if not s.queries}
    if not eval_splits:
        raise ValueError(f"no queries left to evaluate in {', '.join(not_evaluated)}: every query has a missing or "
                         f"unreadable image; fetch the images (python -m data_prep.check --dataset {dataset} "
                         f"--root {root} lists them)")
    per_split, outcomes, kinds = {}, [], []
    for s in eval_splits:
        if kind_map is not None:
            from cti_ir.data.caption_kinds import query_kinds

            kinds += query_kinds(s, kind_map)
        outcome = rank_split(model, s, bench.image_path, batch_size, num_workers, progress, gallery_encoder)
        per_split[s.name] = split_result(outcome, s, RECALL_KS[dataset])
        per_split[s.name].update(queries_published=len(s.queries) + s.dropped_queries,
                                 gallery_published=len(s.gallery) + s.dropped_gallery)
        if by_kind or weight_sweep:
            outcomes.append(outcome)
    result = summarize(dataset, per_split)
    result.update(protocol=protocol, split=split, root=str(root),
                  reduced_protocol=protocol_coverage(per_split, [s.name for s in all_splits]))
    if not_evaluated:
        result["not_evaluated"] = not_evaluated
    if outcomes:
        from cti_ir.evaluate.by_kind import analyse_outcomes

        result.update(analyse_outcomes(outcomes, RECALL_KS[dataset], kinds if by_kind else None, weight_sweep))
    return result


def protocol_coverage(per_split: dict[str, dict], all_categories: Sequence[str]) -> dict:
    """How the evaluated protocol compares with the full one the annotation files define.

    ``reduced`` is true when queries or gallery images were left out (``--skip-missing``) or only some categories
    were evaluated: the recalls are then not comparable with published numbers, which use every query and every
    gallery image of every category.
    """
    missing_categories = [c for c in all_categories if c not in per_split]
    short = {name: r for name, r in per_split.items()
             if r["queries"] < r["queries_published"] or r["gallery"] < r["gallery_published"]}
    return {"reduced": bool(short or missing_categories), "reduced_splits": sorted(short),
            "categories_not_evaluated": missing_categories}
