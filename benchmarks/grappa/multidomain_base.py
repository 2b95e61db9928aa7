"""The starting models of the multi-domain Grappa benchmark: models that have seen none of the benchmark's domains.

    python -m benchmarks.grappa.multidomain_base --work runs/multidomain --threads 1
    python -m benchmarks.grappa.multidomain_base --work runs/multidomain --start stage2-shirts --threads 1

Grappa adapts a *generic* pretrained encoder to new domains. Offline, the generic encoder is the project's stage 1
trained from scratch on generated open-domain scenes (``data_prep.synth_open_domain``: shapes, trees, cars, cups
on plain backgrounds, with true captions): it has never seen a dress, a top or a shoe, so every fashion domain of
the benchmark is new to it. The scene corpus is the one ``python -m data_prep.synth --seed 0`` writes for its
size (same planner, same render seeds), written here alone, without the fashion parts.

Writes ``WORK/stage1/open_domain`` (the image-caption corpus) and ``WORK/stage1/run`` (the training run; its
``best/`` checkpoint is the benchmark's zero-shot model). Both steps are skipped when already done.

``--start stage2-shirts`` goes one step further, as a shop's model trained on *other* products would: the stage-1
model continues with the project's stage 2 (fashion text->image retrieval and attribute words) on shirts alone,
photographed and described by the generators (``WORK/stage2/shirts``, run in ``WORK/stage2/run``). Shirts are none
of the benchmark's domains (shoes, tops and tees, dresses, scenes), but share their garment vocabulary (sleeves, fit,
colour, pattern), as a generic pretrained model shares some of what a new task needs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from benchmarks.common import run_cli
from training.common import HelpWithDefaults

CORPUS_DONE = "corpus_info.json"


def write_corpus(out: Path, seed: int, n_train: int, n_val: int) -> Path:
    """The open-domain image-caption corpus (train and validation imagefolders), unless already complete."""
    from data_prep.synth import render_all
    from data_prep.synth_catalogue import SizeSpec, plan_open_domain
    from data_prep.synth_writers import write_json_atomic, write_open_domain

    settings = {"seed": seed, "train": n_train, "validation": n_val}
    done = out / CORPUS_DONE
    if done.is_file() and json.loads(done.read_text(encoding="utf-8")) == settings:
        return out
    scenes = plan_open_domain(seed, SizeSpec((0, 0, 0), (0, 0), (n_train, n_val)))
    jobs = [("scene", s.scene, s.render_seed, str(out / s.split / s.file_name)) for s in scenes]
    for split in {s.split for s in scenes}:
        (out / split).mkdir(parents=True, exist_ok=True)
    render_all(jobs, workers=1, progress=False)
    write_open_domain(out, scenes)
    write_json_atomic(done, settings)  # last: marks the corpus complete
    return out


def ensure_base_model(work: Path, seed: int = 0, n_train: int = 3000, n_val: int = 600, epochs: int = 10,
                      threads: int | None = None, max_steps: int | None = None) -> Path:
    """The stage-1 checkpoint folder (trained here unless it exists): ``WORK/stage1/run/best``."""
    from training import stage1

    corpus = write_corpus(work / "stage1" / "open_domain", seed, n_train, n_val)
    run = work / "stage1" / "run"
    argv = ["--data", str(corpus), "--out", str(run), "--model", "cti-small", "--epochs", str(epochs),
            "--seed", str(seed), "--resume", "--no-progress"]
    if threads:
        argv += ["--threads", str(threads)]
    if max_steps:
        argv += ["--max-steps", str(max_steps)]
    run_cli(stage1, argv, run / "best" / "cti_config.json")
    return run / "best"


def write_shirts(out: Path, seed: int, n_train: int, n_val: int) -> Path:
    """A stage-2 corpus of shirts only: photos and full product descriptions (``product_descriptions.jsonl``)."""
    import random

    from data_prep.synth import render_all
    from data_prep.synth_attributes import sample_product
    from data_prep.synth_descriptions import describe_product
    from data_prep.synth_writers import write_json_atomic, write_jsonl_atomic

    settings = {"seed": seed, "train": n_train, "validation": n_val}
    done = out / CORPUS_DONE
    if done.is_file() and json.loads(done.read_text(encoding="utf-8")) == settings:
        return out / "product_descriptions.jsonl"
    rng = random.Random(f"{seed}/multidomain/stage2/shirts")
    rows, jobs = [], []
    for i in range(n_train + n_val):
        attributes = sample_product("shirt", rng)
        name = f"images/shirt-{i:05d}.jpg"
        rows.append({"file_name": name, "text": describe_product(attributes, rng), "category": "shirt",
                     "attributes": attributes, "split": "train" if i < n_train else "val"})
        jobs.append(("product", attributes, rng.getrandbits(63), str(out / name)))
    (out / "images").mkdir(parents=True, exist_ok=True)
    render_all(jobs, workers=1, progress=False)
    write_jsonl_atomic(out / "product_descriptions.jsonl", rows)
    write_json_atomic(done, settings)  # last: marks the corpus complete
    return out / "product_descriptions.jsonl"


def ensure_shirts_model(work: Path, stage1: Path, seed: int = 0, n_train: int = 3000, n_val: int = 600,
                        epochs: int = 10, threads: int | None = None) -> Path:
    """The stage-2-on-shirts checkpoint folder (trained here from ``stage1`` unless it exists)."""
    from training import stage2

    corpus = write_shirts(work / "stage2" / "shirts", seed, n_train, n_val)
    run = work / "stage2" / "run"
    argv = ["--corpus", str(corpus), "--init", str(stage1), "--out", str(run), "--epochs", str(epochs),
            "--seed", str(seed), "--resume", "--no-progress"] + (["--threads", str(threads)] if threads else [])
    run_cli(stage2, argv, run / "best" / "cti_config.json")
    return run / "best"


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.grappa.multidomain_base",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpWithDefaults)
    p.add_argument("--work", default="runs/multidomain", help="benchmark folder (the model goes to WORK/stage1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scene corpus and of the training")
    p.add_argument("--scenes", type=int, default=3000, help="training scenes")
    p.add_argument("--val-scenes", type=int, default=600, help="validation scenes (image<->text recall per epoch)")
    p.add_argument("--epochs", type=int, default=10, help="stage-1 epochs")
    p.add_argument("--start", choices=("stage1", "stage2-shirts"), default="stage1",
                   help="the open-domain model, or that model after a stage 2 on shirts alone")
    p.add_argument("--stage2-epochs", type=int, default=10, help="stage-2 epochs (--start stage2-shirts)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Write the corpus and train the model unless done; prints the checkpoint folder."""
    args = build_parser().parse_args(argv)
    model = ensure_base_model(Path(args.work), args.seed, args.scenes, args.val_scenes, args.epochs, args.threads)
    if args.start == "stage2-shirts":
        model = ensure_shirts_model(Path(args.work), model, args.seed, epochs=args.stage2_epochs, threads=args.threads)
    print(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
