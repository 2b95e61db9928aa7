"""The command line of the catalogue's changes: products, remove, update (``python -m cti_ir.index ...``).

    python -m cti_ir.index products --index index/ --file products.csv
    python -m cti_ir.index remove   --index index/ --ids sku-1 sku-2     (or --ids-file delisted.txt)
    python -m cti_ir.index update   --index index/ --images shop_photos/ [--products changed.jsonl]

Files are read and checked before anything is changed (and before a model loads); a run that changes nothing
says so and writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from cti_ir.index.catalogue_index import DEFAULT_CHUNK_SIZE, read_index_info
from cti_ir.index.lifecycle import attach_products, read_id_file, remove_from_index, update_index
from cti_ir.index.products import read_products

CHANGE_COMMANDS = ("products", "remove", "update")


def add_change_parsers(sub) -> None:
    """The ``products``, ``remove`` and ``update`` subcommands, on the index CLI's subparsers."""
    p = sub.add_parser("products", help="attach the shop's product fields (title, price, in_stock, brand, sizes, "
                                        "...) to an index, replacing those it has; nothing is re-encoded")
    p.add_argument("--index", required=True, help="index folder")
    p.add_argument("--file", required=True,
                   help="products file: JSONL or CSV with an id column (the product ids the index knows) and any of "
                        "title, price, currency, in_stock, brand, sizes (CSV: separated by |), url, or any other "
                        "column")
    r = sub.add_parser("remove", help="remove products (their vectors, items and fields) from an index")
    r.add_argument("--index", required=True, help="index folder")
    ids = r.add_mutually_exclusive_group(required=True)
    ids.add_argument("--ids", nargs="+", help="product ids to remove")
    ids.add_argument("--ids-file", help="file of product ids to remove: one per line, or the id column of a "
                                        ".jsonl/.csv file")
    u = sub.add_parser("update", help="re-embed the photos whose file changed (by SHA-256), record moved photos and "
                                      "changed categories, and update product fields")
    u.add_argument("--index", required=True, help="index folder")
    src = u.add_mutually_exclusive_group()
    src.add_argument("--images", help="the catalogue's image folder as it is now (as for build)")
    src.add_argument("--dataset", choices=["fashioniq", "shoes"], help="a benchmark folder's images")
    u.add_argument("--root", help="dataset folder for --dataset")
    u.add_argument("--splits", nargs="*", default=None, help="splits of --dataset (default: all)")
    u.add_argument("--metadata", default=None, help="JSONL with file_name, category and text per image of --images")
    u.add_argument("--products", default=None,
                   help="products file whose rows replace those of the same ids (other products keep theirs)")
    u.add_argument("--checkpoint", default=None,
                   help="checkpoint the index was built with, to embed changed photos (default: the recorded one; "
                        "loaded only if a photo changed)")
    u.add_argument("--batch-size", type=int, default=128, help="images per encoder batch")
    u.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE,
                   help="images per embedding chunk, the unit of resumption")
    u.add_argument("--workers", type=int, default=0, help="processes decoding images (0: the main process)")
    u.add_argument("--skip-bad", action="store_true", help="keep the old vector of a photo that cannot be read")
    u.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device")
    u.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run_change(args: argparse.Namespace, load_checkpoint, read_items) -> str:
    """Run ``products``, ``remove`` or ``update``; returns what to print. ``read_items(args)`` lists the catalogue
    of ``--images``/``--dataset`` as ``build`` does."""
    read_index_info(args.index)  # a missing or incomplete index first, before any other file is read
    if args.command == "products":
        info = attach_products(args.index, read_products(args.file))
        c = info["change"]
        if not c["changed"]:
            return f"nothing changed: {args.index} already has these {c['products']:,} products' fields"
        return (f"attached the fields of {c['products']:,} products to {args.index} ({c['indexed']:,} of them "
                f"indexed); now version {info['version']}")
    if args.command == "remove":
        ids = args.ids if args.ids else read_id_file(args.ids_file)
        info = remove_from_index(args.index, ids)
        c = info["change"]
        unknown = (f"; {len(c['unknown']):,} not in the index: {', '.join(c['unknown'][:5])}"
                   + (", ..." if len(c["unknown"]) > 5 else "")) if c["unknown"] else ""
        if not c["changed"]:
            return f"nothing changed: none of the {len(ids):,} ids is in {args.index}{unknown}"
        return (f"removed {c['removed']:,} products from {args.index}{unknown}; now {info['count']:,} products, "
                f"version {info['version']}")
    return _update(args, load_checkpoint, read_items)


