"""Check a Fashion-IQ or Shoes folder before training or evaluating on it.

    python -m data_prep.check --dataset fashioniq --root /data/fashioniq [--annotations-only] [--json]

Prints the counts of the evaluation protocol (triplets, queries, gallery images, split pools per split and category;
compare them with the published ones) and, unless --annotations-only, which images are missing or do not decode.
When images are missing it prints the reduced protocol: per split, queries kept / published and gallery images
kept / published (and training triplets kept / published), which is what `--skip-missing` evaluates on. A split
whose annotation files are absent (e.g. a set with no test split) is reported as absent; the rest is checked.
Exit code: 0 all good, 1 images missing or unreadable, 2 bad arguments or a folder that is not the dataset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from cti_ir.data import Benchmark, DatasetLayoutError, FashionIQ, MissingImagesError, open_benchmark
from cti_ir.model.images import DEFAULT_MAX_PIXELS

_PROTOCOL_TEXT = {
    ("fashioniq", "standard"): "one query per val triplet (both captions joined), gallery = all images of "
                               "split.<cat>.val.json",
    ("fashioniq", "val"): "one query per non-empty val caption, gallery = unique images of the val triplets (VAL)",
    ("shoes", "standard"): "one query per test triplet, gallery = all images of eval_im_names.txt",
}


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also what --help prints)."""
    p = argparse.ArgumentParser(
        prog="python -m data_prep.check",
        description="Check a Fashion-IQ or Shoes dataset folder: print the evaluation-protocol counts per split and "
                    "category, and report missing or unreadable images.",
        epilog="Exit code: 0 all good; 1 images missing or unreadable; 2 bad arguments or the folder does not look "
               "like the dataset.",
    )
    p.add_argument("--dataset", required=True, choices=["fashioniq", "shoes"],
                   help="which benchmark the folder holds")
    p.add_argument("--root", required=True,
                   help="dataset folder: Fashion-IQ with captions/, image_splits/, images/; Shoes with "
                        "relative_captions_shoes.json and the *_im_names.txt lists in ROOT or ROOT/dataset/ and the "
                        "images anywhere below ROOT")
    p.add_argument("--protocol", choices=["standard", "val"], default="standard",
                   help="evaluation protocol whose counts are printed: 'standard' (CLIP4Cir & most papers: one query "
                        "per triplet, full split gallery) or 'val' (Fashion-IQ only, Chen et al. 2020: one query per "
                        "caption, gallery = images of the val triplets). Default: standard")
    p.add_argument("--annotations-only", action="store_true",
                   help="only read the annotation files and print the counts; do not look for images")
    p.add_argument("--no-decode", action="store_true",
                   help="only check that image files exist, do not decode them (much faster)")
    p.add_argument("--json", action="store_true",
                   help="print exactly one JSON object on stdout instead of tables (progress bars go to stderr)")
    p.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1),
                   help="threads decoding images (default: number of CPUs, at most 8)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"images with more pixels count as unreadable (default {DEFAULT_MAX_PIXELS:,})")
    return p


def collect_counts(ds: Benchmark, protocol: str) -> dict:
    """Protocol counts of ``ds`` as a JSON-friendly dict (no image access).

    A split whose annotation files are absent (a shop's or a lab's own set often has no test split) is reported as
    absent, with the files that are missing, and the other splits are counted as usual.
    """
    rows = []
    for split in ds.SPLITS:
        for cat in ds.categories:
            missing = ds.missing_annotation_files(split, cat)
            if missing:
                rows.append({"split": split, "category": cat, "absent": True,
                             "missing_files": [str(p) for p in missing]})
                continue
            trips = ds.triplets(split, cat)
            rows.append({
                "split": split,
                "category": cat,
                "absent": False,
                "triplets": len(trips),
                "labelled": all(t.target is not None for t in trips),
                "split_images": len(ds.split_images(split, cat)),
                "triplet_images": len({i for t in trips for i in (t.reference, t.target) if i is not None}),
            })
    present = [(r["split"], r["category"]) for r in rows if not r["absent"]]
    eval_cats = [c for s, c in present if s == ds.eval_split]
    out = {
        "dataset": ds.name,
        "root": str(ds.root),
        "protocol": protocol,
        "splits": rows,
        "absent_splits": sorted({r["split"] for r in rows if r["absent"]}, key=ds.SPLITS.index),
        "unique_split_images": len({i for s, c in present for i in ds.split_images(s, c)}),
        "eval": None,
    }
    if eval_cats:
        evals = _eval_splits(ds, protocol, eval_cats)
        out["eval"] = {
            "split": ds.eval_split,
            "protocol": protocol,
            "description": _PROTOCOL_TEXT[(ds.name, protocol)],
            "categories": [{"category": e.name, "queries": len(e.queries), "gallery": len(e.gallery)} for e in evals],
            "total_queries": sum(len(e.queries) for e in evals),
            "total_gallery": sum(len(e.gallery) for e in evals),
        }
    if isinstance(ds, FashionIQ):
        out["empty_captions"] = {
            s: sum(1 for c in ds.categories if (s, c) in present for t in ds.triplets(s, c) for x in t.captions
                   if not x.strip())
            for s in ds.SPLITS if any(p[0] == s for p in present)
        }
    else:
        out["all_triplets"] = len(ds.all_triplets())
        out["reference_equals_target"] = sum(t.reference == t.target for t in ds.all_triplets())
    return out


