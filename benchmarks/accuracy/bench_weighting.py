"""Composer and weight-target study on frozen encoders: many ideas, several seeds, in minutes.

    python -m benchmarks.accuracy.bench_weighting --checkpoint runs/stage2/best --data runs/adaptive/data \\
        --work runs/adaptive/probe --seeds 0 1 2

A stage-3 run trains the encoders and the composer together and takes minutes per seed on a CPU; this study
freezes the encoders of ``--checkpoint``, encodes every training triplet and evaluation query once (cached in
WORK), and trains only the composer on the features, with stage 3's loss, weight targets, schedule and budget.
It screens composer and weight-target ideas on the mixed-caption catalogue (which balance each caption kind
needs) before the expensive side-by-side runs of ``benchmarks/accuracy/bench_accuracy.py``; what it cannot show is how
the ideas interact with fine-tuned encoders, so its findings are leads, and the accuracy benchmark decides.

Variants: ``NAME=COMPOSER[:key=value,...]``, or one of ``PRESETS``. Keys: ``residual`` (free | text), ``gate``
(modality | dimension),
``target`` (none | modality | balance), ``weight`` (weight-loss factor), ``temperature``, ``negatives``
(references: the weight target also ranks against the batch's reference images).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Sequence

import torch

from cti_ir.files import write_json_atomic

from benchmarks.accuracy.accuracy_kinds import KIND_ORDER
from benchmarks.common import error, write_report

PRESETS = {
    "sum": "sum", "combiner": "combiner",
    "free-none": "adaptive:residual=free,target=none",
    "free-modality": "adaptive:residual=free,target=modality,weight=0.1",
    "free-balance": "adaptive:residual=free,target=balance,weight=0.1",
    "text-none": "adaptive:residual=text,target=none",
    "text-modality": "adaptive:residual=text,target=modality,weight=0.1",
    "text-balance": "adaptive:residual=text,target=balance,weight=0.1",
    "text-balance-hard": "adaptive:residual=text,target=balance,weight=0.1,negatives=references",
    "combiner-balance": "combiner:target=balance,weight=0.1",
    "text-dimension-balance": "adaptive:residual=text,gate=dimension,target=balance,weight=0.1",
}


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``NAME=COMPOSER:k=v,...`` or a preset name -> (name, composer, options)."""
    name, _, spec = text.partition("=") if "=" in text.split(":")[0] else (text, "", PRESETS.get(text, ""))
    if not spec:
        raise ValueError(f"unknown variant {text!r}: use a preset ({', '.join(PRESETS)}) or NAME=COMPOSER:k=v,...")
    composer, _, opts = spec.partition(":")
    options = dict(kv.split("=", 1) for kv in opts.split(",") if kv)
    return name, composer, options


def encode_features(checkpoint: str, data: Path, cache: Path, threads: int | None) -> dict:
    """Frozen features of every training triplet (all caption variants) and of every evaluation split."""
    if cache.is_file():
        return torch.load(cache, weights_only=True)
    import cti_ir
    from cti_ir.data import open_benchmark
    from cti_ir.data.caption_kinds import query_kinds, read_caption_kinds
    from cti_ir.evaluate.evaluator import encode_images, encode_texts, rank_split
    from training.examples import caption_variants

    if threads:
        torch.set_num_threads(threads)
    model = cti_ir.load(checkpoint)
    out: dict = {"logit_scale": float(model.logit_scale.detach()), "train": {}, "eval": {}}
    for name in ("fashioniq", "shoes"):
        bench = open_benchmark(name, data / name)
        triplets = [t for t in bench.triplets("train") if t.target is not None]
        ids = sorted({t.reference for t in triplets} | {t.target for t in triplets})
        row = {i: n for n, i in enumerate(ids)}
        images = encode_images(model, ids, bench.image_path, desc=f"{name} train images")
        variants = [caption_variants(t.captions) for t in triplets]
        width = max(len(v) for v in variants)
        texts = [v[i % len(v)] for v in variants for i in range(width)]
        text_features = encode_texts(model, texts).reshape(len(triplets), width, -1)
        out["train"][name] = {"reference": images[[row[t.reference] for t in triplets]],
                              "target": images[[row[t.target] for t in triplets]], "text": text_features,
                              "n_variants": torch.tensor([len(v) for v in variants])}
        kind_map = read_caption_kinds(bench.root)
        splits = []
        for split in bench.eval_splits():
            o = rank_split(model, split, bench.image_path)
            splits.append({"name": split.name, "reference": o.reference_features, "text": o.text_features,
                           "gallery": o.gallery, "target_index": o.target_index,
                           "kinds": query_kinds(split, kind_map)})
        out["eval"][name] = splits
    torch.save(out, cache)
    return out


