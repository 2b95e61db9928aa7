"""The oracle balance: per query, the image weight of a plain weighted sum that ranks the target best.

For a grid of image weights ``w`` (0 = text only, 1 = image only), every query ``normalize(w * image + (1 - w) *
text)`` is ranked against the gallery. The best rank over the grid is the *oracle* (chosen with hindsight: the
ceiling of what weighting alone can do with these encoders), and the weights that reach it are the query's
*oracle balance*. A composer's predicted image weight is then compared with it:

- ``hit_rate``: share of queries whose predicted weight, rounded to the grid, is one of the best weights
  (ties count: many weights often give the same rank);
- ``mae``: mean absolute distance from the predicted weight to the nearest best weight;
- ``pearson``: correlation between the predicted weight and the centre of the best weights (None when either
  does not vary, e.g. a fixed sum).

Everything works on L2-normalised ``(N, D)`` features, batched.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from cti_ir.evaluate.ranks import recall_and_score, target_ranks


def weight_grid(steps: int = 21) -> torch.Tensor:
    """``steps`` image weights evenly spaced from 0 to 1 (21: every 0.05)."""
    if steps < 2:
        raise ValueError(f"the weight grid needs at least 2 points (0 and 1), got {steps}")
    return torch.linspace(0.0, 1.0, steps, dtype=torch.float64)


def sweep_ranks(image_features: torch.Tensor, text_features: torch.Tensor, gallery: torch.Tensor,
                target_index: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """(Q, G) 0-based rank of each query's target for each grid weight (ties against the target, as Recall@K)."""
    image_features, text_features = image_features.float(), text_features.float()
    columns = []
    for w in grid.tolist():
        queries = F.normalize(w * image_features + (1.0 - w) * text_features, dim=-1)
        columns.append(target_ranks(queries, gallery.float(), target_index))
    if not columns:
        return torch.empty(image_features.shape[0], 0, dtype=torch.long)
    return torch.stack(columns, dim=1)


def oracle_balance(ranks: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(best rank per query, (Q, G) mask of the weights reaching it, centre of those weights per query).

    The centre is the mean of the best weights: with ties (a plateau of equal ranks) it is the plateau's middle.
    """
    best = ranks.min(dim=1).values
    mask = ranks == best.unsqueeze(1)
    centre = (mask.double() * grid.unsqueeze(0)).sum(dim=1) / mask.sum(dim=1)
    return best, mask, centre


def agreement(predicted: torch.Tensor, mask: torch.Tensor, centre: torch.Tensor, grid: torch.Tensor) -> dict:
    """How well predicted image weights follow the oracle balance: hit rate, mean absolute error, Pearson r."""
    predicted = predicted.double().reshape(-1)
    if predicted.numel() == 0:
        return {"hit_rate": None, "mae": None, "pearson": None}
    nearest = (predicted.unsqueeze(1) - grid.unsqueeze(0)).abs().argmin(dim=1)
    hit = mask.gather(1, nearest.unsqueeze(1)).squeeze(1).double().mean().item()
    distance = (predicted.unsqueeze(1) - grid.unsqueeze(0)).abs()
    distance = torch.where(mask, distance, torch.full_like(distance, float("inf")))
    mae = distance.min(dim=1).values.mean().item()
    return {"hit_rate": hit, "mae": mae, "pearson": pearson(predicted, centre)}


def pearson(x: torch.Tensor, y: torch.Tensor) -> Optional[float]:
    """Pearson correlation, or None when either side is constant (or there are fewer than 2 values)."""
    x, y = x.double().reshape(-1), y.double().reshape(-1)
    if x.numel() < 2:
        return None
    x, y = x - x.mean(), y - y.mean()
    denominator = (x.square().sum() * y.square().sum()).sqrt().item()
    if denominator < 1e-12:
        return None
    return float((x * y).sum().item() / denominator)



def summarize_sweep(ranks: torch.Tensor, grid: torch.Tensor, ks: Sequence[int], predicted: torch.Tensor,
                    composed_ranks: torch.Tensor) -> dict:
    """Everything the sweep reports for one set of queries (a split, a kind, or all of them pooled).

    ``score`` is the mean of the Recall@K over ``ks``; ``composer`` is the evaluated composer itself, for
    comparison; ``fixed`` the plain weighted sum at every grid weight; ``best_fixed`` the best single weight for
    these queries (also chosen with hindsight).
    """
    best, mask, centre = oracle_balance(ranks, grid)
    fixed = {f"{w:.2f}": recall_and_score(ranks[:, i], ks) for i, w in enumerate(grid.tolist())}
    best_w = max(fixed, key=lambda w: fixed[w]["score"])
    return {
        "queries": int(ranks.shape[0]),
        "composer": recall_and_score(composed_ranks, ks),
        "oracle": recall_and_score(best, ks),
        "best_fixed": {"image_weight": float(best_w), **fixed[best_w]},
        "fixed": fixed,
        "oracle_image_weight": _mean(centre),
        "predicted_image_weight": _mean(predicted.double()),
        "agreement": agreement(predicted, mask, centre, grid),
    }


def _mean(x: torch.Tensor) -> Optional[float]:
    return float(x.mean().item()) if x.numel() else None
