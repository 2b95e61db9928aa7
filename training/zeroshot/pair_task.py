"""Training a composer on mined pairs (``training.zeroshot --pairs``): only the composer learns.

The frozen encoders embed every product photo and every distinct change text once, before training; an example
is then three row indices (reference photo, change text, target photo), and a step costs only the composer. The
loss is the in-batch contrastive loss of stage 3 (each composed query against the batch's targets), where a
target photo that appears twice in a batch is not counted as a negative of its own queries.

The per-epoch check uses no benchmark either: pairs mined among the held-out products (those of ``--val-split``;
when there are none, among the first training products) must find their target among those products' photos
(R@10, in percent).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.zeroshot.pairs import MinedPair
from training.zeroshot.task import FrozenEncodersModule


class PairExamples:
    """Mined pairs as examples indexed by ``(index, epoch)``: row indices into the embedding tables."""

    def __init__(self, references: torch.Tensor, texts: torch.Tensor, targets: torch.Tensor):
        self.references, self.texts, self.targets = references, texts, targets

    def __len__(self) -> int:
        return len(self.references)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, _ = item
        return {"reference": self.references[index], "text": self.texts[index], "target": self.targets[index]}


def collate(examples: list[dict]) -> dict:
    return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}


def pair_tables(pairs: list[MinedPair], text_rows: dict[str, int], image_rows: dict[int, int]) -> PairExamples:
    """The examples of ``pairs``: product indices mapped to rows of the image table, texts to the text table."""
    return PairExamples(torch.tensor([image_rows[p.reference] for p in pairs]),
                        torch.tensor([text_rows[p.text] for p in pairs]),
                        torch.tensor([image_rows[p.target] for p in pairs]))


@torch.no_grad()
def check_recall(compose, images: torch.Tensor, texts: torch.Tensor, check: PairExamples,
                 gallery_rows: torch.Tensor, k: int = 10) -> float:
    """R@k (percent) of the ``check`` pairs: each composes ``compose(reference rows, text rows)`` and searches the
    photos ``gallery_rows`` of ``images`` for its target (the reference itself is not an answer, as in the standard
    protocols). ``check``'s rows index ``images`` and ``texts``; every reference and target is in the gallery."""
    gallery = images[gallery_rows]
    position = {int(row): n for n, row in enumerate(gallery_rows)}
    hits = 0
    for start in range(0, len(check), 1024):
        rows = slice(start, start + 1024)
        query = compose(images[check.references[rows]], texts[check.texts[rows]])
        scores = query.to(gallery.device) @ gallery.T
        refs = torch.tensor([position[int(r)] for r in check.references[rows]])
        scores[torch.arange(len(refs)), refs] = float("-inf")
        top = scores.topk(min(k, scores.shape[1]), dim=1).indices.cpu()
        wanted = torch.tensor([position[int(t)] for t in check.targets[rows]])
        hits += int((top == wanted.unsqueeze(1)).any(dim=1).sum())
    return 100.0 * hits / len(check)


class PairModule(FrozenEncodersModule):
    """The composer on frozen embeddings, trained to find each pair's target among the batch's targets."""

    def __init__(self, model, images: torch.Tensor, texts: torch.Tensor, temperature: float):
        super().__init__(model)
        self.images, self.texts, self.scale = images, texts, 1.0 / temperature

    def forward(self, batch, gather):
        images, texts = self.images.to(batch["target"].device), self.texts.to(batch["target"].device)
        out = self.model.composer(images[batch["reference"]], texts[batch["text"]])
        targets_all, offset = gather(images[batch["target"]])
        ids_all, _ = gather(batch["target"].float())
        n = len(batch["target"])
        own = torch.arange(offset, offset + n, device=targets_all.device)
        logits = self.scale * out.query @ targets_all.T
        # the same photo as another query's target is the right answer for it too, not a negative
        twin = ids_all.unsqueeze(0) == batch["target"].float().unsqueeze(1)
        twin[torch.arange(n), own] = False
        loss = F.cross_entropy(logits.masked_fill(twin, float("-inf")), own)
        cosine = (out.query * images[batch["target"]]).sum(-1).mean().detach()
        return loss, {"cosine": cosine, "image_weight": out.image_weight.mean().detach()}


class PairTask:
    """What the loop needs: the mined examples, the module, and a held-out check on mined pairs."""

    name = "zeroshot-pairs"

    def __init__(self, images: torch.Tensor, texts: torch.Tensor, train: PairExamples, check: PairExamples,
                 check_gallery: torch.Tensor, temperature: float):
        """``images``/``texts``: the embedding tables; ``check_gallery``: the image rows the check searches."""
        self.images, self.texts, self.dataset, self.check = images.float(), texts.float(), train, check
        self.check_gallery, self.temperature = check_gallery, temperature
        self.collate = collate

    def build_module(self, model):
        return PairModule(model, self.images, self.texts, self.temperature)

    @torch.no_grad()
    def evaluate(self, model):
        """R@10 (percent) of the check pairs, each searching the check products' photos for its target."""
        if not len(self.check):
            return None
        was_training = model.training
        model.eval()
        device = model.device
        score = check_recall(lambda ref, txt: model.composer(ref.to(device), txt.to(device)).query,
                             self.images, self.texts, self.check, self.check_gallery)
        model.train(was_training)
        return {"score": score, "check_pairs": len(self.check)}

    def checkpoint_files(self):
        return {}
