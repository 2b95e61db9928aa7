"""Image-to-image retrieval metrics with class labels: mAP@R and R@1 (Musgrave et al., "A Metric Learning Reality
Check", ECCV 2020).

For a query whose class has R relevant gallery items, mAP@R averages the precision at each rank i <= R where the
i-th result is relevant, divided by R: 1.0 only if the R relevant items fill the top R. R@1 is whether the first
result is relevant. Both are computed from the exact similarity matrix, so they do not depend on an index.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


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
