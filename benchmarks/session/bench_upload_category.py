"""The category an uploaded photo is searched in: how much of the top 10 is in the photo's own category.

    python -m benchmarks.session.bench_upload_category --checkpoint demo_model --catalogue-seed 7 \\
        --work runs/session --photos 400

The page and the API search the reference's category by default. A catalogue product knows its category; a
shopper's own photo does not, and the engine guesses it. This benchmark plays uploads on a generated catalogue
(``--catalogue-seed``; made and indexed under ``--work`` if absent, as ``bench_session`` does): ``--photos``
products per category (dress, shirt, toptee, and shoes over every shoe type) are taken as uploaded photos, each
with a shopper's request towards another product of its kind (``data_prep.shopper``, held-apart phrasings). The
composed query is searched over the whole catalogue (the photo itself left out) in the category each method
guesses, and the share of the top 10 in the photo's true category is reported (for shoes: its shoe type).

The catalogue is split into ``--folds`` folds; a photo of fold f is guessed by a category model fit on the other
folds (``cti_ir.index.category_model``: the photo is never in the data it was fit on, as an upload is not), and
by neighbours among every other product. Methods:

- ``all``: no category (every category searched; what the page did first);
- ``nearest``: the category of the closest other product (the engine's fallback for an index without a model);
- ``vote``: a vote of the 10 closest other products, each weighted by exp(similarity / 0.02);
- ``model``: the category model (the engine's default); ``model_sure`` reports it over the photos whose guess is
  not unsure (confidence at least ``UNSURE_BELOW``), with the share of photos that are.

Photos whose request names another category than their own (the page would search that one) are left out and
counted.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import numpy as np

from benchmarks.common import error, set_threads, write_report

GROUPS = ("dress", "shirt", "toptee", "shoes")
METHODS = ("all", "nearest", "vote", "model", "model_sure")
TOP = 10


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.session.bench_upload_category",
                                description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="demo_model", help="the model to search with (default: demo_model)")
    p.add_argument("--catalogue-seed", type=int, default=7,
                   help="seed of the generated catalogue searched (default 7: a seed no run was tuned on)")
    p.add_argument("--size", default="default", choices=("small", "default", "large"),
                   help="size of the generated catalogue (default: default, about 17,900 products)")
    p.add_argument("--work", default="runs/session", help="folder for the catalogue, its index and the report")
    p.add_argument("--photos", type=int, default=400, help="uploaded photos per category (default 400)")
    p.add_argument("--folds", type=int, default=5, help="folds of the catalogue for the category model (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the photos, folds and requests drawn (default 0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--out", default=None, help="report base path (default: WORK/upload_category_s<catalogue seed>)")
    return p


def guesses(gallery, photos: np.ndarray, folds: int, seed: int) -> dict[str, list]:
    """Per method, the guessed category of each photo (``model``: ``CategoryGuess`` objects)."""
    from cti_ir.index.category_model import fit_category_model

    vectors = gallery.vectors
    labels = [c[0] for c in gallery.index_categories]
    fold_of = np.random.default_rng(seed).permutation(len(vectors)) % folds
    out: dict[str, list] = {"nearest": [None] * len(photos), "vote": [None] * len(photos),
                            "model": [None] * len(photos)}
    for f in range(folds):
        rows = np.flatnonzero(fold_of[photos] == f)
        if not len(rows):
            continue
        train = np.flatnonzero(fold_of != f)
        model = fit_category_model(vectors[train], [{"categories": [labels[i]]} for i in train], seed=seed)
        for r, g in zip(rows, model.guess(vectors[photos[rows]])):
            out["model"][r] = g
    for r, photo in enumerate(photos):
        scores = vectors @ vectors[photo]
        scores[photo] = -np.inf
        near = np.argpartition(-scores, TOP)[:TOP]
        near = near[np.argsort(-scores[near])]
        out["nearest"][r] = labels[near[0]]
        votes: dict[str, float] = {}
        for i in near:
            votes[labels[i]] = votes.get(labels[i], 0.0) + float(np.exp((scores[i] - scores[near[0]]) / 0.02))
        out["vote"][r] = max(votes, key=votes.get)
    return out


def requests(gallery, photos: np.ndarray, seed: int) -> list[str]:
    """A shopper's first request from each photo towards a random other product of its kind (held-apart words)."""
    from data_prep.shopper import ShopperSession, heldout_phrasing

    rng = random.Random(seed)
    by_group = {g: np.flatnonzero(gallery.layout_category == g) for g in GROUPS}
    texts = []
    for photo in photos:
        pool = by_group[gallery.layout_category[photo]]
        target = int(rng.choice(list(pool[pool != photo])))
        session = ShopperSession(gallery.ids[target], gallery.ids[photo], gallery.products, rng, heldout_phrasing)
        texts.append(session.request())
    return texts


