"""What every benchmark group shares: running a CLI in-process, resumable JSON results, the written report.

The benchmarks drive the project's own command-line entry points (``training.stage3``, ``training.adapt``, ...) in
this process, so a run measures exactly what a user's command does, and they are resumable: a finished step leaves a
file behind and is skipped when the benchmark runs again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from cti_ir.files import write_json_atomic, write_text_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent


def run_cli(module, argv: Sequence[str], done: Path | None = None) -> None:
    """Run ``module.main(argv)`` in-process unless ``done`` exists (a finished run); a failure stops the benchmark."""
    if done is not None and done.is_file():
        return
    code = module.main(without_fresh_resume(module, argv))
    if code != 0:
        raise SystemExit(f"{module.__name__} failed with exit code {code}: {' '.join(argv)}")


def without_fresh_resume(module, argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--resume`` when ``module`` (a trainer) has no run to continue yet: the benchmarks pass
    --resume so that running one again continues an interrupted run, and the trainers refuse it on a fresh folder."""
    argv = list(argv)
    if "--resume" not in argv:
        return argv

    def value(flag: str) -> str | None:
        return argv[argv.index(flag) + 1] if flag in argv[:-1] else None

    out = value("--out")
    if module.__name__ == "training.adapt.trainer":  # its run lives in the work folder
        from training.adapt.trainer import MANIFEST

        started = (Path(value("--work") or f"{out}.work") / MANIFEST).is_file()
    else:
        from training.loop import STATE_FILE

        started = out is not None and (Path(out) / STATE_FILE).is_file()
    return argv if started else [a for a in argv if a != "--resume"]


def cached_json(path: Path, compute: Callable[[], Any]) -> Any:
    """The JSON at ``path``, computing and writing it first if it is not there (what makes a benchmark resumable)."""
    if path.is_file():
        return json.loads(path.read_text(encoding="utf-8"))
    result = compute()
    write_json_atomic(path, result)
    return result


def write_report(base: Path, result: Any, tables: str | Callable[[Any], str]) -> None:
    """``BASE.json`` (every number) and ``BASE.md`` (the tables), then the tables on stdout.

    ``tables`` is the Markdown, or a function that makes it from ``result``: then it runs after the JSON is written,
    so a table that fails to format loses no measurement.
    """
    # Not Path.with_suffix: a recipe or results name may itself hold a dot ("lr0.1").
    write_json_atomic(Path(f"{base}.json"), result)
    text = tables if isinstance(tables, str) else tables(result)
    write_text_atomic(Path(f"{base}.md"), text + "\n")
    print(text)


def set_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads in torch and FAISS (None or 0: leave their defaults, all cores)."""
    if not threads:
        return
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)


def export_demo(best: Path, dest: Path) -> None:
    """Save the checkpoint ``best`` at ``dest`` in fp16 (half the size on disk; loads back as fp32): the demo model."""
    import torch

    import cti_ir
    from cti_ir.model.checkpoint import save_checkpoint

    model = cti_ir.load(best)
    args = json.loads((best / "training_args.json").read_text())
    metrics = json.loads((best / "metrics.json").read_text())
    save_checkpoint(model, dest, training_args=args, metrics=metrics, storage_dtype=torch.float16)
    print(f"demo model written to {dest}", file=sys.stderr)


def error(message: str) -> int:
    """Print ``error: message`` on stderr; returns the exit status of a command-line mistake (2)."""
    print(f"error: {message}", file=sys.stderr)
    return 2
