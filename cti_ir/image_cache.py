"""Decoded pixels: a model's preprocessing split into a per-image uint8 stage and a per-batch float stage, and a
memory-mapped cache of the uint8 stage.

open_clip's inference transform is ``Resize -> CenterCrop -> convert("RGB") -> ToTensor -> Normalize``. Everything
up to the crop works on a PIL image; ``ToTensor`` only turns its bytes into floats divided by 255 and ``Normalize``
subtracts a mean and divides by a standard deviation. ``PixelPipeline`` keeps the two halves apart:

- ``to_uint8(image)``: the PIL half, returning the cropped image as a ``(3, H, W)`` uint8 tensor (a quarter of the
  bytes of the float tensor; what a data-loader worker sends, and what the cache stores);
- ``finish(batch)``: the float half, applied once to a whole ``(B, 3, H, W)`` uint8 batch with the very same
  operations (``float() / 255`` then ``torchvision``'s ``normalize``), so the result is bit-identical to
  ``torch.stack([preprocess(img) for img in images])`` while costing one vectorised step per batch instead of a
  dozen small tensor operations per image.

``ImageCache`` stores the uint8 stage of a list of image files once (per dataset and input size) in a
memory-mapped ``.npy``; see its docstring.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

CACHE_FORMAT_VERSION = 1
PIXELS_FILE = "pixels.npy"
INDEX_FILE = "cache_info.json"

_TO_TENSOR = ("ToTensor", "MaybeToTensor")


class PixelPipeline:
    """A preprocessing transform split at ``ToTensor`` (see the module docstring)."""

    def __init__(self, pil_stage: Sequence[Callable], mean: Sequence[float] | None, std: Sequence[float] | None):
        self.pil_stage = list(pil_stage)
        self.mean = None if mean is None else [float(v) for v in mean]
        self.std = None if std is None else [float(v) for v in std]

    @classmethod
    def of(cls, preprocess) -> "PixelPipeline | None":
        """The split of a torchvision ``Compose`` ending in ``ToTensor`` [+ ``Normalize``]; None for anything else
        (the caller then keeps calling ``preprocess`` per image)."""
        transforms = list(getattr(preprocess, "transforms", None) or [])
        names = [type(t).__name__ for t in transforms]
        cut = next((i for i, name in enumerate(names) if name in _TO_TENSOR), None)
        if cut is None:
            return None
        rest = transforms[cut + 1:]
        if len(rest) > 1 or (rest and type(rest[0]).__name__ != "Normalize"):
            return None
        mean, std = (rest[0].mean, rest[0].std) if rest else (None, None)
        return cls(transforms[:cut], mean, std)

    def to_uint8(self, image) -> torch.Tensor:
        """The PIL half: a ``(3, H, W)`` uint8 tensor of the resized, cropped RGB image."""
        for t in self.pil_stage:
            image = t(image)
        array = np.array(image, dtype=np.uint8, copy=True)
        if array.ndim == 2:  # a transform left a single-channel image: ToTensor would give 1 channel too
            array = array[:, :, None]
        return torch.from_numpy(array).permute(2, 0, 1).contiguous()

    def finish(self, pixels: torch.Tensor) -> torch.Tensor:
        """The float half on a uint8 batch ``(..., 3, H, W)``: exactly what ToTensor + Normalize give per image."""
        from torchvision.transforms import functional as F

        out = pixels.to(dtype=torch.get_default_dtype()).div(255)
        if self.mean is not None:
            out = F.normalize(out, self.mean, self.std, inplace=True)
        return out

    def describe(self) -> dict:
        """What decides the pixels, for a cache's fingerprint (the transforms' reprs carry their sizes)."""
        return {"pil_stage": [repr(t) for t in self.pil_stage], "mean": self.mean, "std": self.std}

    def output_shape(self) -> tuple[int, int, int]:
        """(3, H, W) of ``to_uint8``'s result, found by running the stage on a blank image."""
        from PIL import Image

        return tuple(self.to_uint8(Image.new("RGB", (97, 131))).shape)


def input_side(preprocess) -> int | None:
    """The smallest side the model looks at (its crop size), for decoding JPEGs at reduced scale; None if unknown."""
    for t in getattr(preprocess, "transforms", None) or []:
        if type(t).__name__ in ("CenterCrop", "Resize"):
            size = getattr(t, "size", None)
            if isinstance(size, int):
                return size
            if isinstance(size, (list, tuple)) and size:
                return int(max(size))
    return None
