"""The built-in demo: a generated catalogue, the shipped demo model and its index, all cached on disk.

``python app.py`` with no arguments calls :func:`prepare_demo`, which

1. generates the demo catalogue with ``data_prep.synth`` (seed 0) unless the cache already holds it,
2. takes the demo checkpoint shipped in the repository (``demo_model/``), or the one given,
3. builds the catalogue index (Fashion-IQ + Shoes images) with that checkpoint, or reuses the cached one when its
   ``index_info.json`` records the same model fingerprint and catalogue, and fits the network that names an
   uploaded photo's category on the catalogue's photos when the index has none yet
   (``cti_ir.index.photo_category_fit``).

Everything lives under one cache folder: ``$CTI_IR_CACHE`` if set, else ``~/.cache/cti-ir/demo``::

    CACHE/catalogue-<size>/      the generated catalogue (fashioniq/, shoes/, open_domain/, synth_info.json)
    CACHE/index-<size>/          the index (see cti_ir.index.catalogue_index)
    CACHE/untrained-model/       only when the repository has no demo_model/ (see below)

Every step prints what it does, so a first launch (about six minutes on 2 cores for the default size: the
catalogue 1.5, the index 1, the category network 3) never looks hung.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_MODEL_DIR = REPO_ROOT / "demo_model"
DEFAULT_CACHE_DIR = Path("~/.cache/cti-ir/demo")
CACHE_ENV = "CTI_IR_CACHE"
DEMO_SEED = 0
DEMO_SIZES = ("small", "default")
FALLBACK_ARCH = "cti-small"  # the demo model's architecture, so the fallback's index costs what the real one does

Progress = Callable[[str], None]


def default_cache_dir() -> Path:
    """The demo cache folder: ``$CTI_IR_CACHE`` if set, else ``~/.cache/cti-ir/demo``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser()


def prepare_demo(cache_dir: str | os.PathLike | None = None, checkpoint: str | os.PathLike | None = None,
                 progress: Progress = print, size: str = "default",
                 workers: int | None = None) -> tuple[Path, Path, dict]:
    """Make sure the demo catalogue, checkpoint and index exist under ``cache_dir``; return where they are.

    ``checkpoint`` overrides the shipped demo model (the index is then built with it). ``size`` is the generator's
    ``--size`` (``small``: ~1,600 products in seconds; ``default``: ~17,900 products in a few minutes).
    ``workers`` is the number of image-decoding processes of the index build (default: the CPU count, at most 4).
    Returns ``(checkpoint_path, index_path, catalogue_info)``; ``catalogue_info`` holds the catalogue's folders,
    its size and the number of indexed products.
    """
    if size not in DEMO_SIZES:
        raise ValueError(f"demo size must be one of {', '.join(DEMO_SIZES)}, got {size!r}")
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    progress(f"demo cache: {cache}")
    catalogue = ensure_catalogue(cache / f"catalogue-{size}", size, progress)
    checkpoint_path = resolve_checkpoint(checkpoint, cache, progress)
    index_path = cache / f"index-{size}"
    info = ensure_index(checkpoint_path, catalogue, index_path, progress, workers)
    progress(f"demo ready in {time.perf_counter() - start:.1f} s: {info['count']} products indexed")
    catalogue_info = {
        "root": str(catalogue), "fashioniq": str(catalogue / "fashioniq"), "shoes": str(catalogue / "shoes"),
        "size": size, "seed": DEMO_SEED, "products": info["count"], "skipped": info.get("skipped", 0),
    }
    return checkpoint_path, index_path, catalogue_info


def ensure_catalogue(out: Path, size: str, progress: Progress = print) -> Path:
    """Generate the demo catalogue at ``out`` unless a complete one for this size and seed is already there."""
    from data_prep import synth

    if synth.is_complete(out, DEMO_SEED, size):
        progress(f"[1/3] catalogue: using the cached {size} catalogue at {out}")
        return out
    estimate = "about 10 s" if size == "small" else "about 30 s to 2 min on 2 cores"
    progress(f"[1/3] catalogue: generating the {size} demo catalogue in {out} ({estimate}; done once)")
    status = synth.main(["--out", str(out), "--size", size, "--seed", str(DEMO_SEED)])
    if status != 0 or not synth.is_complete(out, DEMO_SEED, size):
        raise RuntimeError(f"generating the demo catalogue in {out} failed (exit status {status}); "
                           f"see the messages above, then run `python app.py` again")
    return out


