"""The command line of the photo category model: ``photo-category``, and the flags ``build`` fits it with."""

from __future__ import annotations

import argparse

from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE
from cti_ir.index.photo_category_model import MAX_STEPS, MIN_PHOTOS


def add_photo_category_parser(sub) -> None:
    """The ``photo-category`` command."""
    p = sub.add_parser("photo-category",
                       help="fit the network that guesses an uploaded photo's category on the index's own photos "
                            "(build does it by default) and publish it as the index's next version")
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint the index was built with (default: the one recorded in index_info.json)")
    add_fit_flags(p, "")
    p.add_argument("--workers", type=int, default=None,
                   help="processes decoding photos (default: half the CPU cores, 1 to 8; 0: the main process)")
    p.add_argument("--device", default="cpu", help="torch device of the checkpoint's preprocessing (default cpu)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def add_fit_flags(p: argparse.ArgumentParser, prefix: str) -> None:
    """The fit's flags, ``--steps`` and ``--seed`` behind ``prefix`` (``build``'s: ``photo-category-``)."""
    p.add_argument(f"--{prefix}steps", type=int, default=None, metavar="N",
                   help=f"training steps of 128 photos (default: about sixteen passes over the photos, 100 to "
                        f"{MAX_STEPS}; a few CPU-minutes at most)")
    p.add_argument(f"--{prefix}seed", type=int, default=0, metavar="N",
                   help="seed of the held-out split, the photo sample and the network (default 0)")


#: The ranges of the fit's flags (both spellings), checked with the other flags of ``python -m cti_ir.index``.
FIT_BOUNDS = {"steps": AT_LEAST_ONE, "seed": NON_NEGATIVE, "photo_category_steps": AT_LEAST_ONE,
              "photo_category_seed": NON_NEGATIVE}


def _fit_settings(args) -> tuple[int | None, int]:
    """(steps, seed) of whichever spelling the command has."""
    if hasattr(args, "photo_category_steps"):
        return args.photo_category_steps, args.photo_category_seed
    return args.steps, args.seed


def add_build_flags(b: argparse.ArgumentParser) -> None:
    """``build``'s flags for the photo category model."""
    b.add_argument("--no-photo-category", dest="photo_category", action="store_false",
                   help=f"do not fit the network that guesses an uploaded photo's category (by default it is fit "
                        f"after the build when two or more categories have {MIN_PHOTOS} photos each; uploads are "
                        f"then guessed from their vectors by the linear category model)")
    add_fit_flags(b, "photo-category-")


def fit_after_build(args, model, folder: str) -> str:
    """Fit the photo category model of a freshly built index; returns a line for the summary (a catalogue with
    too few photos per category is said so, not an error)."""
    from cti_ir.index.photo_category_fit import NothingToFitError, fit_index_photo_categories

    try:
        info = fit_index_photo_categories(folder, model, *_fit_settings(args), args.workers, args.progress)
    except NothingToFitError as e:
        return f"  no photo category model: {e}"
    return describe(info)


def run_photo_category(args, load_checkpoint) -> str:
    """Run ``photo-category``; returns what to print."""
    from cti_ir.index.layout import read_index_info
    from cti_ir.index.photo_category_fit import fit_index_photo_categories

    from cti_ir.flags import check_numeric_flags

    check_numeric_flags(args, {**FIT_BOUNDS, "workers": NON_NEGATIVE})
    info = read_index_info(args.index)
    checkpoint = args.checkpoint or (info.get("source") or {}).get("checkpoint")
    if not checkpoint:
        raise ValueError("the index does not record its checkpoint; pass --checkpoint")
    model = load_checkpoint(checkpoint, device=args.device)
    from cti_ir.model.adapter_files import match_index_granularity  # an adapted checkpoint: the index's granularity

    match_index_granularity(model, info.get("model_fingerprint"))
    info = fit_index_photo_categories(args.index, model, *_fit_settings(args), args.workers, args.progress)
    return describe(info) + f"\n  published as version {info['version']} of {args.index}"


def describe(info: dict) -> str:
    """One line: what the photo category model was fit on and how often it was right on held-out photos."""
    record = info["photo_category"]
    accuracy = record.get("held_out_accuracy") or {}
    worst = min(accuracy.items(), key=lambda kv: kv[1]) if accuracy else None
    mean = sum(accuracy.values()) / len(accuracy) if accuracy else None
    right = (f"; right on {100 * mean:.1f} % of {record['held_out_photos']:,} held-out photos (a category mean; "
             f"lowest {worst[0]} {100 * worst[1]:.1f} %)") if worst else ""
    return (f"  photo category model: {record['categories']} categories, {record['fit_photos']:,} photos, "
            f"{record['steps']} steps{right}")
