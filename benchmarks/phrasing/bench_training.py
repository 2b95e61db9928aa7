"""Does training in a shopper's words make the model robust to wording? (stage 3 on the training phrasings)

    python -m benchmarks.phrasing.bench_training --train-data runs/bench/data \\
        --eval-data runs/phrasing/data_s7 --init demo_model --work runs/robust --seeds 0 1 2 --threads 1

For each arm and training seed, stage 3 continues from ``--init`` (its composer kept) on the triplets of
``--train-data`` for ``--epochs`` epochs with the trainer's defaults otherwise:

- ``control``: the catalogue's own captions, so that what the other arms gain is not merely more training;
- ``augment``: ``--phrasing-augment 0.5``, half the texts rewritten in the *training* phrasings;
- ``augment+consistency``: the same and ``--phrasing-consistency 0.5``.

Then the paraphrase benchmark (``bench_paraphrase``: every evaluation query's modification rewritten in each
*held-apart* style) measures ``--init`` and every run on ``--eval-data``, each without and with the request reader,
and the report gives per arm the mean and standard deviation over seeds of R@10 per style, of the frame styles'
mean and spread, and of the training catalogue's own scores (the trainer's best epoch). Resumable: a finished run
is not trained again (the trainer's ``--resume`` on it is a no-op), and the paraphrase report is kept.
``--export-demo DIR`` also saves the ``augment`` run of the first seed in fp16: the shipped demo model is that run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Sequence

from benchmarks.common import error, export_demo, run_cli, set_threads, write_report

#: arm -> (run folder prefix, stage-3 flags)
ARMS = {
    "control": ("control", []),
    "augment": ("aug", ["--phrasing-augment", "0.5"]),
    "augment+consistency": ("augcons", ["--phrasing-augment", "0.5", "--phrasing-consistency", "0.5"]),
}
LAYOUTS = ("fashioniq", "shoes")
START = "start"


def run_folder(work: Path, arm: str, seed: int) -> Path:
    return work / f"{ARMS[arm][0]}_s{seed}"


def train_arm(args, arm: str, seed: int) -> Path:
    """Stage 3 of one arm and seed (resumable); its run folder."""
    from training import stage3

    run = run_folder(args.work, arm, seed)
    argv = [*(x for layout in LAYOUTS for x in ("--data", f"{layout}={args.train_data / layout}")),
            "--init", str(args.init), "--init-composer", "--out", str(run), "--epochs", str(args.epochs),
            "--seed", str(seed), "--no-progress", "--resume", *ARMS[arm][1]]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    run_cli(stage3, argv)
    return run


def paraphrase_report(args, runs: dict[str, Path]) -> dict:
    """bench_paraphrase on --eval-data for --init and every run, both without and with the request reader."""
    from benchmarks.phrasing import bench_paraphrase

    base = args.work / "paraphrase"
    argv = ["--data", str(args.eval_data), "--out", str(base), "--read-requests", "both",
            "--permutations", str(args.permutations), "--checkpoint", f"{START}={args.init}"]
    for label, run in runs.items():
        argv += ["--checkpoint", f"{label}={run / 'best'}"]
    if args.threads:
        argv += ["--threads", str(args.threads)]
    report = Path(f"{base}.json")
    if report.is_file():  # kept from an earlier run, unless runs were added since
        kept = json.loads(report.read_text(encoding="utf-8"))
        if {START, *runs} <= set(kept["checkpoints"]):
            return kept
    run_cli(bench_paraphrase, argv)
    return json.loads(report.read_text(encoding="utf-8"))


def mean_sd(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def summarise(report: dict, runs: dict[str, Path], arms: Sequence[str], seeds: Sequence[int]) -> dict:
    """Per column (the start, each arm, each with the reader) and layout: every row's R@10 over seeds."""
    checkpoints = report["checkpoints"]
    columns = {START: [START]} | {arm: [f"{arm}#{s}" for s in seeds] for arm in arms}
    out: dict = {}
    for column, labels in columns.items():
        for reader in ("", "+reader"):
            for layout in LAYOUTS:
                if layout not in checkpoints[labels[0] + reader]:
                    continue
                rows: dict[str, list[float]] = {}
                for label in labels:
                    r = checkpoints[label + reader][layout]
                    for style, values in r["rows"].items():
                        rows.setdefault(style, []).append(values["R@10"])
                    for group in ("frames", "all"):
                        for key in ("mean_R@10", "spread"):
                            rows.setdefault(f"{group}: {key}", []).append(r["summary"][group][key])
                    if label != START:  # the trainer's own evaluation on the training catalogue's val / test
                        metrics = json.loads((runs[label] / "best" / "metrics.json").read_text(encoding="utf-8"))
                        rows.setdefault("training catalogue: score", []).append(metrics[f"{layout}_score"])
                out.setdefault(column + reader, {})[layout] = rows
    return out


def tables(summary: dict) -> str:
    lines = []
    for layout in LAYOUTS:
        columns = [c for c in summary if layout in summary[c]]
        if not columns:
            continue
        lines += [f"### {layout}: R@10 per held-apart style, mean ± sd over training seeds", "",
                  "| row | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        rows = list(dict.fromkeys(r for c in columns for r in summary[c][layout]))
        for row in rows:
            cells = [mean_sd(summary[c][layout][row]) + (" %" if row.endswith("spread") else "")
                     if row in summary[c][layout] else "-" for c in columns]
            lines.append(f"| {row} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrasing.bench_training",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-data", required=True, type=Path,
                   help="the catalogue stage 3 trains on (python -m data_prep.synth; its fashioniq/ and shoes/)")
    p.add_argument("--eval-data", required=True, type=Path,
                   help="the catalogue the paraphrase benchmark measures on: one generated with another seed")
    p.add_argument("--init", required=True, type=Path, help="the stage-3 checkpoint every arm continues from")
    p.add_argument("--work", required=True, type=Path, help="folder of the runs and the reports (resumable)")
    p.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS), help="which arms to train")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds")
    p.add_argument("--epochs", type=int, default=3, help="stage-3 epochs of every run")
    p.add_argument("--permutations", type=int, default=1000, help="permutations of the paraphrase noise floor")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default)")
    p.add_argument("--export-demo", type=Path, default=None,
                   help="also save the augment arm's run of the first seed here in fp16 (how the shipped demo "
                        "model was made)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for flag, folder in (("--train-data", args.train_data), ("--eval-data", args.eval_data)):
        if not all((folder / layout).is_dir() for layout in LAYOUTS):
            return error(f"{flag} {folder} has no fashioniq/ and shoes/ folders: give a catalogue written by "
                         f"python -m data_prep.synth")
    if not (args.init / "cti_config.json").is_file():
        return error(f"--init {args.init} is not a checkpoint folder (no cti_config.json)")
    if args.epochs < 1:
        return error(f"--epochs must be at least 1, got {args.epochs}")
    if args.export_demo is not None and "augment" not in args.arms:
        return error("--export-demo saves the augment arm's run: add augment to --arms")
    set_threads(args.threads)
    runs = {f"{arm}#{seed}": train_arm(args, arm, seed) for arm in args.arms for seed in args.seeds}
    if args.export_demo is not None:
        export_demo(runs[f"augment#{args.seeds[0]}"] / "best", args.export_demo)
    report = paraphrase_report(args, runs)
    summary = summarise(report, runs, args.arms, args.seeds)
    write_report(args.work / "phrasing_training", {"arms": {a: ARMS[a][1] for a in args.arms}, "seeds": args.seeds,
                                                   "epochs": args.epochs, "summary": summary},
                 lambda result: tables(result["summary"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
