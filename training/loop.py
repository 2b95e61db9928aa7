"""The one training loop shared by the three stages.

A stage supplies a ``Task``: a dataset of examples, a collate function, a ``StageModule`` (the model plus any
training-only heads, whose ``forward(batch, gather)`` returns the loss) and an evaluation. The loop does the rest:
AdamW, linear warm-up + cosine decay, gradient clipping and accumulation, bf16 autocast on GPU, DDP under torchrun,
a progress bar, a JSONL log, evaluation each epoch keeping the best checkpoint, atomic resumable state every N
steps, and ``--resume`` that continues exactly where a killed run stopped.

Exact resumption rests on three choices: the data order is a pure function of (seed, epoch) and the position is a
batch index; anything random inside an example (caption augmentation) is seeded by (seed, epoch, index), so it
does not depend on which worker loads it; and the torch RNG state (dropout) is saved with the weights.
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from cti_ir.files import write_atomic, write_json_atomic
from cti_ir.model.checkpoint import save_checkpoint
from cti_ir.index.pixel_cache import ImageCache, PixelPipeline, default_cache_root
from cti_ir.model.cir_model import CIRModel

from training.distributed import DistInfo, barrier, make_gather

STATE_FILE = "train_state.pt"
LOG_FILE = "log.jsonl"


class StageModule(nn.Module):
    """The model plus training-only heads; ``forward(batch, gather) -> (loss, logs)``."""

    def __init__(self, model: CIRModel, heads: dict[str, nn.Module] | None = None):
        super().__init__()
        self.model = model
        self.heads = nn.ModuleDict(heads or {})


class Task(Protocol):
    """What a stage provides to the loop."""

    name: str
    dataset: Any                                        # indexable by (index, epoch), has len()
    collate: Callable[[list], Any]

    def build_module(self, model: CIRModel) -> StageModule: ...
    def evaluate(self, model: CIRModel) -> dict | None: ...     # must hold "score" (higher is better)
    def checkpoint_files(self) -> dict[str, Any]: ...            # extra JSON files for the checkpoint
    # Optional: ``save_output(model, folder, metrics, training_args)`` replaces the CIRModel checkpoint that
    # best/ and last/ would otherwise hold (tasks whose trained module is not a CIRModel).


@dataclass
class LoopConfig:
    """Optimisation and bookkeeping settings (one field per CLI flag of ``training.common``)."""

    out: Path
    epochs: int = 5
    batch_size: int = 64                 # per process
    lr: float = 5e-4
    backbone_lr_scale: float = 1.0       # backbone lr = lr * this (composer and heads use lr)
    weight_decay: float = 0.05
    warmup_steps: int = 50
    grad_clip: float = 1.0
    accum_steps: int = 1
    amp: bool = True                     # bf16 autocast, CUDA only (fp16 LayerNorm fails on CPU)
    save_every: int = 100                # optimizer steps between resumable states
    seed: int = 0
    workers: int = 0
    image_cache: str | None = None       # "auto" (the default cache folder), a folder, or None: decode every time
    image_cache_max_bytes: int = 64 * 2**30   # a larger cache is not built (decoding continues as without one)
    max_steps: int | None = None         # stop after this many optimizer steps (smoke tests, budgets)
    eval_every_epoch: bool = True
    resume: bool = False
    progress: bool = True
    training_args: dict = field(default_factory=dict)


class EpochBatches:
    """The batches of one epoch for one process: a fixed permutation per (seed, epoch), sharded by rank.

    Incomplete last batches are dropped so every process sees the same number of equally sized batches (the
    gathered contrastive loss needs that). Items are ``(index, epoch)`` pairs so examples can seed their own
    randomness.
    """

    def __init__(self, n: int, batch_size: int, seed: int, epoch: int, info: DistInfo, start_batch: int = 0):
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        self.order = torch.randperm(n, generator=g).tolist()
        self.global_batch = batch_size * info.world_size
        self.batch_size, self.epoch, self.rank, self.start = batch_size, epoch, info.rank, start_batch

    def num_batches(self) -> int:
        return len(self.order) // self.global_batch

    def __len__(self) -> int:
        return max(self.num_batches() - self.start, 0)

    def __iter__(self):
        for b in range(self.start, self.num_batches()):
            lo = b * self.global_batch + self.rank * self.batch_size
            yield [(i, self.epoch) for i in self.order[lo: lo + self.batch_size]]


def build_optimizer(module: StageModule, cfg: LoopConfig) -> torch.optim.Optimizer:
    """AdamW with no weight decay on biases, norms, embeddings' scales and the logit scale (as open_clip)."""
    groups: dict[tuple[bool, bool], list] = {}
    for name, p in module.named_parameters():
        if not p.requires_grad:
            continue
        is_backbone = name.startswith("model.backbone.")
        no_decay = p.ndim < 2 or "logit_scale" in name or "positional_embedding" in name or "class_embedding" in name
        groups.setdefault((is_backbone, no_decay), []).append(p)
    param_groups = [
        {"params": ps, "lr": cfg.lr * (cfg.backbone_lr_scale if bb else 1.0),
         "weight_decay": 0.0 if nd else cfg.weight_decay}
        for (bb, nd), ps in sorted(groups.items())
    ]
    return torch.optim.AdamW(param_groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)


