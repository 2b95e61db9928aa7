"""Shoes relative-captions reader (Guo et al., NeurIPS 2018), layout of github.com/XiaoxiaoGuo/fashion-retrieval.

```
ROOT/[dataset/]relative_captions_shoes.json   [{"ImageName": target, "ReferenceImageName": ref, "RelativeCaption"}]
ROOT/[dataset/]train_im_names.txt, eval_im_names.txt
ROOT/**/womens_<type>/<0|1>/img_womens_<type>_<n>.jpg   (Attribute Discovery images, found by file name)
```

Splits are "train" and "test" ("eval" and "val" are accepted for "test"). A triplet belongs to a split when both its
images are in that split's name list: 8,990 train and 1,761 test triplets on the published files. Standard protocol:
one query per test triplet, gallery = all 4,658 eval images.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional, Union

from cti_ir.data.base import Benchmark
from cti_ir.data.common import DatasetLayoutError, EvalSplit, ImageIndex, Query, Triplet, read_json, read_lines

__all__ = ["Shoes"]

_CAPTIONS = "relative_captions_shoes.json"
_LISTS = {"train": "train_im_names.txt", "test": "eval_im_names.txt"}
_ALIASES = {"train": "train", "test": "test", "eval": "test", "val": "test"}
_LAYOUT = (
    f"expected a Shoes root with {_CAPTIONS}, {_LISTS['train']} and {_LISTS['test']} in ROOT or ROOT/dataset/, "
    "and the images (img_womens_<type>_<n>.jpg) anywhere under ROOT"
)


class Shoes(Benchmark):
    """Shoes annotations and images under ``root``; the single category is "shoes".

    Images are found by file name anywhere under ``root``: the tree is walked once, on the first image lookup, and
    the listing is cached on the instance.
    """

    name = "shoes"
    categories = ("shoes",)
    SPLITS = ("train", "test")
    eval_split = "test"
    protocols = ("standard",)

    def __init__(self, root: Union[str, Path]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetLayoutError(f"{self.root}: not a folder; {_LAYOUT}")
        candidates = [self.root, self.root / "dataset"]
        found = [d for d in candidates if (d / _CAPTIONS).is_file()]
        if not found:
            raise DatasetLayoutError(f"{self.root}: {_CAPTIONS} not found in ROOT or ROOT/dataset/; {_LAYOUT}")
        #: Folder holding the annotation files (ROOT or ROOT/dataset).
        self.annotation_dir = found[0]
        lacking = [n for n in _LISTS.values() if not (self.annotation_dir / n).is_file()]
        if lacking:
            raise DatasetLayoutError(f"{self.annotation_dir}: missing {', '.join(lacking)}; {_LAYOUT}")
        self._images = ImageIndex(self.root, recursive=True)
        # Per-instance caches (an lru_cache on the methods would keep instances alive and be shared).
        self._read_list = lru_cache(maxsize=None)(self._read_list_uncached)
        self._all = lru_cache(maxsize=1)(self._all_uncached)

    def _expected_path(self, image_id: str) -> Path:
        # Attribute Discovery layout is womens_<type>/<0|1>/<name>; the 0/1 folder cannot be known from the name.
        return self.root / image_id

    def _missing_label(self, image_id: str) -> str:
        # The file may be anywhere under ROOT, so a made-up full path would mislead; the name is what to look for.
        return image_id

    def missing_images_hint(self) -> str:
        if self._images.find_any():
            return ""
        return f"no image files at all under {self.root}; expected womens_<type>/<0|1>/img_womens_<type>_<n>.jpg"

    @staticmethod
    def canonical_split(split: str) -> str:
        """Return "train" or "test" for ``split`` (accepting "eval" and "val" for "test")."""
        try:
            return _ALIASES[split]
        except KeyError:
            raise ValueError(f"unknown Shoes split {split!r}; available: train, test (aliases: eval, val)") from None

    def _check_category(self, category: Optional[str]) -> None:
        if category not in (None, "shoes"):
            raise ValueError(f"unknown Shoes category {category!r}; the only category is 'shoes'")

    def _read_list_uncached(self, split: str) -> tuple[str, ...]:
        return tuple(read_lines(self.annotation_dir / _LISTS[split]))

    def _all_uncached(self) -> tuple[Triplet, ...]:
        path = self.annotation_dir / _CAPTIONS
        rows = read_json(path, 'a JSON list of {"ImageName", "ReferenceImageName", "RelativeCaption"}')
        out = []
        for i, row in enumerate(rows):
            try:
                out.append(
                    Triplet(
                        reference=str(row["ReferenceImageName"]).strip(),
                        target=str(row["ImageName"]).strip(),
                        captions=(str(row["RelativeCaption"]),),
                        category="shoes",
                    )
                )
            except (KeyError, TypeError) as exc:
                raise DatasetLayoutError(f"{path}: entry {i} lacks a key ({exc!r}); {_LAYOUT}") from exc
        return tuple(out)

    def all_triplets(self) -> list[Triplet]:
        """Every triplet of relative_captions_shoes.json, file order, whatever split its images are in (10,751 on the
        published file, 27 of them with reference == target)."""
        return list(self._all())

    def split_images(self, split: str, category: Optional[str] = None) -> list[str]:
        """Image names of train_im_names.txt ("train") or eval_im_names.txt ("test"), file order."""
        self._check_category(category)
        return list(self._read_list(self.canonical_split(split)))

    def _triplets(self, split: str, category: Optional[str]) -> list[Triplet]:
        self._check_category(category)
        pool = set(self._read_list(self.canonical_split(split)))
        return [t for t in self._all() if t.reference in pool and t.target in pool]

    def _eval_splits(self, split: str, protocol: str) -> list[EvalSplit]:
        split = self.canonical_split(split)
        queries = [Query(t.reference, t.captions[0].strip(), t.target) for t in self._triplets(split, None)]
        return [EvalSplit(name="shoes", queries=queries, gallery=list(self._read_list(split)))]
