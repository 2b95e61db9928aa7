"""Training examples for the three stages, as map-style datasets indexed by ``(index, epoch)``.

The epoch in the index lets an example seed its own randomness (caption augmentation), so the batch a process
builds does not depend on which data-loader worker made it, nor on whether the run was resumed.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

import torch

from cti_ir.data import Triplet
from cti_ir.images import load_image


def example_rng(seed: int, epoch: int, index: int) -> random.Random:
    """A random generator private to one example in one epoch."""
    return random.Random(seed * 1_000_003 + epoch * 7_919 + index)


class ImageTextExamples:
    """(image, text[, attribute-word labels]) pairs for stages 1 and 2."""

    def __init__(self, corpus, preprocess: Callable, tokenizer: Callable, labels: torch.Tensor | None = None):
        self.corpus, self.preprocess, self.tokenizer, self.labels = corpus, preprocess, tokenizer, labels

    def __len__(self) -> int:
        return len(self.corpus)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, _epoch = item
        image, text = self.corpus[index]
        out = {"pixels": self.preprocess(image), "tokens": self.tokenizer([text])[0]}
        if self.labels is not None:
            out["labels"] = self.labels[index]
        return out


def caption_variants(captions: Sequence[str]) -> list[str]:
    """The texts one Fashion-IQ-style triplet can be trained with: "c1 and c2", "c2 and c1", c1, c2.

    This is the augmentation of the published CIR code (CLIP4Cir): either order of the two annotators'
    captions joined, or one alone. Empty captions (the real files have 15) are left out.
    """
    caps = [c.strip(" .?,") for c in captions if c and c.strip(" .?,")]
    if not caps:
        return [""]
    if len(caps) == 1:
        return caps
    c1, c2 = caps[0], caps[1]
    return [f"{c1} and {c2}", f"{c2} and {c1}", c1, c2]


class TripletExamples:
    """(reference image, modification text, target image) triplets for stage 3."""

    def __init__(self, triplets: Sequence[Triplet], path_of: Callable[[Triplet, str], object], preprocess: Callable,
                 tokenizer: Callable, seed: int, augment: bool = True):
        self.triplets = [t for t in triplets if t.target is not None]
        self.path_of, self.preprocess, self.tokenizer = path_of, preprocess, tokenizer
        self.seed, self.augment = seed, augment

    def __len__(self) -> int:
        return len(self.triplets)

    def text(self, index: int, epoch: int) -> str:
        variants = caption_variants(self.triplets[index].captions)
        if not self.augment:
            return variants[0]
        return example_rng(self.seed, epoch, index).choice(variants)

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, epoch = item
        t = self.triplets[index]
        return {
            "reference": self.preprocess(load_image(self.path_of(t, t.reference))),
            "target": self.preprocess(load_image(self.path_of(t, t.target))),
            "tokens": self.tokenizer([self.text(index, epoch)])[0],
        }


def stack_collate(items: list[dict]) -> dict:
    """Stack each field of a list of example dicts into a batch."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
