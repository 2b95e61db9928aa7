"""The command line of the catalogue index: build, add, info.

    python -m cti_ir.index build --checkpoint runs/stage3/best --images shop_photos/ --out index/
    python -m cti_ir.index build --checkpoint ... --dataset fashioniq --root data/fashioniq --out index/
    python -m cti_ir.index add   --index index/ --images new_photos/
    python -m cti_ir.index info  --index index/

Every flag is checked before the model loads; errors are one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import torch

from cti_ir.model.backend_flags import add_backend_flags
from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, SHARE_BELOW_ONE, Bounds, check_numeric_flags
from cti_ir.index.build import (
    benchmark_probe_queries,
    default_workers,
    encode_probe_queries,
    read_probe_queries,
    shard_from_env,
    start_shard,
    stop_shard,
)
from cti_ir.index.catalogue import CatalogueItem, items_from_benchmark, items_from_folder
from cti_ir.index.catalogue_index import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_FACTORY,
    IndexMismatchError,
    add_to_index,
    build_index,
    embedded_count,
    read_index_info,
)
from cti_ir.index.cli_changes import CHANGE_COMMANDS, add_backend_args, add_change_parsers, backend_of_args, run_change
from cti_ir.index.cli_photo_category import (
    add_build_flags,
    add_photo_category_parser,
    FIT_BOUNDS,
    fit_after_build,
    run_photo_category,
)
from cti_ir.index.factory import AUTO, DEFAULT_MEMORY_BUDGET, DEFAULT_TARGET_RECALL, format_bytes, parse_memory
from cti_ir.index.tuning import IndexOptions, parse_search_params
from cti_ir.model.images import ImageLoadError


# -------------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m cti_ir.index", description="Build, extend or inspect a catalogue "
                                "index (FAISS + item table) for composed search.")
    sub = p.add_subparsers(dest="command", required=True)

    def source_args(sp):
        src = sp.add_mutually_exclusive_group(required=True)
        src.add_argument("--images", help="folder of catalogue images (searched recursively; the first sub-folder "
                                          "is the category)")
        src.add_argument("--dataset", choices=["fashioniq", "shoes"], help="index a benchmark folder's images")
        sp.add_argument("--root", help="dataset folder for --dataset, in the published layout")
        sp.add_argument("--splits", nargs="*", default=None,
                        help="which splits of --dataset to index (default: all)")
        sp.add_argument("--metadata", default=None,
                        help="JSONL with file_name, category and text per image of --images (optional)")
        sp.add_argument("--batch-size", type=int, default=128, help="images per encoder batch")
        sp.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                        help=f"images per embedding chunk on disk, the unit of resumption: a killed build loses at "
                             f"most one chunk's work (default {DEFAULT_CHUNK_SIZE}; a resumed build needs the same "
                             f"value)")
        sp.add_argument("--workers", type=int, default=None,
                        help="processes decoding images while the encoder runs (default: half the CPU cores, 1 to 8; "
                             "0 decodes in the main process)")
        sp.add_argument("--tune-queries", default=None, metavar="FILE",
                        help="queries the search parameter of an approximate index is tuned on: a JSONL file with "
                             "{\"image\": path, \"text\": ...} per line (e.g. a log of past searches) or a .npy "
                             "of query vectors. Default: the training queries of --dataset, else held-out catalogue "
                             "images (easier than composed queries: see the README)")
        sp.add_argument("--skip-bad", action="store_true",
                        help="leave out unreadable images (counted in index_info.json) instead of stopping")
        sp.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
        sp.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
        # --backend is the vector store's (faiss, milvus) here: the model's is --model-backend.
        add_backend_flags(sp, "--model-backend")

    b = sub.add_parser("build", help="embed a catalogue and write a new index (resumes an interrupted build)")
    b.add_argument("--checkpoint", required=True, help="checkpoint folder whose image encoder embeds the catalogue")
    b.add_argument("--granularity", default=None,
                   help="for an adapted checkpoint (python -m training.adapt): embed at this granularity: fusion "
                        "(default), one adapter set such as k64, or off (the unadapted encoder); the index records "
                        "it, and queries use the same")
    b.add_argument("--out", required=True, help="index folder to write")
    b.add_argument("--factory", default=DEFAULT_FACTORY,
                   help="'auto': exact search ('IDMap,Flat') for small catalogues, HNSW or IVF-PQ with exact "
                        "re-ranking for large ones, chosen by size and --memory-budget; or any FAISS factory "
                        "string ('IDMap,Flat', 'IVF1024,Flat', 'HNSW32', ...)")
    b.add_argument("--memory-budget", default=format_bytes(DEFAULT_MEMORY_BUDGET).replace(" ", ""),
                   help="memory the served index may keep resident (e.g. 4GiB, 512MB; default 4GiB); 'auto' "
                        "picks an index type within it")
    b.add_argument("--target-recall", type=float, default=DEFAULT_TARGET_RECALL,
                   help="recall@10 an approximate index must reach against exact search (default 0.95): its "
                        "efSearch / nprobe is tuned at build time on queries (--tune-queries, else the training "
                        "queries of --dataset, else held-out catalogue images) and stored in index_info.json")
    b.add_argument("--search-param", action="append", default=None, metavar="NAME=VALUE",
                   help="set efSearch, nprobe or k_factor by hand instead of tuning it (repeatable)")
    b.add_argument("--overwrite", action="store_true", help="replace whatever --out holds")
    b.add_argument("--products", default=None, metavar="FILE",
                   help="the shop's product fields to attach (JSONL or CSV: id, title, price, currency, in_stock, "
                        "brand, sizes, url, any other column); later: python -m cti_ir.index products")
    add_backend_args(b)
    add_build_flags(b)
    _add_ensemble_args(b)
    source_args(b)
    a = sub.add_parser("add", help="add new images to an index (images already indexed are skipped)")
    a.add_argument("--index", required=True, help="index folder to extend")
    a.add_argument("--checkpoint", default=None,
                   help="checkpoint the index was built with (default: the one recorded in index_info.json)")
    source_args(a)
    add_change_parsers(sub)
    add_photo_category_parser(sub)
    i = sub.add_parser("info", help="print index_info.json, everything the build decided and recorded (build and "
                                    "add print a short summary)")
    i.add_argument("--index", required=True, help="index folder")
    return p


def _add_ensemble_args(build: argparse.ArgumentParser) -> None:
    """The flags of asymmetric search: the gallery models of an ensemble and the rejection of uncertain images."""
    g = build.add_argument_group("asymmetric search (an ensemble of heavier gallery models)")
    g.add_argument("--gallery-model", action="append", default=None, metavar="GALLERY_CKPT:TRANSFORM",
                   help="embed the catalogue with this gallery model, carried into --checkpoint's space by its "
                        "transformation (trained by `python -m training.fit_embedding_map`; use OUT/best). Repeat "
                        "for an ensemble: the stored vector is the mean of the members'. A transformation folder "
                        "alone uses the gallery checkpoint it recorded. Queries still need only --checkpoint")
    g.add_argument("--reject-fraction", type=float, default=None,
                   help="leave the given fraction of most uncertain images (largest spread among the members' "
                        "embeddings) out of the index, e.g. 0.05; they are listed in rejected.jsonl. Needs 2+ "
                        "members. Build again with another value to change it without re-encoding")
    g.add_argument("--reject-threshold", type=float, default=None,
                   help="leave out the images whose uncertainty (mean pairwise distance, 0..2) exceeds this")


def _recorded_gallery(index: str, model, device: str):
    """The ensemble an index was built with, reloaded from the members recorded in its index_info.json."""
    recorded = read_index_info(index).get("gallery") or {"mode": "symmetric"}
    if recorded["mode"] == "symmetric":
        return None
    from cti_ir.asymmetric.ensemble import load_ensemble

    specs = []
    for m in recorded["members"]:
        paths = m["gallery_checkpoints"]
        specs.append(f"{paths[0]}:{m['transform']}" if len(paths) == 1 else m["transform"])
    return load_ensemble(model, specs, device=device)


def _probe_queries(args, model, queries):
    """The queries an approximate index is tuned on (encoded only if the index needs tuning): ``queries`` read from
    --tune-queries, else the training queries of --dataset, else None (held-out catalogue vectors)."""
    if queries is not None:
        return lambda: encode_probe_queries(model, queries)
    if args.dataset and args.root:
        def from_dataset():
            found = benchmark_probe_queries(args.dataset, args.root)
            return encode_probe_queries(model, found) if found else None

        return from_dataset
    return None


def _items(args) -> list[CatalogueItem]:
    if args.images:
        return items_from_folder(args.images, args.metadata)
    items = items_from_benchmark(args.dataset, args.root, args.splits)
    if not items:
        raise ValueError(f"{args.root} lists no images for --dataset {args.dataset}"
                         + (f" in the splits {', '.join(args.splits)}" if args.splits else ""))
    return items


#: The allowed values of the numeric flags (``--workers`` is given its default before the check).
INDEX_BOUNDS = {"batch_size": AT_LEAST_ONE, "chunk_size": AT_LEAST_ONE, "workers": NON_NEGATIVE,
                "target_recall": Bounds(0, 1, low_open=True), "reject_fraction": SHARE_BELOW_ONE,
                "reject_threshold": NON_NEGATIVE, **FIT_BOUNDS}


def check_factory(factory: str, dim: int, catalogue_size: int) -> None:
    """Refuse a FAISS factory string that FAISS cannot build for ``dim``-d vectors, or whose inverted lists
    ``catalogue_size`` images cannot train, before any image is embedded (``auto`` always passes)."""
    if factory == AUTO:
        return
    import re

    import faiss

    lists = [int(n) for n in re.findall(r"IVF(\d+)", factory)]
    if lists and catalogue_size < 39 * max(lists):  # before FAISS allocates the lists (IVF1000000000 would fail)
        raise ValueError(f"factory {factory!r} has {max(lists)} inverted lists and needs at least "
                         f"{39 * max(lists)} vectors to train; the catalogue has {catalogue_size}. Use fewer lists "
                         f"or 'IDMap,Flat'.")
    try:
        faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except (RuntimeError, MemoryError) as e:
        text = (str(e).splitlines() or [""])[0]
        reason = re.sub(r"^Error in .*?\.cpp:\d+: (Error: )?", "", text) or type(e).__name__
        raise ValueError(f"--factory {factory!r} is not an index FAISS can build for this model's {dim}-d vectors "
                         f"(FAISS: {reason}); use 'auto', or a factory string such as 'IDMap,Flat', 'HNSW32' or "
                         f"'IVF256,Flat'") from None


def _check_source_flags(args) -> None:
    """Flags that belong to the other kind of catalogue source (--images vs --dataset) are refused, not ignored."""
    if args.images:
        for flag, value in (("--root", args.root), ("--splits", args.splits)):
            if value is not None:
                raise ValueError(f"{flag} belongs to --dataset, and --images {args.images} was given; leave it out")
    else:
        if args.metadata:
            raise ValueError("--metadata describes the images of an --images folder; --dataset folders have their "
                             "own descriptions, so leave it out")
        if not args.root:
            raise ValueError(f"--dataset {args.dataset} needs --root, the folder holding it")


def _check_rejection(args) -> None:
    if args.reject_fraction is None and args.reject_threshold is None:
        return
    if args.reject_fraction is not None and args.reject_threshold is not None:
        raise ValueError("give --reject-fraction or --reject-threshold, not both")
    if len(args.gallery_model or []) < 2:
        raise ValueError("rejecting uncertain images needs an ensemble of at least two --gallery-model members "
                         "(the uncertainty is the spread among their embeddings)")


def _check_arguments(args) -> dict:
    """Everything that can be checked before the model is loaded (milliseconds to seconds): numbers, flag
    conflicts, folders, the checkpoint, the factory string, the gallery members, the tuning queries. Returns what
    was read on the way: ``tune_queries`` and, for ``build``, the ``IndexOptions`` fields."""
    from cti_ir.model.checkpoint import read_checkpoint_config

    check_numeric_flags(args, INDEX_BOUNDS)
    _check_source_flags(args)
    if args.metadata and not Path(args.metadata).is_file():
        raise FileNotFoundError(f"--metadata file not found: {args.metadata}")
    prepared: dict = {"tune_queries": None}
    if args.command == "build":
        config = read_checkpoint_config(args.checkpoint)
        dim = int(config.get("embed_dim") or config["model_cfg"]["embed_dim"])
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; give a folder for the index")
        _check_rejection(args)
        if args.products:  # read and checked now: a bad line is reported before any image is embedded
            from cti_ir.index.products import read_products

            prepared["products"] = read_products(args.products)
        prepared["backend"] = backend_of_args(args)
        prepared.update(memory_budget=parse_memory(args.memory_budget),
                        search_params=parse_search_params(args.search_param))
        if args.gallery_model:
            from cti_ir.asymmetric.ensemble import check_ensemble_specs

            check_ensemble_specs(args.gallery_model, args.checkpoint)
    else:
        if args.checkpoint:
            read_checkpoint_config(args.checkpoint)
        dim = int(read_index_info(args.index)["dim"])
    if args.tune_queries:
        queries = read_probe_queries(args.tune_queries)
        if hasattr(queries, "shape") and queries.shape[1] != dim:
            raise ValueError(f"the tuning query vectors of {args.tune_queries} have {queries.shape[1]} dimensions, "
                             f"the model {dim}")
        prepared["tune_queries"] = queries
    prepared["dim"] = dim
    return prepared


def _failed_build_note(out: str) -> str:
    """What a failed build left in ``out``: the resume point, or nothing."""
    embedded = embedded_count(out) if Path(out).is_dir() else 0
    if embedded:
        return (f" ({embedded} images embedded so far are kept in {out}: run the same command again to resume "
                f"from there, or delete the folder to start over)")
    return ""


def summary(info: dict, folder: str, photo_line: str = "") -> str:
    """A few lines on what a build or an add wrote (``index info`` prints the whole index_info.json); ``photo_line``
    says what the photo category model fit after a build learnt."""
    from cti_ir.asymmetric.ensemble import index_mode_summary

    if "added" in info:
        lines = [(f"added {info['added']:,} images to {folder} ({info['already_indexed']:,} already indexed); now "
                  f"{index_mode_summary(info)}")]
    else:
        lines = [f"built {folder}: {index_mode_summary(info)}"]
    lines.append(f"  index type {info['factory']} ({info.get('factory_reason', 'given')})")
    params, tuning = info.get("search_params") or {}, info.get("tuning") or {}
    if params:
        values = ", ".join(f"{name}={value:g}" for name, value in params.items())
        how = ("set by hand" if tuning.get("given") else
               f"tuned: recall@{tuning.get('k')} {tuning.get('recall', 0):.3f} on {tuning.get('queries')} queries, "
               f"target {tuning.get('target_recall')}" + ("" if tuning.get("reached", True) else ", NOT reached"))
        lines.append(f"  search parameter {values} ({how})")
    if info.get("skipped"):
        lines.append(f"  {info['skipped']:,} unreadable images left out (listed in index_info.json)")
    if photo_line:
        lines.append(photo_line)
    lines.append(f"  everything recorded: python -m cti_ir.index info --index {folder}")
    return "\n".join(lines)


def _build(args, prepared: dict, shard, load_checkpoint) -> dict:
    """Load the model (and the gallery ensemble) and build the index; returns its info. On failure ``args.note``
    says what the build left behind."""
    model = _on_backend(args, load_checkpoint(args.checkpoint, device=args.device, granularity=args.granularity),
                        args.checkpoint)
    gallery = None
    if args.gallery_model:
        from cti_ir.asymmetric.ensemble import load_ensemble

        gallery = load_ensemble(model, args.gallery_model, device=args.device)
    source = {"images": args.images, "dataset": args.dataset, "root": args.root,
              "checkpoint": str(Path(args.checkpoint).resolve())}
    options = IndexOptions(args.factory, prepared["memory_budget"], args.target_recall, prepared["search_params"],
                           verbose=args.progress, probes=_probe_queries(args, model, prepared["tune_queries"]))
    try:
        info = build_index(model, prepared["items"], args.out, options, args.chunk_size, args.batch_size,
                           args.workers, args.skip_bad, args.overwrite, args.progress, source, gallery,
                           args.reject_fraction, args.reject_threshold, shard=shard,
                           backend=prepared["backend"],
                           **({"products": prepared["products"]} if "products" in prepared else {}))
    except (ImageLoadError, FileNotFoundError, ValueError) as e:
        if not isinstance(e, IndexMismatchError):  # a refused --out was not touched
            args.note = _failed_build_note(args.out)
        raise
    if shard.is_main and args.photo_category:  # the index is complete and served: a failed fit loses none of it
        args.photo_line = fit_after_build(args, model, args.out)
    return info


def _on_backend(args, model, checkpoint):
    """The loaded model with its image tower on ``--model-backend`` (cti_ir.model.inference)."""
    if args.model_backend == "torch":
        return model
    from cti_ir.model.inference import with_backend

    return with_backend(model, args.model_backend, checkpoint, args.onnx_dir, text_cache_size=0)


def _add(args, prepared: dict, load_checkpoint) -> dict:
    checkpoint = args.checkpoint or read_index_info(args.index).get("source", {}).get("checkpoint")
    if not checkpoint:
        raise ValueError("the index does not record its checkpoint; pass --checkpoint")
    model = _on_backend(args, load_checkpoint(checkpoint, device=args.device), checkpoint)
    from cti_ir.model.adapter_files import match_index_granularity  # an adapted checkpoint: the index's granularity

    match_index_granularity(model, read_index_info(args.index).get("model_fingerprint"))
    return add_to_index(model, prepared["items"], args.index, args.chunk_size, args.batch_size, args.workers,
                        args.skip_bad, args.progress, gallery=_recorded_gallery(args.index, model, args.device),
                        probes=_probe_queries(args, model, prepared["tune_queries"]))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cti_ir.model.checkpoint import CheckpointError, load_checkpoint

    args.note = ""  # what a failed build left behind
    args.photo_line = ""  # what the photo category model fit after a build says
    shard = shard_from_env()  # one of several processes under torchrun (build only)
    if getattr(args, "workers", 0) is None:
        args.workers = default_workers()
    try:
        if shard.world > 1 and args.command != "build":
            raise ValueError(f"only `build` can run as several processes; run `{args.command}` without torchrun")
        if args.command == "info":
            print(json.dumps(read_index_info(args.index), indent=2))
            return 0
        if args.command == "photo-category":  # cti_ir.index.cli_photo_category
            print(run_photo_category(args, load_checkpoint))
            return 0
        if args.command in CHANGE_COMMANDS:  # products, remove, update (cti_ir.index.cli_changes)
            print(run_change(args, load_checkpoint, _items))
            return 0
        # Inputs first: a wrong flag, folder or checkpoint is reported at once, not after loading the model.
        prepared = _check_arguments(args)
        prepared["items"] = _items(args)
        if args.command == "build":
            check_factory(args.factory, prepared["dim"], len(prepared["items"]))
        start_shard(shard)
        if shard.world > 1 and str(args.device) == "cuda":
            args.device = f"cuda:{shard.local_rank}"  # one GPU per process on each machine
        folder = args.out if args.command == "build" else args.index
        info = _build(args, prepared, shard, load_checkpoint) if args.command == "build" else \
            _add(args, prepared, load_checkpoint)
    except ImageLoadError as e:
        print(f"error: {e} (pass --skip-bad to leave unreadable images out of the index){args.note}", file=sys.stderr)
        return 2
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}{args.note}", file=sys.stderr)
        return 2
    finally:
        stop_shard(shard)
    if shard.is_main:
        print(summary(info, folder, args.photo_line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
