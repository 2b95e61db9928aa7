"""Stage 3: hybrid-modality fine-tuning on (reference image, modification text, target image) triplets.

    python -m training.stage3 --data fashioniq=data/fashioniq --data shoes=data/shoes \\
        --init runs/stage2/best --composer adaptive --out runs/stage3

The composed query of each triplet is scored against every target of the (global) batch with a cross-entropy
loss. With the adaptive composer, its predicted modality weights are also pulled towards a self-supervised target
(``--weight-loss``): which of the reference image alone and the text alone ranks the target higher among the
batch's targets (see ``cti_ir.model.losses.modality_weight_target``). Validation is Recall@K under the standard
protocol of each dataset, each epoch; the best checkpoint is kept.

Without triplets, ``--data pairs=products.jsonl`` trains on pairs mined from a shop's product photos and
descriptions (``training.zeroshot.pair_source``): its per-epoch check is Recall@10 on pairs mined among held-out
products, so no benchmark is read.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

import torch
import torch.nn.functional as F

from cti_ir.model.composers import COMPOSER_NAMES, compose_weighted
from cti_ir.data import open_benchmark
from cti_ir.evaluate.evaluator import evaluate
from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, SHARE
from cti_ir.model.losses import (
    balance_weight_target,
    composed_retrieval_loss,
    modality_weight_loss,
    modality_weight_target,
)

from training.common import HelpWithDefaults, add_loop_args, add_model_args, run
from training.examples import TripletExamples, caption_variants, stack_collate
from training.phrasing_augment import PhrasingConsistency, add_phrasing_args, build_wording, check_phrasing_args
from training.loop import StageModule
from training.zeroshot.pair_source import MinedPairSource
from training.zeroshot.pairs_setup import add_mining_args


WEIGHT_TARGETS = ("modality", "balance")


class HybridQueryModule(StageModule):
    """Composed-query contrastive loss + ``weight_loss`` x KL to the self-supervised modality-weight target.

    ``weight_target``: ``modality`` (which modality *alone* ranks the target higher among the batch's targets,
    :func:`cti_ir.model.losses.modality_weight_target`) or ``balance`` (which image weight of the composer's own query
    ranks it best, :func:`cti_ir.model.losses.balance_weight_target`); ``hard_negatives`` adds the batch's reference
    images to the candidates the target is computed against.
    """

    def __init__(self, model, weight_loss: float, weight_temperature: float, weight_target: str = "modality",
                 hard_negatives: bool = False, combiner_target: bool = False, target_queue: int = 0,
                 forcing: float = 0.0):
        super().__init__(model)
        self.weight_loss, self.weight_temperature = weight_loss, weight_temperature
        self.weight_target, self.hard_negatives = weight_target, hard_negatives
        self.combiner_target, self.forcing = combiner_target, forcing
        # Earlier batches' targets (detached) that the balance target also ranks against; buffers, so a resumed run
        # continues with the same queue.
        self.register_buffer("target_queue", torch.zeros(target_queue, model.embed_dim))
        self.register_buffer("queue_size", torch.zeros((), dtype=torch.long))
        self.register_buffer("queue_next", torch.zeros((), dtype=torch.long))
        self.phrasing: PhrasingConsistency | None = None  # --phrasing-consistency (set by the task)

    def _enqueue(self, targets: torch.Tensor) -> None:
        capacity = self.target_queue.shape[0]
        if capacity == 0:
            return
        targets = targets.detach()[-capacity:].to(self.target_queue.dtype)
        rows = (self.queue_next + torch.arange(len(targets), device=targets.device)) % capacity
        self.target_queue[rows] = targets
        self.queue_next.copy_((self.queue_next + len(targets)) % capacity)
        self.queue_size.copy_(torch.clamp(self.queue_size + len(targets), max=capacity))

    def forward(self, batch, gather):
        n = batch["reference"].shape[0]
        images = self.model.encode_images(torch.cat([batch["reference"], batch["target"]]))
        ref, tgt = images[:n], images[n:]
        txt = self.model.encode_tokens(batch["tokens"])
        out = self.model.compose(ref, txt)
        scale = self.model.logit_scale
        target = None
        if self.weight_loss > 0 and out.weight_logits is not None and self.targets_composer():
            if self.weight_target == "balance":
                target = balance_weight_target(
                    ref, txt, tgt, scale, self.weight_temperature, gather, residual=out.residual,
                    residual_mode=getattr(self.model.composer, "residual_mode", "free"),
                    hard_negatives=ref if self.hard_negatives else None,
                    extra_candidates=self.target_queue[: int(self.queue_size)])
                self._enqueue(gather(tgt.detach())[0])
            else:
                target = modality_weight_target(ref, txt, tgt, scale, self.weight_temperature, gather)
        query = out.query
        if self.forcing > 0 and target is not None and out.residual is not None:
            # Teacher forcing: a share of the queries is composed at the target's weights, so the residual learns
            # to compose at the balance a query needs rather than around the weight head's current guess.
            forced = torch.rand(n, device=ref.device) < self.forcing
            wi = torch.where(forced, target[:, 0].to(out.image_weight.dtype), out.image_weight)
            query = F.normalize(compose_weighted(ref, txt, out.residual, wi, 1.0 - wi,
                                                 getattr(self.model.composer, "residual_mode", "free")), dim=-1)
        loss = composed_retrieval_loss(query, tgt, scale, gather)
        logs = {"retrieval_loss": loss.detach(), "image_weight": out.image_weight.detach().mean()}
        if target is not None:
            w_loss = modality_weight_loss(out.weight_logits, target)
            loss = loss + self.weight_loss * w_loss
            logs.update(weight_loss=w_loss.detach(), target_image_weight=target[:, 0].mean())
        if self.phrasing is not None:  # a second wording of each modification (training.phrasing_augment)
            loss, logs = self.phrasing.add_loss(self, batch, ref, tgt, query, loss, logs, gather)
        return loss, logs

    def targets_composer(self) -> bool:
        """The adaptive composer gets the weight target; the Combiner's lambda only with ``combiner_target``."""
        return self.model.composer_name == "adaptive" or self.combiner_target


