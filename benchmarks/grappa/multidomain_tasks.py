"""Per-domain evaluation of the multi-domain Grappa benchmark: retrieval within each domain, centring, attentions.

The domains come from ``python -m data_prep.synth_domains`` (its ``items.jsonl``): each has its own query and
gallery images and its own notion of a match (the same shoe, the same colour and pattern of top, the same dress
shape, the same object kind of scene). A model is scored per domain by mAP@R and R@1 (``cti_ir.evaluate.ranks``)
of the domain's queries against the domain's gallery, and by the mean over domains.

Two label-free baselines transform the frozen features instead of adapting the encoder: *mean-centring*
subtracts a mean feature of the unlabeled adaptation images before cosine similarity, either the pool's (one
vector for everything) or each domain's own (which needs to know a photo's domain, as a shop knows which of its
catalogues a photo comes from). :func:`attention_statistics` reads the fusion's per-image attentions over the
adapter sets, per domain: whether the domains lean to different granularities, as Grappa intends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cti_ir.evaluate.ranks import retrieval_scores
from cti_ir.model.images import load_image


@dataclass
class DomainSet:
    """One domain's evaluation images with their labels, and its adaptation images (for centring)."""

    name: str
    query_files: list[str]
    query_labels: list[str]
    gallery_files: list[str]
    gallery_labels: list[str]
    adapt_files: list[str]


@dataclass
class MultiDomainEval:
    """Every domain of a ``data_prep.synth_domains`` folder, in the generator's order (fine to coarse)."""

    root: Path
    domains: list[DomainSet]
    _pixels: dict = field(default_factory=dict)

    @classmethod
    def from_folder(cls, root: str | Path) -> MultiDomainEval:
        root = Path(root)
        items = [json.loads(line) for line in (root / "items.jsonl").read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        order = list(dict.fromkeys(i["domain"] for i in items))
        domains = []
        for name in order:
            mine = [i for i in items if i["domain"] == name]
            ev = [i for i in mine if i["split"] == "eval"]
            domains.append(DomainSet(
                name, [f for i in ev for f in i["query_files"]], [i["label"] for i in ev for _ in i["query_files"]],
                [f for i in ev for f in i["gallery_files"]], [i["label"] for i in ev for _ in i["gallery_files"]],
                [f for i in mine if i["split"] == "adapt" for f in i["files"]]))
        if not domains:
            raise ValueError(f"{root}/items.jsonl holds no domain")
        return cls(root, domains)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.domains]

    def pixels(self, preprocess, part: str) -> dict[str, torch.Tensor]:
        """Preprocessed pixels of one part (``query``, ``gallery`` or ``adapt``) per domain, decoded once."""
        key = (id(preprocess), part)
        if key not in self._pixels:
            self._pixels[key] = {d.name: torch.stack([preprocess(load_image(self.root / f))
                                                      for f in getattr(d, f"{part}_files")]) for d in self.domains}
        return self._pixels[key]


@torch.no_grad()
def encode(model, pixels: torch.Tensor, batch_size: int = 256, attentions: list | None = None) -> np.ndarray:
    """L2-normalised embeddings; with ``attentions`` (a list), the fusion's ``(N, blocks, M)`` attentions too."""
    model.eval()
    out = []
    for i in range(0, len(pixels), batch_size):
        batch = pixels[i:i + batch_size].to(model.device)
        if attentions is None:
            out.append(model.encode_images(batch).float().cpu().numpy())
            continue
        with model.adapters.recording() as recorded:
            out.append(model.encode_images(batch).float().cpu().numpy())
        attentions.append(torch.stack(recorded, dim=1).float().cpu().numpy())
    return np.concatenate(out)


def scores(query: np.ndarray, gallery: np.ndarray, domain: DomainSet) -> dict:
    """mAP@R and R@1 of one domain's queries against its gallery."""
    s = retrieval_scores(query @ gallery.T, domain.query_labels, domain.gallery_labels)
    return {"map_at_r": s["map_at_r"], "r_at_1": s["r_at_1"]}


def centred(features: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """``features`` minus ``mean``, L2-normalised again."""
    x = features - mean[None, :]
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def summary(domains: dict[str, dict]) -> dict:
    """Per-domain results plus their means over domains (the benchmark's headline numbers)."""
    return {"domains": domains,
            "mean_map_at_r": float(np.mean([d["map_at_r"] for d in domains.values()])),
            "mean_r_at_1": float(np.mean([d["r_at_1"] for d in domains.values()]))}


def evaluate_model(model, data: MultiDomainEval, granularity: str | None = None) -> dict:
    """Per-domain mAP@R and R@1 and their means, for ``model`` at ``granularity`` (None: its default)."""
    adapters = getattr(model, "adapters", None)
    queries, gallery = data.pixels(model.preprocess, "query"), data.pixels(model.preprocess, "gallery")
    results = {}
    for d in data.domains:
        if granularity is not None and adapters is not None:
            with adapters.using(granularity):
                q, g = encode(model, queries[d.name]), encode(model, gallery[d.name])
        else:
            q, g = encode(model, queries[d.name]), encode(model, gallery[d.name])
        results[d.name] = scores(q, g, d)
    return summary(results)


def evaluate_centring(model, data: MultiDomainEval) -> dict[str, dict]:
    """Zero-shot features centred on the pool's mean and on each domain's mean (adaptation images, no labels)."""
    parts = {part: {name: encode(model, px) for name, px in data.pixels(model.preprocess, part).items()}
             for part in ("query", "gallery", "adapt")}
    pool_mean = np.concatenate(list(parts["adapt"].values())).mean(axis=0)
    out = {}
    for row, mean_of in (("centred-pool", lambda name: pool_mean),
                         ("centred-domain", lambda name: parts["adapt"][name].mean(axis=0))):
        out[row] = summary({d.name: scores(centred(parts["query"][d.name], mean_of(d.name)),
                                           centred(parts["gallery"][d.name], mean_of(d.name)), d)
                            for d in data.domains})
    return out


def attention_statistics(model, data: MultiDomainEval, sets: list[str]) -> dict[str, dict]:
    """Per domain, the fusion's attention over the adapter sets on its evaluation images.

    ``mean``: the average attention per set (over images and blocks); ``per_block``: the same per block;
    ``std``: the standard deviation over images of the block-averaged attention, per set; ``top_share``: the share
    of images whose largest block-averaged attention goes to each set.
    """
    out = {}
    for d in data.domains:
        attentions: list = []
        with model.adapters.using("fusion"):
            for part in ("query", "gallery"):
                encode(model, data.pixels(model.preprocess, part)[d.name], attentions=attentions)
        a = np.concatenate(attentions)                       # (N, blocks, M)
        per_image = a.mean(axis=1)                           # (N, M)
        top = np.bincount(per_image.argmax(axis=1), minlength=len(sets)) / len(per_image)
        out[d.name] = {"sets": sets, "mean": per_image.mean(axis=0).round(4).tolist(),
                       "per_block": a.mean(axis=0).round(4).tolist(), "std": per_image.std(axis=0).round(4).tolist(),
                       "top_share": top.round(4).tolist()}
    return out
