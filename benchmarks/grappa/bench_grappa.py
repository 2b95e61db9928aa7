"""Label-free adaptation benchmark (Grappa): image-to-image retrieval at four granularities, before and after.

    python -m benchmarks.grappa.bench_grappa --work runs/grappa/bench --catalogues 0 1 --seeds 0 1 2 --threads 1

For each generator seed (a catalogue, ``python -m data_prep.synth_views``) and each training seed, the base model
(``--checkpoint``, the demo model by default) is adapted on the catalogue's unlabeled adaptation photos with
``python -m training.adapt``, and every row is evaluated on the held-out evaluation products (other products,
never seen in adaptation) with the tasks of ``grappa_tasks.py`` (category, shape, colour + pattern, the same
product; mAP@R and R@1). Rows:

    zero-shot          the frozen base encoder
    k8, k32, ...       each single adapter set (phase 1 only)
    fusion             Grappa: the fusion of all sets with neighbour propagation (the product's default)
    fusion-noprop      the fusion trained without neighbour propagation (--propagation-weight 0; same phase-1 sets)
    full-finetune      the whole image tower fine-tuned on the pseudo-labels of the best single k (chosen with the
                       labels, on the same run)
    oracle             label-aware: per task, the best single set of the run

Every run is resumable: a finished result file is skipped, an interrupted adaptation continues (``--resume``).
Results: ``WORK/results/RECIPE.json`` and ``.md``. ``--recipe NAME --adapt-args ...`` runs a variant of the
recipe under its own name, beside the others (how the README's "what we tried" rows were made).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from cti_ir.model.checkpoint import load_checkpoint
from training.common import HelpWithDefaults

from benchmarks.common import cached_json, run_cli, set_threads, write_report
from benchmarks.grappa.grappa_tasks import TASKS, EvalSet, evaluate_model

TASK_TITLES = {"category": "category", "shape": "+ shape", "colour_pattern": "+ colour + pattern",
               "product": "same product"}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.grappa.bench_grappa", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    p.add_argument("--work", default="runs/grappa/bench", help="folder for catalogues, runs and results")
    p.add_argument("--checkpoint", default="demo_model", help="the base model to adapt (zero-shot row)")
    p.add_argument("--catalogues", nargs="+", type=int, default=[0, 1],
                   help="generator seeds: one multi-view catalogue each")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds (adaptation runs)")
    p.add_argument("--adapt-products", type=int, default=250, help="adaptation products per category")
    p.add_argument("--eval-products", type=int, default=150, help="evaluation products per category")
    p.add_argument("--views", type=int, default=3, help="photos per product")
    p.add_argument("--granularities", default=None,
                   help="cluster counts of the adapter sets (default: training.adapt's, from the image count)")
    p.add_argument("--set-epochs", type=int, default=None, help="epochs per adapter set (default: training.adapt's)")
    p.add_argument("--fusion-epochs", type=int, default=None, help="fusion epochs (default: training.adapt's)")
    p.add_argument("--recipe", default="default",
                   help="name of the recipe variant: runs and results are kept per name")
    p.add_argument("--adapt-args", default="",
                   help="extra flags for every training.adapt run of this recipe, as one string (e.g. "
                        "'--augment' or '--temperature 0.1')")
    p.add_argument("--skip-variants", nargs="*", default=[], choices=["fusion-noprop", "full-finetune"],
                   help="rows not to run (the single sets, fusion and zero-shot always run)")
    p.add_argument("--threads", type=int, default=None, help="torch and FAISS CPU threads")
    return p


def generate(work: Path, seed: int, args) -> Path:
    """The multi-view catalogue of generator seed ``seed`` (``data_prep.synth_views``), in WORK/data."""
    from data_prep import synth_views

    out = work / "data" / f"catalogue-{seed}"
    run_cli(synth_views, ["--out", str(out), "--seed", str(seed), "--adapt-products", str(args.adapt_products),
                          "--eval-products", str(args.eval_products), "--views", str(args.views), "--quiet",
                          "--workers", "1"])
    return out


def adapt(base: str, images: Path, out: Path, work: Path, seed: int, args, extra: list[str]) -> dict:
    """Run training.adapt (in-process) unless ``out`` is finished; returns its metrics.json."""
    import training.adapt.trainer as adapt_cli

    argv = ["--checkpoint", base, "--images", str(images), "--out", str(out), "--work", str(work),
            "--seed", str(seed), "--resume", "--no-progress"]
    for flag, value in (("--granularities", args.granularities), ("--set-epochs", args.set_epochs),
                        ("--fusion-epochs", args.fusion_epochs), ("--threads", args.threads)):
        if value is not None:
            argv += [flag, str(value)]
    run_cli(adapt_cli, argv + shlex.split(args.adapt_args) + extra, out / "metrics.json")
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


def run_catalogue(work: Path, catalogue: int, args) -> dict[str, list[dict]]:
    """Every row for one catalogue: {row name: [result per seed]} (zero-shot: one result)."""
    data = generate(work, catalogue, args)
    eval_set = EvalSet.from_catalogue(data)
    results_dir = work / "results" / args.recipe / f"catalogue-{catalogue}"
    rows: dict[str, list[dict]] = {}
    zero = cached_json(work / "results" / f"zero-shot-catalogue-{catalogue}.json",
                  lambda: {"eval": evaluate_model(load_checkpoint(args.checkpoint), eval_set), "seconds": 0.0,
                           "added_parameters": 0})
    rows["zero-shot"] = [zero]
    for seed in args.seeds:
        run = work / "runs" / args.recipe / f"catalogue-{catalogue}-seed-{seed}"
        started = time.perf_counter()
        metrics = adapt(args.checkpoint, data / "adapt", run / "fusion", run / "work", seed, args, [])
        model = load_checkpoint(run / "fusion")
        sets = [g for g in model.adapters.names if g.startswith("k")]
        seconds = metrics["seconds"]
        params = metrics["added_parameters"]
        set_seconds = sum(seconds[f"set_{g}_s"] for g in sets)
        for g in sets:
            rows.setdefault(g, []).append(cached_json(results_dir / f"seed-{seed}-{g}.json", lambda: {
                "eval": evaluate_model(model, eval_set, g), "seconds": seconds[f"set_{g}_s"],
                "added_parameters": params["per_set"]}))
        rows.setdefault("fusion", []).append(cached_json(results_dir / f"seed-{seed}-fusion.json", lambda: {
            "eval": evaluate_model(model, eval_set, "fusion"), "seconds": set_seconds + seconds["fusion_s"],
            "added_parameters": params["total"]}))
        if "fusion-noprop" not in args.skip_variants:
            noprop = adapt(args.checkpoint, data / "adapt", run / "fusion-noprop", run / "work", seed, args,
                           ["--propagation-weight", "0"])
            rows.setdefault("fusion-noprop", []).append(cached_json(results_dir / f"seed-{seed}-fusion-noprop.json",
                                                               lambda: {
                "eval": evaluate_model(load_checkpoint(run / "fusion-noprop"), eval_set, "fusion"),
                "seconds": set_seconds + noprop["seconds"]["fusion_s"],
                "added_parameters": noprop["added_parameters"]["total"]}))
        single = {g: rows[g][-1] for g in sets}
        best = max(sets, key=lambda g: single[g]["eval"]["mean_map_at_r"])
        if "full-finetune" not in args.skip_variants:
            k = best[1:]
            finetune = adapt(args.checkpoint, data / "adapt", run / f"finetune-{best}", run / "work", seed, args,
                             ["--full-finetune", k])
            rows.setdefault("full-finetune", []).append(cached_json(results_dir / f"seed-{seed}-full-finetune.json",
                                                               lambda: {
                "eval": evaluate_model(load_checkpoint(run / f"finetune-{best}"), eval_set), "k": int(k),
                "seconds": finetune["seconds"][f"finetune_k{k}_s"],
                "added_parameters": sum(p.numel() for p in model.backbone.visual.parameters())}))
        rows.setdefault("oracle", []).append(oracle(single))
        print(f"[bench_grappa] catalogue {catalogue} seed {seed}: done in {time.perf_counter() - started:.0f} s "
              f"(fusion mean mAP@R {rows['fusion'][-1]['eval']['mean_map_at_r']:.2f}, zero-shot "
              f"{zero['eval']['mean_map_at_r']:.2f})", file=sys.stderr)
    return rows


def oracle(single: dict[str, dict]) -> dict:
    """Per task, the single set with the best mAP@R (chosen with the labels); its R@1 comes with it."""
    tasks, chosen = {}, {}
    for task in TASKS:
        best = max(single, key=lambda g: single[g]["eval"]["tasks"][task]["map_at_r"])
        tasks[task], chosen[task] = dict(single[best]["eval"]["tasks"][task]), best
    return {"eval": {"tasks": tasks, "mean_map_at_r": float(np.mean([t["map_at_r"] for t in tasks.values()])),
                     "mean_r_at_1": float(np.mean([t["r_at_1"] for t in tasks.values()]))},
            "chosen": chosen, "seconds": sum(r["seconds"] for r in single.values()),
            "added_parameters": sum(r["added_parameters"] for r in single.values())}


def summarise(rows: dict[str, list[dict]]) -> dict[str, dict]:
    """Mean and standard deviation over seeds of every metric, per row."""
    out = {}
    for name, results in rows.items():
        def stat(values):
            return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}
        out[name] = {
            "tasks": {t: {m: stat([r["eval"]["tasks"][t][m] for r in results]) for m in ("map_at_r", "r_at_1")}
                      for t in TASKS},
            "mean_map_at_r": stat([r["eval"]["mean_map_at_r"] for r in results]),
            "mean_r_at_1": stat([r["eval"]["mean_r_at_1"] for r in results]),
            "seconds": stat([r["seconds"] for r in results]),
            "added_parameters": int(results[0]["added_parameters"]),
        }
        if name == "oracle":
            out[name]["chosen"] = [r["chosen"] for r in results]
        if name == "full-finetune":
            out[name]["k"] = [r["k"] for r in results]
    return out


def markdown(catalogue: int, summary: dict[str, dict]) -> str:
    """One Markdown table per catalogue: mAP@R per task, means, training time and added parameters."""
    fine = summary.get("full-finetune", {}).get("seconds", {}).get("mean")
    head = ("| catalogue " + str(catalogue) + " | " + " | ".join(TASK_TITLES[t] for t in TASKS)
            + " | mean mAP@R | mean R@1 | training s" + (" (x full FT)" if fine else "") + " | added params |")
    lines = [head, "|" + "---|" * (len(TASKS) + 5)]
    for name, s in summary.items():
        cells = [f"{s['tasks'][t]['map_at_r']['mean']:.2f}" for t in TASKS]
        n = s["mean_map_at_r"]["n"]
        mean = f"{s['mean_map_at_r']['mean']:.2f}" + (f" ± {s['mean_map_at_r']['std']:.2f}" if n > 1 else "")
        seconds = s["seconds"]["mean"]
        time_cell = f"{seconds:.0f}" + (f" ({seconds / fine:.1f}x)" if fine and seconds else "")
        label = {"fusion": "**fusion (Grappa, ours)**", "fusion-noprop": "fusion, no propagation",
                 "full-finetune": f"full fine-tuning (k={'/'.join(map(str, sorted(set(s.get('k', [])))))})",
                 "oracle": "oracle (best set per task)"}.get(name, name)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean} | {s['mean_r_at_1']['mean']:.2f} | "
                     f"{time_cell} | {s['added_parameters']:,} |")
    return "\n".join(lines)


def gap_closed(summary: dict[str, dict]) -> dict[str, float]:
    """How the fusion compares with zero-shot and the oracle (the benchmark's acceptance figures)."""
    zs = summary["zero-shot"]
    fusion = summary["fusion"]
    oracle_row = summary["oracle"]
    zs_mean, fusion_mean = zs["mean_map_at_r"]["mean"], fusion["mean_map_at_r"]["mean"]
    gap = oracle_row["mean_map_at_r"]["mean"] - zs_mean
    return {"fusion_minus_zero_shot": fusion_mean - zs_mean, "oracle_minus_zero_shot": gap,
            "share_of_gap_closed": (fusion_mean - zs_mean) / gap if gap > 0 else float("nan"),
            "worst_task_change": min(fusion["tasks"][t]["map_at_r"]["mean"] - zs["tasks"][t]["map_at_r"]["mean"]
                                     for t in TASKS)}


def main(argv: Sequence[str] | None = None) -> int:
    """Every catalogue's rows, summaries and acceptance figures; WORK/results/RECIPE.json and .md."""
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    work = Path(args.work)
    report: dict = {"recipe": args.recipe, "adapt_args": args.adapt_args, "checkpoint": args.checkpoint,
                    "seeds": args.seeds, "catalogues": {}}
    tables = []
    for catalogue in args.catalogues:
        rows = run_catalogue(work, catalogue, args)
        summary = summarise(rows)
        report["catalogues"][str(catalogue)] = {"summary": summary, "acceptance": gap_closed(summary), "runs": rows}
        tables.append(markdown(catalogue, summary))
        acc = report["catalogues"][str(catalogue)]["acceptance"]
        tables.append(f"\nCatalogue {catalogue}: fusion - zero-shot = {acc['fusion_minus_zero_shot']:+.2f} mAP@R, "
                      f"oracle - zero-shot = {acc['oracle_minus_zero_shot']:+.2f}, share of the gap closed "
                      f"{acc['share_of_gap_closed']:.2f}, worst task change {acc['worst_task_change']:+.2f}.\n")
    write_report(work / "results" / args.recipe, report, "\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
