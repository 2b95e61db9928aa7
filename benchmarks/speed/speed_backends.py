"""Part ``backends`` of ``python -m benchmarks.speed.bench_speed``: the inference backends at two model sizes.

For each model of ``--backend-models``, PyTorch (``torch``, the reference) against ONNX Runtime on the fp32 export
(``onnx``) and on the int8 one (``onnx-int8``), exported once into the work folder
(``cti_ir.model.onnx_export``; an export already there for the same checkpoint is reused):

- ``demo``: the checkpoint measured (``demo_model/``: cti-small, 128-d, 48 px, 32-token texts);
- ``vitb32``: open_clip ViT-B-32 built with ``pretrained=None`` (random weights cost what real ones do; nothing is
  downloaded), 224 px, 77-token texts, saved as a checkpoint in the work folder.

Measured, the backends taking turns query by query (one thread is what ``--threads 1`` sets):

- **per composed query** (a 256-px product photo and a modification text, batch 1): preprocessing, the image tower,
  the text tower (the cache bypassed), the composer (PyTorch for every backend) and their sum, encode + compose,
  p50 / p95, with the CPU time of the thread that ran it (one thread: PyTorch and ONNX Runtime both compute in
  the calling thread, so on a shared machine this is what the query costs a core, without the waiting); and
  encode + compose when the text is a cache hit (a recurring "is red");
- **index build**: images/s of ``build_index`` over ``--backend-images`` generated JPEGs (default decoding workers);
- **batching**: the per-query cost of ``SearchEngine.search_batch`` at each ``--backend-batch-sizes`` (distinct
  photos and texts, text cache off), over an index of the generated images;
- **catalogue reference**: a composed query whose reference is a catalogue product (``prepare(reference_id=...)``,
  its stored vector) against the same photo sent as pixels;
- **accuracy** (``demo`` only): ``cti_ir.evaluate.backend_check`` on ``--backend-layouts`` (R@10 and recall@10 of
  the result lists against PyTorch fp32).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Callable

from benchmarks.speed.common import MODIFICATIONS, percentiles, product_image, write_image_folder

BACKEND_NAMES = ("torch", "onnx", "onnx-int8")


def add_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the backends part."""
    g = p.add_argument_group("backends")
    g.add_argument("--backend-models", nargs="+", choices=["demo", "vitb32"], default=["demo", "vitb32"],
                   help="models measured: the checkpoint (demo) and a random open_clip ViT-B-32")
    g.add_argument("--backend-queries", nargs=2, type=int, default=[200, 30], metavar=("DEMO", "VITB32"),
                   help="composed queries timed per backend, for demo and for vitb32")
    g.add_argument("--backend-images", nargs=2, type=int, default=[1000, 64], metavar=("DEMO", "VITB32"),
                   help="generated images per index build, for demo and for vitb32")
    g.add_argument("--backend-repeats", type=int, default=2, help="index builds per backend, taking turns")
    g.add_argument("--backend-batch-sizes", nargs="+", type=int, default=[1, 4, 16],
                   help="batch sizes of the batching measurement")
    g.add_argument("--backend-layouts", nargs="*", default=["fashioniq:runs/bench/data/fashioniq",
                                                            "shoes:runs/bench/data/shoes"],
                   help="DATASET:ROOT pairs for the accuracy of the demo model's backends (none: skip it)")
    g.add_argument("--int8-layers", choices=["all", "mlp"], default="all",
                   help="what the int8 export quantises (python -m cti_ir.model.onnx_export --int8-layers)")
    g.add_argument("--int8-towers", nargs="+", choices=["image", "text"], default=["image", "text"],
                   help="the towers the int8 export quantises, the others fp32 (onnx_export --int8-towers)")
    g.add_argument("--graph", choices=["lean", "plain"], default="lean",
                   help="how the export writes the towers (python -m cti_ir.model.onnx_export --graph)")


