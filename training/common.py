"""What the three stage CLIs share: their common flags, the starting model, and running the loop."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from cti_ir.model.checkpoint import CheckpointError, load_checkpoint
from cti_ir.model.cir_model import CIRModel

from training.distributed import DistInfo, init_distributed, shutdown
from training.loop import LoopConfig, Task, Trainer


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with "(default: ...)" only where a default says something: not for required options, options
    left unset (None or empty), on/off flags (their help says what the flag does), or a help text that already
    names its default."""

    def _get_help_string(self, action):
        if (action.required or action.default in (None, []) or action.nargs == 0
                or "default" in (action.help or "")):
            return action.help
        return super()._get_help_string(action)


def add_model_args(p: argparse.ArgumentParser, default_model: str = "cti-small") -> None:
    g = p.add_argument_group("starting model (one of --init or --model)")
    g.add_argument("--init", default=None,
                   help="checkpoint folder of the previous stage to start from (e.g. runs/stage1/best)")
    g.add_argument("--model", default=default_model,
                   help="open_clip architecture when not using --init: one of our configs (cti-tiny, cti-small), "
                        "any open_clip name (ViT-B-32), 'hf-hub:org/repo' or 'local-dir:/path'")
    g.add_argument("--pretrained", default=None,
                   help="open_clip pretrained tag or weights file for --model (e.g. laion2b_s34b_b79k); omit to "
                        "train from scratch (the offline default)")


