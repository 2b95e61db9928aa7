"""Part ``indexing`` of ``python -m benchmarks.speed.bench_speed``: images/s of an index build against the
encoder's own.

For each image set (``--image-sets``) the script measures, taking turns ``--index-repeats`` times so that both see
the same machine load:

- **raw forward**: ``model.encode_images`` on a ready-made batch of ``--batch-size`` preprocessed tensors, as many
  images as the set holds: the ceiling for indexing on this machine;
- **build_index** with the flags ``python -m cti_ir.index build`` uses by default (decoding workers, batch size,
  chunk size, JPEGs decoded at reduced scale), and with each ``--workers`` value given.

The ratio build / raw (median over the repeats) is the share of the encoder's speed the build keeps. Image sets:
``shop``, ``--n-images`` generated 256 px JPEG product pictures (a shop's photo folder); ``catalogue``, the first
``--n-images`` product images of ``--real-catalogue`` (the generated catalogue: 128 px PNG Fashion-IQ-layout photos
and JPEG shoes, in the catalogue's proportion).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.speed.common import write_image_folder


def _image_set(name: str, args, workdir: Path, log) -> tuple[list, str]:
    """The items of image set ``name`` (written first for a generated shop set) and a description of them."""
    from cti_ir.index.catalogue import items_from_folder

    if name == "shop":
        folder = Path(args.images) if args.images else workdir / "shop"
        if not args.images and not folder.is_dir():
            t0 = time.perf_counter()
            write_image_folder(folder, args.n_images, args.image_size, seed=args.seed)
            log(f"[indexing] wrote {args.n_images} JPEG images of {args.image_size}px in "
                f"{time.perf_counter() - t0:.1f} s")
        return items_from_folder(folder), f"{folder.name}: JPEG {args.image_size}px" if not args.images else str(folder)
    root = Path(args.real_catalogue)
    fiq = items_from_folder(root / "fashioniq" / "images")
    shoes = items_from_folder(root / "shoes")
    share = len(fiq) / (len(fiq) + len(shoes))
    n_fiq = round(args.n_images * share)
    items = fiq[:n_fiq] + shoes[:args.n_images - n_fiq]
    return items, f"catalogue: {n_fiq} PNG + {args.n_images - n_fiq} JPEG, 128px"


def bench_indexing(args, checkpoint: Path, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """See the module docstring."""
    import torch

    from cti_ir.model.checkpoint import load_checkpoint
    from cti_ir.model.images import load_image
    from cti_ir.index.catalogue_index import DEFAULT_CHUNK_SIZE, build_index
    from cti_ir.index.build import default_workers

    model = load_checkpoint(checkpoint)
    batch = args.batch_size
    default = default_workers()
    settings = [("defaults", default)] + [(f"workers={w}", w) for w in args.workers if w != default]
    sets = []
    for name in args.image_sets:
        if name == "catalogue" and not args.real_catalogue:
            log("[indexing] no --real-catalogue: the catalogue image set is skipped")
            continue
        items, description = _image_set(name, args, workdir, log)
        n = len(items)
        pixel_shape = tuple(model.preprocess(load_image(items[0].path)).shape)
        pixels = torch.randn((batch,) + pixel_shape)
        raw, builds = [], {label: [] for label, _ in settings}
        with torch.no_grad():
            model.encode_images(pixels)  # warm-up
        index_folder = None
        for r in range(args.index_repeats):
            with torch.no_grad():
                t0 = time.perf_counter()
                for done in range(0, n, batch):
                    model.encode_images(pixels[: min(batch, n - done)])
                raw.append(n / (time.perf_counter() - t0))
            for label, workers in settings:
                out = workdir / f"index-{name}-{label}"
                t0 = time.perf_counter()
                info = build_index(model, items, out, batch_size=batch, workers=workers,
                                   chunk_size=DEFAULT_CHUNK_SIZE, overwrite=True, progress=False,
                                   source={"checkpoint": str(checkpoint.resolve())})
                builds[label].append(info["count"] / (time.perf_counter() - t0))
                index_folder = out
            log(f"[indexing] {name} repeat {r + 1}: raw forward {raw[-1]:.0f} images/s; "
                + "; ".join(f"build ({label}) {v[-1]:.0f}" for label, v in builds.items()))
        rows = [{"stage": f"encoder forward only (encode_images, batch {batch})", "images_per_s": raw,
                 "median": statistics.median(raw), "vs_forward": 1.0}]
        for label, workers in settings:
            ratios = [b / f for b, f in zip(builds[label], raw)]
            rows.append({"stage": f"build_index, {label} (workers={workers}, batch {batch}, chunk "
                                  f"{DEFAULT_CHUNK_SIZE})", "images_per_s": builds[label],
                         "median": statistics.median(builds[label]), "vs_forward": statistics.median(ratios)})
        sets.append({"name": name, "description": description, "images": n, "pixel_shape": list(pixel_shape),
                     "rows": rows, "index": str(index_folder)})
    return {"sets": sets, "repeats": args.index_repeats, "default_workers": default,
            "index": sets[-1]["index"] if sets else None}


def markdown(ix: dict) -> list[str]:
    """The indexing part's tables."""
    lines = []
    for s in ix["sets"]:
        lines += [f"### Indexing throughput, {s['description']} ({s['images']} images, model input "
                  f"{s['pixel_shape']}; medians of {ix['repeats']} alternating repeats)", "",
                  "| stage | images/s | vs encoder forward (median of the ratios) |", "|---|---:|---:|"]
        for r in s["rows"]:
            lines.append(f"| {r['stage']} | {r['median']:.0f} | {r['vs_forward']:.2f}x |")
        lines.append("")
    return lines
