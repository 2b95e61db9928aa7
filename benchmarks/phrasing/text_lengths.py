"""How long are real requests, in a model's tokens? (is its text context long enough)

    python -m benchmarks.phrasing.text_lengths --checkpoint demo_model \\
        --fashioniq $CTI_IR_BENCHMARKS/fashioniq --shoes $CTI_IR_BENCHMARKS/shoes --out runs/phrasing/text_lengths

Reads the published annotation files only (no images): every caption of each split, and every query text of the
evaluation split as the standard protocol builds it (Fashion-IQ joins a triplet's two captions into one). Reports
per row the number of texts, their mean, 95th and 99th percentile and longest token count with the start and end
tokens (what the text tower reads), and the share longer than the checkpoint's context length, which the model cuts
off. The held-apart phrasing styles of a generated catalogue are measured the same way by ``bench_paraphrase``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.common import error, write_report
from cti_ir.data import open_benchmark
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint

SPLITS = {"fashioniq": ("train", "val", "test"), "shoes": ("train", "test")}


def count_tokens(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """Token counts of ``texts`` with the start and end tokens, not cut off at any context length."""
    return np.array([len(tokenizer.encode(t)) + 2 for t in texts], dtype=np.int64)


def length_row(counts: np.ndarray, context_length: int) -> dict:
    """Mean, percentiles, maximum and the percent of texts longer than ``context_length``."""
    return {"texts": int(counts.size), "mean": float(counts.mean()), "p95": float(np.percentile(counts, 95)),
            "p99": float(np.percentile(counts, 99)), "max": int(counts.max()),
            "over_context_pct": 100.0 * float(np.mean(counts > context_length))}


def dataset_rows(dataset: str, root: Path, tokenizer, context_length: int) -> dict[str, dict]:
    """``{"<split> captions": row, "<eval split> queries": row}`` for one dataset's annotation files."""
    bench = open_benchmark(dataset, root)
    rows = {}
    for split in SPLITS[dataset]:
        if bench.missing_annotation_files(split):
            continue
        captions = [c for t in bench.triplets(split) for c in t.captions]
        rows[f"{split} captions"] = length_row(count_tokens(tokenizer, captions), context_length)
    queries = [q.text for s in bench.eval_splits(protocol="standard", check=False) for q in s.queries]
    rows[f"{bench.eval_split} queries (standard protocol)"] = length_row(count_tokens(tokenizer, queries),
                                                                        context_length)
    return rows


def tables(result: dict) -> str:
    lines = [f"Token counts with the start and end tokens; context length of the checkpoint: "
             f"{result['context_length']}.", "",
             "| dataset | texts | how many | mean | p95 | p99 | max | longer than the context |",
             "|---|---|---|---|---|---|---|---|"]
    for dataset, rows in result["datasets"].items():
        for name, r in rows.items():
            lines.append(f"| {dataset} | {name} | {r['texts']:,} | {r['mean']:.1f} | {r['p95']:.0f} | {r['p99']:.0f} "
                         f"| {r['max']} | {r['over_context_pct']:.2f} % |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrasing.text_lengths",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=Path("demo_model"),
                   help="the checkpoint whose tokenizer and context length count (default: demo_model)")
    p.add_argument("--fashioniq", type=Path, default=None,
                   help="a Fashion-IQ folder with its captions/ and image_splits/ (images not needed)")
    p.add_argument("--shoes", type=Path, default=None,
                   help="a Shoes folder with relative_captions_shoes.json (images not needed)")
    p.add_argument("--out", type=Path, required=True, help="results base name: OUT.json and OUT.md")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    roots = {name: root for name, root in (("fashioniq", args.fashioniq), ("shoes", args.shoes)) if root}
    if not roots:
        return error("give --fashioniq and/or --shoes: the annotation folders to measure")
    for name, root in roots.items():
        if not root.is_dir():
            return error(f"--{name} {root} is not a folder")
    try:
        model = load_checkpoint(args.checkpoint)
    except (CheckpointError, FileNotFoundError) as exc:
        return error(f"--checkpoint {args.checkpoint}: {exc}")
    if getattr(model.tokenizer, "encode", None) is None:
        return error(f"--checkpoint {args.checkpoint}: its tokenizer cannot count tokens (no encode method)")
    context = int(getattr(model.tokenizer, "context_length", 0) or model.tokenize([""]).shape[-1])
    datasets = {}
    for name, root in roots.items():
        try:
            datasets[name] = dataset_rows(name, root, model.tokenizer, context)
        except (OSError, ValueError) as exc:
            return error(f"--{name} {root}: {exc}")
    result = {"checkpoint": str(args.checkpoint), "context_length": context, "datasets": datasets}
    write_report(args.out, result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
