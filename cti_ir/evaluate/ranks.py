"""Ranks and recall: where each query's target lands, Recall@K over those ranks, and, for image-to-image retrieval
with class labels, mAP@R and R@1 (Musgrave et al., "A Metric Learning Reality Check", ECCV 2020).

Recall@K here always means the composed-retrieval metric: the share of queries whose target is among the first K
(``cti_ir.index.factory.neighbour_recall`` is the other kind, the overlap of an approximate index's results with
exact search).

For a query whose class has R relevant gallery items, mAP@R averages the precision at each rank i <= R where the
i-th result is relevant, divided by R: 1.0 only if the R relevant items fill the top R. R@1 is whether the first
result is relevant. Both are computed from the exact similarity matrix, so they do not depend on an index.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def target_ranks(queries: torch.Tensor, gallery: torch.Tensor, target_index: torch.Tensor,
                 chunk: int = 1024) -> torch.Tensor:
    """0-based rank of each query's target in the gallery (by descending cosine similarity).

    Ties are broken against the target (an item scoring equal to the target counts as ranked above it), so a
    degenerate model that scores everything the same gets no recall for free.
    """
    ranks = []
    for start in range(0, queries.shape[0], chunk):
        sims = queries[start:start + chunk] @ gallery.T
        own = sims.gather(1, target_index[start:start + chunk].unsqueeze(1))
        ranks.append((sims >= own).sum(dim=1) - 1)
    return torch.cat(ranks) if ranks else torch.empty(0, dtype=torch.long)


def recall_at_k(ranks: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Recall@K in percent for each K."""
    n = max(int(ranks.numel()), 1)
    return {f"R@{k}": 100.0 * float((ranks < k).sum()) / n for k in ks}


def recall_and_score(ranks: torch.Tensor, ks: Sequence[int]) -> dict[str, float]:
    """Recall@K for each K plus ``score``, their mean (the per-kind and weight-sweep tables' summary)."""
    out = recall_at_k(ranks, ks)
    out["score"] = sum(out.values()) / len(ks)
    return out


def retrieval_scores(similarity: np.ndarray, query_labels: Sequence, gallery_labels: Sequence) -> dict[str, float]:
    """Mean mAP@R and R@1 (in percent) over the queries that have at least one relevant gallery item.

    ``similarity`` is ``(n_queries, n_gallery)``, higher is closer; labels are any hashable values (a tuple of
    attributes, a product id). Queries without a relevant item are counted in ``skipped`` and left out.
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    if similarity.shape != (len(query_labels), len(gallery_labels)):
        raise ValueError(f"similarity has shape {similarity.shape}, expected ({len(query_labels)}, "
                         f"{len(gallery_labels)}) from the labels")
    codes = {label: i for i, label in enumerate(dict.fromkeys(list(query_labels) + list(gallery_labels)))}
    q = np.array([codes[label] for label in query_labels])
    g = np.array([codes[label] for label in gallery_labels])
    counts = np.bincount(g, minlength=len(codes))
    ap, top1 = [], []
    # A stable sort on the negated scores: ties keep gallery order, so results do not depend on the platform.
    order = np.argsort(-similarity, axis=1, kind="stable")
    for row, label in enumerate(q):
        r = int(counts[label])
        if r == 0:
            continue
        hits = g[order[row, :r]] == label
        precision = np.cumsum(hits) / np.arange(1, r + 1)
        ap.append(float((precision * hits).sum() / r))
        top1.append(float(hits[0]))
    if not ap:
        return {"map_at_r": float("nan"), "r_at_1": float("nan"), "queries": 0, "skipped": len(q)}
    return {"map_at_r": 100.0 * float(np.mean(ap)), "r_at_1": 100.0 * float(np.mean(top1)), "queries": len(ap),
            "skipped": len(q) - len(ap)}
