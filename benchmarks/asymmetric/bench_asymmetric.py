"""Asymmetric search benchmark: a light query model against galleries embedded by heavier models and ensembles.

    python -m benchmarks.asymmetric.bench_asymmetric --work runs/asym --data runs/bench/data --query demo_model \
        --seeds 0 1 2

On the generated catalogue (Fashion-IQ val and Shoes test layouts, the standard protocol, the accuracy table's
evaluator), with the query model fixed (default: the demo model, trained on that catalogue):

1. trains three gallery models that differ the way the paper's do (architecture, width/depth, training data and
   seed) with our own stage CLIs, and for each its own stage 3, to use it symmetrically (the accuracy ceiling of
   that model, at its own query cost);
2. trains, per seed, one transformation per gallery model into the query model's space (``training.fit_embedding_map``,
   unlabeled training-split images), plus the two alternatives the paper reports beating: transformations trained
   jointly on their averaged embedding, and one transformation of the concatenated embeddings;
3. scores every gallery: the query model's own (symmetric), each gallery model through its transformation, every
   ensemble of N = 2 and 3, the alternatives, and N transformations of one gallery model (diversity of the
   transformation only);
4. degrades 5% of the evaluation images (``data_prep.degrade``) and measures rejection by the ensemble's uncertainty
   against random rejection: precision, Recall@K at 0/2/5/10% rejected, and a risk-coverage plot;
5. measures each row's query-side cost (parameters, ms per composed query on one thread) and gallery-side cost
   (images/s).

Every step is resumable: finished runs are skipped, embeddings are cached. Results: WORK/RESULTS.json and .md.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from training.common import HelpWithDefaults

from benchmarks.asymmetric.asymmetric_eval import (QuerySide, overall, plot_risk_coverage, rejection_curve,
                                                   rejection_precision)
from benchmarks.asymmetric.common import DATASETS, GALLERY_MODELS, add_setup_args, averaged, embeddings, eval_items
from benchmarks.common import run_cli, write_report

REJECT_FRACTIONS = (0.0, 0.02, 0.05, 0.10)
CURVE_FRACTIONS = tuple(round(0.01 * k, 2) for k in range(0, 31, 2))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.asymmetric.bench_asymmetric", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    add_setup_args(p)
    p.add_argument("--gallery-models", nargs="*", default=list(GALLERY_MODELS), choices=list(GALLERY_MODELS),
                   help="which gallery models to train and use")
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2], help="transformation seeds")
    p.add_argument("--no-symmetric-gallery", dest="symmetric_gallery", action="store_false",
                   help="skip the stage-3 runs that use each gallery model symmetrically (the costliest part)")
    p.add_argument("--symmetric-gallery-models", nargs="*", choices=list(GALLERY_MODELS), default=None,
                   help="which gallery models get a symmetric row (their own stage 3; default: all of "
                        "--gallery-models)")
    p.add_argument("--stage3-epochs", type=int, default=5, help="stage-3 epochs of the symmetric gallery rows "
                                                                  "(the query model's own budget)")
    p.add_argument("--map-epochs", type=int, default=40, help="epochs of each transformation")
    p.add_argument("--no-task-aware", dest="task_aware", action="store_false",
                   help="skip the transformations that also fit the training triplets' composed queries (ours)")
    p.add_argument("--degrade-fraction", type=float, default=0.05, help="share of evaluation images degraded")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (timings are per thread)")
    p.add_argument("--quick", action="store_true",
                   help="one epoch per training run: checks the whole script in minutes (the numbers mean nothing)")
    p.add_argument("--results", default="asymmetric", help="results go to WORK/RESULTS.json and WORK/RESULTS.md")
    p.add_argument("--plot", default="docs/asymmetric_risk_coverage.png", help="risk-coverage plot (PNG)")
    return p


def symmetric_gallery_models(args) -> list[str]:
    """The gallery models that get a symmetric row (and so a stage-3 run of their own)."""
    if not args.symmetric_gallery:
        return []
    chosen = args.gallery_models if args.symmetric_gallery_models is None else args.symmetric_gallery_models
    return [n for n in chosen if n in args.gallery_models]


def train_gallery_models(args, data: Path, runs: Path) -> dict[str, Path]:
    """Step 1: each gallery model's stage 1 and 2 (and its own stage 3 for a symmetric row); their best folders."""
    from training import stage1, stage2, stage3

    common = ["--batch-size", "64", "--no-progress", "--resume", "--threads", str(args.threads)]
    corpora = ["--corpus", str(data / "fashioniq" / "product_descriptions.jsonl"),
               "--corpus", str(data / "shoes" / "product_descriptions.jsonl")]
    out = {}
    for name in args.gallery_models:
        config, stages = GALLERY_MODELS[name]
        init = ["--model", config]
        for stage, epochs, seed in stages:
            run = runs / f"g_{name}_{'s1' if stage == 'stage1' else 's2'}"
            if stage == "stage1":
                argv = ["--data", str(data / "open_domain")]
                module = stage1
            else:
                argv = list(corpora)
                module = stage2
            run_cli(module, [*argv, "--epochs", str(1 if args.quick else epochs), *init, "--seed", str(seed), *common, "--out", str(run)],
                    run / "last" / "cti_config.json")
            init = ["--init", str(run / "best")]
        out[name] = runs / f"g_{name}_s2" / "best"
        if name in symmetric_gallery_models(args):
            run = runs / f"s3_g_{name}"
            run_cli(stage3, ["--data", f"fashioniq={data / 'fashioniq'}", "--data", f"shoes={data / 'shoes'}",
                             "--init", str(out[name]), "--composer", "adaptive", "--epochs", str(1 if args.quick else args.stage3_epochs),
                             "--lr", "3e-4", "--seed", "0", *common, "--out", str(run)],
                    run / "last" / "cti_config.json")
    return out


