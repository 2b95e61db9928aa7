"""Stage 3 in the shopper's own words: training modifications rewritten in the *training* phrasings.

``--phrasing-augment SHARE`` replaces that share of the training texts, drawn afresh for each example and epoch,
by the modification rewritten from the ground-truth attribute differences (``product_descriptions.jsonl`` of a
generated catalogue) in one of the styles of :mod:`data_prep.phrasing`'s training set: imperatives, wishes,
"X instead of Y", negation, comparatives, politeness, questions, misspellings, synonyms. The held-apart set is
never used here: it is what ``benchmarks/phrasing`` measures with.

``--phrasing-consistency W`` also phrases each modification a second time, composes both wordings with the same
reference image, and adds ``W`` x the symmetric KL divergence between the two queries' distributions over the
batch's targets (the second wording also gets its own retrieval loss, averaged with the first's): paraphrases of
one modification are pulled towards the same ranking, not only towards the target.

Only triplets whose captions are relative (every triplet of a relative catalogue; the ``relative`` ones of a
mixed catalogue, by its provenance file) are rewritten: a vague or mistaken caption's kind is part of what the
model must learn to weight.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F

from cti_ir.data import Triplet
from cti_ir.model.losses import composed_retrieval_loss
from data_prep.phrasing import STYLES, paraphrase
from data_prep.synth_attributes import differing_aspects

PHRASING_SET = "train"  # never "heldout": that set is for evaluation only
# Styles whose texts also name the reference's value ("black instead of beige"): a model that reads the words as a
# bag is pulled towards the old value by them, so --phrasing-focus can give them more of the training texts.
FOCUS_STYLES = ("contrastive", "negation")


def style_weights(focus: float | None) -> list[float]:
    """Sampling weight of each style of :data:`data_prep.phrasing.STYLES` (uniform when ``focus`` is None)."""
    if focus is None:
        return [1.0] * len(STYLES)
    others = len(STYLES) - len(FOCUS_STYLES)
    return [focus / len(FOCUS_STYLES) if s in FOCUS_STYLES else (1.0 - focus) / others for s in STYLES]


def add_phrasing_args(p: argparse.ArgumentParser) -> None:
    """The stage-3 flags of this module (group "phrasing")."""
    g = p.add_argument_group("phrasing (generated catalogues with ground-truth attributes only)")
    g.add_argument("--phrasing-augment", type=float, default=0.0, metavar="SHARE",
                   help="share of the training texts replaced by the modification rewritten in the training "
                        "phrasings (imperatives, wishes, 'X instead of Y', negation, ...; data_prep/phrasing), "
                        "drawn afresh each epoch; 0 = off")
    g.add_argument("--phrasing-focus", type=float, default=None, metavar="SHARE",
                   help="share of the rewritten texts in the styles that also name the reference's value "
                        "(contrastive: 'X instead of Y'; negation: 'not Y but X'), the hardest to read; the other "
                        "styles share the rest evenly (default: every style equally often)")
    g.add_argument("--phrasing-consistency", type=float, default=0.0, metavar="WEIGHT",
                   help="weight of a term pulling two wordings of one modification towards the same ranking of the "
                        "batch's targets (symmetric KL); the second wording also gets its own retrieval loss; 0 = off")


def check_phrasing_args(args: argparse.Namespace) -> None:
    """``ValueError`` with a sentence for values out of range."""
    if not 0.0 <= args.phrasing_augment <= 1.0:
        raise ValueError(f"--phrasing-augment is a share between 0 and 1, got {args.phrasing_augment:g}")
    if args.phrasing_focus is not None and not 0.0 <= args.phrasing_focus <= 1.0:
        raise ValueError(f"--phrasing-focus is a share between 0 and 1, got {args.phrasing_focus:g}")
    if args.phrasing_consistency < 0:
        raise ValueError(f"--phrasing-consistency must be >= 0, got {args.phrasing_consistency:g}")
    if args.phrasing_consistency > 0 and args.phrasing_augment == 0:
        raise ValueError("--phrasing-consistency needs --phrasing-augment above 0 (the second wording is a "
                         "training phrasing)")


def _read_attributes(root: Path) -> dict[str, dict]:
    path = root / "product_descriptions.jsonl"
    if not path.is_file():
        raise ValueError(f"--phrasing-augment needs ground-truth attributes, and {root} has no "
                         "product_descriptions.jsonl (only catalogues written by python -m data_prep.synth do)")
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if not isinstance(row.get("attributes"), dict):
                raise ValueError(f"--phrasing-augment needs ground-truth attributes, and {path} has rows without "
                                 "them (not a generated catalogue)")
            out[row["image_id"]] = {"category": row["category"], **row["attributes"]}
    return out


def _non_relative(root: Path) -> set[tuple[str, str]]:
    """(reference, target) of the triplets whose captions are of another kind than relative."""
    path = root / "caption_provenance.jsonl"
    if not path.is_file():
        return set()
    out = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("kind", "relative") != "relative":
                out.add((row["candidate"], row["target"]))
    return out


class PhrasingWording:
    """What the stage-3 examples ask for a triplet's text (``training.examples.TripletExamples(wording=...)``)."""

    def __init__(self, roots: Mapping[str, Path], share: float, pairs: bool = False, focus: float | None = None):
        self.share, self.pairs = share, pairs
        # None: paraphrase() draws the style itself (uniformly), as runs before --phrasing-focus did, so they repeat.
        self.weights = None if focus is None else style_weights(focus)
        self.attributes: dict[str, dict] = {}
        self.skip: set[tuple[str, str]] = set()
        for root in roots.values():
            self.attributes.update(_read_attributes(Path(root)))
            self.skip |= _non_relative(Path(root))

    def _rewrite(self, triplet: Triplet, rng: random.Random) -> str | None:
        ref, tgt = self.attributes.get(triplet.reference), self.attributes.get(triplet.target)
        if ref is None or tgt is None or (triplet.reference, triplet.target) in self.skip:
            return None
        if not differing_aspects(ref, tgt):
            return None
        style = None if self.weights is None else rng.choices(STYLES, weights=self.weights)[0]
        return paraphrase(ref, tgt, rng, PHRASING_SET, style).text

    def text(self, triplet: Triplet, default: str, rng: random.Random) -> str:
        """The example's text: ``default`` (the catalogue's caption variant) or, for a share, a rewritten one."""
        if rng.random() >= self.share:
            return default
        return self._rewrite(triplet, rng) or default

    def second(self, triplet: Triplet, first: str, rng: random.Random) -> str:
        """Another wording of the same modification (``first`` again where the triplet cannot be rewritten)."""
        return self._rewrite(triplet, rng) or first


    def rewrites(self, triplets: Sequence[Triplet], seed: int = 0) -> Iterator[str]:
        """Each triplet rewritten once in every style: the wording's words, for the model's record of them."""
        rng = random.Random(seed)
        for triplet in triplets:
            ref, tgt = self.attributes.get(triplet.reference), self.attributes.get(triplet.target)
            if ref is None or tgt is None or (triplet.reference, triplet.target) in self.skip:
                continue
            if differing_aspects(ref, tgt):
                yield from (paraphrase(ref, tgt, rng, PHRASING_SET, style).text for style in STYLES)


