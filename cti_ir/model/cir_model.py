"""``CIRModel``: the dual encoder plus a query composer, the unit that is trained, saved, evaluated and served."""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cti_ir.model.backbone import Backbone, create_backbone
from cti_ir.model.composers import ComposeOutput, build_composer
from cti_ir.model.zeroshot import PromptEncoder, TextMemo


class CIRModel(nn.Module):
    """Composed image retrieval model.

    The image tower (gallery side) and the text tower + composer (query side) are reached through separate methods
    so that a gallery can be embedded by another image encoder later (asymmetric retrieval) and adapters can wrap
    ``encode_images`` without touching the query path.
    """

    def __init__(self, backbone: Backbone, composer_name: str = "adaptive", composer_kwargs: dict | None = None):
        super().__init__()
        self.backbone = backbone.model
        self.preprocess = backbone.preprocess
        self.tokenizer = backbone.tokenizer
        self.model_cfg = backbone.model_cfg
        self.preprocess_cfg = backbone.preprocess_cfg
        self.composer_name = composer_name
        self.composer_kwargs = dict(composer_kwargs or {})
        self.composer = build_composer(composer_name, backbone.embed_dim, **self.composer_kwargs)
        self.fingerprint: str | None = None  # set when saved or loaded; indexes record it
        # The words its training texts held ({word: count}, cti_ir.model.text_vocabulary); None: not recorded (a
        # model from pretrained weights), and then every word counts as learned.
        self.text_vocabulary: dict[str, int] | None = None
        # Image-tower adapters (cti_ir.model.adapters.ImageAdapters), attached by label-free adaptation or by loading an
        # adapted checkpoint; they hook into the tower, so encode_images needs no change.
        self.adapters: nn.Module | None = None
        # Only for composers that read the raw modification texts (cti_ir.model.zeroshot): where compose finds the
        # texts, and the text tower with a pseudo-token slot.
        self.text_memo: TextMemo | None = None
        self.prompt_encoder: PromptEncoder | None = None
        if getattr(self.composer, "reads_text", False):
            self.text_memo = TextMemo()
            self.prompt_encoder = PromptEncoder(self.backbone, self.tokenizer, self.encode_tokens)

    @classmethod
    def create(cls, model_name: str, pretrained: str | None = None, composer: str = "adaptive", **composer_kwargs):
        """A new model from an open_clip name (see ``cti_ir.model.backbone.create_backbone``)."""
        model = cls(create_backbone(model_name, pretrained), composer, composer_kwargs)
        if pretrained is None:  # random weights: it has learned no word yet, and training records each it sees
            model.text_vocabulary = {}
        return model

    @property
    def embed_dim(self) -> int:
        return int(self.model_cfg["embed_dim"])

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def logit_scale(self) -> torch.Tensor:
        """Learned inverse temperature of every contrastive loss, capped at 100 as in CLIP."""
        return self.backbone.logit_scale.exp().clamp(max=100.0)

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids for a batch of strings (longer texts are truncated to the context length)."""
        return self.tokenizer(list(texts))

    def fits_context(self, text: str) -> bool:
        """Whether the text tower reads the whole of ``text``: its tokens leave the last place of the context to
        padding (a text cut off, or one that fills the context exactly, does not)."""
        padding = getattr(self, "_padding_token", None)
        if padding is None:  # once: what the tokenizer puts in the last place of a short text
            padding = self._padding_token = int(self.tokenize([""])[0, -1])
        return int(self.tokenize([text])[0, -1]) == padding

    def learned_word(self, word: str) -> bool:
        """Whether the text tower was trained on texts holding ``word`` (a lower-case word as the request reader
        splits them); True for every word when the training texts were not recorded."""
        return self.text_vocabulary is None or word in self.text_vocabulary

    def encode_images(self, pixels: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings of preprocessed pixels ``(N, 3, H, W)``."""
        return F.normalize(self.backbone.encode_image(pixels), dim=-1)

    def encode_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings of token ids."""
        return F.normalize(self.backbone.encode_text(tokens), dim=-1)

    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings of raw strings."""
        features = self.encode_tokens(self.tokenize(texts).to(self.device))
        if self.text_memo is not None:  # a composer that reads the raw texts finds them again in compose
            self.text_memo.remember(features, texts)
        return features

    def compose(
        self,
        image_features: torch.Tensor,
        text_features: torch.Tensor,
        weights: tuple[torch.Tensor, torch.Tensor] | None = None,
        texts: Sequence[str] | None = None,
    ) -> ComposeOutput:
        """Compose reference-image and text embeddings into a query; ``weights`` overrides (w_img, w_txt).

        A composer that reads the modification texts (``reads_text``, the pseudo-token composer) gets ``texts``,
        by default those this model's ``encode_texts`` turned into ``text_features``, and the text tower.
        """
        if self.text_memo is None:
            return self.composer(image_features, text_features, weights)
        if texts is None:
            texts = self.text_memo.recall(text_features)
        return self.composer(image_features, text_features, weights, texts=list(texts), encoder=self.prompt_encoder)

    def describe(self) -> dict[str, Any]:
        """What the checkpoint records about this model besides its weights."""
        return {"composer": {"name": self.composer_name, "kwargs": self.composer_kwargs}}
