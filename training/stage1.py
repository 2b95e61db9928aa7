"""Stage 1: an open-domain image-text space (symmetric contrastive learning on image-caption pairs).

    python -m training.stage1 --data data/open_domain --out runs/stage1

With network access this stage is usually replaced by pretrained open_clip weights (``--model ViT-B-32
--pretrained laion2b_s34b_b79k``, optionally fine-tuned here on any caption corpus); offline it trains the
small model from scratch on the generated open-domain set.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch

from cti_ir.data.image_text import open_image_text
from cti_ir.model.losses import contrastive_loss

from training.common import HelpWithDefaults, add_loop_args, add_model_args, run
from training.examples import ImageTextExamples, stack_collate
from training.image_text_eval import image_text_recall
from training.loop import StageModule


class ContrastiveModule(StageModule):
    """CLIP's loss: each image against every caption of the (global) batch, and the reverse."""

    def forward(self, batch, gather):
        img = self.model.encode_images(batch["pixels"])
        txt = self.model.encode_tokens(batch["tokens"])
        loss = contrastive_loss(img, txt, self.model.logit_scale, gather)
        return loss, {"logit_scale": self.model.logit_scale.detach()}


class ImageTextTask:
    """Contrastive training on an image-caption corpus, scored by held-out image<->text recall."""

    name = "stage1"

    def __init__(self, model, train_corpus, val_corpus=None):
        self.dataset = ImageTextExamples(train_corpus, model.preprocess, model.tokenizer)
        self.collate = stack_collate
        self.val_corpus = val_corpus

    def build_module(self, model):
        return ContrastiveModule(model)

    def evaluate(self, model):
        return image_text_recall(model, self.val_corpus) if self.val_corpus is not None else None

    def checkpoint_files(self):
        return {}

    def training_texts(self):
        """Every caption of the training corpus (the words the text tower is trained on)."""
        corpus = self.dataset.corpus
        return (corpus.text(i) for i in range(len(corpus)))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.stage1", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    g = p.add_argument_group("data")
    g.add_argument("--data", required=True,
                   help="image-caption corpus: an imagefolder with metadata.jsonl (the generator's open_domain/), "
                        "a .jsonl/.csv file with image and text columns, or a `datasets` name")
    g.add_argument("--train-split", default="train", help="split of --data to train on")
    g.add_argument("--val-split", default="validation",
                   help="held-out split for the per-epoch image<->text recall ('none' to skip)")
    g.add_argument("--image-column", default=None, help="image column name (auto-detected if omitted)")
    g.add_argument("--text-column", default=None, help="text column name (auto-detected if omitted)")
    g.add_argument("--skip-missing", action="store_true",
                   help="leave out rows whose image file is missing (counted) instead of stopping")
    add_model_args(p)
    add_loop_args(p, epochs=10, batch_size=128, lr=5e-4)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    data = {}

    def load_data():  # before the model: a wrong --data is reported at once
        kw = dict(image_column=args.image_column, text_column=args.text_column, skip_missing=args.skip_missing)
        data["train"] = open_image_text(args.data, args.train_split, **kw)
        data["val"] = open_image_text(args.data, args.val_split, **kw) if args.val_split != "none" else None

    def build_task(model, info):
        return ImageTextTask(model, data["train"], data["val"])

    return run(args, build_task, load_data=load_data)


if __name__ == "__main__":
    sys.exit(main())
