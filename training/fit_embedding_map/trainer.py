"""Train an embedding transformation from a gallery model's image space into a query model's (asymmetric search).

    python -m training.fit_embedding_map --query runs/stage3/best --gallery runs/gallery_resnet/best \\
        --data fashioniq=data/fashioniq --data shoes=data/shoes --out runs/compat_resnet
    python -m cti_ir.index build --checkpoint runs/stage3/best \\
        --gallery-model runs/gallery_resnet/best:runs/compat_resnet/best ... --dataset fashioniq --root ... --out idx

Both models stay frozen; only the transformation learns, from unlabeled catalogue images (the training splits'
images by default, so evaluation images stay unseen). Each image is encoded once by each model and cached
(``--cache``); every epoch then costs only the transformation's work. The loss, our reconstruction of the paper's
three terms (Linial, Shoshan et al., WACV 2024, via Wang et al., BMVC 2020; see README, "Asymmetric search"):

- alignment: ``1 - cos(T(g(x)), q(x))``, the transformed gallery embedding onto the frozen query embedding;
- similarity distributions: KL from the in-batch similarity distribution of ``q(x)`` against the batch's query
  embeddings to that of ``T(g(x))``, so neighbourhoods are kept, not only points;
- shared classification: a cosine classifier over pseudo-labels (k-means on the query model's embeddings, as a
  catalogue has no identity labels) applied to both ``q(x)`` and ``T(g(x))`` with the same weights.

Validation (each epoch, on a held-out share of the images): how often ``T(g(x))`` retrieves its own image's
``q(x)`` first among the held-out images, and the reverse (cross-model R@1). The best epoch is kept in OUT/best, a
transformation folder (``cti_ir.asymmetric.embedding_maps``) that records the fingerprints of both models.

``--triplets NAME=DIR`` (ours, beyond the paper) adds a fourth term that uses the training triplets: the frozen
query model's composed queries (reference image + modification text) must retrieve their targets' transformed
gallery embeddings among the batch's (cross-entropy at the query model's own logit scale). The query model and
the query cost stay as they are; the transformation learns what of the gallery model's richer embedding the
composed queries need, not only to imitate the query model's image embedding.

``--mode`` also offers the two alternatives the paper compares against, for the benchmark: ``concat`` (several
``--gallery`` models, their embeddings concatenated, one transformation) and ``joint-average`` (one
transformation per gallery model, trained together on the loss of their averaged embedding; OUT/best holds one
transformation folder per member, ``member-0``, ``member-1``...). The paper's own recipe, and the default, is one
independently trained transformation per gallery model.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, SHARE_BELOW_ONE
from cti_ir.index.catalogue import CatalogueItem, items_from_benchmark, items_from_folder
from cti_ir.model.checkpoint import load_checkpoint, read_checkpoint_config
from cti_ir.asymmetric.embedding_maps import (
    EMBEDDING_MAPS,
    build_embedding_map,
    init_linear_least_squares,
    save_embedding_map,
)

from training.common import HelpWithDefaults, add_loop_args, run
from training.fit_embedding_map.embedding_cache import cached_embeddings, join_by_id
from training.examples import caption_variants, example_rng
from training.loop import StageModule

MODES = ("independent", "concat", "joint-average")


class MapFitModel(nn.Module):
    """The transformation(s) being trained and which gallery embeddings each reads."""

    def __init__(self, transforms: Sequence[nn.Module], inputs: Sequence[Sequence[int]], mode: str):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)
        self.inputs = [list(i) for i in inputs]
        self.mode = mode

    def forward(self, gallery: Sequence[torch.Tensor]) -> torch.Tensor:
        """The query-space embedding the losses see: the single transformation's, or the members' average."""
        outs = [t(torch.cat([gallery[j] for j in inp], dim=-1)) for t, inp in zip(self.transforms, self.inputs)]
        return F.normalize(torch.stack(outs).mean(0), dim=-1) if len(outs) > 1 else outs[0]


def map_fit_losses(t: torch.Tensor, q: torch.Tensor, labels: torch.Tensor, classifier: torch.Tensor,
                  temperature: float, cls_scale: float) -> dict[str, torch.Tensor]:
    """The three terms for transformed embeddings ``t`` and frozen query embeddings ``q`` (both ``(B, D)``)."""
    align = (1 - (t * q).sum(-1)).mean()
    teacher = F.softmax(q @ q.T / temperature, dim=-1)
    student = F.log_softmax(t @ q.T / temperature, dim=-1)
    kl = F.kl_div(student, teacher, reduction="batchmean")
    w = F.normalize(classifier, dim=-1)
    cls = F.cross_entropy(cls_scale * t @ w.T, labels) + F.cross_entropy(cls_scale * q @ w.T, labels)
    return {"align": align, "kl": kl, "cls": cls}


class MapFitModule(StageModule):
    """Weighted sum of the alignment, similarity-distribution and shared-classification losses."""

    def __init__(self, model: MapFitModel, centroids: np.ndarray, weights: tuple[float, float, float],
                 temperature: float, cls_scale: float, triplet_weight: float = 0.0, query_scale: float = 1.0):
        super().__init__(model)
        # The shared head starts at the k-means centroids: the pseudo-labels are their Voronoi cells already.
        self.classifier = nn.Parameter(torch.from_numpy(np.ascontiguousarray(centroids, dtype=np.float32)))
        self.weights, self.temperature, self.cls_scale = weights, temperature, cls_scale
        self.triplet_weight, self.query_scale = triplet_weight, query_scale

    def forward(self, batch, gather):
        n_gallery = 1 + max(max(i) for i in self.model.inputs)
        t = self.model([batch[f"g{j}"] for j in range(n_gallery)])
        terms = map_fit_losses(t, batch["q"], batch["label"], self.classifier, self.temperature, self.cls_scale)
        loss = sum(w * terms[k] for w, k in zip(self.weights, ("align", "kl", "cls")) if w > 0)
        if self.triplet_weight > 0 and "composed" in batch:
            targets = self.model([batch[f"tg{j}"] for j in range(n_gallery)])
            logits = self.query_scale * batch["composed"] @ targets.T
            terms["triplet"] = F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))
            loss = loss + self.triplet_weight * terms["triplet"]
        return loss, {f"{k}_loss": v.detach() for k, v in terms.items()}


class EmbeddingPairs:
    """Examples ``(index, epoch) -> {"q", "g0", "g1"..., "label"}`` over cached embeddings.

    With ``triplets`` (composed queries ``(T, V, D)`` over V caption variants, and the targets' gallery embeddings),
    each example also carries one triplet: ``"composed"`` and ``"tg0"``, ``"tg1"``... Which triplet and which
    caption variant are pure functions of (seed, epoch, index), so a resumed run sees the same data.
    """

    def __init__(self, query: np.ndarray, gallery: Sequence[np.ndarray], labels: np.ndarray,
                 triplets: tuple[np.ndarray, Sequence[np.ndarray]] | None = None, seed: int = 0):
        self.query = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32))
        self.gallery = [torch.from_numpy(np.ascontiguousarray(g, dtype=np.float32)) for g in gallery]
        self.labels = torch.from_numpy(labels.astype(np.int64))
        self.seed = seed
        self.triplets = None
        if triplets is not None:
            composed, targets = triplets
            self.triplets = (torch.from_numpy(np.ascontiguousarray(composed, dtype=np.float32)),
                             [torch.from_numpy(np.ascontiguousarray(g, dtype=np.float32)) for g in targets])

    def __len__(self) -> int:
        return len(self.query)

    def __getitem__(self, item):
        i, epoch = item
        out = {"q": self.query[i], "label": self.labels[i]}
        out.update({f"g{j}": g[i] for j, g in enumerate(self.gallery)})
        if self.triplets is not None:
            composed, targets = self.triplets
            rng = example_rng(self.seed, epoch, i)
            k = rng.randrange(len(composed))
            out["composed"] = composed[k, rng.randrange(composed.shape[1])]
            out.update({f"tg{j}": g[k] for j, g in enumerate(targets)})
        return out


def pair_collate(items: list[dict]) -> dict:
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def pseudo_labels(vectors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means (FAISS, cosine: spherical) on L2-normalised ``vectors``: (labels, normalised centroids)."""
    import faiss

    x = np.ascontiguousarray(vectors, dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False)
    km.train(x)
    _, labels = km.index.search(x, 1)
    centroids = km.centroids / np.linalg.norm(km.centroids, axis=1, keepdims=True).clip(1e-12)
    return labels[:, 0].astype(np.int64), centroids


def default_clusters(n_images: int) -> int:
    """About 50 images per pseudo-class, between 8 and 1,024 classes."""
    return int(min(1024, max(8, round(n_images / 50))))


def held_out(ids: Sequence[str], fraction: float) -> np.ndarray:
    """A deterministic held-out mask by a hash of each image id (stable when images are added)."""
    bucket = np.array([int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) % 10_000 for i in ids])
    return bucket < int(round(fraction * 10_000))


