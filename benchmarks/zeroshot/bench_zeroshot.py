"""Composed search without triplets: the zero-shot composers against the baselines and the triplet-trained model.

    python -m benchmarks.zeroshot.bench_zeroshot --work runs/zeroshot/bench --catalogues 0 7 --seeds 0 1 2 \\
        --threads 1

For each generated catalogue (``data_prep.synth``, one generator seed each: a shop), every row uses the same
encoders, those of ``--checkpoint`` (the demo model by default), and is evaluated with ``cti_ir.evaluate`` under the
standard protocols (Fashion-IQ layout: val, R@10/R@50 averaged over the categories; Shoes layout: test), overall
and per caption kind:

    image, text, sum        the parameter-free baselines (``new_composer``: the checkpoint's encoders, no training)
    triplet-trained         ``--upper-bound`` (default: the checkpoint itself, whose composer learnt from triplets)
    zs-texts+images         ``training.zeroshot`` on the catalogue's training descriptions and images
    zs-texts                on its training descriptions only (after LinCIR)
    zs-images               on its training images only (after Pic2Word)
    zs-pairs                an adaptive composer on pairs of its training products whose descriptions differ
                            in one or two facets (``--pairs``; mined pairs, after MagicLens)
    s3-pairs                stage 3 on the same kind of mined pairs, encoders included (``training.stage3 --data
                            pairs=...``, flags in ``--stage3-args``); its checkpoint is the one its per-epoch check
                            on pairs mined among held-out products kept, and it is evaluated with its own encoders

Each zero-shot variant is trained once per ``--seeds`` value; the pseudo-token ones are evaluated three times: as
trained (the trainer's defaults: the mean of six prompts' embeddings plus the plain sum, ``--sum-weight`` 1), with
the first prompt alone (``one-template``, Pic2Word's "a photo of * that {}") and without the sum (``prompt-only``,
sum weight 0); ``zs-pairs`` and ``s3-pairs`` once, as trained.
The gap closed is ``(row - sum) / (triplet-trained - sum)`` on R@10. Training time is the training process's CPU
time (one thread). Every step is resumable: finished results are files, interrupted trainings continue. All rows
share --checkpoint's image tower, so a catalogue's images are embedded once per process (the upper bound's own
encoders, when --upper-bound is given, embed them again).
Results: ``WORK/results/zeroshot.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from benchmarks.common import cached_json, error, run_cli, set_threads, write_report
from training.common import HelpWithDefaults

BASELINES = ("image", "text", "sum")
#: Zero-shot variants: what each trains on (descriptions' texts, their images, or both).
VARIANTS = {"zs-texts+images": ("texts", "images"), "zs-texts": ("texts",), "zs-images": ("images",),
            "zs-pairs": ("pairs",), "s3-pairs": ("stage3-pairs",)}
LAYOUTS = {"fashioniq": "Fashion-IQ", "shoes": "Shoes"}
#: How each trained zero-shot checkpoint is evaluated: row suffix -> change to the composer (None: as trained).
EVAL_MODES = {"": None, " one-template": ("templates", 1), " prompt-only": ("sum_weight", 0.0)}


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.zeroshot.bench_zeroshot",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpWithDefaults)
    p.add_argument("--work", default="runs/zeroshot/bench", help="folder for catalogues, runs and results")
    p.add_argument("--checkpoint", default="demo_model", help="the encoders every row uses")
    p.add_argument("--upper-bound", default=None,
                   help="the triplet-trained row's checkpoint (default: --checkpoint itself, with its own composer)")
    p.add_argument("--catalogues", nargs="+", type=int, default=[0, 7], help="generator seeds, one catalogue each")
    p.add_argument("--size", default="default", choices=("small", "default", "large"), help="catalogue size")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds of each variant")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                   help="zero-shot variants to train and evaluate")
    p.add_argument("--train-args", default="--epochs 7 --max-steps 600",
                   help="extra flags for every training.zeroshot run, as one string; the default gives every "
                        "variant the same 600 steps of 128 examples")
    p.add_argument("--stage3-args", default="--epochs 2 --lr 3e-4 --batch-size 64",
                   help="extra flags for every training.stage3 run of s3-pairs, as one string")
    p.add_argument("--results", default="zeroshot", help="name of the results files in WORK/results")
    p.add_argument("--threads", type=int, default=1, help="torch and FAISS CPU threads")
    return p


def catalogue(work: Path, seed: int, size: str) -> Path:
    """The generated catalogue of generator seed ``seed`` in WORK/data (made once)."""
    from data_prep import synth

    out = work / "data" / f"catalogue-{seed}"
    if not synth.is_complete(out, seed, size):
        run_cli(synth, ["--out", str(out), "--seed", str(seed), "--size", size, "--workers", "1", "--quiet"])
    return out


#: Image embeddings by (encoders' checkpoint, image ids): every row of a catalogue embeds the same images with the
#: same frozen image tower, and embedding them is most of an evaluation's time on a CPU.
_IMAGE_FEATURES: dict = {}


def evaluate_model(model, data: Path, encoders: str | None = None) -> dict:
    """Both layouts' standard-protocol results, with the per-kind section; ``encoders`` names the checkpoint whose
    image tower ``model`` has, so that its image embeddings are reused by the next row with the same encoders."""
    from unittest import mock

    from cti_ir.evaluate import evaluator

    plain = evaluator.encode_images

    def cached(model, ids, path_of, *args, **kwargs):
        key = (encoders, str(path_of(ids[0])) if ids else "", tuple(ids))
        if encoders is None:
            return plain(model, ids, path_of, *args, **kwargs)
        if key not in _IMAGE_FEATURES:
            _IMAGE_FEATURES[key] = plain(model, ids, path_of, *args, **kwargs)
        return _IMAGE_FEATURES[key]

    with mock.patch.object(evaluator, "encode_images", cached):
        return {layout: evaluator.evaluate(model, layout, data / layout, progress=False, by_kind=True)
                for layout in LAYOUTS}


def baseline_rows(args, work: Path, data: Path, name: str) -> dict:
    """image, text, sum and triplet-trained on catalogue ``name``."""
    from cti_ir.model.checkpoint import load_checkpoint

    rows = {}
    for composer in BASELINES:
        rows[composer] = cached_json(work / "results" / name / f"{composer}.json", lambda c=composer: evaluate_model(
            load_checkpoint(args.checkpoint, new_composer=(c, {})), data, args.checkpoint))
    rows["triplet-trained"] = cached_json(work / "results" / name / "triplet-trained.json", lambda: evaluate_model(
        load_checkpoint(args.upper_bound or args.checkpoint), data, args.upper_bound or args.checkpoint))
    return rows


def train_variant(args, work: Path, data: Path, name: str, variant: str, seed: int) -> tuple[Path, dict]:
    """Train one zero-shot variant (resumable); its run folder and the training's CPU and wall time."""
    from training import stage3
    from training.zeroshot import cli as zeroshot

    run = work / "runs" / name / f"{variant}-seed{seed}"
    sources = [str(data / layout / "product_descriptions.jsonl") for layout in LAYOUTS]
    argv = ["--init", args.checkpoint, "--out", str(run), "--seed", str(seed), "--threads", str(args.threads),
            "--no-progress"]
    if variant == "s3-pairs":
        trainer = stage3
        argv += ["--resume"] * (run / "train_state.pt").is_file() + args.stage3_args.split()
        argv += [x for s in sources for x in ("--data", f"pairs={s}")]
    else:
        trainer = zeroshot
        argv += ["--resume", *args.train_args.split()]
        for kind in VARIANTS[variant]:
            argv += [x for s in sources for x in (f"--{kind}", s)]

    def timed() -> dict:
        resumed = (run / "train_state.pt").is_file()  # an interrupted run: only the rest is timed
        cpu, wall = time.process_time(), time.perf_counter()
        run_cli(trainer, argv)
        return {"cpu_s": time.process_time() - cpu, "wall_s": time.perf_counter() - wall, "resumed": resumed}

    return run, cached_json(work / "results" / name / f"{variant}-seed{seed}.time.json", timed)


