"""``training.zeroshot --pairs``: its flags, its material, its model and its task (see ``pairs`` and ``pair_task``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from cti_ir.index.catalogue import CatalogueItem
from cti_ir.model.checkpoint import load_checkpoint
from training.zeroshot.corpus import CorpusError
from training.zeroshot.pair_task import PairTask, pair_tables
from training.zeroshot.pairs import mine_pairs, read_products
from training.zeroshot.task import embed_texts, say

#: The composers --pairs can train (those that read features only; the pseudo-token one learns from --texts).
PAIR_COMPOSERS = ("adaptive", "combiner")


def add_pairs_args(group: argparse._ArgumentGroup, parser: argparse.ArgumentParser) -> None:
    """The --pairs material flag (in ``group``) and the group of its own flags."""
    group.add_argument("--pairs", action="append", default=[],
                       help="product photos with their descriptions (repeatable): a JSONL file whose rows name the "
                            "photo in 'file_name' (relative to the file's folder) and describe the product in "
                            "--text-column; products whose descriptions differ in 1 to --max-changes facets become "
                            "(reference, change, target) examples for an ordinary composer; not with --texts or "
                            "--images")
    g = parser.add_argument_group("mined pairs (--pairs)")
    g.add_argument("--composer", default="adaptive", choices=PAIR_COMPOSERS,
                   help="the composer trained on the pairs (on the frozen encoders' embeddings)")
    add_mining_args(g, per_product=4)


def add_mining_args(group: argparse._ArgumentGroup, per_product: int) -> None:
    """The flags of how pairs are mined (``training.zeroshot --pairs`` and ``training.stage3 --data pairs=``)."""
    group.add_argument("--category-column", default="category",
                       help="column naming a product's category; pairs are made within a category (rows without "
                            "it: the file's name is the category)")
    group.add_argument("--max-changes", type=int, default=2,
                       help="pair products whose known facets differ in at most this many slots")
    group.add_argument("--pairs-per-product", type=int, default=per_product,
                       help="pairs each product starts, with products drawn at random among those close enough")


def load_pairs(args: argparse.Namespace) -> dict:
    """The products, the mined training pairs and the check pairs (a clear error when nothing pairs)."""
    products = read_products(args.pairs, args.text_column, args.category_column, args.split_column)
    train = [i for i, p in enumerate(products) if p.split in (None, args.train_split)]
    held_out = [i for i, p in enumerate(products) if p.split == args.val_split]
    if not train:
        raise CorpusError(f"no products to train on in {', '.join(args.pairs)} (none of split {args.train_split!r})")
    pairs = mine_pairs(products, train, args.seed, args.max_changes, args.pairs_per_product)
    if not pairs:
        raise CorpusError(
            f"no two products of one category in {', '.join(args.pairs)} have descriptions that differ in 1 to "
            f"{args.max_changes} facets the reader knows (colour, pattern, sleeves, neckline, length, fit, shoe "
            f"type, heel, finish, closure): nothing to learn a change from; check --text-column, or raise "
            f"--max-changes")
    if held_out:
        check = mine_pairs(products, held_out, args.seed, args.max_changes, 1)
    else:  # no held-out products: the first training products' own pairs check the run
        check = mine_pairs(products, train[:args.check_size], args.seed, args.max_changes, 1)
        say("no held-out products (--val-split): the per-epoch check pairs training products")
    if len(check) > args.check_size:  # evenly over the products (they are in file order: by category)
        check = [check[k * len(check) // args.check_size] for k in range(args.check_size)]
    categories = len({products[i].category for i in train})
    changes = len({p.text for p in pairs})
    say(f"{len(products)} products in {categories} categories: {len(pairs)} training pairs ({changes} distinct "
        f"changes) from {len(train)} products, {len(check)} check pairs")
    return {"products": products, "pairs": pairs, "check": check}


def pairs_model(args: argparse.Namespace, data: dict, out: Path, device: torch.device):
    """--init's encoders with a fresh composer; the material embedded once by the frozen encoders (kept in OUT)."""
    from training.fit_embedding_map.embedding_cache import cached_embeddings

    torch.manual_seed(args.seed)
    model = load_checkpoint(args.init, new_composer=(args.composer, {})).to(device)
    model.eval()
    pairs, check, products = data["pairs"], data["check"], data["products"]
    used = sorted({i for p in pairs + check for i in (p.reference, p.target)})
    items = [CatalogueItem(image_id=products[i].image_id, path=products[i].path) for i in used]
    vectors, _ = cached_embeddings(model, items, out / "image_embeddings", batch_size=args.encode_batch_size,
                                   workers=args.workers, progress=args.progress, desc="embed photos")
    texts = sorted({p.text for p in pairs + check})
    data.update(images=torch.from_numpy(vectors), texts=embed_texts(model, texts, args.encode_batch_size),
                image_rows={i: row for row, i in enumerate(used)}, text_rows={t: row for row, t in enumerate(texts)})
    return model


def pairs_task(model, data: dict, args: argparse.Namespace) -> PairTask:
    """The loop's task over the embedded pairs."""
    rows = data["image_rows"]
    check = pair_tables(data["check"], data["text_rows"], rows)
    check_products = sorted({i for p in data["check"] for i in (p.reference, p.target)})
    return PairTask(data["images"], data["texts"], pair_tables(data["pairs"], data["text_rows"], rows), check,
                    torch.tensor([rows[i] for i in check_products]), args.temperature)
