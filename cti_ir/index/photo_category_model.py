"""Which catalogue category a shopper's own photo shows: a small network fit on the catalogue's own photos.

The index's linear category model (``cti_ir.index.category_model``) reads the stored vectors; where the image
encoder is small or was trained for composition rather than for telling categories apart, the vectors carry the
category poorly (with the demo model, generated shirts and tops are told apart about 60 % of the time, shoe types
under half). The photos carry it well: a network of four convolution blocks (16 to 64 channels, about 70,000
weights) fit on the index's own photos for a few minutes of CPU tells them apart far better
(``benchmarks/session/bench_upload_category.py``). This module fits, stores and applies that network::

    photo_category_model.json         format, version, categories, the input side, the model fingerprint, the
                                      temperature, the held-out accuracy per category, sha256 of the weights
    photo_category_model.safetensors  the network's weights

The network reads the checkpoint's own preprocessed pixels (the tensor the image tower reads), shrunk to at most
:data:`MAX_SIDE` pixels a side, so that a search needs no second decoding of the upload and the fit and the search
see the photo the same way. A fifth of each category's photos is held out of the fit (stratified, seeded) to
measure the accuracy per category and to fit a softmax temperature, so that the confidence it reports is close to
how often it is right; the network fit on the other four fifths is the one stored (no refit: the accuracy it
reports is that of the stored weights).

A network learns nothing useful from a handful of photos: the fit needs at least two categories with
:data:`MIN_PHOTOS` photos each, and leaves out categories with fewer (an upload is then guessed by the linear
model whenever the index serves a category this network does not know). Nothing in it is particular to one shop.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cti_ir.files import read_format_json, sha256_file, write_atomic, write_json_atomic
from cti_ir.index.category_model import CategoryGuess, fit_temperature, guesses_from

FORMAT = "cti-ir-photo-category-model"
FORMAT_VERSION = 1
CONFIG_FILE = "photo_category_model.json"
WEIGHTS_FILE = "photo_category_model.safetensors"
FILES = (CONFIG_FILE, WEIGHTS_FILE)
#: The network reads photos shrunk to at most this side: 64 px told generated categories apart 98 to 100 % of
#: the time at a quarter of the cost of 128 px (``bench_pixel_category``).
MAX_SIDE = 64
#: The network pools four times: a smaller input has nothing left to pool.
MIN_SIDE = 16
#: Fewest photos of a category the fit uses; categories with fewer are left out of the network.
MIN_PHOTOS = 50
#: Photos the fit reads at most (a stratified random sample beyond), held in memory as float16 thumbnails.
MAX_FIT_PHOTOS = 12_000
#: Most training steps of :data:`BATCH` photos. The default is about sixteen passes over the photos fit on: on the
#: demo catalogue (seed 0, 9,600 photos fit on, 13 categories) 1,200 steps were right on 98.3 % of held-out photos
#: (a category mean; lowest 90.2 %) against 96.2 % (lowest 87.1 %) for 600.
MAX_STEPS = 1500
_MIN_STEPS = 100
_EPOCHS = 16
BATCH = 128
_HOLD_OUT = 0.2
_LEARNING_RATE = 3e-3
logger = logging.getLogger(__name__)


class PhotoCategoryModelError(ValueError):
    """A stored photo category model that cannot be used (another format, changed weights)."""


def network(classes: int):
    """Four conv-batchnorm-ReLU-maxpool blocks (16, 32, 64, 64 channels) and a linear head on the pooled features."""
    from torch import nn

    def block(cin: int, cout: int):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))

    return nn.Sequential(block(3, 16), block(16, 32), block(32, 64), block(64, 64), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(64, classes))


def inference_network(net):
    """The same network for answering: each batch normalisation folded into its convolution and the weights in
    channels-last order, which routes the small convolutions to oneDNN's kernels. Measured on one core with 48 px
    photos: 0.39 against 1.17 ms a photo in batches of 8, 0.88 against 1.43 ms alone; outputs equal to 2e-7."""
    import copy

    import torch
    from torch import nn
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    layers = []
    for layer in net:
        if isinstance(layer, nn.Sequential) and len(layer) == 4 and isinstance(layer[1], nn.BatchNorm2d):
            layers.append(nn.Sequential(fuse_conv_bn_eval(layer[0], layer[1]), layer[2], layer[3]))
        else:
            layers.append(copy.deepcopy(layer))
    return nn.Sequential(*layers).eval().to(memory_format=torch.channels_last)


def input_side(pixel_side: int) -> int:
    """The side the network reads for a checkpoint whose image tower reads ``pixel_side`` pixels."""
    return min(MAX_SIDE, int(pixel_side))


def thumbnails(pixels, side: int):
    """``(B, 3, side, side)`` float32 from the image tower's ``(B, 3, H, W)`` preprocessed pixels (antialiased)."""
    import torch.nn.functional as F

    pixels = pixels.float()
    if pixels.shape[-2:] == (side, side):
        return pixels
    return F.interpolate(pixels, size=(side, side), mode="bilinear", antialias=True, align_corners=False)