def variant_rows(args, work: Path, data: Path, name: str) -> tuple[dict, dict]:
    """{row: {seed: result}} of every zero-shot variant, as trained and prompt-only, and their training times."""
    from cti_ir.model.checkpoint import load_checkpoint

    rows: dict = {}
    times: dict = {}
    for variant in args.variants:
        for seed in args.seeds:
            run, timing = train_variant(args, work, data, name, variant, seed)
            times.setdefault(variant, {})[seed] = timing
            pseudo_token = {"texts", "images"} & set(VARIANTS[variant])
            modes = EVAL_MODES if pseudo_token else {"": None}  # prompts: pseudo-token only
            # stage 3 trains the encoders: its checkpoint embeds the images itself, and its check chose the epoch
            encoders, kept = (None, "best") if variant == "s3-pairs" else (args.checkpoint, "last")
            for suffix, change in modes.items():
                def compute(change=change):
                    model = load_checkpoint(run / kept)
                    if change == ("templates", 1):
                        model.composer.templates = model.composer.templates[:1]
                    elif change is not None:
                        setattr(model.composer, *change)
                    return evaluate_model(model, data, encoders)
                rows.setdefault(variant + suffix, {})[seed] = cached_json(
                    work / "results" / name / f"{variant}{suffix.replace(' ', '-')}-seed{seed}.json", compute)
    return rows, times


def headline(result: dict) -> dict:
    """R@10 and R@50 of each layout (Fashion-IQ: averaged over its categories)."""
    out = {}
    for layout, r in result.items():
        out[layout] = {k: r["average"][k] for k in ("R@10", "R@50")}
    return out


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def summarise(catalogues: dict) -> dict:
    """Per catalogue and layout: each row's R@10/R@50 (mean and spread over seeds) and the gap it closes."""
    summary = {}
    for name, c in catalogues.items():
        rows = {row: [headline(r)] for row, r in c["baselines"].items()}
        rows.update({row: [headline(r) for r in by_seed.values()] for row, by_seed in c["variants"].items()})
        table = {}
        for layout in LAYOUTS:
            low = rows["sum"][0][layout]["R@10"]
            high = rows["triplet-trained"][0][layout]["R@10"]
            for row, results in rows.items():
                r10 = mean_std([x[layout]["R@10"] for x in results])
                r50 = mean_std([x[layout]["R@50"] for x in results])
                closed = [(x[layout]["R@10"] - low) / (high - low) for x in results] if high != low else [float("nan")]
                table.setdefault(row, {})[layout] = {"R@10": r10, "R@50": r50, "gap_closed": mean_std(closed),
                                                     "seeds": len(results)}
        summary[name] = table
    return summary


