"""Which catalogue category a shopper's own photo shows: a linear classifier fit on the index's own vectors.

A search keeps the reference's category by default. A catalogue product knows its category; an uploaded photo
does not, so the index carries a small model that guesses it: a multinomial logistic regression from the stored
image vectors to the items' (first) categories, fit whenever an index version is built (``fit_category_model``,
called by the build, ``add``, ``remove`` and ``update``) and stored beside that version::

    category_model.json         format, version, categories, dimension, the model fingerprint of the vectors, the
                                temperature, the held-out accuracy per category, sha256 of the weights
    category_model.safetensors  ``weight`` (C, D) and ``bias`` (C,), standardisation folded in

Nothing in it is particular to one shop: it learns from whatever categories and vectors the index holds. The
fit holds out a fifth of the items (stratified, seeded) to measure the accuracy per category and to fit a
softmax temperature on them, so that the confidence it reports is close to how often it is right, then refits on
every item. A guess below :data:`UNSURE_BELOW` is marked unsure, and the page and the API say so.

An index written before this model existed has no such files; the engine then falls back to the category of the
catalogue product closest to the photo (``cti_ir.serve.session_search``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cti_ir.files import read_format_json, sha256_file, write_atomic, write_json_atomic

FORMAT = "cti-ir-category-model"
FORMAT_VERSION = 1
CONFIG_FILE = "category_model.json"
WEIGHTS_FILE = "category_model.safetensors"
FILES = (CONFIG_FILE, WEIGHTS_FILE)
#: Below this confidence a guess is reported as unsure. Chosen on the demo catalogue with seed 0 as the lowest
#: value at which the guesses not marked unsure were right at least 95 % of the time (95 % at 0.8, 87 % at 0.7);
#: ``docs/results/sessions.md`` has the figures on a catalogue it was not chosen on.
UNSURE_BELOW = 0.8
#: Items the fit reads at most (a random sample beyond): the fit costs O(items x dim x categories) per step.
MAX_FIT_ITEMS = 50_000
_STEPS = 100        # L-BFGS iterations of each fit (more changed the demo catalogue's accuracy by under 2 points)
_HOLD_OUT = 0.2     # share of each category held out to measure the accuracy and fit the temperature
_PENALTY = 1e-4    # L2 penalty on the weights (standardised features): keeps look-alike categories from overfitting
_MIN_HELD = 5       # a category with fewer items is not held out from (all of it is used for the fit)


class CategoryModelError(ValueError):
    """A stored category model that cannot be used (another format, a changed weights file)."""


@dataclass(frozen=True)
class CategoryGuess:
    """The category of one photo: the most likely one, its probability and the next most likely ones."""

    category: str
    confidence: float | None                 # None: no model, the closest product's category
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def unsure(self) -> bool:
        return self.confidence is not None and self.confidence < UNSURE_BELOW

    def to_json(self) -> dict:
        """The API's ``category_guess`` object."""
        return {"category": self.category,
                "confidence": None if self.confidence is None else round(self.confidence, 3),
                "unsure": self.unsure,
                "alternatives": [{"category": c, "confidence": round(p, 3)} for c, p in self.alternatives]}


@dataclass
class CategoryModel:
    """A fitted classifier from image vectors ``(N, D)`` to one of ``categories``."""

    categories: list[str]
    weight: np.ndarray          # (C, D) float32
    bias: np.ndarray            # (C,) float32
    temperature: float
    info: dict                  # fingerprint, dimension, held-out accuracy per category, fit size

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """``(N, C)`` category probabilities of ``(N, D)`` vectors."""
        logits = (np.asarray(vectors, dtype=np.float32) @ self.weight.T + self.bias) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def guess(self, vectors: np.ndarray, allowed: Sequence[str] | None = None) -> list[CategoryGuess]:
        """One guess per vector; ``allowed`` (the categories an index serves now) leaves the others out."""
        return guesses_from(self.probabilities(vectors), self.categories, allowed)


def guesses_from(probabilities: np.ndarray, categories: Sequence[str],
                 allowed: Sequence[str] | None = None) -> list[CategoryGuess]:
    """One guess per row of ``(N, C)`` ``probabilities`` over ``categories``, renormalised over ``allowed`` (the
    categories an index serves now; None: all)."""
    keep = [i for i, c in enumerate(categories) if allowed is None or c in allowed]
    out = []
    for row in probabilities:
        row = row[keep] / max(float(row[keep].sum()), 1e-12)
        order = np.argsort(-row)
        ranked = [(categories[keep[j]], float(row[j])) for j in order]
        # The alternatives a shopper may mean: the next ones while they matter (at most three).
        alternatives = tuple((c, p) for c, p in ranked[1:4] if p >= 0.05)
        out.append(CategoryGuess(ranked[0][0], ranked[0][1], alternatives))
    return out