def train_transforms(args, data: Path, runs: Path, cache: Path, galleries: dict[str, Path]) -> dict:
    """Step 2, the embedding maps into the query model's space. Their folders:
    {("single", name, seed) | ("task", name, seed) | ("joint", seed) | ("concat", seed): [folders]}."""
    import training.fit_embedding_map.trainer as fit_map

    base = ["--query", args.query, "--data", f"fashioniq={data / 'fashioniq'}", "--data", f"shoes={data / 'shoes'}",
            "--cache", str(cache), "--epochs", str(2 if args.quick else args.map_epochs), "--no-progress", "--resume",
            "--threads", str(args.threads)]
    all_galleries = [a for name in galleries for a in ("--gallery", str(galleries[name]))]
    out: dict = {}
    triplets = ["--triplets", f"fashioniq={data / 'fashioniq'}", "--triplets", f"shoes={data / 'shoes'}"]
    for seed in args.seeds:
        for name, ckpt in galleries.items():
            run = runs / f"compat_{name}_seed{seed}"
            run_cli(fit_map, [*base, "--gallery", str(ckpt), "--seed", str(seed), "--out", str(run)],
                    run / "last" / "transform_config.json")
            out[("single", name, seed)] = [run / "best"]
            if args.task_aware:
                run = runs / f"compat_task_{name}_seed{seed}"
                run_cli(fit_map, [*base, *triplets, "--gallery", str(ckpt), "--seed", str(seed), "--out", str(run)],
                        run / "last" / "transform_config.json")
                out[("task", name, seed)] = [run / "best"]
        if len(galleries) > 1:
            members = "+".join(galleries)  # the run depends on which gallery models it joins
            run = runs / f"compat_joint_{members}_seed{seed}"
            run_cli(fit_map, [*base, *all_galleries, "--mode", "joint-average", "--seed", str(seed), "--out", str(run)],
                    run / "last" / "member-0" / "transform_config.json")
            out[("joint", seed)] = [run / "best" / f"member-{k}" for k in range(len(galleries))]
            run = runs / f"compat_concat_{members}_seed{seed}"
            run_cli(fit_map, [*base, *all_galleries, "--mode", "concat", "--seed", str(seed), "--out", str(run)],
                    run / "last" / "transform_config.json")
            out[("concat", seed)] = [run / "best"]
    return out


