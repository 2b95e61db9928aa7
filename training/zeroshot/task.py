"""The zero-shot task on the shared training loop: only the pseudo-token projection learns.

Every example is a prompt with a placeholder slot and a *source* embedding, made by the frozen encoders once
before training:

- a text of the corpus (self-masking, after LinCIR): the prompt is the text with keywords masked
  (``training.zeroshot.masking``), the source is the text's own embedding;
- an unlabeled image (after Pic2Word): the prompt is the template up to its placeholder ("a photo of *"), the
  source is the image's embedding.

The projection turns the source (for texts with Gaussian noise of a random scale up to ``noise``, so that it also
serves image embeddings, which sit elsewhere in the space) into the pseudo-token; the frozen text tower reads the
prompt with it, and an in-batch contrastive loss asks the result to find its own source among the batch's.
"""

from __future__ import annotations

import math
import sys

import torch
import torch.nn.functional as F

from cti_ir.model.losses import contrastive_loss
from cti_ir.model.zeroshot import PLACEHOLDER
from training.examples import example_rng
from training.loop import StageModule
from training.zeroshot.masking import mask_first_keyword, mask_keywords


class ZeroShotExamples:
    """Examples indexed by ``(index, epoch)``: the texts first, then the images (see the module docstring).

    An example's randomness (which keywords are masked, the noise) is seeded by (seed, epoch, index), so batches do
    not depend on data-loader workers or on a resumed run.
    """

    def __init__(self, texts: list[str], n_images: int, tokenizer, template: str, placeholder_id: int, seed: int,
                 mask_share: float, noise: float, dim: int):
        self.texts, self.n_images, self.tokenizer, self.placeholder_id = texts, n_images, tokenizer, placeholder_id
        self.seed, self.mask_share, self.noise, self.dim = seed, mask_share, noise, dim
        self.image_prompt = template[:template.index(PLACEHOLDER) + 1]
        self.image_tokens = tokenizer([self.image_prompt])[0]

    def __len__(self) -> int:
        return len(self.texts) + self.n_images

    def text_prompt_tokens(self, text: str, prompt: str) -> torch.Tensor:
        """Token ids of a masked prompt; if truncation cut its slots off, the text with its first keyword masked."""
        tokens = self.tokenizer([prompt])[0]
        if not (tokens == self.placeholder_id).any():
            tokens = self.tokenizer([mask_first_keyword(text)])[0]
        if not (tokens == self.placeholder_id).any():
            tokens = self.tokenizer([f"{PLACEHOLDER} {text}"])[0]
        return tokens

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, epoch = item
        rng = example_rng(self.seed, epoch, index)
        noise = torch.zeros(self.dim)
        if index < len(self.texts):
            text = self.texts[index]
            tokens = self.text_prompt_tokens(text, mask_keywords(text, rng, self.mask_share))
            if self.noise > 0:
                g = torch.Generator().manual_seed(rng.randrange(2**62))
                noise = torch.randn(self.dim, generator=g) * (self.noise * rng.random() / math.sqrt(self.dim))
        else:
            tokens = self.image_tokens
        return {"tokens": tokens, "source": torch.tensor(index), "noise": noise}


def collate(examples: list[dict]) -> dict:
    return {k: torch.stack([e[k] for e in examples]) for k in examples[0]}


class FrozenEncodersModule(StageModule):
    """A module in which only the composer learns: the encoders (and an adapted checkpoint's image adapters) stay
    frozen, and in eval mode whatever mode the loop asks for."""

    def __init__(self, model):
        super().__init__(model)
        model.requires_grad_(False)
        model.composer.requires_grad_(True)

    def train(self, mode: bool = True):
        super().train(mode)
        for name, part in self.model.named_children():  # frozen parts: no dropout
            if name != "composer":
                part.eval()
        return self


