"""Multi-domain label-free adaptation benchmark (Grappa where the paper makes its claim): several new domains at once.

    python -m benchmarks.grappa.bench_multidomain --work runs/multidomain --generators 0 --seeds 0 --threads 1
    python -m benchmarks.grappa.bench_multidomain --work runs/multidomain --generators 0 1 --seeds 0 1 2 --threads 1

The first line is the small configuration, the second the full one. For each generator seed the domains of
``python -m data_prep.synth_domains`` (shoes by product, tops by colour + pattern, dresses by shape, scenes by
object kind) are written; their unlabeled adaptation images are pooled, and the starting model is adapted on the
pool with ``python -m training.adapt`` once per training seed. The starting model (``--checkpoint``) is by default
the stage-1 open-domain model of ``benchmarks.grappa.multidomain_base`` (trained here on generated scenes when it
is missing): it has never seen a garment or a shoe. Every row is scored within each domain (its queries against
its gallery, ``multidomain_tasks.py``) and on the mean over domains. Rows:

    zero-shot          the frozen starting encoder
    centred-pool       zero-shot features minus the pool's mean feature (label-free, one vector)
    centred-domain     zero-shot features minus each domain's mean feature (needs each photo's domain)
    k8, k32, ...       each single adapter set (phase 1 only)
    fusion             Grappa: the fusion of all sets with neighbour propagation
    fusion-noprop      the fusion without propagation (--propagation-weight 0; same phase-1 sets)
    full-finetune      the whole image tower fine-tuned on the best single k of the run (chosen with the labels)
    oracle             per domain, the best single set of the run (chosen with the labels)

The fusion's attentions are recorded per domain (do the domains lean to different sets?). The acceptance figures
compare the fusion with zero-shot on every domain and with the oracle on the mean. Resumable like
``bench_grappa.py``; ``--recipe NAME --adapt-args ...`` runs a variant under its own name. Results:
``WORK/results/MODEL/RECIPE.json`` and ``.md`` (MODEL: the ``--start`` name, or ``checkpoint`` with
``--checkpoint``; runs are kept per MODEL and recipe too).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import cached_json, run_cli, set_threads, write_report
from benchmarks.grappa.bench_grappa import adapt
from benchmarks.grappa.multidomain_diagnose import diagnose
from benchmarks.grappa.multidomain_report import acceptance, markdown, summarise
from benchmarks.grappa.multidomain_tasks import (
    MultiDomainEval,
    attention_statistics,
    evaluate_centring,
    evaluate_model,
)
from cti_ir.model.checkpoint import load_checkpoint, read_checkpoint_config
from training.common import HelpWithDefaults


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.grappa.bench_multidomain",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpWithDefaults)
    p.add_argument("--work", default="runs/multidomain", help="folder for the model, data, runs and results")
    p.add_argument("--checkpoint", default=None,
                   help="the starting model (default: the --start model, made in WORK by "
                        "benchmarks.grappa.multidomain_base if missing)")
    p.add_argument("--start", choices=("stage1", "stage2-shirts"), default="stage1",
                   help="without --checkpoint: the stage-1 open-domain model, or that model after a stage 2 on "
                        "shirts alone (none of the domains)")
    p.add_argument("--generators", nargs="+", type=int, default=[0, 1], help="generator seeds: one data set each")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (adaptation runs)")
    p.add_argument("--adapt-images", type=int, default=750, help="unlabeled adaptation images per domain")
    p.add_argument("--queries", type=int, default=150, help="evaluation queries per domain")
    p.add_argument("--gallery", type=int, default=450, help="evaluation gallery images per class-level domain")
    p.add_argument("--views", type=int, default=3, help="photos per shoe product")
    p.add_argument("--granularities", default=None,
                   help="cluster counts of the adapter sets (default: training.adapt's, from the image count)")
    p.add_argument("--set-epochs", type=int, default=None, help="epochs per adapter set (default: training.adapt's)")
    p.add_argument("--fusion-epochs", type=int, default=None, help="fusion epochs (default: training.adapt's)")
    p.add_argument("--recipe", default="default", help="name of the recipe variant: runs and results are kept per name")
    p.add_argument("--adapt-args", default="",
                   help="extra flags for every training.adapt run of this recipe, as one string")
    p.add_argument("--skip-variants", nargs="*", default=[], choices=["fusion-noprop", "full-finetune"],
                   help="rows not to run (zero-shot, centring, the single sets and the fusion always run)")
    p.add_argument("--stage1-epochs", type=int, default=10, help="epochs of the stage-1 model when it is trained here")
    p.add_argument("--threads", type=int, default=None, help="torch and FAISS CPU threads")
    return p


def generate(work: Path, seed: int, args) -> Path:
    """The domains of generator seed ``seed`` (``data_prep.synth_domains``), in WORK/data."""
    from data_prep import synth_domains

    out = work / "data" / f"domains-{seed}"
    run_cli(synth_domains, ["--out", str(out), "--seed", str(seed), "--adapt-images", str(args.adapt_images),
                            "--queries", str(args.queries), "--gallery", str(args.gallery), "--views", str(args.views),
                            "--quiet", "--workers", "1"])
    return out


def baselines(work: Path, generator: int, checkpoint: str, data: MultiDomainEval, key: str) -> dict[str, dict]:
    """Zero-shot and the two centrings for one generator seed (computed once per starting model, shared by every
    recipe; the file is named after the model's fingerprint)."""
    def compute():
        model = load_checkpoint(checkpoint)
        return {"zero-shot": evaluate_model(model, data), **evaluate_centring(model, data)}
    fingerprint = read_checkpoint_config(checkpoint)["fingerprint"]
    return cached_json(work / "results" / key / f"baselines-domains-{generator}-{fingerprint}.json", compute)


def run_one(work: Path, generator: int, seed: int, data_dir: Path, data: MultiDomainEval, checkpoint: str,
            args) -> dict[str, dict]:
    """Every adapted row of one (generator, training seed): {row: result}, results cached per row."""
    run = work / "runs" / args.model_key / args.recipe / f"domains-{generator}-seed-{seed}"
    results_dir = work / "results" / args.model_key / args.recipe / f"domains-{generator}"
    metrics = adapt(checkpoint, data_dir / "adapt", run / "fusion", run / "work", seed, args, [])
    model = load_checkpoint(run / "fusion")
    sets = [g for g in model.adapters.names if g.startswith("k")]
    seconds, params = metrics["seconds"], metrics["added_parameters"]
    set_seconds = sum(seconds[f"set_{g}_s"] for g in sets)
    rows: dict[str, dict] = {}
    for g in sets:
        rows[g] = cached_json(results_dir / f"seed-{seed}-{g}.json", lambda g=g: {
            "eval": evaluate_model(model, data, g), "seconds": seconds[f"set_{g}_s"],
            "added_parameters": params["per_set"]})
    rows["fusion"] = cached_json(results_dir / f"seed-{seed}-fusion.json", lambda: {
        "eval": evaluate_model(model, data, "fusion"), "attention": attention_statistics(model, data, sets),
        "seconds": set_seconds + seconds["fusion_s"], "added_parameters": params["total"]})
    if "fusion-noprop" not in args.skip_variants:
        noprop = adapt(checkpoint, data_dir / "adapt", run / "fusion-noprop", run / "work", seed, args,
                       ["--propagation-weight", "0"])

        def noprop_row() -> dict:
            m = load_checkpoint(run / "fusion-noprop")
            return {"eval": evaluate_model(m, data, "fusion"), "attention": attention_statistics(m, data, sets),
                    "seconds": set_seconds + noprop["seconds"]["fusion_s"],
                    "added_parameters": noprop["added_parameters"]["total"]}
        rows["fusion-noprop"] = cached_json(results_dir / f"seed-{seed}-fusion-noprop.json", noprop_row)
    best = max(sets, key=lambda g: rows[g]["eval"]["mean_map_at_r"])
    if "full-finetune" not in args.skip_variants:
        k = best[1:]
        finetune = adapt(checkpoint, data_dir / "adapt", run / f"finetune-{best}", run / "work", seed, args,
                         ["--full-finetune", k])
        rows["full-finetune"] = cached_json(results_dir / f"seed-{seed}-full-finetune.json", lambda: {
            "eval": evaluate_model(load_checkpoint(run / f"finetune-{best}"), data), "k": int(k),
            "seconds": finetune["seconds"][f"finetune_k{k}_s"],
            "added_parameters": sum(p.numel() for p in model.backbone.visual.parameters())})
    rows["oracle"] = oracle({g: rows[g] for g in sets})
    return rows


def oracle(single: dict[str, dict]) -> dict:
    """Per domain, the single set with the best mAP@R (chosen with the labels); its R@1 comes with it."""
    domains, chosen = {}, {}
    for name in next(iter(single.values()))["eval"]["domains"]:
        best = max(single, key=lambda g: single[g]["eval"]["domains"][name]["map_at_r"])
        domains[name], chosen[name] = dict(single[best]["eval"]["domains"][name]), best
    return {"eval": {"domains": domains,
                     "mean_map_at_r": float(np.mean([d["map_at_r"] for d in domains.values()])),
                     "mean_r_at_1": float(np.mean([d["r_at_1"] for d in domains.values()]))},
            "chosen": chosen, "seconds": sum(r["seconds"] for r in single.values()),
            "added_parameters": sum(r["added_parameters"] for r in single.values())}


def main(argv: Sequence[str] | None = None) -> int:
    """Every generator seed's and training seed's rows, the summary, acceptance and attention tables."""
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    work = Path(args.work)
    if args.checkpoint is None:
        from benchmarks.grappa.multidomain_base import (
            ensure_base_model,
            ensure_shirts_model,
        )

        model = ensure_base_model(work, epochs=args.stage1_epochs, threads=args.threads)
        if args.start == "stage2-shirts":
            model = ensure_shirts_model(work, model, threads=args.threads)
        args.checkpoint, args.model_key = str(model), args.start
    else:
        args.model_key = "checkpoint"
    runs: list[dict] = []   # one entry per (generator, seed): {"generator", "seed", "rows": {row: result}}
    for generator in args.generators:
        data_dir = generate(work, generator, args)
        data = MultiDomainEval.from_folder(data_dir)
        base = baselines(work, generator, args.checkpoint, data, args.model_key)
        for seed in args.seeds:
            started = time.perf_counter()
            rows = {name: {"eval": result, "seconds": 0.0, "added_parameters": 0} for name, result in base.items()}
            rows.update(run_one(work, generator, seed, data_dir, data, args.checkpoint, args))
            run = work / "runs" / args.model_key / args.recipe / f"domains-{generator}-seed-{seed}"
            diagnostics = cached_json(work / "results" / args.model_key / args.recipe / f"domains-{generator}"
                                      / f"seed-{seed}-diagnostics.json", lambda run=run, data_dir=data_dir: diagnose(run / "work", data_dir))
            runs.append({"generator": generator, "seed": seed, "rows": rows, "diagnostics": diagnostics})
            print(f"[bench_multidomain] domains {generator} seed {seed}: done in "
                  f"{time.perf_counter() - started:.0f} s (fusion {rows['fusion']['eval']['mean_map_at_r']:.2f}, "
                  f"zero-shot {rows['zero-shot']['eval']['mean_map_at_r']:.2f}, oracle "
                  f"{rows['oracle']['eval']['mean_map_at_r']:.2f} mean mAP@R)", file=sys.stderr)
    summary = summarise(runs)
    report = {"recipe": args.recipe, "adapt_args": args.adapt_args, "checkpoint": args.checkpoint,
              "generators": args.generators, "seeds": args.seeds, "summary": summary,
              "acceptance": {row: acceptance(summary, row) for row in summary
                             if row not in ("zero-shot", "oracle")},
              "runs": runs}
    write_report(work / "results" / args.model_key / args.recipe, report, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
