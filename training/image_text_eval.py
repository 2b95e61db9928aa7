"""Held-out image<->text retrieval, the model-selection score of stages 1 and 2."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from cti_ir.evaluate.ranks import recall_at_k, target_ranks

from training.examples import ImageTextExamples, stack_collate


@torch.no_grad()
def image_text_recall(model, corpus, batch_size: int = 256, ks=(1, 5, 10)) -> dict:
    """Recall@K of text->image and image->text retrieval over a held-out corpus; ``score`` is their mean.

    Duplicate captions (common in product descriptions) make several images correct; only the paired one is
    counted, which understates recall equally for every model compared.
    """
    was_training = model.training
    model.eval()
    examples = ImageTextExamples(corpus, model.preprocess, model.tokenizer)
    loader = DataLoader([(i, 0) for i in range(len(examples))], batch_size=batch_size,
                        collate_fn=lambda items: stack_collate([examples[it] for it in items]),
                        generator=torch.Generator().manual_seed(0))
    images, texts = [], []
    for batch in loader:
        images.append(model.encode_images(batch["pixels"].to(model.device)).float().cpu())
        texts.append(model.encode_tokens(batch["tokens"].to(model.device)).float().cpu())
    images, texts = torch.cat(images), torch.cat(texts)
    own = torch.arange(len(images))
    t2i = recall_at_k(target_ranks(texts, images, own), ks)
    i2t = recall_at_k(target_ranks(images, texts, own), ks)
    model.train(was_training)
    result = {f"text_to_image_{k}": v for k, v in t2i.items()} | {f"image_to_text_{k}": v for k, v in i2t.items()}
    result["score"] = (sum(t2i.values()) + sum(i2t.values())) / (2 * len(ks))
    return result
