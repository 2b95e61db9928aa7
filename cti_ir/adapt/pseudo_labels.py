"""Pseudo-labels of several granularities from unlabeled image features, and the nearest-neighbour graph.

Label-free adaptation (``python -m training.adapt``) clusters the frozen, L2-normalised features of a shop's images
with k-means at several cluster counts: few clusters mimic a coarse task ("this category"), many clusters a fine one
("this very product"). Each clustering trains one adapter set. The k nearest neighbours of each image in the same
feature space guide the fusion (see ``cti_ir.model.adapters``).
"""

from __future__ import annotations

import math

import numpy as np

#: Smallest and largest default cluster counts: 8 groups is coarser than any product search, and clusters of
#: about 4 images (a product and its few photos) are the finest a catalogue can support.
MIN_CLUSTERS = 8
IMAGES_PER_FINEST_CLUSTER = 4
MAX_SETS = 5


def default_granularities(n_images: int) -> list[int]:
    """Cluster counts for ``n_images`` images: 8, 32, 128, ... (x4 each) up to ``n_images / 4``, at most 5.

    With more candidates than ``MAX_SETS`` the coarsest and finest are kept and the rest spread evenly in log scale.
    Raises ``ValueError`` when there are too few images for even the coarsest clustering.
    """
    finest = n_images // IMAGES_PER_FINEST_CLUSTER
    if finest < MIN_CLUSTERS:
        raise ValueError(f"{n_images} images are too few to adapt on: at least {MIN_CLUSTERS * IMAGES_PER_FINEST_CLUSTER}"
                         f" are needed for the default granularities (or pass --granularities)")
    candidates = []
    k = MIN_CLUSTERS
    while k <= finest:
        candidates.append(k)
        k *= 4
    if len(candidates) <= MAX_SETS:
        return candidates
    picks = np.linspace(0, len(candidates) - 1, MAX_SETS).round().astype(int)
    return [candidates[i] for i in sorted(set(picks.tolist()))]


def check_granularities(granularities: list[int], n_images: int) -> list[int]:
    """Sorted, distinct cluster counts, each between 2 and half the number of images."""
    ks = sorted(set(int(k) for k in granularities))
    bad = [k for k in ks if not 2 <= k <= n_images // 2]
    if bad:
        raise ValueError(f"cluster counts {bad} do not fit {n_images} images: each must be between 2 and "
                         f"{n_images // 2} (half the number of images)")
    return ks


def _float32(features: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(features, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"features must be a non-empty (N, D) array, got shape {x.shape}")
    return x


def kmeans(features: np.ndarray, k: int, seed: int = 0, iterations: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means: (labels ``(N,)`` int64, unit-norm centroids ``(k, D)`` float32).

    Deterministic for a seed: FAISS's k-means with a fixed seed and one restart (the tests check it).
    """
    import faiss

    x = _float32(features)
    if not 2 <= k <= len(x):
        raise ValueError(f"cannot make {k} clusters of {len(x)} images")
    # max_points_per_centroid: FAISS would otherwise subsample above 256 points per centroid; we use every image.
    km = faiss.Kmeans(x.shape[1], k, niter=iterations, seed=seed, spherical=True, nredo=1, verbose=False,
                      min_points_per_centroid=1, max_points_per_centroid=max(256, math.ceil(len(x) / k) + 1))
    km.train(x)
    _, labels = km.index.search(x, 1)
    centroids = km.centroids / np.maximum(np.linalg.norm(km.centroids, axis=1, keepdims=True), 1e-12)
    return labels[:, 0].astype(np.int64), centroids.astype(np.float32)


def nearest_neighbours(features: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` nearest other images of each image by cosine similarity, ``(N, k)`` int64 (self excluded)."""
    import faiss

    x = _float32(features)
    k = min(k, len(x) - 1)
    if k < 1:
        raise ValueError("nearest neighbours need at least two images")
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(x)
    _, ids = index.search(x, k + 1)
    out = np.empty((len(x), k), dtype=np.int64)
    for i, row in enumerate(ids):
        others = row[row != i]  # the image itself is normally first, but ties with duplicates can move it
        out[i] = others[:k]
    return out
