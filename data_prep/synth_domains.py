"""Several retrieval domains pooled together, each with its own images and its own granularity (multi-domain Grappa).

    python -m data_prep.synth_domains --out DIR [--seed 0] [--adapt-images 750] [--queries 150] [--gallery 450]

The data of the multi-domain label-free adaptation benchmark (``benchmarks/grappa/bench_multidomain.py``), the
setting Grappa (Almazán et al., ECCV 2022) makes its claim in: unlabeled images of several domains pooled into one
adaptation set, and per domain a retrieval task whose natural granularity is that domain's own. Four domains, from
fine to coarse:

- ``shoes``: a match is *the same product* (another photo of it); a third of the products are near-duplicates of
  another one (1-3 attributes changed) or copy its attributes exactly, so attributes alone do not solve it;
- ``tops`` (tops and tees): a match has the same *colour and pattern*;
- ``dresses``: a match has the same *shape* (sleeve length, fit, dress length), whatever its colour or pattern;
- ``scenes`` (open-domain drawings of one object kind, ``data_prep.synth_open_domain``): a match shows the same
  *kind of object* (star, car, tree, ...), whatever its colour, count, size, position or background.

Every garment and shoe photo is a view (``data_prep.synth_render``'s ``view_seed``: pose, scale, position, facing,
background, lighting, noise), so two photos of one product differ as two shots do. Writes, under DIR::

    adapt/<domain>/<item_id>_v<k>.jpg   the pooled unlabeled adaptation images (no item is also in eval)
    eval/<domain>/<item_id>_v<k>.jpg    the evaluation images
    items.jsonl                         one item per line: item_id, domain, split, label (what a match shares, as
                                        a string), query_files and gallery_files (eval; paths relative to DIR),
                                        files (adapt), and the item's attributes or scene
    domains_info.json                   seed, settings, counts per domain; written last, it marks DIR complete

Evaluation is within a domain: its query images against its gallery images. For ``shoes`` each evaluation product
gives its first photo as a query and its other photos to the gallery; for the other domains an evaluation item is
one photo, the first ``--queries`` items are the queries and the next ``--gallery`` the gallery. The same seed and
sizes give identical files whatever ``--workers`` is.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from data_prep.synth_attributes import mutate, sample_product
from data_prep.synth_open_domain import sample_scene
from data_prep.synth_writers import write_json_atomic, write_jsonl_atomic

FORMAT_VERSION = 1
INFO_FILE = "domains_info.json"
ITEMS_FILE = "items.jsonl"
SPLITS = ("adapt", "eval")
NEAR_DUPLICATE_SHARE = 0.3   # shoes: products that are a small change of an earlier product of the same split
LOOKALIKE_SHARE = 0.05       # shoes: products that copy an earlier product's attributes exactly


def _shape(attributes: dict) -> str:
    return f"{attributes['sleeve']}/{attributes['fit']}/{attributes['length']}"


def _colour_pattern(attributes: dict) -> str:
    return f"{attributes['color']}/{attributes['pattern']}"


#: Domain -> (granularity name, the fashion category it draws or None for scenes, label of an item's attributes).
#: The order is from fine to coarse; it is the order of every table.
DOMAINS: dict[str, tuple[str, str | None, Callable[[dict], str] | None]] = {
    "shoes": ("same product", "shoes", None),
    "tops": ("colour + pattern", "toptee", _colour_pattern),
    "dresses": ("shape", "dress", _shape),
    "scenes": ("object kind", None, None),
}


def _one_object_scene(rng: random.Random) -> dict:
    """A scene with one group of objects (its kind is the item's class): ``sample_scene`` without a second group."""
    scene = sample_scene(rng)
    return {"background": scene["background"], "groups": scene["groups"][:1]}


def _files(split: str, domain: str, item_id: str, n: int) -> list[str]:
    return [f"{split}/{domain}/{item_id}_v{k}.jpg" for k in range(n)]


def plan_shoes(seed: int, split: str, n_products: int, views: int) -> list[dict]:
    """Shoe products photographed ``views`` times; labelled by their product id (the fine domain)."""
    rng = random.Random(f"{seed}/domains/shoes/{split}")
    items: list[dict] = []
    for i in range(n_products):
        r = rng.random()
        if items and r < LOOKALIKE_SHARE:
            attributes = dict(rng.choice(items)["attributes"])
        elif items and r < LOOKALIKE_SHARE + NEAR_DUPLICATE_SHARE:
            attributes = mutate(rng.choice(items)["attributes"], rng)
        else:
            attributes = sample_product("shoes", rng)
        item_id = f"{split}-shoes-{i:05d}"
        files = _files(split, "shoes", item_id, views)
        items.append({"item_id": item_id, "domain": "shoes", "split": split, "label": item_id,
                      "attributes": attributes, "design_seed": rng.getrandbits(63),
                      "view_seeds": [rng.getrandbits(63) for _ in files], "files": files})
    return items


def plan_single(seed: int, split: str, domain: str, n_items: int) -> list[dict]:
    """One photo per item of a class-level domain (tops, dresses or scenes), labelled by its class."""
    _, category, label_of = DOMAINS[domain]
    rng = random.Random(f"{seed}/domains/{domain}/{split}")
    items = []
    for i in range(n_items):
        item_id = f"{split}-{domain}-{i:05d}"
        item = {"item_id": item_id, "domain": domain, "split": split, "files": _files(split, domain, item_id, 1)}
        if category is None:
            scene = _one_object_scene(rng)
            item.update(label=scene["groups"][0]["kind"], scene=scene, render_seed=rng.getrandbits(63))
        else:
            attributes = sample_product(category, rng)
            item.update(label=label_of(attributes), attributes=attributes, design_seed=rng.getrandbits(63),
                        view_seeds=[rng.getrandbits(63)])
        items.append(item)
    return items


def plan_domains(seed: int, adapt_images: int, queries: int, gallery: int, views: int,
                 domains: Sequence[str] = tuple(DOMAINS)) -> list[dict]:
    """Every item of both splits, with query and gallery files for the evaluation items.

    ``adapt_images`` is per domain (shoes: ``adapt_images // views`` products of ``views`` photos); ``queries``
    and ``gallery`` are the evaluation images per class-level domain; shoes get ``queries`` products, each one
    query photo and ``views - 1`` gallery photos. Each (domain, split) has its own generator, so changing one
    count does not reshuffle the others.
    """
    out = []
    for domain in domains:
        if domain == "shoes":
            adapt = plan_shoes(seed, "adapt", max(1, adapt_images // views), views)
            evaluation = plan_shoes(seed, "eval", queries, views)
            for item in evaluation:
                item["query_files"], item["gallery_files"] = item["files"][:1], item["files"][1:]
        else:
            adapt = plan_single(seed, "adapt", domain, adapt_images)
            evaluation = plan_single(seed, "eval", domain, queries + gallery)
            for i, item in enumerate(evaluation):
                item["query_files"], item["gallery_files"] = (item["files"], []) if i < queries else ([], item["files"])
        out += adapt + evaluation
    return out


def render_jobs(root: Path, items: Sequence[dict]) -> list[tuple]:
    """One ``data_prep.synth.render_all`` job per image."""
    jobs = []
    for item in items:
        if "scene" in item:
            jobs.append(("scene", item["scene"], item["render_seed"], str(root / item["files"][0])))
        else:
            jobs += [("view", {"attributes": item["attributes"], "view_seed": v}, item["design_seed"], str(root / f))
                     for v, f in zip(item["view_seeds"], item["files"])]
    return jobs


def public_item(item: dict) -> dict:
    """What items.jsonl keeps of a planned item (no render seeds)."""
    keys = ("item_id", "domain", "split", "label", "attributes", "scene", "files", "query_files", "gallery_files")
    return {k: item[k] for k in keys if k in item}


def _is_complete(out: Path, settings: dict) -> bool:
    try:
        info = json.loads((out / INFO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    n_files = sum(1 for split in SPLITS if (out / split).is_dir() for _ in (out / split).rglob("*.jpg"))
    return info.get("settings") == settings and n_files == info.get("images") and (out / ITEMS_FILE).is_file()


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(
        prog="python -m data_prep.synth_domains",
        description="Generate several retrieval domains (shoes by product, tops by colour and pattern, dresses by "
                    "shape, scenes by object kind): pooled unlabeled adaptation images and per-domain evaluation "
                    "queries and galleries (the multi-domain label-free adaptation benchmark's data).")
    p.add_argument("--out", required=True, type=Path,
                   help="output folder; adapt/, eval/, items.jsonl and domains_info.json are written inside it")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed and sizes give identical files")
    p.add_argument("--adapt-images", type=int, default=750,
                   help="unlabeled adaptation images per domain (shoes: this many // --views products)")
    p.add_argument("--queries", type=int, default=150,
                   help="evaluation queries per domain (shoes: evaluation products, one query photo each)")
    p.add_argument("--gallery", type=int, default=450,
                   help="evaluation gallery images per class-level domain (shoes: the queries' other photos)")
    p.add_argument("--views", type=int, default=3, help="photos per shoe product (at least 2)")
    p.add_argument("--domains", nargs="+", choices=tuple(DOMAINS), default=list(DOMAINS), help="domains to write")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="processes that render images (the output does not depend on it)")
    p.add_argument("--force", action="store_true", help="regenerate even if --out already holds this output")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Plan, render and write the domains unless DIR already holds them."""
    from data_prep.synth import render_all

    args = build_parser().parse_args(argv)
    if args.views < 2 or min(args.adapt_images, args.queries, args.gallery, args.workers) < 1:
        print("error: --views must be >= 2 and --adapt-images, --queries, --gallery, --workers >= 1", file=sys.stderr)
        return 2
    out: Path = args.out
    domains = [d for d in DOMAINS if d in args.domains]
    settings = {"format_version": FORMAT_VERSION, "seed": args.seed, "adapt_images": args.adapt_images,
                "queries": args.queries, "gallery": args.gallery, "views": args.views, "domains": domains}
    if not args.force and _is_complete(out, settings):
        print(f"{out} already holds these domains; nothing to do (use --force to regenerate)")
        return 0
    (out / INFO_FILE).unlink(missing_ok=True)  # first: an interrupted run never reads as complete
    for split in SPLITS:
        shutil.rmtree(out / split, ignore_errors=True)
    start = time.perf_counter()
    items = plan_domains(args.seed, args.adapt_images, args.queries, args.gallery, args.views, domains)
    jobs = render_jobs(out, items)
    for folder in sorted({os.path.dirname(j[3]) for j in jobs}):
        os.makedirs(folder, exist_ok=True)
    render_all(jobs, args.workers, progress=not args.quiet)
    write_jsonl_atomic(out / ITEMS_FILE, [public_item(i) for i in items])
    counts = {d: {"granularity": DOMAINS[d][0],
                  "adapt_images": sum(len(i["files"]) for i in items if i["domain"] == d and i["split"] == "adapt"),
                  "queries": sum(len(i.get("query_files", [])) for i in items if i["domain"] == d),
                  "gallery": sum(len(i.get("gallery_files", [])) for i in items if i["domain"] == d),
                  "labels": len({i["label"] for i in items if i["domain"] == d and i["split"] == "eval"})}
              for d in domains}
    elapsed = time.perf_counter() - start
    write_json_atomic(out / INFO_FILE, {"generator": "data_prep.synth_domains", "settings": settings,
                                        "counts": counts, "images": len(jobs), "elapsed_s": round(elapsed, 2)},
                      indent=2)
    print(f"wrote {len(jobs)} images of {len(domains)} domains to {out} in {elapsed:.1f} s "
          f"({sum(c['adapt_images'] for c in counts.values())} pooled adaptation images)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