def caught_by_kind(uncertainty: dict[str, float], pool: Sequence[str], kinds: dict[str, str],
                   fraction: float) -> dict[str, dict]:
    """Per kind of damage: how many of the pool's degraded images are among its ``fraction`` most uncertain."""
    n = max(1, int(round(fraction * len(pool))))
    top = set(sorted(pool, key=lambda i: -uncertainty[i])[:n])
    out: dict[str, dict] = {}
    for image_id, kind in kinds.items():
        if image_id in uncertainty:
            c = out.setdefault(kind, {"degraded": 0, "rejected": 0})
            c["degraded"] += 1
            c["rejected"] += image_id in top
    return out


def mean_std(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (0 for one value) and the values."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": list(values)}


# ------------------------------------------------------------------------------------------------ costs
def query_cost(model, image, text: str, repeats: int = 30) -> dict:
    """Query-side parameters and median ms per composed query (preprocess + both encoders + compose)."""
    with torch.no_grad():
        def once():
            pixels = model.preprocess(image).unsqueeze(0)
            return model.compose(model.encode_images(pixels), model.encode_texts([text])).query

        once()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            once()
            times.append(1000 * (time.perf_counter() - t0))
    visual = sum(p.numel() for p in model.backbone.visual.parameters())
    total = sum(p.numel() for p in model.backbone.parameters()) + sum(p.numel() for p in model.composer.parameters())
    return {"ms_per_query": statistics.median(times), "image_tower_params": visual, "query_side_params": total}


def gallery_rate(models, images, repeats: int = 3) -> float:
    """Images per second of embedding ``images`` with every model of ``models`` (an ensemble pays all of them)."""
    total = 0.0
    with torch.no_grad():
        for m in models:
            pixels = torch.stack([m.preprocess(im) for im in images])
            m.encode_images(pixels[:8])
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                m.encode_images(pixels)
                times.append(time.perf_counter() - t0)
            total += statistics.median(times)
    return len(images) / total


# ------------------------------------------------------------------------------------------------ scoring
@dataclass
class Scorer:
    """The query model's composed queries of both layouts, scoring any gallery; and ensembles of embedding maps."""

    sides: dict[str, QuerySide]
    fps: dict[str, str]  # gallery model name -> fingerprint, how a map names the models it reads

    def score(self, vectors_by_ds: dict[str, dict], rejected_by_ds: dict[str, set] | None = None) -> dict:
        """Overall and per-layout scores of a gallery given as vectors by image id, some images rejected."""
        res = {ds: self.sides[ds].score(vectors_by_ds[ds], (rejected_by_ds or {}).get(ds, set())) for ds in DATASETS}
        return {"overall": overall(res), **{ds: r["score"] for ds, r in res.items()},
                "details": {ds: {"average": r["average"], "coverage": r["coverage"]} for ds, r in res.items()}}

    def ensemble(self, folders_list: Sequence[Path], source: dict[str, dict]) -> tuple[dict, dict]:
        """The averaged gallery vectors of these maps over ``source``'s embeddings and, for two maps or more, each
        image's uncertainty (their disagreement), per layout."""
        vecs, unc = {}, {}
        for ds in DATASETS:
            vecs[ds], t, ids = averaged(folders_list, source[ds], self.fps)
            if t.shape[0] > 1:
                from cti_ir.asymmetric.ensemble import pairwise_uncertainty

                u = pairwise_uncertainty(t).numpy()
                unc[ds] = {i: float(u[k]) for k, i in enumerate(ids)}
        return vecs, unc


def degrade_catalogue(args, data: Path, degraded_root: Path) -> dict[str, dict[str, str]]:
    """Step 4's data: a copy of each layout with ``--degrade-fraction`` of its evaluation images damaged;
    {layout: {image id: kind of damage}}."""
    from data_prep.degrade import make_degraded_copy

    degraded = {}
    for ds in DATASETS:
        report = make_degraded_copy(ds, data / ds, degraded_root / ds, "val" if ds == "fashioniq" else "test",
                                    args.degrade_fraction, seed=0, progress=False)
        degraded[ds] = dict(report["degraded"])  # image id -> kind of damage
    return degraded