def train_composer(features: dict, composer: str, options: dict, seed: int, epochs: int, lr: float,
                   batch_size: int) -> tuple[torch.nn.Module, list[dict]]:
    """Stage 3's composer training on frozen features; returns the best-epoch composer and per-epoch results."""
    from cti_ir.model.composers import build_composer
    from cti_ir.model.losses import balance_weight_target, composed_retrieval_loss, modality_weight_loss, \
        modality_weight_target

    torch.manual_seed(seed)
    train = features["train"]
    ref = torch.cat([train[n]["reference"] for n in train])
    tgt = torch.cat([train[n]["target"] for n in train])
    width = max(train[n]["text"].shape[1] for n in train)
    txt = torch.cat([torch.nn.functional.pad(train[n]["text"], (0, 0, 0, width - train[n]["text"].shape[1]))
                     for n in train])
    n_var = torch.cat([train[n]["n_variants"] for n in train])
    kwargs = {k: options[k] for k in ("residual", "gate") if composer == "adaptive" and k in options}
    module = build_composer(composer, ref.shape[1], **kwargs)
    params = [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.05) if params else None
    scale = torch.tensor(features["logit_scale"])
    steps_per_epoch = math.ceil(len(ref) / batch_size)
    total, warmup = epochs * steps_per_epoch, 50
    target_kind, weight = options.get("target", "none"), float(options.get("weight", 0.1))
    temperature = float(options.get("temperature", 1.0))
    generator = torch.Generator().manual_seed(seed)
    history, best, best_state, step = [], -1.0, None, 0
    for epoch in range(epochs):
        module.train()
        order = torch.randperm(len(ref), generator=generator)
        for start in range(0, len(ref), batch_size):
            idx = order[start:start + batch_size]
            variant = (torch.rand(len(idx), generator=generator) * n_var[idx]).long()
            r, t, x = ref[idx], tgt[idx], txt[idx, variant]
            if opt is None:
                break
            for group in opt.param_groups:  # warm-up, then cosine, as the training loop does
                group["lr"] = lr * (step + 1) / warmup if step < warmup else \
                    lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))
            out = module(r, x)
            loss = composed_retrieval_loss(out.query, t, scale)
            if target_kind != "none" and out.weight_logits is not None:
                if target_kind == "balance":
                    target = balance_weight_target(r, x, t, scale, temperature, residual=out.residual,
                                                   residual_mode=getattr(module, "residual_mode", "free"),
                                                   hard_negatives=r if options.get("negatives") == "references" else None)
                else:
                    target = modality_weight_target(r, x, t, scale, temperature)
                loss = loss + weight * modality_weight_loss(out.weight_logits, target)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
        result = evaluate_composer(module, features)
        history.append(result)
        if result["overall"] > best:
            best, best_state = result["overall"], {k: v.clone() for k, v in module.state_dict().items()}
    if best_state is not None:
        module.load_state_dict(best_state)
    return module, history


