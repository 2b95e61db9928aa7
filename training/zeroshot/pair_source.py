"""Mined pairs as stage-3 training data: ``python -m training.stage3 --data pairs=products.jsonl``.

``training.zeroshot --pairs`` trains a composer on mined pairs over frozen encoders. Stage 3 can train on the same
pairs with the encoders included: each pair (reference photo, written change, target photo) is a triplet like the
annotated ones, and everything else of stage 3 (loss, weight target, batches, resume, torchrun) is unchanged.

What stage 3 cannot do with such data is check itself on a benchmark's validation triplets, and it must not: a
shop has none. Each epoch it checks the model on pairs mined among **held-out products** instead, each searching
the held-out pairs' photos for its target (R@10, in percent), encoded by the model as it is at that epoch. The
held-out products are those of ``--val-split`` in ``--split-column``; a file without splits holds out every tenth
product, chosen by a hash of its photo's name (so the choice does not depend on the file's order or on a seed),
and never trains on them.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Sequence

import torch

from cti_ir.data import Triplet
from cti_ir.evaluate.evaluator import encode_images, encode_texts
from training.zeroshot.pair_task import check_recall, pair_tables
from training.zeroshot.pairs import MinedPair, Product, mine_pairs, read_products

#: Without a split column, products whose photo name hashes to 0 modulo this are held out (one in ten).
HOLD_OUT_EVERY = 10


def held_out_by_hash(product: Product) -> bool:
    """Whether a product of a file without splits is held out for the check (stable across runs and orders)."""
    digest = hashlib.sha256(product.image_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % HOLD_OUT_EVERY == 0


class MinedPairSource:
    """One ``--data pairs=FILE[,FILE...]`` source of stage 3: its mined training triplets and its held-out check.

    Triplets name their photos by path (``image_path`` is the identity), so two files may share image ids.
    """

    def __init__(self, files: Sequence[str], seed: int, max_changes: int = 2, per_product: int = 2,
                 text_column: str = "text", category_column: str = "category", split_column: str = "split",
                 train_split: str = "train", val_split: str = "val", check_size: int = 2000):
        self.root = ", ".join(files)  # for messages: what the user passed
        products = read_products(files, text_column, category_column, split_column)
        if any(p.split is not None for p in products):
            train = [i for i, p in enumerate(products) if p.split in (None, train_split)]
            held_out = [i for i, p in enumerate(products) if p.split == val_split]
        else:
            held = [held_out_by_hash(p) for p in products]
            train = [i for i, h in enumerate(held) if not h]
            held_out = [i for i, h in enumerate(held) if h]
        if not train:
            raise ValueError(f"no products to train on in {self.root} (none of split {train_split!r})")
        self.products = products
        self.pairs = mine_pairs(products, train, seed, max_changes, per_product)
        if not self.pairs:
            raise ValueError(
                f"no two products of one category in {self.root} have descriptions that differ in 1 to {max_changes} "
                f"facets the reader knows (colour, pattern, sleeves, neckline, length, fit, shoe type, heel, "
                f"finish, closure): nothing to learn a change from; check --text-column, or raise --max-changes")
        check = mine_pairs(products, held_out, seed, max_changes, 1)
        if len(check) > check_size:  # evenly over the products (they are in file order: by category)
            check = [check[k * len(check) // check_size] for k in range(check_size)]
        self.check = check
        self.train_products, self.held_out_products = len(train), len(held_out)

    def describe(self) -> str:
        """One line for the log: how much material the source gave."""
        changes = len({p.text for p in self.pairs})
        return (f"{len(self.pairs)} mined training pairs ({changes} distinct changes) from {self.train_products} "
                f"products; {len(self.check)} check pairs among {self.held_out_products} held-out products")

    def triplets(self, split: str = "train", check: bool = True, skip_missing: bool = False) -> list[Triplet]:
        """The mined training pairs as triplets (``split`` must be train); ``check`` looks for every photo, and a
        missing one stops with its name unless ``skip_missing`` leaves its pairs out."""
        if split != "train":
            raise ValueError(f"mined pairs have only a training split, not {split!r}")
        pairs = self.pairs
        if check:
            missing = {i for p in pairs for i in (p.reference, p.target) if not Path(self.products[i].path).is_file()}
            if missing and not skip_missing:
                first = self.products[min(missing)]
                raise FileNotFoundError(f"{len(missing)} product photo(s) named in {self.root} are missing, e.g. "
                                        f"{first.path} (product {first.image_id}); fix the file names or pass "
                                        f"--skip-missing to leave their pairs out")
            pairs = [p for p in pairs if p.reference not in missing and p.target not in missing]
            if missing:
                print(f"[stage3] {len(self.pairs) - len(pairs)} mined pairs left out: {len(missing)} photos are "
                      f"missing", file=sys.stderr)
        return [self._triplet(p) for p in pairs]

    def _triplet(self, pair: MinedPair) -> Triplet:
        ref, target = self.products[pair.reference], self.products[pair.target]
        return Triplet(reference=ref.path, target=target.path, captions=(pair.text,), category=ref.category)

    @staticmethod
    def image_path(image_id: str) -> Path:
        """A triplet's image name is already its photo's path."""
        return Path(image_id)

    @torch.no_grad()
    def evaluate(self, model, batch_size: int = 256, num_workers: int = 0, skip_missing: bool = False) -> dict:
        """R@10 (percent) of the check pairs with ``model``'s current encoders and composer: ``score``, and how
        many pairs and photos it used (a check pair whose photo is missing is left out with ``skip_missing``)."""
        check = self.check
        if skip_missing:
            check = [p for p in check if all(Path(self.products[i].path).is_file() for i in (p.reference, p.target))]
        if not check:
            return {"score": 0.0, "check_pairs": 0, "note": "no check pairs: no held-out products pair"}
        used = sorted({i for p in check for i in (p.reference, p.target)})
        rows = {i: n for n, i in enumerate(used)}
        texts = sorted({p.text for p in check})
        was_training = model.training
        model.eval()
        images = encode_images(model, [self.products[i].path for i in used], Path, batch_size, num_workers,
                               progress=False)
        text_features = encode_texts(model, texts, batch_size)
        tables = pair_tables(check, {t: n for n, t in enumerate(texts)}, rows)
        device = model.device
        score = check_recall(lambda ref, txt: model.compose(ref.to(device), txt.to(device)).query.float().cpu(),
                             images, text_features, tables, torch.arange(len(used)))
        model.train(was_training)
        return {"score": score, "check_pairs": len(check), "check_photos": len(used)}
