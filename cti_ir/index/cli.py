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
from cti_ir.index.factory import (
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_TARGET_RECALL,
    IndexOptions,
    format_bytes,
    parse_memory,
    parse_search_params,
)
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
    g = b.add_argument_group("asymmetric search (an ensemble of heavier gallery models)")
    g.add_argument("--gallery-model", action="append", default=None, metavar="GALLERY_CKPT:TRANSFORM",
                   help="embed the catalogue with this gallery model, carried into --checkpoint's space by its "
                        "transformation (trained by `python -m training.fit_embedding_map`; use OUT/best). Repeat for an "
                        "ensemble: the stored vector is the mean of the members'. A transformation folder alone "
                        "uses the gallery checkpoint it recorded. Queries still need only --checkpoint")
    g.add_argument("--reject-fraction", type=float, default=None,
                   help="leave the given fraction of most uncertain images (largest spread among the members' "
                        "embeddings) out of the index, e.g. 0.05; they are listed in rejected.jsonl. Needs 2+ "
                        "members. Build again with another value to change it without re-encoding")
    g.add_argument("--reject-threshold", type=float, default=None,
                   help="leave out the images whose uncertainty (mean pairwise distance, 0..2) exceeds this")
    source_args(b)
    a = sub.add_parser("add", help="add new images to an index (images already indexed are skipped)")
    a.add_argument("--index", required=True, help="index folder to extend")
    a.add_argument("--checkpoint", default=None,
                   help="checkpoint the index was built with (default: the one recorded in index_info.json)")
    source_args(a)
    i = sub.add_parser("info", help="print index_info.json")
    i.add_argument("--index", required=True, help="index folder")
    return p


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


def _probe_queries(args, model):
    """The queries an approximate index is tuned on (encoded only if the index needs tuning): --tune-queries, else
    the training queries of --dataset, else None (held-out catalogue vectors)."""
    if args.tune_queries:
        queries = read_probe_queries(args.tune_queries)  # read now: a bad file is reported before encoding
        return lambda: encode_probe_queries(model, queries)
    if args.dataset and args.root:
        def from_dataset():
            queries = benchmark_probe_queries(args.dataset, args.root)
            return encode_probe_queries(model, queries) if queries else None

        return from_dataset
    return None


def _items(args) -> list[CatalogueItem]:
    if args.images:
        return items_from_folder(args.images, args.metadata)
    if not args.root:
        raise ValueError("--dataset needs --root")
    items = items_from_benchmark(args.dataset, args.root, args.splits)
    if not items:
        raise ValueError(f"{args.root} lists no images for --dataset {args.dataset}"
                         + (f" in the splits {', '.join(args.splits)}" if args.splits else ""))
    return items


def _check_arguments(args) -> None:
    """Everything that can be checked before the model is loaded (seconds): numbers, folders, the checkpoint."""
    from cti_ir.model.checkpoint import read_checkpoint_config

    for name in ("batch_size", "chunk_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.workers < 0:
        raise ValueError(f"--workers must be 0 or more, got {args.workers}")
    if args.metadata and not Path(args.metadata).is_file():
        raise FileNotFoundError(f"--metadata file not found: {args.metadata}")
    if args.command == "build":
        read_checkpoint_config(args.checkpoint)
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} is a file; give a folder for the index")
    elif args.checkpoint:
        read_checkpoint_config(args.checkpoint)


def _failed_build_note(out: str) -> str:
    """What a failed build left in ``out``: the resume point, or nothing."""
    embedded = embedded_count(out) if Path(out).is_dir() else 0
    if embedded:
        return (f" ({embedded} images embedded so far are kept in {out}: run the same command again to resume "
                f"from there, or delete the folder to start over)")
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from cti_ir.model.checkpoint import CheckpointError, load_checkpoint

    note = ""  # what a failed build left behind
    shard = shard_from_env()  # one of several processes under torchrun (build only)
    if args.workers is None:
        args.workers = default_workers()
    try:
        if shard.world > 1 and args.command != "build":
            raise ValueError(f"only `build` can run as several processes; run `{args.command}` without torchrun")
        start_shard(shard)
        if shard.world > 1 and str(args.device) == "cuda":
            args.device = f"cuda:{shard.local_rank}"  # one GPU per process on each machine
        if args.command == "info":
            print(json.dumps(read_index_info(args.index), indent=2))
            return 0
        # Inputs first: a missing folder or checkpoint is reported at once, not after loading the model.
        _check_arguments(args)
        items = _items(args)
        if args.command == "build":
            model = load_checkpoint(args.checkpoint, device=args.device, granularity=args.granularity)
            gallery = None
            if args.gallery_model:
                from cti_ir.asymmetric.ensemble import load_ensemble

                gallery = load_ensemble(model, args.gallery_model, device=args.device)
            source = {"images": args.images, "dataset": args.dataset, "root": args.root,
                      "checkpoint": str(Path(args.checkpoint).resolve())}
            options = IndexOptions(args.factory, parse_memory(args.memory_budget), args.target_recall,
                                   parse_search_params(args.search_param), verbose=args.progress,
                                   probes=_probe_queries(args, model))
            try:
                info = build_index(model, items, args.out, options, args.chunk_size, args.batch_size,
                                   args.workers, args.skip_bad, args.overwrite, args.progress, source, gallery,
                                   args.reject_fraction, args.reject_threshold, shard=shard)
            except (ImageLoadError, FileNotFoundError, ValueError) as e:
                if not isinstance(e, IndexMismatchError):  # a refused --out was not touched
                    note = _failed_build_note(args.out)
                raise
        else:
            checkpoint = args.checkpoint or read_index_info(args.index).get("source", {}).get("checkpoint")
            if not checkpoint:
                raise ValueError("the index does not record its checkpoint; pass --checkpoint")
            model = load_checkpoint(checkpoint, device=args.device)
            from cti_ir.model.adapter_files import match_index_granularity  # an adapted checkpoint: the index's granularity

            match_index_granularity(model, read_index_info(args.index).get("model_fingerprint"))
            info = add_to_index(model, items, args.index, args.chunk_size, args.batch_size, args.workers,
                                args.skip_bad, args.progress, gallery=_recorded_gallery(args.index, model, args.device),
                                probes=_probe_queries(args, model))
    except ImageLoadError as e:
        print(f"error: {e} (pass --skip-bad to leave unreadable images out of the index){note}", file=sys.stderr)
        return 2
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}{note}", file=sys.stderr)
        return 2
    finally:
        stop_shard(shard)
    if shard.is_main:
        print(json.dumps({k: v for k, v in info.items() if k != "skipped_examples"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
