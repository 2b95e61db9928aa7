"""Side-by-side accuracy benchmark: the full progressive model, its ablations and the baselines.

    python -m benchmarks.accuracy.bench_accuracy --work runs/bench --size default

Every variant uses the same generated catalogue, the same backbone config, the same stage-3 budget (epochs, batch
size, learning rate, seed) and the same evaluator (standard protocol; Fashion-IQ val and Shoes test layouts).
Stage-1 and stage-2 checkpoints are shared between the variants that start from them. Each run is resumable:
a run whose result file exists is skipped, a killed one continues where it stopped.

Variants (stage 3 always trains on Fashion-IQ + Shoes triplets together):

    full              stage 1 -> stage 2 (retrieval + attribute words) -> stage 3, adaptive weighting
    no-stage1         stage 2 from scratch -> stage 3 adaptive
    no-stage2         stage 1 -> stage 3 adaptive
    no-attribute-task stage 1 -> stage 2 (retrieval only) -> stage 3 adaptive
    no-ss-weighting   as full, but the adaptive composer gets no self-supervised weight target
    full-ss1          as full, with the self-supervised weight loss at 1 instead of stage 3's default 0.1
    stage3-only       stage 3 adaptive from a random backbone
    sum, combiner, image-only, text-only
                      baselines: as full up to stage 2, then stage 3 with that composer

On a catalogue whose captions carry kinds (``data_prep.synth``'s default caption mix), every stage-3 run's best
checkpoint is also evaluated per caption kind with the weight sweep (``python -m cti_ir.evaluate --by-kind
--weight-sweep``, saved as ``kinds.json`` beside the run), and the tables gain per-kind columns, an ``oracle balance`` row (the best
image weight of a plain weighted sum per query, with hindsight, on the features of ``--reference``, by default the
full model), the composers' weights per kind, and the seed-by-seed differences between ``--reference`` and its
rivals (combiner, no-ss-weighting, sum). ``--finished-only`` tabulates the runs that exist without training more.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from benchmarks.accuracy.accuracy_kinds import format_kind_tables, summarize_kinds
from benchmarks.common import cached_json, export_demo, run_cli, write_report

# name -> (stage-2 source or None, stage-1 needed, composer, extra stage-3 flags)
VARIANTS = {
    "full": ("s2_full", "adaptive", []),
    "no-stage1": ("s2_scratch", "adaptive", []),
    "no-stage2": ("s1", "adaptive", []),
    "no-attribute-task": ("s2_noattr", "adaptive", []),
    "no-ss-weighting": ("s2_full", "adaptive", ["--weight-loss", "0"]),
    "full-ss1": ("s2_full", "adaptive", ["--weight-loss", "1"]),
    "stage3-only": (None, "adaptive", []),
    "sum": ("s2_full", "sum", []),
    "combiner": ("s2_full", "combiner", []),
    "image-only": ("s2_full", "image", []),
    "text-only": ("s2_full", "text", []),
    # Composer and weight-target ideas for captions of mixed kinds (what was tried for the mixed-caption results).
    "adaptive-v1": ("s2_full", "adaptive", ["--residual", "free", "--weight-target", "modality"]),
    "text-none": ("s2_full", "adaptive", ["--residual", "text", "--weight-loss", "0"]),
    "text-modality": ("s2_full", "adaptive", ["--residual", "text", "--weight-target", "modality"]),
    "text-balance": ("s2_full", "adaptive", ["--residual", "text", "--weight-target", "balance"]),
    "text-balance-hard": ("s2_full", "adaptive", ["--residual", "text", "--weight-target", "balance",
                                                  "--target-hard-negatives"]),
    "free-balance": ("s2_full", "adaptive", ["--residual", "free", "--weight-target", "balance"]),
    "combiner-balance": ("s2_full", "combiner", ["--combiner-weight-target", "--weight-target", "balance"]),
    "text-dimension-balance": ("s2_full", "adaptive", ["--residual", "text", "--gate", "dimension",
                                                       "--weight-target", "balance"]),
    "text-balance-queue": ("s2_full", "adaptive", ["--residual", "text", "--weight-target", "balance",
                                                   "--target-queue", "1024"]),
    "text-balance-w1": ("s2_full", "adaptive", ["--residual", "text", "--weight-target", "balance",
                                                "--weight-loss", "1"]),
    "text-balance-forcing": ("s2_full", "adaptive", ["--residual", "text", "--weight-target", "balance",
                                                     "--weight-forcing", "0.5"]),
    "plain-none": ("s2_full", "adaptive", ["--residual", "none", "--weight-loss", "0"]),
    "plain-balance": ("s2_full", "adaptive", ["--residual", "none", "--weight-target", "balance"]),
}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.bench_accuracy", description=__doc__.split("\n\n")[0])
    p.add_argument("--work", default="runs/bench", help="folder for the data, the runs and the results")
    p.add_argument("--data", default=None, help="generated catalogue to use (default: generate into WORK/data)")
    p.add_argument("--open-domain", default=None,
                   help="stage-1 image-caption corpus (default: DATA/open_domain, the catalogue's own open-domain set)")
    p.add_argument("--size", default="default", choices=["small", "default", "large"],
                   help="generator size when --data is not given")
    p.add_argument("--caption-mix", default="mixed",
                   help="generator caption mix when --data is not given (see python -m data_prep.synth --help)")
    p.add_argument("--model", default="cti-small", help="backbone config for every variant")
    p.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS),
                   help="which variants to run (default: all)")
    p.add_argument("--seeds", nargs="*", type=int, default=[0], help="stage-3 seeds; results are averaged")
    p.add_argument("--stage1-epochs", type=int, default=30,
                   help="stage-1 epochs (at 8, stage 1 slowed stage 2 down instead of helping it: README, Benchmarks)")
    p.add_argument("--stage2-epochs", type=int, default=4, help="stage-2 epochs")
    p.add_argument("--stage3-epochs", type=int, default=5, help="stage-3 epochs (the shared budget)")
    p.add_argument("--stage3-lr", type=float, default=3e-4, help="stage-3 peak learning rate (all variants)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size of every stage")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--results", default="accuracy",
                   help="results are written to WORK/RESULTS.json and WORK/RESULTS.md")
    p.add_argument("--reference", default="full", choices=list(VARIANTS),
                   help="the variant compared seed by seed with combiner, no-ss-weighting and sum, and whose features "
                        "give the oracle-balance row (default: full)")
    p.add_argument("--finished-only", action="store_true",
                   help="train nothing: tabulate the stage-3 runs of --variants x --seeds that have finished, each "
                        "variant over the seeds it has (paired comparisons use the seeds both sides have)")
    p.add_argument("--export-demo", default=None,
                   help="copy the best stage-3 checkpoint of --demo-variant (first seed) here in fp16 (the app's demo model)")
    p.add_argument("--demo-variant", default="full", choices=list(VARIANTS), help="variant that --export-demo exports")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Train what is missing, then tabulate every variant; write WORK/RESULTS.json and .md."""
    args = build_parser().parse_args(argv)
    from training import stage1, stage2, stage3

    work = Path(args.work)
    data = Path(args.data) if args.data else work / "data"
    if not args.data:
        from data_prep import synth

        synth.main(["--out", str(data), "--size", args.size, "--seed", "0", "--caption-mix", args.caption_mix])
    # --resume continues an interrupted run (run_cli drops it where there is none yet); --model only where a run
    # does not start from --init (the trainers refuse both).
    common = ["--batch-size", str(args.batch_size), "--no-progress", "--resume"]
    model = ["--model", args.model]
    if args.threads:
        common += ["--threads", str(args.threads)]
    runs = work / "runs"
    timings: dict[str, float] = {}

    def timed(name, module, argv):
        t0 = time.time()
        run_cli(module, argv, runs / name / "last" / "cti_config.json")
        timings.setdefault(name, round(time.time() - t0, 1))

    needed = set() if args.finished_only else {VARIANTS[v][0] for v in args.variants}
    open_domain = Path(args.open_domain) if args.open_domain else data / "open_domain"
    s1_argv = ["--data", str(open_domain), "--epochs", str(args.stage1_epochs), *model, *common]
    if needed & {"s1", "s2_full", "s2_noattr"}:
        timed("s1", stage1, [*s1_argv, "--out", str(runs / "s1")])
    corpora = ["--corpus", str(data / "fashioniq" / "product_descriptions.jsonl"),
               "--corpus", str(data / "shoes" / "product_descriptions.jsonl")]
    s2 = {"s2_full": ["--init", str(runs / "s1" / "best")],
          "s2_noattr": ["--init", str(runs / "s1" / "best"), "--attribute-weight", "0"],
          "s2_scratch": model}
    for name, extra in s2.items():
        if name in needed:
            timed(name, stage2, [*corpora, "--epochs", str(args.stage2_epochs), *common, *extra,
                                 "--out", str(runs / name)])
    triplets = ["--data", f"fashioniq={data / 'fashioniq'}", "--data", f"shoes={data / 'shoes'}"]
    results: dict[str, list[dict]] = {}
    kinds: dict[str, list[dict]] = {}
    kind_seeds: dict[str, list[int]] = {}
    with_kinds = catalogue_has_kinds(data)
    for variant in args.variants:
        source, composer, extra = VARIANTS[variant]
        for seed in args.seeds:
            name = f"s3_{variant}_seed{seed}"
            if args.finished_only and not run_finished(runs / name):
                continue
            init = ["--init", str(runs / source / "best")] if source else model
            timed(name, stage3, [*triplets, *init, "--composer", composer, "--epochs", str(args.stage3_epochs),
                                 "--lr", str(args.stage3_lr),
                                 *common, "--seed", str(seed), *extra, "--out", str(runs / name)])
            metrics = json.loads((runs / name / "best" / "metrics.json").read_text())
            results.setdefault(variant, []).append(metrics["details"])
            if with_kinds:
                kinds.setdefault(variant, []).append(evaluate_kinds(runs / name, data, args.threads))
                kind_seeds.setdefault(variant, []).append(seed)
    if not results:
        print(f"error: no finished stage-3 run of {', '.join(args.variants)} with seeds "
              f"{' '.join(map(str, args.seeds))} under {runs}; run without --finished-only to train them",
              file=sys.stderr)
        return 2
    summary = summarize(results)
    meta = {"data": str(data), "open_domain": str(open_domain), "model": args.model, "seeds": args.seeds, "epochs": {
        "stage1": args.stage1_epochs, "stage2": args.stage2_epochs, "stage3": args.stage3_epochs}, "stage3_lr": args.stage3_lr,
        "batch_size": args.batch_size, "seconds": timings, "threads": torch.get_num_threads()}
    out = {"meta": meta, "results": summary}
    table = format_table(summary)
    if kinds:
        out["kinds"] = summarize_kinds(kinds, reference=args.reference, seeds=kind_seeds)
        table += "\n\n" + format_kind_tables(out["kinds"])
    write_report(work / args.results, out, table)
    if args.export_demo:
        export_demo(runs / f"s3_{args.demo_variant}_seed{args.seeds[0]}" / "best", Path(args.export_demo))
    return 0


