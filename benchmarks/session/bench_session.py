"""Multi-turn shopping sessions with a simulated shopper: how often a session finds the product, turn by turn.

    python -m benchmarks.session.bench_session --checkpoint demo_model --catalogue-seed 7 \\
        --work runs/session --sessions 300 --seeds 0,1,2

On a generated catalogue (``--catalogue-seed``; made under ``--work`` if absent, and indexed with the
checkpoint), each seed draws ``--sessions`` sessions per category (dress, shirt, toptee, shoes): a random
target and a random other product of its category to start from. Each turn the simulated shopper
(``data_prep.shopper``) names at most two aspects in which the reference differs from the target, in the
held-apart phrasings (``--phrasing``), the method shows its top ``--k``, and the shopper picks the shown product
closest to the target. Reported per layout (Fashion-IQ: the three garment categories; Shoes), as mean and
standard deviation over the seeds: success within 1..N turns for the exact target and for a product with every
attribute of the target, and the attributes still wrong after each turn. Methods (``benchmarks.session.methods``):
``single``, ``sum``, ``joined``, ``session``; options after colons (``session:constraints=0``) give ablations.

Every (method, seed) result is written to ``WORK/results/`` as it finishes and reused by a rerun; the report is
``--out``.json and .md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path

from benchmarks.common import cached_json, error, set_threads, write_report

LAYOUTS = {"Fashion-IQ": ("dress", "shirt", "toptee"), "Shoes": ("shoes",)}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.session.bench_session", description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", default="demo_model", help="the model to search with (default: demo_model)")
    p.add_argument("--catalogue-seed", type=int, default=7,
                   help="seed of the generated catalogue searched (default 7: a seed no run was tuned on)")
    p.add_argument("--size", default="default", choices=("small", "default", "large"),
                   help="size of the generated catalogue (default: default, about 17,900 products)")
    p.add_argument("--work", default="runs/session", help="folder for the catalogue, its index and the results")
    p.add_argument("--methods", default="single,sum,joined,session",
                   help="comma-separated methods, each with optional ':name=value' options")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of the session draws (default 0,1,2)")
    p.add_argument("--sessions", type=int, default=300, help="sessions per category and seed (default 300)")
    p.add_argument("--turns", type=int, default=5, help="turns per session (default 5)")
    p.add_argument("--k", type=int, default=10, help="results shown per turn (default 10)")
    p.add_argument("--phrasing", default="heldout",
                   choices=("heldout", "blind", "stranger", "newcomer", "passerby", "latecomer", "traveller",
                            "caller", "gifter", "returner", "texter", "reviewer", "comparer", "train", "catalogue"),
                   help="the shopper's words: the held-apart phrasings (default), the blind, stranger, newcomer, "
                        "passerby, latecomer, traveller, caller, gifter, returner, texter, reviewer or comparer ones "
                        "(written without seeing the request reader), the training ones, or the generator's own "
                        "relative captions (data_prep.shopper.PHRASINGS)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default 1)")
    p.add_argument("--out", default=None, help="report base path (default: WORK/session_s<catalogue seed>)")
    return p


def parse_method(spec: str) -> tuple[str, dict]:
    """``"session:constraints=0"`` -> ``("session", {"constraints": False})`` (0/1 are booleans)."""
    name, *options = spec.split(":")
    parsed: dict = {}
    for option in options:
        key, _, value = option.partition("=")
        parsed[key] = {"0": False, "1": True}.get(value, value)
    return name, parsed


def run_one(model, gallery, spec: str, seed: int, args) -> dict:
    """Play one method against one seed's sessions; the summary per category and per layout."""
    from benchmarks.session.methods import VectorSearch
    from data_prep.shopper import PHRASINGS, draw_sessions, run_sessions, summarise

    name, options = parse_method(spec)
    method = VectorSearch(model, gallery, name, k=args.k, options=options)
    sessions = draw_sessions(gallery.products, args.sessions, random.Random(seed), candidates=gallery.ids,
                             phrasing=PHRASINGS[args.phrasing])
    started = time.perf_counter()
    run_sessions(sessions, method.search, turns=args.turns)
    out = {"method": spec, "seed": seed, "seconds": round(time.perf_counter() - started, 1), "categories": {},
           "layouts": {}}
    for category in sorted({gallery.products[s.target]["category"] for s in sessions}):
        out["categories"][category] = summarise([s for s in sessions if
                                                 gallery.products[s.target]["category"] == category], args.turns)
    for layout, categories in LAYOUTS.items():
        chosen = [s for s in sessions if gallery.products[s.target]["category"] in categories]
        if chosen:
            out["layouts"][layout] = summarise(chosen, args.turns)
    return out


