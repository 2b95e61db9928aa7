"""Gallery-side encoders: what turns catalogue images into the vectors an index stores.

- ``SymmetricEncoder``: the query model's own image tower (a symmetric index: queries and gallery from one model).
- ``EnsembleEncoder``: asymmetric search with a cross-model compatible ensemble (Linial, Shoshan et al., WACV 2024).
  N members, each a gallery model (heavier than the query model, trained independently) followed by its learned
  transformation into the query model's space (``cti_ir.asymmetric.embedding_maps``). The stored vector is the re-normalised mean
  of the N transformed embeddings, so the index has the size of a single model's and a query costs what the query
  model costs; the spread among the N transformed embeddings (their mean pairwise distance) is the image's
  uncertainty, by which the most uncertain gallery images can be rejected from the index.

Both take the images one preprocessing per distinct image model (``preprocess`` returns a tuple for an ensemble, as
each gallery model has its own input size) and return a ``GalleryEmbedding``. The index records the encoder's
``fingerprint`` and ``describe()``; the query model's fingerprint is what a search engine checks, so the app serves
an asymmetric index with the query model alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cti_ir.asymmetric.embedding_maps import (
    EmbeddingMapError,
    load_embedding_map,
    read_embedding_map_config,
    recorded_query_checkpoint,
)


@dataclass
class GalleryEmbedding:
    """Vectors of a batch of gallery images, in the query model's space, and their uncertainty (ensembles)."""

    vectors: torch.Tensor                    # (B, D), L2-normalised
    uncertainty: torch.Tensor | None = None  # (B,), mean pairwise distance among the members' embeddings


class SymmetricEncoder:
    """The query model's own image encoder (today's index)."""

    mode = "symmetric"

    def __init__(self, model):
        self.model = model

    @property
    def fingerprint(self) -> str:
        return self.model.fingerprint

    @property
    def embed_dim(self) -> int:
        return self.model.embed_dim

    def preprocess(self, image):
        return self.model.preprocess(image)

    @torch.no_grad()
    def encode(self, pixels: torch.Tensor) -> GalleryEmbedding:
        return GalleryEmbedding(self.model.encode_images(pixels.to(self.model.device)).float())

    def describe(self) -> dict[str, Any]:
        return {"mode": self.mode}


@dataclass
class EnsembleMember:
    """One gallery member: the gallery model(s) whose embeddings a transformation reads, and the transformation."""

    gallery: list[int]            # positions in EnsembleEncoder.models (several for a concatenation transform)
    transform: torch.nn.Module
    config: dict[str, Any]        # the transformation's config (fingerprints, dimensions, folder)


class EnsembleEncoder:
    """N gallery models, each carried into the query space by its transformation; see the module docstring."""

    mode = "asymmetric"

    def __init__(self, query_model, models: Sequence, checkpoints: Sequence[str], members: Sequence[EnsembleMember]):
        if not members:
            raise ValueError("an ensemble needs at least one gallery member")
        self.query_model = query_model
        self.models, self.checkpoints, self.members = list(models), [str(c) for c in checkpoints], list(members)
        blob = json.dumps({"query": query_model.fingerprint,
                           "members": [[[self.models[g].fingerprint for g in m.gallery], m.config["fingerprint"]]
                                       for m in self.members]}, sort_keys=True)
        self.fingerprint = "ens-" + hashlib.sha256(blob.encode()).hexdigest()[:16]

    @property
    def embed_dim(self) -> int:
        return self.query_model.embed_dim

    @property
    def device(self) -> torch.device:
        return self.query_model.device

    def preprocess(self, image) -> tuple[torch.Tensor, ...]:
        """One input tensor per distinct gallery model (their image sizes and normalisations differ)."""
        return tuple(m.preprocess(image) for m in self.models)

    @torch.no_grad()
    def transformed(self, pixels: Sequence[torch.Tensor]) -> torch.Tensor:
        """The members' embeddings in the query space, ``(N_members, B, D)``, each L2-normalised."""
        features = [m.encode_images(x.to(m.device)).float() for m, x in zip(self.models, pixels)]
        out = []
        for member in self.members:
            x = torch.cat([features[g] for g in member.gallery], dim=-1)
            out.append(member.transform(x.to(next(member.transform.parameters()).device)).float().to(self.device))
        return torch.stack(out)

    def encode(self, pixels: Sequence[torch.Tensor]) -> GalleryEmbedding:
        t = self.transformed(pixels)
        return GalleryEmbedding(ensemble_mean(t), pairwise_uncertainty(t) if len(self.members) > 1 else None)

    def describe(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "encoder_fingerprint": self.fingerprint,
            "members": [{
                "gallery_checkpoints": [self.checkpoints[g] for g in m.gallery],
                "gallery_fingerprints": [self.models[g].fingerprint for g in m.gallery],
                "transform": str(Path(m.config["_folder"]).resolve()),
                "transform_fingerprint": m.config["fingerprint"],
            } for m in self.members],
        }


