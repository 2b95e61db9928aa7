"""The evaluation command: Recall@K under the published protocols, as a table and a JSON file.

    python -m cti_ir.evaluate --checkpoint runs/stage3/best --dataset fashioniq --root data/fashioniq
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import torch

from cti_ir.evaluate.evaluator import RECALL_KS, evaluate
from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, Bounds, check_numeric_flags, command_line_message

#: The allowed values of the numeric flags (--weight-sweep needs the weights 0 and 1 at least).
EVALUATE_BOUNDS = {"batch_size": AT_LEAST_ONE, "workers": NON_NEGATIVE, "weight_sweep": Bounds(2)}


def format_table(result: dict) -> str:
    """The result as the papers' table (Markdown)."""
    ks = RECALL_KS[result["dataset"]]
    head = "| split | " + " | ".join(f"R@{k}" for k in ks) + " | queries | gallery |"
    lines = [head, "|" + "---|" * (len(ks) + 3)]
    for name, r in result["splits"].items():
        lines.append(f"| {name} | " + " | ".join(f"{r[f'R@{k}']:.2f}" for k in ks)
                     + f" | {_kept(r, 'queries')} | {_kept(r, 'gallery')} |")
    not_evaluated = result.get("not_evaluated") or {}
    for name, r in not_evaluated.items():
        lines.append(f"| {name} | " + " | ".join("not evaluated" for _ in ks)
                     + f" | 0 / {r['queries_published']} | {r['gallery_published']} |")
    if len(result["splits"]) > 1 or not_evaluated:
        over = f" of {', '.join(result['splits'])}" if not_evaluated else ""
        lines.append(f"| average{over} | " + " | ".join(f"{result['average'][f'R@{k}']:.2f}" for k in ks)
                     + " | | |")
    label = "(avg R@10 + avg R@50) / 2" if result["dataset"] == "fashioniq" else "mean of R@1/R@10/R@50"
    lines.append(f"\nscore, {label}: {result['score']:.2f}")
    if not_evaluated:
        lines.append(f"not evaluated (left out of the averages and the score): {', '.join(not_evaluated)}: every "
                     f"query has a missing or unreadable image")
    gallery = result.get("gallery") or {}
    if gallery.get("mode", "symmetric") != "symmetric":
        n = len(gallery.get("members", []))
        lines.append(f"galleries embedded by an ensemble of {n} gallery model{'s' if n != 1 else ''} carried into "
                     f"the query model's space (asymmetric search); the queries by the query model alone")
    if result.get("reduced_protocol") is not None:
        lines.append(protocol_line(result))
    weights = [(name, r["image_weight"]) for name, r in result["splits"].items() if "image_weight" in r]
    if weights:
        lines.append("composer's image weight per query (text = 1 - image): " + "; ".join(
            f"{name} mean {w['mean']:.2f}, std {w['std']:.2f}, range {w['min']:.2f}-{w['max']:.2f}"
            for name, w in weights))
    if "by_kind" in result or "weight_sweep" in result:
        from cti_ir.evaluate.by_kind import format_by_kind, format_sweep

        if "by_kind" in result:
            lines.append(format_by_kind(result))
        if "weight_sweep" in result:
            lines.append(format_sweep(result))
    return "\n".join(lines)


def _kept(r: dict, what: str) -> str:
    """A count as the table shows it: "kept / published" when some were left out."""
    published = r.get(f"{what}_published", r[what])
    return f"{r[what]}" if r[what] == published else f"{r[what]} / {published}"