def _update(args, load_checkpoint, read_items) -> str:
    if not args.images and not args.dataset and not args.products:
        raise ValueError("give the catalogue (--images or --dataset) to find changed photos, --products to "
                         "change product fields, or both")
    for name in ("batch_size", "chunk_size"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.dataset and not args.root:
        raise ValueError(f"--dataset {args.dataset} needs --root, the folder holding it")
    if args.metadata and not Path(args.metadata).is_file():
        raise FileNotFoundError(f"--metadata file not found: {args.metadata}")
    products = read_products(args.products) if args.products else None
    items = read_items(args) if (args.images or args.dataset) else None

    def model():
        checkpoint = args.checkpoint or read_index_info(args.index).get("source", {}).get("checkpoint")
        if not checkpoint:
            raise ValueError("the index does not record its checkpoint; pass --checkpoint")
        from cti_ir.model.adapter_files import match_index_granularity

        loaded = load_checkpoint(checkpoint, device=args.device)
        match_index_granularity(loaded, read_index_info(args.index).get("model_fingerprint"))
        return loaded

    if items is not None and (read_index_info(args.index).get("gallery") or {}).get("mode") not in (None,
                                                                                                 "symmetric"):
        raise ValueError("updating the photos of an ensemble index is not supported yet; build it again (product "
                         "fields alone can be updated: --products without --images)")
    info = update_index(args.index, items, products, model=model, chunk_size=args.chunk_size,
                        batch_size=args.batch_size, workers=args.workers, skip_bad=args.skip_bad,
                        progress=args.progress)
    c = info["change"]
    new = (f"; {c['not_indexed']:,} products of the source are not in the index (add them with "
           f"`python -m cti_ir.index add`)") if c["not_indexed"] else ""
    if c.get("product_rows_not_indexed"):
        new += (f"; {c['product_rows_not_indexed']:,} product rows name no product of the index and were left out "
                f"(add those products first)")
    if not c["changed"]:
        return f"nothing changed: {args.index} is up to date{new}"
    return (f"updated {args.index}: {c['re_embedded']:,} photos embedded again, {c['records']:,} moved or "
            f"re-described, {c['products']:,} products' fields changed{new}; now version {info['version']}")


def add_backend_args(build) -> None:
    """``--backend`` and the Milvus flags of ``build`` (later changes use what the index records)."""
    g = build.add_argument_group("vector store (FAISS by default; Milvus for catalogues beyond one machine)")
    g.add_argument("--backend", choices=["faiss", "milvus"], default="faiss",
                   help="where the vectors are searched: faiss, a FAISS file in the index folder, or milvus, a "
                        "Milvus collection per index version (the folder keeps the items, product fields and "
                        "versions; default: faiss)")
    g.add_argument("--milvus-uri", default=None,
                   help="Milvus Lite file (e.g. INDEX/milvus.db: one machine, tests) or a Milvus server or cluster "
                        "address (http://host:19530); the token, if any, in the MILVUS_TOKEN environment variable")
    g.add_argument("--milvus-index", default="FLAT", choices=["FLAT", "HNSW"],
                   help="the Milvus index: FLAT, exact search, or HNSW, approximate (default: FLAT)")


def backend_of_args(args) -> dict | None:
    """The backend ``build`` records (None: FAISS); refuses Milvus flags without ``--backend milvus``."""
    if args.backend != "milvus":
        if args.milvus_uri:
            raise ValueError("--milvus-uri belongs to --backend milvus; add it, or leave --milvus-uri out")
        return None
    from cti_ir.index.milvus_backend import backend_spec

    return backend_spec(args.milvus_uri, args.milvus_index)