def resolve_checkpoint(checkpoint: str | os.PathLike | None, cache: Path, progress: Progress = print) -> Path:
    """The checkpoint to serve: the one given, else the shipped ``demo_model/``, else an untrained stand-in.

    The stand-in exists only so that the page works on a checkout without the demo model: its results are
    arbitrary, and a warning says so.
    """
    from cti_ir.model.checkpoint import read_checkpoint_config

    if checkpoint is not None:
        read_checkpoint_config(checkpoint)  # fail now, with a clear message, rather than after indexing
        progress(f"[2/3] model: using checkpoint {checkpoint}")
        return Path(checkpoint)
    if (DEMO_MODEL_DIR / "cti_config.json").is_file():
        progress(f"[2/3] model: using the shipped demo model {DEMO_MODEL_DIR}")
        return DEMO_MODEL_DIR
    fallback = cache / "untrained-model"
    progress(f"[2/3] model: WARNING: the demo model {DEMO_MODEL_DIR} is missing from this checkout, so the demo "
             f"uses an UNTRAINED {FALLBACK_ARCH} model ({fallback}); its results are arbitrary. Pass "
             f"--checkpoint with a trained checkpoint (e.g. runs/stage3/best) for meaningful results.")
    if not (fallback / "cti_config.json").is_file():
        _save_untrained(fallback)
    return fallback


def _save_untrained(path: Path) -> None:
    import torch

    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    # fork_rng: seed the stand-in (same weights on every machine) without touching the caller's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(DEMO_SEED)
        save_checkpoint(CIRModel.create(FALLBACK_ARCH), path)


def ensure_index(checkpoint: Path, catalogue: Path, out: Path, progress: Progress = print,
                 workers: int | None = None) -> dict:
    """Build the demo index at ``out``, or reuse it when it was built with this checkpoint from this catalogue."""
    from cti_ir.model.checkpoint import read_checkpoint_config

    fingerprint = read_checkpoint_config(checkpoint)["fingerprint"]
    info = _reusable_index_info(out, fingerprint, catalogue)
    if info is not None:
        progress(f"[3/3] index: using the cached index at {out} ({info['count']} products, model {fingerprint})")
    else:
        info = _build_demo_index(checkpoint, catalogue, out, progress, workers)
    if "photo_category" not in info:  # an index cached before the photo category model existed gets one too
        info = _fit_photo_categories(checkpoint, out, progress, workers, info)
    return info


def _fit_photo_categories(checkpoint: Path, out: Path, progress: Progress, workers: int | None, info: dict) -> dict:
    """Fit the network that guesses an uploaded photo's category (``cti_ir.index.photo_category_fit``)."""
    from cti_ir.index.photo_category_fit import NothingToFitError, fit_index_photo_categories
    from cti_ir.model.checkpoint import load_checkpoint

    progress(f"[3/3] index: fitting the network that names an uploaded photo's category on the catalogue's "
             f"photos (about 3 minutes on 2 cores; done once)")
    try:
        return fit_index_photo_categories(out, load_checkpoint(checkpoint), workers=_workers(workers))
    except NothingToFitError as e:
        progress(f"[3/3] index: no photo category model ({e})")
        return info


def _workers(workers: int | None) -> int:
    return min(4, os.cpu_count() or 1) if workers is None else workers


def _reusable_index_info(out: Path, fingerprint: str, catalogue: Path) -> dict | None:
    from cti_ir.index.catalogue_index import IndexMismatchError, read_index_info

    try:
        info = read_index_info(out)
    except (FileNotFoundError, IndexMismatchError, json.JSONDecodeError):
        return None
    same_catalogue = info.get("source", {}).get("catalogue") == str(catalogue.resolve())
    if info.get("complete") and info.get("model_fingerprint") == fingerprint and same_catalogue:
        return info
    return None


def _build_demo_index(checkpoint: Path, catalogue: Path, out: Path, progress: Progress,
                      workers: int | None) -> dict:
    from cti_ir.index.catalogue import items_from_benchmark
    from cti_ir.model.checkpoint import load_checkpoint
    from cti_ir.index.catalogue_index import IndexMismatchError, build_index

    model = load_checkpoint(checkpoint)
    items = items_from_benchmark("fashioniq", catalogue / "fashioniq") + items_from_benchmark(
        "shoes", catalogue / "shoes")
    workers = _workers(workers)
    progress(f"[3/3] index: embedding {len(items)} catalogue images with model {model.fingerprint} into {out} "
             f"(done once; an interrupted build resumes)")
    source = {"demo": True, "catalogue": str(catalogue.resolve()), "checkpoint": str(Path(checkpoint).resolve())}
    kwargs = dict(workers=workers, skip_bad=True, progress=True, source=source)
    try:
        return build_index(model, items, out, **kwargs)
    except IndexMismatchError:
        # A cached index (or half-built one) from another model or catalogue: the cache is ours to replace.
        progress(f"[3/3] index: {out} holds an index of another model or catalogue; rebuilding it")
        return build_index(model, items, out, overwrite=True, **kwargs)