def aggregate(runs: list[dict]) -> dict:
    """Mean and standard deviation over seeds of every per-turn series, per method and layout."""
    out: dict = {}
    for run in runs:
        for layout, summary in run["layouts"].items():
            slot = out.setdefault(run["method"], {}).setdefault(layout, {"seeds": [], "series": {}})
            slot["seeds"].append(run["seed"])
            for key in ("target_success", "attribute_success", "wrong_attributes"):
                slot["series"].setdefault(key, []).append(summary[key])
    for layouts in out.values():
        for slot in layouts.values():
            slot["mean"] = {k: [statistics.mean(v) for v in zip(*runs_)] for k, runs_ in slot["series"].items()}
            slot["std"] = {k: [statistics.pstdev(v) for v in zip(*runs_)] for k, runs_ in slot["series"].items()}
    return out


def tables(result: dict) -> str:
    """Markdown: per layout, success per turn (attribute match, then the exact target) and attributes wrong."""
    turns = result["settings"]["turns"]
    settings = result["settings"]
    lines = [(f"Catalogue seed {settings['catalogue_seed']}, {settings['sessions']} sessions per category and seed, "
              f"seeds {settings['seeds']}, phrasing {settings['phrasing']}, top {settings['k']}; mean ± std over "
              f"seeds, in %.")]
    for layout in LAYOUTS:
        rows = [(m, a[layout]) for m, a in result["aggregate"].items() if layout in a]
        if not rows:
            continue
        for key, title in (("attribute_success", "a shown product with every attribute of the target"),
                           ("target_success", "the target itself shown")):
            lines += ["", f"**{layout}: {title}, within t turns**", "",
                      "| method | " + " | ".join(f"t={t}" for t in range(1, turns + 1)) + " |",
                      "|---|" + "---|" * turns]
            for method, a in rows:
                cells = [f"{100 * m:.1f} ± {100 * s:.1f}" for m, s in zip(a["mean"][key], a["std"][key])]
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines += ["", f"**{layout}: attributes still wrong after t turns (t=0: the start)**", "",
                  "| method | " + " | ".join(f"t={t}" for t in range(turns + 1)) + " |", "|---|" + "---|" * (turns + 1)]
        for method, a in rows:
            lines.append(f"| {method} | " + " | ".join(f"{m:.2f}" for m in a["mean"]["wrong_attributes"]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        return error(f"--seeds must be comma-separated whole numbers, got {args.seeds!r}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    from benchmarks.session.methods import METHODS

    unknown = [m for m in methods if parse_method(m)[0] not in METHODS]
    if unknown or not methods:
        return error(f"unknown method {unknown[0] if unknown else '(none)'}; choose among {', '.join(METHODS)}")
    if not seeds or min(args.sessions, args.turns, args.k) < 1:
        return error("--seeds, --sessions, --turns and --k must be given and positive")
    set_threads(args.threads)
    from benchmarks.session.gallery import ensure_catalogue, ensure_index, load_gallery
    from cti_ir.model.checkpoint import load_checkpoint

    work = Path(args.work)
    catalogue = ensure_catalogue(work / f"data_s{args.catalogue_seed}", args.catalogue_seed, args.size)
    index = work / f"index_s{args.catalogue_seed}"
    ensure_index(Path(args.checkpoint), catalogue, index)
    gallery = load_gallery(index, catalogue)
    model = load_checkpoint(args.checkpoint)
    model.eval()
    tag = f"s{args.catalogue_seed}-{args.phrasing}-n{args.sessions}-t{args.turns}-k{args.k}-{model.fingerprint}"
    runs = []
    for spec in methods:
        for seed in seeds:
            path = work / "results" / tag / f"{spec.replace(':', '_')}-seed{seed}.json"
            runs.append(cached_json(path, lambda spec=spec, seed=seed: run_one(model, gallery, spec, seed, args)))
            print(f"{spec} seed {seed}: " + ", ".join(
                f"{layout} {100 * s['attribute_success'][-1]:.1f}% attribute, {100 * s['target_success'][-1]:.1f}% "
                f"target" for layout, s in runs[-1]["layouts"].items()), flush=True)
    settings = {"checkpoint": str(args.checkpoint), "fingerprint": model.fingerprint,
                "catalogue_seed": args.catalogue_seed, "size": args.size, "seeds": seeds,
                "sessions": args.sessions, "turns": args.turns, "k": args.k, "phrasing": args.phrasing}
    result = {"settings": settings, "aggregate": aggregate(runs), "runs": runs}
    write_report(Path(args.out or work / f"session_s{args.catalogue_seed}"), result, tables)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
