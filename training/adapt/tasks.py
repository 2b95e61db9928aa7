"""The training tasks of label-free adaptation, run on the shared loop (``training/loop.py``).

- :class:`PseudoLabelTask` (phase 1): one adapter set learns to classify the images into one clustering's
  pseudo-labels with a normalised-softmax (cosine) classifier. The same task with the whole image tower trainable
  and no adapters is the full fine-tuning baseline of the benchmark.
- :class:`FusionTask` (phase 2): with every adapter set frozen, the fusion layers learn to mix them per image under
  all the pseudo-label losses at once, while each image's attention is pulled towards the attention of its nearest
  neighbours in the frozen feature space (*neighbour propagation*).

Loss forms, temperature, classifier initialisation and the propagation rule are our reconstruction (README).
Evaluation is label-free, so the tasks report nothing to select a best epoch on: the last epoch is kept.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from training.examples import stack_collate
from training.loop import StageModule


class CosineClassifier(nn.Module):
    """Normalised-softmax classifier: logits = cosine(feature, class prototype) / temperature.

    Prototypes start at the k-means centroids, so the classifier starts by reproducing the clustering it learns.
    """

    def __init__(self, centroids: np.ndarray | torch.Tensor, temperature: float = 0.05, learn: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.as_tensor(np.asarray(centroids), dtype=torch.float32).clone(),
                                   requires_grad=learn)
        self.temperature = temperature

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features, dim=-1) @ F.normalize(self.weight, dim=-1).t() / self.temperature


def freeze(module: nn.Module) -> None:
    """No gradients for ``module``'s parameters."""
    for p in module.parameters():
        p.requires_grad_(False)