def _eval_splits(ds: Benchmark, protocol: str, categories: Sequence[str]) -> list:
    """The published protocol's `EvalSplit`s of the categories whose eval-split files are present."""
    if isinstance(ds, FashionIQ) and tuple(categories) != ds.categories:
        ds = FashionIQ(ds.root, categories=categories)
    return ds.eval_splits(protocol=protocol, check=False)


def check_all_images(ds: Benchmark, protocol: str, decode: bool, workers: int, max_pixels: int,
                     counts: dict) -> dict:
    """Look for (and with ``decode``, decode) every image the annotations name; summarise what is wrong.

    ``counts`` is `collect_counts`' result: absent splits are skipped.
    """
    present = [(r["split"], r["category"]) for r in counts["splits"] if not r["absent"]]
    ids: list[str] = []
    for split, cat in present:
        ids.extend(ds.split_images(split, cat))
        for t in ds.triplets(split, cat):
            ids.append(t.reference)
            if t.target is not None:
                ids.append(t.target)
    try:
        report = ds.check_images(ids, verify=decode, progress=True, workers=workers, max_pixels=max_pixels)
    except MissingImagesError as exc:  # not skip_missing=True: that would also log a "skipping" warning
        report = exc.report
    out = report.to_dict()
    out["ok"] = report.ok
    out["hint"] = ds.missing_images_hint() if report.missing else ""
    bad = report.bad
    evals = _eval_splits(ds, protocol, [c for s, c in present if s == ds.eval_split]) if counts["eval"] else []
    # What evaluation with skip_missing=True would lose, per category.
    out["eval_impact"] = [
        {
            "category": e.name,
            "queries_dropped": sum(q.reference in bad or q.target in bad for q in e.queries),
            "gallery_dropped": sum(g in bad for g in e.gallery),
        }
        for e in evals
    ]
    out["reduced_protocol"] = reduced_protocol(ds, present, evals, bad)
    return out


def reduced_protocol(ds: Benchmark, present: Sequence[tuple[str, str]], evals: list, bad: set[str]) -> dict:
    """What is left of the protocol when the images in ``bad`` are left out, against what the files define.

    "Published" counts come from the annotation files alone (the protocol with every image present); "kept" counts
    are what `cti_ir.evaluate.evaluator --skip-missing` and training with ``--skip-missing`` actually use.
    """
    eval_rows = []
    for e in evals:
        eval_rows.append({
            "split": ds.eval_split, "category": e.name,
            "queries_kept": sum(q.reference not in bad and q.target not in bad for q in e.queries),
            "queries_published": len(e.queries),
            "gallery_kept": sum(g not in bad for g in e.gallery),
            "gallery_published": len(e.gallery),
        })
    triplet_rows = []
    for split, cat in present:
        trips = ds.triplets(split, cat)
        triplet_rows.append({
            "split": split, "category": cat, "published": len(trips),
            "kept": sum(t.reference not in bad and (t.target is None or t.target not in bad) for t in trips),
        })
    reduced = any(r["queries_kept"] < r["queries_published"] or r["gallery_kept"] < r["gallery_published"]
                  for r in eval_rows) or any(r["kept"] < r["published"] for r in triplet_rows)
    return {"reduced": reduced, "eval": eval_rows, "triplets": triplet_rows}


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  " + "  ".join(cells).rstrip())
    return "\n".join(lines)