# ------------------------------------------------------------------------------------------------- models
def vitb32_checkpoint(workdir: Path, log) -> Path:
    """A random open_clip ViT-B-32 saved as a checkpoint in ``workdir`` (reused when already there)."""
    folder = workdir / "vitb32"
    if (folder / "cti_config.json").is_file():
        return folder
    import torch

    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    log("[backends] building a random open_clip ViT-B-32 (pretrained=None) ...")
    torch.manual_seed(0)
    return save_checkpoint(CIRModel.create("ViT-B-32", None, composer="adaptive"), folder)


def ensure_export(checkpoint: Path, folder: Path, int8_layers: str, log, int8_towers=("image", "text"),
                  graph: str = "lean") -> Path:
    """The ONNX export of ``checkpoint`` in ``folder``: reused when it is this checkpoint's with the same int8
    choices and graph form (an export that records none is plain), else written."""
    from cti_ir.model.checkpoint import read_checkpoint_config
    from cti_ir.model.onnx_backend import OnnxError, read_onnx_config
    from cti_ir.model.onnx_export import export_onnx

    try:
        config = read_onnx_config(folder, read_checkpoint_config(checkpoint)["fingerprint"], checkpoint)
        quantised = config.get("quantisation", {})
        if quantised.get("layers") == int8_layers and config.get("graph", "plain") == graph and \
                sorted(quantised.get("towers", ["image", "text"])) == sorted(int8_towers):
            return folder
    except OnnxError:
        pass
    t0 = time.perf_counter()
    export_onnx(checkpoint, folder, log=lambda m: log(f"[backends] {m}"), int8_layers=int8_layers,
                int8_towers=int8_towers, graph=graph)
    log(f"[backends] exported {checkpoint.name} in {time.perf_counter() - t0:.0f} s")
    return folder


def backend_models(checkpoint: Path, onnx_dir: Path) -> dict[str, Any]:
    """The model on each backend (one PyTorch model underneath), text cache on."""
    from cti_ir.model.checkpoint import load_checkpoint
    from cti_ir.model.inference import with_backend

    model = load_checkpoint(checkpoint)
    return {name: with_backend(model, name, checkpoint, onnx_dir, notify=lambda m: None) for name in BACKEND_NAMES}


# ------------------------------------------------------------------------------------------------- timings
def time_queries(models: dict[str, Any], n: int) -> dict[str, dict[str, Any]]:
    """Per backend: the stages of a composed query at batch 1 (seconds lists turned into percentiles)."""
    import torch

    images = [product_image(20_000 + i, 256) for i in range(min(n, 40))]
    stages = ("preprocess", "image", "text", "compose", "encode_compose", "encode_compose_cpu",
              "encode_compose_cached")
    seconds = {name: {s: [] for s in stages} for name in models}
    with torch.no_grad():
        for i in range(n + 2):  # the first two rounds warm up and are not counted
            image, text = images[i % len(images)], MODIFICATIONS[i % len(MODIFICATIONS)]
            order = list(models) if i % 2 else list(reversed(models))
            for name in order:
                m = models[name]
                m.encode_texts([text])  # a recurring text: in the cache for the cached variant
                t0 = time.perf_counter()
                pixels = m.preprocess(image)[None]
                t1, c1 = time.perf_counter(), time.thread_time()
                img = m.encode_images(pixels)
                t2 = time.perf_counter()
                txt = m.encode_texts_uncached([text])
                t3 = time.perf_counter()
                m.compose(img, txt)
                t4, c4 = time.perf_counter(), time.thread_time()
                m.compose(m.encode_images(pixels), m.encode_texts([text]))
                t5 = time.perf_counter()
                if i >= 2:
                    row = seconds[name]
                    row["preprocess"].append(t1 - t0)
                    row["image"].append(t2 - t1)
                    row["text"].append(t3 - t2)
                    row["compose"].append(t4 - t3)
                    row["encode_compose"].append(t4 - t1)
                    row["encode_compose_cpu"].append(c4 - c1)  # this thread's CPU: the cost on an idle core
                    row["encode_compose_cached"].append(t5 - t4)
    return {name: {s: percentiles(v) for s, v in row.items()} for name, row in seconds.items()}