def anchor_loss(features: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """1 - cosine between each image's adapted feature and its anchor (the frozen feature), averaged."""
    return (1.0 - (F.normalize(features, dim=-1) * F.normalize(anchors, dim=-1)).sum(-1)).mean()


@torch.no_grad()
def frozen_features(model, pixels: torch.Tensor, frozen_model=None) -> torch.Tensor:
    """The frozen model's features of the same pixels: the anchor the adapted space is kept near.

    With adapters the frozen model is the same model with its adapters off; full fine-tuning passes a frozen copy.
    """
    if frozen_model is not None:
        frozen_model.to(pixels.device).eval()
        return frozen_model.encode_images(pixels)
    with model.adapters.using("off"):
        return model.encode_images(pixels)


class PseudoLabelModule(StageModule):
    """Cross-entropy of one clustering's pseudo-labels (column ``column`` of the batch's labels).

    ``anchor_weight`` adds :func:`anchor_loss`, which keeps the adapted space close to the frozen one.
    """

    def __init__(self, model, classifier: CosineClassifier, column: int, anchor_weight: float = 0.0,
                 frozen_model=None):
        super().__init__(model, {"classifier": classifier})
        self.column, self.anchor_weight = column, anchor_weight
        # In a list, not as a submodule: the frozen copy is neither trained nor part of the resumable state.
        self._frozen = [frozen_model]

    def forward(self, batch, gather):
        features = self.model.encode_images(batch["pixels"])
        logits = self.heads["classifier"](features)
        labels = batch["labels"][:, self.column]
        loss = F.cross_entropy(logits, labels)
        logs = {"accuracy": (logits.argmax(-1) == labels).float().mean().detach()}
        if self.anchor_weight > 0:
            anchor = anchor_loss(features, frozen_features(self.model, batch["pixels"], self._frozen[0]))
            loss = loss + self.anchor_weight * anchor
            logs["anchor_loss"] = anchor.detach()
        return loss, logs


def propagation_targets(bank: torch.Tensor, neighbours: torch.Tensor) -> torch.Tensor:
    """Each image's target attention: the mean of its neighbours' attentions in the memory bank.

    ``bank`` is ``(N_images, blocks, M)``; ``neighbours`` ``(B, k)`` image indices; returns ``(B, blocks, M)``.
    """
    return bank[neighbours].mean(dim=1)


def propagation_loss(attentions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """KL(target || attention), averaged over images and blocks: pulls each attention towards its target."""
    attentions = attentions.clamp_min(1e-8)
    targets = targets.clamp_min(1e-8)
    return (targets * (targets.log() - attentions.log())).sum(-1).mean()


class FusionModule(StageModule):
    """Phase 2: every pseudo-label loss on the fused features, plus neighbour propagation of the attentions.

    ``bank`` (a buffer, so it is saved and restored with the resumable state) holds the latest attention of every
    image; it starts uniform and is updated with each batch's attentions after its loss is computed.
    """

    def __init__(self, model, classifiers: list[CosineClassifier], neighbours: np.ndarray, n_images: int,
                 propagation_weight: float, anchor_weight: float = 0.0, balance_losses: bool = False):
        super().__init__(model, {f"classifier_{m}": c for m, c in enumerate(classifiers)})
        self.n_sets = len(classifiers)
        self.propagation_weight, self.anchor_weight = propagation_weight, anchor_weight
        # Balanced: each clustering's loss divided by its chance level, log(k), so that the fine clusterings (whose
        # losses are the largest) do not decide the fusion alone; rescaled to keep the average weight at 1.
        sizes = torch.tensor([float(c.weight.shape[0]) for c in classifiers])
        weights = 1.0 / sizes.log() if balance_losses else torch.ones(len(classifiers))
        self.register_buffer("loss_weights", weights * len(classifiers) / weights.sum())
        blocks = model.adapters.config.n_blocks
        self.register_buffer("bank", torch.full((n_images, blocks, self.n_sets), 1.0 / self.n_sets))
        self.register_buffer("neighbours", torch.as_tensor(neighbours, dtype=torch.long))

    def forward(self, batch, gather):
        with self.model.adapters.recording() as recorded:
            features = self.model.encode_images(batch["pixels"])
        attention = torch.stack(recorded, dim=1)                    # (B, blocks, M)
        losses = [F.cross_entropy(self.heads[f"classifier_{m}"](features), batch["labels"][:, m])
                  for m in range(self.n_sets)]
        loss = (torch.stack(losses) * self.loss_weights).mean()
        logs = {f"loss_set{m}": l.detach() for m, l in enumerate(losses)}
        if self.anchor_weight > 0:
            anchor = anchor_loss(features, frozen_features(self.model, batch["pixels"]))
            loss = loss + self.anchor_weight * anchor
            logs["anchor_loss"] = anchor.detach()
        index = batch["index"]
        if self.propagation_weight > 0:
            target = propagation_targets(self.bank, self.neighbours[index])
            prop = propagation_loss(attention, target)
            loss = loss + self.propagation_weight * prop
            logs["propagation_loss"] = prop.detach()
        with torch.no_grad():
            self.bank[index] = attention.detach().float()
        # How peaked the attentions are (1/M = uniform, 1 = one set only), averaged over blocks and images.
        logs["attention_max"] = attention.detach().max(dim=-1).values.mean()
        return loss, logs


class _AdaptTask:
    """What both phases share: the examples, the collate function, no labelled evaluation, no extra files."""

    collate = staticmethod(stack_collate)

    def evaluate(self, model):
        return None

    def checkpoint_files(self):
        return {}


class PseudoLabelTask(_AdaptTask):
    """Phase 1 (one adapter set) or full fine-tuning on one clustering's pseudo-labels."""

    def __init__(self, name: str, dataset, column: int, centroids: np.ndarray, temperature: float,
                 learn_prototypes: bool = True, anchor_weight: float = 0.0, frozen_model=None):
        self.name, self.dataset, self.column = name, dataset, column
        self.centroids, self.temperature, self.learn_prototypes = centroids, temperature, learn_prototypes
        self.anchor_weight, self.frozen_model = anchor_weight, frozen_model

    def build_module(self, model):
        classifier = CosineClassifier(self.centroids, self.temperature, self.learn_prototypes)
        return PseudoLabelModule(model, classifier, self.column, self.anchor_weight, self.frozen_model)


class FusionTask(_AdaptTask):
    """Phase 2: the fusion layers over every adapter set."""

    def __init__(self, name: str, dataset, classifiers: list[CosineClassifier], neighbours: np.ndarray,
                 propagation_weight: float, anchor_weight: float = 0.0, balance_losses: bool = False):
        self.name, self.dataset, self.classifiers = name, dataset, classifiers
        self.neighbours, self.propagation_weight, self.anchor_weight = neighbours, propagation_weight, anchor_weight
        self.balance_losses = balance_losses

    def build_module(self, model):
        return FusionModule(model, self.classifiers, self.neighbours, len(self.dataset), self.propagation_weight,
                            self.anchor_weight, self.balance_losses)
