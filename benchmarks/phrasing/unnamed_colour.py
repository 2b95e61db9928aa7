"""What a colour the request reader cannot name costs, and whether saying "another colour" buys any of it back.

    python -m benchmarks.phrasing.unnamed_colour --data runs/phrasing/data_s7 --checkpoint demo_model \\
        --out runs/phrasing/unnamed_colour_s7

A shopper who asks for a shade nobody put in the reader's lists ("in conker", "in delft") and that the model never
learned asks for a colour change the system cannot see. This measures, on a generated catalogue's evaluation
queries (standard protocol) whose ground-truth change holds the colour and at least one other aspect, R@10 of the
served demo model when the query's text is:

- ``named``: every change in the reader's canonical wording (what a known shade gives);
- ``unnamed``: the same without the colour (what an unknown shade, set aside, leaves);
- ``not_reference``: ``unnamed`` plus "and is not <the reference's colour>";
- ``different_colour``: ``unnamed`` plus "and is a different color".

Each change is worded in the training phrasings' ``terse`` style and read by the reader with the reference's facets,
as the engine does. The last two are what a reader could say when it knows that a colour was asked for but not
which; the figures say whether that is worth building. Needs the generator's ground-truth attributes.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path
from typing import Sequence

import torch

from benchmarks.common import error, set_threads, write_report
from benchmarks.phrasing.bench_paraphrase import (LAYOUTS, NoAttributesError, rank_texts, read_attributes,
                                                  reference_facets)
from cti_ir.data import open_benchmark
from cti_ir.evaluate.evaluator import rank_split
from cti_ir.index.request_reading import read_request_text
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint
from data_prep.phrasing import paraphrase
from data_prep.synth_attributes import differing_aspects

VARIANTS = ("named", "unnamed", "not_reference", "different_colour")


def variant_texts(model, reference: dict, target: dict, facets: dict | None, rng_key: str) -> dict[str, str] | None:
    """The four texts of one query (see the module docstring), or None when its change is not a colour and more."""
    aspects = differing_aspects(reference, target)
    if "color" not in aspects or len(aspects) < 2:
        return None
    category = reference["category"]

    def canonical(wanted: Sequence[str]) -> str:
        text = paraphrase(reference, target, random.Random(rng_key), "train", "terse", aspects=list(wanted)).text
        return read_request_text(text, facets, category, model.fits_context, model.learned_word).text

    unnamed = canonical([a for a in aspects if a != "color"])
    return {"named": canonical(aspects), "unnamed": unnamed,
            "not_reference": f"{unnamed} and is not {reference['color']}",
            "different_colour": f"{unnamed} and is a different color"}


def measure_layout(model, dataset: str, root: Path) -> dict:
    """R@10 of each variant over the layout's colour-and-more queries, pooled over its evaluation splits."""
    bench = open_benchmark(dataset, root)
    attributes = read_attributes(root)
    facets = reference_facets(root)
    ranks: dict[str, list[torch.Tensor]] = {v: [] for v in VARIANTS}
    examples: dict[str, list[str]] = {v: [] for v in VARIANTS}
    total = 0
    for split in bench.eval_splits(protocol="standard"):
        outcome = rank_split(model, split, bench.image_path, progress=False)
        total += len(split.queries)
        rows, texts = [], {v: [] for v in VARIANTS}
        for i, q in enumerate(split.queries):
            found = variant_texts(model, attributes[q.reference], attributes[q.target], facets.get(q.reference),
                                  f"{dataset}/{split.name}/{i}")
            if found is not None:
                rows.append(i)
                for v in VARIANTS:
                    texts[v].append(found[v])
        if not rows:
            continue
        index = torch.tensor(rows)
        subset = dataclasses.replace(outcome, reference_features=outcome.reference_features[index],
                                     target_index=outcome.target_index[index])
        for v in VARIANTS:
            ranks[v].append(rank_texts(model, subset, texts[v]))
            examples[v] = (examples[v] + texts[v])[:2]
    pooled = {v: torch.cat(r) if r else torch.empty(0) for v, r in ranks.items()}
    queries = int(pooled["named"].numel())
    return {"queries": queries, "of": total,
            "R@10": {v: float((p < 10).float().mean() * 100) if queries else 0.0 for v, p in pooled.items()},
            "examples": examples}


def tables(result: dict) -> str:
    """The report's Markdown: R@10 per variant and layout."""
    lines = ["| text of a colour-and-more change | " + " | ".join(result["layouts"]) + " |",
             "|---|" + "---|" * len(result["layouts"])]
    for v in VARIANTS:
        lines.append(f"| {v} | " + " | ".join(f"{result['layouts'][d]['R@10'][v]:.2f}" for d in result["layouts"])
                     + " |")
    lines.append("| queries (of all) | " + " | ".join(
        f"{r['queries']} of {r['of']}" for r in result["layouts"].values()) + " |")
    return "### R@10 when the new colour is named, unnamed, or said only as 'another colour'\n\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrasing.unnamed_colour",
                                description="What a colour the request reader cannot name costs (R@10).")
    p.add_argument("--data", required=True, type=Path,
                   help="a catalogue written by python -m data_prep.synth (its fashioniq/ and shoes/ folders)")
    p.add_argument("--checkpoint", required=True, type=Path, help="the model to measure (a checkpoint folder)")
    p.add_argument("--out", required=True, type=Path, help="results base name: OUT.json (every number) and OUT.md")
    p.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS), help="which layouts to measure")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    missing = [d for d in args.layouts if not (args.data / d).is_dir()]
    if missing:
        return error(f"{args.data} has no {', '.join(missing)} folder; pass a catalogue written by "
                     "python -m data_prep.synth")
    try:
        model = load_checkpoint(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as e:
        return error(f"cannot load the checkpoint {args.checkpoint}: {e}")
    try:
        layouts = {d: measure_layout(model, d, args.data / d) for d in args.layouts}
    except NoAttributesError as e:
        return error(str(e))
    result = {"data": str(args.data), "checkpoint": str(args.checkpoint), "layouts": layouts}
    write_report(args.out, result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