@torch.no_grad()
def evaluate_composer(module, features: dict) -> dict:
    """Per layout and per kind scores of a composer on the cached evaluation features (standard protocol)."""
    from cti_ir.evaluate.evaluator import RECALL_KS, SplitOutcome, target_ranks
    from cti_ir.evaluate.by_kind import analyse_outcomes

    module.eval()
    result: dict = {"layouts": {}}
    for name, splits in features["eval"].items():
        outcomes, kinds = [], []
        for s in splits:
            out = module(s["reference"], s["text"])
            outcomes.append(SplitOutcome(target_ranks(out.query, s["gallery"], s["target_index"]),
                                         out.image_weight.reshape(-1), s["reference"], s["text"], s["gallery"],
                                         s["target_index"]))
            kinds += s["kinds"]
        ks = RECALL_KS[name]
        per_split = [sum(float((o.ranks < k).float().mean()) * 100 for k in ks) / len(ks) for o in outcomes]
        analysis = analyse_outcomes(outcomes, ks, kinds, None)
        result["layouts"][name] = {"score": sum(per_split) / len(per_split), "by_kind": analysis["by_kind"]}
    result["overall"] = sum(r["score"] for r in result["layouts"].values()) / len(result["layouts"])
    kinds = sorted({k for r in result["layouts"].values() for k in r["by_kind"]})
    result["kinds"] = {k: sum(r["by_kind"][k]["score"] for r in result["layouts"].values() if k in r["by_kind"])
                       / sum(k in r["by_kind"] for r in result["layouts"].values()) for k in kinds}
    result["image_weight"] = {k: sum(r["by_kind"][k].get("image_weight", 0.0) for r in result["layouts"].values()
                                     if k in r["by_kind"]) / sum(k in r["by_kind"] for r in result["layouts"].values())
                              for k in kinds}
    return result


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.accuracy.bench_weighting", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint whose encoders are frozen (e.g. a stage-2 best)")
    p.add_argument("--data", required=True, type=Path, help="generated catalogue with caption kinds")
    p.add_argument("--work", required=True, type=Path, help="folder for the feature cache and the results")
    p.add_argument("--variants", nargs="+", default=list(PRESETS), help="presets or NAME=COMPOSER:k=v,... (docstring)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="composer seeds")
    p.add_argument("--epochs", type=int, default=5, help="passes over the training triplets (stage 3's budget)")
    p.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (stage 3's)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (stage 3's)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--results", default="weighting", help="results go to WORK/RESULTS.json and .md")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Encode once, train every variant and seed not yet in the results, tabulate; WORK/RESULTS.json and .md."""
    args = build_parser().parse_args(argv)
    try:
        variants = [parse_variant(v) for v in args.variants]
    except ValueError as e:
        return error(str(e))
    if args.threads:
        torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    features = encode_features(args.checkpoint, args.data, args.work / "features.pt", args.threads)
    results_path = args.work / f"{args.results}.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for name, composer, options in variants:
        for seed in args.seeds:
            key = f"{name}/seed{seed}"
            if key in results:
                continue
            t0 = time.time()
            _, history = train_composer(features, composer, options, seed, args.epochs, args.lr, args.batch_size)
            best = max(history, key=lambda r: r["overall"])
            results[key] = {"variant": name, "composer": composer, "options": options, "seed": seed, "best": best,
                            "epochs": [h["overall"] for h in history], "seconds": round(time.time() - t0, 1)}
            write_json_atomic(results_path, results)
            print(f"{key}: {best['overall']:.2f} " + " ".join(f"{k} {v:.1f}" for k, v in best["kinds"].items()),
                  file=sys.stderr)
    write_report(args.work / args.results, results, format_table(results, [v[0] for v in variants]))
    return 0


def format_table(results: dict, names: Sequence[str]) -> str:
    """Mean over seeds: overall, per kind, and the image weight per kind."""
    from statistics import mean, stdev

    kinds = list(KIND_ORDER)
    lines = ["| variant | seeds | overall | " + " | ".join(kinds) + " | image weight (" + ", ".join(k[:3] for k in kinds)
             + ") |", "|---" * (len(kinds) + 4) + "|"]
    for name in names:
        runs = [r for r in results.values() if r["variant"] == name]
        if not runs:
            continue
        overall = [r["best"]["overall"] for r in runs]
        spread = f" ± {stdev(overall):.2f}" if len(overall) > 1 else ""
        cells = [f"{mean(r['best']['kinds'].get(k, float('nan')) for r in runs):.2f}" for k in kinds]
        weights = ", ".join(f"{mean(r['best']['image_weight'].get(k, float('nan')) for r in runs):.2f}" for k in kinds)
        lines.append(f"| {name} | {len(runs)} | {mean(overall):.2f}{spread} | " + " | ".join(cells) + f" | {weights} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