@dataclass
class PhotoCategoryModel:
    """A fitted network from preprocessed photos to one of ``categories``."""

    categories: list[str]
    net: object                 # torch.nn.Module, in eval mode
    side: int                   # the side it reads
    pixel_side: int             # the side of the image tower's pixels it was fit on
    temperature: float
    info: dict                  # model fingerprint, held-out accuracy per category, fit size and steps
    _answering: object = field(default=None, repr=False, compare=False)  # inference_network(net), made on first use

    def accepts(self, pixels) -> bool:
        """Whether ``pixels`` (one photo or a batch) are the image tower's pixels this network was fit on."""
        return tuple(pixels.shape[-2:]) == (self.pixel_side, self.pixel_side)

    def probabilities(self, pixels) -> np.ndarray:
        """``(N, C)`` category probabilities of ``(N, 3, H, W)`` preprocessed photos."""
        import torch

        if self._answering is None:  # two threads may both make it: the same network, so no lock is needed
            self._answering = inference_network(self.net)
        x = thumbnails(pixels.cpu(), self.side).contiguous(memory_format=torch.channels_last)
        with torch.no_grad():
            logits = self._answering(x).double().numpy() / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def guess(self, pixels, allowed: Sequence[str] | None = None) -> list[CategoryGuess]:
        """One guess per photo; ``allowed`` (the categories an index serves now) leaves the others out."""
        return guesses_from(self.probabilities(pixels), self.categories, allowed)


def fit_plan(items: Sequence[dict], seed: int = 0) -> tuple[list[str], list[int], np.ndarray] | None:
    """``(categories, rows, labels)`` of the photos a fit reads: the items (row i = ``items[i]``) with a path and a
    first category that has at least :data:`MIN_PHOTOS` of them, sampled down to :data:`MAX_FIT_PHOTOS` keeping each
    category's share; None when fewer than two categories qualify."""
    by_category: dict[str, list[int]] = {}
    for row, item in enumerate(items):
        category = (item.get("categories") or [None])[0]
        if category and item.get("path"):
            by_category.setdefault(category, []).append(row)
    categories = sorted(c for c, rows in by_category.items() if len(rows) >= MIN_PHOTOS)
    if len(categories) < 2:
        return None
    total = sum(len(by_category[c]) for c in categories)
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for k, category in enumerate(categories):
        members = by_category[category]
        take = min(len(members), max(MIN_PHOTOS, math.floor(MAX_FIT_PHOTOS * len(members) / total)))
        chosen = sorted(rng.choice(len(members), take, replace=False)) if take < len(members) else range(take)
        rows += [members[i] for i in chosen]
        labels += [k] * take
    return categories, rows, np.array(labels, dtype=np.int64)


def default_steps(photos: int) -> int:
    """Training steps for a fit on ``photos`` photos: about sixteen passes, within [100, :data:`MAX_STEPS`]."""
    return int(min(MAX_STEPS, max(_MIN_STEPS, round(_EPOCHS * photos / BATCH))))


