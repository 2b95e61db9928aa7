"""The generator's ``--phrasing``: relative captions of a planned catalogue rewritten in a phrasing set's styles.

``train`` rewrites a share of the relative captions of every split with the training phrasings (so that a model
trained on the catalogue meets the shopper's words); ``heldout`` rewrites those of the evaluation splits only,
with the held-apart phrasings, and leaves the training split exactly as ``none`` writes it, so that no training
run on any catalogue ever sees a held-apart phrasing. Each rewritten caption names the same aspects as the one it
replaces (its claims), so the captions stay grounded and the provenance checks still hold; the provenance file
records, per caption, the template id (``null`` for a caption left as it was).

The rewriting draws from its own random stream, so the images, pools, pairs and the captions it leaves alone are
those of the catalogue without ``--phrasing``.
"""

from __future__ import annotations

import random
from typing import Mapping, Sequence

from data_prep.phrasing import paraphrase
from data_prep.synth_attributes import aspect_of, aspects

PHRASING_MODES = ("none", "train", "heldout")
# Share of the relative captions rewritten when --phrasing-share is not given: half in a training catalogue, so
# the catalogue's own captions stay as common as the new styles; all of them in a held-apart evaluation split.
DEFAULT_SHARES: Mapping[str, float] = {"train": 0.5, "heldout": 1.0}


def phrasing_share(mode: str, share: float | None) -> float:
    """The share of relative captions ``mode`` rewrites (``share`` if given); ``ValueError`` if out of [0, 1]."""
    if mode not in PHRASING_MODES:
        raise ValueError(f"unknown phrasing {mode!r}; choose one of {', '.join(PHRASING_MODES)}")
    if share is None:
        return DEFAULT_SHARES.get(mode, 0.0)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"the phrasing share must be between 0 and 1, got {share:g}")
    return share


def rewrites_split(mode: str, split: str) -> bool:
    """Whether ``mode`` rewrites the captions of ``split`` (held-apart phrasings never reach a training split)."""
    return mode == "train" or (mode == "heldout" and split != "train")


def apply_phrasing(triplets: Sequence, pairs: Sequence[tuple[dict, dict]], mode: str, share: float, split: str,
                   rng: random.Random) -> None:
    """Rewrite, in place, a ``share`` of the relative captions of ``triplets`` (one split) in ``mode``'s styles.

    ``pairs`` holds the (candidate, target) attributes of each triplet. Only relative captions are rewritten (a
    vague, partial-by-design or mistaken caption keeps its kind's wording); a rewritten triplet gets ``kind``
    "relative" and ``details["phrasing"]``, so the provenance file records the template of each caption.
    """
    if mode == "none" or not rewrites_split(mode, split):
        return
    for triplet, (candidate, target) in zip(triplets, pairs):
        if triplet.kind not in (None, "relative"):
            continue
        category = str(target["category"])
        templates: list[str | None] = []
        for i, claims in enumerate(triplet.claims):
            if rng.random() >= share or not claims:
                templates.append(None)
                continue
            named = {aspect_of(a, category) for a in claims}
            order = [a for a in aspects(category) if a in named]
            p = paraphrase(candidate, target, rng, mode, aspects=order)
            triplet.captions[i], triplet.claims[i] = p.text, list(p.claims)
            templates.append(p.template)
        if any(templates):
            triplet.kind = "relative"
            triplet.details = {**triplet.details, "phrasing": templates}