def time_index_builds(models: dict[str, Any], folder: Path, repeats: int, workdir: Path) -> dict[str, float]:
    """Median images/s of ``build_index`` per backend over the images of ``folder``, builds taking turns."""
    from cti_ir.index.build import default_workers
    from cti_ir.index.catalogue import items_from_folder
    from cti_ir.index.catalogue_index import build_index

    items = items_from_folder(folder)
    rates: dict[str, list[float]] = {name: [] for name in models}
    for r in range(repeats):
        for name in (models if r % 2 == 0 else reversed(list(models))):
            out = workdir / f"build-{name}"
            t0 = time.perf_counter()
            build_index(models[name], items, out, batch_size=64, workers=default_workers(), overwrite=True,
                        progress=False)
            rates[name].append(len(items) / (time.perf_counter() - t0))
    return {name: statistics.median(v) for name, v in rates.items()}


def time_batches(engines: dict[str, Any], sizes: list[int], rounds: int) -> dict[str, dict[int, float]]:
    """Per backend and batch size: median milliseconds of ``search_batch`` per query (distinct photos and texts)."""
    images = [product_image(30_000 + i, 256) for i in range(max(sizes))]
    texts = [f"{MODIFICATIONS[i % len(MODIFICATIONS)]} and variant {i}" for i in range(max(sizes) * (rounds + 1))]
    per_item: dict[str, dict[int, list[float]]] = {name: {b: [] for b in sizes} for name in engines}
    for r in range(rounds + 1):  # round 0 warms up
        for size in sizes:
            for name, engine in engines.items():
                queries = [engine.prepare(image=images[j], text=texts[(r * max(sizes) + j) % len(texts)], k=10)
                           for j in range(size)]
                t0 = time.perf_counter()
                engine.search_batch(queries)
                if r:
                    per_item[name][size].append((time.perf_counter() - t0) * 1000 / size)
    return {name: {b: statistics.median(v) for b, v in rows.items()} for name, rows in per_item.items()}