def fit_photo_category_model(photos, labels: np.ndarray, categories: list[str], pixel_side: int,
                             fingerprint: str | None = None, steps: int | None = None, seed: int = 0,
                             progress: Callable[[int, int], None] | None = None) -> PhotoCategoryModel:
    """Fit the network on ``photos`` (``(N, 3, s, s)`` :func:`thumbnails` of the image tower's ``pixel_side``-px
    pixels, any float dtype) whose category numbers in ``categories`` are ``labels``.

    ``steps`` defaults to :func:`default_steps` of the photos fit on; ``progress(step, steps)`` is called as it goes.
    """
    import torch
    import torch.nn.functional as F

    side = input_side(pixel_side)
    if side < MIN_SIDE:
        raise ValueError(f"the network halves its input four times and needs photos of at least {MIN_SIDE} px; "
                         f"this checkpoint reads {pixel_side} px")
    if tuple(photos.shape[-2:]) != (side, side):
        raise ValueError(f"the photos are {tuple(photos.shape[-2:])} px, the network reads {side} x {side}")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(labels), dtype=bool)
    for k in range(len(categories)):
        members = np.flatnonzero(labels == k)
        if len(members) > 1:
            held[rng.choice(members, max(1, round(_HOLD_OUT * len(members))), replace=False)] = True
    y = torch.from_numpy(labels)
    fit_rows = torch.from_numpy(np.flatnonzero(~held))
    steps = steps or default_steps(len(fit_rows))
    batch = min(BATCH, len(fit_rows))

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = network(len(categories))
    optimiser = torch.optim.AdamW(net.parameters(), lr=_LEARNING_RATE, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=_LEARNING_RATE, total_steps=steps)
    # Every category is drawn equally often, however many photos it has: the categories that are hard to tell
    # apart (shoe types) are often the small ones, and drawn by their share they got a quarter of the steps.
    counts = np.bincount(labels[~held], minlength=len(categories)).astype(np.float64)
    draw_weight = torch.from_numpy(1.0 / counts[labels[~held]])
    net.train()
    with torch.enable_grad():
        for step in range(steps):
            chosen = fit_rows[torch.multinomial(draw_weight, batch, replacement=True, generator=generator)]
            x = photos[chosen].float()
            # Mirrored photos are the same product: flips double the photos the network sees.
            flip = torch.rand(len(x), 1, 1, 1, generator=generator) < 0.5
            loss = F.cross_entropy(net(torch.where(flip, x.flip(3), x)), y[chosen])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            if progress is not None:
                progress(step + 1, steps)
    net.eval()
    temperature, accuracy = 1.0, {}
    if held.any():
        held_rows = torch.from_numpy(np.flatnonzero(held))
        with torch.no_grad():
            logits = torch.cat([net(photos[held_rows[i:i + 512]].float())
                                for i in range(0, len(held_rows), 512)]).double().numpy()
        held_y = labels[held]
        right = logits.argmax(axis=1) == held_y
        temperature = fit_temperature(logits, held_y)
        accuracy = {categories[k]: round(float(right[held_y == k].mean()), 4)
                    for k in range(len(categories)) if (held_y == k).any()}
    info = {"model_fingerprint": fingerprint, "fit_photos": int((~held).sum()), "held_out_photos": int(held.sum()),
            "steps": steps, "seed": seed, "held_out_accuracy": accuracy}
    return PhotoCategoryModel(categories, net, side, int(pixel_side), temperature, info)


def write_photo_category_model(folder: str | Path, model: PhotoCategoryModel) -> None:
    """Write ``model`` into an index version folder (weights first, the config naming their hash last)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    weights = folder / WEIGHTS_FILE
    state = {k: v.detach().contiguous() for k, v in model.net.state_dict().items()}
    write_atomic(weights, lambda tmp: save_file(state, tmp))
    write_json_atomic(folder / CONFIG_FILE, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "categories": model.categories, "side": model.side,
        "pixel_side": model.pixel_side, "temperature": model.temperature, **model.info,
        "sha256": {WEIGHTS_FILE: sha256_file(weights)}})


def read_photo_category_model(folder: str | Path) -> PhotoCategoryModel | None:
    """The photo category model of an index version folder; None when it has none.

    Raises :class:`PhotoCategoryModelError` for one that is unreadable, of another format, or whose weights changed.
    """
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        return None
    config = read_format_json(folder / CONFIG_FILE, FORMAT, FORMAT_VERSION, PhotoCategoryModelError,
                              "the photo category model")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file() or sha256_file(weights) != (config.get("sha256") or {}).get(WEIGHTS_FILE):
        raise PhotoCategoryModelError(f"{weights} is missing or changed since it was fit; fit it again (python -m "
                                      f"cti_ir.index photo-category --index ...)")
    categories = list(config["categories"])
    net = network(len(categories))
    try:
        net.load_state_dict(load_file(str(weights)))
    except RuntimeError as e:
        raise PhotoCategoryModelError(f"{weights} does not match {folder / CONFIG_FILE} ({str(e)[:200]}); fit it "
                                      f"again (python -m cti_ir.index photo-category --index ...)") from None
    net.eval()
    info = {k: config[k] for k in ("model_fingerprint", "fit_photos", "held_out_photos", "steps", "seed",
                                   "held_out_accuracy") if k in config}
    return PhotoCategoryModel(categories, net, int(config["side"]), int(config["pixel_side"]),
                              float(config["temperature"]), info)
