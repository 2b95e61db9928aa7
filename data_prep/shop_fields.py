"""Generated shop fields for an indexed catalogue: title, price, currency, stock, brand, sizes, url, material.

    python -m data_prep.shop_fields --index runs/demo/index --out products.jsonl [--seed 0]
    python -m cti_ir.index products --index runs/demo/index --file products.jsonl

A generated catalogue has photos and descriptions but nothing a shop sells by; these fields make its filters
(in stock, a price range, a brand, a size) testable and measurable. Each product's fields depend only on its id and
the seed (a hash seeds its own random generator), so a product keeps its fields when others are added or removed.
The shares are plausible, not measured: about 75 % in stock, prices log-normal around 40 (5 to 400), eight brands
of unequal popularity, clothing sizes XS to XXL and shoe sizes 36 to 42, a few products with no sizes listed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

BRANDS = ("Acme", "Zeta", "Nordvik", "Orla", "Vale", "Kestrel", "Marlow", "Tessa")
BRAND_WEIGHTS = (30, 20, 14, 10, 9, 7, 6, 4)
CLOTHING_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SHOE_SIZES = tuple(str(s) for s in range(36, 43))
SHOE_WORDS = ("shoe", "boot", "heel", "pump", "sandal", "sneaker", "flat", "clog", "slipper", "loafer", "oxford")
MATERIALS = ("cotton", "linen", "wool", "polyester", "viscose", "leather", "denim", "silk")
IN_STOCK_SHARE = 0.75


def shop_fields(image_id: str, categories: Sequence[str], description: str = "", seed: int = 0) -> dict:
    """The generated fields of one product (a products-file row, ``id`` included)."""
    rng = random.Random(int(hashlib.sha256(f"{seed}:{image_id}".encode()).hexdigest()[:16], 16))
    category = (categories or ["product"])[0]
    brand = rng.choices(BRANDS, BRAND_WEIGHTS)[0]
    shoes = any(word in category.lower() for word in SHOE_WORDS)
    scale = SHOE_SIZES if shoes else CLOTHING_SIZES
    sizes = [s for s in scale if rng.random() < 0.55] if rng.random() > 0.05 else []
    words = description.strip().rstrip(".").split(". ")[0] if description.strip() else category.replace("_", " ")
    row = {"id": image_id, "title": f"{brand} {words}"[:120], "price": round(min(max(rng.lognormvariate(3.7, 0.6), 5),
                                                                                 400), 2),
           "currency": "EUR", "in_stock": rng.random() < IN_STOCK_SHARE, "brand": brand,
           "url": f"https://shop.example/p/{hashlib.sha1(image_id.encode()).hexdigest()[:12]}",
           "material": "leather" if shoes and rng.random() < 0.6 else rng.choice(MATERIALS)}
    if sizes:
        row["sizes"] = sizes
    return row


def fields_for_index(index: str | Path, seed: int = 0) -> list[dict]:
    """The generated rows of every product of an index folder (its served items, in index order)."""
    from cti_ir.index.catalogue_index import read_version

    _, version = read_version(index)
    rows = []
    with open(version / "items.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                item = json.loads(line)
                rows.append(shop_fields(item["image_id"], item.get("categories") or [], item.get("description", ""),
                                        seed))
    return rows


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep.shop_fields",
                                description="Write generated shop fields (a products file) for an index's products.")
    p.add_argument("--index", required=True, help="index folder whose products get fields")
    p.add_argument("--out", required=True, help="products file to write (JSONL)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rows = fields_for_index(args.index, args.seed)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from cti_ir.files import write_text_atomic

    write_text_atomic(args.out, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"wrote generated shop fields for {len(rows):,} products to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
