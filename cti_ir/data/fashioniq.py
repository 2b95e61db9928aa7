"""Fashion-IQ reader (Guo et al., CVPR 2021), layout of github.com/XiaoxiaoGuo/fashion-iq.

```
ROOT/images/<ASIN>.jpg | .png
ROOT/captions/cap.<cat>.<split>.json        [{"target", "candidate", "captions": [c1, c2]}]  (test: no "target")
ROOT/image_splits/split.<cat>.<split>.json  [ASIN, ...]
```

Evaluation protocols (see /work/shared/benchmarks/README.md):

- ``standard`` (CLIP4Cir, SPRC, ...): one query per val triplet, text = both captions joined by `join_captions`,
  gallery = every ASIN of ``split.<cat>.val.json`` (the reference stays in the gallery).
- ``val`` (Chen et al., CVPR 2020, "VAL"): one query per non-empty caption, gallery = the unique images of the
  category's val triplets.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence, Union

from cti_ir.data.base import Benchmark
from cti_ir.data.common import (
    DatasetLayoutError,
    EvalSplit,
    ImageIndex,
    LabelsHiddenError,
    Query,
    Triplet,
    read_json,
    unique,
)

__all__ = ["FashionIQ", "join_captions"]

_LAYOUT = (
    "expected a Fashion-IQ root with captions/cap.<cat>.<split>.json, image_splits/split.<cat>.<split>.json "
    "and images/<ASIN>.jpg|.png (cat in dress, shirt, toptee; split in train, val, test)"
)


def join_captions(captions: Sequence[str]) -> str:
    """Join a triplet's captions the way CLIP4Cir does at evaluation time.

    For the usual two captions: ``f"{c1.strip('.?, ').capitalize()} and {c2.strip('.?, ')}"``. Empty captions are
    kept as they are (CLIP4Cir does not filter them), so the published numbers are reproduced exactly.
    """
    if not captions:
        return ""
    first = captions[0].strip(".?, ").capitalize()
    return " and ".join([first] + [c.strip(".?, ") for c in captions[1:]])


class FashionIQ(Benchmark):
    """Fashion-IQ annotations and images under ``root``.

    ``categories`` restricts the reader to some of dress / shirt / toptee; by default every category that has
    caption files. Use `triplets` for training, `eval_splits` for evaluation (split "val"; the test split's targets
    are hidden).
    """

    name = "fashioniq"
    CATEGORIES = ("dress", "shirt", "toptee")
    SPLITS = ("train", "val", "test")
    eval_split = "val"
    protocols = ("standard", "val")

    def __init__(self, root: Union[str, Path], categories: Optional[Sequence[str]] = None) -> None:
        self.root = Path(root)
        missing = [d for d in ("captions", "image_splits") if not (self.root / d).is_dir()]
        if missing:
            folders = ", ".join(d + "/" for d in missing)
            raise DatasetLayoutError(f"{self.root}: missing folder(s) {folders}; {_LAYOUT}")
        present = self._present_categories()
        if not present:
            raise DatasetLayoutError(f"{self.root}: no captions/cap.<cat>.<split>.json files; {_LAYOUT}")
        if categories is None:
            self.categories = present
        else:
            if isinstance(categories, str):
                categories = [categories]
            unknown = [c for c in categories if c not in present]
            if unknown:
                raise ValueError(
                    f"Fashion-IQ categories {unknown} not found under {self.root / 'captions'}; "
                    f"available: {', '.join(present)}"
                )
            self.categories = tuple(dict.fromkeys(categories))
        self._images = ImageIndex(self.root / "images", recursive=False)
        # Per-instance caches (an lru_cache on the methods would keep instances alive and be shared).
        self._read_captions = lru_cache(maxsize=None)(self._read_captions_uncached)
        self._read_split = lru_cache(maxsize=None)(self._read_split_uncached)

    def _present_categories(self) -> tuple[str, ...]:
        names = {p.name.split(".")[1] for p in (self.root / "captions").glob("cap.*.*.json")}
        # Known categories in the paper's order first, then anything else (a generator may add more).
        return tuple(c for c in self.CATEGORIES if c in names) + tuple(sorted(names - set(self.CATEGORIES)))

    def _expected_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{image_id}.jpg"

    def missing_images_hint(self) -> str:
        folder = self.root / "images"
        return "" if folder.is_dir() else f"{folder} does not exist; expected images/<ASIN>.jpg or .png"

    # -- file readers ---------------------------------------------------------------------------------------------
    def _check_args(self, split: str, category: Optional[str]) -> tuple[str, ...]:
        if split not in self.SPLITS:
            raise ValueError(f"unknown Fashion-IQ split {split!r}; available: {', '.join(self.SPLITS)}")
        if category is None:
            return self.categories
        if category not in self.categories:
            raise ValueError(f"unknown Fashion-IQ category {category!r}; available: {', '.join(self.categories)}")
        return (category,)

    def _file(self, folder: str, stem: str, category: str, split: str) -> Path:
        path = self.root / folder / f"{stem}.{category}.{split}.json"
        if not path.is_file():
            raise DatasetLayoutError(f"{path} not found; {_LAYOUT}")
        return path

    def missing_annotation_files(self, split: str, category: Optional[str] = None) -> list[Path]:
        """``captions/cap.<cat>.<split>.json`` and ``image_splits/split.<cat>.<split>.json`` files that are absent."""
        return [
            path
            for cat in self._check_args(split, category)
            for path in (self.root / "captions" / f"cap.{cat}.{split}.json",
                         self.root / "image_splits" / f"split.{cat}.{split}.json")
            if not path.is_file()
        ]

    def _read_captions_uncached(self, category: str, split: str) -> tuple[Triplet, ...]:
        path = self._file("captions", "cap", category, split)
        rows = read_json(path, 'a JSON list of {"target", "candidate", "captions"}')
        out = []
        for i, row in enumerate(rows):
            try:
                out.append(
                    Triplet(
                        reference=str(row["candidate"]),
                        target=None if row.get("target") is None else str(row["target"]),
                        captions=tuple(str(c) for c in row["captions"]),
                        category=category,
                    )
                )
            except (KeyError, TypeError) as exc:
                raise DatasetLayoutError(
                    f"{path}: entry {i} lacks 'candidate' or 'captions' ({exc!r}); {_LAYOUT}"
                ) from exc
        return tuple(out)

    def _read_split_uncached(self, category: str, split: str) -> tuple[str, ...]:
        path = self._file("image_splits", "split", category, split)
        return tuple(unique(str(x) for x in read_json(path, "a JSON list of ASINs")))

    # -- public views ---------------------------------------------------------------------------------------------
    def _triplets(self, split: str, category: Optional[str]) -> list[Triplet]:
        out: list[Triplet] = []
        for cat in self._check_args(split, category):
            out.extend(self._read_captions(cat, split))
        return out

    def split_images(self, split: str, category: Optional[str] = None) -> list[str]:
        """ASINs of ``split.<cat>.<split>.json`` in file order; over all categories deduplicated (shirt and toptee
        share 3,302 ASINs)."""
        ids: list[str] = []
        for cat in self._check_args(split, category):
            ids.extend(self._read_split(cat, split))
        return unique(ids)

    def _eval_splits(self, split: str, protocol: str) -> list[EvalSplit]:
        self._check_args(split, None)
        if split == "test":
            raise LabelsHiddenError(
                "Fashion-IQ test labels are hidden (cap.<cat>.test.json has no 'target'), so it cannot be evaluated; "
                "report on split='val' as every paper does"
            )
        out = []
        for cat in self.categories:
            trips = self._read_captions(cat, split)
            unlabeled = sum(t.target is None for t in trips)
            if unlabeled:
                raise DatasetLayoutError(
                    f"{self.root / 'captions' / f'cap.{cat}.{split}.json'}: {unlabeled} entries have no 'target'"
                )
            if protocol == "standard":
                queries = [Query(t.reference, join_captions(t.captions), t.target) for t in trips]
                gallery = list(self._read_split(cat, split))
            else:  # "val": one query per non-empty caption, gallery = images of the triplets only
                queries = [Query(t.reference, c.strip(), t.target) for t in trips for c in t.captions if c.strip()]
                gallery = unique(i for t in trips for i in (t.reference, t.target))
            out.append(EvalSplit(name=cat, queries=queries, gallery=gallery))
        return out