def render_text(result: dict) -> str:
    """Human-readable report of `main`'s result dict."""
    out = [f"{result['dataset']} at {result['root']}", "", "Annotations per split and category:"]
    rows = [["split", "category", "triplets", "split images", "images in triplets", "targets"]]
    for r in result["splits"]:
        if r["absent"]:
            rows.append([r["split"], r["category"], "absent", "", "", ""])
            continue
        rows.append([r["split"], r["category"], f"{r['triplets']:,}", f"{r['split_images']:,}",
                     f"{r['triplet_images']:,}", "yes" if r["labelled"] else "hidden"])
    out += [_table(rows), f"  unique images over all split lists: {result['unique_split_images']:,}"]
    absent = [r for r in result["splits"] if r["absent"]]
    if absent:
        names = sorted({Path(f).name for r in absent for f in r["missing_files"]})
        out.append("  absent (annotation files missing, not checked): "
                   + ", ".join(f"{r['category']}/{r['split']}" for r in absent)
                   + f" ({', '.join(names[:3])}{' ...' if len(names) > 3 else ''} not found); the other splits "
                     "train and evaluate as usual")
    if "empty_captions" in result:
        out.append("  empty captions: " + ", ".join(f"{k} {v}" for k, v in result["empty_captions"].items()))
    if "all_triplets" in result:
        out.append(f"  triplets in relative_captions_shoes.json: {result['all_triplets']:,} "
                   f"({result['reference_equals_target']} with reference == target)")
    ev = result["eval"]
    if ev is None:
        out += ["", "Evaluation: no evaluation split (its annotation files are absent)"]
    else:
        out += ["", f"Evaluation on {ev['split']}, {ev['protocol']} protocol: {ev['description']}"]
        rows = [["category", "", "queries", "gallery images"]]
        for c in ev["categories"]:
            rows.append([c["category"], "", f"{c['queries']:,}", f"{c['gallery']:,}"])
        if len(ev["categories"]) > 1:
            rows.append(["total", "", f"{ev['total_queries']:,}", f"{ev['total_gallery']:,}"])
        out.append(_table(rows))
    img = result["images"]
    out.append("")
    if img is None:
        out.append("Images: not checked (--annotations-only)")
    else:
        how = "decoded" if img["verified"] else "existence only"
        out.append(f"Images: {img['checked']:,} checked ({how}): {img['missing']:,} missing, "
                   f"{img['unreadable']:,} unreadable")
        if img["hint"]:
            out.append(f"  note: {img['hint']}")
        if img["missing"]:
            out.append("  missing: " + ", ".join(img["missing_examples"])
                       + (" ..." if img["missing"] > len(img["missing_examples"]) else ""))
        for u in img["unreadable_examples"]:
            out.append(f"  unreadable: {u['file']}: {u['reason']}")
        if img["reduced_protocol"]["reduced"]:
            out += ["", *render_reduced_protocol(img["reduced_protocol"])]
    out.append("")
    out.append("OK" if result["ok"] else "PROBLEMS FOUND (exit code 1)")
    return "\n".join(out)


def render_reduced_protocol(rp: dict) -> list[str]:
    """The kept / published table of a reduced protocol, with the warning that goes with it."""
    out = ["REDUCED PROTOCOL: without the missing or unreadable images (what --skip-missing uses), kept / published:"]
    rows = [["split", "category", "queries", "gallery images"]]
    for r in rp["eval"]:
        rows.append([r["split"], r["category"], f"{r['queries_kept']:,} / {r['queries_published']:,}",
                     f"{r['gallery_kept']:,} / {r['gallery_published']:,}"])
    out.append(_table(rows))
    rows = [["split", "category", "triplets", ""]]
    for r in rp["triplets"]:
        rows.append([r["split"], r["category"], f"{r['kept']:,} / {r['published']:,}", ""])
    out.append(_table(rows))
    out.append("  Recall on a reduced set is not comparable with published numbers: report it with these counts "
               "(README, Real data)")
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the check; returns the exit code (0 ok, 1 images missing/unreadable, 2 bad folder)."""
    args = build_parser().parse_args(argv)
    try:
        if args.dataset == "shoes" and args.protocol != "standard":
            raise ValueError("Shoes has only the standard protocol; drop --protocol or use --protocol standard")
        ds = open_benchmark(args.dataset, args.root)
        result = collect_counts(ds, args.protocol)
    except (DatasetLayoutError, ValueError, OSError) as exc:
        msg = f"error: {exc}"
        if args.json:
            print(json.dumps({"ok": False, "error": str(exc)}))
        print(msg, file=sys.stderr)
        return 2
    if args.annotations_only:
        result["images"] = None
    else:
        result["images"] = check_all_images(ds, args.protocol, not args.no_decode, max(1, args.workers),
                                            args.max_pixels, result)
    result["ok"] = result["images"] is None or result["images"]["ok"]
    if args.json:
        print(json.dumps(result))
    else:
        print(render_text(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
