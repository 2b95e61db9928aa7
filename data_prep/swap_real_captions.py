"""A copy of a generated catalogue whose vague captions are real annotators' vague captions.

    python -m data_prep.swap_real_captions --catalogue runs/adaptive/data --real ../shared/benchmarks \\
        --out runs/adaptive/data_realvague

The generator's vague captions come from our own taste words ("looks nicer", "is more stylish"), so a composer
that learned to give them to the image might only have learned those words. A vague caption says nothing about
the images, so one written for another pair is as valid for ours: this copy replaces the caption(s) of every
vague evaluation triplet (Fashion-IQ val and test, Shoes test) by captions that real annotators wrote and that
``data_prep.caption_kinds`` reads as vague ("is more formal", "is less revealing", "looks very similar"), drawn
at random from the real Fashion-IQ (two per triplet) and Shoes files. Everything else is the catalogue's own:
annotation files are rewritten, images are linked, not copied. ``caption_provenance.jsonl`` keeps every kind and
marks the swapped triplets with ``"real_caption": true``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path
from typing import Sequence

from data_prep.caption_kinds import classify_caption, read_fashioniq_pairs, read_shoes_captions
from data_prep.synth_writers import write_json_atomic, write_jsonl_atomic

EVAL_SPLITS = {"fashioniq": ("val", "test"), "shoes": ("test",)}


def real_vague_captions(real: Path) -> dict[str, list[str]]:
    """Non-empty real captions read as vague, per dataset, lower-cased and stripped as the generator writes them."""
    fiq = [c for pair in read_fashioniq_pairs(real / "fashioniq") for c in pair]
    shoes = read_shoes_captions(real / "shoes")
    pick = lambda captions: sorted({c.strip().lower() for c in captions if c.strip() and classify_caption(c) == "vague"})
    return {"fashioniq": pick(fiq), "shoes": pick(shoes)}


def _link(source: Path, dest: Path) -> None:
    """Link ``source`` at ``dest``; a folder is mirrored with linked files (readers that search a folder tree for
    image files do not follow linked folders)."""
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file():
                _link(path, dest / path.relative_to(source))
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink() or dest.exists():
        dest.unlink()
    os.symlink(os.path.abspath(source), dest)


def swap(catalogue: Path, real: Path, out: Path, seed: int = 0) -> dict[str, int]:
    """Write the copy; returns how many triplets were given real vague captions per dataset."""
    pools = real_vague_captions(real)
    rng = random.Random(seed)
    counts = {}
    for name in ("fashioniq", "shoes"):
        src, dst = catalogue / name, out / name
        if not (src / "caption_provenance.jsonl").is_file():
            raise FileNotFoundError(f"{src} has no caption_provenance.jsonl: not a catalogue of data_prep.synth")
        dst.mkdir(parents=True, exist_ok=True)
        for entry in src.iterdir():  # images and untouched annotation files are linked
            if entry.name not in ("captions", "relative_captions_shoes.json", "caption_provenance.jsonl"):
                _link(entry, dst / entry.name)
        rows = [json.loads(line) for line in (src / "caption_provenance.jsonl").read_text().splitlines()]
        swapped = 0
        for row in rows:
            if row.get("kind") == "vague" and row["split"] in EVAL_SPLITS[name]:
                n = len(row["captions"]) if name == "fashioniq" else 1
                new = rng.sample(pools[name], n)
                if name == "fashioniq":
                    row["captions"] = new
                else:
                    row["caption"] = new[0]
                row["real_caption"] = True
                swapped += 1
        counts[name] = swapped
        write_jsonl_atomic(dst / "caption_provenance.jsonl", rows)
        if name == "fashioniq":
            for path in sorted((src / "captions").glob("cap.*.json")):
                _, category, split, _ = path.name.split(".")
                triplets = json.loads(path.read_text())
                # The provenance lists each file's triplets in file order (test files have no target to match on).
                ordered = [r for r in rows if r["category"] == category and r["split"] == split]
                if [t["candidate"] for t in triplets] != [r["candidate"] for r in ordered]:
                    raise ValueError(f"{path} and caption_provenance.jsonl disagree: regenerate the catalogue")
                for t, r in zip(triplets, ordered):
                    t["captions"] = r["captions"]
                write_json_atomic(dst / "captions" / path.name, triplets, indent=4)
        else:
            write_json_atomic(dst / "relative_captions_shoes.json", [
                {"ImageName": r["target"], "ReferenceImageName": r["candidate"], "RelativeCaption": r["caption"]}
                for r in rows])
    return counts


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m data_prep.swap_real_captions",
                                description="Copy a generated catalogue with real annotators' vague captions in "
                                            "place of the generator's, on the evaluation splits.")
    p.add_argument("--catalogue", required=True, type=Path, help="output folder of python -m data_prep.synth")
    p.add_argument("--real", required=True, type=Path,
                   help="folder with the real fashioniq/ and shoes/ annotation files (e.g. ../shared/benchmarks)")
    p.add_argument("--out", required=True, type=Path, help="where to write the copy (images are linked)")
    p.add_argument("--seed", type=int, default=0, help="which real captions each triplet gets")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.out.resolve() == args.catalogue.resolve():
        print("error: --out must differ from --catalogue (the copy would overwrite its source)", file=sys.stderr)
        return 2
    try:
        counts = swap(args.catalogue, args.real, args.out, args.seed)
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}: real vague captions for {counts['fashioniq']} Fashion-IQ and {counts['shoes']} Shoes "
          "evaluation triplets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
