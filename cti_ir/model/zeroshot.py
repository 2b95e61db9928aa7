"""Pseudo-token composition: composed search trained without triplets.

The reference image's embedding is projected to one pseudo-word token, which the text encoder reads in place of a
placeholder word in a prompt such as ``"a photo of * that {modification}"``; the prompt's text embedding is the
query. The encoders stay frozen; only the projection learns (``python -m training.zeroshot``), from texts alone
(LinCIR's self-masking idea: a caption's keywords are replaced by the projection of the caption's own embedding, and
the text encoder must give back that embedding) and/or from unlabeled images (Pic2Word's idea: ``"a photo of *"``
with the image's projection must give back the image's embedding).

Unlike the other composers this one needs the text tower and the raw modification text at compose time. It says
so with ``reads_text = True``; ``CIRModel.compose`` then hands it the texts and a :class:`PromptEncoder`, which
puts pseudo-tokens into the token-embedding layer through a forward hook (per thread, so concurrent searches do
not see each other's tokens) without changing open_clip's code.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cti_ir.model.compose_output import ComposeOutput

#: The word of a prompt whose token embedding the pseudo-token replaces.
PLACEHOLDER = "*"
#: Pic2Word's and LinCIR's query prompt; ``{}`` is the modification text.
DEFAULT_TEMPLATE = "a photo of * that {}"
#: The trainer's default query prompts: a query is the mean of its prompts' embeddings (CLIP's prompt ensembling).
#: Generic phrasings of "this image, then the modification" (Pic2Word's and LinCIR's among them), all kept rather
#: than the best one picked, so that no prompt is tuned to a benchmark; the first is the one images train on (its
#: part up to ``*``).
DEFAULT_TEMPLATES = (DEFAULT_TEMPLATE, "* that {}", "a photo of * {}", "* {}", "a photo of * , {}",
                     "a picture of * that {}")


class PseudoTokenComposer(nn.Module):
    """Image embedding -> pseudo-token in ``template`` -> text encoder -> query.

    The projection is an MLP from the embedding (``dim``) to the text tower's token width (``token_dim``).
    ``templates`` (several query prompts; ``template`` is the one-prompt form) are read with the same pseudo-token
    and their normalised embeddings averaged (prompt ensembling), which smooths out one phrasing's quirks.
    ``sum_weight`` > 0 adds the plain image + text sum to the prompt's embedding,
    ``normalize(prompt + sum_weight * normalize(w_img * image + w_txt * text))``; the weights ``(w_img, w_txt)``
    are 0.5 each unless given (the app's manual weights), and they are what the composer reports. With
    ``sum_weight`` 0 the query is the prompt's embedding alone and manual weights have no effect.
    """

    reads_text = True

    def __init__(self, dim: int, token_dim: int, hidden_dim: int | None = None, dropout: float = 0.1,
                 template: str = DEFAULT_TEMPLATE, sum_weight: float = 0.0, templates: Sequence[str] | None = None):
        super().__init__()
        self.templates = list(templates) if templates else [template]
        for t in self.templates:
            check_template(t)
        if sum_weight < 0:
            raise ValueError(f"sum_weight must be 0 or more, got {sum_weight}")
        hidden_dim = hidden_dim or 4 * dim
        self.sum_weight = float(sum_weight)
        self.projection = nn.Sequential(
            nn.Linear(dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, token_dim),
        )

    def pseudo_tokens(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``(N, dim)`` L2-normalised embeddings -> ``(N, token_dim)`` pseudo-token embeddings."""
        return self.projection(embeddings)

    @property
    def template(self) -> str:
        """The first query prompt: the one images train on."""
        return self.templates[0]

    def prompts(self, texts: Sequence[str], template: str | None = None) -> list[str]:
        """The query prompts of modification texts in ``template`` (default: the first); a placeholder word in a
        text is blanked: one slot per prompt."""
        template = template or self.template
        return [template.replace("{}", clean_text(t)) for t in texts]

    def encode_query(self, texts: Sequence[str], tokens: torch.Tensor, encoder: PromptEncoder) -> torch.Tensor:
        """The normalised mean of the embeddings of every template's prompts, read with ``tokens``."""
        if len(self.templates) == 1:
            return encoder.encode(self.prompts(texts), tokens)
        total = sum(encoder.encode(self.prompts(texts, t), tokens) for t in self.templates)
        return F.normalize(total, dim=-1)

    def forward(self, image_features, text_features, weights=None, *, texts: Sequence[str] | None = None,
                encoder: PromptEncoder | None = None) -> ComposeOutput:
        if texts is None or encoder is None:
            raise ValueError("the pseudo-token composer needs the modification texts and the model's text tower; "
                             "compose through CIRModel.compose")
        if len(texts) != image_features.shape[0]:
            raise ValueError(f"{len(texts)} texts for {image_features.shape[0]} reference images")
        tokens = self.pseudo_tokens(image_features)
        query = self.encode_query(texts, tokens, encoder)
        if weights is None:
            n = image_features.shape[0]
            wi = torch.full((n,), 0.5, dtype=image_features.dtype, device=image_features.device)
            wt = 1.0 - wi
        else:
            wi, wt = weights
        if self.sum_weight > 0:
            plain = F.normalize(wi.unsqueeze(-1) * image_features + wt.unsqueeze(-1) * text_features, dim=-1)
            query = F.normalize(query + self.sum_weight * plain, dim=-1)
        return ComposeOutput(query, wi, wt)


def check_template(template: str) -> None:
    """A query template holds the placeholder word once, then ``{}`` (where the modification text goes)."""
    if template.count(PLACEHOLDER) != 1 or template.count("{}") != 1:
        raise ValueError(f"the prompt template must hold {PLACEHOLDER!r} once and '{{}}' once, got {template!r}")


def clean_text(text: str) -> str:
    """``text`` with the placeholder word blanked, so that a prompt's only slot is the one put there on purpose."""
    return " ".join(text.replace(PLACEHOLDER, " ").split())


def token_embedding_module(backbone: nn.Module) -> nn.Embedding | None:
    """The text tower's token-embedding layer of an open_clip model, or None when it has no text tower.

    ``CLIP`` keeps it at the top level, ``CustomTextCLIP`` in its ``text`` tower (open_clip's own transformer, or a
    Hugging Face model's input embeddings).
    """
    layer = getattr(backbone, "token_embedding", None)
    text = getattr(backbone, "text", None)
    if layer is None and text is not None:
        layer = getattr(text, "token_embedding", None)
        hf_model = getattr(text, "transformer", None)
        if layer is None and hasattr(hf_model, "get_input_embeddings"):
            layer = hf_model.get_input_embeddings()
    return layer if isinstance(layer, nn.Embedding) else None


class PromptEncoder:
    """Encodes prompts whose placeholder words are replaced by given pseudo-token embeddings.

    A forward hook on the token-embedding layer swaps the placeholder rows for the pseudo-tokens; what to swap is
    kept per thread and only while :meth:`encode` runs, so any other use of the text tower is untouched.
    Gradients flow back to the pseudo-tokens (training) through the frozen tower.
    """

    def __init__(self, backbone: nn.Module, tokenizer: Callable, encode_tokens: Callable[[torch.Tensor], torch.Tensor]):
        layer = token_embedding_module(backbone)
        if layer is None:
            raise ValueError("this model has no text tower with a token-embedding layer, which a pseudo-token "
                             "composer needs")
        self.tokenizer, self.encode_tokens = tokenizer, encode_tokens
        self.token_dim = layer.embedding_dim
        self.placeholder_id = placeholder_token_id(tokenizer)
        self._pending = threading.local()
        layer.register_forward_hook(self._swap)

    def _swap(self, module, inputs, output):
        pending = getattr(self._pending, "value", None)
        if pending is None:
            return output
        slots, tokens = pending
        return torch.where(slots.unsqueeze(-1), tokens.to(output.dtype).unsqueeze(1), output)

    def slots(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Where the placeholder sits in each row of token ids; a row without one is an error."""
        slots = token_ids == self.placeholder_id
        empty = (~slots.any(dim=1)).nonzero().flatten()
        if len(empty):
            raise ValueError(f"prompt {int(empty[0])} has no {PLACEHOLDER!r} slot left after tokenizing (cut off by "
                             f"the context length?)")
        return slots

    def encode(self, prompts: Sequence[str], pseudo_tokens: torch.Tensor) -> torch.Tensor:
        """L2-normalised embeddings ``(N, D)`` of ``prompts`` with every placeholder replaced by its row's token."""
        token_ids = self.tokenizer(list(prompts)).to(pseudo_tokens.device)
        return self.encode_ids(token_ids, pseudo_tokens)

    def encode_ids(self, token_ids: torch.Tensor, pseudo_tokens: torch.Tensor) -> torch.Tensor:
        """As :meth:`encode`, from token ids (training tokenizes once, in its data loader)."""
        self._pending.value = (self.slots(token_ids), pseudo_tokens)
        try:
            return self.encode_tokens(token_ids)
        finally:
            self._pending.value = None


def placeholder_token_id(tokenizer: Callable) -> int:
    """The token id of the placeholder word (the one token that tokenizing it adds to an empty text)."""
    empty, word = tokenizer([""])[0].tolist(), tokenizer([PLACEHOLDER])[0].tolist()
    diff = next((i for i, (a, b) in enumerate(zip(empty, word)) if a != b), None)
    if diff is None or word[diff + 1:diff + 1 + 3] != empty[diff:diff + 3]:
        raise ValueError(f"the tokenizer does not make the placeholder {PLACEHOLDER!r} a single token")
    return word[diff]


class TextMemo:
    """Remembers which text each text-embedding row came from, so ``compose`` can recover the raw texts.

    Callers written for the feature-only composers (evaluation, the index, the search engine) encode texts with
    ``model.encode_texts`` and then pass the embeddings to ``model.compose``; a pseudo-token composer needs the
    texts themselves. The model remembers them, keyed by the exact bytes of each embedding row, for the most
    recent ``capacity`` texts. Callers that have the texts can pass them to ``compose`` instead.
    """

    def __init__(self, capacity: int = 1 << 16):
        self.capacity = capacity
        self._texts: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(features: torch.Tensor) -> list[bytes]:
        rows = features.detach().float().cpu().contiguous().numpy()
        return [row.tobytes() for row in rows]

    def remember(self, features: torch.Tensor, texts: Sequence[str]) -> None:
        """Record the text of each row of ``features``."""
        keys = self._keys(features)
        with self._lock:
            for key, text in zip(keys, texts):
                self._texts[key] = text
                self._texts.move_to_end(key)
            while len(self._texts) > self.capacity:
                self._texts.popitem(last=False)

    def recall(self, features: torch.Tensor) -> list[str]:
        """The texts of the rows of ``features``; an error when one was not encoded by this model recently."""
        keys = self._keys(features)
        with self._lock:
            texts = [self._texts.get(k) for k in keys]
        missing = [i for i, t in enumerate(texts) if t is None]
        if missing:
            raise ValueError(
                f"the pseudo-token composer needs the modification text of each query, and {len(missing)} of "
                f"{len(texts)} text embeddings were not made by this model's encode_texts (or too long ago): pass "
                f"texts= to compose")
        return texts  # type: ignore[return-value]
