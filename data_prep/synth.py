"""Offline fashion catalogue generator: ``python -m data_prep.synth --out DIR [--seed N] [--size ...]``.

Writes, under DIR (layouts in docs/DESIGN.md):

- ``fashioniq/``: PNG product photos of dresses, shirts and tops, two-caption triplets and split pools in the
  exact Fashion-IQ layout, plus ``product_descriptions.jsonl`` and ``caption_provenance.jsonl``;
- ``shoes/``: JPEG shoe photos in the Attribute Discovery folders, one-caption triplets and name lists in the
  exact Shoes layout, plus the same two generator-only files;
- ``open_domain/``: a ``datasets`` imagefolder of captioned non-fashion scenes (stage-1 pre-training);
- ``synth_info.json``: seed, size, counts, timing. Written last, it marks the output as complete.

The same seed and size give byte-identical annotation files and identical images, whatever ``--workers`` is:
everything random is planned in this process (:mod:`data_prep.synth_catalogue`), and each image is drawn
from its own seed by whichever worker gets it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from tqdm import tqdm

from data_prep.phrasing.catalogue import PHRASING_MODES, phrasing_share
from data_prep.synth_attributes import GARMENT_CATEGORIES, SHOE_CATEGORY
from data_prep.synth_caption_kinds import parse_caption_mix
from data_prep.synth_catalogue import (
    FASHIONIQ_SPLITS,
    OPEN_DOMAIN_SPLITS,
    SHOES_SPLITS,
    SIZES,
    Dataset,
    Scene,
    expected_image_count,
    plan_fashioniq,
    plan_open_domain,
    plan_shoes,
)
from data_prep.synth_open_domain import render_scene
from data_prep.synth_render import render_product, save_image
from data_prep.synth_writers import write_fashioniq, write_json_atomic, write_open_domain, write_shoes

# Bump when the output format or the generator's drawing changes, so old outputs are not taken as complete.
FORMAT_VERSION = 1
OUTPUT_PARTS = ("fashioniq", "shoes", "open_domain")
NO_PHRASING = {"mode": "none", "share": 0.0}  # what outputs written before --phrasing existed have
INFO_FILE = "synth_info.json"
_CHUNK = 64  # render jobs per worker task: large enough to amortise pickling, small enough for a smooth bar

# A render job: ("product" | "scene" | "view", attributes or scene dict, render seed, absolute output path).
# A "view" job's dict is {"attributes": ..., "view_seed": ...}: another photo of a product (data_prep.synth_views).
Job = tuple[str, dict, int, str]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.synth",
        description="Generate an offline synthetic fashion catalogue (Fashion-IQ and Shoes layouts, with "
                    "relative, partial, absolute, vague and mistaken captions) and an open-domain image-caption set.",
    )
    parser.add_argument("--out", required=True, type=Path,
                        help="output folder; fashioniq/, shoes/, open_domain/ and synth_info.json are written "
                             "inside it (other contents of the folder are left alone)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; the same seed and size reproduce identical files (default: 0)")
    parser.add_argument("--size", choices=tuple(SIZES), default="default",
                        help="how much to generate. small: 120/40/40 triplets per Fashion-IQ category, 200/60 "
                             "Shoes triplets, 300+60 open-domain images (seconds, for tests); default: "
                             "1500/400/400, 2000/500, 3000+600; large: 6000/2000/2000, 9000/1800, 20000+4000 "
                             "(about 100,000 images). Default: default")
    parser.add_argument("--caption-mix", default="mixed", metavar="MIX",
                        help="caption kinds of the triplets: 'mixed' (default: 50%% relative, 20%% partial, 15%% "
                             "absolute, 10%% vague, 5%% with an annotator's mistake), 'real' (closer to the shares "
                             "measured on the real files, README), 'relative' (relative captions only: reproduces "
                             "the catalogue of earlier versions byte for byte), or shares such as "
                             "'relative=0.6,vague=0.4'. Images, pairs and pools do not depend on it; "
                             "caption_provenance.jsonl records each triplet's kind")
    parser.add_argument("--phrasing", choices=PHRASING_MODES, default="none",
                        help="rewrite relative captions in a shopper's everyday styles (imperatives, wishes, 'X "
                             "instead of Y', negation, comparatives, terse, polite, questions, misspellings, "
                             "synonyms): 'train' rewrites a share of every split's with the training phrasings; "
                             "'heldout' rewrites the evaluation splits' with the held-apart phrasings, which no "
                             "training split ever gets (data_prep/phrasing). Default: none (the captions of earlier "
                             "versions)")
    parser.add_argument("--phrasing-share", type=float, default=None, metavar="SHARE",
                        help="share of the relative captions --phrasing rewrites (default: 0.5 for train, 1 for "
                             "heldout)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="processes that render images (default: the number of CPUs); the output does not "
                             "depend on it")
    parser.add_argument("--force", action="store_true",
                        help="regenerate even if --out already holds a complete output for this seed and size")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be >= 1")
    try:
        args.caption_mix = parse_caption_mix(args.caption_mix)
        args.phrasing_share = phrasing_share(args.phrasing, args.phrasing_share)
    except ValueError as e:
        parser.error(str(e))
    return args


def _count_files(folder: Path, suffix: str) -> int:
    return sum(1 for p in folder.rglob(f"*{suffix}") if p.is_file()) if folder.is_dir() else 0


def _image_counts(out: Path) -> dict[str, int]:
    """Images present on disk per part, to tell a complete output from an interrupted one."""
    return {
        "fashioniq": _count_files(out / "fashioniq" / "images", ".png"),
        "shoes": _count_files(out / "shoes", ".jpg"),
        "open_domain": _count_files(out / "open_domain", ".png"),
    }


def is_complete(out: Path, seed: int, size: str, caption_mix: dict[str, float] | None = None,
                phrasing: dict | None = None) -> bool:
    """True if ``out`` holds a finished output for this seed and size (info file, annotation files, all images)
    and, when ``caption_mix`` is given, this caption mix (outputs written before caption mixes existed are
    relative-only). Without ``caption_mix`` any mix will do: the images and products do not depend on it.
    ``phrasing`` ({"mode", "share"}, as synth_info.json records it) is checked the same way."""
    try:
        info = json.loads((out / INFO_FILE).read_text())
    except (OSError, ValueError):
        return False
    if (info.get("format_version"), info.get("seed"), info.get("size")) != (FORMAT_VERSION, seed, size):
        return False
    if caption_mix is not None and info.get("caption_mix", {"relative": 1.0}) != caption_mix:
        return False
    if phrasing is not None and info.get("phrasing", NO_PHRASING) != phrasing:
        return False
    if not all((out / rel).is_file() for rel in info.get("annotation_files", [])):
        return False
    return _image_counts(out) == info.get("images")


def clean_output(out: Path) -> None:
    """Remove what this generator writes (and only that) from ``out``."""
    (out / INFO_FILE).unlink(missing_ok=True)  # first, so a crash below still reads as incomplete
    for part in OUTPUT_PARTS:
        if (out / part).exists():
            shutil.rmtree(out / part)


def render_jobs(jobs: Sequence[Job]) -> int:
    """Render and save a batch of jobs (runs in worker processes); returns how many were done."""
    for kind, payload, seed, path in jobs:
        if kind == "product":
            img = render_product(payload, seed)
        elif kind == "view":
            img = render_product(payload["attributes"], seed, payload["view_seed"])
        else:
            img = render_scene(payload, seed)
        save_image(img, path)
    return len(jobs)


def render_all(jobs: Sequence[Job], workers: int, progress: bool = True) -> None:
    """Render every job, in ``workers`` processes when > 1, with a tqdm progress bar."""
    chunks = [jobs[i:i + _CHUNK] for i in range(0, len(jobs), _CHUNK)]
    with tqdm(total=len(jobs), unit="img", desc="rendering", disable=not progress, file=sys.stderr) as bar:
        if workers <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                bar.update(render_jobs(chunk))
            return
        with multiprocessing.get_context().Pool(min(workers, len(chunks))) as pool:
            for done in pool.imap_unordered(render_jobs, chunks):
                bar.update(done)


def build_jobs(out: Path, fiq: Dataset, shoes: Dataset, scenes: Sequence[Scene]) -> list[Job]:
    """One render job per planned image, with its absolute output path."""
    fiq_root, shoes_root, open_root = (out / p for p in OUTPUT_PARTS)
    jobs: list[Job] = []
    for root, data in ((fiq_root, fiq), (shoes_root, shoes)):
        jobs += [("product", p.attributes, p.render_seed, str(root / p.file_name)) for p in data.products]
    jobs += [("scene", s.scene, s.render_seed, str(open_root / s.split / s.file_name)) for s in scenes]
    return jobs


def count_outputs(fiq: Dataset, shoes: Dataset, scenes: Sequence[Scene]) -> dict:
    """Triplets and pool images per dataset, category and split (recorded in synth_info.json)."""
    return {
        "fashioniq": {
            cat: {split: {"triplets": sum(1 for t in fiq.triplets if t.category == cat and t.split == split),
                          "images": len(fiq.pools[(cat, split)])}
                  for split in FASHIONIQ_SPLITS}
            for cat in GARMENT_CATEGORIES
        },
        "shoes": {split: {"triplets": sum(1 for t in shoes.triplets if t.split == split),
                          "images": len(shoes.pools[(SHOE_CATEGORY, split)])} for split in SHOES_SPLITS},
        "open_domain": {split: sum(1 for s in scenes if s.split == split) for split in OPEN_DOMAIN_SPLITS},
    }


def count_kinds(fiq: Dataset, shoes: Dataset) -> dict:
    """Triplets per caption kind, dataset and split (all relative in a relative-only catalogue)."""
    out: dict = {}
    for name, data in (("fashioniq", fiq), ("shoes", shoes)):
        for t in data.triplets:
            per_split = out.setdefault(name, {}).setdefault(t.split, {})
            kind = t.kind or "relative"
            per_split[kind] = per_split.get(kind, 0) + 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit status."""
    args = parse_args(argv)
    out: Path = args.out
    phrasing = {"mode": args.phrasing, "share": args.phrasing_share}
    if not args.force and is_complete(out, args.seed, args.size, args.caption_mix, phrasing):
        print(f"{out} already holds a complete --size {args.size} --seed {args.seed} output with this caption mix "
              f"and phrasing; nothing to do (use --force to regenerate)")
        return 0
    if (out / INFO_FILE).exists() or any((out / p).exists() for p in OUTPUT_PARTS):
        print(f"removing previous or incomplete output in {out}")
    clean_output(out)

    start = time.perf_counter()
    spec = SIZES[args.size]
    fiq = plan_fashioniq(args.seed, spec, args.caption_mix, args.phrasing, args.phrasing_share)
    shoes = plan_shoes(args.seed, spec, args.caption_mix, args.phrasing, args.phrasing_share)
    scenes = plan_open_domain(args.seed, spec)
    jobs = build_jobs(out, fiq, shoes, scenes)
    if len(jobs) != expected_image_count(spec):  # the sizes in --help rely on this formula
        raise RuntimeError(f"planned {len(jobs)} images, expected {expected_image_count(spec)}")
    for folder in sorted({os.path.dirname(j[3]) for j in jobs}):
        os.makedirs(folder, exist_ok=True)
    fiq_root, shoes_root, open_root = (out / p for p in OUTPUT_PARTS)
    annotation_files = write_fashioniq(fiq_root, fiq) + write_shoes(shoes_root, shoes)
    annotation_files += write_open_domain(open_root, scenes)

    render_start = time.perf_counter()
    render_all(jobs, args.workers, progress=not args.quiet)
    end = time.perf_counter()
    elapsed, render_s = end - start, end - render_start

    images = {"fashioniq": len(fiq.products), "shoes": len(shoes.products), "open_domain": len(scenes)}
    total = len(jobs)
    info = {
        "generator": "data_prep.synth",
        "format_version": FORMAT_VERSION,
        "seed": args.seed,
        "size": args.size,
        "caption_mix": args.caption_mix,
        "phrasing": phrasing,
        "workers": args.workers,
        "counts": count_outputs(fiq, shoes, scenes),
        "caption_kinds": count_kinds(fiq, shoes),
        "images": images,
        "images_total": total,
        "annotation_files": sorted(str(p.relative_to(out)) for p in annotation_files),
        "elapsed_s": round(elapsed, 3),
        "render_s": round(render_s, 3),
        "images_per_s": round(total / elapsed, 1),
    }
    write_json_atomic(out / INFO_FILE, info, indent=2)  # last: marks the output complete
    print(f"wrote {total} images ({images['fashioniq']} Fashion-IQ, {images['shoes']} Shoes, "
          f"{images['open_domain']} open-domain) to {out} in {elapsed:.1f} s: {total / elapsed:.1f} images/s "
          f"({total / render_s:.1f} images/s while rendering, {args.workers} workers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
