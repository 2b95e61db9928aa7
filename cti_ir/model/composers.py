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
  towards a self-supervised target (see ``cti_ir.model.losses.modality_weight_loss``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from cti_ir.model.compose_output import ComposeOutput  # noqa: F401 (the composers' output type)
from cti_ir.model.zeroshot import PseudoTokenComposer


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
        z = self.dynamic_scalar(joint).squeeze(-1)
        lam = torch.sigmoid(z)
        if weights is not None:  # manual override from the app: replaces the predicted lambda
            lam = weights[1]
        residual = self.output(self.combiner(joint))
        query = residual + lam.unsqueeze(-1) * text_features + (1 - lam).unsqueeze(-1) * image_features
        # sigmoid(z) = softmax([0, z])[1]: the same (image, text) logits as the adaptive composer's, so a weight
        # target can be put on lambda too (stage 3 does so only when asked: the baseline is CLIP4Cir's Combiner).
        logits = torch.stack([torch.zeros_like(z), z], dim=-1)
        return ComposeOutput(F.normalize(query, dim=-1), 1 - lam, lam, logits, residual)


class AdaptiveWeightingComposer(nn.Module):
    """Ours: per-query modality weights predicted from both features, plus a learned residual.

    Image and text are first projected (as in CLIP4Cir's Combiner) and the joint projection feeds two heads: the
    weight head's two logits go through a softmax, so the weights are positive, sum to one and read as "how much
    each modality counts" for this query; the residual head lets the query leave the plane spanned by image and
    text (a modification such as "is red" must move the query, not only re-weight it).

    The residual head has the Combiner's capacity on purpose: a first version with a small residual behind a gate
    initialised at 0.1 lost to the Combiner in the side-by-side benchmark (README, Benchmarks), so the gate now
    starts at 1.

    ``residual`` says where the residual acts. ``"free"`` (the first design): beside the mix,
    ``w_img * image + w_txt * text + g * r``, so the weights only trade the two raw features while the residual,
    which carries the modification, is not weighted at all. ``"text"``: on the text side of the mix,
    ``w_img * image + w_txt * (text + g * r)``: the residual is what the text asks to change, and a text the
    composer does not trust (a vague caption) takes its change with it, so the weights decide how much of the
    whole modification the query gets. ``"none"``: no residual at all, ``w_img * image + w_txt * text``: the
    weights are the whole composer (a fixed sum with a per-query balance), and the encoders learn to make the sum
    work, as the fixed-sum baseline's do.

    ``gate`` says what the weights weigh. ``"modality"``: one image weight per query. ``"dimension"``: one per
    embedding dimension, ``sigmoid(logit(w_img) + a_d)`` with a per-dimension offset ``a`` from a third head that
    starts at zero, so a query can keep some of the reference's features (the unchanged attributes) and take others
    from the text; ``image_weight`` then reports the mean over the dimensions, and a manual override sets every
    dimension to the weight given.
    """

    RESIDUAL_MODES = ("free", "text", "none")
    GATES = ("modality", "dimension")

    def __init__(self, dim: int, projection_dim: int | None = None, hidden_dim: int | None = None,
                 dropout: float = 0.1, residual_init: float = 1.0, residual: str = "free", gate: str = "modality"):
        super().__init__()
        if residual not in self.RESIDUAL_MODES:
            raise ValueError(f"unknown residual mode {residual!r}; choose one of {', '.join(self.RESIDUAL_MODES)}")
        if gate not in self.GATES:
            raise ValueError(f"unknown gate {gate!r}; choose one of {', '.join(self.GATES)}")
        self.residual_mode, self.gate = residual, gate
        projection_dim = projection_dim or 2 * dim
        hidden_dim = hidden_dim or 4 * dim
        self.image_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(dropout))
        self.text_projection = nn.Sequential(nn.Linear(dim, projection_dim), nn.ReLU(), nn.Dropout(dropout))
        self.weight_net = nn.Sequential(
            nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, 2)
        )
        if residual != "none":
            self.residual_net = nn.Sequential(
                nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim)
            )
            self.residual_gate = nn.Parameter(torch.tensor(float(residual_init)))
        if gate == "dimension":
            self.dimension_net = nn.Sequential(
                nn.Linear(2 * projection_dim, hidden_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden_dim, dim)
            )
            nn.init.zeros_(self.dimension_net[-1].weight)  # starts as one weight per modality
            nn.init.zeros_(self.dimension_net[-1].bias)

    def forward(self, image_features, text_features, weights=None) -> ComposeOutput:
        joint = torch.cat([self.image_projection(image_features), self.text_projection(text_features)], dim=-1)
        logits = self.weight_net(joint)
        if weights is None:
            w = logits.softmax(dim=-1)
            wi, wt = w[:, 0], w[:, 1]
            if self.gate == "dimension":
                gi = torch.sigmoid((logits[:, 0] - logits[:, 1]).unsqueeze(-1) + self.dimension_net(joint))
                wi, wt = gi, 1.0 - gi
        else:
            wi, wt = weights
        if self.residual_mode == "none":
            residual = torch.zeros_like(image_features)
        else:
            residual = self.residual_gate * self.residual_net(joint)
        query = compose_weighted(image_features, text_features, residual, wi, wt, self.residual_mode)
        if wi.dim() == 2:  # per dimension: report the mean weight
            wi, wt = wi.mean(dim=-1), wt.mean(dim=-1)
        return ComposeOutput(F.normalize(query, dim=-1), wi, wt, logits, residual)


