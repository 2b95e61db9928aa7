"""How much each inference backend changes retrieval, against PyTorch fp32; recorded for ``--backend auto``.

    python -m cti_ir.evaluate.backend_check --checkpoint demo_model --onnx-dir runs/onnx/demo \
        --layout fashioniq runs/bench/data/fashioniq --layout shoes runs/bench/data/shoes

For each layout (a Fashion-IQ or Shoes folder, its standard validation protocol) and each backend of the export
(``onnx``, ``onnx-int8``), measured against ``torch`` on the same queries:

- **R@10**: the layout's Recall@10 (Fashion-IQ: the mean over its categories), with the gallery and the queries
  both encoded by the backend (an index built with ``--backend B`` and served with it), and with the gallery of
  PyTorch and the queries of the backend (an index built before the backend was switched);
- **result lists**: recall@10 of each query's top 10 against PyTorch's top 10 (the share of PyTorch's results
  the backend returns), in both settings.

A backend *meets the bar* when, on every layout and in both settings, it loses at most ``MAX_R10_DROP`` points
of R@10 and keeps at least ``MIN_LIST_RECALL`` of the result lists. The verdicts are written to the export
folder's ``accuracy.json`` (with the SHA-256 of the files measured, so a new export is measured again), where
``--backend auto`` reads them: int8 is chosen only where it meets the bar.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from cti_ir.evaluate.evaluator import rank_split
from cti_ir.evaluate.ranks import recall_at_k, target_ranks
from cti_ir.files import write_json_atomic
from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, check_numeric_flags, command_line_message
from cti_ir.index.tuning import neighbour_recall
from cti_ir.model.checkpoint import CheckpointError, load_checkpoint, read_checkpoint_config
from cti_ir.model.inference import MAX_R10_DROP, MIN_LIST_RECALL, with_backend
from cti_ir.model.onnx_backend import (
    ACCURACY_FILE,
    ACCURACY_FORMAT,
    PRECISIONS,
    OnnxError,
    default_onnx_dir,
    read_onnx_config,
)

BACKEND_CHECK_BOUNDS = {"batch_size": AT_LEAST_ONE, "workers": NON_NEGATIVE}
TOP = 10


def _top(outcome, model, gallery: torch.Tensor) -> torch.Tensor:
    """Each query's top-10 gallery rows (composed by the PyTorch composer, as every backend composes)."""
    queries = _queries(outcome, model)
    return (queries @ gallery.T).topk(min(TOP, gallery.shape[0]), dim=1).indices


@torch.no_grad()
def _queries(outcome, model) -> torch.Tensor:
    rows = [model.compose(outcome.reference_features[s:s + 1024], outcome.text_features[s:s + 1024]).query.float()
            for s in range(0, outcome.reference_features.shape[0], 1024)]
    return torch.cat(rows) if rows else torch.empty(0, outcome.gallery.shape[1])


def compare_layout(models: dict[str, Any], dataset: str, root: str | Path, batch_size: int = 128,
                   workers: int = 0, progress: bool = False) -> dict[str, dict[str, float]]:
    """Per backend: R@10 and result-list recall@10 on one layout, both settings (see the module docstring)."""
    from cti_ir.data import open_benchmark

    bench = open_benchmark(dataset, root)
    splits = bench.eval_splits(split="val" if dataset == "fashioniq" else "test")
    sums: dict[str, dict[str, float]] = {name: {} for name in models}
    for split in splits:
        outcomes = {name: rank_split(m, split, bench.image_path, batch_size, workers, progress)
                    for name, m in models.items()}
        reference = outcomes["torch"]
        reference_top = _top(reference, models["torch"], reference.gallery).numpy()
        for name, outcome in outcomes.items():
            queries = _queries(outcome, models[name])
            mixed = target_ranks(queries, reference.gallery, reference.target_index)
            row = {"R@10": recall_at_k(outcome.ranks, [TOP])["R@10"],
                   "R@10 torch gallery": recall_at_k(mixed, [TOP])["R@10"],
                   "list recall@10": neighbour_recall(_top(outcome, models[name], outcome.gallery).numpy(),
                                                      reference_top),
                   "list recall@10 torch gallery": neighbour_recall(
                       (queries @ reference.gallery.T).topk(reference_top.shape[1], dim=1).indices.numpy(),
                       reference_top)}
            for key, value in row.items():
                sums[name][key] = sums[name].get(key, 0.0) + value / len(splits)
    return sums


def verdict(per_layout: dict[str, dict[str, dict[str, float]]], backend: str) -> dict[str, Any]:
    """Whether ``backend`` meets the bar on every layout, with its worst R@10 change and result-list recall."""
    drops, lists = [], []
    for rows in per_layout.values():
        for setting in ("", " torch gallery"):
            drops.append(rows["torch"]["R@10"] - rows[backend][f"R@10{setting}"])
            lists.append(rows[backend][f"list recall@10{setting}"])
    worst_drop, worst_list = max(drops), min(lists)
    meets = worst_drop <= MAX_R10_DROP and worst_list >= MIN_LIST_RECALL
    return {"meets_bar": meets, "worst_r10_drop": worst_drop, "worst_list_recall": worst_list,
            "summary": f"R@10 {-worst_drop:+.2f} points at worst, result lists {worst_list:.3f}"}


