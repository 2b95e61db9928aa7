"""What every composer returns: the composed query and the image/text weights behind it.

Its own module so that every composer, the parameter-free ones in ``composers`` and the pseudo-token one in
``zeroshot`` (which ``composers`` registers), can build on it without importing each other.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class ComposeOutput(NamedTuple):
    """A composed query and the weights behind it."""

    query: torch.Tensor          # (N, D), L2-normalised
    image_weight: torch.Tensor   # (N,), how much the reference image counted
    text_weight: torch.Tensor    # (N,), how much the text counted
    weight_logits: torch.Tensor | None = None  # (N, 2) pre-softmax weights, for the self-supervised loss
    residual: torch.Tensor | None = None       # (N, D) the adaptive composer's residual, for the oracle target