def embed_all(query, models: dict, data: Path, degraded_root: Path, cache: Path) -> dict[str, dict]:
    """Every evaluation image embedded by the query model and each gallery model, clean and degraded (cached)."""
    vectors: dict[str, dict] = {"query": {}, "gallery": {}, "query_degraded": {}, "gallery_degraded": {}}
    for ds in DATASETS:
        items, items_deg = eval_items(data, ds), eval_items(degraded_root, ds)
        vectors["query"][ds] = embeddings(query, items, cache, f"query {ds}")
        vectors["query_degraded"][ds] = embeddings(query, items_deg, cache, f"query {ds} degraded")
        vectors["gallery"][ds] = {n: embeddings(m, items, cache, f"{n} {ds}") for n, m in models.items()}
        vectors["gallery_degraded"][ds] = {n: embeddings(m, items_deg, cache, f"{n} {ds} degraded")
                                           for n, m in models.items()}
    return vectors


def score_rows(args, scorer: Scorer, transforms: dict, names: list[str], runs: Path,
               q_vec: dict, g_vec: dict) -> dict[str, dict]:
    """Step 3: every gallery side's scores per seed, and their mean and spread."""
    rows: dict[str, dict] = {}
    rows["symmetric query model"] = {"kind": "symmetric", "members": [], "runs": [scorer.score(q_vec)]}
    for name in symmetric_gallery_models(args):
        metrics = json.loads((runs / f"s3_g_{name}" / "best" / "metrics.json").read_text())
        rows[f"{name} symmetric (own stage 3)"] = {
            "kind": "gallery-symmetric", "members": [name],
            "runs": [{"overall": metrics["score"], "fashioniq": metrics["fashioniq_score"],
                      "shoes": metrics["shoes_score"]}]}

    def seeds_of(folders_of) -> list[dict]:
        return [scorer.score(scorer.ensemble(folders_of(s), g_vec)[0]) for s in args.seeds]

    for n in range(1, len(names) + 1):
        for combo in itertools.combinations(names, n):
            label = f"asymmetric {'+'.join(combo)}" if n > 1 else f"asymmetric {combo[0]}"
            rows[label] = {"kind": f"asymmetric N={n}", "members": list(combo),
                           "runs": seeds_of(lambda s, combo=combo: [transforms[("single", c, s)][0] for c in combo])}
    if len(names) > 1:
        rows[f"alternative: joint-average training, N={len(names)}"] = {
            "kind": "alternative", "members": names, "runs": seeds_of(lambda s: transforms[("joint", s)])}
        rows[f"alternative: concatenation, N={len(names)}"] = {
            "kind": "alternative", "members": names, "runs": seeds_of(lambda s: transforms[("concat", s)])}
    if args.task_aware:  # ours: transformations that also fit the composed queries of the training triplets
        for n in range(1, len(names) + 1):
            for combo in itertools.combinations(names, n):
                if 1 < n < len(names):
                    continue
                rows[f"task-aware asymmetric {'+'.join(combo)}"] = {
                    "kind": f"task-aware N={n}", "members": list(combo),
                    "runs": seeds_of(lambda s, combo=combo: [transforms[("task", c, s)][0] for c in combo])}
    for name in names:  # diversity of the transformation only (the paper's D-T)
        if len(args.seeds) > 1:
            rows[f"{name} x {len(args.seeds)} transformation seeds"] = {
                "kind": "D-T", "members": [name] * len(args.seeds),
                "runs": [scorer.score(scorer.ensemble([transforms[("single", name, s)][0] for s in args.seeds],
                                                      g_vec)[0])]}
    for row in rows.values():
        row["summary"] = {k: mean_std([r[k] for r in row["runs"]]) for k in ("overall", "fashioniq", "shoes")}
    return rows


