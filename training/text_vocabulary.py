"""Record the words a checkpoint was trained on, for a checkpoint trained before the stages recorded them.

    python -m training.text_vocabulary --checkpoint demo_model --corpus data/open_domain \\
        --corpus data/fashioniq/product_descriptions.jsonl --corpus data/shoes/product_descriptions.jsonl \\
        --data fashioniq=data/fashioniq --data shoes=data/shoes --phrasing-augment

writes ``text_vocabulary.json`` into the checkpoint folder (``cti_ir.model.text_vocabulary``): the words of the
stage-1 and stage-2 corpora (``--corpus``, their training rows), of the stage-3 training triplets' captions
(``--data``) and, with ``--phrasing-augment``, of the shopper's wording stage 3 rewrote them in. Name every text
the model was trained on: the request reader sets aside words outside the record, so a word left out here is a
word the reader will not send to the model. The training stages write the record themselves; this command is for
checkpoints trained before that. The weights and the fingerprint are not touched.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import Sequence

from cti_ir.data import open_benchmark
from cti_ir.data.image_text import open_image_text
from cti_ir.model.checkpoint import CheckpointError, read_checkpoint_config
from cti_ir.model.text_vocabulary import VOCABULARY_FILE, count_words, write_text_vocabulary
from training.common import HelpWithDefaults
from training.examples import caption_variants
from training.phrasing_augment import PhrasingWording
from training.stage3 import parse_data


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training.text_vocabulary", formatter_class=HelpWithDefaults,
                                description="Write text_vocabulary.json, the words a checkpoint's text tower was "
                                            "trained on, from the data it was trained on.")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder to write the record into")
    p.add_argument("--corpus", action="append", default=[],
                   help="an image-caption corpus of stage 1 or 2 (imagefolder with metadata.jsonl, or a JSONL "
                        "file); its training rows are read (repeatable)")
    p.add_argument("--data", action="append", default=[],
                   help="a stage-3 layout as NAME=FOLDER (fashioniq=..., shoes=...); the captions of its "
                        "training triplets are read (repeatable)")
    p.add_argument("--phrasing-augment", action="store_true",
                   help="stage 3 ran with --phrasing-augment: add each --data triplet rewritten in every style of "
                        "the training phrasing set")
    p.add_argument("--split", default="train", help="the corpora's training split (stage 1/2 --train-split)")
    return p


def vocabulary_of(corpora: Sequence[str], data: Sequence[str], phrasing: bool, split: str = "train") -> Counter:
    """Word counts of every training text the arguments name (see the module docstring)."""
    counts = Counter()
    for path in corpora:
        corpus = open_image_text(path, split, where={"split": split}, check=False)
        count_words((corpus.text(i) for i in range(len(corpus))), counts)
    layouts = {name: Path(roots[0]) for name, roots in parse_data(list(data)).items()} if data else {}
    if "pairs" in layouts:
        raise ValueError("--data pairs= is not read here: give the corpora of those product files with --corpus")
    for name, root in layouts.items():
        triplets = open_benchmark(name, root).triplets("train", check=False)
        count_words((text for t in triplets for text in caption_variants(t.captions)), counts)
        if phrasing:
            count_words(PhrasingWording({name: root}, share=1.0).rewrites(triplets), counts)
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        folder = Path(read_checkpoint_config(args.checkpoint)["_folder"])
        if not args.corpus and not args.data:
            raise ValueError("name the texts the model was trained on with --corpus and/or --data")
        if args.phrasing_augment and not args.data:
            raise ValueError("--phrasing-augment rewrites the --data triplets: give the --data folders too")
        counts = vocabulary_of(args.corpus, args.data, args.phrasing_augment, args.split)
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_text_vocabulary(folder, counts)
    print(f"wrote {folder / VOCABULARY_FILE}: {len(counts)} words from {sum(counts.values())} word occurrences",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
