"""Losses shared by the three training stages.

Every contrastive loss takes an optional ``gather`` callable: under DDP it all-gathers the candidate side across
processes (with gradients), so each process scores its own queries against the whole global batch, as open_clip
does. Without DDP it is the identity.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

Gather = Callable[[torch.Tensor], tuple[torch.Tensor, int]]  # local -> (global, offset of the local rows)


def local_gather(x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """The no-DDP gather: the batch is the whole batch."""
    return x, 0


def _labels(n: int, offset: int, device) -> torch.Tensor:
    return torch.arange(offset, offset + n, device=device)


def contrastive_loss(
    a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor, gather: Gather = local_gather, symmetric: bool = True
) -> torch.Tensor:
    """InfoNCE between matching rows of ``a`` and ``b`` (both L2-normalised), averaged over both directions."""
    b_all, offset = gather(b)
    labels = _labels(a.shape[0], offset, a.device)
    loss = F.cross_entropy(logit_scale * a @ b_all.T, labels)
    if not symmetric:
        return loss
    a_all, _ = gather(a)
    return 0.5 * (loss + F.cross_entropy(logit_scale * b @ a_all.T, labels))


def in_batch_log_probability(
    query: torch.Tensor, targets_all: torch.Tensor, offset: int, logit_scale: torch.Tensor
) -> torch.Tensor:
    """log p(own target | query) among all targets of the (global) batch, per query row."""
    logp = (logit_scale * query @ targets_all.T).log_softmax(dim=-1)
    return logp.gather(1, _labels(query.shape[0], offset, query.device).unsqueeze(1)).squeeze(1)


def modality_weight_target(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    target_features: torch.Tensor,
    logit_scale: torch.Tensor,
    temperature: float = 1.0,
    gather: Gather = local_gather,
) -> torch.Tensor:
    """Self-supervised target for the modality weights, (N, 2) = (image, text), no labels needed.

    Our reconstruction (the paper's text is not available): for each training triplet, how well does the reference
    image *alone* retrieve the target among the batch's targets, and how well does the text alone? The two in-batch
    log-probabilities, softened by ``temperature``, give the target weights. A target built from raw cosine
    similarities would always favour the image (a reference is by construction close to its target) and teach
    the composer to ignore the text; ranking among the batch's targets asks which modality *discriminates* the
    target, which is what the weight should express. Everything is detached: the target teaches the weight
    network, it must not move the encoders.
    """
    with torch.no_grad():
        targets_all, offset = gather(target_features.detach())
        lp_image = in_batch_log_probability(image_features.detach(), targets_all, offset, logit_scale.detach())
        lp_text = in_batch_log_probability(text_features.detach(), targets_all, offset, logit_scale.detach())
        return (torch.stack([lp_image, lp_text], dim=-1) / temperature).softmax(dim=-1)


def balance_weight_target(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    target_features: torch.Tensor,
    logit_scale: torch.Tensor,
    temperature: float = 1.0,
    gather: Gather = local_gather,
    steps: int = 11,
    residual: torch.Tensor | None = None,
    residual_mode: str = "free",
    hard_negatives: torch.Tensor | None = None,
    extra_candidates: torch.Tensor | None = None,
) -> torch.Tensor:
    """Self-supervised target from the in-batch oracle balance, (N, 2) = (image, text), no labels needed.

    Ours (made for the mixed-caption catalogue): for each triplet, the query is composed at ``steps`` image weights from 0 to 1 (with the
    composer's own residual when given, as :func:`cti_ir.model.composers.compose_weighted` does) and each is scored by
    the log-probability of its target among the batch's targets (and ``hard_negatives``, e.g. the reference
    images: a query that leans on the image alone finds its own reference first). A softmax over the weights,
    softened by ``temperature``, gives the expected best weight. Unlike :func:`modality_weight_target`, which
    compares the two modalities *alone*, this asks which *mix* finds the target: a relative caption needs both,
    and the target says so instead of swinging to whichever extreme ranks a little better. ``extra_candidates``
    (already global, e.g. a queue of earlier batches' targets) make the ranking closer to a gallery's, where a
    target competes with many similar products. Detached throughout.
    """
    from cti_ir.model.composers import compose_weighted

    with torch.no_grad():
        targets_all, offset = gather(target_features.detach())
        if hard_negatives is not None:
            targets_all = torch.cat([targets_all, gather(hard_negatives.detach())[0]])
        if extra_candidates is not None and len(extra_candidates):
            targets_all = torch.cat([targets_all, extra_candidates.detach().to(targets_all.dtype)])
        image, text = image_features.detach(), text_features.detach()
        residual = torch.zeros_like(image) if residual is None else residual.detach()
        grid = torch.linspace(0.0, 1.0, steps, device=image.device, dtype=image.dtype)
        scores = []
        for w in grid:
            wi = torch.full((image.shape[0],), float(w), device=image.device, dtype=image.dtype)
            query = F.normalize(compose_weighted(image, text, residual, wi, 1.0 - wi, residual_mode), dim=-1)
            scores.append(in_batch_log_probability(query, targets_all, offset, logit_scale.detach()))
        p = (torch.stack(scores, dim=-1) / temperature).softmax(dim=-1)
        best = (p * grid).sum(dim=-1)
        return torch.stack([best, 1.0 - best], dim=-1)


def modality_weight_loss(weight_logits: torch.Tensor, target_weights: torch.Tensor) -> torch.Tensor:
    """KL(target || predicted) between the self-supervised target and the composer's predicted weights."""
    return F.kl_div(weight_logits.log_softmax(dim=-1), target_weights, reduction="batchmean")


def composed_retrieval_loss(
    query: torch.Tensor, target_features: torch.Tensor, logit_scale: torch.Tensor, gather: Gather = local_gather
) -> torch.Tensor:
    """Cross-entropy of each composed query against all targets of the (global) batch."""
    return contrastive_loss(query, target_features, logit_scale, gather, symmetric=False)


def multilabel_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy for multi-label attribute-word prediction, averaged over labels and rows."""
    return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
