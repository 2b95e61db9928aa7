"""What the trainers on the shared loop share: their common flags and the checks of them, the starting model,
and running the loop."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch

from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Bounds, check_numeric_flags, command_line_message
from cti_ir.model.backbone import check_model_name, local_config_names
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config
from cti_ir.model.cir_model import CIRModel
from cti_ir.model.text_vocabulary import count_words

from training.distributed import DistInfo, init_distributed, shutdown
from training.loop import STATE_FILE, LoopConfig, Task, Trainer

#: The architecture a run starts from when neither --init nor --model is given.
DEFAULT_MODEL = "cti-small"
#: The allowed values of the numeric flags of ``add_loop_args`` (a trainer adds its own: ``run(bounds=...)``).
LOOP_BOUNDS: dict[str, Bounds] = {
    "epochs": AT_LEAST_ONE, "batch_size": AT_LEAST_ONE, "lr": POSITIVE, "backbone_lr_scale": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE, "warmup_steps": NON_NEGATIVE, "grad_clip": NON_NEGATIVE,
    "accum_steps": AT_LEAST_ONE, "save_every": NON_NEGATIVE, "max_steps": AT_LEAST_ONE, "seed": NON_NEGATIVE,
    "workers": NON_NEGATIVE, "threads": AT_LEAST_ONE,
}


class HelpWithDefaults(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` with "(default: ...)" only where a default says something: not for required options, options
    left unset (None or empty), on/off flags (their help says what the flag does), or a help text that already
    names its default."""

    def _get_help_string(self, action):
        if (action.required or action.default in (None, []) or action.nargs == 0
                or "default" in (action.help or "")):
            return action.help
        return super()._get_help_string(action)


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("starting model (one of --init or --model)")
    g.add_argument("--init", default=None,
                   help="checkpoint folder of the previous stage to start from (e.g. runs/stage1/best); its "
                        "architecture is kept, so not with --model or --pretrained")
    # None, not the default model: a --model given with --init must be seen (and refused), not silently ignored.
    g.add_argument("--model", default=None,
                   help=f"open_clip architecture when not using --init (default: {DEFAULT_MODEL}): one of our configs "
                        f"({', '.join(local_config_names())}), any open_clip name (ViT-B-32), 'hf-hub:org/repo' or "
                        f"'local-dir:/path'")
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
                   help="optimizer steps between resumable states (train_state.pt); an epoch end always saves (0: "
                        "only epoch ends)")
    g.add_argument("--resume", action="store_true",
                   help="continue the run in --out exactly where it stopped (weights, optimizer, schedule, RNG and "
                        "data position); refused when --out holds no run to continue")
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
            model = CIRModel.create(args.model or DEFAULT_MODEL, args.pretrained, composer, **(composer_kwargs or {}))
        if notice.seen and announce:
            print(f"model: {args.model} starts from random weights and is trained from scratch (no --init "
                  f"checkpoint and no --pretrained weights were given)", file=sys.stderr, flush=True)
    return model.to(device).train()


def check_starting_model(args: argparse.Namespace) -> None:
    """Refuse contradicting model flags, and an unknown --model or a missing --init, before any work.

    On return ``args.model`` is the architecture a run without --init starts from (``DEFAULT_MODEL`` when not
    given), so that training_args.json records what was trained.
    """
    if args.init:
        given = [flag for flag, value in (("--model", args.model), ("--pretrained", args.pretrained)) if value]
        if given:
            raise ValueError(f"--init {args.init} starts from that checkpoint's model, and {' and '.join(given)} "
                             f"would choose another one; give --init to continue a checkpoint, or --model (with "
                             f"--pretrained) to start a new model, not both")
        read_checkpoint_config(args.init)  # a wrong folder is reported now, not after the data is read
        return
    if getattr(args, "init_composer", False):
        raise ValueError("--init-composer keeps the composer of the --init checkpoint, and no --init was given; "
                         "add --init, or leave --init-composer out")
    args.model = args.model or DEFAULT_MODEL
    check_model_name(args.model)


def check_resume(args: argparse.Namespace) -> None:
    """Refuse --resume when --out holds no run to continue: it would silently start a new run instead."""
    if args.resume and not (Path(args.out) / STATE_FILE).is_file():
        raise ValueError(f"--resume: {args.out} holds no run to continue (no {STATE_FILE}); leave out --resume to "
                         f"start a new run there")


def check_flags(args: argparse.Namespace, bounds: Mapping[str, Bounds] | None = None) -> None:
    """Everything about a trainer's flags that can be checked in milliseconds, before its data or model is read:
    the numbers (``LOOP_BOUNDS`` and the trainer's own ``bounds``), the starting model, ``--resume``."""
    check_numeric_flags(args, {**LOOP_BOUNDS, **(bounds or {})})
    if hasattr(args, "init"):
        check_starting_model(args)
    check_resume(args)


def record_training_words(model, task: Task) -> None:
    """Add the words of the task's training texts to the model's record (``CIRModel.text_vocabulary``), which its
    checkpoints carry for the request reader. A task that does not list its texts (``training_texts``) leaves the
    record unknown: it could teach words nobody wrote down."""
    if getattr(model, "text_vocabulary", None) is None:
        return  # started from pretrained weights, or from a checkpoint without a record: unknown stays unknown
    texts = getattr(task, "training_texts", None)
    model.text_vocabulary = None if texts is None else dict(count_words(texts(), Counter(model.text_vocabulary)))


def run(args: argparse.Namespace, build_task: Callable[[CIRModel, DistInfo], Task], composer: str = "adaptive",
        composer_kwargs: dict | None = None,
        make_model: Callable[[DistInfo], torch.nn.Module] | None = None,
        load_data: Callable[[], Any] | None = None, bounds: Mapping[str, Bounds] | None = None) -> int:
    """Check the flags, set up the process (torchrun-aware), build the model and task, train; returns the exit code.

    ``bounds`` gives the allowed values of the trainer's own numeric flags (``check_flags``). ``make_model``
    replaces the stage's starting CIRModel by another trainable module (e.g. an embedding transformation); its task
    then saves the output itself (``Task.save_output``). ``load_data`` opens and checks the stage's data before the
    model is built, so that a wrong path is reported at once, before seconds of model set-up and its messages
    (``build_task`` then uses what it opened).
    """
    try:
        check_flags(args, bounds)
    except (CheckpointError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.threads:
        torch.set_num_threads(args.threads)
    info = init_distributed(args.device)
    try:
        if load_data is not None:
            load_data()
        model = make_model(info) if make_model else starting_model(args, composer, composer_kwargs, info.device,
                                                                   announce=info.is_main)
        task = build_task(model, info)
        record_training_words(model, task)
        result = Trainer(model, task, loop_config(args), info).fit()
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {command_line_message(e)}", file=sys.stderr)
        return 2
    finally:
        shutdown(info)
    if info.is_main:
        best = result["best_score"]
        # Only the folders the run left: without an evaluation (--no-eval) there is no best/.
        kept = " and ".join(f"{os.fspath(args.out)}/{name}" for name in ("best", "last")
                            if (Path(args.out) / name).is_dir())
        print(f"done: {result['steps']} steps; best score {best if best is None else round(best, 2)}; "
              f"checkpoints in {kept}", file=sys.stderr)
    return 0
