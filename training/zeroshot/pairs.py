"""Training pairs mined from a shop's photos and product descriptions: (reference, change, target) without triplets.

Two products of one category whose descriptions differ in one or two facets ("red maxi dress, long sleeves" and
"black maxi dress, long sleeves") make a training example: the first product's photo, the change written in words
("is black"), the second product's photo as the target. The facets are read from the description texts with the
search engine's fashion vocabulary (:mod:`cti_ir.index.facets`: colours, patterns, sleeves, necklines, lengths,
fits, shoe types, heels, finishes, closures); the change is written in the canonical wording of the request reader
(:func:`cti_ir.index.request_reading.describe_change`), which is also what the engine hands the model for every
shopper's request it understands. Facets a description does not name are unknown and never count as a difference.

The idea of training a composer on mined image pairs with a written instruction is MagicLens' (Zhang et al., ICML
2024: pairs from one web page, instructions by a language model); here the pairs come from a shop's own
catalogue and the instruction from the difference of the two descriptions, by rules. Which products pair, how
many pairs a product starts, and the wording are ours.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from cti_ir.index.catalogue import read_jsonl_rows
from cti_ir.index.facets import SLOTS, read_description
from cti_ir.index.request_reading import describe_change
from training.zeroshot.corpus import CorpusError


@dataclass(frozen=True)
class Product:
    """One described product photo of the pairs material."""

    image_id: str
    path: str
    category: str
    text: str
    split: str | None


@dataclass(frozen=True)
class MinedPair:
    """A training example: products ``reference`` and ``target`` (indices into the product list) and the change."""

    reference: int
    text: str
    target: int


def read_products(paths: Sequence[str], text_column: str = "text", category_column: str = "category",
                  split_column: str = "split") -> list[Product]:
    """The described photos of each JSONL file in ``paths``: rows with ``file_name`` (relative to the file's
    folder) and a text; the category is ``category_column`` when a row has it, else the file's own name."""
    products: list[Product] = []
    for source in paths:
        path = Path(source)
        if not path.is_file() or path.suffix.lower() != ".jsonl":
            raise CorpusError(f"{path}: --pairs takes a JSONL file of products, one row each with 'file_name' (the "
                              f"photo) and {text_column!r} (its description)" + ("" if path.exists() else
                                                                                 " (no such file)"))
        try:
            for n, row in read_jsonl_rows(path):
                where = f"{path}:{n}"
                if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
                    raise CorpusError(f"{where} has no 'file_name' text naming the product's photo")
                text = row.get(text_column)
                if not isinstance(text, str):
                    raise CorpusError(f"{where}: the description ({text_column!r}) is "
                                      f"{'missing' if text is None else 'not a string'}; name the column with "
                                      f"--text-column")
                split = row.get(split_column)
                products.append(Product(
                    image_id=str(row.get("image_id") or row["file_name"]),
                    path=str((path.parent / row["file_name"]).resolve()),
                    category=str(row.get(category_column) or path.stem), text=" ".join(text.split()),
                    split=None if split is None else str(split)))
        except UnicodeDecodeError as e:
            raise CorpusError(f"{path} is not UTF-8 text ({e.reason})") from None
        except ValueError as e:
            if isinstance(e, CorpusError):
                raise
            raise CorpusError(str(e)) from None
    return products


def mine_pairs(products: Sequence[Product], which: Iterable[int], seed: int, max_changes: int = 2,
               per_product: int = 4) -> list[MinedPair]:
    """Pairs among the products ``which`` (indices): each product starts up to ``per_product`` pairs with products
    of its category whose known facets differ from its own in 1 to ``max_changes`` slots, chosen at random
    (``seed``) among all such products; the result is in product order, so it does not depend on anything else.
    """
    rng = random.Random(seed)
    by_category: dict[str, list[int]] = {}
    for i in which:
        by_category.setdefault(products[i].category, []).append(i)
    pairs: list[MinedPair] = []
    for category in sorted(by_category):
        members = by_category[category]
        facets = {i: read_description(products[i].text) for i in members}
        slots = [s for s in SLOTS if any(s in f for f in facets.values())]
        # Products that agree on every slot but the dropped ones share a bucket: a bucket holds the candidates
        # within max_changes differences, found without comparing every two products.
        drops = list(itertools.combinations(slots, min(max_changes, len(slots))))
        buckets: dict[tuple, list[int]] = {}
        for i in members:
            for drop in drops:
                buckets.setdefault(_key(facets[i], slots, drop), []).append(i)
        for i in members:
            near = sorted({j for drop in drops for j in buckets[_key(facets[i], slots, drop)] if j != i})
            rng.shuffle(near)
            taken = 0
            for j in near:
                if taken == per_product:
                    break
                text = describe_change(facets[i], facets[j], category)
                if text is not None:
                    pairs.append(MinedPair(i, text, j))
                    taken += 1
    return sorted(pairs, key=lambda p: (p.reference, p.target))


def _key(facets: dict[str, str], slots: list[str], drop: tuple[str, ...]) -> tuple:
    return (drop, tuple(facets.get(s) for s in slots if s not in drop))
