"""A multi-view product catalogue: every product photographed several times, with its ground-truth attributes.

    python -m data_prep.synth_views --out DIR [--seed 0] [--adapt-products 250] [--eval-products 150] [--views 3]

This is the catalogue of the label-free adaptation benchmark (``benchmarks/grappa/bench_grappa.py``): a shop's own
unlabeled photos to adapt on, and a held-out set of other products whose attributes say which images should be
retrieved together at each granularity (category, shape, colour + pattern, the same product). Writes, under DIR::

    adapt/<category>/<product_id>_v<k>.jpg     unlabeled adaptation photos (products never used for evaluation)
    eval/<category>/<product_id>_v<k>.jpg      evaluation photos of other products
    products.jsonl                             one product per line: product_id, split (adapt | eval), category,
                                               attributes, near_duplicate_of, files (paths relative to DIR)
    views_info.json                            seed, sizes, counts; written last, it marks the output complete

Photos of one product share its design (pattern spacing and phase, flower positions, chest motif) and differ in
pose, scale, position, facing, background, lighting and noise (``data_prep.synth_render``'s ``view_seed``). Like a
real catalogue, a share of the products are near-duplicates of another one (1 to 3 attributes changed) or copy
another's attributes exactly (a different product that looks the same): "the same product" cannot be solved by
matching attributes alone. The same seed and sizes give identical files whatever ``--workers`` is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from data_prep.synth import render_all
from data_prep.synth_attributes import GARMENT_CATEGORIES, SHOE_CATEGORY, mutate, sample_product
from data_prep.synth_writers import write_json_atomic, write_jsonl_atomic

FORMAT_VERSION = 1
INFO_FILE = "views_info.json"
PRODUCTS_FILE = "products.jsonl"
SPLITS = ("adapt", "eval")
CATEGORIES = GARMENT_CATEGORIES + (SHOE_CATEGORY,)
NEAR_DUPLICATE_SHARE = 0.3   # products that are a small change of an earlier product of the same split/category
LOOKALIKE_SHARE = 0.05       # products that copy an earlier product's attributes exactly (another design seed)


def plan_products(seed: int, split: str, category: str, n_products: int, n_views: int) -> list[dict]:
    """The products of one (split, category): attributes, design seed and one seed per view.

    Each (split, category) has its own generator seeded by a descriptive string, so changing one count does not
    reshuffle the others, and the adaptation and evaluation products never share a product.
    """
    rng = random.Random(f"{seed}/views/{split}/{category}")
    products: list[dict] = []
    for i in range(n_products):
        near = None
        r = rng.random()
        if products and r < LOOKALIKE_SHARE:
            source = rng.choice(products)
            attributes, near = dict(source["attributes"]), source["product_id"]
        elif products and r < LOOKALIKE_SHARE + NEAR_DUPLICATE_SHARE:
            source = rng.choice(products)
            attributes, near = mutate(source["attributes"], rng), source["product_id"]
        else:
            attributes = sample_product(category, rng)
        product_id = f"{split}-{category}-{i:05d}"
        products.append({
            "product_id": product_id, "split": split, "category": category, "attributes": attributes,
            "near_duplicate_of": near, "design_seed": rng.getrandbits(63),
            "view_seeds": [rng.getrandbits(63) for _ in range(n_views)],
            "files": [f"{split}/{category}/{product_id}_v{k}.jpg" for k in range(n_views)],
        })
    return products


def plan_catalogue(seed: int, adapt_products: int, eval_products: int, views: int) -> list[dict]:
    """Every product of both splits (counts are per category)."""
    out = []
    for split, n in zip(SPLITS, (adapt_products, eval_products)):
        for category in CATEGORIES:
            out += plan_products(seed, split, category, n, views)
    return out


def _is_complete(out: Path, settings: dict) -> bool:
    try:
        info = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if info.get("settings") != settings:
        return False
    n_files = sum(1 for split in SPLITS for p in (out / split).rglob("*.jpg")) if (out / "adapt").is_dir() else 0
    return n_files == info.get("images") and (out / PRODUCTS_FILE).is_file()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m data_prep.synth_views",
        description="Generate a catalogue in which every product is photographed several times (pose, light, "
                    "background, noise), split into unlabeled adaptation photos and held-out evaluation photos, "
                    "with ground-truth attributes (the label-free adaptation benchmark's data).")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder; adapt/, eval/, products.jsonl and views_info.json are written inside it")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed and sizes give identical files")
    p.add_argument("--adapt-products", type=int, default=250,
                   help="adaptation products per category (4 categories: dress, shirt, toptee, shoes)")
    p.add_argument("--eval-products", type=int, default=150, help="evaluation products per category")
    p.add_argument("--views", type=int, default=3,
                   help="photos per product (at least 2: evaluation uses one as the query, the others in the "
                        "gallery)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that render images (the output does not depend on it)")
    p.add_argument("--force", action="store_true", help="regenerate even if --out already holds this output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.views < 2 or args.adapt_products < 1 or args.eval_products < 1 or args.workers < 1:
        print("error: --views must be >= 2 and --adapt-products, --eval-products, --workers >= 1", file=sys.stderr)
        return 2
    out: Path = args.out
    settings = {"format_version": FORMAT_VERSION, "seed": args.seed, "adapt_products": args.adapt_products,
                "eval_products": args.eval_products, "views": args.views}
    if not args.force and _is_complete(out, settings):
        print(f"{out} already holds this multi-view catalogue; nothing to do (use --force to regenerate)")
        return 0
    (out / INFO_FILE).unlink(missing_ok=True)  # first: an interrupted run never reads as complete
    for split in SPLITS:
        shutil.rmtree(out / split, ignore_errors=True)
    start = time.perf_counter()
    products = plan_catalogue(args.seed, args.adapt_products, args.eval_products, args.views)
    jobs = [("view", {"attributes": p["attributes"], "view_seed": v}, p["design_seed"], str(out / f))
            for p in products for v, f in zip(p["view_seeds"], p["files"])]
    for folder in sorted({os.path.dirname(j[3]) for j in jobs}):
        os.makedirs(folder, exist_ok=True)
    render_all(jobs, args.workers, progress=not args.quiet)
    write_jsonl_atomic(out / PRODUCTS_FILE, [{k: p[k] for k in ("product_id", "split", "category", "attributes",
                                                                 "near_duplicate_of", "files")} for p in products])
    elapsed = time.perf_counter() - start
    counts = {split: {"products": sum(p["split"] == split for p in products),
                      "images": sum(len(p["files"]) for p in products if p["split"] == split)} for split in SPLITS}
    write_json_atomic(out / INFO_FILE, {"generator": "data_prep.synth_views", "settings": settings,
                                        "counts": counts, "images": len(jobs), "elapsed_s": round(elapsed, 2)},
                      indent=2)
    print(f"wrote {len(jobs)} photos of {len(products)} products to {out} in {elapsed:.1f} s "
          f"(adapt: {counts['adapt']['images']}, eval: {counts['eval']['images']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