def fit_category_model(vectors: np.ndarray, items: Sequence[dict], fingerprint: str | None = None,
                       seed: int = 0) -> CategoryModel | None:
    """Fit the classifier on an index's vectors (row i = ``items[i]``, its first category the label); None when
    the items have fewer than two categories (nothing to guess)."""
    labels_of = [(it.get("categories") or [None])[0] for it in items]
    categories = sorted({c for c in labels_of if c})
    if len(categories) < 2:
        return None
    rng = np.random.default_rng(seed)
    rows = np.array([i for i, c in enumerate(labels_of) if c], dtype=np.int64)
    if len(rows) > MAX_FIT_ITEMS:
        rows = np.sort(rng.choice(rows, MAX_FIT_ITEMS, replace=False))
    x = np.ascontiguousarray(vectors[rows], dtype=np.float32)
    y = np.array([categories.index(labels_of[i]) for i in rows], dtype=np.int64)
    held = np.zeros(len(y), dtype=bool)
    for c in range(len(categories)):
        members = np.flatnonzero(y == c)
        if len(members) >= _MIN_HELD:
            held[rng.choice(members, round(_HOLD_OUT * len(members)), replace=False)] = True
    weight, bias = _fit(x[~held], y[~held], len(categories))
    temperature, accuracy = 1.0, {}
    if held.any():
        logits = x[held] @ weight.T + bias
        temperature = fit_temperature(logits, y[held])
        right = logits.argmax(axis=1) == y[held]
        accuracy = {categories[c]: round(float(right[y[held] == c].mean()), 4)
                    for c in range(len(categories)) if (y[held] == c).any()}
    weight, bias = _fit(x, y, len(categories))
    info = {"model_fingerprint": fingerprint, "dim": int(x.shape[1]), "fit_items": len(y),
            "held_out_items": int(held.sum()), "held_out_accuracy": accuracy}
    return CategoryModel(categories, weight, bias, temperature, info)


def _fit(x: np.ndarray, y: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Softmax regression by L-BFGS on standardised features; the standardisation is folded into the weights.

    Standardised, because the vectors are unit-length: on raw vectors the logits need large weights, and any
    penalty that held them down cost 5 to 40 points of accuracy on the demo catalogue's shoe types; on
    standardised ones a small penalty changes the accuracy by under a point and keeps the weights of categories
    the vectors cannot tell apart from growing on noise.
    """
    import torch

    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xs = torch.from_numpy((x - mean) / scale)
    target = torch.from_numpy(y)
    w = torch.zeros(x.shape[1], n_classes, requires_grad=True)
    b = torch.zeros(n_classes, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=_STEPS, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(xs @ w + b, target) + _PENALTY * (w ** 2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w_np = w.detach().numpy().T / scale                  # (C, D): (x - mean) / scale @ w = x @ (w / scale) - ...
    b_np = b.detach().numpy() - w_np @ mean
    return np.ascontiguousarray(w_np, dtype=np.float32), np.ascontiguousarray(b_np, dtype=np.float32)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The softmax temperature that best predicts the held-out labels (a grid: one number, no overfitting)."""
    best, best_loss = 1.0, np.inf
    for t in np.exp(np.linspace(np.log(0.25), np.log(20.0), 60)):
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def write_category_model(folder: str | Path, model: CategoryModel) -> None:
    """Write ``model`` into an index version folder (weights first, the config naming their hash last)."""
    from safetensors.numpy import save_file

    folder = Path(folder)
    weights = folder / WEIGHTS_FILE
    write_atomic(weights, lambda tmp: save_file({"weight": model.weight, "bias": model.bias}, tmp))
    write_json_atomic(folder / CONFIG_FILE, {
        "format": FORMAT, "format_version": FORMAT_VERSION, "categories": model.categories,
        "temperature": model.temperature, "unsure_below": UNSURE_BELOW, **model.info,
        "sha256": {WEIGHTS_FILE: sha256_file(weights)}})


def read_category_model(folder: str | Path) -> CategoryModel | None:
    """The category model of an index version folder; None when it has none (an index built before it existed).

    Raises :class:`CategoryModelError` for one that is unreadable, of another format, or whose weights changed.
    """
    from safetensors.numpy import load_file

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        return None
    config = read_format_json(folder / CONFIG_FILE, FORMAT, FORMAT_VERSION, CategoryModelError, "the category model")
    weights = folder / WEIGHTS_FILE
    if not weights.is_file() or sha256_file(weights) != (config.get("sha256") or {}).get(WEIGHTS_FILE):
        raise CategoryModelError(f"{weights} is missing or changed since the index was built; rebuild the index "
                                 f"(python -m cti_ir.index build ... --overwrite) to fit it again")
    tensors = load_file(str(weights))
    categories = list(config["categories"])
    if tensors["weight"].shape != (len(categories), config["dim"]):
        raise CategoryModelError(f"{weights} does not match {folder / CONFIG_FILE}; rebuild the index")
    info = {k: config[k] for k in ("model_fingerprint", "dim", "fit_items", "held_out_items", "held_out_accuracy")
            if k in config}
    return CategoryModel(categories, tensors["weight"], tensors["bias"], float(config["temperature"]), info)

