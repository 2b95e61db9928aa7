"""What the paraphrase benchmark computes from per-query hits: the spread across styles, the queries whose outcome
depends on the wording alone, and a permutation noise floor for the spread.

The null hypothesis of the permutation test is that the style does not matter: a query's outcomes under the S
styles are then exchangeable, so shuffling them within each query gives spreads that arise from chance alone
(which queries happen to sit at the edge of the top K). The observed spread is compared with that distribution.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def spread(recalls: Sequence[float]) -> float:
    """(best - worst) / best of per-style recalls, in percent (0 when every style scores 0)."""
    best, worst = max(recalls), min(recalls)
    return 100.0 * (best - worst) / best if best > 0 else 0.0


def flip_share(hits: np.ndarray) -> float:
    """Percent of queries (rows of a (Q, S) boolean array) whose hit differs between styles."""
    if hits.size == 0:
        return 0.0
    return 100.0 * float(np.mean(hits.any(axis=1) & ~hits.all(axis=1)))


def permutation_noise(hits: np.ndarray, permutations: int, seed: int = 0) -> dict[str, float]:
    """The spread of ``hits`` ((Q, S) booleans) against its distribution when styles are shuffled within queries.

    Returns the observed ``spread``, the permuted spreads' ``mean`` and ``p95`` (the noise floor: a spread below it
    is what chance alone gives 1 time in 20) and ``p_value`` (share of permutations at least as spread, with the
    usual +1 correction), in percent except the p-value.
    """
    hits = np.asarray(hits, dtype=bool)
    observed = spread(list(hits.mean(axis=0)))
    rng = np.random.default_rng(seed)
    values = np.empty(permutations)
    for i in range(permutations):
        order = np.argsort(rng.random(hits.shape), axis=1)
        means = np.take_along_axis(hits, order, axis=1).mean(axis=0)
        values[i] = spread(list(means))
    return {"spread": observed, "mean": float(values.mean()) if permutations else 0.0,
            "p95": float(np.percentile(values, 95)) if permutations else 0.0,
            "p_value": float((1 + np.sum(values >= observed - 1e-12)) / (1 + permutations))}


def token_lengths(tokenizer, texts: Sequence[str], context_length: int) -> dict[str, float]:
    """Token counts of ``texts`` with the start and end tokens (what the text tower reads): mean, 95th percentile,
    max and the percent longer than ``context_length`` (cut off by the model)."""
    encode = getattr(tokenizer, "encode", None)
    if encode is None:
        return {}
    counts = np.array([len(encode(t)) + 2 for t in texts])
    return {"mean": float(counts.mean()), "p95": float(np.percentile(counts, 95)), "max": int(counts.max()),
            "over_context_pct": 100.0 * float(np.mean(counts > context_length)), "context_length": context_length}
