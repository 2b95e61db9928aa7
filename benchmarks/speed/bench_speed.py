"""Speed benchmark: composed-query latency, indexing throughput and the app's latency under concurrent clients.

    python -m benchmarks.speed.bench_speed --threads 1 --real-index runs/scale/index-large-real \
        --real-catalogue runs/scale/data-large                         # search + indexing, galleries 10k/100k/1M
    python -m benchmarks.speed.bench_speed --parts search --vectors random --sizes 10000 100000 --queries 50
    python -m benchmarks.speed.bench_speed --parts training --train-data runs/bench/data     # the three stages
    python -m benchmarks.speed.bench_speed --parts app --duration 30          # launches app.py on a free loopback port
    python -m benchmarks.speed.bench_speed --parts app --url http://127.0.0.1:7860/   # an app that is already running
    python -m benchmarks.speed.bench_speed --parts launch                    # `python app.py`: first and later launch
    python -m benchmarks.speed.bench_speed --parts backends --threads 1 --workdir runs/bench/backends   # ONNX, int8

Six parts, each optional (``--parts``):

search    Composed-query latency and ANN recall at catalogue scale (``speed_search.py``): real vectors (the demo
          model's embeddings of the ``large`` generated catalogue, extended to 1M as ``scale_vectors.py``
          documents; real composed queries of that catalogue) and random vectors (the worst case), exact search
          against ``--factory auto`` under each ``--budgets`` memory budget, tuned at build time for
          ``--target-recall``; end to end through ``SearchEngine.search``, search alone, with a category filter,
          recall@k vs exact, target / planted match found, build time, serving memory.
indexing  Images/s of ``cti_ir.index.build_index`` with the CLI's default flags against the encoder's raw forward
          throughput, alternating repeats (``speed_indexing.py``).
training  Each stage's training-loop examples/s against the raw forward + backward + step of the same model and
          batch, alternating repeats (``speed_training.py``).
app       p50/p95 latency of the app under N concurrent clients on loopback, the page's ``/search`` and the JSON
          API, every failed request counted (``speed_app.py``).
launch    Seconds from starting ``python app.py`` until its page answers, on an empty demo cache and then on the
          filled one (``speed_app.py``).
backends  The inference backends (PyTorch, ONNX Runtime fp32 and int8) on the demo model and a random ViT-B-32:
          per-query stages, index build images/s, per-query cost by batch size, catalogue references, and the
          demo model's accuracy against PyTorch fp32 (``speed_backends.py``).

The parts are the modules beside this one, in ``benchmarks/speed/``; this script chooses, runs and reports them.
Results go to a JSON file (``--out``) and are printed as Markdown tables. This is a measurement script, not a
test: it asserts nothing, and numbers depend on the machine (see the ``machine`` entry of the JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks.common import REPO_ROOT, error, set_threads
from benchmarks.speed import speed_app, speed_backends, speed_indexing, speed_search, speed_training


# ------------------------------------------------------------------------------------------------------- helpers
def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    import faiss
    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "faiss_threads": faiss.omp_get_max_threads(), "torch": torch.__version__, "faiss": faiss.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "cuda": torch.cuda.is_available(), "load_average_1_5_15": list(os.getloadavg())}


def resolve_checkpoint(arg: str | None, workdir: Path, log: Callable[[str], None]) -> Path:
    """The checkpoint to measure: the one given, else ``demo_model/``, else a random cti-small one saved to workdir."""
    if arg:
        return Path(arg)
    if (REPO_ROOT / "demo_model").is_dir():
        return REPO_ROOT / "demo_model"
    import torch

    from cti_ir.model.checkpoint import save_checkpoint
    from cti_ir.model.cir_model import CIRModel

    log("no --checkpoint and no demo_model/: using a randomly initialised cti-small model (same cost as trained)")
    torch.manual_seed(0)
    return save_checkpoint(CIRModel.create("cti-small"), workdir / "cti-small-random")


# ------------------------------------------------------------------------------------------------------- report
def markdown_report(results: dict[str, Any]) -> str:
    """The results as Markdown tables."""
    lines: list[str] = []
    m = results["machine"]
    lines += [f"Machine: {m['cpu']}, {m['cpu_count']} CPUs, torch {m['torch']} ({m['torch_threads']} threads), "
              f"faiss {m['faiss']} ({m['faiss_threads']} threads); checkpoint: {results['checkpoint_kind']} "
              f"({results.get('embed_dim', '?')}-d). Load average (1/5/15 min) at the start "
              f"{'/'.join(f'{v:.1f}' for v in m['load_average_1_5_15'])}, at the end "
              f"{'/'.join(f'{v:.1f}' for v in results.get('load_average_end', [math.nan] * 3))}.", ""]
    if results.get("search"):
        lines += speed_search.markdown(results["search"])
    if results.get("indexing"):
        lines += speed_indexing.markdown(results["indexing"])
    if results.get("training"):
        lines += speed_training.markdown(results["training"])
    if results.get("backends"):
        lines += speed_backends.markdown(results["backends"])
    lines += speed_app.markdown(results)
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------- CLI
def add_search_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the search part."""
    g = p.add_argument_group("search")
    g.add_argument("--vectors", nargs="+", choices=["real", "random"], default=["real", "random"],
                   help="gallery vectors: real (--real-index, extended beyond its size) and/or random")
    g.add_argument("--real-index", default=None,
                   help="index folder whose embeddings are the real vectors, e.g. the demo model over the large "
                        "generated catalogue: python -m cti_ir.index build --checkpoint demo_model --images DATA "
                        "--out runs/scale/index-large-real (see benchmarks/README.md)")
    g.add_argument("--real-catalogue", default=None,
                   help="the generated catalogue those embeddings come from (python -m data_prep.synth --size "
                        "large): its val triplets are the real composed queries, its images the indexing set")
    g.add_argument("--sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000],
                   help="gallery sizes")
    g.add_argument("--queries", type=int, default=200, help="composed queries timed per gallery and index")
    g.add_argument("--k", type=int, default=10, help="results per query (and the recall@k cut-off)")
    g.add_argument("--budgets", nargs="+", default=["4GiB", "256MiB"],
                   help="memory budgets of --factory auto: one auto index per distinct choice (at 1M x 128-d: "
                        "HNSW32 under 4GiB, IVF-PQ with re-ranking under 256MiB)")
    g.add_argument("--factories", nargs="*", default=[],
                   help="further FAISS factory strings to measure (tuned like auto's choice)")
    g.add_argument("--target-recall", type=float, default=0.95, help="recall@10 target of the build-time tuning")
    g.add_argument("--tune-on", choices=["queries", "catalogue"], default="queries",
                   help="what the ANN indexes are tuned on: composed queries other than the measured ones (the "
                        "catalogue's training triplets), or held-out catalogue vectors (the fallback of "
                        "`cti_ir.index build` without queries)")
    g.add_argument("--no-memory", dest="memory", action="store_false",
                   help="skip the serving-process memory measurement at the largest size")
    g.add_argument("--query-image-size", type=int, default=256, help="side of the generated reference photos")
    g.add_argument("--search-backend", choices=["torch", "onnx", "onnx-int8", "auto"], default="torch",
                   help="inference backend of the search part's model and engines, text cache on as served "
                        "(cti_ir.model.inference)")
    g.add_argument("--search-onnx-dir", default=None,
                   help="the checkpoint's ONNX export for --search-backend (default: CHECKPOINT/onnx)")


