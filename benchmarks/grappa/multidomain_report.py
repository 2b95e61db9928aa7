"""Summaries, acceptance figures and Markdown tables of the multi-domain Grappa benchmark (``bench_multidomain.py``).

A *run* is one (generator seed, training seed) pair with every row's result; zero-shot and the centrings depend
only on the generator seed and are repeated in each of its runs, so every comparison with zero-shot is paired
(same data). Statistics are over runs: mean, standard deviation and count.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from benchmarks.grappa.multidomain_diagnose import diagnostics_table

#: How a row is written in the tables (others as they are).
LABELS = {"zero-shot": "zero-shot", "centred-pool": "centred on the pool's mean",
          "centred-domain": "centred on each domain's mean", "fusion": "**fusion (Grappa, ours)**",
          "fusion-noprop": "fusion, no propagation", "oracle": "oracle (best set per domain)"}


def _stat(values) -> dict:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "n": len(values)}


def summarise(runs: list[dict]) -> dict[str, dict]:
    """Per row: per-domain mAP@R and R@1, the means, the paired change against zero-shot, time and parameters."""
    names = list(dict.fromkeys(name for r in runs for name in r["rows"]))
    domains = list(runs[0]["rows"]["zero-shot"]["eval"]["domains"])
    out = {}
    for name in names:
        mine = [r for r in runs if name in r["rows"]]
        results = [r["rows"][name] for r in mine]
        zero = [r["rows"]["zero-shot"]["eval"] for r in mine]
        row = {
            "domains": {d: {m: _stat([x["eval"]["domains"][d][m] for x in results]) for m in ("map_at_r", "r_at_1")}
                        for d in domains},
            "mean_map_at_r": _stat([x["eval"]["mean_map_at_r"] for x in results]),
            "mean_r_at_1": _stat([x["eval"]["mean_r_at_1"] for x in results]),
            "change": {d: _stat([x["eval"]["domains"][d]["map_at_r"] - z["domains"][d]["map_at_r"]
                                 for x, z in zip(results, zero)]) for d in domains},
            "seconds": _stat([x["seconds"] for x in results]),
            "added_parameters": int(results[0]["added_parameters"]),
        }
        row["change"]["mean"] = _stat([x["eval"]["mean_map_at_r"] - z["mean_map_at_r"] for x, z in zip(results, zero)])
        row["wins"] = {d: int(sum(x["eval"]["domains"][d]["map_at_r"] > z["domains"][d]["map_at_r"]
                                  for x, z in zip(results, zero))) for d in domains}
        if name == "oracle":
            row["chosen"] = {d: dict(Counter(x["chosen"][d] for x in results)) for d in domains}
        if name == "full-finetune":
            row["k"] = sorted({x["k"] for x in results})
        if all("attention" in x for x in results):
            row["attention"] = {d: {key: np.mean([x["attention"][d][key] for x in results], axis=0).round(4).tolist()
                                    for key in ("mean", "std", "top_share")} | {"sets": results[0]["attention"][d]["sets"]}
                                for d in domains}
        out[name] = row
    return out


def acceptance(summary: dict[str, dict], row: str) -> dict:
    """The issue's test for ``row``: above zero-shot on every domain, and half the zero-shot-to-oracle gap closed.

    Computed on the means over runs (paired with the zero-shot of the same data); ``share_per_run`` gives the
    share of the gap closed within each run's mean, to show its spread.
    """
    s, z, o = summary[row], summary["zero-shot"], summary["oracle"]
    gap = o["mean_map_at_r"]["mean"] - z["mean_map_at_r"]["mean"]
    gain = s["mean_map_at_r"]["mean"] - z["mean_map_at_r"]["mean"]
    changes = {d: c["mean"] for d, c in s["change"].items() if d != "mean"}
    return {"change_per_domain": changes, "worst_domain_change": min(changes.values()),
            "beats_zero_shot_on_every_domain": all(v > 0 for v in changes.values()),
            "gain_on_mean": gain, "oracle_gain_on_mean": gap,
            "share_of_gap_closed": gain / gap if gap > 0 else float("nan"),
            "closes_half_the_gap": bool(gap > 0 and gain >= gap / 2),
            "done": bool(gap > 0 and gain >= gap / 2 and all(v > 0 for v in changes.values()))}


def _rows_table(summary: dict[str, dict], domains: list[str]) -> list[str]:
    runs = max(s["mean_map_at_r"]["n"] for s in summary.values())
    lines = ["| mAP@R (mean of " + str(runs) + " runs) | " + " | ".join(domains)
             + " | mean mAP@R | mean R@1 | training s | added params |", "|" + "---|" * (len(domains) + 5)]
    for name, s in summary.items():
        cells = [f"{s['domains'][d]['map_at_r']['mean']:.2f}" for d in domains]
        mean = f"{s['mean_map_at_r']['mean']:.2f}" + (f" ± {s['mean_map_at_r']['std']:.2f}"
                                                       if s["mean_map_at_r"]["n"] > 1 else "")
        label = LABELS.get(name, name)
        if name == "full-finetune":
            label = f"full fine-tuning (k={'/'.join(map(str, s['k']))})"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {mean} | {s['mean_r_at_1']['mean']:.2f} | "
                     f"{s['seconds']['mean']:.0f} | {s['added_parameters']:,} |")
    return lines


def _change_table(summary: dict[str, dict], domains: list[str]) -> list[str]:
    lines = ["| change vs zero-shot, ± sd over runs (runs above it) | " + " | ".join(domains)
             + " | mean | share of oracle gap |", "|" + "---|" * (len(domains) + 3)]

    def cell(change: dict) -> str:
        return f"{change['mean']:+.2f}" + (f" ± {change['std']:.2f}" if change["n"] > 1 else "")
    for name, s in summary.items():
        if name == "zero-shot":
            continue
        n = s["mean_map_at_r"]["n"]
        cells = [f"{cell(s['change'][d])} ({s['wins'][d]}/{n})" for d in domains]
        share = acceptance(summary, name)["share_of_gap_closed"] if name != "oracle" else 1.0
        lines.append(f"| {LABELS.get(name, name)} | " + " | ".join(cells)
                     + f" | {cell(s['change']['mean'])} | {share:.2f} |")
    return lines


def _attention_table(summary: dict[str, dict], domains: list[str]) -> list[str]:
    lines = []
    for name in ("fusion", "fusion-noprop"):
        att = summary.get(name, {}).get("attention")
        if not att:
            continue
        sets = att[domains[0]]["sets"]
        lines += ["", f"| {LABELS.get(name, name)}: attention per set (std over images; share of images leaning most "
                      f"to it) | " + " | ".join(sets) + " |", "|" + "---|" * (len(sets) + 1)]
        for d in domains:
            cells = [f"{m:.3f} ({sd:.3f}; {t:.2f})" for m, sd, t in
                     zip(att[d]["mean"], att[d]["std"], att[d]["top_share"])]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return lines


def markdown(report: dict) -> str:
    """The rows, the paired changes against zero-shot, the oracle's choices and the attentions, as Markdown."""
    summary = report["summary"]
    domains = list(summary["zero-shot"]["domains"])
    lines = _rows_table(summary, domains) + [""] + _change_table(summary, domains)
    chosen = summary.get("oracle", {}).get("chosen", {})
    if chosen:
        lines += ["", "Oracle's set per domain (runs): " + "; ".join(
            f"{d}: " + ", ".join(f"{k} x{v}" for k, v in sorted(c.items())) for d, c in chosen.items())]
    acc = report["acceptance"].get("fusion")
    if acc:
        lines += ["", (f"Fusion: {acc['gain_on_mean']:+.2f} mAP@R on the mean (oracle "
                       f"{acc['oracle_gain_on_mean']:+.2f}, share of the gap closed {acc['share_of_gap_closed']:.2f}); "
                       f"worst domain {acc['worst_domain_change']:+.2f}; done-when met: {acc['done']}.")]
    diagnostics = [r["diagnostics"] for r in report.get("runs", []) if "diagnostics" in r]
    return "\n".join(lines + _attention_table(summary, domains) + diagnostics_table(diagnostics, domains))
