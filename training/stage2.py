"""Stage 2: fashion-domain pre-training on product images and their descriptions.

    python -m training.stage2 --corpus data/fashioniq/product_descriptions.jsonl \\
        --corpus data/shoes/product_descriptions.jsonl --init runs/stage1/best --out runs/stage2

Two tasks, summed (the paper names "fashion-related pre-training tasks", at least one being fashion image
retrieval; which tasks exactly is our reconstruction):

1. **Fashion text->image retrieval**: symmetric contrastive loss between product images and their descriptions,
   moving the open-domain space towards the fine-grained vocabulary of fashion (sleeves, necklines, heels).
2. **Attribute-word prediction** (our design): a linear head on the image embedding predicts which attribute
   words and bigrams of the corpus ("red", "stripes", "long sleeves", "high heel") occur in the product's
   description (multi-label BCE). Contrastive learning only needs an image to be closer to its own description
   than to the batch's others, so it can get by on the most salient attribute (often colour); the multi-label
   task asks for every attribute at once, which is what relative captions later talk about. Labels are mined
   from the descriptions, so the task needs no annotation beyond product text.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from torch import nn

from cti_ir.data.image_text import open_image_text
from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE
from cti_ir.model.losses import contrastive_loss, multilabel_loss

from training.attribute_words import build_vocabulary, label_matrix
from training.common import HelpWithDefaults, add_loop_args, add_model_args, run
from training.examples import ImageTextExamples, stack_collate
from training.image_text_eval import image_text_recall
from training.loop import StageModule


class FashionPretrainModule(StageModule):
    """Text->image contrastive loss plus ``attribute_weight`` x attribute-word BCE."""

    def __init__(self, model, vocabulary_size: int, attribute_weight: float):
        heads = {"attributes": nn.Linear(model.embed_dim, vocabulary_size)} if attribute_weight > 0 else {}
        super().__init__(model, heads)
        self.attribute_weight = attribute_weight

    def forward(self, batch, gather):
        img = self.model.encode_images(batch["pixels"])
        txt = self.model.encode_tokens(batch["tokens"])
        retrieval = contrastive_loss(img, txt, self.model.logit_scale, gather)
        logs = {"retrieval_loss": retrieval.detach()}
        loss = retrieval
        if self.attribute_weight > 0:
            # The embedding is L2-normalised, so its logits need a scale the head can learn quickly.
            attr = multilabel_loss(self.heads["attributes"](img * 10.0), batch["labels"])
            loss = loss + self.attribute_weight * attr
            logs["attribute_loss"] = attr.detach()
        return loss, logs


class FashionPretrainTask:
    name = "stage2"

    def __init__(self, model, train_corpus, val_corpus, vocabulary: list[str], attribute_weight: float):
        texts = [train_corpus.text(i) for i in range(len(train_corpus))]
        self.vocabulary = vocabulary
        self.attribute_weight = attribute_weight
        self.dataset = ImageTextExamples(train_corpus, model.preprocess, model.tokenizer,
                                         labels=label_matrix(texts, vocabulary))
        self.collate = stack_collate
        self.val_corpus = val_corpus

    def build_module(self, model):
        return FashionPretrainModule(model, len(self.vocabulary), self.attribute_weight)

    def evaluate(self, model):
        return image_text_recall(model, self.val_corpus) if self.val_corpus is not None else None

    def checkpoint_files(self):
        return {"attribute_vocabulary.json": self.vocabulary}

    def training_texts(self):
        """Every caption of the training corpus (the words the text tower is trained on)."""
        corpus = self.dataset.corpus
        return (corpus.text(i) for i in range(len(corpus)))


class ConcatCorpus:
    """Several image-text corpora as one (text(i) and [i] like each part)."""

    def __init__(self, parts):
        self.parts = [p for p in parts if len(p)]
        self.offsets = []
        total = 0
        for p in self.parts:
            self.offsets.append(total)
            total += len(p)
        self.total = total

    def __len__(self):
        return self.total

    def _locate(self, i):
        for part, off in zip(reversed(self.parts), reversed(self.offsets)):
            if i >= off:
                return part, i - off
        raise IndexError(i)

    def __getitem__(self, i):
        part, j = self._locate(i)
        return part[j]

    def text(self, i):
        part, j = self._locate(i)
        return part.text(j)

    def image_ref(self, i):
        """What identifies item ``i``'s image (a file path for local corpora), for the image cache."""
        part, j = self._locate(i)
        return part.image_ref(j)


#: The allowed values of stage 2's own numeric flags (the loop's are in training.common.LOOP_BOUNDS).
STAGE2_BOUNDS = {"attribute_weight": NON_NEGATIVE, "attribute_vocab_size": AT_LEAST_ONE,
                 "attribute_min_count": AT_LEAST_ONE}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.stage2", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    g = p.add_argument_group("data")
    g.add_argument("--corpus", action="append", required=True,
                   help="product image-description corpus (repeatable): a .jsonl/.csv with image and text columns "
                        "(the generator's product_descriptions.jsonl), an imagefolder, or a `datasets` name")
    g.add_argument("--split-column", default="split",
                   help="column naming each row's split; rows of other splits are not trained on (corpora "
                        "without it are used whole for training)")
    g.add_argument("--train-split", default="train", help="value of --split-column to train on")
    g.add_argument("--val-split", default="val",
                   help="value of --split-column held out for the per-epoch text<->image recall")
    g.add_argument("--skip-missing", action="store_true",
                   help="leave out rows whose image file is missing (counted) instead of stopping")
    t = p.add_argument_group("tasks")
    t.add_argument("--attribute-weight", type=float, default=1.0,
                   help="weight of the attribute-word task (0 trains text->image retrieval alone: the ablation)")
    t.add_argument("--attribute-vocab-size", type=int, default=256,
                   help="attribute words and bigrams kept (most frequent in the training descriptions)")
    t.add_argument("--attribute-min-count", type=int, default=5, help="minimum descriptions a term must occur in")
    add_model_args(p)
    add_loop_args(p, epochs=10, batch_size=128, lr=3e-4)
    return p


def open_corpora(paths, split_column, split, skip_missing, keep_unsplit):
    """The rows of every corpus whose ``split_column`` equals ``split``; rows without the column only if
    ``keep_unsplit`` (they count as training data, never as held-out data)."""
    parts = [open_image_text(path, where={split_column: split}, keep_rows_without_column=keep_unsplit,
                             skip_missing=skip_missing) for path in paths]
    return ConcatCorpus(parts)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    data = {}

    def load_data():  # before the model: a wrong --corpus is reported at once
        train = open_corpora(args.corpus, args.split_column, args.train_split, args.skip_missing, True)
        val = open_corpora(args.corpus, args.split_column, args.val_split, args.skip_missing, False)
        if len(train) == 0:
            raise ValueError(f"no training rows in {args.corpus} (split column {args.split_column!r} = "
                             f"{args.train_split!r})")
        data.update(train=train, val=val)

    def build_task(model, info):
        train, val = data["train"], data["val"]
        vocabulary = build_vocabulary((train.text(i) for i in range(len(train))), args.attribute_vocab_size,
                                      args.attribute_min_count)
        return FashionPretrainTask(model, train, val if len(val) else None, vocabulary, args.attribute_weight)

    return run(args, build_task, load_data=load_data, bounds=STAGE2_BOUNDS)


if __name__ == "__main__":
    sys.exit(main())
