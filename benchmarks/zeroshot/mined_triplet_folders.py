"""Write a generated catalogue's mined pairs as Fashion-IQ and Shoes triplet folders, so stage 3 can train on them.

    python -m benchmarks.zeroshot.mined_triplet_folders --data runs/zeroshot/bench/data/catalogue-0 \\
        --out runs/zeroshot/mined/catalogue-0 --pairs-per-product 2

The experiment behind "stage 3 on the mined pairs" in docs/results/zeroshot.md: the pairs of
``training.zeroshot --pairs`` (products whose descriptions differ in one or two facets, the change written from
the difference), mined among the catalogue's *training* products, replace the catalogue's triplets in a copy of
its two layouts (Fashion-IQ ``captions/cap.<cat>.train.json``; Shoes ``relative_captions_shoes.json``). Images and
splits are copied unchanged; the validation captions are left out, so train with ``--no-eval`` (a run that kept
its best epoch by them would have seen triplets).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Sequence

from benchmarks.common import error
from cti_ir.files import write_text_atomic
from training.common import HelpWithDefaults
from training.zeroshot.pairs import mine_pairs, read_products

LAYOUTS = ("fashioniq", "shoes")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.zeroshot.mined_triplet_folders",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpWithDefaults)
    p.add_argument("--data", required=True, help="a generated catalogue (python -m data_prep.synth --out DATA)")
    p.add_argument("--out", required=True, help="folder for the two layouts' copies with the mined triplets")
    p.add_argument("--pairs-per-product", type=int, default=2, help="pairs each training product starts")
    p.add_argument("--max-changes", type=int, default=2, help="at most this many differing facets in a pair")
    p.add_argument("--seed", type=int, default=0, help="which close products pair")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    data, out = Path(args.data), Path(args.out)
    sources = [data / layout / "product_descriptions.jsonl" for layout in LAYOUTS]
    if not all(s.is_file() for s in sources):
        return error(f"{data} is not a generated catalogue: it needs {' and '.join(map(str, sources))}")
    products = read_products([str(s) for s in sources])
    train = [i for i, p in enumerate(products) if p.split == "train"]
    pairs = mine_pairs(products, train, args.seed, args.max_changes, args.pairs_per_product)
    fashioniq: dict[str, list] = {}
    shoes = []
    for pair in pairs:
        ref, target = products[pair.reference], products[pair.target]
        if ref.category == "shoes":
            shoes.append({"ImageName": target.image_id, "ReferenceImageName": ref.image_id,
                          "RelativeCaption": pair.text})
        else:
            fashioniq.setdefault(ref.category, []).append(
                {"candidate": ref.image_id, "target": target.image_id, "captions": [pair.text]})
    for layout in LAYOUTS:  # images and splits as they are; the published triplets are not copied
        shutil.copytree(data / layout, out / layout, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("cap.*.json", "relative_captions_shoes.json"))
    for category, rows in fashioniq.items():
        write_text_atomic(out / "fashioniq" / "captions" / f"cap.{category}.train.json", json.dumps(rows))
    write_text_atomic(out / "shoes" / "relative_captions_shoes.json", json.dumps(shoes))
    counts = ", ".join(f"{c} {len(r)}" for c, r in sorted(fashioniq.items()))
    print(f"{len(pairs)} mined triplets from {len(train)} training products ({counts}, shoes {len(shoes)}) in {out}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