@torch.no_grad()
def encode_gallery_images(encoder, ids: Sequence[str], path_of, batch_size: int = 128, num_workers: int = 0,
                          desc: str = "gallery", progress: bool = True) -> torch.Tensor:
    """The gallery vectors (CPU, float32) of the images ``ids`` by a gallery encoder, rows in the same order.

    A missing or unreadable image raises an ``ImageLoadError`` naming it (evaluation protocols need every image).
    """
    import sys

    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from cti_ir.model.images import load_image

    class Images(torch.utils.data.Dataset):
        def __len__(self):
            return len(ids)

        def __getitem__(self, i):
            return encoder.preprocess(load_image(path_of(ids[i])))

    loader = DataLoader(Images(), batch_size=batch_size, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(0))
    out = [encoder.encode(pixels).vectors.float().cpu()
           for pixels in tqdm(loader, desc=f"encode {desc}", unit="batch", disable=not progress, file=sys.stderr)]
    return torch.cat(out) if out else torch.empty(0, encoder.embed_dim)


def index_mode_summary(info: dict[str, Any], with_count: bool = True) -> str:
    """One plain sentence on how an index's catalogue was embedded, for the page and ``index info``; without the
    product count for a page that shows the count of the version it serves elsewhere (it changes on reload)."""
    gallery = info.get("gallery") or {"mode": "symmetric"}
    count = f"{info.get('count', 0):,} products," if with_count else "products"
    if gallery["mode"] == "symmetric":
        return f"{count} embedded by the query model itself (symmetric index)"
    n = len(gallery.get("members", []))
    text = f"{count} embedded by an ensemble of {n} gallery model{'s' if n != 1 else ''} (asymmetric index)"
    rejection = info.get("rejection")
    if rejection and rejection.get("rejected"):
        text += f"; {rejection['rejected']:,} uncertain images rejected"
    return text


def ensemble_mean(transformed: torch.Tensor) -> torch.Tensor:
    """The stored vector: the re-normalised mean of the members' embeddings ``(N_members, B, D)`` -> ``(B, D)``."""
    return F.normalize(transformed.mean(dim=0), dim=-1)


