"""A copy of a benchmark folder with a share of one split's images degraded: a gallery with bad photos in it.

    python -m data_prep.degrade --dataset fashioniq --root data/fashioniq --split val --fraction 0.05 \\
        --out data/fashioniq_degraded

What a shop's catalogue holds besides good product photos: a blurred shot, a photo half covered by a price tag or a
hand, a sensor-noisy picture, a crop that shows only a corner of the product. The copy keeps the published layout
and every annotation file, so every reader, the evaluator and the index run on it as on the original; images that
are not degraded are hard links to the originals (copies where links are not possible). ``degraded.json`` lists
each degraded image with the kind of damage, which is what the asymmetric benchmark's rejection study scores
against. Deterministic for a seed.

Kinds: ``blur`` (Gaussian, radius 5-8% of the image side), ``occlusion`` (one or two flat or noisy blocks covering
35-55% of the image), ``noise`` (strong Gaussian pixel noise, sigma 60-90 of 255), ``crop`` (a corner region of
25-40% of the side, scaled back up: the wrong part of the photo).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.data import open_benchmark
from cti_ir.model.images import load_image

KINDS = ("blur", "occlusion", "noise", "crop")
REPORT_FILE = "degraded.json"


def degrade(image: Image.Image, kind: str, rng: random.Random) -> Image.Image:
    """One degraded version of ``image`` (RGB, same size)."""
    img = image.convert("RGB")
    w, h = img.size
    if kind == "blur":
        return img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.05, 0.08) * max(w, h)))
    if kind == "noise":
        a = np.asarray(img, dtype=np.float32)
        noise = np.random.default_rng(rng.randrange(2**32)).normal(0, rng.uniform(60, 90), a.shape)
        return Image.fromarray(np.clip(a + noise, 0, 255).astype(np.uint8))
    if kind == "occlusion":
        out = img.copy()
        target = rng.uniform(0.35, 0.55) * w * h
        for _ in range(rng.choice((1, 2))):
            bw = int(min(w, max(8, (target / rng.choice((1, 2))) ** 0.5 * rng.uniform(0.8, 1.25))))
            bh = int(min(h, max(8, target / rng.choice((1, 2)) / bw)))
            x, y = rng.randrange(0, max(w - bw, 1)), rng.randrange(0, max(h - bh, 1))
            shade = tuple(rng.randrange(0, 256) for _ in range(3))
            out.paste(Image.new("RGB", (bw, bh), shade), (x, y))
        return out
    if kind == "crop":
        side = rng.uniform(0.25, 0.40)
        cw, ch = max(4, int(w * side)), max(4, int(h * side))
        x = rng.choice((0, w - cw))
        y = rng.choice((0, h - ch))
        return img.crop((x, y, x + cw, y + ch)).resize((w, h), Image.BICUBIC)
    raise ValueError(f"unknown degradation {kind!r}; choose one of {', '.join(KINDS)}")


def copy_tree_linked(src: Path, dst: Path) -> int:
    """Mirror ``src`` into ``dst``: images hard-linked (copied if linking fails), other files copied."""
    n = 0
    for path in sorted(src.rglob("*")):
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() in (".jpg", ".jpeg", ".png"):
            try:
                os.link(path, target)
            except OSError:
                shutil.copy2(path, target)
        else:
            shutil.copy2(path, target)
        n += 1
    return n


def make_degraded_copy(dataset: str, root: str | Path, out: str | Path, split: str, fraction: float,
                       seed: int = 0, progress: bool = True) -> dict:
    """Write the degraded copy; returns the report (also written as ``out/degraded.json``)."""
    root, out = Path(root).resolve(), Path(out).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    if out == root or root in out.parents or out in root.parents:
        raise ValueError(f"--out must be outside --root ({root}); the copy mirrors the whole folder")
    if not 0 < fraction < 1:
        raise ValueError(f"--fraction must be between 0 and 1, got {fraction}")
    bench = open_benchmark(dataset, root)
    ids = sorted(bench.split_images(split))
    if not ids:
        raise ValueError(f"split {split!r} of {root} lists no images")
    rng = random.Random(seed)
    chosen = sorted(rng.sample(ids, max(1, round(fraction * len(ids)))))
    report_file = out / REPORT_FILE
    if report_file.is_file():
        old = json.loads(report_file.read_text(encoding="utf-8"))
        if old.get("settings") == _settings(dataset, root, split, fraction, seed):
            return old  # complete already
        raise ValueError(f"{out} holds a degraded copy made with other settings; choose another --out or delete it")
    copy_tree_linked(root, out)
    copy = open_benchmark(dataset, out)
    degraded = {}
    for image_id in tqdm(chosen, desc="degrade", unit="img", disable=not progress, file=sys.stderr):
        kind = KINDS[len(degraded) % len(KINDS)]
        item_rng = random.Random(f"{seed}/{image_id}")
        path = copy.image_path(image_id)
        bad = degrade(load_image(path), kind, item_rng)
        fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
        # Replace the hard link by a new file: writing through it would change the original image too.
        write_atomic(path, lambda tmp, im=bad, f=fmt: im.save(tmp, format=f))
        degraded[image_id] = kind
    report = {"settings": _settings(dataset, root, split, fraction, seed), "split_images": len(ids),
              "degraded": degraded}
    write_json_atomic(report_file, report)
    return report


def _settings(dataset, root, split, fraction, seed) -> dict:
    return {"dataset": dataset, "root": str(root), "split": split, "fraction": fraction, "seed": seed}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep.degrade", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--dataset", required=True, choices=["fashioniq", "shoes"], help="layout of --root")
    p.add_argument("--root", required=True, help="benchmark folder in the published layout")
    p.add_argument("--out", required=True, help="folder for the degraded copy (outside --root)")
    p.add_argument("--split", default=None, help="split whose images may be degraded (default: val for "
                                                 "Fashion-IQ, test for Shoes: the evaluation galleries)")
    p.add_argument("--fraction", type=float, default=0.05, help="share of that split's images to degrade")
    p.add_argument("--seed", type=int, default=0, help="which images, and how")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    split = args.split or ("val" if args.dataset == "fashioniq" else "test")
    try:
        report = make_degraded_copy(args.dataset, args.root, args.out, split, args.fraction, args.seed,
                                    args.progress)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    kinds = {k: sum(v == k for v in report["degraded"].values()) for k in KINDS}
    print(f"degraded {len(report['degraded'])} of {report['split_images']} {split} images "
          f"({', '.join(f'{n} {k}' for k, n in kinds.items())}); list in {Path(args.out) / REPORT_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
