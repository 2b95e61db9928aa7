"""Training examples for the three stages, as map-style datasets indexed by ``(index, epoch)``.

The epoch in the index lets an example seed its own randomness (caption augmentation), so the batch a process
builds does not depend on which data-loader worker made it, nor on whether the run was resumed.

By default an example's image is ``preprocess(image)`` (floats). The training loop switches the examples to
**uint8 pixels** (``use_uint8``): workers then send a quarter of the bytes, and the float half of the
preprocessing runs once per batch (``finish_batch``), giving bit-identical batches (``cti_ir.index.pixel_cache``). With an
``ImageCache`` the uint8 pixels are read from the memory-mapped cache instead of decoding the file at all.
"""

from __future__ import annotations

import random
from typing import Callable, Sequence

import torch

from cti_ir.data import Triplet
from cti_ir.index.pixel_cache import ImageCache, PixelPipeline
from cti_ir.model.images import load_image


def example_rng(seed: int, epoch: int, index: int) -> random.Random:
    """A random generator private to one example in one epoch."""
    return random.Random(seed * 1_000_003 + epoch * 7_919 + index)


class PixelExamples:
    """What the examples of every stage share: how an image becomes its tensor (see the module docstring)."""

    pixel_fields: tuple[str, ...] = ()

    def __init__(self, preprocess: Callable):
        self.preprocess = preprocess
        self.pipeline: PixelPipeline | None = None
        self.cache: ImageCache | None = None

    def use_uint8(self, cache: ImageCache | None = None) -> bool:
        """Send uint8 pixels (from ``cache`` where it has the image); False if the preprocessing cannot be split."""
        self.pipeline = PixelPipeline.of(self.preprocess)
        self.cache = cache if self.pipeline is not None else None
        return self.pipeline is not None

    def image_paths(self) -> list[str] | None:
        """Every image file the examples read, for an image cache; None when they are not all local files."""
        return None

    def _pixels(self, image=None, path=None) -> torch.Tensor:
        if self.cache is not None and path is not None and path in self.cache:
            return self.cache.pixels(path)
        if image is None:
            image = load_image(path)
        return self.pipeline.to_uint8(image) if self.pipeline is not None else self.preprocess(image)

    def finish_batch(self, batch: dict) -> dict:
        """A collated batch with its uint8 pixel fields made the model's float input (unchanged otherwise)."""
        if self.pipeline is None:
            return batch
        return {k: (self.pipeline.finish(v) if k in self.pixel_fields and v.dtype == torch.uint8 else v)
                for k, v in batch.items()}


class ImageTextExamples(PixelExamples):
    """(image, text[, attribute-word labels]) pairs for stages 1 and 2."""

    pixel_fields = ("pixels",)

    def __init__(self, corpus, preprocess: Callable, tokenizer: Callable, labels: torch.Tensor | None = None):
        super().__init__(preprocess)
        self.corpus, self.tokenizer, self.labels = corpus, tokenizer, labels

    def __len__(self) -> int:
        return len(self.corpus)

    def image_paths(self) -> list[str] | None:
        image_ref = getattr(self.corpus, "image_ref", None)
        if image_ref is None:
            return None
        refs = [image_ref(i) for i in range(len(self.corpus))]
        return [str(r) for r in refs] if all(isinstance(r, str) or hasattr(r, "__fspath__") for r in refs) else None

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, _epoch = item
        if self.cache is not None:
            path = str(self.corpus.image_ref(index))
            if path in self.cache:
                pixels, text = self.cache.pixels(path), self.corpus.text(index)
            else:
                image, text = self.corpus[index]
                pixels = self._pixels(image)
        else:
            image, text = self.corpus[index]
            pixels = self._pixels(image)
        out = {"pixels": pixels, "tokens": self.tokenizer([text])[0]}
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


class TripletExamples(PixelExamples):
    """(reference image, modification text, target image) triplets for stage 3."""

    pixel_fields = ("reference", "target")

    def __init__(self, triplets: Sequence[Triplet], path_of: Callable[[Triplet, str], object], preprocess: Callable,
                 tokenizer: Callable, seed: int, augment: bool = True, wording=None):
        super().__init__(preprocess)
        self.triplets = [t for t in triplets if t.target is not None]
        self.path_of, self.tokenizer = path_of, tokenizer
        self.seed, self.augment = seed, augment
        # Rewrites texts in the shopper's words (training.phrasing_augment.PhrasingWording); None: the captions only.
        self.wording = wording

    def __len__(self) -> int:
        return len(self.triplets)

    def image_paths(self) -> list[str]:
        return sorted({str(self.path_of(t, i)) for t in self.triplets for i in (t.reference, t.target)})

    def text(self, index: int, epoch: int) -> str:
        variants = caption_variants(self.triplets[index].captions)
        if not self.augment and self.wording is None:
            return variants[0]
        rng = example_rng(self.seed, epoch, index)
        text = rng.choice(variants) if self.augment else variants[0]
        if self.wording is not None:  # after the variant's draw, so that without it the texts are as before
            text = self.wording.text(self.triplets[index], text, rng)
        return text

    def __getitem__(self, item: tuple[int, int]) -> dict:
        index, epoch = item
        t = self.triplets[index]
        text = self.text(index, epoch)
        out = {
            "reference": self._pixels(path=str(self.path_of(t, t.reference))),
            "target": self._pixels(path=str(self.path_of(t, t.target))),
            "tokens": self.tokenizer([text])[0],
        }
        if self.wording is not None and self.wording.pairs:  # a second wording for the consistency term
            second = self.wording.second(t, text, example_rng(self.seed + 1, epoch, index))
            out["tokens_alt"] = self.tokenizer([second])[0]
        return out


def stack_collate(items: list[dict]) -> dict:
    """Stack each field of a list of example dicts into a batch."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}
