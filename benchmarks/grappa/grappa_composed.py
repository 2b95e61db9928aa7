"""Composed search with an adapted image encoder: keep the unadapted encoder for composed queries, or re-fit the composer?

    python -m benchmarks.grappa.grappa_composed --adapted ADAPTED --data runs/bench/data --work runs/grappa/composed

Label-free adaptation (``training.adapt``) changes the image encoder the composer was trained with. This script
measures, with the project's Recall@K evaluator (``cti_ir.evaluate.evaluator``, Fashion-IQ val and Shoes test layouts,
standard protocol), on the generated catalogue the base model was trained on:

    unadapted                  the adapted checkpoint at granularity "off" (= the base model, exactly)
    adapted                    the fusion encoder with the composer as it is
    adapted + refit            the fusion encoder, the composer re-fitted for --refit-epochs on the stage-3 triplets
    unadapted + refit          the control: the same re-fit on the unadapted encoder

Encoders and adapters stay frozen during a re-fit; only the composer trains (stage 3's loss and data, on the
shared loop). Results: ``WORK/composed.json`` and ``.md``; finished parts are skipped when run again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from cti_ir.data import open_benchmark
from cti_ir.evaluate.evaluator import evaluate
from cti_ir.model.checkpoint import load_checkpoint
from training.common import HelpWithDefaults

from benchmarks.common import cached_json, write_report


def scores(model, data: Path) -> dict:
    """Fashion-IQ and Shoes scores (the README's "mean" columns) and their mean."""
    fiq = evaluate(model, "fashioniq", data / "fashioniq", progress=False)
    shoes = evaluate(model, "shoes", data / "shoes", progress=False)
    return {"fashioniq": fiq["score"], "shoes": shoes["score"], "overall": (fiq["score"] + shoes["score"]) / 2}


def refit(adapted: Path, granularity: str, data: Path, out: Path, epochs: int, seed: int, lr: float) -> dict:
    """Re-fit only the composer on the stage-3 triplets with the encoder at ``granularity``; returns its scores."""
    from training.distributed import DistInfo
    from training.loop import LoopConfig, Trainer
    from training.stage3 import HybridQueryTask

    torch.manual_seed(seed)
    model = load_checkpoint(adapted, granularity=granularity)
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith("composer."))
    benchmarks = {"fashioniq": open_benchmark("fashioniq", data / "fashioniq"),
                  "shoes": open_benchmark("shoes", data / "shoes")}
    task = HybridQueryTask(model, benchmarks, seed, weight_loss=0.1, weight_temperature=1.0, eval_batch_size=256,
                           augment=True, skip_missing=False)
    config = LoopConfig(out=out, epochs=epochs, batch_size=64, lr=lr, seed=seed, resume=True, progress=False,
                        training_args={"adapted": str(adapted), "granularity": granularity, "epochs": epochs})
    Trainer(model, task, config, DistInfo()).fit()
    best = load_checkpoint(out / "best", granularity=granularity)
    return scores(best, data)


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.grappa.grappa_composed", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    p.add_argument("--adapted", required=True, help="adapted checkpoint (python -m training.adapt)")
    p.add_argument("--data", default="runs/bench/data",
                   help="generated catalogue with fashioniq/ and shoes/ (the base model's own data)")
    p.add_argument("--work", default="runs/grappa/composed", help="folder for the re-fits and the results")
    p.add_argument("--refit-epochs", type=int, default=1, help="epochs of the composer re-fit (a brief one)")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate of the re-fit (stage 3's benchmark)")
    p.add_argument("--seed", type=int, default=0, help="seed of the re-fit")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The four rows (cached per row), as a table; WORK/composed.json and .md."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    work, data, adapted = Path(args.work), Path(args.data), Path(args.adapted)
    rows = {
        "unadapted": cached_json(work / "unadapted.json",
                                 lambda: scores(load_checkpoint(adapted, granularity="off"), data)),
        "adapted (fusion)": cached_json(work / "adapted.json",
                                        lambda: scores(load_checkpoint(adapted, granularity="fusion"), data)),
        f"adapted + composer re-fit ({args.refit_epochs} ep.)": cached_json(
            work / f"adapted-refit-{args.refit_epochs}.json",
            lambda: refit(adapted, "fusion", data, work / f"refit-fusion-{args.refit_epochs}", args.refit_epochs,
                          args.seed, args.lr)),
        f"unadapted + composer re-fit ({args.refit_epochs} ep.)": cached_json(
            work / f"unadapted-refit-{args.refit_epochs}.json",
            lambda: refit(adapted, "off", data, work / f"refit-off-{args.refit_epochs}", args.refit_epochs,
                          args.seed, args.lr)),
    }
    lines = ["| composed queries | Fashion-IQ mean | Shoes mean | overall |", "|---|---|---|---|"]
    lines += [f"| {name} | {r['fashioniq']:.2f} | {r['shoes']:.2f} | {r['overall']:.2f} |" for name, r in rows.items()]
    write_report(work / "composed", {"adapted": str(adapted), "data": str(data), "rows": rows}, "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