def compose_weighted(image_features: torch.Tensor, text_features: torch.Tensor, residual: torch.Tensor,
                     image_weight: torch.Tensor, text_weight: torch.Tensor, residual_mode: str = "free") -> torch.Tensor:
    """The adaptive composer's unnormalised query for given weights, one per query (N,) or per dimension (N, D)
    (also used to search the best weight)."""
    wi = image_weight.unsqueeze(-1) if image_weight.dim() == 1 else image_weight
    wt = text_weight.unsqueeze(-1) if text_weight.dim() == 1 else text_weight
    if residual_mode == "text":
        return wi * image_features + wt * (text_features + residual)
    return wi * image_features + wt * text_features + residual


def balance_in_words(image_weight: float) -> str:
    """Which modality carried a query, in words, from its image weight (the text weight is 1 minus it).

    0.8 and above: "almost only the image"; 0.65 and above: "mostly the image"; above 0.55: "the image a little
    more than the text"; 0.45 to 0.55: "the image and the text about equally"; and the mirror images below.
    """
    w = float(image_weight)
    if w >= 0.8:
        return "almost only the image"
    if w >= 0.65:
        return "mostly the image"
    if w > 0.55:
        return "the image a little more than the text"
    if w <= 0.2:
        return "almost only the text"
    if w <= 0.35:
        return "mostly the text"
    if w < 0.45:
        return "the text a little more than the image"
    return "the image and the text about equally"


COMPOSER_NAMES = ("adaptive", "combiner", "sum", "image", "text")
#: Composers that also read the raw modification text through the text tower (``reads_text``), so they compose
#: only through ``CIRModel.compose``: ``pseudo-token`` (``cti_ir.model.zeroshot``, trained without triplets).
TEXT_READING_COMPOSER_NAMES = ("pseudo-token",)


def build_composer(name: str, dim: int, **kwargs) -> nn.Module:
    """Create a composer by name (one of ``COMPOSER_NAMES`` or ``TEXT_READING_COMPOSER_NAMES``) for
    ``dim``-dimensional features."""
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
    if name == "pseudo-token":
        return PseudoTokenComposer(dim, **kwargs)
    names = COMPOSER_NAMES + TEXT_READING_COMPOSER_NAMES
    raise ValueError(f"unknown composer {name!r}; choose one of {', '.join(names)}")