def time_references(engines: dict[str, Any], n: int) -> dict[str, dict[str, float]]:
    """Per backend: p50 ms of a composed query whose reference is a catalogue product (stored vector) against the
    same photo's pixels, and the images the tower encoded for the catalogue references (0 expected)."""
    from cti_ir.model.images import load_image

    out: dict[str, dict[str, list]] = {name: {"stored": [], "pixels": []} for name in engines}
    encoded = {}
    first = next(iter(engines.values()))
    items = [first.index.items[i] for i in range(0, len(first.index.items), max(1, len(first.index.items) // n))][:n]
    pixels = [first.preprocess(load_image(it["path"])) for it in items]
    for name, engine in engines.items():
        before = engine.model.image_encodes
        for i, item in enumerate(items):
            text = MODIFICATIONS[i % len(MODIFICATIONS)]
            for kind in (("stored", "pixels") if i % 2 else ("pixels", "stored")):
                t0 = time.perf_counter()
                query = engine.prepare(text=text, reference_id=item["image_id"]) if kind == "stored" else \
                    engine.prepare(pixels=pixels[i], text=text, exclude=item["image_id"])
                engine.submit(query)
                out[name][kind].append(time.perf_counter() - t0)
        encoded[name] = engine.model.image_encodes - before - len(items)  # the pixel queries encoded one each
    return {name: {kind: percentiles(v)["p50_ms"] for kind, v in rows.items()} | {"stored_encoded": encoded[name]}
            for name, rows in out.items()}


# ------------------------------------------------------------------------------------------------- the part
def bench_model(name: str, checkpoint: Path, args, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Every measurement of one model (see the module docstring)."""
    from cti_ir.serve.engine import SearchEngine

    demo = name == "demo"
    onnx_dir = ensure_export(checkpoint, workdir / f"onnx-{name}", args.int8_layers, log, args.int8_towers,
                             args.graph)
    models = backend_models(checkpoint, onnx_dir)
    n_queries, n_images = (args.backend_queries[0], args.backend_images[0]) if demo else \
        (args.backend_queries[1], args.backend_images[1])
    log(f"[backends] {name}: {n_queries} composed queries per backend ...")
    result: dict[str, Any] = {"checkpoint": str(checkpoint), "queries": time_queries(models, n_queries)}
    images = workdir / f"images-{n_images}"
    if not images.is_dir():
        write_image_folder(images, n_images, 256, seed=args.seed)
    log(f"[backends] {name}: index builds over {n_images} images ...")
    result["index_images_per_s"] = time_index_builds(models, images, args.backend_repeats, workdir / name)
    engines = {b: SearchEngine(checkpoint, workdir / name / "build-torch", backend=b, onnx_dir=onnx_dir)
               for b in BACKEND_NAMES}
    for engine in engines.values():
        engine.model.text_cache = None  # every text through the tower: what batching and references change
    log(f"[backends] {name}: batches of {args.backend_batch_sizes} and catalogue references ...")
    result["batch_per_item_ms"] = time_batches(engines, args.backend_batch_sizes, 5 if demo else 2)
    result["reference"] = time_references(engines, 40 if demo else 8)
    if demo and args.backend_layouts and args.backend_layouts != ["none"]:
        from cti_ir.evaluate.backend_check import check_backends

        layouts = [tuple(pair.split(":", 1)) for pair in args.backend_layouts]
        log(f"[backends] {name}: accuracy on {', '.join(d for d, _ in layouts)} ...")
        result["accuracy"] = check_backends(checkpoint, layouts, onnx_dir, write=False, log=log)
    return result


def bench_backends(args, checkpoint: Path, workdir: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """See the module docstring."""
    import onnxruntime

    out: dict[str, Any] = {"onnxruntime": onnxruntime.__version__, "int8_layers": args.int8_layers, "graph": args.graph,
                           "int8_towers": args.int8_towers, "models": {}}
    for name in args.backend_models:
        source = checkpoint if name == "demo" else vitb32_checkpoint(workdir, log)
        out["models"][name] = bench_model(name, source, args, workdir, log)
    return out


def markdown(result: dict[str, Any]) -> list[str]:
    """The part's tables."""
    towers = " and ".join(result.get("int8_towers", ["image", "text"]))
    lines = [f"Inference backends (ONNX Runtime {result['onnxruntime']}, int8 over {result['int8_layers']} matrix "
             f"products of the {towers} tower(s)), per composed query at batch 1, backends taking turns:", "",
             "| model | backend | preprocess p50 | image p50 | text p50 | compose p50 | encode + compose p50 / p95 "
             "| its CPU time p50 | vs torch | with the text cached p50 |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for model, r in result["models"].items():
        base = r["queries"]["torch"]["encode_compose"]["p50_ms"]
        for backend, q in r["queries"].items():
            ec = q["encode_compose"]
            lines.append(f"| {model} | {backend} | {q['preprocess']['p50_ms']:.2f} ms | {q['image']['p50_ms']:.2f} ms "
                         f"| {q['text']['p50_ms']:.2f} ms | {q['compose']['p50_ms']:.2f} ms | {ec['p50_ms']:.2f} / "
                         f"{ec['p95_ms']:.2f} ms | {q['encode_compose_cpu']['p50_ms']:.2f} ms | "
                         f"{base / ec['p50_ms']:.2f}x faster | "
                         f"{q['encode_compose_cached']['p50_ms']:.2f} ms |")
    lines += ["", "| model | backend | index build images/s | vs torch | batch: ms per query at sizes | catalogue "
              "reference: stored vector / pixels p50 |", "|---|---|---:|---:|---|---|"]
    for model, r in result["models"].items():
        base = r["index_images_per_s"]["torch"]
        for backend, rate in r["index_images_per_s"].items():
            batches = ", ".join(f"{b}: {ms:.2f}" for b, ms in r["batch_per_item_ms"][backend].items())
            ref = r["reference"][backend]
            lines.append(f"| {model} | {backend} | {rate:.3g} | {rate / base:.2f} | {batches} | {ref['stored']:.2f} "
                         f"/ {ref['pixels']:.2f} ms ({ref['stored_encoded']} images encoded) |")
    accuracy = result["models"].get("demo", {}).get("accuracy")
    if accuracy:
        from cti_ir.evaluate.backend_check import format_record

        lines += ["", "Accuracy of the demo model's backends against PyTorch fp32:", "", format_record(accuracy)]
    return lines + [""]