def add_indexing_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the indexing part."""
    g = p.add_argument_group("indexing")
    g.add_argument("--image-sets", nargs="+", choices=["shop", "catalogue"], default=["shop", "catalogue"],
                   help="shop: generated 256px JPEGs (or --images); catalogue: --real-catalogue's product photos")
    g.add_argument("--images", default=None,
                   help="folder of catalogue images for the shop set (default: generate --n-images JPEGs)")
    g.add_argument("--n-images", type=int, default=2000, help="images per set")
    g.add_argument("--image-size", type=int, default=256, help="side of the generated shop images")
    g.add_argument("--batch-size", type=int, default=128, help="encoder batch size (build_index's default)")
    g.add_argument("--workers", nargs="*", type=int, default=[0],
                   help="build_index decoding workers to measure besides the default (one build each)")
    g.add_argument("--index-repeats", type=int, default=3, help="alternating repeats of raw forward and builds")


def add_training_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the training part."""
    g = p.add_argument_group("training")
    g.add_argument("--train-data", default="runs/bench/data",
                   help="generated catalogue the stages train on (python -m data_prep.synth --size default)")
    g.add_argument("--stages", nargs="+", choices=["stage1", "stage2", "stage3"],
                   default=["stage1", "stage2", "stage3"], help="stages to measure")
    g.add_argument("--train-steps", type=int, default=20, help="timed optimizer steps per measurement")
    g.add_argument("--train-warmup", type=int, default=3, help="steps run before timing starts")
    g.add_argument("--train-repeats", type=int, default=3, help="alternating repeats of raw and loop")
    g.add_argument("--train-batch-size", type=int, default=None,
                   help="batch size (default: each stage CLI's own, 128 / 128 / 64)")
    g.add_argument("--arch", default="cti-small",
                   help="architecture when there is no --checkpoint (the demo model's otherwise)")
    g.add_argument("--train-image-cache", default="auto",
                   help="the loop's --image-cache (auto|DIR|none); 'auto' uses a folder in --workdir")


