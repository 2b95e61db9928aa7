"""Why the fusion does or does not work on the multi-domain benchmark: what the starting model's features and the
pseudo-labels know of the domains and of their tasks.

Grappa's neighbour propagation assumes that an image's nearest neighbours come from its own domain (so a domain can
lean to one granularity), and its adapter sets can only teach what their pseudo-labels hold. Both are measured here
on the pooled adaptation images of one run (its ``training.adapt`` work folder: the frozen features and the k-means
labels), with the labels the generator wrote for those images (never used in training):

- ``knn_same_domain``: per domain, the share of an image's 10 nearest neighbours (frozen features, cosine) that
  come from its own domain (1.0: the domains are apart; about 0.25 with four equal domains mixed);
- per clustering ``k``: ``domain_purity``, the share of images whose cluster's commonest domain is their own; and
  per domain ``agreement`` (the share of an image's cluster-mates of its domain that share its task label) beside
  ``chance`` (the same share for random pairs of that domain): clusters that carry a domain's task are far above
  chance.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np


def _labels_of(work: Path, data_dir: Path) -> tuple[np.ndarray, np.ndarray, list[Path]]:
    """Domain and task label of every prepared image, in the work folder's order."""
    paths = json.loads((work / "prepared" / "images.json").read_text(encoding="utf-8"))["paths"]
    items = [json.loads(line) for line in (data_dir / "items.jsonl").read_text(encoding="utf-8").splitlines() if line]
    label = {f: (i["domain"], i["label"]) for i in items if i["split"] == "adapt" for f in i["files"]}
    pairs = [label[f"adapt/{p}"] for p in paths]
    return np.array([d for d, _ in pairs]), np.array([f"{d}:{lab}" for d, lab in pairs]), paths


def knn_same_domain(features: np.ndarray, domains: np.ndarray, k: int = 10) -> dict[str, float]:
    """Per domain, the mean share of each image's ``k`` nearest neighbours (cosine) from the same domain."""
    x = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    neighbours = np.argpartition(-sim, k, axis=1)[:, :k]
    same = (domains[neighbours] == domains[:, None]).mean(axis=1)
    return {d: round(float(same[domains == d].mean()), 4) for d in dict.fromkeys(domains)}


def cluster_agreement(clusters: np.ndarray, domains: np.ndarray, labels: np.ndarray) -> dict:
    """Domain purity of a clustering and, per domain, task-label agreement of cluster-mates against chance."""
    majority = {c: Counter(domains[clusters == c]).most_common(1)[0][0] for c in np.unique(clusters)}
    out = {"domain_purity": round(float(np.mean([majority[c] == d for c, d in zip(clusters, domains)])), 4),
           "domains": {}}
    for d in dict.fromkeys(domains):
        mine = domains == d
        shares = []
        for c in np.unique(clusters[mine]):
            counts = Counter(labels[mine & (clusters == c)])
            n = sum(counts.values())
            if n > 1:
                shares += [(counts[lab] - 1) / (n - 1) for lab in counts.elements()]
        total = int(mine.sum())
        chance = sum(v * (v - 1) for v in Counter(labels[mine]).values()) / max(total * (total - 1), 1)
        out["domains"][d] = {"agreement": round(float(np.mean(shares)) if shares else 0.0, 4),
                             "chance": round(float(chance), 4)}
    return out


def diagnose(work: Path, data_dir: Path) -> dict:
    """Neighbour and cluster statistics of one adaptation run's work folder (see the module docstring)."""
    domains, labels, _ = _labels_of(work, data_dir)
    features = np.load(work / "prepared" / "features.npy").astype(np.float32)
    out = {"knn_same_domain": knn_same_domain(features, domains), "clusters": {}}
    files = sorted((work / "pseudo_labels").glob("k*-seed*.npz"), key=lambda f: int(f.name.split("-")[0][1:]))
    for file in files:
        out["clusters"][file.name.split("-")[0]] = cluster_agreement(np.load(file)["labels"], domains, labels)
    return out


def diagnostics_table(diagnostics: list[dict], domains: list[str]) -> list[str]:
    """Markdown: the neighbours' domain share and each clustering's agreement with the tasks, averaged over runs,
    with the domains in the order of ``domains``."""
    if not diagnostics:
        return []
    lines = ["", "| adaptation pool (frozen features) | " + " | ".join(domains) + " | domain purity |",
             "|" + "---|" * (len(domains) + 2)]
    knn = [np.mean([x["knn_same_domain"][d] for x in diagnostics]) for d in domains]
    lines.append("| 10 nearest neighbours from the same domain | " + " | ".join(f"{v:.2f}" for v in knn) + " | |")
    for k in diagnostics[0]["clusters"]:
        cells = []
        for d in domains:
            agree = np.mean([x["clusters"][k]["domains"][d]["agreement"] for x in diagnostics])
            chance = np.mean([x["clusters"][k]["domains"][d]["chance"] for x in diagnostics])
            cells.append(f"{agree:.3f} (chance {chance:.3f})")
        purity = np.mean([x["clusters"][k]["domain_purity"] for x in diagnostics])
        lines.append(f"| {k}: cluster-mates with the same task label | " + " | ".join(cells) + f" | {purity:.2f} |")
    return lines
