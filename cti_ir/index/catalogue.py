"""Catalogue items to index: from a folder of images or from a benchmark folder in the published layout."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class CatalogueItem:
    """One product image of the catalogue."""

    image_id: str                    # product id (ASIN, shoe image name, or the file's relative path)
    path: str                        # absolute path of the image file
    categories: list[str] = field(default_factory=list)
    description: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def items_from_folder(folder: str | Path, metadata: str | Path | None = None) -> list[CatalogueItem]:
    """Every image under ``folder`` (recursively, sorted), id = path relative to ``folder`` without extension.

    The first sub-folder, when there is one, is taken as the category (``dresses/123.jpg`` -> ``dresses``).
    ``metadata`` is an optional JSONL file with ``file_name`` (relative to ``folder``), ``category`` and
    ``text``/``description`` columns that override those guesses.
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {folder}")
    extra = _read_metadata(folder, metadata) if metadata else {}
    items = []
    for p in files:
        rel = p.relative_to(folder)
        meta = extra.get(rel.as_posix(), {})
        category = meta.get("category") or (rel.parts[0] if len(rel.parts) > 1 else "")
        items.append(CatalogueItem(
            image_id=rel.with_suffix("").as_posix(), path=str(p), categories=[category] if category else [],
            description=meta.get("text") or meta.get("description") or ""))
    return items


def read_jsonl_rows(path: str | Path) -> Iterator[tuple[int, dict]]:
    """(line number, parsed row) of each non-blank line of a JSONL file; a bad line is a ValueError naming it."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n} is not valid JSON: {e}") from None


def _read_metadata(folder: Path, metadata: str | Path) -> dict[str, dict]:
    out = {}
    for _, row in read_jsonl_rows(metadata):
        name = row.get("file_name") or row.get("image") or row.get("path")
        if name:
            out[Path(name).as_posix()] = row
    return out


def items_from_benchmark(dataset: str, root: str | Path, splits: Iterable[str] | None = None) -> list[CatalogueItem]:
    """The products of a Fashion-IQ or Shoes folder: every image of the chosen splits (default: all).

    Categories are the Fashion-IQ categories an image is listed under (an ASIN can be both shirt and toptee) or
    the shoe type (``womens_pumps`` -> ``pumps``). Descriptions come from ``product_descriptions.jsonl`` when the
    folder has one (the generated catalogue does; real datasets usually do not).
    """
    from cti_ir.data import open_benchmark

    bench = open_benchmark(dataset, root)
    root = Path(root)
    descriptions = _descriptions(root)
    if dataset == "fashioniq":
        splits = list(splits or ("train", "val", "test"))
        cats: dict[str, list[str]] = {}
        for category in bench.categories:
            for split in splits:
                for image_id in bench.split_images(split, category):
                    entry = cats.setdefault(image_id, [])
                    if category not in entry:
                        entry.append(category)
        ids = list(cats)
    else:
        splits = list(splits or ("train", "test"))
        ids = list(dict.fromkeys(i for split in splits for i in bench.split_images(split)))
        cats = {i: [_shoe_type(i)] for i in ids}
    return [CatalogueItem(image_id=i, path=str(Path(bench.image_path(i)).resolve()), categories=cats[i],
                          description=descriptions.get(i, "")) for i in ids]


def _shoe_type(name: str) -> str:
    stem = Path(name).stem  # img_womens_high_heels_838
    parts = stem.split("_")
    return "_".join(parts[2:-1]) if len(parts) > 3 and parts[1] == "womens" else "shoes"


def _descriptions(root: Path) -> dict[str, str]:
    for candidate in (root / "product_descriptions.jsonl", root / "dataset" / "product_descriptions.jsonl"):
        if candidate.is_file():
            out = {}
            with open(candidate, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        if row.get("image_id"):
                            out[row["image_id"]] = row.get("text", "")
            return out
    captions = root / "captions_shoes.json"
    if not captions.is_file():
        captions = root / "dataset" / "captions_shoes.json"
    if captions.is_file():  # Shoes' own single-image captions
        return {r["ImageName"]: r["Caption"] for r in json.loads(captions.read_text(encoding="utf-8"))}
    return {}
