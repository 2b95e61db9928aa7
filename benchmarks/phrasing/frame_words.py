"""Which words of the generator's *training* phrasings carry no facet? (the source of the reader's frame words)

    python -m benchmarks.phrasing.frame_words --data runs/bench/data --pairs 3000

Draws reference/target pairs from a generated catalogue's training split, phrases each change in every style of
the *training* phrasing set (never the held-apart one), reads it with :func:`cti_ir.index.facets.read_request`
against the reference's description, and, for the requests whose every change was read right (the target's
value allowed, the reference's not), counts the words no facet phrase covered. Those words carried nothing the
reader needed: the candidates for :data:`cti_ir.index.request_reading.FRAME_WORDS` (a person then strikes any
colour, material or style word). Also prints the share of training phrasings the reader rewrites.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import sys
from pathlib import Path

from benchmarks.phrasing.bench_paraphrase import read_attributes
from cti_ir.index.facets import mentions, read_description, read_request
from cti_ir.index.request_reading import read_request_text
from data_prep.phrasing import STYLES, paraphrase

# generator attribute -> facet slot
SLOT_OF = {"color": "colour", "secondary_color": "accent_colour", "pattern": "pattern", "sleeve": "sleeves",
           "neckline": "neckline", "length": "length", "fit": "fit", "type": "shoe_type", "heel": "heel",
           "finish": "finish", "closure": "closure"}


def read_right(asked, reference: dict, target: dict, claims) -> bool:
    """Whether every claimed change is in ``asked``: the target's value allowed, the reference's refused."""
    for attr in claims:
        if target.get(attr) is None:  # a pattern made solid loses its colour: nothing to read
            continue
        slot = SLOT_OF[attr]
        if slot not in asked or not asked[slot].accepts(target.get(attr)):
            return False
        old = reference.get(attr)
        if old is not None and old != target.get(attr) and asked[slot].accepts(old):
            return False
    return True


def phrased_pairs(root: Path, split: str, pairs: int, seed: int, phrasing_set: str = "train",
                  styles=STYLES):
    """Yield ``(category, reference attrs, target attrs, reference facets, style, paraphrase)`` for ``pairs``
    reference/target pairs of one category drawn from ``split`` of a generated layout folder, each change phrased in
    every style of ``phrasing_set`` (a pair a style cannot phrase is skipped for that style)."""
    attrs = read_attributes(root)
    texts = {}
    with open(root / "product_descriptions.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("split") == split:
                texts[row["image_id"]] = row["text"]
    by_cat = collections.defaultdict(list)
    for i in texts:
        by_cat[attrs[i]["category"]].append(i)
    by_cat = {c: ids for c, ids in by_cat.items() if len(ids) >= 2}
    if not by_cat:
        raise ValueError(f"{root} has no split {split!r} with two products of one category")
    rng = random.Random(seed)
    for _ in range(pairs):
        cat = rng.choice(sorted(by_cat))
        ref_id, tgt_id = rng.sample(by_cat[cat], 2)
        ref, tgt = attrs[ref_id], attrs[tgt_id]
        facets = read_description(texts[ref_id])
        for style in styles:
            try:
                para = paraphrase(ref, tgt, rng, phrasing_set, style)
            except ValueError:
                continue
            yield cat, ref, tgt, facets, style, para


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.phrasing.frame_words", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="a catalogue written by python -m data_prep.synth")
    p.add_argument("--pairs", type=int, default=3000, help="pairs per layout")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    counts: collections.Counter = collections.Counter()
    rewritten = total = 0
    for layout in ("fashioniq", "shoes"):
        for cat, ref, tgt, facets, _style, para in phrased_pairs(args.data / layout, "train", args.pairs, args.seed):
            total += 1
            rewritten += read_request_text(para.text, facets, cat).understood
            if read_right(read_request(para.text, facets), ref, tgt, para.claims):
                found, words = mentions(para.text)
                taken = {k for m in found for k in range(m.start, m.end)}
                counts.update(w for k, w in enumerate(words) if k not in taken)
    print(f"training phrasings rewritten: {rewritten}/{total} ({100 * rewritten / max(total, 1):.1f} %)")
    for word, n in counts.most_common():
        print(n, word)
    return 0


if __name__ == "__main__":
    sys.exit(main())
