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


#: The space an adapted checkpoint serves by default ("More like this", ``cti_ir.index build`` without
#: ``--granularity``). "coarsest" is the adapter set of the fewest clusters: on both adaptation benchmarks
#: (docs/results/adaptation.md) the fusion lost to the unadapted encoder, and the coarsest set was the one
#: adapted space that did not lose on the mean.
DEFAULT_SERVING_GRANULARITY = "coarsest"
SERVING_CHOICES = ("coarsest", "fusion", "off")


def check_serving_granularity(value: str) -> str:
    """The canonical form of a ``--default-granularity`` value: ``coarsest``, ``fusion``, ``off`` or ``k<clusters>``."""
    text = str(value).strip().lower()
    if text in SERVING_CHOICES:
        return text
    digits = text[1:] if text.startswith("k") else text
    if not digits.isdigit() or int(digits) < 2:
        raise ValueError(f"--default-granularity {value!r}: use coarsest, fusion, off or one of the adapter sets "
                         f"(e.g. k8)")
    return f"k{int(digits)}"


def serving_granularity(value: str, granularities: list[int]) -> str:
    """The granularity name ``value`` (see :func:`check_serving_granularity`) stands for, given the adapter sets."""
    name = check_serving_granularity(value)
    if name == "coarsest":
        return f"k{min(granularities)}"
    if name.startswith("k") and int(name[1:]) not in granularities:
        raise ValueError(f"--default-granularity {value}: no adapter set has {name[1:]} clusters (the sets: "
                         f"{', '.join(f'k{k}' for k in granularities)})")
    return name
