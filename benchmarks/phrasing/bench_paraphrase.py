"""Does the same request find the same products, however it is phrased? (the paraphrase benchmark)

    python -m benchmarks.phrasing.bench_paraphrase --data runs/bench/data --out runs/phrasing/bench_s0 \\
        --checkpoint demo=demo_model --checkpoint sum=demo_model@sum

Every evaluation query of a generated catalogue (standard protocol: Fashion-IQ val, Shoes test) keeps its
reference image and target, and its modification is rewritten from the ground-truth attribute differences
(``product_descriptions.jsonl``) in each style of a phrasing set (default: the held-apart set, which no training
run sees; :mod:`data_prep.phrasing`). Every style names the same changes, so what differs between the rows is the
wording alone. Reported per checkpoint and layout: Recall@K per style; two references, the published captions
and the generator's own caption of the whole change in the training catalogue's style (``catalogue``); the spread
(best - worst) / best of R@10 over the styles, over the frame styles only (without misspellings and synonyms, which
test vocabulary rather than wording); the share of queries whose hit@10 flips with the wording; a permutation
noise floor for the spread; and how many tokens the texts take against the model's context length.
With ``--read-requests on`` (or ``both``) every text first goes through the serving engine's request reader
(:mod:`cti_ir.index.request_reading`), with the reference's facets read from its description, as served.

``PATH@COMPOSER`` loads a checkpoint's encoders with a fresh, untrained composer: ``@sum`` is the training-free
image + text baseline on the same encoders. A real Fashion-IQ or Shoes folder has no attributes to rewrite from:
the benchmark says so and stops (exit 2).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from benchmarks.common import error, set_threads, write_report
from benchmarks.phrasing.paraphrase_stats import flip_share, permutation_noise, spread, token_lengths
from cti_ir.data import open_benchmark
from cti_ir.index.facets import read_description
from cti_ir.evaluate.evaluator import encode_texts, rank_split, recall_at_k, target_ranks
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint
from cti_ir.index.request_reading import read_request_text
from data_prep.phrasing import PHRASING_SETS, STYLES, paraphrase
from data_prep.synth_attributes import differing_aspects
from data_prep.synth_captions import relative_caption

LAYOUTS = ("fashioniq", "shoes")
KS = {"fashioniq": (10, 50), "shoes": (1, 10, 50)}
LEXICAL_STYLES = ("misspelled", "synonyms")
REFERENCES = ("published", "catalogue")


class NoAttributesError(ValueError):
    """The dataset folder has no ground-truth attributes to rewrite modifications from."""


def read_attributes(root: Path) -> dict[str, dict]:
    """{image id: attributes with "category"} from a generated catalogue's ``product_descriptions.jsonl``."""
    path = root / "product_descriptions.jsonl"
    if not path.is_file():
        raise NoAttributesError(
            f"{root} has no product_descriptions.jsonl with ground-truth attributes, so its modifications cannot be "
            "rewritten (real Fashion-IQ and Shoes folders have none); run the benchmark on a catalogue written by "
            "python -m data_prep.synth")
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if not isinstance(row.get("attributes"), dict):
                raise NoAttributesError(f"{path} has rows without 'attributes' (not a generated catalogue); the "
                                        "benchmark needs the generator's ground-truth attributes")
            out[row["image_id"]] = {"category": row["category"], **row["attributes"]}
    return out


def style_texts(queries, attributes: dict, dataset: str, split_name: str, styles: Sequence[str], phrasing_set: str,
                seed: int) -> dict[str, list[str]]:
    """{style or reference: one text per query}; each query and style has its own random stream."""
    out: dict[str, list[str]] = {"published": [q.text for q in queries], "catalogue": []}
    out.update({s: [] for s in styles})
    for i, q in enumerate(queries):
        ref, tgt = attributes[q.reference], attributes[q.target]
        rng = random.Random(f"{seed}/{dataset}/{split_name}/{i}/catalogue")
        plural = dataset == "shoes" and rng.random() < 0.6
        out["catalogue"].append(relative_caption(ref, tgt, differing_aspects(ref, tgt), rng, plural=plural)[0])
        for style in styles:
            rng = random.Random(f"{seed}/{dataset}/{split_name}/{i}/{style}")
            out[style].append(paraphrase(ref, tgt, rng, phrasing_set, style).text)
    return out