class PseudoTokenModule(FrozenEncodersModule):
    """Contrastive loss between prompts read with their pseudo-tokens and the sources they come from."""

    def __init__(self, model, sources: torch.Tensor, temperature: float):
        super().__init__(model)
        self.sources, self.scale = sources, 1.0 / temperature

    def forward(self, batch, gather):
        target = self.sources.to(batch["noise"].device)[batch["source"]]
        source = F.normalize(target + batch["noise"], dim=-1)
        query = self.model.prompt_encoder.encode_ids(batch["tokens"], self.model.composer.pseudo_tokens(source))
        loss = contrastive_loss(query, target, torch.tensor(self.scale), gather, symmetric=False)
        return loss, {"cosine": (query * target).sum(-1).mean().detach()}


class ZeroShotTask:
    """What the loop needs: examples, the module, and a held-out check that uses no triplets."""

    name = "zeroshot"

    def __init__(self, model, texts: list[str], text_sources: torch.Tensor, image_sources: torch.Tensor,
                 check_texts: list[str], seed: int, mask_share: float, noise: float, temperature: float,
                 check_images: int = 0):
        composer, encoder = model.composer, model.prompt_encoder
        self.model = model
        self.dataset = ZeroShotExamples(texts, len(image_sources), model.tokenizer, composer.template,
                                        encoder.placeholder_id, seed, mask_share, noise, model.embed_dim)
        self.collate = collate
        self.sources = torch.cat([text_sources, image_sources]).float()
        self.temperature, self.check_texts, self.seed, self.mask_share = temperature, check_texts, seed, mask_share
        self.check_images = min(check_images, len(image_sources))

    def build_module(self, model):
        return PseudoTokenModule(model, self.sources, self.temperature)

    @torch.no_grad()
    def evaluate(self, model):
        """R@1 (percent) of the check material against itself: a masked check text, read with its pseudo-token,
        must find its own text among the check texts, and "a photo of *" with an image's pseudo-token its own
        image among the check images (the first training images). The masking is fixed, so epochs compare;
        ``score`` is the mean of the two. Needs no triplets."""
        was_training = model.training
        model.eval()
        out, scores = {}, []
        if self.check_texts:
            texts = self.check_texts
            targets = torch.cat([model.encode_tokens(model.tokenize(texts[i:i + 512]).to(model.device))
                                 for i in range(0, len(texts), 512)])
            tokens = torch.stack([self.dataset.text_prompt_tokens(t, mask_keywords(
                t, example_rng(self.seed, -1, i), self.mask_share)) for i, t in enumerate(texts)])
            out.update(text_r1=self._self_recall(model, tokens, targets), check_texts=len(texts))
            scores.append(out["text_r1"])
        if self.check_images:
            targets = self.sources[len(self.sources) - self.dataset.n_images:][:self.check_images]
            tokens = self.dataset.image_tokens.expand(len(targets), -1)
            out.update(image_r1=self._self_recall(model, tokens, targets.to(model.device)),
                       check_images=len(targets))
            scores.append(out["image_r1"])
        model.train(was_training)
        return {"score": sum(scores) / len(scores), **out} if scores else None

    @staticmethod
    def _self_recall(model, tokens: torch.Tensor, targets: torch.Tensor) -> float:
        hits = 0
        for start in range(0, len(targets), 512):
            rows = slice(start, start + 512)
            query = model.prompt_encoder.encode_ids(tokens[rows].to(model.device),
                                                    model.composer.pseudo_tokens(targets[rows]))
            best = (query @ targets.T).argmax(dim=1).cpu()
            hits += int((best == torch.arange(start, start + len(query))).sum())
        return 100.0 * hits / len(targets)

    def checkpoint_files(self):
        return {}


@torch.no_grad()
def embed_texts(model, texts: list[str], batch_size: int) -> torch.Tensor:
    """The frozen text tower's embeddings of ``texts`` (CPU), made once before training."""
    model.eval()
    out = [model.encode_tokens(model.tokenize(texts[i:i + batch_size]).to(model.device)).float().cpu()
           for i in range(0, len(texts), batch_size)]
    return torch.cat(out) if out else torch.empty(0, model.embed_dim)


def say(message: str) -> None:
    print(f"[zeroshot] {message}", file=sys.stderr, flush=True)