class HybridQueryTask:
    name = "stage3"

    def __init__(self, model, benchmarks: dict, seed: int, weight_loss: float, weight_temperature: float,
                 eval_batch_size: int, augment: bool, skip_missing: bool, eval_workers: int = 0,
                 weight_target: str = "modality", hard_negatives: bool = False, combiner_target: bool = False,
                 target_queue: int = 0, forcing: float = 0.0, wording=None, consistency: float = 0.0):
        triplets, owner = [], []
        for name, bench in benchmarks.items():
            ts = bench.triplets("train", check=True, skip_missing=skip_missing)
            triplets += ts
            owner += [name] * len(ts)
        if not triplets:
            raise ValueError("no training triplets found in the --data folders")
        by_triplet = {id(t): o for t, o in zip(triplets, owner)}
        self.benchmarks = benchmarks
        self.dataset = TripletExamples(triplets, lambda t, image_id: benchmarks[by_triplet[id(t)]].image_path(image_id),
                                       model.preprocess, model.tokenizer, seed, augment, wording=wording)
        self.consistency = consistency
        self.collate = stack_collate
        self.weight_loss, self.weight_temperature = weight_loss, weight_temperature
        self.weight_target, self.hard_negatives = weight_target, hard_negatives
        self.combiner_target, self.target_queue, self.forcing = combiner_target, target_queue, forcing
        self.eval_batch_size = eval_batch_size
        # --skip-missing holds for the epoch-end evaluation too: dead Fashion-IQ links are in val as well as train,
        # and an evaluation that stops on them would end the run after its first epoch.
        self.skip_missing = skip_missing
        # The galleries are decoded by as many processes as the training data (--workers): on real data a single
        # process would take minutes per evaluation (20k images).
        self.eval_workers = eval_workers

    def build_module(self, model):
        module = HybridQueryModule(model, self.weight_loss, self.weight_temperature, self.weight_target,
                                   self.hard_negatives, self.combiner_target, self.target_queue, self.forcing)
        if self.consistency > 0:
            module.phrasing = PhrasingConsistency(self.consistency)
        return module

    def evaluate(self, model):
        was_training = model.training
        results = {}
        for name, bench in self.benchmarks.items():
            if isinstance(bench, MinedPairSource):  # held-out mined pairs, not a benchmark's triplets
                results[name] = bench.evaluate(model, self.eval_batch_size, self.eval_workers, self.skip_missing)
            else:
                results[name] = evaluate(model, name, bench.root, batch_size=self.eval_batch_size, progress=False,
                                         skip_missing=self.skip_missing, num_workers=self.eval_workers)
        model.train(was_training)
        out = {f"{name}_score": r["score"] for name, r in results.items()}
        out["details"] = results
        out["score"] = sum(r["score"] for r in results.values()) / len(results)
        return out

    def checkpoint_files(self):
        return {}

    def training_texts(self):
        """Every caption of the training triplets, joined as the examples join them, and, with
        ``--phrasing-augment``, every style of the shopper's wording for each triplet."""
        triplets = self.dataset.triplets
        for t in triplets:
            yield from caption_variants(t.captions)
        if self.dataset.wording is not None:
            yield from self.dataset.wording.rewrites(triplets)