@torch.no_grad()
def rank_texts(model, outcome, texts: Sequence[str]) -> torch.Tensor:
    """0-based target ranks when the split's queries carry ``texts`` (reference and gallery features reused)."""
    text_features = encode_texts(model, list(texts))
    queries = []
    for start in range(0, len(texts), 1024):
        out = model.compose(outcome.reference_features[start:start + 1024].to(model.device),
                            text_features[start:start + 1024].to(model.device))
        queries.append(out.query.float().cpu())
    return target_ranks(torch.cat(queries), outcome.gallery, outcome.target_index)


def reference_facets(root: Path) -> dict[str, dict]:
    """{image id: facets read from its description}: what a serving engine knows of a catalogue reference."""
    out = {}
    with open(root / "product_descriptions.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            out[row["image_id"]] = read_description(row.get("text") or "")
    return out


def read_texts(texts: dict[str, list[str]], queries, facets: dict, category_of: dict,
               fits=None, learned=None) -> dict[str, list[str]]:
    """Every text through the request reader (the engine's ``read_requests``): rewritten when understood fully,
    the canonical wording before the shopper's words when understood in part; ``fits`` and ``learned``: the model's
    ``fits_context`` and ``learned_word``."""
    return {name: [read_request_text(t, facets.get(q.reference), category_of.get(q.reference), fits, learned).text
                   for t, q in zip(column, queries)] for name, column in texts.items()}


def measure_layout(model, dataset: str, root: Path, styles: Sequence[str], phrasing_set: str, seed: int,
                   permutations: int, readers: Sequence[bool] = (False,)) -> dict[bool, dict]:
    """Every number of one checkpoint on one layout (see the module docstring), per reader setting."""
    bench = open_benchmark(dataset, root)
    attributes = read_attributes(root)
    facets = reference_facets(root) if any(readers) else {}
    category_of = {k: v["category"] for k, v in attributes.items()}
    names = list(REFERENCES) + list(styles)
    ranks = {r: {n: [] for n in names} for r in readers}
    per_split: dict[bool, dict] = {r: {} for r in readers}
    all_texts = {r: {n: [] for n in names} for r in readers}
    for split in bench.eval_splits(protocol="standard"):
        outcome = rank_split(model, split, bench.image_path, progress=False)
        plain = style_texts(split.queries, attributes, dataset, split.name, styles, phrasing_set, seed)
        for reader in readers:
            texts = read_texts(plain, split.queries, facets, category_of, model.fits_context,
                                   model.learned_word) if reader else plain
            per_split[reader][split.name] = {}
            for name in names:
                r = rank_texts(model, outcome, texts[name])
                ranks[reader][name].append(r)
                all_texts[reader][name] += texts[name]
                per_split[reader][split.name][name] = recall_at_k(r, KS[dataset])
    return {r: summarise(model, dataset, styles, names, ranks[r], per_split[r], all_texts[r], permutations, seed)
            for r in readers}


def summarise(model, dataset: str, styles: Sequence[str], names: list[str], ranks: dict, per_split: dict,
              all_texts: dict, permutations: int, seed: int) -> dict:
    """R@K per style, the spread figures, token lengths and examples from the pooled target ranks."""
    pooled = {n: torch.cat(ranks[n]) for n in names}
    rows = {n: recall_at_k(pooled[n], KS[dataset]) for n in names}
    hits = {n: (pooled[n] < 10).numpy() for n in styles}
    frames = [s for s in styles if s not in LEXICAL_STYLES]
    summary = {}
    for label, group in (("all", list(styles)), ("frames", frames)):
        if not group:
            continue
        matrix = np.stack([hits[s] for s in group], axis=1)
        noise = permutation_noise(matrix, permutations, seed)
        summary[label] = {"styles": group, "spread": spread([rows[s]["R@10"] for s in group]),
                          "flip_share": flip_share(matrix), "noise_p95": noise["p95"], "noise_mean": noise["mean"],
                          "p_value": noise["p_value"], "mean_R@10": float(np.mean([rows[s]["R@10"] for s in group])),
                          "worst_R@10": min(rows[s]["R@10"] for s in group)}
    context = int(getattr(model.tokenizer, "context_length", 0) or model.tokenize([""]).shape[-1])
    tokens = {n: token_lengths(model.tokenizer, all_texts[n], context) for n in names}
    examples = {n: all_texts[n][:3] for n in names}
    return {"queries": int(pooled["published"].numel()), "rows": rows, "per_split": per_split, "summary": summary,
            "tokens": tokens, "examples": examples}


def load_model(spec: str):
    """``PATH`` or ``PATH@COMPOSER`` (the checkpoint's encoders with a fresh composer of that kind)."""
    path, _, composer = spec.partition("@")
    if composer:
        return load_checkpoint(path, new_composer=(composer, {}))
    return load_checkpoint(path)


def tables(result: dict) -> str:
    """Markdown: per layout, R@10 per style (rows) and checkpoint (columns), then the spread figures."""
    lines = []
    labels = list(result["checkpoints"])
    for dataset in result["layouts"]:
        lines += [f"### {dataset}: R@10 per style ({result['phrasing_set']} set)", "",
                  "| style | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
        names = list(REFERENCES) + list(result["styles"])
        for name in names:
            cells = [f"{result['checkpoints'][c][dataset]['rows'][name]['R@10']:.2f}" for c in labels]
            example = result["checkpoints"][labels[0]][dataset]["examples"][name][0]
            lines.append(f"| {name} (\"{example}\") | " + " | ".join(cells) + " |")
        for group in ("frames", "all"):
            for key, fmt in (("mean_R@10", "{:.2f}"), ("spread", "{:.1f} %"), ("noise_p95", "{:.1f} %"),
                             ("flip_share", "{:.1f} %")):
                cells = [fmt.format(result["checkpoints"][c][dataset]["summary"][group][key])
                         if group in result["checkpoints"][c][dataset]["summary"] else "-" for c in labels]
                lines.append(f"| {group}: {key} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrasing.bench_paraphrase",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path,
                   help="a catalogue written by python -m data_prep.synth (its fashioniq/ and shoes/ folders)")
    p.add_argument("--checkpoint", action="append", required=True, metavar="LABEL=PATH[@COMPOSER]",
                   help="a model to measure (repeatable); @sum: its encoders with the training-free sum composer")
    p.add_argument("--out", required=True, type=Path, help="results base name: OUT.json (every number) and OUT.md")
    p.add_argument("--layouts", nargs="+", choices=LAYOUTS, default=list(LAYOUTS), help="which layouts to measure")
    p.add_argument("--set", dest="phrasing_set", choices=PHRASING_SETS, default="heldout",
                   help="phrasing set of the rewritten modifications (heldout: never seen in training)")
    p.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES), help="styles to rewrite into")
    p.add_argument("--seed", type=int, default=0, help="seed of the rewriting (each query and style its own stream)")
    p.add_argument("--permutations", type=int, default=1000, help="permutations of the noise floor (0 = none)")
    p.add_argument("--read-requests", choices=("off", "on", "both"), default="off",
                   help="pass every text through the serving engine's request reader first (on), or measure each "
                        "checkpoint both ways (both: columns LABEL and LABEL+reader)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_threads(args.threads)
    specs = {}
    for value in args.checkpoint:
        label, sep, spec = value.partition("=")
        if not sep or not label or not spec:
            return error(f"--checkpoint expects LABEL=PATH or LABEL=PATH@COMPOSER, got {value!r}")
        specs[label] = spec
    try:
        for dataset in args.layouts:  # before any model is loaded: a real dataset stops here
            read_attributes(args.data / dataset)
        models = {label: load_model(spec) for label, spec in specs.items()}
    except (NoAttributesError, CheckpointError, ValueError, FileNotFoundError) as e:
        return error(str(e))
    result = {"data": str(args.data), "phrasing_set": args.phrasing_set, "styles": args.styles, "seed": args.seed,
              "layouts": args.layouts, "read_requests": args.read_requests, "checkpoints": {}}
    readers = {"off": (False,), "on": (True,), "both": (False, True)}[args.read_requests]
    for label, model in models.items():
        columns = {r: (f"{label}+reader" if r and args.read_requests == "both" else label) for r in readers}
        for r, column in columns.items():
            result["checkpoints"][column] = {"spec": specs[label], "read_requests": r}
        for dataset in args.layouts:
            print(f"{label}: {dataset} ...", file=sys.stderr, flush=True)
            measured = measure_layout(model, dataset, args.data / dataset, args.styles, args.phrasing_set, args.seed,
                                      args.permutations, readers)
            for r, column in columns.items():
                result["checkpoints"][column][dataset] = measured[r]
    write_report(args.out, result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
