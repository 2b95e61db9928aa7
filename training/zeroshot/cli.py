"""Composed search without triplets: train a pseudo-token composer on a checkpoint's frozen encoders.

    python -m training.zeroshot --init demo_model \\
        --texts data/fashioniq/product_descriptions.jsonl --texts data/shoes/product_descriptions.jsonl \\
        --out runs/zeroshot

The output (``OUT/best``, ``OUT/last``) is an ordinary checkpoint: the --init checkpoint's encoders, unchanged,
with a ``pseudo-token`` composer (``cti_ir.model.zeroshot``), so the index, evaluation, the search page and the
JSON API use it as they use any other. Training material: texts (self-masking, after LinCIR: product
descriptions, captions, any text corpus) and/or unlabeled images (after Pic2Word). No triplet is read. The
per-epoch check (which keeps ``best/``) asks each held-out text (the corpus rows of --val-split; the first
training texts when there are none) and each of the first training images to find itself through its
pseudo-token; it never looks at a benchmark.

With ``--pairs`` (a shop's product photos with their descriptions) it trains an ordinary composer (``--composer``,
the adaptive one by default) instead, on pairs of products whose descriptions differ in one or two facets, the
change written from the difference (``training.zeroshot.pairs``): still no triplet, only the shop's own material.

    python -m training.zeroshot --init demo_model --pairs data/fashioniq/product_descriptions.jsonl \\
        --pairs data/shoes/product_descriptions.jsonl --out runs/zeroshot-pairs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

import torch

from cti_ir.flags import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Bounds
from cti_ir.model.backbone import Backbone
from cti_ir.model.checkpoint import load_checkpoint
from cti_ir.model.cir_model import CIRModel
from cti_ir.model.zeroshot import (
    DEFAULT_TEMPLATE,
    DEFAULT_TEMPLATES,
    check_template,
    token_embedding_module,
)
from training.common import HelpWithDefaults, add_loop_args, run
from training.zeroshot.corpus import CorpusError, read_images, read_texts
from training.zeroshot.pairs_setup import add_pairs_args, load_pairs, pairs_model, pairs_task
from training.zeroshot.task import ZeroShotTask, embed_texts, say

#: The allowed values of this trainer's own numeric flags (the loop's are in training.common.LOOP_BOUNDS).
ZEROSHOT_BOUNDS: dict[str, Bounds] = {
    "mask_share": Bounds(0, 1, low_open=True), "noise": NON_NEGATIVE, "temperature": POSITIVE,
    "hidden_dim": AT_LEAST_ONE, "dropout": Bounds(0, 1, high_open=True), "sum_weight": NON_NEGATIVE,
    "check_size": AT_LEAST_ONE, "encode_batch_size": AT_LEAST_ONE, "max_changes": AT_LEAST_ONE,
    "pairs_per_product": AT_LEAST_ONE,
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.zeroshot", description=__doc__.split("\n\n")[0],
                                formatter_class=HelpWithDefaults)
    p.add_argument("--init", required=True,
                   help="checkpoint whose encoders are used, frozen: a stage 2 or 3 checkpoint, or one exported "
                        "from any open_clip model by python -m cti_ir.model.export")
    g = p.add_argument_group("training material (no triplets)")
    g.add_argument("--texts", action="append", default=[],
                   help="text corpus (repeatable): JSONL or CSV with a text column, JSON (a list of texts or of "
                        "objects), or plain text with one text per line")
    g.add_argument("--images", action="append", default=[],
                   help="unlabeled images (repeatable): a folder, or a JSONL file whose rows name their image in "
                        "'file_name' (relative to the file's folder)")
    g.add_argument("--text-column", default="text", help="column of JSONL, JSON and CSV corpora holding the text")
    g.add_argument("--split-column", default="split",
                   help="column naming a row's split; rows of other splits are left out (rows without it train)")
    g.add_argument("--train-split", default="train", help="value of --split-column to train on")
    g.add_argument("--val-split", default="val",
                   help="value of --split-column whose texts are held out for the per-epoch check")
    g.add_argument("--check-size", type=int, default=2000,
                   help="at most this many texts, and as many images, in the per-epoch check (the first ones)")
    g.add_argument("--encode-batch-size", type=int, default=256,
                   help="texts or images per batch when the frozen encoders embed the material once")
    add_pairs_args(g, p)
    c = p.add_argument_group("pseudo-token composer (--texts, --images)")
    c.add_argument("--template", action="append", default=None,
                   help="query prompt (repeatable: a query is the mean of its prompts' embeddings): '*' is where "
                        "the reference image's pseudo-token goes, '{}' the modification text, and images train on "
                        "the first prompt's part up to '*' (when not given: the six generic prompts of "
                        "cti_ir.model.zeroshot.DEFAULT_TEMPLATES, Pic2Word's and LinCIR's "
                        f"'{DEFAULT_TEMPLATE}' first)")
    c.add_argument("--hidden-dim", type=int, default=None,
                   help="width of the projection's hidden layers (default: 4 x the embedding dimension)")
    c.add_argument("--dropout", type=float, default=0.1, help="dropout in the projection while training")
    c.add_argument("--sum-weight", type=float, default=1.0,
                   help="at query time, add this much of the plain image + text sum to the prompt's embedding "
                        "(0: the prompt alone)")
    o = p.add_argument_group("objective")
    o.add_argument("--mask-share", type=float, default=0.5,
                   help="share of a text's keywords replaced by the pseudo-token (at least one per text)")
    o.add_argument("--noise", type=float, default=1.0,
                   help="scale of the Gaussian noise added to a text's embedding before the projection (a random "
                        "share of it per example), so the projection also serves image embeddings; 0 = none")
    o.add_argument("--temperature", type=float, default=0.05, help="temperature of the in-batch contrastive loss")
    add_loop_args(p, epochs=3, batch_size=128, lr=1e-3)
    p.set_defaults(model=None, pretrained=None)  # the model is always --init's (training.common reads these)
    return p


def composer_kwargs(args: argparse.Namespace, token_dim: int) -> dict:
    """What the checkpoint records about the composer (defaults left out, so configs read the same later)."""
    kwargs = {"token_dim": token_dim, "sum_weight": args.sum_weight}
    if len(args.template) == 1:
        kwargs["template"] = args.template[0]
    else:
        kwargs["templates"] = list(args.template)
    if args.hidden_dim is not None:
        kwargs["hidden_dim"] = args.hidden_dim
    if args.dropout != 0.1:
        kwargs["dropout"] = args.dropout
    return kwargs


def pseudo_token_model(init: str, args: argparse.Namespace) -> tuple[CIRModel, CIRModel]:
    """(the model to train, the --init model): --init's encoders with a fresh pseudo-token composer."""
    base = load_checkpoint(init, new_composer=("sum", {}))
    layer = token_embedding_module(base.backbone)
    if layer is None:
        raise ValueError(f"{init} has no text tower with token embeddings (a pseudo-token needs one to be read "
                         f"by); use a checkpoint of a dual image-text encoder")
    torch.manual_seed(args.seed)
    backbone = Backbone(base.backbone, base.preprocess, base.tokenizer, base.model_cfg, base.preprocess_cfg)
    model = CIRModel(backbone, "pseudo-token", composer_kwargs(args, layer.embedding_dim))
    model.adapters = base.adapters  # an adapted checkpoint's image adapters stay (their hooks are in the tower)
    return model, base