#: What ``--data`` takes: the two published layouts (a folder each) and mined pairs (product JSONL files).
DATA_KINDS = ("fashioniq", "shoes", "pairs")


def parse_data(values: list[str]) -> dict[str, list[str]]:
    """``["fashioniq=DIR", "pairs=A.jsonl", "pairs=B.jsonl"]`` -> ``{"fashioniq": ["DIR"], "pairs": ["A.jsonl",
    "B.jsonl"]}``; pairs files pool into one source, a layout given twice is an error."""
    out: dict[str, list[str]] = {}
    for v in values:
        name, sep, root = v.partition("=")
        if not sep or name not in DATA_KINDS or not root:
            raise ValueError(f"--data expects fashioniq=DIR, shoes=DIR or pairs=FILE, got {v!r}")
        if name != "pairs" and name in out:
            raise ValueError(f"--data {name}= is given twice ({out[name][0]} and {root}); give each layout once")
        out.setdefault(name, []).append(root)
    return out


#: The allowed values of stage 3's own numeric flags (the loop's are in training.common.LOOP_BOUNDS).
STAGE3_BOUNDS = {"eval_batch_size": AT_LEAST_ONE, "weight_loss": NON_NEGATIVE, "weight_temperature": POSITIVE,
                 "target_queue": NON_NEGATIVE, "weight_forcing": SHARE, "phrasing_augment": SHARE,
                 "phrasing_consistency": NON_NEGATIVE, "phrasing_focus": SHARE, "max_changes": AT_LEAST_ONE,
                 "pairs_per_product": AT_LEAST_ONE, "check_size": AT_LEAST_ONE}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.stage3", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    g = p.add_argument_group("data")
    g.add_argument("--data", action="append", required=True,
                   help="triplet dataset as fashioniq=DIR or shoes=DIR, DIR in the published layout, or pairs=FILE: "
                        "a shop's products (JSONL rows with 'file_name', the photo relative to the file, and a "
                        "description), whose pairs that differ in 1 to --max-changes facets train like triplets "
                        "(repeatable: all of them train one model)")
    g.add_argument("--no-augment", dest="augment", action="store_false",
                   help="always train on 'c1 and c2' instead of sampling among 'c1 and c2', 'c2 and c1', c1, c2")
    g.add_argument("--skip-missing", action="store_true",
                   help="leave out triplets whose images are missing or unreadable (counted) instead of stopping")
    g.add_argument("--eval-batch-size", type=int, default=256, help="images per batch when encoding galleries")
    c = p.add_argument_group("query composer")
    c.add_argument("--composer", default="adaptive", choices=COMPOSER_NAMES,
                   help="adaptive (ours), or a baseline: combiner (CLIP4Cir), sum, image (image only), text")
    c.add_argument("--init-composer", action="store_true",
                   help="keep the --init checkpoint's trained composer (continuing a stage-3 model) instead of "
                        "starting a fresh one")
    # 0.1, not 1: at 1 the target pulled the weights harder than retrieval wanted and cost ~0.6 points in the
    # accuracy benchmark (worse on each of five seeds; README, Benchmarks).
    c.add_argument("--weight-loss", type=float, default=0.1,
                   help="weight of the self-supervised modality-weight loss (adaptive only; 0 = the ablation "
                        "without the self-supervised target)")
    c.add_argument("--weight-temperature", type=float, default=1.0,
                   help="temperature softening the self-supervised weight target (higher = closer to 50/50)")
    c.add_argument("--weight-target", default="modality", choices=WEIGHT_TARGETS,
                   help="self-supervised weight target: modality (which of the image alone and the text alone ranks "
                        "the target higher among the batch's targets) or balance (which image weight of the "
                        "composer's own query ranks it best, searched over 11 weights)")
    c.add_argument("--target-hard-negatives", action="store_true",
                   help="compute the weight target against the batch's reference images too, not only its targets")
    c.add_argument("--target-queue", type=int, default=0,
                   help="balance target only: also rank against this many targets of earlier batches (a queue of "
                        "detached features, closer to a gallery's difficulty than one batch); 0 = the batch only")
    c.add_argument("--weight-forcing", type=float, default=0.0, metavar="SHARE",
                   help="teacher forcing: compose this share of the training queries at the weight target's weights "
                        "instead of the predicted ones (adaptive, one weight per query), so the residual learns at "
                        "the balance each query needs; 0 = off")
    c.add_argument("--gate", default="modality", choices=("modality", "dimension"),
                   help="adaptive only: one image weight per query (modality) or one per embedding dimension around "
                        "it (dimension: keep some of the reference's features, take others from the text)")
    c.add_argument("--combiner-weight-target", action="store_true",
                   help="also put the self-supervised weight target on the Combiner's lambda (by default only the "
                        "adaptive composer gets it, and the Combiner is CLIP4Cir's)")
    c.add_argument("--residual", default="free", choices=("free", "text", "none"),
                   help="adaptive only: where the residual acts. free: w_img * image + w_txt * text + residual; "
                        "text: w_img * image + w_txt * (text + residual), so the weights scale the whole "
                        "modification; none: w_img * image + w_txt * text, the weights are the whole composer")
    m = p.add_argument_group("mined pairs (--data pairs=FILE)")
    m.add_argument("--text-column", default="text", help="column of a product row holding its description")
    m.add_argument("--split-column", default="split",
                   help="column naming a product's split; products of --val-split are held out for the per-epoch "
                        "check (a file without the column holds out one product in ten, by a hash of its photo name)")
    m.add_argument("--train-split", default="train", help="value of --split-column to train on (rows without it too)")
    m.add_argument("--val-split", default="val", help="value of --split-column held out for the per-epoch check")
    m.add_argument("--check-size", type=int, default=2000,
                   help="at most this many held-out pairs in the per-epoch check (R@10 among their photos)")
    add_mining_args(m, per_product=2)
    add_phrasing_args(p)
    add_model_args(p)
    add_loop_args(p, epochs=10, batch_size=64, lr=2e-4)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    benchmarks = {}

    def load_data():  # before the model: missing folders, annotations or images are reported at once
        for name, roots in parse_data(args.data).items():
            if name == "pairs":
                benchmarks[name] = MinedPairSource(
                    roots, args.seed, args.max_changes, args.pairs_per_product, args.text_column,
                    args.category_column, args.split_column, args.train_split, args.val_split, args.check_size)
                print(f"[stage3] {benchmarks[name].describe()}", file=sys.stderr)
            else:
                benchmarks[name] = open_benchmark(name, roots[0])
        for name, bench in benchmarks.items():
            if not bench.triplets("train", check=True, skip_missing=args.skip_missing):
                raise ValueError(f"{bench.root} has no training triplets for --data {name}")

    def build_task(model, info):
        return HybridQueryTask(model, benchmarks, args.seed, args.weight_loss, args.weight_temperature,
                               args.eval_batch_size, args.augment, args.skip_missing, eval_workers=args.workers,
                               weight_target=args.weight_target, hard_negatives=args.target_hard_negatives,
                               combiner_target=args.combiner_weight_target, target_queue=args.target_queue,
                               forcing=args.weight_forcing, consistency=args.phrasing_consistency,
                               wording=build_wording(args, {n: b.root for n, b in benchmarks.items()
                                                            if not isinstance(b, MinedPairSource)}))

    try:
        kinds = parse_data(args.data)
        check_phrasing_args(args)
        if args.phrasing_augment > 0 and set(kinds) == {"pairs"}:
            raise ValueError("--phrasing-augment rewrites a generated catalogue's triplets from its attribute "
                             "records; --data pairs= has none: leave it out, or add a fashioniq= or shoes= folder")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    composer_kwargs = {}
    if args.composer == "adaptive":  # only what differs from the composer's defaults, so old configs read the same
        composer_kwargs.update({"residual": args.residual} if args.residual != "free" else {})
        composer_kwargs.update({"gate": args.gate} if args.gate != "modality" else {})
    return run(args, build_task, composer=args.composer, composer_kwargs=composer_kwargs, load_data=load_data,
               bounds=STAGE3_BOUNDS)


if __name__ == "__main__":
    sys.exit(main())