def add_app_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the app part (the startup timeout serves the launch part too)."""
    g = p.add_argument_group("app")
    g.add_argument("--url", default=None, help="measure an app already running at this URL instead of launching one")
    g.add_argument("--app-script", default=str(REPO_ROOT / "app.py"), help="the app to launch")
    g.add_argument("--app-index", default=None,
                   help="index folder the app serves (default: the one built by the indexing part, else a small "
                        "generated one)")
    g.add_argument("--app-args", nargs=argparse.REMAINDER, default=[],
                   help="extra command-line arguments for the app (must come last), e.g. --concurrency 4")
    g.add_argument("--clients", type=int, default=16, help="concurrent clients, one thread and Client each")
    g.add_argument("--duration", type=float, default=30.0, help="seconds the clients keep sending queries")
    g.add_argument("--api-name", default="/search", help="Gradio endpoint the page's clients call")
    g.add_argument("--app-endpoints", nargs="+", choices=["page", "json"], default=["page", "json"],
                   help="what to measure, one after the other on the same app: the page (gradio_client on "
                        "--api-name) and the JSON API (POST /api/search, keep-alive HTTP connections)")
    g.add_argument("--app-extra", nargs="*", default=[],
                   help="extra positional values after (image, text) for the endpoint, as JSON "
                        "(e.g. '\"All\"' 10); by default the endpoint's own defaults are used")
    g.add_argument("--app-startup-timeout", type=float, default=600.0,
                   help="seconds to wait for a launched app to answer (app and launch parts)")


def add_launch_flags(p: argparse.ArgumentParser) -> None:
    """Flags of the launch part."""
    g = p.add_argument_group("launch")
    g.add_argument("--launches", type=int, default=2, help="later launches timed after the first one")


def build_parser() -> argparse.ArgumentParser:
    """The command line: the general flags, then one group of flags per part."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.bench_speed", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--parts", nargs="+", choices=["search", "indexing", "training", "app", "launch", "backends"],
                   default=["search", "indexing"],
                   help="which measurements to run")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint folder to measure (default: demo_model/ if present, else a random cti-small)")
    p.add_argument("--out", default="runs/bench_speed.json", help="results JSON file")
    p.add_argument("--workdir", default=None,
                   help="folder for the generated galleries, images and indexes (default: a temporary folder, "
                        "removed at the end)")
    p.add_argument("--keep", action="store_true", help="keep the gallery index folders in --workdir")
    p.add_argument("--seed", type=int, default=0, help="seed of the random galleries and generated images")
    p.add_argument("--threads", type=int, default=None,
                   help="torch and faiss threads (default: their own default, all cores)")
    for add_flags in (add_search_flags, add_indexing_flags, add_training_flags, add_app_flags, add_launch_flags,
                      speed_backends.add_flags):
        add_flags(p)
    return p


