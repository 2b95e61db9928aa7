"""Writing the planned catalogue to disk in the exact Fashion-IQ, Shoes and imagefolder layouts.

Every file is written atomically (temporary file in the same folder, then ``os.replace``), so an interrupted run
never leaves a half-written annotation file that a reader could mistake for a complete one. JSON formatting
mirrors the real releases: Fashion-IQ files are indented by 4, Shoes files are single-line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from data_prep.synth_catalogue import FASHIONIQ_SPLITS, OPEN_DOMAIN_SPLITS, SHOES_SPLITS, Dataset, Scene
from data_prep.synth_attributes import GARMENT_CATEGORIES, SHOE_CATEGORY


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: object, indent: int | None = None) -> None:
    """Write ``obj`` as JSON atomically (no trailing newline, like the released annotation files)."""
    write_text_atomic(path, json.dumps(obj, indent=indent))


def write_jsonl_atomic(path: Path, rows: Iterable[dict]) -> None:
    """Write one JSON object per line atomically."""
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


def _description_rows(data: Dataset) -> list[dict]:
    return [
        {
            "file_name": p.file_name,
            "image_id": p.image_id,
            "category": p.attributes["category"],
            "text": p.description,
            "attributes": {k: v for k, v in p.attributes.items() if k != "category"},
            "split": p.split,
        }
        for p in data.products
    ]


def _kind_fields(t) -> dict:
    """Provenance fields of a triplet's caption kind; none in a relative-only catalogue (byte-identical files)."""
    return {} if t.kind is None else {"kind": t.kind, **t.details}


def write_fashioniq(root: Path, data: Dataset) -> list[Path]:
    """Write captions/, image_splits/, product_descriptions.jsonl and caption_provenance.jsonl; return the paths.

    Test caption files have no "target" key (key order candidate, captions), exactly like the released files.
    ``caption_provenance.jsonl`` is generator-only: per triplet, the attributes each caption was made from and,
    in a catalogue with a caption mix, the triplet's caption ``kind`` (with ``unnamed`` / ``wrong`` where they
    apply).
    """
    written = []
    for category in GARMENT_CATEGORIES:
        for split in FASHIONIQ_SPLITS:
            rows = []
            for t in data.triplets:
                if t.category == category and t.split == split:
                    row = {"candidate": t.candidate, "captions": t.captions}
                    rows.append(row if split == "test" else {"target": t.target, **row})
            path = root / "captions" / f"cap.{category}.{split}.json"
            write_json_atomic(path, rows, indent=4)
            path2 = root / "image_splits" / f"split.{category}.{split}.json"
            write_json_atomic(path2, data.pools[(category, split)], indent=4)
            written += [path, path2]
    path = root / "product_descriptions.jsonl"
    write_jsonl_atomic(path, _description_rows(data))
    prov = root / "caption_provenance.jsonl"
    write_jsonl_atomic(prov, (
        {"category": t.category, "split": t.split, "candidate": t.candidate, "target": t.target,
         "captions": t.captions, "claims": t.claims, **_kind_fields(t)}
        for t in data.triplets
    ))
    return written + [path, prov]


def write_shoes(root: Path, data: Dataset) -> list[Path]:
    """Write relative_captions_shoes.json, train/eval name lists, captions_shoes.json, product_descriptions.jsonl
    and caption_provenance.jsonl; return the paths."""
    rel = root / "relative_captions_shoes.json"
    write_json_atomic(rel, [
        {"ImageName": t.target, "ReferenceImageName": t.candidate, "RelativeCaption": t.captions[0]}
        for split in SHOES_SPLITS for t in data.triplets if t.split == split
    ])
    lists = {"train": root / "train_im_names.txt", "test": root / "eval_im_names.txt"}
    for split, path in lists.items():
        write_text_atomic(path, "".join(name + "\n" for name in data.pools[(SHOE_CATEGORY, split)]))
    single = root / "captions_shoes.json"
    write_json_atomic(single, [{"ImageName": name, "Caption": text} for name, text in data.single_captions])
    desc = root / "product_descriptions.jsonl"
    write_jsonl_atomic(desc, _description_rows(data))
    prov = root / "caption_provenance.jsonl"
    write_jsonl_atomic(prov, (
        {"split": t.split, "candidate": t.candidate, "target": t.target, "caption": t.captions[0],
         "claims": t.claims[0], **_kind_fields(t)}
        for split in SHOES_SPLITS for t in data.triplets if t.split == split
    ))
    return [rel, *lists.values(), single, desc, prov]


def write_open_domain(root: Path, scenes: list[Scene]) -> list[Path]:
    """Write ``<split>/metadata.jsonl`` ({"file_name", "text"}) for the datasets imagefolder loader."""
    written = []
    for split in OPEN_DOMAIN_SPLITS:
        path = root / split / "metadata.jsonl"
        write_jsonl_atomic(path, ({"file_name": s.file_name, "text": s.text} for s in scenes if s.split == split))
        written.append(path)
    return written
