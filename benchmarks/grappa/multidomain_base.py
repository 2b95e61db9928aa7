"""The starting model of the multi-domain Grappa benchmark: a stage-1 open-domain model that has seen no product.

    python -m benchmarks.grappa.multidomain_base --work runs/multidomain --threads 1

Grappa adapts a *generic* pretrained encoder to new domains. Offline, the generic encoder is the project's stage 1
trained from scratch on generated open-domain scenes (``data_prep.synth_open_domain``: shapes, trees, cars, cups
on plain backgrounds, with true captions): it has never seen a dress, a top or a shoe, so every fashion domain of
the benchmark is new to it. The scene corpus is the one ``python -m data_prep.synth --seed 0`` writes for its
size (same planner, same render seeds), written here alone, without the fashion parts.

Writes ``WORK/stage1/open_domain`` (the image-caption corpus) and ``WORK/stage1/run`` (the training run; its
``best/`` checkpoint is the benchmark's zero-shot model). Both steps are skipped when already done.
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


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.grappa.multidomain_base",
                                description=__doc__.split("\n\n")[0], formatter_class=HelpWithDefaults)
    p.add_argument("--work", default="runs/multidomain", help="benchmark folder (the model goes to WORK/stage1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the scene corpus and of the training")
    p.add_argument("--scenes", type=int, default=3000, help="training scenes")
    p.add_argument("--val-scenes", type=int, default=600, help="validation scenes (image<->text recall per epoch)")
    p.add_argument("--epochs", type=int, default=10, help="stage-1 epochs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Write the corpus and train the model unless done; prints the checkpoint folder."""
    args = build_parser().parse_args(argv)
    print(ensure_base_model(Path(args.work), args.seed, args.scenes, args.val_scenes, args.epochs, args.threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
