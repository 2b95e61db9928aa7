"""An index as it is served, shown photos of another catalogue: is an upload searched in its own category?

    python -m benchmarks.session.bench_served_upload_category --index ~/.cache/cti-ir/demo/index-default \\
        --checkpoint demo_model --catalogue-seed 7 --work runs/session

``bench_upload_category`` fits each guesser on folds of one catalogue. This benchmark asks the served question
instead: an index built and fit as a shop builds it (for instance the demo's, on the catalogue of seed 0) receives
uploads drawn from a catalogue generated with another seed (``--catalogue-seed``; made under ``--work`` if absent),
photos it has never seen, each searched through ``SearchEngine.search`` with the page's default category ("auto")
and a request that names no category (``--text``). Reported per group (dress, shirt, toptee, shoes): how often the
category searched is the photo's own (for shoes, its shoe type), the share of the top 10 in it, and how many
guesses were marked unsure.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from benchmarks.common import error, set_threads, write_report

GROUPS = ("dress", "shirt", "toptee", "shoes")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.session.bench_served_upload_category",
                                description=__doc__.split("\n")[0])
    p.add_argument("--index", required=True, help="the served index folder (e.g. the demo's)")
    p.add_argument("--checkpoint", default="demo_model", help="the checkpoint the index was built with")
    p.add_argument("--catalogue-seed", type=int, default=7,
                   help="seed of the catalogue the uploads come from (default 7; not the index's own)")
    p.add_argument("--size", default="default", choices=("small", "default", "large"),
                   help="size of that catalogue (default: default)")
    p.add_argument("--work", default="runs/session", help="folder for that catalogue and the report")
    p.add_argument("--photos", type=int, default=300, help="uploads per group (default 300)")
    p.add_argument("--text", default="in another colour",
                   help="the request sent with each upload; it must name no category (default: 'in another colour')")
    p.add_argument("--seed", type=int, default=0, help="seed of the photos drawn (default 0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--out", default=None, help="report base path (default: WORK/served_upload_category_s<seed>)")
    return p


def uploads(catalogue: Path, photos: int, seed: int) -> dict[str, list[tuple[Path, str]]]:
    """Per group, ``photos`` (file, own category) drawn from the catalogue (shoes: the shoe type, as indexed)."""
    rng = random.Random(seed)
    out = {}
    for layout in ("fashioniq", "shoes"):
        rows = [json.loads(line) for line in (catalogue / layout / "product_descriptions.jsonl").open()]
        for group in (GROUPS[:3] if layout == "fashioniq" else ("shoes",)):
            pool = [r for r in rows if r["category"] == group]
            chosen = rng.sample(pool, min(photos, len(pool)))
            out[group] = [(catalogue / layout / r["file_name"],
                           r["file_name"].split("/")[0].removeprefix("womens_") if layout == "shoes" else group)
                          for r in chosen]
    return out


def measure(engine, drawn: dict[str, list[tuple[Path, str]]], text: str) -> dict:
    """Per group: guess right %, top-10 share in the photo's own category %, unsure %, photos."""
    from PIL import Image

    out = {}
    for group, photos in drawn.items():
        right, share, unsure = [], [], []
        for path, own in photos:
            with Image.open(path) as image:
                result = engine.search(image=image.convert("RGB"), text=text, k=10, category="auto")
            right.append(result.category == own)
            share.append(np.mean([h.categories[0] == own for h in result.hits]) if result.hits else 0.0)
            unsure.append(bool(result.category_guess and result.category_guess.unsure))
        out[group] = {"right": 100 * float(np.mean(right)), "share": 100 * float(np.mean(share)),
                      "unsure": 100 * float(np.mean(unsure)), "photos": len(photos)}
    return out


def tables(result: dict) -> str:
    """Markdown: per group, the guess and the top 10 as served."""
    s = result["settings"]
    lines = [f"Index {s['index']} (photo category model: {s['guesser']}), uploads from the catalogue of seed "
             f"{s['catalogue_seed']}, request \"{s['text']}\", in %.", "",
             "| | " + " | ".join(GROUPS) + " |", "|---|" + "---|" * len(GROUPS)]
    for key, name in (("right", "searched in the photo's own category"), ("share", "top 10 in that category"),
                      ("unsure", "guesses marked unsure")):
        lines.append(f"| {name} | " + " | ".join(f"{result['groups'][g][key]:.1f}" for g in GROUPS) + " |")
    lines.append("| photos | " + " | ".join(str(result["groups"][g]["photos"]) for g in GROUPS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.photos < 1:
        return error("--photos must be at least 1")
    if not (Path(args.index) / "index_info.json").is_file():
        return error(f"--index {args.index} is not an index folder (build one with python -m cti_ir.index build)")
    set_threads(args.threads)
    from benchmarks.session.gallery import ensure_catalogue
    from cti_ir.index.category_intent import asked_category
    from cti_ir.serve.engine import SearchEngine
    from cti_ir.serve.session_search import photo_category_model_of

    engine = SearchEngine(args.checkpoint, args.index)
    if asked_category(args.text, engine.categories, None) is not None:
        return error(f"--text {args.text!r} names a category; give a request that names none")
    catalogue = ensure_catalogue(Path(args.work) / f"data_s{args.catalogue_seed}", args.catalogue_seed, args.size)
    groups = measure(engine, uploads(catalogue, args.photos, args.seed), args.text)
    photo_model = photo_category_model_of(engine.index)
    settings = {"index": str(args.index), "checkpoint": str(args.checkpoint), "catalogue_seed": args.catalogue_seed,
                "size": args.size, "photos": args.photos, "text": args.text, "seed": args.seed,
                "guesser": "none (the linear model)" if photo_model is None else
                f"{photo_model.info.get('steps')} steps on {photo_model.info.get('fit_photos')} photos"}
    out = Path(args.out or Path(args.work) / f"served_upload_category_s{args.catalogue_seed}")
    write_report(out, {"settings": settings, "groups": groups}, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