@torch.no_grad()
def cross_model_recall(model: MapFitModel, gallery: Sequence[np.ndarray], query: np.ndarray) -> dict[str, float]:
    """R@1 of each image's transformed embedding retrieving its own query embedding, and the reverse."""
    was = model.training
    model.eval()
    t = model([torch.from_numpy(g) for g in gallery])
    q = torch.from_numpy(query)
    sims = t @ q.T
    target = torch.arange(len(q))
    out = {"t2q_R@1": 100.0 * float((sims.argmax(1) == target).float().mean()),
           "q2t_R@1": 100.0 * float((sims.argmax(0) == target).float().mean()),
           "mean_cosine": float((t * q).sum(-1).mean())}
    # The score that picks the best epoch: alignment in percent. Cross-model R@1 saturates at 100 early on an
    # easy pair of spaces while the alignment (what retrieval against q-space queries needs) still improves.
    out["score"] = 100.0 * out["mean_cosine"]
    model.train(was)
    return out


class MapFitTask:
    name = "compat"

    def __init__(self, query_fp: str, gallery_fps: list[str], gallery_paths: list[str], dims: list[int],
                 d_out: int, train: tuple, val: tuple, centroids: np.ndarray, args, query_scale: float = 1.0):
        (q_tr, g_tr, labels, triplets), (q_val, g_val) = train, val
        self.dataset = EmbeddingPairs(q_tr, g_tr, labels, triplets, args.seed)
        self.collate = pair_collate
        self.val = (q_val, g_val)
        self.query_fp, self.gallery_fps, self.gallery_paths = query_fp, gallery_fps, gallery_paths
        self.dims, self.d_out, self.centroids, self.args = dims, d_out, centroids, args
        self.query_scale = query_scale

    def build_module(self, model):
        a = self.args
        return MapFitModule(model, self.centroids, (a.align_weight, a.kl_weight, a.cls_weight), a.temperature,
                            a.cls_scale, a.triplet_weight if a.triplets else 0.0, self.query_scale)

    def evaluate(self, model):
        q_val, g_val = self.val
        return cross_model_recall(model, g_val, q_val) if len(q_val) else None

    def checkpoint_files(self):
        return {}

    def save_output(self, model: MapFitModel, folder: Path, metrics, training_args) -> None:
        kwargs = embedding_map_kwargs(self.args)
        targets = [(folder, t, inp) for t, inp in zip(model.transforms, model.inputs)] if model.mode != \
            "joint-average" else [(folder / f"member-{i}", t, inp)
                                  for i, (t, inp) in enumerate(zip(model.transforms, model.inputs))]
        for path, transform, inp in targets:
            save_embedding_map(transform, path, name=self.args.transform, kwargs=kwargs,
                           d_in=sum(self.dims[j] for j in inp), d_out=self.d_out, query_fingerprint=self.query_fp,
                           gallery_fingerprints=[self.gallery_fps[j] for j in inp],
                           gallery_checkpoints=[self.gallery_paths[j] for j in inp], metrics=metrics,
                           training_args=training_args, query_checkpoint=str(Path(self.args.query).resolve()))


