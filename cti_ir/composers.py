"""Query composers: one interface, ``composer(image_features, text_features) -> ComposeOutput``.

All take L2-normalised image and text features of shape ``(N, D)`` and return an L2-normalised query plus the
per-query image and text weights they used, so the app and the analysis can show them. Any composer can be swapped
for any other anywhere (training, evaluation, index search).

- ``image``    image only (the query is the reference image).
- ``text``     text only.
- ``sum``      fixed sum of the two, the usual zero-shot baseline.
- ``combiner`` CLIP4Cir's Combiner (Baldrati et al. 2022): sigmoid lambda * text + (1 - lambda) * image + MLP.
- ``adaptive`` ours: a small network predicts per-query weights (w_img, w_txt) that sum to one, and the query is
  w_img * image + w_txt * text + a learned residual. The weights are trained end to end and, in stage 3, also pulled
  towards a self-supervised target (see ``cti_ir.losses.modality_weight_loss``).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class ComposeOutput(NamedTuple):
    """A composed query and the weights behind it."""

    query: torch.Tensor          # (N, D), L2-normalised
    image_weight: torch.Tensor   # (N,), how much the reference image counted
    text_weight: torch.Tensor    # (N,), how much the text counted
    weight_logits: torch.Tensor | None = None  # (N, 2) pre-softmax weights, for the self-supervised loss


def _constant_weights(features: torch.Tensor, image_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    n = features.shape[0]
    w = torch.full((n,), image_weight, dtype=features.dtype, device=features.device)
    return w, 1.0 - w


class ImageOnlyComposer(nn.Module):
    """Baseline: ignore the text."""

    def forward(self, image_features, text_features, weights=None) -> ComposeOutput:
        wi, wt = _constant_weights(image_features, 1.0)
        return ComposeOutput(F.normalize(image_features, dim=-1), wi, wt)


class TextOnlyComposer(nn.Module):
    """Baseline: ignore the reference image."""

    def forward(self, image_features, text_features, weights=None) -> ComposeOutput:
        wi, wt = _constant_weights(text_features, 0.0)
        return ComposeOutput(F.normalize(text_features, dim=-1), wi, wt)


class SumComposer(nn.Module):
    """Baseline: image + text with fixed equal weights (or the weights given)."""

    def forward(self, image_features, text_features, weights=None) -> ComposeOutput:
        if weights is None:
            wi, wt = _constant_weights(image_features, 0.5)
        else:
            wi, wt = weights
        query = wi.unsqueeze(-1) * image_features + wt.unsqueeze(-1) * text_features
        return ComposeOutput(F.normalize(query, dim=-1), wi, wt)


class CombinerComposer(nn.Module):
    """CLIP4Cir-style Combiner: projected features, a learned mixing scalar and an MLP residual."""

    def __init__(self, dim: int, projection_dim: int | None = None, hidden_dim: int | None = None, dropout: float = 0.1):
        super().__init__()
        projection_dim = projection_dim or 2 * dim
        hidden_dim = hidden_dim or 4 * dim
        self.image_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(dropout))
        self.text_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(dropout))
        self.combiner = nn.Sequential(nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout))
        self.output = nn.Linear(hidden_dim, dim)
        self.dynamic_scalar = nn.Sequential(
            nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, 1)
        )

    def forward(self, image_features, text_features, weights=None) -> ComposeOutput:
        joint = torch.cat([self.image_projection(image_features), self.text_projection(text_features)], dim=-1)
        lam = torch.sigmoid(self.dynamic_scalar(joint)).squeeze(-1)
        if weights is not None:  # manual override from the app: replaces the predicted lambda
            lam = weights[1]
        query = (
            self.output(self.combiner(joint))
            + lam.unsqueeze(-1) * text_features
            + (1 - lam).unsqueeze(-1) * image_features
        )
        return ComposeOutput(F.normalize(query, dim=-1), 1 - lam, lam)


class AdaptiveWeightingComposer(nn.Module):
    """Ours: per-query modality weights predicted from both features, plus a learned residual.

    Image and text are first projected (as in CLIP4Cir's Combiner) and the joint projection feeds two heads: the
    weight head's two logits go through a softmax, so the weights are positive, sum to one and read as "how much
    each modality counts" for this query; the residual head lets the query leave the plane spanned by image and
    text (a modification such as "is red" must move the query, not only re-weight it).

    The residual head has the Combiner's capacity on purpose: a first version with a small residual behind a gate
    initialised at 0.1 lost to the Combiner in the side-by-side benchmark (README, Benchmarks), so the gate now
    starts at 1.
    """

    def __init__(self, dim: int, projection_dim: int | None = None, hidden_dim: int | None = None,
                 dropout: float = 0.1, residual_init: float = 1.0):
        super().__init__()
        projection_dim = projection_dim or 2 * dim
        hidden_dim = hidden_dim or 4 * dim
        self.image_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(dropout))
        self.text_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(dropout))
        self.weight_net = nn.Sequential(
            nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, 2)
        )
        self.residual_net = nn.Sequential(
            nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim)
        )
        self.residual_gate = nn.Parameter(torch.tensor(float(residual_init)))

    def forward(self, image_features, text_features, weights=None) -> ComposeOutput:
        joint = torch.cat([self.image_projection(image_features), self.text_projection(text_features)], dim=-1)
        logits = self.weight_net(joint)
        if weights is None:
            w = logits.softmax(dim=-1)
            wi, wt = w[:, 0], w[:, 1]
        else:
            wi, wt = weights
        residual = self.residual_gate * self.residual_net(joint)
        query = wi.unsqueeze(-1) * image_features + wt.unsqueeze(-1) * text_features + residual
        return ComposeOutput(F.normalize(query, dim=-1), wi, wt, logits)


COMPOSER_NAMES = ("adaptive", "combiner", "sum", "image", "text")


def build_composer(name: str, dim: int, **kwargs) -> nn.Module:
    """Create a composer by name (one of ``COMPOSER_NAMES``) for ``dim``-dimensional features."""
    if name == "adaptive":
        return AdaptiveWeightingComposer(dim, **kwargs)
    if name == "combiner":
        return CombinerComposer(dim, **kwargs)
    if name == "sum":
        return SumComposer()
    if name == "image":
        return ImageOnlyComposer()
    if name == "text":
        return TextOnlyComposer()
    raise ValueError(f"unknown composer {name!r}; choose one of {', '.join(COMPOSER_NAMES)}")
