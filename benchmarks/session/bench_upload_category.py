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
- ``model``: the linear category model on the photo's vector (the engine's fallback); ``model_sure`` reports it
  over the photos whose guess is not unsure (confidence at least ``UNSURE_BELOW``), with the share of photos
  that are;
- ``photo``: the photo category model (``cti_ir.index.photo_category_model``: a small network on the photo's own
  pixels, the engine's default where the index has one), fit per fold exactly as an index fits it on its photos
  (``--photo-steps``; 0 leaves it out); ``photo_sure`` as ``model_sure``.

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
METHODS = ("all", "nearest", "vote", "model", "model_sure", "photo", "photo_sure")
GUESSERS = ("nearest", "vote", "model", "photo")
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
    p.add_argument("--photo-steps", type=int, default=None,
                   help="training steps of each fold's photo category model (default: as an index fits it; 0: "
                        "leave the photo category model out)")
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


def photo_guesses(model, gallery, photos: np.ndarray, folds: int, seed: int, steps: int | None,
                  linear: list) -> tuple[list, float]:
    """The photo category model's guess of each photo, fit per fold on the other folds' photos as an index fits
    it on its own (``cti_ir.index.photo_category_fit``), and the fits' CPU seconds. As in the engine, a fold whose
    network was not fit on every category (too few photos of one) answers with the ``linear`` model's guesses."""
    import time

    from cti_ir.index.photo_category_fit import load_thumbnails
    from cti_ir.index.photo_category_model import fit_photo_category_model, fit_plan

    pixel_side, thumbs, readable = load_thumbnails(model, gallery.paths)
    if len(readable) != len(gallery.paths):
        raise ValueError(f"{len(gallery.paths) - len(readable)} catalogue photos could not be read")
    fold_of = np.random.default_rng(seed).permutation(len(gallery.vectors)) % folds
    out: list = [None] * len(photos)
    seconds = 0.0
    for f in range(folds):
        rows = np.flatnonzero(fold_of[photos] == f)
        if not len(rows):
            continue
        train = np.flatnonzero(fold_of != f)
        items = [{"categories": gallery.index_categories[i][:1], "path": gallery.paths[i]} for i in train]
        plan = fit_plan(items, seed)
        if plan is None or set(plan[0]) != {c[0] for c in gallery.index_categories}:
            for r in rows:
                out[r] = linear[r]
            continue
        categories, chosen, labels = plan
        start = time.process_time()
        fitted = fit_photo_category_model(thumbs[train[chosen]], labels, categories, pixel_side, steps=steps,
                                          seed=seed)
        seconds += time.process_time() - start
        for r, g in zip(rows, fitted.guess(thumbs[photos[rows]])):
            out[r] = g
    return out, seconds


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
    stats = {g: {"photos": 0, "asking_another": 0, "right": {m: 0 for m in GUESSERS if guessed.get(m) is not None},
                 "sure": {"model": 0, "photo": 0}, "sure_right": {"model": 0, "photo": 0}} for g in GROUPS}
    for r, photo in enumerate(photos):
        group, own = gallery.layout_category[photo], labels[photo]
        if asked_category(texts[r], categories, own) is not None:
            stats[group]["asking_another"] += 1
            continue
        stats[group]["photos"] += 1
        scores = gallery.vectors @ query[r]
        scores[photo] = -np.inf
        for method in METHODS:
            if method.startswith(("model", "photo")):
                guess = guessed.get(method.split("_")[0])
                if guess is None or (method.endswith("_sure") and guess[r].unsure):
                    continue
                chosen = guess[r].category
            else:
                chosen = None if method == "all" else guessed[method][r]
            masked = scores if chosen is None else np.where(labels == chosen, scores, -np.inf)
            top = np.argpartition(-masked, TOP)[:TOP]
            rows[group][method].append(float(np.mean(labels[top] == own)))
        for method in GUESSERS:
            if guessed.get(method) is None:
                continue
            guess = guessed[method][r]
            stats[group]["right"][method] += (guess if isinstance(guess, str) else guess.category) == own
            if method in ("model", "photo"):
                stats[group]["sure"][method] += not guess.unsure
                stats[group]["sure_right"][method] += (not guess.unsure) and guess.category == own
    out = {}
    for g in GROUPS:
        n = max(stats[g]["photos"], 1)
        out[g] = {"share": {m: 100 * float(np.mean(v)) if v else None for m, v in rows[g].items()},
                  "accuracy": {m: 100 * k / n for m, k in stats[g]["right"].items()},
                  "sure": {m: 100 * k / n for m, k in stats[g]["sure"].items()},
                  "sure_accuracy": {m: 100 * stats[g]["sure_right"][m] / max(k, 1)
                                    for m, k in stats[g]["sure"].items()},
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
    shown = [m for m in GUESSERS if m in result["groups"][GROUPS[0]]["accuracy"]]
    for m in shown:
        lines.append(f"| {m} | " + " | ".join(f"{result['groups'][g]['accuracy'][m]:.1f}" for g in GROUPS) + " |")
    summary = []
    for m in (m for m in ("model", "photo") if m in shown):
        groups = [result["groups"][g] for g in GROUPS]
        lines.append(f"| {m}, photos not unsure (share of photos) | " + " | ".join(
            f"{c['sure_accuracy'][m]:.1f} ({c['sure'][m]:.0f})" for c in groups) + " |")
        photos = sum(c["photos"] for c in groups)
        sure = sum(c["sure"][m] * c["photos"] / 100 for c in groups)
        right = sum(c["sure_accuracy"][m] * c["sure"][m] * c["photos"] / 1e4 for c in groups)
        summary.append(f"{m}: guesses not marked unsure (confidence at least {s['unsure_below']}): "
                       f"{100 * sure / max(photos, 1):.1f} % of all {photos} photos, right "
                       f"{100 * right / max(sure, 1):.1f} % of the time.")
    lines.append("| photos (left out: the request asks another category) | " + " | ".join(
        f"{result['groups'][g]['photos']} ({result['groups'][g]['asking_another']})" for g in GROUPS) + " |")
    if result.get("photo_fit_cpu_s") is not None:
        summary.append(f"The photo category model's {s['folds']} fits took {result['photo_fit_cpu_s']:.0f} CPU s "
                       f"in all.")
    return "\n".join(lines + [""] + summary)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.photos < 1 or args.folds < 2 or (args.photo_steps is not None and args.photo_steps < 0):
        return error("--photos must be at least 1, --folds at least 2 and --photo-steps at least 0")
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
    fit_seconds = None
    if args.photo_steps != 0:
        guessed["photo"], fit_seconds = photo_guesses(model, gallery, photos, args.folds, args.seed,
                                                      args.photo_steps, guessed["model"])
    groups = measure(model, gallery, photos, requests(gallery, photos, args.seed), guessed)
    settings = {"checkpoint": str(args.checkpoint), "fingerprint": model.fingerprint,
                "catalogue_seed": args.catalogue_seed, "size": args.size, "photos": args.photos,
                "folds": args.folds, "seed": args.seed, "unsure_below": UNSURE_BELOW,
                "photo_steps": args.photo_steps}
    result = {"settings": settings, "groups": groups, "photo_fit_cpu_s": fit_seconds}
    write_report(Path(args.out or work / f"upload_category_s{args.catalogue_seed}"), result, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
