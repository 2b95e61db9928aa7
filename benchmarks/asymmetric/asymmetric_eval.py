"""Recall@K of composed queries against gallery vectors given as arrays (the asymmetric benchmark's evaluator).

The benchmark embeds every image once per model and then scores many galleries (each gallery model through each
transformation, their ensembles, the alternatives) against the same queries. This module does the scoring with the
library's own protocol and metric code (``cti_ir.data`` splits, ``cti_ir.evaluate.evaluator.target_ranks``/``summarize``), so
its numbers are those of ``python -m cti_ir.evaluate`` (the benchmark checks that on the symmetric row), plus the
rejection analysis: Recall@K over the queries whose target stays in the index after the most uncertain (or random)
gallery images are rejected, and a risk-coverage plot drawn with Pillow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cti_ir.data import open_benchmark
from cti_ir.evaluate.evaluator import RECALL_KS, encode_texts, recall_at_k, summarize, target_ranks


class QuerySide:
    """The query model's composed queries of one benchmark's evaluation splits (computed once, reused per row)."""

    def __init__(self, query_model, dataset: str, root: str | Path, ref_vectors: dict[str, np.ndarray]):
        bench = open_benchmark(dataset, root)
        split = "val" if dataset == "fashioniq" else "test"
        self.dataset, self.splits = dataset, bench.eval_splits(split=split, check=False)
        self.queries: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            for s in self.splits:
                refs = torch.from_numpy(np.stack([ref_vectors[q.reference] for q in s.queries]))
                text = encode_texts(query_model, [q.text for q in s.queries])
                self.queries[s.name] = query_model.compose(refs, text).query.float()

    def gallery_ids(self) -> list[str]:
        """Every image some split's gallery holds."""
        return sorted({i for s in self.splits for i in s.gallery})

    def score(self, gallery_vectors: dict[str, np.ndarray], rejected: set[str] | frozenset = frozenset()) -> dict:
        """``cti_ir.evaluate.evaluator``'s result dict for these galleries; ``rejected`` images are out of the index.

        A query whose target was rejected is not counted (the system abstains on it); ``coverage`` is the share of
        queries still counted.
        """
        per_split, kept_total, total = {}, 0, 0
        for s in self.splits:
            gallery = [i for i in s.gallery if i not in rejected]
            position = {i: k for k, i in enumerate(gallery)}
            keep = [k for k, q in enumerate(s.queries) if q.target in position]
            g = torch.from_numpy(np.stack([gallery_vectors[i] for i in gallery]))
            targets = torch.tensor([position[s.queries[k].target] for k in keep], dtype=torch.long)
            ranks = target_ranks(self.queries[s.name][keep], g, targets)
            r = recall_at_k(ranks, RECALL_KS[self.dataset])
            r.update(queries=len(keep), gallery=len(gallery))
            per_split[s.name] = r
            kept_total, total = kept_total + len(keep), total + len(s.queries)
        out = summarize(self.dataset, per_split)
        out["coverage"] = kept_total / max(total, 1)
        return out


def overall(results: dict[str, dict]) -> float:
    """The accuracy table's overall column: the mean of the benchmarks' headline scores."""
    return sum(r["score"] for r in results.values()) / len(results)


