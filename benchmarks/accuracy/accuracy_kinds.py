"""Per-caption-kind tables of the accuracy benchmark (``benchmarks/accuracy/bench_accuracy.py``).

Input: for each variant, one ``{"fashioniq": result, "shoes": result}`` per stage-3 seed, each result from
``cti_ir.evaluate.evaluator.evaluate(..., by_kind=True, weight_sweep=21)``. A kind's score on one layout is the mean of that
layout's Recall@K over the kind's queries (pooled over the Fashion-IQ categories); its ``overall`` is the mean of
the two layouts, as the main table's ``overall`` is.
"""

from __future__ import annotations

from statistics import mean, stdev

LAYOUTS = ("fashioniq", "shoes")
KIND_ORDER = ("relative", "partial", "absolute", "vague", "mistake")
# The full model is compared seed by seed with these (the bar it must clear: ahead on every paired seed).
RIVALS = ("combiner", "no-ss-weighting", "sum")


def _both(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def _kind_scores(seed_result: dict, pick) -> dict[str, float]:
    """{kind: mean over the two layouts of pick(layout result, kind)} for the kinds present."""
    out = {}
    for kind in KIND_ORDER:
        values = [pick(seed_result[layout], kind) for layout in LAYOUTS if kind in seed_result[layout].get("by_kind", {})]
        if values:
            out[kind] = _both(values)
    return out


def _stats(values: list[float]) -> dict:
    return {"mean": mean(values), "std": stdev(values) if len(values) > 1 else 0.0, "seeds": values}


def summarize_kinds(kinds: dict[str, list[dict]], reference: str = "full",
                    seeds: dict[str, list[int]] | None = None) -> dict:
    """Per variant: overall and per-kind scores over seeds, the weights per kind, the oracle row, paired seeds.

    ``reference`` is the variant compared seed by seed with ``RIVALS`` (and whose features give the oracle row);
    ``seeds`` names the stage-3 seed of each entry of ``kinds[variant]`` (default 0, 1, ...), so that variants with
    different finished seeds are paired on the seeds both have.
    """
    seeds = {v: list((seeds or {}).get(v, range(len(per_seed)))) for v, per_seed in kinds.items()}
    variants = {}
    for variant, per_seed in kinds.items():
        overall = [_both([r[layout]["score"] for layout in LAYOUTS]) for r in per_seed]
        per_kind = [_kind_scores(r, lambda res, k: res["by_kind"][k]["score"]) for r in per_seed]
        weights = [_kind_scores(r, lambda res, k: res["by_kind"][k].get("image_weight")) for r in per_seed]
        oracle_w = [_kind_scores(r, lambda res, k: res["weight_sweep"]["by_kind"][k]["oracle_image_weight"])
                    for r in per_seed]
        present = [k for k in KIND_ORDER if all(k in pk for pk in per_kind)]
        sweep_all = [[r[layout]["weight_sweep"]["all"] for layout in LAYOUTS] for r in per_seed]
        variants[variant] = {
            "overall": _stats(overall),
            "layouts": {layout: _stats([r[layout]["score"] for r in per_seed]) for layout in LAYOUTS},
            "kinds": {k: _stats([pk[k] for pk in per_kind]) for k in present},
            "image_weight": {k: mean(w[k] for w in weights) for k in present if all(w.get(k) is not None for w in weights)},
            "oracle_image_weight": {k: mean(w[k] for w in oracle_w) for k in present},
            "hit_rate": mean(_both([s["agreement"]["hit_rate"] for s in both]) for both in sweep_all),
            "pearson": _both([_both([s["agreement"]["pearson"] for s in both]) for both in sweep_all]),
            "oracle": {
                "overall": _stats([_both([s["oracle"]["score"] for s in both]) for both in sweep_all]),
                "kinds": {k: _stats([_kind_scores(r, lambda res, kk: res["weight_sweep"]["by_kind"][kk]["oracle"]["score"])[k]
                                     for r in per_seed]) for k in present},
                "best_fixed": _stats([_both([s["best_fixed"]["score"] for s in both]) for both in sweep_all]),
            },
        }
    paired = {}
    if reference in variants:
        ref = variants[reference]
        for rival in RIVALS:
            if rival == reference or rival not in variants:
                continue
            common = [s for s in seeds[reference] if s in seeds[rival]]
            if not common:
                continue

            def diffs(ref_values, rival_values):
                a = dict(zip(seeds[reference], ref_values))
                b = dict(zip(seeds[rival], rival_values))
                return [a[s] - b[s] for s in common]

            deltas = diffs(ref["overall"]["seeds"], variants[rival]["overall"]["seeds"])
            kind_deltas = {k: diffs(ref["kinds"][k]["seeds"], variants[rival]["kinds"][k]["seeds"])
                           for k in ref["kinds"] if k in variants[rival]["kinds"]}
            paired[rival] = {"overall": deltas, "seeds": common, "ahead": sum(d > 0 for d in deltas), "of": len(deltas),
                             "kinds": {k: {"mean": mean(d), "ahead": sum(x > 0 for x in d)} for k, d in kind_deltas.items()}}
    return {"variants": variants, "paired": paired, "reference": reference, "seed_ids": seeds}


def format_kind_tables(summary: dict) -> str:
    """Markdown: scores per kind (with the oracle row), the weights per kind, and the paired-seed differences."""
    variants = summary["variants"]
    kinds = [k for k in KIND_ORDER if any(k in v["kinds"] for v in variants.values())]
    head = "| variant | FIQ | Shoes | overall | " + " | ".join(kinds) + " |"
    lines = ["Per caption kind (score = mean of the layout's Recall@K over the kind's queries; mean of the two "
             "layouts; mean ± std over seeds):", "", head, "|---" * (len(kinds) + 4) + "|"]

    def cell(stats: dict | None, std: bool = False) -> str:
        if stats is None:
            return "n/a"
        return f"{stats['mean']:.2f} ± {stats['std']:.2f}" if std else f"{stats['mean']:.2f}"

    uneven = len({len(v["overall"]["seeds"]) for v in variants.values()}) > 1

    def label(name: str) -> str:
        n = len(variants[name]["overall"]["seeds"])
        return f"{name} ({n} seed{'s' if n > 1 else ''})" if uneven else name

    for name, v in variants.items():
        lines.append(f"| {label(name)} | {cell(v['layouts']['fashioniq'])} | {cell(v['layouts']['shoes'])} | "
                     f"{cell(v['overall'], True)} | " + " | ".join(cell(v['kinds'].get(k)) for k in kinds) + " |")
    ref = summary.get("reference", "full")
    ref = ref if ref in variants else next(iter(variants))
    oracle = variants[ref]["oracle"]
    lines.append(f"| oracle balance ({ref}'s features) | | | {cell(oracle['overall'], True)} | "
                 + " | ".join(cell(oracle["kinds"].get(k)) for k in kinds) + " |")
    lines += ["", f"Best single image weight for all queries, with hindsight ({ref}'s features, plain weighted sum): "
                  f"{cell(oracle['best_fixed'], True)}.", "",
              "Image weight per kind (the composer's mean prediction; in brackets the mean oracle balance on the "
              "variant's own features), and how the prediction follows the oracle over all queries:", "",
              "| variant | " + " | ".join(kinds) + " | hit rate | Pearson r |", "|---" * (len(kinds) + 3) + "|"]
    for name, v in variants.items():
        if not v["image_weight"]:
            continue
        cells = [f"{v['image_weight'][k]:.2f} ({v['oracle_image_weight'][k]:.2f})" if k in v["image_weight"] else "n/a"
                 for k in kinds]
        pearson = "n/a" if v["pearson"] is None else f"{v['pearson']:.2f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {v['hit_rate']:.2f} | {pearson} |")
    if summary["paired"]:
        lines += ["", f"{ref} against its rivals, seed by seed (overall score difference per stage-3 seed; "
                      "per kind: mean difference, seeds ahead):", ""]
        for rival, p in summary["paired"].items():
            per_kind = "; ".join(f"{k} {d['mean']:+.2f} ({d['ahead']}/{p['of']})" for k, d in p["kinds"].items())
            seed_names = p.get("seeds", range(p["of"]))
            lines.append(f"- {ref} − {rival}: " + ", ".join(f"{d:+.2f} (seed {s})" for d, s in zip(p["overall"], seed_names))
                         + f" (ahead on {p['ahead']} of {p['of']}); {per_kind}")
    return "\n".join(lines)