def embedding_map_kwargs(args) -> dict:
    return {"bottleneck": args.bottleneck, "paths": args.paths} if args.transform == "bottleneck" else {}


#: The allowed values of this trainer's own numeric flags (the loop's are in training.common.LOOP_BOUNDS).
MAP_FIT_BOUNDS = {"val_fraction": SHARE_BELOW_ONE, "encode_batch_size": AT_LEAST_ONE, "bottleneck": AT_LEAST_ONE,
                  "paths": AT_LEAST_ONE, "clusters": AT_LEAST_ONE, "align_weight": NON_NEGATIVE,
                  "kl_weight": NON_NEGATIVE, "cls_weight": NON_NEGATIVE, "temperature": POSITIVE,
                  "cls_scale": POSITIVE, "triplet_weight": NON_NEGATIVE}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.fit_embedding_map", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    m = p.add_argument_group("models (both frozen)")
    m.add_argument("--query", required=True, help="query model checkpoint (the light model that encodes queries)")
    m.add_argument("--gallery", action="append", required=True,
                   help="gallery model checkpoint (a heavier image encoder, e.g. from training.stage1/stage2); "
                        "repeat only with --mode concat or joint-average")
    m.add_argument("--mode", default="independent", choices=MODES,
                   help="independent: one transformation for one gallery model (the paper's recipe); concat / "
                        "joint-average: the alternatives the paper compares with (several --gallery)")
    d = p.add_argument_group("unlabeled catalogue images")
    d.add_argument("--images", action="append", default=[], help="folder of catalogue images (repeatable)")
    d.add_argument("--data", action="append", default=[],
                   help="benchmark folder as NAME=DIR, NAME in {fashioniq, shoes} (repeatable); its --splits' images")
    d.add_argument("--splits", nargs="*", default=["train"],
                   help="which splits of --data to use (default: train, so evaluation images stay unseen)")
    d.add_argument("--val-fraction", type=float, default=0.05,
                   help="share of the images held out for the per-epoch cross-model recall")
    d.add_argument("--cache", default=None,
                   help="folder for the cached embeddings (default: OUT/cache); share it between runs on the "
                        "same images to encode them once")
    d.add_argument("--skip-bad", action="store_true", help="leave out unreadable images instead of stopping")
    d.add_argument("--encode-batch-size", type=int, default=128, help="images per encoder batch while caching")
    t = p.add_argument_group("transformation and loss (our reconstruction; see the module docstring)")
    t.add_argument("--transform", default="bottleneck", choices=sorted(EMBEDDING_MAPS),
                   help="transformation form: bottleneck (linear + residual bottleneck MLP paths) or linear")
    t.add_argument("--bottleneck", type=int, default=64, help="width of each bottleneck path")
    t.add_argument("--no-init-least-squares", dest="init_least_squares", action="store_false",
                   help="start the linear part at random instead of the closed-form least-squares map onto the "
                        "query embeddings (the bottleneck paths always start at zero)")
    t.add_argument("--paths", type=int, default=4, help="number of parallel bottleneck paths")
    t.add_argument("--clusters", type=int, default=None,
                   help="pseudo-classes for the shared classifier (k-means on the query embeddings; default: "
                        "about one per 50 images)")
    t.add_argument("--align-weight", type=float, default=1.0, help="weight of the alignment term")
    t.add_argument("--kl-weight", type=float, default=1.0, help="weight of the similarity-distribution KL term")
    t.add_argument("--cls-weight", type=float, default=0.1, help="weight of the shared pseudo-label classifier")
    t.add_argument("--temperature", type=float, default=0.05, help="temperature of the similarity distributions")
    t.add_argument("--cls-scale", type=float, default=20.0, help="logit scale of the cosine classifier")
    t.add_argument("--triplets", action="append", default=[],
                   help="ours, beyond the paper: also fit the frozen query model's composed queries of these "
                        "training triplets (NAME=DIR, repeatable) to their targets' transformed embeddings")
    t.add_argument("--triplet-weight", type=float, default=1.0, help="weight of the --triplets term")
    add_loop_args(p, epochs=40, batch_size=256, lr=1e-3)
    p.set_defaults(warmup_steps=20, weight_decay=1e-4, save_every=200)
    return p


