"""Training throughput of each stage against the raw forward + backward + step of the same model and batch.

Part ``training`` of ``python -m benchmarks.speed.bench_speed``. For each stage the task is built exactly as its CLI
builds it (``training.stage1/2/3``), on a generated catalogue, and measured twice, taking turns ``--repeats`` times:

- **raw**: one real batch of the task, collated once and kept in memory; then ``forward(batch) -> loss.backward()
  -> clip -> AdamW step`` of the stage's own module in a loop: what the model costs, with no data loading at all;
- **loop**: ``training.loop.Trainer.fit`` with the stage CLI's defaults (data loading, the schedule, logging,
  everything but the per-epoch evaluation) for the same number of steps.

Both exclude their first steps (warm-up: oneDNN kernel choice, worker start) and report examples/s; the ratio
loop / raw says how much of the model's speed the training loop keeps.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch


def _stage_task(stage: str, model, data: Path, args_of: Callable[[list[str]], Any]):
    """The stage's task on the generated catalogue ``data``, built as its CLI builds it."""
    if stage == "stage1":
        from cti_ir.data.image_text import open_image_text
        from training.stage1 import ImageTextTask

        return ImageTextTask(model, open_image_text(str(data / "open_domain"), "train"), None)
    if stage == "stage2":
        from training.attribute_words import build_vocabulary
        from training.stage2 import FashionPretrainTask, open_corpora

        corpora = [str(data / "fashioniq" / "product_descriptions.jsonl"),
                   str(data / "shoes" / "product_descriptions.jsonl")]
        train = open_corpora(corpora, "split", "train", False, True)
        vocab = build_vocabulary((train.text(i) for i in range(len(train))), 256, 5)
        return FashionPretrainTask(model, train, None, vocab, 1.0)
    from cti_ir.data import open_benchmark
    from training.stage3 import HybridQueryTask

    benchmarks = {"fashioniq": open_benchmark("fashioniq", data / "fashioniq"),
                  "shoes": open_benchmark("shoes", data / "shoes")}
    return HybridQueryTask(model, benchmarks, 0, 0.1, 1.0, 256, True, False)


STAGE_BATCH = {"stage1": 128, "stage2": 128, "stage3": 64}   # the CLIs' default --batch-size


def _fresh_model(checkpoint: Path | None, arch: str):
    from cti_ir.model.checkpoint import load_checkpoint
    from cti_ir.model.cir_model import CIRModel

    torch.manual_seed(0)
    model = load_checkpoint(checkpoint) if checkpoint else CIRModel.create(arch)
    return model.train()


def raw_examples_per_s(stage: str, data: Path, checkpoint, arch: str, batch_size: int, steps: int,
                       warmup: int) -> float:
    """Examples/s of forward + backward + clip + step on one in-memory batch of the stage's task."""
    from training.distributed import DistInfo
    from training.loop import LoopConfig, build_optimizer
    from training.distributed import make_gather

    model = _fresh_model(checkpoint, arch)
    task = _stage_task(stage, model, data, None)
    module = task.build_module(model)
    optimizer = build_optimizer(module, LoopConfig(out=Path("unused")))
    gather = make_gather(DistInfo())
    n = len(task.dataset)
    batch = task.collate([task.dataset[(i % n, 0)] for i in range(batch_size)])
    finish = getattr(task.dataset, "finish_batch", None)  # uint8 pixels made float, when the examples send them
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        b = finish(batch) if finish else batch
        loss, _ = module(b, gather)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    return batch_size * len(times) / sum(times)


def loop_examples_per_s(stage: str, data: Path, checkpoint, arch: str, batch_size: int, steps: int, warmup: int,
                        workdir: Path, loop_kwargs: dict) -> float:
    """Examples/s of the real training loop (``Trainer.fit``), timed from the end of step ``warmup``."""
    from training.distributed import DistInfo
    from training.loop import LoopConfig, Trainer

    model = _fresh_model(checkpoint, arch)
    task = _stage_task(stage, model, data, None)
    stamps: list[float] = []

    class TimedTrainer(Trainer):
        def log(self, record: dict) -> None:  # called once per optimizer step (and per evaluation: none here)
            stamps.append(time.perf_counter())
            super().log(record)

    out = workdir / f"loop-{stage}"
    cfg = LoopConfig(out=out, epochs=100, batch_size=batch_size, max_steps=warmup + steps, save_every=0,
                     eval_every_epoch=False, progress=False, **loop_kwargs)
    TimedTrainer(model, task, cfg, DistInfo()).fit()
    if len(stamps) < warmup + steps:
        raise RuntimeError(f"{stage}: the loop ran {len(stamps)} steps, fewer than {warmup + steps}; use a larger "
                           f"catalogue or fewer --train-steps")
    return batch_size * steps / (stamps[warmup + steps - 1] - stamps[warmup - 1])


def bench_training(args, checkpoint: Path | None, data: Path, workdir: Path, log) -> dict[str, Any]:
    """Each stage: loop vs raw examples/s, alternating ``args.train_repeats`` times; medians and their ratio."""
    rows = []
    for stage in args.stages:
        batch = args.train_batch_size or STAGE_BATCH[stage]
        raw, loop = [], []
        for r in range(args.train_repeats):
            raw.append(raw_examples_per_s(stage, data, checkpoint, args.arch, batch, args.train_steps,
                                          args.train_warmup))
            loop.append(loop_examples_per_s(stage, data, checkpoint, args.arch, batch, args.train_steps,
                                            args.train_warmup, workdir, dict(args.loop_kwargs)))
            log(f"[training] {stage} repeat {r + 1}: loop {loop[-1]:.0f} vs raw {raw[-1]:.0f} examples/s "
                f"({loop[-1] / raw[-1]:.2f})")
        rows.append({"stage": stage, "batch_size": batch, "raw_examples_per_s": raw, "loop_examples_per_s": loop,
                     "raw_median": statistics.median(raw), "loop_median": statistics.median(loop),
                     "ratio_median": statistics.median(lo / ra for lo, ra in zip(loop, raw))})
    return {"rows": rows, "steps": args.train_steps, "warmup": args.train_warmup, "repeats": args.train_repeats,
            "data": str(data), "loop_kwargs": dict(args.loop_kwargs)}


def markdown(t: dict) -> list[str]:
    """The training part's table."""
    lines = [f"### Training throughput ({t['steps']} timed steps after {t['warmup']}, medians of {t['repeats']} "
             f"alternating repeats; loop settings {t['loop_kwargs']})", "",
             "| stage | batch | raw forward + backward + step | training loop | loop / raw (median of the ratios) |",
             "|---|---:|---:|---:|---:|"]
    for r in t["rows"]:
        lines.append(f"| {r['stage']} | {r['batch_size']} | {r['raw_median']:.0f} examples/s | "
                     f"{r['loop_median']:.0f} examples/s | {r['ratio_median']:.2f} |")
    return lines + [""]
