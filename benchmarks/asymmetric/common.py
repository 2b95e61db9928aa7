"""What the asymmetric benchmark's scripts share: the gallery models, the setup flags, and the cached embeddings.

``bench_asymmetric`` trains the gallery models and the embedding maps and caches every embedding in WORK/cache;
``asymmetric_refit`` works on the same runs and caches. Both read them through this module.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

DATASETS = ("fashioniq", "shoes")  # the two evaluation layouts: Fashion-IQ val and Shoes test
# name -> (open_clip config, [(stage, epochs, seed)]): stage 2 alone for "vit" (other training data: no open-domain
# pre-training), stage 1 cut to 15 epochs for "convnext" (its held-out recall had levelled off).
GALLERY_MODELS = {
    "resnet": ("cti-resnet", [("stage1", 30, 0), ("stage2", 4, 0)]),
    "convnext": ("cti-convnext", [("stage1", 15, 1), ("stage2", 4, 1)]),
    "vit": ("cti-base", [("stage2", 4, 2)]),
}


def add_setup_args(p: argparse.ArgumentParser, query_help: str = "query model checkpoint (kept fixed)") -> None:
    """--work, --data and --query, shared with the scripts that reuse the benchmark's runs and caches."""
    p.add_argument("--work", default="runs/asym", help="folder for the runs, caches and results")
    p.add_argument("--data", default="runs/bench/data", help="generated catalogue (python -m data_prep.synth)")
    p.add_argument("--query", default="demo_model", help=query_help)


def eval_items(data: Path, dataset: str):
    """The catalogue items of a layout's evaluation split (Fashion-IQ val, Shoes test)."""
    from cti_ir.index.catalogue import items_from_benchmark

    return items_from_benchmark(dataset, data / dataset, ["val" if dataset == "fashioniq" else "test"])


def embeddings(model, items, cache: Path, label: str) -> dict[str, np.ndarray]:
    """{image id: the model's embedding}, from the cache in ``cache`` (computed and stored on first use)."""
    from training.fit_embedding_map.embedding_cache import cached_embeddings

    vectors, ids = cached_embeddings(model, items, cache, progress=True, desc=label)
    return dict(zip(ids, vectors))


def apply_transforms(folders: Sequence[Path], galleries: dict[str, dict], models_fp: dict[str, str]) -> torch.Tensor:
    """Each transformation applied to the cached embeddings of the gallery model(s) it reads: (N, images, D)."""
    from cti_ir.asymmetric.embedding_maps import load_embedding_map

    outs, ids = [], None
    for folder in folders:
        transform, config = load_embedding_map(folder)
        names = [next(n for n, fp in models_fp.items() if fp == g) for g in config["gallery_fingerprints"]]
        ids = ids or sorted(galleries[names[0]])
        x = torch.from_numpy(np.concatenate([np.stack([galleries[n][i] for i in ids]) for n in names], axis=1))
        with torch.no_grad():
            outs.append(transform(x))
    return torch.stack(outs), ids


def as_dict(ids, tensor) -> dict[str, np.ndarray]:
    """{id: row} of a (len(ids), D) tensor."""
    arr = tensor.numpy()
    return {i: arr[k] for k, i in enumerate(ids)}


def averaged(folders: Sequence[Path], galleries: dict[str, dict], models_fp: dict[str, str]):
    """The ensemble's gallery vectors (the members' transformed embeddings averaged and L2-normalised) by image
    id, with the stacked member vectors (N, images, D) and their ids for the ensemble's uncertainty."""
    stacked, ids = apply_transforms(folders, galleries, models_fp)
    return as_dict(ids, torch.nn.functional.normalize(stacked.mean(0), dim=-1)), stacked, ids