def pairwise_uncertainty(transformed: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance over all pairs of the members' embeddings ``(N_members, B, D)`` -> ``(B,)``.

    The paper's uncertainty ("the mean distance over all pairs of transformed embeddings"); the members'
    embeddings are unit vectors, so a distance lies in [0, 2].
    """
    n = transformed.shape[0]
    if n < 2:
        raise ValueError("uncertainty needs at least two gallery members")
    pairs = list(combinations(range(n), 2))
    return torch.stack([(transformed[i] - transformed[j]).norm(dim=-1) for i, j in pairs]).mean(dim=0)


def rejection_mask(uncertainty: np.ndarray, fraction: float | None = None,
                   threshold: float | None = None) -> tuple[np.ndarray, float | None]:
    """Which images to reject (True) and the threshold used: above ``threshold``, or the ``fraction`` most uncertain.

    With a fraction, exactly ``round(fraction * N)`` images are rejected (ties broken by position, so the choice is
    deterministic) and the returned threshold is the lowest uncertainty rejected. Neither given: nothing rejected.
    """
    u = np.asarray(uncertainty, dtype=np.float64)
    if fraction is not None and threshold is not None:
        raise ValueError("give a rejection fraction or a rejection threshold, not both")
    if threshold is not None:
        return u > threshold, float(threshold)
    if not fraction:
        return np.zeros(len(u), dtype=bool), None
    if not 0 <= fraction < 1:
        raise ValueError(f"the rejection fraction must be in [0, 1), got {fraction}")
    n_reject = int(round(fraction * len(u)))
    reject = np.zeros(len(u), dtype=bool)
    if n_reject:
        order = np.argsort(-u, kind="stable")
        reject[order[:n_reject]] = True
        return reject, float(u[order[n_reject - 1]])
    return reject, None


def split_member_spec(spec: str) -> tuple[str | None, str]:
    """``"GALLERY_CKPT:TRANSFORM"`` -> (gallery, transform); a bare ``"TRANSFORM"`` -> (None, transform).

    A colon may occur inside a path, so the split chosen is the one whose two sides both exist.
    """
    if Path(spec).is_dir() and ":" not in spec:
        return None, spec
    candidates = [(spec[:i], spec[i + 1:]) for i, ch in enumerate(spec) if ch == ":"]
    existing = [(g, t) for g, t in candidates if Path(g).is_dir() and Path(t).is_dir()]
    if len(existing) == 1:
        return existing[0]
    if Path(spec).is_dir():
        return None, spec
    raise ValueError(f"--gallery-model {spec!r}: expected GALLERY_CHECKPOINT:TRANSFORM (two existing folders: the "
                     f"gallery model's checkpoint and its transformation, e.g. runs/compat/best) or a transformation "
                     f"folder alone")


def member_of_spec(spec: str) -> tuple[str, list[str], dict[str, Any]]:
    """(transformation folder, gallery checkpoint folders, transformation config) of one ``--gallery-model`` spec;
    a bare transformation folder uses the gallery checkpoints its config records. Reads no model."""
    gallery, transform_dir = split_member_spec(spec)
    config = read_embedding_map_config(transform_dir)
    paths = [gallery] if gallery else list(config.get("gallery_checkpoints") or [])
    if not paths:
        raise EmbeddingMapError(f"{transform_dir} does not record its gallery model; pass GALLERY_CHECKPOINT:"
                                f"{transform_dir}")
    if gallery and len(config["gallery_fingerprints"]) != 1:
        raise EmbeddingMapError(f"{transform_dir} reads {len(config['gallery_fingerprints'])} gallery models "
                                f"(a concatenation); pass the transformation folder alone")
    return transform_dir, paths, config


def check_member_fits(transform_dir: str, config: dict[str, Any], gallery_paths: Sequence[str],
                      gallery_fingerprints: Sequence[str | None], query_fingerprint: str | None,
                      query_dim: int) -> None:
    """Refuse a transformation that does not read these gallery models or does not map into this query model's
    space, naming the checkpoints its config records (a fingerprint of None is not checked)."""
    expected = list(config["gallery_fingerprints"])
    if any(got is not None and got != want for got, want in zip(gallery_fingerprints, expected)):
        recorded = ", ".join(config.get("gallery_checkpoints") or []) or "a checkpoint it does not record"
        raise EmbeddingMapError(
            f"transformation {transform_dir} was trained on the gallery model {recorded} (fingerprint "
            f"{', '.join(expected)}), but {', '.join(gallery_paths)} is another model (fingerprint "
            f"{', '.join(str(f) for f in gallery_fingerprints)}); pass the gallery checkpoint it was trained with, "
            f"or retrain it (python -m training.fit_embedding_map)")
    if query_fingerprint is not None and config["query_fingerprint"] != query_fingerprint:
        recorded = recorded_query_checkpoint(config) or "a query checkpoint it does not record"
        raise EmbeddingMapError(
            f"transformation {transform_dir} maps into the space of the query model {recorded} (fingerprint "
            f"{config['query_fingerprint']}), not of this one (fingerprint {query_fingerprint}); use the query "
            f"checkpoint it was trained for, or retrain it (python -m training.fit_embedding_map)")
    if config["d_out"] != query_dim:
        raise EmbeddingMapError(f"{transform_dir} outputs {config['d_out']} dimensions, the query model embeds "
                                f"into {query_dim}")


def check_ensemble_specs(specs: Sequence[str], query_checkpoint: str) -> None:
    """What ``load_ensemble`` checks, from the folders' config files alone (milliseconds, no model loaded): a
    CLI calls it before it loads anything. Adapted checkpoints are checked at load (their fingerprint depends on
    the granularity chosen)."""
    from cti_ir.model.checkpoint import read_checkpoint_config

    def fingerprint(path: str) -> str | None:
        config = read_checkpoint_config(path)
        return None if config.get("adapters") else config.get("fingerprint")

    query = read_checkpoint_config(query_checkpoint)
    for spec in specs:
        transform_dir, paths, config = member_of_spec(spec)
        check_member_fits(transform_dir, config, paths, [fingerprint(p) for p in paths], fingerprint(query_checkpoint),
                          int(query.get("embed_dim", config["d_out"])))


def load_ensemble(query_model, specs: Sequence[str], device: str | torch.device = "cpu") -> EnsembleEncoder:
    """An ensemble encoder from ``--gallery-model`` specs, refusing any transformation that does not fit.

    A transformation must have been trained against this query model and read the gallery model(s) it is given
    (checked by fingerprint). A bare transformation folder uses the gallery checkpoints it recorded.
    """
    from cti_ir.model.checkpoint import load_checkpoint

    if query_model.fingerprint is None:
        raise ValueError("the query model has no fingerprint: load it from a checkpoint folder (cti_ir.load)")
    models, checkpoints, members = [], [], []
    by_path: dict[str, int] = {}

    def model_index(path: str) -> int:
        key = str(Path(path).resolve())
        if key not in by_path:
            models.append(load_checkpoint(path, device=device))
            checkpoints.append(key)
            by_path[key] = len(models) - 1
        return by_path[key]

    for spec in specs:
        transform_dir, paths, _ = member_of_spec(spec)
        transform, config = load_embedding_map(transform_dir)  # checksums first: a corrupt folder before a load
        idx = [model_index(p) for p in paths]
        check_member_fits(transform_dir, config, paths, [models[i].fingerprint for i in idx],
                          query_model.fingerprint, query_model.embed_dim)
        members.append(EnsembleMember(idx, transform.to(device), config))
    return EnsembleEncoder(query_model, models, checkpoints, members)
