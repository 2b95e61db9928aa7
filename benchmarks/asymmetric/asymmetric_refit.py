"""Re-fit only the query model's composer against an asymmetric gallery space (an experiment of the asymmetric
benchmark; README, "Asymmetric search", "What we tried").

    python -m benchmarks.asymmetric.asymmetric_refit --work runs/asym --data runs/bench/data --members convnext \
        --epochs 4

When a gallery model carried into the query model's space loses to the symmetric index, one natural next step keeps
the query cost: the encoders stay frozen and only the composer learns, on the training triplets, to compose queries
that find their targets' *gallery* vectors (the mean of the members' transformed embeddings, seed-0
transformations of ``bench_asymmetric``). Everything runs on the benchmark's cached embeddings: the reference
images' query-model vectors, the gallery models' vectors of the targets, the captions encoded once. Recall@K is
scored before training and after each epoch with the benchmark's evaluator; results go to
WORK/refit_<members>.json.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from cti_ir.files import write_json_atomic
from training.common import HelpWithDefaults

from benchmarks.asymmetric.asymmetric_eval import QuerySide, overall
from benchmarks.asymmetric.common import (DATASETS, GALLERY_MODELS, add_setup_args, averaged, embeddings,
                                          eval_items)
from benchmarks.common import error


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.asymmetric.asymmetric_refit", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    add_setup_args(p, query_help="query model checkpoint whose composer is re-fitted")  # bench_asymmetric's runs
    p.add_argument("--members", nargs="+", default=["convnext"], choices=list(GALLERY_MODELS),
                   help="gallery models whose transformed, averaged vectors are the targets")
    p.add_argument("--epochs", type=int, default=4, help="passes over the training triplets")
    p.add_argument("--lr", type=float, default=1e-4, help="AdamW learning rate of the composer")
    p.add_argument("--batch-size", type=int, default=256, help="triplets per batch (in-batch negatives)")
    p.add_argument("--seed", type=int, default=0, help="shuffling and caption-choice seed")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p


class GallerySpace:
    """The members' averaged transformed vectors of any images, from the benchmark's caches."""

    def __init__(self, models: dict, folders: list[Path], cache: Path):
        self.models, self.folders, self.cache = models, folders, cache
        self.fps = {n: m.fingerprint for n, m in models.items()}

    def vectors(self, items, label: str) -> dict[str, np.ndarray]:
        """{image id: gallery vector} of ``items``."""
        per_model = {n: embeddings(m, items, self.cache, f"{n} {label}") for n, m in self.models.items()}
        return averaged(self.folders, per_model, self.fps)[0]


def training_triplets(data: Path, query_vectors: dict[str, np.ndarray], gallery_vectors: dict[str, np.ndarray]):
    """(reference vector, target gallery vector, caption variants) of every training triplet with both images."""
    from cti_ir.data import open_benchmark
    from training.examples import caption_variants

    out = []
    for ds in DATASETS:
        for t in open_benchmark(ds, data / ds).triplets("train"):
            if t.target is not None and t.reference in query_vectors and t.target in gallery_vectors:
                out.append((query_vectors[t.reference], gallery_vectors[t.target], caption_variants(t.captions) or [""]))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Re-fit the composer, scoring before and after each epoch; write WORK/refit_<members>.json."""
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    import cti_ir
    from cti_ir.index.catalogue import items_from_benchmark
    from cti_ir.model.losses import composed_retrieval_loss

    work, data = Path(args.work), Path(args.data)
    runs, cache = work / "runs", work / "cache"
    folders = [runs / f"compat_{n}_seed0" / "best" for n in args.members]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        return error(f"no transformation at {', '.join(missing)}; run python -m benchmarks.asymmetric.bench_asymmetric "
                     "first")
    query = cti_ir.load(args.query)
    space = GallerySpace({n: cti_ir.load(runs / f"g_{n}_s2" / "best") for n in args.members}, folders, cache)

    train_items = list({it.image_id: it for ds in DATASETS
                        for it in items_from_benchmark(ds, data / ds, ["train"])}.values())
    triplets = training_triplets(data, embeddings(query, train_items, cache, "query train"),
                                 space.vectors(train_items, "train"))
    texts = sorted({v for *_, vs in triplets for v in vs})
    with torch.no_grad():
        text_vectors = torch.cat([query.encode_texts(texts[i:i + 512]).float() for i in range(0, len(texts), 512)])
    text_row = {t: k for k, t in enumerate(texts)}
    refs = torch.from_numpy(np.stack([r for r, _, _ in triplets]))
    targets = torch.from_numpy(np.stack([g for _, g, _ in triplets]))

    eval_sets = {}
    for ds in DATASETS:
        items = eval_items(data, ds)
        eval_sets[ds] = (embeddings(query, items, cache, f"query {ds}"), space.vectors(items, ds))

    def score(composer) -> dict:
        original, query.composer = query.composer, composer.eval()
        try:
            res = {ds: QuerySide(query, ds, data / ds, q).score(g)["score"] for ds, (q, g) in eval_sets.items()}
        finally:
            query.composer = original
            composer.train()
        return {"overall": overall({k: {"score": v} for k, v in res.items()}), **res}

    composer = copy.deepcopy(query.composer).train()
    opt = torch.optim.AdamW(composer.parameters(), lr=args.lr, weight_decay=0.05)
    scale = query.logit_scale.detach()
    g = torch.Generator().manual_seed(args.seed)
    history = [{"epoch": 0, **score(composer)}]
    print(f"before: {history[-1]}")
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(triplets), generator=g)
        losses = []
        for b in range(0, len(order) - args.batch_size + 1, args.batch_size):
            idx = order[b:b + args.batch_size]
            captions = [triplets[k][2][int(torch.randint(len(triplets[k][2]), (1,), generator=g))] for k in idx]
            out = composer(refs[idx], text_vectors[[text_row[c] for c in captions]])
            loss = composed_retrieval_loss(out.query, targets[idx], scale)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), **score(composer)})
        print(f"epoch {epoch}: {history[-1]}")
    write_json_atomic(work / f"refit_{'+'.join(args.members)}.json",
                      {"args": {k: str(v) for k, v in vars(args).items()}, "triplets": len(triplets),
                       "history": history})
    return 0


if __name__ == "__main__":
    sys.exit(main())