def warmup_cosine(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at an optimizer step: linear warm-up, then cosine to zero."""
    warmup_steps = min(warmup_steps, max(total_steps // 2, 1))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(total_steps - warmup_steps, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return factor


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1])}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Runs a ``Task`` for ``cfg.epochs`` epochs; see the module docstring."""

    def __init__(self, model: CIRModel, task: Task, cfg: LoopConfig, info: DistInfo):
        self.model, self.task, self.cfg, self.info = model, task, cfg, info
        self.out = Path(cfg.out)
        self.module = task.build_module(model).to(info.device)
        self.optimizer = build_optimizer(self.module, cfg)
        n_batches = len(task.dataset) // (cfg.batch_size * info.world_size)
        if n_batches == 0:
            raise ValueError(
                f"{task.name}: {len(task.dataset)} examples are fewer than one global batch of "
                f"{cfg.batch_size} x {info.world_size} processes; lower --batch-size"
            )
        self.batches_per_epoch = n_batches - n_batches % cfg.accum_steps
        steps_per_epoch = self.batches_per_epoch // cfg.accum_steps
        self.total_steps = steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            self.total_steps = min(self.total_steps, cfg.max_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, warmup_cosine(self.total_steps, cfg.warmup_steps))
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.best_score: float | None = None
        self.history: list[dict] = []
        self.gather = make_gather(info)
        self.ddp = None
        if info.distributed:
            self.ddp = nn.parallel.DistributedDataParallel(
                self.module, device_ids=[info.device.index] if info.device.type == "cuda" else None,
                find_unused_parameters=True)

    # ----- state -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "module": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "rng": _rng_state(), "step": self.step,
            "epoch": self.epoch, "batch_in_epoch": self.batch_in_epoch, "best_score": self.best_score,
            "history": json.dumps(self.history), "task": self.task.name,
            "world_size": self.info.world_size,
        }

    def save_state(self) -> None:
        """Write the resumable state atomically (rank 0)."""
        if self.info.is_main:
            state = self.state_dict()
            write_atomic(self.out / STATE_FILE, lambda tmp: torch.save(state, tmp))
        barrier(self.info)

    def load_state(self) -> bool:
        """Restore the resumable state if the run folder has one; returns whether it did."""
        path = self.out / STATE_FILE
        if not path.is_file():
            return False
        # weights_only: the state holds tensors, numbers and strings only; nothing is unpickled.
        state = torch.load(path, map_location=self.info.device, weights_only=True)
        if state.get("task") != self.task.name:
            raise ValueError(f"{path} belongs to a {state.get('task')} run, not {self.task.name}; use another --out")
        if state.get("world_size", 1) != self.info.world_size:
            raise ValueError(f"{path} was written by {state['world_size']} processes; resume with the same number "
                             f"(the data order depends on it)")
        self.module.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.step, self.epoch, self.batch_in_epoch = state["step"], state["epoch"], state["batch_in_epoch"]
        self.best_score, self.history = state["best_score"], json.loads(state["history"])
        self._truncate_log()
        return True

    def _truncate_log(self) -> None:
        """Drop log lines written after the state being resumed, so nothing is logged twice."""
        log = self.out / LOG_FILE
        if not (self.info.is_main and log.is_file()):
            return
        kept = [line for line in log.read_text(encoding="utf-8").splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= self.step]
        write_atomic(log, lambda tmp: Path(tmp).write_text("".join(x + "\n" for x in kept), encoding="utf-8"))

    def log(self, record: dict) -> None:
        if self.info.is_main:
            with open(self.out / LOG_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def save_model(self, name: str, metrics: dict | None) -> None:
        save_output = getattr(self.task, "save_output", None)
        if self.info.is_main and save_output is not None:
            # A task that trains something other than a CIRModel (an embedding transformation, adapters) writes
            # its own output folder; the loop still decides when (best/, last/).
            save_output(self.model, self.out / name, metrics, self.cfg.training_args)
        elif self.info.is_main:
            save_checkpoint(self.model, self.out / name, training_args=self.cfg.training_args, metrics=metrics,
                            aux_modules=dict(self.module.heads.items()) or None,
                            extra_files=self.task.checkpoint_files())

    # ----- loop --------------------------------------------------------------------------------------------
    def _autocast(self):
        enabled = self.cfg.amp and self.info.device.type == "cuda"
        return torch.autocast(device_type=self.info.device.type, dtype=torch.bfloat16, enabled=enabled)

    def _loader(self, epoch: int, start: int) -> DataLoader:
        sampler = EpochBatches(len(self.task.dataset), self.cfg.batch_size, self.cfg.seed, epoch, self.info, start)
        # An explicit generator: otherwise every new DataLoader iterator draws its seed from the global RNG,
        # and a resumed run (which creates one more iterator) would drift from an uninterrupted one.
        return DataLoader(self.task.dataset, batch_sampler=sampler, collate_fn=self.task.collate,
                          num_workers=self.cfg.workers, generator=torch.Generator().manual_seed(self.cfg.seed),
                          persistent_workers=False)

    def _to_device(self, batch):
        if isinstance(batch, torch.Tensor):
            return batch.to(self.info.device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self._to_device(v) for k, v in batch.items()}
        return batch

    def fit(self) -> dict:
        """Train to the end (or ``max_steps``); returns the final metrics."""
        self.out.mkdir(parents=True, exist_ok=True)
        if self.cfg.resume and self.load_state():
            self._say(f"resumed {self.task.name} from step {self.step} (epoch {self.epoch}, "
                      f"batch {self.batch_in_epoch})")
        elif self.info.is_main:
            (self.out / LOG_FILE).unlink(missing_ok=True)
        if self.info.is_main:
            write_json_atomic(self.out / "training_args.json", self.cfg.training_args)
        self._prepare_data()
        finish = getattr(self.task.dataset, "finish_batch", None)
        runner = self.ddp or self.module
        accum = self.cfg.accum_steps
        while self.epoch < self.cfg.epochs and not self._budget_spent():
            self.module.train()
            loader = self._loader(self.epoch, self.batch_in_epoch)
            bar = tqdm(total=self.batches_per_epoch, initial=self.batch_in_epoch, desc=f"{self.task.name} "
                       f"epoch {self.epoch + 1}/{self.cfg.epochs}", disable=not (self.cfg.progress and
                       self.info.is_main), file=sys.stderr, dynamic_ncols=True)
            t0, seen = time.time(), 0
            for batch in loader:
                if self.batch_in_epoch >= self.batches_per_epoch or self._budget_spent():
                    break
                batch = self._to_device(batch)
                if finish is not None:  # uint8 pixels -> the model's floats, once per batch (see _prepare_data)
                    batch = finish(batch)
                micro = self.batch_in_epoch % accum
                sync = micro == accum - 1
                ctx = runner.no_sync() if (self.ddp is not None and not sync) else nullcontext()
                with ctx, self._autocast():
                    loss, logs = runner(batch, self.gather)
                    (loss / accum).backward()
                self.batch_in_epoch += 1
                seen += self.cfg.batch_size * self.info.world_size
                if not sync:
                    continue
                if self.cfg.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.cfg.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.scheduler.step()
                self.step += 1
                record = {"step": self.step, "epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0],
                          "loss": float(loss.detach()), **{k: float(v) for k, v in logs.items()},
                          "examples_per_s": seen / max(time.time() - t0, 1e-9)}
                self.log(record)
                bar.update(accum)
                bar.set_postfix(loss=f"{record['loss']:.3f}")
                if self.cfg.save_every and self.step % self.cfg.save_every == 0:
                    self.save_state()
            bar.close()
            if self.batch_in_epoch >= self.batches_per_epoch:
                self._end_epoch()
        if self.batch_in_epoch > 0 and not self.history and self.cfg.eval_every_epoch:
            # The budget (--max-steps) ended the run inside its first epoch: evaluate what there is, so that the
            # run still leaves a best/ checkpoint with metrics.
            self._evaluate_and_keep_best()
        if self.info.is_main:
            self.save_model("last", self.history[-1] if self.history else None)
        self.save_state()
        barrier(self.info)
        return {"best_score": self.best_score, "history": self.history, "steps": self.step}

    def _evaluate_and_keep_best(self) -> None:
        """Evaluate on rank 0, log it, and keep the checkpoint if it is the best so far."""
        metrics = self.task.evaluate(self.model) if (self.cfg.eval_every_epoch and self.info.is_main) else None
        if metrics is not None:
            metrics = {"epoch": self.epoch + 1, "step": self.step, **metrics}
            self.history.append(metrics)
            self.log({"step": self.step, "epoch": self.epoch, "eval": metrics})
            self._say(f"epoch {self.epoch + 1}: score {metrics['score']:.2f}")
            if self.best_score is None or metrics["score"] > self.best_score:
                self.best_score = metrics["score"]
                self.save_model("best", metrics)
        barrier(self.info)

    def _end_epoch(self) -> None:
        self._evaluate_and_keep_best()
        self.epoch += 1
        self.batch_in_epoch = 0
        self.save_state()

    def _prepare_data(self) -> None:
        """Have the examples send uint8 pixels, read from the image cache when there is one.

        The batches are bit-identical either way (``cti_ir.index.pixel_cache``), so neither switch changes training or
        resumption; they only remove work: per-image float conversion in the workers, and with the cache all
        image decoding after the cache's first build (once per dataset and input size, shared by every later run).
        """
        dataset = self.task.dataset
        if not hasattr(dataset, "use_uint8"):
            return
        cache = None
        paths = dataset.image_paths() if self.cfg.image_cache else None
        pipeline = PixelPipeline.of(dataset.preprocess)
        if paths and pipeline is not None:
            size = len(set(paths)) * math.prod(pipeline.output_shape())
            root = default_cache_root() if self.cfg.image_cache == "auto" else Path(self.cfg.image_cache)
            if size > self.cfg.image_cache_max_bytes:
                self._say(f"image cache: not used; {len(set(paths))} images would take {size / 2**30:.1f} GiB, "
                          f"more than {self.cfg.image_cache_max_bytes / 2**30:.0f} GiB (images are decoded instead)")
            else:
                if self.info.is_main:  # one process decodes; the others wait, then open what it wrote
                    ImageCache.open_or_build(root, paths, pipeline, self.cfg.workers, self.cfg.progress, self._say)
                barrier(self.info)
                cache = ImageCache.open_or_build(root, paths, pipeline, 0, False)
        dataset.use_uint8(cache)

    def _budget_spent(self) -> bool:
        return self.cfg.max_steps is not None and self.step >= self.cfg.max_steps

    def _say(self, msg: str) -> None:
        if self.info.is_main:
            print(f"[{self.task.name}] {msg}", file=sys.stderr)