def run_finished(run: Path) -> bool:
    """True when a stage-3 run ended (its last/ checkpoint is written only at the end) and kept a best/ one."""
    return (run / "last" / "cti_config.json").is_file() and (run / "best" / "metrics.json").is_file()


def catalogue_has_kinds(data: Path) -> bool:
    """True when the catalogue's provenance records caption kinds (a mix other than relative-only)."""
    path = data / "fashioniq" / "caption_provenance.jsonl"
    if not path.is_file():
        return False
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    return bool(first.strip()) and "kind" in json.loads(first)


def evaluate_kinds(run: Path, data: Path, threads: int | None) -> dict:
    """Per-kind recall and weight sweep of a run's best checkpoint on both layouts; cached in RUN/kinds.json."""
    def compute() -> dict:
        import cti_ir
        from cti_ir.evaluate.evaluator import evaluate

        if threads:
            torch.set_num_threads(threads)
        model = cti_ir.load(run / "best")
        return {name: evaluate(model, name, data / name, progress=False, by_kind=True, weight_sweep=21)
                for name in ("fashioniq", "shoes")}

    return cached_json(run / "kinds.json", compute)


def summarize(results: dict[str, list[dict]]) -> dict:
    """Mean over seeds of every number the table shows."""
    out = {}
    for variant, per_seed in results.items():
        row = {}
        for key, pick in (
            ("dress_R10", lambda d: d["fashioniq"]["splits"]["dress"]["R@10"]),
            ("dress_R50", lambda d: d["fashioniq"]["splits"]["dress"]["R@50"]),
            ("shirt_R10", lambda d: d["fashioniq"]["splits"]["shirt"]["R@10"]),
            ("shirt_R50", lambda d: d["fashioniq"]["splits"]["shirt"]["R@50"]),
            ("toptee_R10", lambda d: d["fashioniq"]["splits"]["toptee"]["R@10"]),
            ("toptee_R50", lambda d: d["fashioniq"]["splits"]["toptee"]["R@50"]),
            ("fiq_mean", lambda d: d["fashioniq"]["score"]),
            ("shoes_R1", lambda d: d["shoes"]["splits"]["shoes"]["R@1"]),
            ("shoes_R10", lambda d: d["shoes"]["splits"]["shoes"]["R@10"]),
            ("shoes_R50", lambda d: d["shoes"]["splits"]["shoes"]["R@50"]),
            ("shoes_mean", lambda d: d["shoes"]["score"]),
            ("overall", lambda d: (d["fashioniq"]["score"] + d["shoes"]["score"]) / 2),
        ):
            values = [pick(d) for d in per_seed]
            row[key] = sum(values) / len(values)
            if len(values) > 1:
                mean = row[key]
                row[key + "_std"] = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        row["seeds"] = len(per_seed)
        out[variant] = row
    return out


def format_table(summary: dict) -> str:
    """The main table: per variant, the Recall@K of every split and the means (± std over seeds)."""
    cols = ["dress_R10", "dress_R50", "shirt_R10", "shirt_R50", "toptee_R10", "toptee_R50", "fiq_mean",
            "shoes_R1", "shoes_R10", "shoes_R50", "shoes_mean", "overall"]
    head = ("| variant | dress R@10 | dress R@50 | shirt R@10 | shirt R@50 | toptee R@10 | toptee R@50 | "
            "FIQ mean | Shoes R@1 | Shoes R@10 | Shoes R@50 | Shoes mean | overall |")
    lines = [head, "|---" * (len(cols) + 1) + "|"]
    uneven = len({row["seeds"] for row in summary.values()}) > 1
    for variant, row in summary.items():
        cells = []
        for c in cols:
            cell = f"{row[c]:.2f}"
            if c + "_std" in row and c.endswith(("mean", "overall")):
                cell += f" ± {row[c + '_std']:.2f}"
            cells.append(cell)
        name = f"{variant} ({row['seeds']} seed{'s' if row['seeds'] > 1 else ''})" if uneven else variant
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