def embed_images(base: CIRModel, items: list, out: Path, args: argparse.Namespace) -> torch.Tensor:
    """The frozen image tower's embeddings of the unlabeled images, kept on disk in OUT (a resumed run reads them)."""
    if not items:
        return torch.empty(0, base.embed_dim)
    from training.fit_embedding_map.embedding_cache import cached_embeddings

    vectors, _ = cached_embeddings(base, items, out / "image_embeddings", batch_size=args.encode_batch_size,
                                   workers=args.workers, progress=args.progress, desc="embed images")
    return torch.from_numpy(vectors)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.template = args.template or list(DEFAULT_TEMPLATES)
    data: dict = {}

    if args.pairs:
        return _train_on_pairs(args)

    def load_data():  # before the model: a wrong corpus is reported at once
        for template in args.template:
            check_template(template)
        if not args.texts and not args.images:
            raise ValueError("nothing to train on: give --texts (a text corpus) and/or --images (unlabeled images)")
        train = read_texts(args.texts, args.text_column, args.split_column, args.train_split)
        held_out = read_texts(args.texts, args.text_column, args.split_column, args.val_split, keep_unsplit=False)
        if args.texts and not train.texts:
            raise CorpusError(f"the text corpus is empty: no texts to train on in {', '.join(args.texts)}"
                              + (f" ({train.other_split} rows of other splits than {args.train_split!r})"
                                 if train.other_split else ""))
        images = [item for source in args.images for item in read_images(source, args.split_column, args.train_split)]
        say(f"{len(train.texts)} training texts" + (f" ({train.blank} blank left out)" if train.blank else "")
            + f", {len(held_out.texts)} held out, {len(images)} images")
        data.update(train=train.texts, held_out=held_out.texts, images=images)

    def make_model(info):
        model, base = pseudo_token_model(args.init, args)
        data["image_sources"] = embed_images(base.to(info.device), data["images"], Path(args.out), args)
        return model.to(info.device)

    def build_task(model, info):
        texts = data["train"]
        check = data["held_out"] or texts
        if not data["held_out"] and texts:
            say("no held-out texts (--val-split): the per-epoch check reads training texts")
        return ZeroShotTask(model, texts, embed_texts(model, texts, args.encode_batch_size), data["image_sources"],
                            check[:args.check_size], args.seed, args.mask_share, args.noise, args.temperature,
                            check_images=args.check_size)

    return run(args, build_task, make_model=make_model, load_data=load_data, bounds=ZEROSHOT_BOUNDS)


def _train_on_pairs(args: argparse.Namespace) -> int:
    """``--pairs``: an ordinary composer trained on pairs mined from the products' descriptions."""
    data: dict = {}

    def load_data():
        if args.texts or args.images:
            raise ValueError("--pairs trains an ordinary composer and --texts / --images the pseudo-token one: "
                             "give one kind of material per run")
        data.update(load_pairs(args))

    def make_model(info):
        return pairs_model(args, data, Path(args.out), info.device)

    return run(args, lambda model, info: pairs_task(model, data, args), make_model=make_model, load_data=load_data,
               bounds=ZEROSHOT_BOUNDS)


if __name__ == "__main__":
    sys.exit(main())
