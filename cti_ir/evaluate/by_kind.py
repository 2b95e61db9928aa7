"""Per-caption-kind recall and the weight sweep over an evaluation's queries (``cti_ir.evaluate.evaluator --by-kind
--weight-sweep``).

Queries are pooled over the categories (a Fashion-IQ kind has too few queries per category to be read alone), so
a kind's Recall@K is over all its queries; ``score`` is the mean of the dataset's Recall@K (Fashion-IQ: R@10 and
R@50, Shoes: R@1, R@10 and R@50), the same formula as a category's headline number.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch

from cti_ir.data.caption_kinds import ordered_kinds
from cti_ir.evaluate.ranks import recall_and_score
from cti_ir.evaluate.weight_sweep import summarize_sweep, sweep_ranks, weight_grid


def recall_by_kind(ranks: torch.Tensor, image_weights: torch.Tensor, kinds: Sequence[str],
                   ks: Sequence[int]) -> dict[str, dict]:
    """{kind: {queries, R@K..., score, image_weight (mean)}} for every kind present, in table order."""
    out = {}
    for kind in ordered_kinds(kinds):
        mask = torch.tensor([k == kind for k in kinds], dtype=torch.bool)
        row = {"queries": int(mask.sum()), **recall_and_score(ranks[mask], ks)}
        if image_weights.numel():
            row["image_weight"] = float(image_weights[mask].double().mean())
        out[kind] = row
    return out


def analyse_outcomes(outcomes: Sequence, ks: Sequence[int], kinds: Optional[Sequence[str]],
                     sweep_steps: Optional[int]) -> dict:
    """``by_kind`` and/or ``weight_sweep`` sections for the evaluation result (see the module docstring).

    ``outcomes`` are the per-split ``SplitOutcome`` of ``cti_ir.evaluate.evaluator``, in the order of ``kinds``.
    """
    ranks = torch.cat([o.ranks for o in outcomes])
    weights = torch.cat([o.image_weights for o in outcomes])
    out: dict = {}
    if kinds is not None:
        if len(kinds) != ranks.numel():
            raise ValueError(f"{len(kinds)} caption kinds for {ranks.numel()} queries")
        out["by_kind"] = recall_by_kind(ranks, weights, kinds, ks)
    if sweep_steps:
        grid = weight_grid(sweep_steps)
        swept = torch.cat([sweep_ranks(o.reference_features, o.text_features, o.gallery, o.target_index, grid)
                           for o in outcomes])
        predicted = weights  # every composer reports its image weight (fixed ones a constant)
        sweep = {"grid": [round(w, 4) for w in grid.tolist()], "all": summarize_sweep(swept, grid, ks, predicted, ranks)}
        if kinds is not None:
            sweep["by_kind"] = {}
            for kind in ordered_kinds(kinds):
                mask = torch.tensor([k == kind for k in kinds], dtype=torch.bool)
                sweep["by_kind"][kind] = summarize_sweep(swept[mask], grid, ks, predicted[mask], ranks[mask])
        out["weight_sweep"] = sweep
    return out


def _fmt(x: Optional[float], spec: str = ".2f") -> str:
    return "n/a" if x is None else format(x, spec)


def format_by_kind(result: dict) -> str:
    """The per-kind table (Markdown), pooled over the categories."""
    rows = result["by_kind"]
    ks = [k for k in next(iter(rows.values())) if k.startswith("R@")]
    lines = ["\nper caption kind (queries pooled over the categories):",
             "| kind | queries | " + " | ".join(ks) + " | score | image weight |",
             "|" + "---|" * (len(ks) + 4)]
    for kind, r in rows.items():
        lines.append(f"| {kind} | {r['queries']} | " + " | ".join(f"{r[k]:.2f}" for k in ks)
                     + f" | {r['score']:.2f} | {_fmt(r.get('image_weight'))} |")
    return "\n".join(lines)


def format_sweep(result: dict) -> str:
    """The weight-sweep table (Markdown): composer, best fixed weight, oracle, and the weights' agreement."""
    sweep = result["weight_sweep"]
    sections = [("all", sweep["all"])] + list(sweep.get("by_kind", {}).items())
    lines = ["\nweight sweep (plain weighted sum of the model's image and text features; oracle = best weight per "
             "query, with hindsight):",
             "| queries | n | composer score | best fixed weight: score | oracle score | oracle image weight | "
             "predicted image weight | hit rate | MAE | Pearson r |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in sections:
        a = s["agreement"]
        lines.append(
            f"| {name} | {s['queries']} | {s['composer']['score']:.2f} | {s['best_fixed']['image_weight']:.2f}: "
            f"{s['best_fixed']['score']:.2f} | {s['oracle']['score']:.2f} | {_fmt(s['oracle_image_weight'])} | "
            f"{_fmt(s['predicted_image_weight'])} | {_fmt(a['hit_rate'])} | {_fmt(a['mae'])} | "
            f"{_fmt(a['pearson'])} |")
    return "\n".join(lines)