def parse_benchmarks(specs: Sequence[str], flag: str) -> list[tuple[str, str]]:
    out = []
    for spec in specs:
        name, sep, root = spec.partition("=")
        if not sep or name not in ("fashioniq", "shoes"):
            raise ValueError(f"{flag} expects fashioniq=DIR or shoes=DIR, got {spec!r}")
        out.append((name, root))
    return out


@torch.no_grad()
def composed_queries(query_model, specs: Sequence[str], position: dict[str, int], q: np.ndarray,
                     gallery: Sequence[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray], int]:
    """The frozen query model's composed queries of the training triplets, for each of the 4 caption variants
    ("c1 and c2", "c2 and c1", c1, c2; repeated when fewer), and the targets' gallery embeddings.

    Triplets whose reference or target is not among the cached images are left out; their count is returned.
    """
    from cti_ir.data import open_benchmark

    trips, skipped = [], 0
    for name, root in parse_benchmarks(specs, "--triplets"):
        for t in open_benchmark(name, root).triplets("train"):
            if t.target is None or t.reference not in position or t.target not in position:
                skipped += 1
                continue
            variants = caption_variants(t.captions) or [""]
            trips.append((position[t.reference], position[t.target], (variants * 4)[:4]))
    if not trips:
        raise ValueError("no training triplet of --triplets has both images among the catalogue images; use the "
                         "same folders for --data and --triplets")
    texts = [v for _, _, vs in trips for v in vs]
    text = torch.cat([query_model.encode_texts(texts[i:i + 512]).float().cpu() for i in range(0, len(texts), 512)])
    refs = torch.from_numpy(q[[r for r, _, _ in trips]]).repeat_interleave(4, dim=0)
    composed = torch.cat([query_model.compose(refs[i:i + 1024].to(query_model.device),
                                              text[i:i + 1024].to(query_model.device)).query.float().cpu()
                          for i in range(0, len(refs), 1024)])
    targets = [g[[tgt for _, tgt, _ in trips]] for g in gallery]
    return composed.reshape(len(trips), 4, -1).numpy(), targets, skipped