def rejection_study(args, scorer: Scorer, transforms: dict, names: list[str], degraded: dict[str, dict],
                    q_deg: dict, g_deg: dict) -> dict:
    """Step 4: rejection on the degraded catalogue by the full ensemble's uncertainty, per seed, against random."""
    sides = scorer.sides
    rejection: dict = {"fractions": list(REJECT_FRACTIONS), "seeds": {}}
    sym_deg = scorer.score(q_deg)
    for s in args.seeds:
        vecs, unc = scorer.ensemble([transforms[("single", c, s)][0] for c in names], g_deg)
        pool_unc = {ds: {i: unc[ds][i] for i in sides[ds].gallery_ids()} for ds in DATASETS}
        precision = {ds: rejection_precision(pool_unc[ds], set(degraded[ds]), args.degrade_fraction)
                     for ds in DATASETS}
        table = rejection_curve(sides, vecs, pool_unc, REJECT_FRACTIONS, seed=s)
        curve = rejection_curve(sides, vecs, pool_unc, CURVE_FRACTIONS, seed=s) if s == args.seeds[0] else None
        rejection["seeds"][s] = {"precision": precision, "table": table, "curve": curve}
    # Which damage the ensemble catches (first seed), and how well transformation diversity alone (D-T: one
    # gallery model, one transformation per seed) ranks the same bad photos.
    _, unc = scorer.ensemble([transforms[("single", c, args.seeds[0])][0] for c in names], g_deg)
    rejection["caught_by_kind"] = {ds: caught_by_kind(unc[ds], sides[ds].gallery_ids(), degraded[ds],
                                                      args.degrade_fraction) for ds in DATASETS}
    if len(args.seeds) > 1:
        rejection["dt_precision"] = {}
        for name in names:
            _, unc = scorer.ensemble([transforms[("single", name, s)][0] for s in args.seeds], g_deg)
            rejection["dt_precision"][name] = {
                ds: rejection_precision({i: unc[ds][i] for i in sides[ds].gallery_ids()}, set(degraded[ds]),
                                        args.degrade_fraction) for ds in DATASETS}
    first = rejection["seeds"][args.seeds[0]]
    plot_risk_coverage(first["curve"], args.plot,
                       f"degraded catalogue ({100 * args.degrade_fraction:.0f}% bad photos), ensemble N={len(names)}")
    rejection["symmetric_on_degraded"] = sym_deg
    return rejection


def measure_costs(query, models: dict, data: Path, runs: Path) -> dict:
    """Step 5: each row's query-side and gallery-side cost, measured here in the same process and load."""
    import cti_ir
    from cti_ir.model.images import load_image

    sample = eval_items(data, "fashioniq")[:128]
    images = [load_image(it.path) for it in sample]
    costs = {"query model": {**query_cost(query, images[0], "is red and has long sleeves"),
                             "gallery_images_per_s": gallery_rate([query], images)}}
    for name, m in models.items():
        # The gallery model as a query model: its towers and a composer of the query model's kind (a stage-2
        # checkpoint carries an untrained one: the cost is the same, trained or not).
        own = runs / f"s3_g_{name}" / "last"
        qc = query_cost(cti_ir.load(own) if own.is_dir() else m, images[0], "is red and has long sleeves")
        costs[name] = {**qc, "gallery_images_per_s": gallery_rate([m], images),
                       "image_tower_params": sum(p.numel() for p in m.backbone.visual.parameters())}
    costs["ensemble (all gallery models)"] = {"gallery_images_per_s": gallery_rate(list(models.values()), images)}
    return costs