def check_args(args) -> str | None:
    """Why these arguments cannot run (checked before anything is measured), or None."""
    if any(n < 1 for n in args.sizes) or args.queries < 1 or args.clients < 1 or args.duration <= 0:
        return "--sizes, --queries and --clients must be >= 1 and --duration > 0"
    if "search" in args.parts and args.queries > min(args.sizes):
        return "--queries must not exceed the smallest gallery size"
    for flag, value in (("--real-index", args.real_index), ("--real-catalogue", args.real_catalogue)):
        if value and not Path(value).is_dir():
            return f"{flag} {value} is not a folder"
    if "training" in args.parts and not Path(args.train_data, "fashioniq").is_dir():
        return (f"--train-data {args.train_data} holds no generated catalogue; make one with "
                f"python -m data_prep.synth --out {args.train_data} --size default")
    return None


def run_parts(args, checkpoint: Path, workdir: Path, results: dict[str, Any], log: Callable[[str], None]) -> None:
    """Run the chosen parts in order, each adding its entry to ``results``; a failed app or launch is recorded."""
    # A random stand-in model is not handed on: the training part then creates its own --arch model.
    given = args.checkpoint or checkpoint == REPO_ROOT / "demo_model"
    if "search" in args.parts:
        results["search"] = speed_search.bench_search(args, checkpoint, workdir, log)
    if "indexing" in args.parts:
        results["indexing"] = speed_indexing.bench_indexing(args, checkpoint, workdir, log)
    if "training" in args.parts:
        args.loop_kwargs = {"image_cache": str(workdir / "image-cache") if args.train_image_cache == "auto"
                            else (None if args.train_image_cache == "none" else args.train_image_cache)}
        results["training"] = speed_training.bench_training(args, checkpoint if given else None,
                                                            Path(args.train_data), workdir, log)
    if "app" in args.parts:
        index = Path(args.app_index) if args.app_index else (
            Path(results["indexing"]["index"]) if results.get("indexing", {}).get("index") else None)
        try:
            results["app"] = speed_app.bench_app(args, checkpoint, index, workdir, log)
        except RuntimeError as e:  # the app did not start: say why, keep what was measured before
            log(f"error: app part failed: {e}")
            results["app_error"] = str(e)
    if "backends" in args.parts:
        results["backends"] = speed_backends.bench_backends(args, checkpoint, workdir, log)
    if "launch" in args.parts:
        try:
            results["launch"] = speed_app.bench_launch(args, workdir, log)
        except RuntimeError as e:
            log(f"error: launch part failed: {e}")
            results["launch_error"] = str(e)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts, write the JSON, print the tables. Returns the exit status."""
    args = build_parser().parse_args(argv)
    args.app_extra = [json.loads(v) for v in args.app_extra]
    problem = check_args(args)
    if problem:
        return error(problem)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench_speed_") as tmp:
        workdir = Path(args.workdir) if args.workdir else Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        checkpoint = resolve_checkpoint(args.checkpoint, workdir, log)
        from cti_ir.model.checkpoint import read_checkpoint_config

        results: dict[str, Any] = {"machine": machine_info(), "checkpoint": str(checkpoint),
                                   "checkpoint_kind": "given" if args.checkpoint else (
                                       "demo_model" if checkpoint == REPO_ROOT / "demo_model" else
                                       "random cti-small"),
                                   "embed_dim": read_checkpoint_config(checkpoint)["embed_dim"],
                                   "argv": list(argv if argv is not None else sys.argv[1:]),
                                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        t0 = time.perf_counter()
        run_parts(args, checkpoint, workdir, results, log)
        results["total_s"] = time.perf_counter() - t0
        results["load_average_end"] = list(os.getloadavg())  # other processes on the machine skew latencies
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown_report(results))
    log(f"results written to {out} ({results['total_s']:.0f} s)")
    return 1 if "app_error" in results or "launch_error" in results else 0


if __name__ == "__main__":
    sys.exit(main())