def rejection_curve(sides: dict[str, QuerySide], vectors: dict[str, dict[str, np.ndarray]],
                    uncertainty: dict[str, dict[str, float]], fractions: Sequence[float], random_draws: int = 10,
                    seed: int = 0) -> dict[str, list[dict]]:
    """Overall score and coverage after rejecting each fraction of each gallery pool, by uncertainty and at random.

    ``vectors[name]`` / ``uncertainty[name]`` map image ids of benchmark ``name`` to the stored vector and the
    ensemble's uncertainty. Random rejection is averaged over ``random_draws`` draws.
    """
    rng = np.random.default_rng(seed)
    curves: dict[str, list[dict]] = {"uncertainty": [], "random": []}
    for f in fractions:
        by_u, by_rand = {}, {}
        for name, side in sides.items():
            pool = side.gallery_ids()
            n = int(round(f * len(pool)))
            order = sorted(pool, key=lambda i: -uncertainty[name][i])
            by_u[name] = side.score(vectors[name], set(order[:n]))
            draws = [side.score(vectors[name], set(rng.choice(pool, n, replace=False)) if n else set())
                     for _ in range(random_draws if n else 1)]
            by_rand[name] = {"score": float(np.mean([d["score"] for d in draws])),
                             "coverage": float(np.mean([d["coverage"] for d in draws])),
                             "average": {k: float(np.mean([d["average"][k] for d in draws])) for k in draws[0]["average"]}}
        for curve, res in (("uncertainty", by_u), ("random", by_rand)):
            curves[curve].append({"fraction": f, "overall": overall(res),
                                  "coverage": float(np.mean([r["coverage"] for r in res.values()])),
                                  "per_dataset": {k: {"score": v["score"], "coverage": v["coverage"],
                                                      "average": v["average"]} for k, v in res.items()}})
    return curves


def rejection_precision(uncertainty: dict[str, float], degraded: set[str], fraction: float) -> dict:
    """Of the ``fraction`` most uncertain images, the share that are degraded; and what random rejection expects."""
    pool = sorted(uncertainty)
    n = max(1, int(round(fraction * len(pool))))
    top = sorted(pool, key=lambda i: -uncertainty[i])[:n]
    hits = sum(i in degraded for i in top)
    base = sum(i in degraded for i in pool) / len(pool)
    return {"rejected": n, "degraded_among_rejected": hits, "precision": hits / n, "random_precision": base,
            "degraded_in_pool": sum(i in degraded for i in pool), "pool": len(pool),
            "recall_of_degraded": hits / max(1, sum(i in degraded for i in pool))}


def plot_risk_coverage(curves: dict[str, list[dict]], path: str | Path, title: str) -> None:
    """A risk-coverage plot (PNG): overall score against the share of the gallery kept, one line per rule."""
    from PIL import Image, ImageDraw

    w, h, left, right, top, bottom = 720, 440, 70, 20, 40, 60
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    points = [p for c in curves.values() for p in c]
    xs = [1 - p["fraction"] for p in points]
    ys = [p["overall"] for p in points]
    x0, x1 = min(xs), 1.0
    y0, y1 = np.floor(min(ys)) - 0.5, np.ceil(max(ys)) + 0.5

    def to_px(x, y):
        return (left + (x - x0) / max(x1 - x0, 1e-9) * (w - left - right),
                top + (y1 - y) / max(y1 - y0, 1e-9) * (h - top - bottom))

    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for k in range(6):
        y = y0 + k * (y1 - y0) / 5
        px = to_px(x0, y)
        d.line([px, (w - right, px[1])], fill=(225, 225, 225))
        d.text((8, px[1] - 6), f"{y:.1f}", fill="black")
        x = x0 + k * (x1 - x0) / 5
        px = to_px(x, y0)
        d.text((px[0] - 12, h - bottom + 8), f"{100 * x:.0f}%", fill="black")
    d.text((left, h - 28), "gallery kept (coverage of the catalogue)", fill="black")
    d.text((left, 4), title, fill="black")
    colours = {"uncertainty": (200, 40, 40), "random": (40, 90, 200)}
    for k, (name, curve) in enumerate(curves.items()):
        pts = [to_px(1 - p["fraction"], p["overall"]) for p in curve]
        colour = colours.get(name, (60, 60, 60))
        d.line(pts, fill=colour, width=3)
        for px in pts:
            d.ellipse([px[0] - 3, px[1] - 3, px[0] + 3, px[1] + 3], fill=colour)
        d.text((w - right - 230, top + 10 + 16 * k), f"- rejected by {name}", fill=colour)
    d.text((8, top - 17), "overall score (covered queries)", fill="black")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