def check_backends(checkpoint: str | Path, layouts: Sequence[tuple[str, str]], onnx_dir: str | Path | None = None,
                   backends: Sequence[str] = tuple(PRECISIONS), batch_size: int = 128, workers: int = 0,
                   write: bool = True, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Measure ``backends`` against PyTorch fp32 on ``layouts`` ((dataset, root) pairs); returns the record and,
    with ``write``, writes it to the export folder's ``accuracy.json``."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    folder = Path(onnx_dir) if onnx_dir is not None else default_onnx_dir(checkpoint)
    fingerprint = read_checkpoint_config(checkpoint)["fingerprint"]
    config = read_onnx_config(folder, fingerprint, checkpoint)
    model = load_checkpoint(checkpoint)
    models = {"torch": with_backend(model, "torch", checkpoint, text_cache_size=0)}
    for backend in backends:
        models[backend] = with_backend(model, backend, checkpoint, folder, text_cache_size=0, notify=log)
        if models[backend].backend != backend:  # no ONNX Runtime: the notice said so, nothing to compare
            raise OnnxError(f"--backend {backend} is not available here, so it cannot be measured")
    per_layout = {}
    for dataset, root in layouts:
        log(f"measuring {', '.join(models)} on {dataset} ({root}) ...")
        per_layout[f"{dataset}:{root}"] = compare_layout(models, dataset, root, batch_size, workers)
    record = {"format": ACCURACY_FORMAT, "format_version": 1, "checkpoint_fingerprint": fingerprint,
              "onnx_files": config["files"], "bar": {"max_r10_drop": MAX_R10_DROP, "min_list_recall": MIN_LIST_RECALL},
              "layouts": per_layout, "backends": {b: verdict(per_layout, b) for b in backends}}
    if write:
        write_json_atomic(folder / ACCURACY_FILE, record)
    return record


def format_record(record: dict[str, Any]) -> str:
    """The record as a Markdown table and one verdict line per backend."""
    lines = ["| layout | backend | R@10 | R@10, PyTorch gallery | result lists recall@10 | with PyTorch gallery |",
             "|---|---|---:|---:|---:|---:|"]
    for layout, rows in record["layouts"].items():
        for backend, r in rows.items():
            lines.append(f"| {layout} | {backend} | {r['R@10']:.2f} | {r['R@10 torch gallery']:.2f} | "
                         f"{r['list recall@10']:.4f} | {r['list recall@10 torch gallery']:.4f} |")
    for backend, v in record["backends"].items():
        lines.append(f"{backend}: {'meets' if v['meets_bar'] else 'does not meet'} the bar (R@10 within "
                     f"{record['bar']['max_r10_drop']} points, result lists >= {record['bar']['min_list_recall']}): "
                     f"{v['summary']}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (also what --help prints)."""
    p = argparse.ArgumentParser(
        prog="python -m cti_ir.evaluate.backend_check",
        description="Measure the ONNX backends of a checkpoint's export against PyTorch fp32 (R@10 and recall@10 "
                    "of the result lists, on each layout given) and record the verdicts in the export folder, "
                    "where --backend auto reads them.",
        epilog="Exit code: 0 measured; 2 bad arguments, no export or an export of another checkpoint, or no "
               "ONNX Runtime.")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder")
    p.add_argument("--onnx-dir", default=None, help="the export folder (default: CHECKPOINT/onnx)")
    p.add_argument("--layout", nargs=2, action="append", required=True, metavar=("DATASET", "ROOT"),
                   help="a dataset (fashioniq or shoes) and its folder; repeat for several, e.g. --layout fashioniq "
                        "data/fashioniq --layout shoes data/shoes")
    p.add_argument("--backends", nargs="+", choices=list(PRECISIONS), default=list(PRECISIONS),
                   help="the backends to measure (default: onnx onnx-int8)")
    p.add_argument("--batch-size", type=int, default=128, help="images per encoder batch")
    p.add_argument("--workers", type=int, default=0, help="image decoding processes")
    p.add_argument("--no-write", action="store_true", help="print the verdicts without writing accuracy.json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        check_numeric_flags(args, BACKEND_CHECK_BOUNDS)
        for dataset, root in args.layout:
            if dataset not in ("fashioniq", "shoes"):
                raise ValueError(f"--layout {dataset}: the dataset must be fashioniq or shoes")
            if not Path(root).is_dir():
                raise ValueError(f"--layout {dataset} {root}: no such folder")
        record = check_backends(args.checkpoint, [tuple(x) for x in args.layout], args.onnx_dir, args.backends,
                                args.batch_size, args.workers, write=not args.no_write)
    except (OnnxError, CheckpointError, ValueError, OSError) as e:
        print(f"error: {command_line_message(e)}", file=sys.stderr)
        return 2
    print(format_record(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