def add_loop_args(p: argparse.ArgumentParser, epochs: int, batch_size: int, lr: float) -> None:
    g = p.add_argument_group("optimisation and bookkeeping")
    g.add_argument("--out", required=True, help="run folder: log.jsonl, train_state.pt, best/ and last/ checkpoints")
    g.add_argument("--epochs", type=int, default=epochs, help="passes over the training data")
    g.add_argument("--batch-size", type=int, default=batch_size,
                   help="examples per process per step; the in-batch negatives of the contrastive losses")
    g.add_argument("--lr", type=float, default=lr, help="peak AdamW learning rate (after warm-up)")
    g.add_argument("--backbone-lr-scale", type=float, default=1.0,
                   help="the encoders' learning rate is --lr times this (heads and composer use --lr)")
    g.add_argument("--weight-decay", type=float, default=0.05, help="AdamW weight decay (not on biases and norms)")
    g.add_argument("--warmup-steps", type=int, default=50, help="linear warm-up steps before the cosine decay")
    g.add_argument("--grad-clip", type=float, default=1.0, help="max gradient norm (0 disables clipping)")
    g.add_argument("--accum-steps", type=int, default=1, help="micro-batches accumulated per optimizer step")
    g.add_argument("--no-amp", dest="amp", action="store_false",
                   help="disable bf16 autocast on GPU (it is never used on CPU)")
    g.add_argument("--save-every", type=int, default=100,
                   help="optimizer steps between resumable states (train_state.pt); an epoch end always saves")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out exactly where it stopped (weights, optimizer, schedule, RNG and "
                        "data position); starts fresh when --out holds no state")
    g.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps (a budget)")
    g.add_argument("--no-eval", dest="eval", action="store_false", help="skip the evaluation at each epoch end")
    g.add_argument("--seed", type=int, default=0, help="seed for initialisation, data order and augmentation")
    g.add_argument("--workers", type=int, default=0, help="data-loader worker processes for image decoding")
    g.add_argument("--image-cache", default="auto",
                   help="keep the decoded, resized training images in a memory-mapped cache, built once per dataset "
                        "and input size and reused by every later run: 'auto' (in $CTI_IR_IMAGE_CACHE, else "
                        "~/.cache/cti-ir/images), a folder, or 'none' to decode the images every epoch")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's)")
    g.add_argument("--device", default=None, help="torch device (default: this rank's GPU if any, else cpu)")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def loop_config(args: argparse.Namespace) -> LoopConfig:
    """The loop settings from parsed flags; every flag is recorded in the checkpoints' training_args.json."""
    return LoopConfig(
        out=Path(args.out), epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        backbone_lr_scale=args.backbone_lr_scale, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        grad_clip=args.grad_clip, accum_steps=args.accum_steps, amp=args.amp, save_every=args.save_every,
        seed=args.seed, workers=args.workers, max_steps=args.max_steps, eval_every_epoch=args.eval,
        image_cache=None if getattr(args, "image_cache", None) in (None, "none") else args.image_cache,
        resume=args.resume, progress=args.progress,
        training_args={k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    )


class _RandomInitNotice(logging.Filter):
    """Drops open_clip's "No pretrained weights loaded ... initialized randomly" warning, and remembers it."""

    def __init__(self):
        super().__init__()
        self.seen = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("No pretrained weights loaded"):
            self.seen = True
            return False
        return True


@contextlib.contextmanager
def _random_init_notice() -> Iterator[_RandomInitNotice]:
    # open_clip logs the warning on the root logger; a logger's own filter sees the records logged on it.
    notice = _RandomInitNotice()
    root = logging.getLogger()
    root.addFilter(notice)
    try:
        yield notice
    finally:
        root.removeFilter(notice)


def starting_model(args: argparse.Namespace, composer: str = "adaptive", composer_kwargs: dict | None = None,
                   device: torch.device | str = "cpu", announce: bool = True) -> CIRModel:
    """The model a stage starts from: the --init checkpoint's encoders, or --model/--pretrained.

    The composer starts fresh unless ``--init-composer`` asks to keep the checkpoint's (continuing a stage-3
    model with the same composer): stage 1 and 2 checkpoints carry a composer that was never trained. A model
    without weights to load (no --init, no --pretrained) starts from random weights, which is how this project
    trains offline; ``announce`` says so in one line of ours instead of open_clip's warning.
    """
    torch.manual_seed(args.seed)
    if args.init:
        if getattr(args, "init_composer", False):
            model = load_checkpoint(args.init)
            if model.composer_name != composer:
                raise ValueError(f"--init-composer: {args.init} has a {model.composer_name!r} composer, not "
                                 f"{composer!r}")
        else:
            model = load_checkpoint(args.init, new_composer=(composer, composer_kwargs or {}))
    else:
        with _random_init_notice() as notice:
            model = CIRModel.create(args.model, args.pretrained, composer, **(composer_kwargs or {}))
        if notice.seen and announce:
            print(f"model: {args.model} starts from random weights and is trained from scratch (no --init "
                  f"checkpoint and no --pretrained weights were given)", file=sys.stderr, flush=True)
    return model.to(device).train()


def run(args: argparse.Namespace, build_task: Callable[[CIRModel, DistInfo], Task], composer: str = "adaptive",
        composer_kwargs: dict | None = None,
        make_model: Callable[[DistInfo], torch.nn.Module] | None = None,
        load_data: Callable[[], Any] | None = None) -> int:
    """Set up the process (torchrun-aware), build the model and task, train; returns the exit code.

    ``make_model`` replaces the stage's starting CIRModel by another trainable module (e.g. an embedding
    transformation); its task then saves the output itself (``Task.save_output``). ``load_data`` opens and checks
    the stage's data before the model is built, so that a wrong path is reported at once, before seconds of model
    set-up and its messages (``build_task`` then uses what it opened).
    """
    if args.threads:
        torch.set_num_threads(args.threads)
    info = init_distributed(args.device)
    try:
        if load_data is not None:
            load_data()
        model = make_model(info) if make_model else starting_model(args, composer, composer_kwargs, info.device,
                                                                   announce=info.is_main)
        task = build_task(model, info)
        result = Trainer(model, task, loop_config(args), info).fit()
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        shutdown(info)
    if info.is_main:
        best = result["best_score"]
        print(f"done: {result['steps']} steps; best score {best if best is None else round(best, 2)}; "
              f"checkpoints in {os.fspath(args.out)}/best and /last", file=sys.stderr)
    return 0