def catalogue_items(args) -> list[CatalogueItem]:
    """The unlabeled images: --images folders and the --splits of --data benchmarks (deduplicated by id)."""
    items: list[CatalogueItem] = []
    for folder in args.images:
        items += items_from_folder(folder)
    for name, root in parse_benchmarks(args.data, "--data"):
        items += items_from_benchmark(name, root, args.splits)
    if not items:
        raise ValueError("no images: give --images DIR or --data NAME=DIR")
    return list({it.image_id: it for it in items}.values())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.mode == "independent" and len(args.gallery) != 1:
        print("error: --mode independent trains one transformation for one --gallery model; run once per gallery "
              "model (or use --mode concat / joint-average)", file=sys.stderr)
        return 2
    state: dict = {}

    def make_model(info):
        # Everything that can fail on user input happens here, before any training starts.
        query = load_checkpoint(args.query, device=info.device)
        galleries = [load_checkpoint(g, device=info.device) for g in args.gallery]
        items = catalogue_items(args)
        cache = Path(args.cache) if args.cache else Path(args.out) / "cache"
        progress = args.progress and info.is_main
        tables = [cached_embeddings(query, items, cache, batch_size=args.encode_batch_size, skip_bad=args.skip_bad,
                                    progress=progress, desc="query model")]
        tables += [cached_embeddings(g, items, cache, batch_size=args.encode_batch_size, skip_bad=args.skip_bad,
                                     progress=progress, desc=f"gallery model {k + 1}") for k, g in enumerate(galleries)]
        (q, *gs), ids = join_by_id(tables)
        if len(ids) < 16:
            raise ValueError(f"only {len(ids)} readable images; a transformation needs hundreds")
        val = held_out(ids, args.val_fraction)
        k = args.clusters or default_clusters(int((~val).sum()))
        labels, centroids = pseudo_labels(q[~val], k, args.seed)
        dims = [g.embed_dim for g in galleries]
        triplets = None
        if args.triplets:
            train_pos = {i: k for k, i in enumerate(np.asarray(ids)[~val])}
            composed, targets, skipped = composed_queries(query, args.triplets, train_pos, q[~val],
                                                          [g[~val] for g in gs])
            triplets = (composed, targets)
            if info.is_main:
                print(f"[fit map] {len(composed)} training triplets for the composed-query term ({skipped} left out: "
                      f"an image not among the training images)", file=sys.stderr)
        torch.manual_seed(args.seed)
        if args.mode == "concat":
            transforms, inputs = [build_embedding_map(args.transform, sum(dims), query.embed_dim,
                                                  **embedding_map_kwargs(args))], [list(range(len(dims)))]
        else:
            transforms = [build_embedding_map(args.transform, d, query.embed_dim, **embedding_map_kwargs(args))
                          for d in dims]
            inputs = [[j] for j in range(len(dims))]
        if args.init_least_squares:
            for transform, inp in zip(transforms, inputs):
                x = torch.from_numpy(np.concatenate([gs[j][~val] for j in inp], axis=1))
                init_linear_least_squares(transform, x, torch.from_numpy(q[~val]))
        state["task"] = MapFitTask(query.fingerprint, [g.fingerprint for g in galleries],
                                   [str(Path(g).resolve()) for g in args.gallery], dims, query.embed_dim,
                                   (q[~val], [g[~val] for g in gs], labels, triplets),
                                   (q[val], [g[val] for g in gs]), centroids, args,
                                   float(query.logit_scale.detach()))
        if info.is_main:
            print(f"[fit map] {len(ids)} images ({int(val.sum())} held out), {k} pseudo-classes, "
                  f"{len(transforms)} transformation(s) {dims} -> {query.embed_dim}", file=sys.stderr)
        return MapFitModel(transforms, inputs, args.mode).to(info.device)

    def check_inputs():  # cheap checks of the folders, before seconds of loading models and encoding images
        parse_benchmarks(args.data, "--data")
        parse_benchmarks(args.triplets, "--triplets")
        for checkpoint in [args.query, *args.gallery]:
            read_checkpoint_config(checkpoint)

    return run(args, lambda model, info: state["task"], make_model=make_model, load_data=check_inputs,
               bounds=MAP_FIT_BOUNDS)


if __name__ == "__main__":
    sys.exit(main())
