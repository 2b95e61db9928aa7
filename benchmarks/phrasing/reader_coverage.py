"""How much of a phrasing set does the request reader rewrite, and does the rewrite keep every change? (no model)

    python -m benchmarks.phrasing.reader_coverage --data runs/phrasing/data_s7 --set train \\
        --out runs/phrasing/coverage_train_s7

Draws reference/target pairs of one category from a generated catalogue's split (default: the evaluation split
of the standard protocol, Fashion-IQ ``val`` and Shoes ``test``), phrases each pair's ground-truth changes in every
style of a phrasing set, and passes each text through :func:`cti_ir.index.request_reading.read_request_text` with
the reference's facets read from its description, as the serving engine does. Per layout and style it reports the share of texts the reader *rewrote* (understood
fully; the rest go to the text encoder as written) and, of those, the share whose canonical wording read back
*keeps every change* (the target's value allowed, the reference's refused); and the share read *in part* (words
the reader does not know, the canonical wording of the rest put before the shopper's text; here without the text
tower's length limit, which the engine adds). A full rewrite that loses a change is the reader's one way to drop
what the shopper asked, so the "keep every change" column is the one to watch. ``--learned-words CHECKPOINT``
reads as the engine does for that model: words its training texts never held (its ``text_vocabulary.json``) are
set aside when the canonical wording says all that was asked (still no weights are loaded).

This is the check to tune the reader against on the *training* phrasings (``--set train``). Run on the held-apart
set it tells how far the reader reaches into wording it was not written for; tuning on that report would make the
paraphrase benchmark's held-apart rows a measure of the tuning, not of the shopper's words.
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path
from typing import Sequence

from benchmarks.common import error, write_report
from benchmarks.phrasing.bench_paraphrase import LAYOUTS
from benchmarks.phrasing.frame_words import phrased_pairs, read_right
from cti_ir.index.facets import read_request
from cti_ir.index.request_reading import read_request_text
from cti_ir.model.text_vocabulary import VOCABULARY_FILE, read_text_vocabulary
from data_prep.phrasing import PHRASING_SETS, STYLES

EVALUATION_SPLITS = {"fashioniq": "val", "shoes": "test"}  # the standard protocol's


def measure(root: Path, split: str, pairs: int, seed: int, phrasing_set: str,
            styles: Sequence[str], learned=None) -> dict[str, dict]:
    """{style: {"texts", "rewritten", "kept", "in_part", "lost_examples"}} for one layout folder."""
    out: dict[str, dict] = {s: {"texts": 0, "rewritten": 0, "kept": 0, "in_part": 0, "lost_examples": []}
                            for s in styles}
    for cat, ref, tgt, facets, style, para in phrased_pairs(root, split, pairs, seed, phrasing_set, styles):
        row = out[style]
        row["texts"] += 1
        reading = read_request_text(para.text, facets, cat, learned=learned)
        row["in_part"] += reading.in_part
        if not reading.understood:
            continue
        row["rewritten"] += 1
        if read_right(read_request(reading.text, facets), ref, tgt, para.claims):
            row["kept"] += 1
        elif len(row["lost_examples"]) < 5:
            row["lost_examples"].append({"request": para.text, "read_as": reading.text})
    return out


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def tables(result: dict) -> str:
    """The Markdown report: one table per layout, then the lost rewrites' examples."""
    lines = [f"# Request reader coverage: {result['phrasing_set']} phrasings, split {result['split']}, "
             f"{result['pairs']} pairs a layout, seed {result['seed']}", ""]
    for layout, styles in result["layouts"].items():
        lines += [f"## {layout}", "", "| style | texts | rewritten | rewrites that keep every change | read in part |",
                  "|---|---|---|---|---|"]
        total = collections.Counter()
        for style, row in styles.items():
            lines.append(f"| {style} | {row['texts']} | {_share(row['rewritten'], row['texts'])} | "
                         f"{_share(row['kept'], row['rewritten'])} | {_share(row['in_part'], row['texts'])} |")
            total.update({k: row[k] for k in ("texts", "rewritten", "kept", "in_part")})
        lines += [f"| all | {total['texts']} | {_share(total['rewritten'], total['texts'])} | "
                  f"{_share(total['kept'], total['rewritten'])} | {_share(total['in_part'], total['texts'])} |", ""]
        lost = [(s, e) for s, row in styles.items() for e in row["lost_examples"]]
        if lost:
            lines += ["Rewrites that lost a change:", ""]
            lines += [f"- {s}: \"{e['request']}\" read as \"{e['read_as']}\"" for s, e in lost[:20]]
            lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrasing.reader_coverage",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path,
                   help="a catalogue written by python -m data_prep.synth (its fashioniq/ and shoes/ folders)")
    p.add_argument("--out", required=True, type=Path, help="results base name: OUT.json (every count) and OUT.md")
    p.add_argument("--set", dest="phrasing_set", choices=PHRASING_SETS, default="train",
                   help="phrasing set to phrase the changes in (train: the one to tune the reader on)")
    p.add_argument("--split", default=None, help="catalogue split the pairs are drawn from (train, val, test; "
                                                 "default: each layout's evaluation split, val and test)")
    p.add_argument("--pairs", type=int, default=1000, help="reference/target pairs a layout, each phrased in every "
                                                           "style")
    p.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES), help="styles to phrase in")
    p.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS), help="which layouts to read")
    p.add_argument("--seed", type=int, default=0, help="seed of the pairs and their wording")
    p.add_argument("--learned-words", type=Path, default=None, metavar="CHECKPOINT",
                   help="read as the engine does for this checkpoint: set aside the words its training texts never "
                        "held (its text_vocabulary.json; default: every word counts as learned)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.pairs < 1:
        return error(f"--pairs must be at least 1, got {args.pairs}")
    result = {"data": str(args.data), "phrasing_set": args.phrasing_set, "split": args.split or "evaluation",
              "pairs": args.pairs,
              "seed": args.seed, "layouts": {}}
    try:
        learned = None
        if args.learned_words is not None:
            words = read_text_vocabulary(args.learned_words)
            if words is None:
                return error(f"{args.learned_words} has no {VOCABULARY_FILE}: its training texts were not recorded "
                             f"(python -m training.text_vocabulary writes one)")
            learned = words.__contains__
            result["learned_words"] = str(args.learned_words)
        for layout in args.layouts:
            split = args.split or EVALUATION_SPLITS[layout]
            result["layouts"][layout] = measure(args.data / layout, split, args.pairs, args.seed,
                                                args.phrasing_set, args.styles, learned)
    except ValueError as e:  # NoAttributesError included: a real dataset's folder
        return error(str(e))
    write_report(args.out, result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