def build_wording(args: argparse.Namespace, roots: Mapping[str, Path]) -> PhrasingWording | None:
    """The wording hook for ``--phrasing-augment`` (None when off)."""
    check_phrasing_args(args)
    if args.phrasing_augment == 0:
        return None
    return PhrasingWording(roots, args.phrasing_augment, pairs=args.phrasing_consistency > 0,
                           focus=args.phrasing_focus)


class PhrasingConsistency:
    """The ``--phrasing-consistency`` term, added by stage 3's module when a batch carries ``tokens_alt``."""

    def __init__(self, weight: float):
        self.weight = weight

    def add_loss(self, module, batch: dict, ref: torch.Tensor, tgt: torch.Tensor, query: torch.Tensor,
                 loss: torch.Tensor, logs: dict, gather) -> tuple[torch.Tensor, dict]:
        """``loss`` with the second wording's retrieval loss averaged in and ``weight`` x the symmetric KL."""
        if self.weight <= 0 or "tokens_alt" not in batch:
            return loss, logs
        model = module.model
        alt = model.compose(ref, model.encode_tokens(batch["tokens_alt"])).query
        scale = model.logit_scale
        alt_loss = composed_retrieval_loss(alt, tgt, scale, gather)
        targets = gather(tgt)[0]
        log_p = F.log_softmax(scale * query @ targets.T, dim=-1)
        log_q = F.log_softmax(scale * alt @ targets.T, dim=-1)
        kl = 0.5 * (F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")
                    + F.kl_div(log_p, log_q, log_target=True, reduction="batchmean"))
        logs = {**logs, "alt_retrieval_loss": alt_loss.detach(), "consistency_kl": kl.detach()}
        return 0.5 * (loss + alt_loss) + self.weight * kl, logs