# ------------------------------------------------------------------------------------------------ main
def main(argv: Sequence[str] | None = None) -> int:
    """Train what is missing, then score, study rejection and measure costs; write WORK/RESULTS.json and .md."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    import cti_ir

    work, data = Path(args.work), Path(args.data)
    runs, cache = work / "runs", work / "cache"
    galleries = train_gallery_models(args, data, runs)
    transforms = train_transforms(args, data, runs, cache, galleries)

    query = cti_ir.load(args.query)
    models = {name: cti_ir.load(path) for name, path in galleries.items()}
    fps = {name: m.fingerprint for name, m in models.items()}
    degraded_root = work / "degraded"
    degraded = degrade_catalogue(args, data, degraded_root)
    vectors = embed_all(query, models, data, degraded_root, cache)
    # queries: clean reference photos
    scorer = Scorer({ds: QuerySide(query, ds, data / ds, vectors["query"][ds]) for ds in DATASETS}, fps)
    names = list(galleries)
    rows = score_rows(args, scorer, transforms, names, runs, vectors["query"], vectors["gallery"])
    rejection = rejection_study(args, scorer, transforms, names, degraded, vectors["query_degraded"],
                                vectors["gallery_degraded"])
    costs = measure_costs(query, models, data, runs)

    result = {"meta": {"data": str(data), "query": args.query, "seeds": args.seeds, "gallery_models": {
        n: {"config": GALLERY_MODELS[n][0], "stages": GALLERY_MODELS[n][1], "checkpoint": str(galleries[n]),
            "fingerprint": fps[n]} for n in names}, "threads": args.threads, "compat_epochs": args.map_epochs},
        "rows": rows, "rejection": rejection, "costs": costs}
    write_report(work / args.results, result, format_tables)
    return 0


def format_tables(result: dict) -> str:
    """The results as Markdown: the gallery sides, the rejection study, the costs."""
    costs = result["costs"]
    qc = costs["query model"]
    lines = ["| gallery side | FIQ score | Shoes score | overall | query-side cost | gallery images/s |",
             "|---|---|---|---|---|---|"]
    for label, row in result["rows"].items():
        s = row["summary"]
        cell = lambda k: f"{s[k]['mean']:.2f}" + (f" ± {s[k]['std']:.2f}" if len(row["runs"]) > 1 else "")
        if row["kind"] == "gallery-symmetric":
            c = costs[row["members"][0]]
            qcost = f"{c.get('ms_per_query', float('nan')):.1f} ms, {c.get('query_side_params', 0) / 1e6:.1f}M"
            rate = f"{c['gallery_images_per_s']:.0f}"
        else:
            qcost = f"{qc['ms_per_query']:.1f} ms, {qc['query_side_params'] / 1e6:.1f}M"
            members = row["members"]
            rate = f"{costs['query model']['gallery_images_per_s']:.0f}" if not members else \
                f"{1 / sum(1 / costs[m]['gallery_images_per_s'] for m in set(members)):.0f}"  # each model runs once
        lines.append(f"| {label} | {cell('fashioniq')} | {cell('shoes')} | {cell('overall')} | {qcost} | {rate} |")
    rej = result["rejection"]
    lines += ["", "Rejection on the degraded catalogue (precision = share of degraded images among the rejected):", "",
              "| seed | FIQ precision | Shoes precision | random | " + " | ".join(
                  f"overall at {100 * f:.0f}% (unc / random)" for f in rej["fractions"]) + " |",
              "|---" * (4 + len(rej["fractions"])) + "|"]
    for seed, r in rej["seeds"].items():
        p = r["precision"]
        cells = [f"{u['overall']:.2f} / {v['overall']:.2f}" for u, v in zip(r["table"]["uncertainty"],
                                                                          r["table"]["random"])]
        lines.append(f"| {seed} | {p['fashioniq']['precision']:.2f} | {p['shoes']['precision']:.2f} | "
                     f"{p['fashioniq']['random_precision']:.2f} | " + " | ".join(cells) + " |")
    lines.append(f"\nsymmetric query model on the degraded catalogue: overall {rej['symmetric_on_degraded']['overall']:.2f}")
    if "caught_by_kind" in rej:
        lines += ["", "Degraded images among the most uncertain, by kind of damage (first seed, FIQ + Shoes): " + ", ".join(
            f"{kind} {sum(r.get(kind, {}).get('rejected', 0) for r in rej['caught_by_kind'].values())}/"
            f"{sum(r.get(kind, {}).get('degraded', 0) for r in rej['caught_by_kind'].values())}"
            for kind in sorted({k for r in rej["caught_by_kind"].values() for k in r}))]
    for name, p in rej.get("dt_precision", {}).items():
        lines.append(f"D-T ({name}, one transformation per seed): precision FIQ {p['fashioniq']['precision']:.2f}, "
                     f"Shoes {p['shoes']['precision']:.2f}")
    lines += ["", "| model | image-tower params | ms per composed query (1 thread) | gallery images/s |",
              "|---|---|---|---|"]
    for name, c in costs.items():
        ms = f"{c['ms_per_query']:.1f}" if "ms_per_query" in c else ""
        params = f"{c['image_tower_params'] / 1e6:.2f}M" if "image_tower_params" in c else ""
        lines.append(f"| {name} | {params} | {ms} | {c['gallery_images_per_s']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