def by_kind_table(catalogues: dict) -> str:
    """R@10 per caption kind (pooled over categories) of each row, seeds averaged."""
    lines = []
    for name, c in catalogues.items():
        for layout, title in LAYOUTS.items():
            results = {row: [r] for row, r in c["baselines"].items()}
            results.update({row: list(by_seed.values()) for row, by_seed in c["variants"].items()})
            kinds = list(results["sum"][0][layout].get("by_kind", {}))
            if not kinds:
                continue
            lines += [f"\n{name}, {title} layout: R@10 per caption kind (queries pooled over categories)\n",
                      "| row | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
            for row, rs in results.items():
                cells = [f"{np.mean([r[layout]['by_kind'][k]['R@10'] for r in rs]):.2f}" for k in kinds]
                lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def gate(summary: dict, row: str) -> str:
    """The issue's bar in one line: does ``row`` close at least half the gap on every catalogue and layout?"""
    closed = {(name, layout): table[row][layout]["gap_closed"][0]
              for name, table in summary.items() if row in table for layout in LAYOUTS}
    parts = ", ".join(f"{name} {LAYOUTS[layout]} {100 * c:.0f} %" for (name, layout), c in closed.items())
    verdict = "met" if closed and all(c >= 0.5 for c in closed.values()) else "not met"
    return f"- {row}: {verdict} ({parts})"


def tables(result: dict) -> str:
    """The Markdown report."""
    rows = [r for r in next(iter(result["summary"].values())) if r.startswith(("zs-", "s3-"))]
    lines = ["Gate: at least half the gap between sum and triplet-trained closed (R@10, mean over seeds) on every "
             "catalogue and layout", *[gate(result["summary"], row) for row in rows]]
    for name, table in result["summary"].items():
        lines += [f"\n{name}: same encoders ({result['checkpoint']}); R@10 / R@50, mean ± spread over seeds; gap "
                  "closed = (row - sum) / (triplet-trained - sum) on R@10\n",
                  "| row | FIQ R@10 | FIQ R@50 | FIQ gap closed | Shoes R@10 | Shoes R@50 | Shoes gap closed | seeds |",
                  "|---|---|---|---|---|---|---|---|"]
        for row, layouts in table.items():
            cells = []
            for layout in LAYOUTS:
                x = layouts[layout]
                cells += [f"{x['R@10'][0]:.2f} ± {x['R@10'][1]:.2f}", f"{x['R@50'][0]:.2f} ± {x['R@50'][1]:.2f}",
                          f"{100 * x['gap_closed'][0]:.0f} %"]
            lines.append(f"| {row} | " + " | ".join(cells) + f" | {layouts['fashioniq']['seeds']} |")
    lines += ["\nTraining time (CPU minutes of one thread, per run; wall minutes in brackets)\n",
              "| catalogue | variant | " + " | ".join(f"seed {s}" for s in result["seeds"]) + " |",
              "|---|---|" + "---|" * len(result["seeds"])]
    for name, c in result["catalogues"].items():
        for variant, by_seed in c["times"].items():
            cells = [f"{t['cpu_s'] / 60:.1f} ({t['wall_s'] / 60:.1f})" + ("*" if t["resumed"] else "")
                     for t in by_seed.values()]
            lines.append(f"| {name} | {variant} | " + " | ".join(cells) + " |")
    lines.append("\n(* resumed after an interruption: the time is the last part's only)")
    return "\n".join(lines) + "\n" + by_kind_table(result["catalogues"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    work = Path(args.work)
    if not Path(args.checkpoint).is_dir():
        return error(f"--checkpoint {args.checkpoint} is not a checkpoint folder")
    set_threads(args.threads)
    catalogues = {}
    for seed in args.catalogues:
        name = f"catalogue-{seed}"
        data = catalogue(work, seed, args.size)
        variants, times = variant_rows(args, work, data, name)
        catalogues[name] = {"baselines": baseline_rows(args, work, data, name), "variants": variants,
                            "times": {v: {str(s): t for s, t in ts.items()} for v, ts in times.items()}}
    result = {"checkpoint": args.checkpoint, "upper_bound": args.upper_bound or args.checkpoint,
              "seeds": args.seeds, "train_args": args.train_args, "stage3_args": args.stage3_args,
              "catalogues": catalogues,
              "summary": summarise(catalogues)}
    write_report(work / "results" / args.results, result, tables)
    return 0


if __name__ == "__main__":
    sys.exit(main())