def protocol_line(result: dict) -> str:
    """One line saying whether the numbers are on the full protocol or on a reduced one, and how reduced."""
    coverage = result["reduced_protocol"]
    if not coverage["reduced"]:
        return (f"protocol: full {result['protocol']} protocol on {result['split']} (every query and gallery image "
                "the annotation files define)")
    parts = []
    for name in coverage["reduced_splits"]:
        r = result["splits"][name]
        parts.append(f"{name} {r['queries']} of {r['queries_published']} queries, {r['gallery']} of "
                     f"{r['gallery_published']} gallery images")
    if coverage["categories_not_evaluated"]:
        parts.append("categories not evaluated: " + ", ".join(coverage["categories_not_evaluated"])
                     + " (the published averages are over all of them)")
    return ("REDUCED PROTOCOL, not comparable with published numbers: " + "; ".join(parts)
            + " (missing or unreadable images were left out; README, Real data)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cti_ir.evaluate",
        description="Recall@K of a checkpoint under the published Fashion-IQ / Shoes protocols.",
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint folder written by training (e.g. runs/stage3/best)")
    p.add_argument("--dataset", required=True, choices=sorted(RECALL_KS), help="which benchmark layout ROOT holds")
    p.add_argument("--root", required=True, help="dataset folder in the published layout (see docs/DESIGN.md)")
    p.add_argument("--granularity", default=None,
                   help="for an adapted checkpoint (python -m training.adapt): its image encoder at this granularity: "
                        "fusion (its default), one adapter set such as k64, or off (the unadapted encoder)")
    p.add_argument("--protocol", default="standard", choices=["standard", "val"],
                   help="standard: one query per triplet over the whole split pool (CLIP4Cir, PL4CIR); "
                        "val: one query per caption over the triplets' images (VAL, Fashion-IQ only)")
    p.add_argument("--split", default=None, help="split to evaluate (default: val for Fashion-IQ, test for Shoes)")
    p.add_argument("--categories", nargs="*", default=None, help="Fashion-IQ categories to evaluate (default: all)")
    p.add_argument("--batch-size", type=int, default=128, help="images per encoder batch")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes for image decoding")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    p.add_argument("--skip-missing", action="store_true",
                   help="drop queries and gallery images whose files are missing or unreadable instead of stopping "
                        "with an error; the table and the JSON then say how many of the published queries and gallery "
                        "images were kept (a REDUCED PROTOCOL line), so the numbers are not mistaken for full ones; "
                        "a category left with no query is reported as not evaluated and left out of the averages")
    p.add_argument("--gallery-model", action="append", default=None, metavar="GALLERY_CKPT:TRANSFORM",
                   help="asymmetric search: embed the galleries with this gallery model carried into --checkpoint's "
                        "space by its transformation (repeat for an ensemble, as `cti_ir.index build`); the "
                        "queries are still encoded by --checkpoint alone")
    p.add_argument("--by-kind", action="store_true",
                   help="also report Recall@K per caption kind (relative, partial, absolute, vague, mistake), pooled "
                        "over the categories; needs a catalogue written by `python -m data_prep.synth`, whose "
                        "caption_provenance.jsonl records each triplet's kind")
    p.add_argument("--weight-sweep", nargs="?", type=int, const=21, default=None, metavar="STEPS",
                   help="also rank every query with a plain weighted sum of the model's image and text features at "
                        "STEPS image weights from 0 to 1 (default 21, every 0.05): the best weight per query is the "
                        "oracle balance (the ceiling of weighting, chosen with hindsight); reports its recall, the "
                        "best fixed weight, and how closely the composer's own weights follow it (hit rate, mean "
                        "absolute error, Pearson r); per kind with --by-kind")
    p.add_argument("--read-requests", choices=("on", "off"), default="off",
                   help="on: every modification first goes through the search engine's request reader "
                        "(cti_ir.index.request_reading: rewritten into one canonical wording when fully understood, "
                        "that wording put before the text when understood in part, else unchanged), without the "
                        "reference's facets, as for an uploaded photo")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--output", default=None, help="also write the result as JSON to this file")
    p.add_argument("--whole-catalogue", default=None, metavar="INDEX",
                   help="also search the queries in this index (the page's, built with this checkpoint) over the "
                        "whole catalogue: Recall@K and the share of the top 10 in the reference's category, with "
                        "every category, the reference's category, and an uploaded photo's; beside the published "
                        "protocol, which is reported unchanged")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config

    try:
        check_numeric_flags(args, EVALUATE_BOUNDS)
        read_checkpoint_config(args.checkpoint)  # cheap checks of the folders before the model loads
        if args.gallery_model:
            from cti_ir.asymmetric.ensemble import check_ensemble_specs

            check_ensemble_specs(args.gallery_model, args.checkpoint)
        model = load_checkpoint(args.checkpoint, device=args.device, granularity=args.granularity)
        if args.read_requests == "on":
            read_requests_first(model, "shoes" if args.dataset == "shoes" else "garment")
        gallery = None
        if args.gallery_model:
            from cti_ir.asymmetric.ensemble import load_ensemble

            gallery = load_ensemble(model, args.gallery_model, device=args.device)
        result = evaluate(model, args.dataset, args.root, args.split, args.protocol, args.batch_size, args.workers,
                          args.skip_missing, progress=True, categories=args.categories, gallery_encoder=gallery,
                          by_kind=args.by_kind, weight_sweep=args.weight_sweep)
        if args.whole_catalogue:
            result["whole_catalogue"] = _whole_catalogue(model, args, result["split"])
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {command_line_message(e)}", file=sys.stderr)
        return 2
    result["checkpoint"] = str(args.checkpoint)
    result["read_requests"] = args.read_requests
    result["fingerprint"] = model.fingerprint
    if gallery is not None:
        result["gallery"] = gallery.describe()
    if args.output:
        from cti_ir.files import write_json_atomic

        write_json_atomic(args.output, result)
    text = format_table(result)
    if "whole_catalogue" in result:
        from cti_ir.evaluate.whole_catalogue import format_whole_catalogue

        text += "\n" + format_whole_catalogue(result["whole_catalogue"], RECALL_KS[args.dataset])
    print(json.dumps(result) if args.json else text)
    return 0


def read_requests_first(model, category: str | None) -> None:
    """Make ``model.encode_texts`` read each request first, as the search engine's ``read_requests`` does."""
    from cti_ir.index.request_reading import read_request_text

    encode = model.encode_texts

    def encode_read(texts, *args, **kwargs):
        return encode([read_request_text(t, None, category, model.fits_context, model.learned_word).text
                       for t in texts], *args, **kwargs)

    model.encode_texts = encode_read


def _whole_catalogue(model, args, split: str) -> dict:
    """The whole-catalogue protocol (``cti_ir.evaluate.whole_catalogue``) on the same queries."""
    from cti_ir.data import open_benchmark
    from cti_ir.evaluate.whole_catalogue import evaluate_whole_catalogue

    bench = open_benchmark(args.dataset, args.root)
    splits = [s for s in bench.eval_splits(split=split, protocol=args.protocol, skip_missing=args.skip_missing)
              if not args.categories or s.name in args.categories]
    return evaluate_whole_catalogue(model, bench, args.whole_catalogue, splits, RECALL_KS[args.dataset],
                                    args.batch_size, args.workers)


if __name__ == "__main__":
    sys.exit(main())