def measure(model, gallery, photos: np.ndarray, texts: list[str], guessed: dict[str, list]) -> dict:
    """Per group and method: the share of the top 10 in the photo's own category, and the guesses' accuracy."""
    import torch

    from cti_ir.index.category_intent import asked_category

    labels = np.array([c[0] for c in gallery.index_categories])
    categories = sorted(set(labels))
    with torch.no_grad():
        image = torch.from_numpy(gallery.vectors[photos])
        text = model.encode_texts(texts).float()
        query = model.compose(image, text).query.float().numpy()
    rows: dict[str, dict[str, list]] = {g: {m: [] for m in METHODS} for g in GROUPS}
    stats = {g: {"photos": 0, "asking_another": 0, "right": {m: 0 for m in METHODS[1:4]}, "sure": 0,
                 "sure_right": 0} for g in GROUPS}
    for r, photo in enumerate(photos):
        group, own = gallery.layout_category[photo], labels[photo]
        if asked_category(texts[r], categories, own) is not None:
            stats[group]["asking_another"] += 1
            continue
        stats[group]["photos"] += 1
        scores = gallery.vectors @ query[r]
        scores[photo] = -np.inf
        guess = guessed["model"][r]
        for method in METHODS:
            chosen = {"all": None, "model": guess.category, "model_sure": guess.category}.get(
                method, guessed[method][r] if method in guessed else None)
            if method == "model_sure" and guess.unsure:
                continue
            masked = scores if chosen is None else np.where(labels == chosen, scores, -np.inf)
            top = np.argpartition(-masked, TOP)[:TOP]
            rows[group][method].append(float(np.mean(labels[top] == own)))
        for method in ("nearest", "vote"):
            stats[group]["right"][method] += guessed[method][r] == own
        stats[group]["right"]["model"] += guess.category == own
        stats[group]["sure"] += not guess.unsure
        stats[group]["sure_right"] += (not guess.unsure) and guess.category == own
    out = {}
    for g in GROUPS:
        n = max(stats[g]["photos"], 1)
        out[g] = {"share": {m: 100 * float(np.mean(v)) if v else None for m, v in rows[g].items()},
                  "accuracy": {m: 100 * k / n for m, k in stats[g]["right"].items()},
                  "sure": 100 * stats[g]["sure"] / n,
                  "sure_accuracy": 100 * stats[g]["sure_right"] / max(stats[g]["sure"], 1),
                  "photos": stats[g]["photos"], "asking_another": stats[g]["asking_another"]}
    return out


def tables(result: dict) -> str:
    """Markdown: the share of the top 10 in the photo's category per method, and how often each guess is right."""
    s = result["settings"]
    lines = [(f"Catalogue seed {s['catalogue_seed']}, {s['photos']} photos per category, {s['folds']} folds, "
              f"seed {s['seed']}, top {TOP}, in %."), "",
             "| method | " + " | ".join(GROUPS) + " |", "|---|" + "---|" * len(GROUPS)]
    for m in METHODS:
        cells = [result["groups"][g]["share"][m] for g in GROUPS]
        lines.append(f"| {m} | " + " | ".join("-" if c is None else f"{c:.1f}" for c in cells) + " |")
    lines += ["", "| the guess is right | " + " | ".join(GROUPS) + " |", "|---|" + "---|" * len(GROUPS)]
    for m in ("nearest", "vote", "model"):
        lines.append(f"| {m} | " + " | ".join(f"{result['groups'][g]['accuracy'][m]:.1f}" for g in GROUPS) + " |")
    lines.append("| model, photos not unsure (share of photos) | " + " | ".join(
        f"{result['groups'][g]['sure_accuracy']:.1f} ({result['groups'][g]['sure']:.0f})" for g in GROUPS) + " |")
    photos = sum(result["groups"][g]["photos"] for g in GROUPS)
    sure = sum(result["groups"][g]["sure"] * result["groups"][g]["photos"] / 100 for g in GROUPS)
    right = sum(result["groups"][g]["sure_accuracy"] * result["groups"][g]["sure"] * result["groups"][g]["photos"]
                / 1e4 for g in GROUPS)
    summary = (f"Guesses not marked unsure (confidence at least {s['unsure_below']}): "
               f"{100 * sure / max(photos, 1):.1f} % of all {photos} photos, right {100 * right / max(sure, 1):.1f} % "
               f"of the time.")
    lines.append("| photos (left out: the request asks another category) | " + " | ".join(
        f"{result['groups'][g]['photos']} ({result['groups'][g]['asking_another']})" for g in GROUPS) + " |")
    return "\n".join(lines + ["", summary])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.photos < 1 or args.folds < 2:
        return error("--photos must be at least 1 and --folds at least 2")
    set_threads(args.threads)
    from benchmarks.session.gallery import ensure_catalogue, ensure_index, load_gallery
    from cti_ir.index.category_model import UNSURE_BELOW
    from cti_ir.model.checkpoint import load_checkpoint

    work = Path(args.work)
    catalogue = ensure_catalogue(work / f"data_s{args.catalogue_seed}", args.catalogue_seed, args.size)
    index = work / f"index_s{args.catalogue_seed}"
    ensure_index(Path(args.checkpoint), catalogue, index)
    gallery = load_gallery(index, catalogue)
    model = load_checkpoint(args.checkpoint)
    model.eval()
    rng = np.random.default_rng(args.seed)
    photos = np.concatenate([rng.choice(np.flatnonzero(gallery.layout_category == g),
                                        min(args.photos, int((gallery.layout_category == g).sum())), replace=False)
                             for g in GROUPS if (gallery.layout_category == g).any()])
    guessed = guesses(gallery, photos, args.folds, args.seed)
    groups = measure(model, gallery, photos, requests(gallery, photos, args.seed), guessed)
    settings = {"checkpoint": str(args.checkpoint), "fingerprint": model.fingerprint,
                "catalogue_seed": args.catalogue_seed, "size": args.size, "photos": args.photos,
                "folds": args.folds, "seed": args.seed, "unsure_below": UNSURE_BELOW}
    result = {"settings": settings, "groups": groups}
    write_report(Path(args.out or work / f"upload_category_s{args.catalogue_seed}"), result, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
