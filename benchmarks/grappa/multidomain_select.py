"""What a shop can do instead of the fusion: pick each catalogue's granularity with a handful of labelled queries.

    python -m benchmarks.grappa.multidomain_select --work runs/multidomain --start stage1 --recipe default

The oracle of ``bench_multidomain.py`` picks, per domain, the best adapter set with *all* the labels. A shop has
none, but can label a few searches per catalogue ("these results are right"). For every finished adaptation run of
the benchmark this script scores each candidate space per query (AP@R of each evaluation query: the starting
encoder ``off``, each single set, the fusion), then, many times over, draws ``n`` labelled queries per domain,
picks the candidate with the best mean AP@R on them, and scores the pick on the domain's *other* queries, beside
zero-shot and the oracle on the same queries. Rows: ``pick with n labels`` per ``--labelled`` value. Results:
``WORK/results/MODEL/RECIPE-select.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import cached_json, set_threads, write_report
from benchmarks.grappa.multidomain_tasks import MultiDomainEval, encode
from cti_ir.model.checkpoint import load_checkpoint
from training.common import HelpWithDefaults


def per_query_ap(similarity: np.ndarray, query_labels: Sequence, gallery_labels: Sequence) -> np.ndarray:
    """AP@R of each query in percent (``cti_ir.evaluate.ranks.retrieval_scores`` per query); NaN without a match."""
    gallery = np.asarray(gallery_labels, dtype=object)
    order = np.argsort(-similarity, axis=1, kind="stable")
    out = np.full(len(query_labels), np.nan)
    for row, label in enumerate(query_labels):
        r = int((gallery == label).sum())
        if r:
            hits = gallery[order[row, :r]] == label
            out[row] = 100.0 * float((np.cumsum(hits) / np.arange(1, r + 1) * hits).sum() / r)
    return out


def candidate_aps(model, data: MultiDomainEval) -> dict[str, dict[str, list[float]]]:
    """{candidate: {domain: per-query AP@R}} for the starting encoder, each set and the fusion of ``model``."""
    queries, gallery = data.pixels(model.preprocess, "query"), data.pixels(model.preprocess, "gallery")
    out: dict[str, dict[str, list[float]]] = {}
    for name in ["off", *[g for g in model.adapters.names if g.startswith("k")], "fusion"]:
        with model.adapters.using(name):
            out[name] = {d.name: per_query_ap(encode(model, queries[d.name]) @ encode(model, gallery[d.name]).T,
                                              d.query_labels, d.gallery_labels).tolist() for d in data.domains}
    return out


def simulate(aps: dict[str, dict[str, list[float]]], n: int, draws: int, seed: int) -> dict[str, dict]:
    """Per domain, the mean over draws of (pick, zero-shot, oracle) mAP@R on the queries not drawn."""
    rng = np.random.default_rng(seed)
    sets = [c for c in aps if c.startswith("k")]
    out = {}
    for domain in aps["off"]:
        table = np.array([aps[c][domain] for c in aps])            # (candidates, queries)
        valid = np.where(~np.isnan(table).any(axis=0))[0]
        names = list(aps)
        picks, zero, oracle, chosen = [], [], [], []
        for _ in range(draws):
            drawn = rng.choice(valid, size=min(n, len(valid) - 1), replace=False)
            rest = np.setdiff1d(valid, drawn)
            best = int(np.argmax(table[:, drawn].mean(axis=1)))
            picks.append(table[best, rest].mean())
            zero.append(table[names.index("off"), rest].mean())
            oracle.append(max(table[names.index(s), rest].mean() for s in sets))
            chosen.append(names[best])
        out[domain] = {"pick": float(np.mean(picks)), "zero_shot": float(np.mean(zero)),
                       "oracle": float(np.mean(oracle)),
                       "chosen": {c: chosen.count(c) / draws for c in names if chosen.count(c)}}
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.grappa.multidomain_select",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpWithDefaults)
    p.add_argument("--work", default="runs/multidomain", help="the benchmark's folder")
    p.add_argument("--start", default="stage1", help="the starting model's name in WORK (or 'checkpoint')")
    p.add_argument("--recipe", default="default", help="the recipe whose adapted runs to read")
    p.add_argument("--labelled", nargs="+", type=int, default=[5, 10, 25], help="labelled queries per domain")
    p.add_argument("--draws", type=int, default=500, help="random draws of the labelled queries")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Per-query AP@R of every finished run, the simulated picks, the table."""
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    work = Path(args.work)
    runs = sorted((work / "runs" / args.start / args.recipe).glob("domains-*-seed-*"))
    runs = [r for r in runs if (r / "fusion" / "adapter_config.json").is_file()]
    if not runs:
        print(f"error: no finished run in {work / 'runs' / args.start / args.recipe}", file=sys.stderr)
        return 2
    results: dict = {"labelled": args.labelled, "runs": {}}
    for run in runs:
        generator = run.name.split("-")[1]
        data = MultiDomainEval.from_folder(work / "data" / f"domains-{generator}")
        aps = cached_json(work / "results" / args.start / args.recipe / f"{run.name}-per-query.json",
                          lambda run=run, data=data: candidate_aps(load_checkpoint(run / "fusion"), data))
        results["runs"][run.name] = {str(n): simulate(aps, n, args.draws, seed=n) for n in args.labelled}
    write_report(work / "results" / args.start / f"{args.recipe}-select", results, table)
    return 0


def table(results: dict) -> str:
    """mAP@R on the held-out queries per domain, averaged over runs: zero-shot, each pick, the oracle."""
    runs = list(results["runs"].values())
    domains = list(runs[0][str(results["labelled"][0])])

    def mean(n, key, d):
        return float(np.mean([r[str(n)][d][key] for r in runs]))
    lines = [f"| held-out queries, mean of {len(runs)} runs | " + " | ".join(domains) + " | mean |",
             "|" + "---|" * (len(domains) + 2)]
    first = results["labelled"][0]
    for label, n, key in ([("zero-shot", first, "zero_shot")]
                          + [(f"pick with {n} labelled queries per domain", n, "pick") for n in results["labelled"]]
                          + [("oracle (all labels)", first, "oracle")]):
        cells = [mean(n, key, d) for d in domains]
        lines.append(f"| {label} | " + " | ".join(f"{c:.2f}" for c in cells) + f" | {np.mean(cells):.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
