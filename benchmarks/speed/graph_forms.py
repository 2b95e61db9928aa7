"""The lean and the plain ONNX graph of a checkpoint's towers, side by side: graph nodes, CPU a call, same outputs.

Each checkpoint is exported twice into ``--workdir`` (``python -m cti_ir.model.onnx_export --graph lean`` and
``--graph plain``, fp32; reused when already there), then each tower's two ONNX Runtime sessions (one thread, all
graph optimisations, as the backends run them) are timed in turns: ``--rounds`` rounds, each timing ``--calls``
calls of one session then of the other, one input at batch 1 (a random photo; a modification text of typical
length, cut after its end of text as the backend cuts it). A round's figure is the median thread-CPU milliseconds
of its calls; the report gives each round's figure, their median and the median of the per-round ratios lean /
plain, and the largest difference between the two forms' outputs::

    python -m benchmarks.speed.graph_forms --out runs/bench/graph_forms.json                      # the demo model
    python -m benchmarks.speed.graph_forms --models demo vitb32 --out runs/bench/graph_forms.json  # and a ViT-B-32

``vitb32`` is open_clip's ViT-B-32 with random weights (they cost what real ones do), saved once in ``--workdir``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

#: A modification text of the length shoppers write (about a dozen tokens).
TEXT = "is shorter and dark blue with long sleeves"
FORMS = ("lean", "plain")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed.graph_forms", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", default="demo_model", help="the checkpoint measured as 'demo'")
    p.add_argument("--models", nargs="+", choices=["demo", "vitb32"], default=["demo"],
                   help="what is measured: the checkpoint, and a random open_clip ViT-B-32")
    p.add_argument("--workdir", default="runs/bench/graph_forms", help="where the exports (and the ViT-B-32) are kept")
    p.add_argument("--rounds", type=int, default=7, help="rounds, each timing both forms in turn")
    p.add_argument("--calls", type=int, nargs=2, default=[300, 10], metavar=("DEMO", "VITB32"),
                   help="calls of one session a round, for demo and for vitb32")
    p.add_argument("--out", default=None, help="also write the report here as JSON")
    return p


def exported(checkpoint: Path, folder: Path, form: str) -> dict[str, Any]:
    """``checkpoint``'s fp32 export in ``form`` (written unless ``folder`` holds it), ready for ``load_towers``."""
    from cti_ir.model.checkpoint import read_checkpoint_config
    from cti_ir.model.onnx_backend import OnnxError, read_onnx_config
    from cti_ir.model.onnx_export import export_onnx

    fingerprint = read_checkpoint_config(checkpoint)["fingerprint"]
    try:
        config = read_onnx_config(folder, fingerprint, checkpoint)
    except OnnxError:
        config = None
    if config is None or config.get("graph", "plain") != form:
        export_onnx(checkpoint, folder, precisions=["fp32"], graph=form,
                    log=lambda m: print(f"[{form}] {m}", file=sys.stderr, flush=True))
        config = read_onnx_config(folder, fingerprint, checkpoint)
    return {**config, "_folder": str(folder)}


def tower_inputs(checkpoint: Path) -> dict[str, np.ndarray]:
    """One photo's pixels and one text's tokens, cut after the end of text, as the backends feed them."""
    from cti_ir.model.checkpoint import load_checkpoint

    model = load_checkpoint(checkpoint)
    size = tuple(int(s) for s in model.preprocess_cfg.get("size", (224, 224)))
    tokens = model.tokenize([TEXT])
    tokens = tokens[:, :int(tokens.argmax(dim=1).max()) + 1]
    pixels = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float32)
    return {"image": pixels, "text": tokens.numpy().astype(np.int64)}


def time_in_turns(sessions: dict[str, Any], feed: dict[str, np.ndarray], rounds: int, calls: int) -> dict[str, Any]:
    """Each session's median thread-CPU ms a call in each round, the sessions taking turns round by round."""
    for session in sessions.values():
        for _ in range(max(3, calls // 10)):  # warm: first runs allocate
            session.run(None, feed)
    per_round: dict[str, list[float]] = {form: [] for form in sessions}
    for _ in range(rounds):
        for form, session in sessions.items():
            times = []
            for _ in range(calls):
                start = time.thread_time()
                session.run(None, feed)
                times.append(time.thread_time() - start)
            per_round[form].append(round(statistics.median(times) * 1e3, 4))
    ratios = [lean / plain for lean, plain in zip(per_round["lean"], per_round["plain"])]
    return {"cpu_ms_per_round": per_round, "cpu_ms_median": {f: statistics.median(v) for f, v in per_round.items()},
            "ratio_lean_to_plain": round(statistics.median(ratios), 3),
            "lean_faster_in_rounds": sum(r < 1 for r in ratios)}


def measure(checkpoint: Path, workdir: Path, rounds: int, calls: int) -> dict[str, Any]:
    """Both forms of ``checkpoint``'s towers: nodes, CPU a call in turns, largest output difference."""
    import onnx
    import onnxruntime as ort

    from cti_ir.model.onnx_backend import session_options

    configs = {form: exported(checkpoint, workdir / f"onnx-{form}", form) for form in FORMS}
    inputs = tower_inputs(checkpoint)
    report: dict[str, Any] = {}
    for tower in ("image", "text"):
        if any(not config["towers"].get(tower) for config in configs.values()):
            continue
        files = {form: Path(config["_folder"]) / config["towers"][tower]["files"]["fp32"]
                 for form, config in configs.items()}
        sessions = {form: ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])
                    for form, path in files.items()}
        name = sessions["lean"].get_inputs()[0].name
        feed = {name: inputs[tower]}
        outputs = {form: session.run(None, feed)[0] for form, session in sessions.items()}
        report[tower] = {
            "graph": {form: config["towers"][tower].get("graph", "plain") for form, config in configs.items()},
            "nodes": {form: len(onnx.load(str(path)).graph.node) for form, path in files.items()},
            "input_shape": list(inputs[tower].shape),
            "max_abs_diff": float(np.abs(outputs["lean"] - outputs["plain"]).max()),
            **time_in_turns(sessions, feed, rounds, calls)}
        print(f"{checkpoint.name} {tower}: nodes {report[tower]['nodes']}, CPU ms a call (median of {rounds} rounds) "
              f"{report[tower]['cpu_ms_median']}, lean / plain {report[tower]['ratio_lean_to_plain']}, "
              f"max |diff| {report[tower]['max_abs_diff']:.2g}", file=sys.stderr, flush=True)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.rounds < 1 or min(args.calls) < 1:
        print("error: --rounds and --calls must be at least 1", file=sys.stderr)
        return 2
    import torch

    from cti_ir.model.checkpoint import CheckpointError
    from cti_ir.model.onnx_backend import OnnxError

    torch.set_num_threads(1)
    workdir = Path(args.workdir)
    report: dict[str, Any] = {"text": TEXT, "rounds": args.rounds, "threads": 1}
    try:
        for name in args.models:
            if name == "demo":
                checkpoint = Path(args.checkpoint)
            else:
                from benchmarks.speed.speed_backends import vitb32_checkpoint

                checkpoint = vitb32_checkpoint(workdir, lambda m: print(m, file=sys.stderr, flush=True))
            calls = args.calls[0] if name == "demo" else args.calls[1]
            report[name] = measure(checkpoint, workdir / name, args.rounds, calls)
    except (CheckpointError, OnnxError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=1)
    if args.out:
        from cti_ir.files import write_text_atomic

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out, text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
