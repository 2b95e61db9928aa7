"""Image-caption corpora (stage-1 training data): one reader for the formats people actually have.

`open_image_text(source, split)` accepts

- a folder in `datasets` imagefolder layout: ``metadata.jsonl`` (or ``metadata.csv``) next to the images, or one
  such folder per split (``train/``, ``validation/``, ``test/``);
- a ``.jsonl`` or ``.csv`` file with an image column (path relative to the file) and a text column;
- anything `datasets.load_dataset` can load (a hub name cached locally, ``"imagefolder"`` with ``data_dir=``, a
  folder of parquet files, ...), or an already loaded `datasets.Dataset`.

Column names are auto-detected (`IMAGE_COLUMNS`, `TEXT_COLUMNS`) or given explicitly. The result is a map-style
dataset yielding ``(PIL RGB image, text)``; it works with ``torch.utils.data.DataLoader`` without importing torch
here.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

from PIL import Image

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image, load_image_bytes

from cti_ir.data.image_check import check_image_files

__all__ = ["IMAGE_COLUMNS", "TEXT_COLUMNS", "ImageTextDataset", "open_image_text"]

log = logging.getLogger("cti_ir.data")

#: Image column names tried, in order, when ``image_column`` is not given.
IMAGE_COLUMNS = ("file_name", "image", "image_path", "filepath", "file_path", "img", "path")
#: Text column names tried, in order, when ``text_column`` is not given.
TEXT_COLUMNS = ("text", "caption", "captions", "title", "description", "sentence")

#: Split folder names `datasets` imagefolder understands, by the split they mean.
_SPLIT_DIRS = {
    "train": ("train", "training"),
    "validation": ("validation", "valid", "val", "dev"),
    "test": ("test", "testing", "eval"),
}
_METADATA = ("metadata.jsonl", "metadata.csv")


class ImageTextDataset:
    """Map-style dataset of ``(image, text)`` pairs; images are decoded with `cti_ir.model.images.load_image` on access.

    ``len(ds)``, ``ds[i]`` and iteration work; `text` reads a caption without decoding the image. Unreadable images
    raise `ImageLoadError` naming the file. ``dropped`` counts rows left out because their file was missing
    (only with ``skip_missing=True``).
    """

    def __init__(
        self,
        items: Sequence[tuple[Any, str]],
        *,
        source: str = "",
        max_pixels: int = DEFAULT_MAX_PIXELS,
        dropped: int = 0,
    ) -> None:
        self._items = list(items)
        self.source = source
        self.max_pixels = max_pixels
        self.dropped = dropped

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> tuple[Image.Image, str]:
        ref, text = self._items[index]
        return self._load(ref, index), text

    def __iter__(self) -> Iterator[tuple[Image.Image, str]]:
        for i in range(len(self)):
            yield self[i]

    def text(self, index: int) -> str:
        """Caption of item ``index``, without loading the image."""
        return self._items[index][1]

    def image_ref(self, index: int) -> Any:
        """What identifies the image of item ``index`` (a file path for local corpora)."""
        return self._items[index][0]

    def _load(self, ref: Any, index: int) -> Image.Image:
        return load_image(ref, max_pixels=self.max_pixels)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(source={self.source!r}, len={len(self)})"


class _HFImageTextDataset(ImageTextDataset):
    """`ImageTextDataset` over a `datasets.Dataset`; image cells are `datasets.Image` dicts or path strings."""

    def __init__(self, ds: Any, image_column: str, text_column: str, *, source: str, base: Optional[Path],
                 max_pixels: int) -> None:
        super().__init__([], source=source, max_pixels=max_pixels)
        self._ds = ds
        self._image_column = image_column
        self._text_column = text_column
        self._base = base

    def __len__(self) -> int:
        return len(self._ds)

    def __getitem__(self, index: int) -> tuple[Image.Image, str]:
        index = _check_index(index, len(self))
        row = self._ds[index]
        return self._load(row[self._image_column], index), _text_of(row[self._text_column], f"{self.source}[{index}]")

    def text(self, index: int) -> str:
        index = _check_index(index, len(self))
        return _text_of(self._ds[index][self._text_column], f"{self.source}[{index}]")

    def image_ref(self, index: int) -> Any:
        return self._ds[_check_index(index, len(self))][self._image_column]

    def _load(self, ref: Any, index: int) -> Image.Image:
        name = f"{self.source}[{index}]"
        if isinstance(ref, Image.Image):  # a dataset whose Image feature could not be switched to raw bytes
            return ref.convert("RGB")
        if isinstance(ref, dict):
            name = ref.get("path") or name
            if ref.get("bytes"):
                return load_image_bytes(ref["bytes"], name=str(name), max_pixels=self.max_pixels)
            ref = ref.get("path")
        if not ref:
            raise ImageLoadError(name, "no image data or path in the dataset row")
        path = Path(ref)
        if not path.is_absolute() and self._base is not None:
            path = self._base / path
        return load_image(path, max_pixels=self.max_pixels)


def open_image_text(
    source: Any,
    split: str = "train",
    *,
    image_column: Optional[str] = None,
    text_column: Optional[str] = None,
    check: bool = True,
    skip_missing: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    where: Optional[dict[str, str]] = None,
    keep_rows_without_column: bool = True,
    **load_kwargs: Any,
) -> ImageTextDataset:
    """Open an image-caption corpus (see the module docstring for accepted ``source`` forms).

    For local metadata files, ``check`` verifies up front that every image file exists (`MissingImagesError` naming
    the count and the first files otherwise); ``skip_missing=True`` drops those rows instead and records how many
    in ``dropped``. ``load_kwargs`` go to `datasets.load_dataset` (e.g. ``data_dir=``).

    ``where={"split": "train"}`` keeps only the rows of a local metadata file whose column equals the value
    (e.g. the ``split`` column of the generator's ``product_descriptions.jsonl``); rows that lack the column are
    kept when ``keep_rows_without_column`` (a corpus without splits is all training data), else dropped.
    """
    if hasattr(source, "column_names") and not isinstance(source, (str, os.PathLike)):
        return _from_hf(source, split, image_column, text_column, "<dataset>", None, max_pixels)
    text_source = str(source)
    path = Path(text_source)
    if path.is_file() and not load_kwargs:
        return _from_metadata(path, image_column, text_column, check, skip_missing, max_pixels,
                              where, keep_rows_without_column)
    if path.is_dir() and not load_kwargs:
        meta = _find_metadata(path, split)
        if meta is not None:
            return _from_metadata(meta, image_column, text_column, check, skip_missing, max_pixels,
                                  where, keep_rows_without_column)
    return _from_load_dataset(text_source, split, image_column, text_column, max_pixels, load_kwargs)


def _canonical_split(split: str) -> str:
    for name, aliases in _SPLIT_DIRS.items():
        if split == name or split in aliases:
            return name
    return split


def _find_metadata(folder: Path, split: str) -> Optional[Path]:
    """The metadata file for ``split`` in an imagefolder-style ``folder``, or None if it is not one."""
    wanted = _canonical_split(split)
    split_dirs = {
        name: folder / d
        for name, aliases in _SPLIT_DIRS.items()
        for d in aliases
        if any((folder / d / m).is_file() for m in _METADATA)
    }
    if wanted in split_dirs:
        return next(split_dirs[wanted] / m for m in _METADATA if (split_dirs[wanted] / m).is_file())
    top = [folder / m for m in _METADATA if (folder / m).is_file()]
    if top and wanted == "train":  # like `datasets`: a folder without split subfolders is the train split
        return top[0]
    if top or split_dirs:
        available = sorted(set(split_dirs) | ({"train"} if top else set()))
        raise ValueError(f"{folder}: no split {split!r} (available: {', '.join(available)})")
    return None


def _read_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    if suffix in (".jsonl", ".json"):
        rows = []
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}, line {n}: not valid JSON ({exc})") from exc
        return rows
    raise ValueError(f"{path}: unsupported file type {suffix!r}; expected .jsonl or .csv (or an imagefolder folder)")


def _pick(columns: Sequence[str], given: Optional[str], candidates: Sequence[str], what: str, where: str) -> str:
    if given is not None:
        if given not in columns:
            raise ValueError(f"{where}: no {what} column {given!r}; columns: {', '.join(columns)}")
        return given
    lower = {c.lower(): c for c in columns}
    for cand in candidates:
        if cand in lower:
            return lower[cand]
    arg = "image_column" if what == "image" else "text_column"
    raise ValueError(
        f"{where}: cannot find the {what} column among {', '.join(columns) or '(none)'}; tried "
        f"{', '.join(candidates)}; pass {arg}=..."
    )


def _text_of(value: Any, where: str) -> str:
    if isinstance(value, (list, tuple)):  # several captions per image (COCO style): use the first non-empty one
        value = next((v for v in value if isinstance(v, str) and v.strip()), None)
    if not isinstance(value, str):
        raise ValueError(f"{where}: text is {value!r}, expected a string")
    return value


def _from_metadata(path: Path, image_column: Optional[str], text_column: Optional[str], check: bool,
                   skip_missing: bool, max_pixels: int, where: Optional[dict[str, str]] = None,
                   keep_rows_without_column: bool = True) -> ImageTextDataset:
    rows = _read_rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows")
    for column, value in (where or {}).items():
        rows = [r for r in rows if (str(r[column]) == str(value) if column in r else keep_rows_without_column)]
    if not rows:
        return ImageTextDataset([], source=str(path), max_pixels=max_pixels)
    columns = list(rows[0].keys())
    img_col = _pick(columns, image_column, IMAGE_COLUMNS, "image", str(path))
    txt_col = _pick(columns, text_column, TEXT_COLUMNS, "text", str(path))
    base = path.parent
    items = []
    for n, row in enumerate(rows):
        ref = row.get(img_col)
        if not ref:
            raise ValueError(f"{path}: row {n} has no {img_col!r}")
        text = row.get(txt_col)
        if isinstance(text, str) and path.suffix.lower() == ".csv" and text.startswith("["):
            try:  # a CSV "captions" cell holding a JSON list
                text = json.loads(text)
            except json.JSONDecodeError:
                pass
        items.append((base / ref, _text_of(text, f"{path}, row {n}")))
    dropped = 0
    if check or skip_missing:
        report = check_image_files(
            (str(p) for p, _ in items), lambda s: Path(s) if Path(s).is_file() else None, lambda s: s,
            skip_missing=skip_missing, what=f"images listed in {path}",
        )
        if report.missing:
            bad = set(report.missing)
            kept = [(p, t) for p, t in items if str(p) not in bad]
            dropped, items = len(items) - len(kept), kept
    return ImageTextDataset(items, source=str(path), max_pixels=max_pixels, dropped=dropped)


def _from_load_dataset(source: str, split: str, image_column: Optional[str], text_column: Optional[str],
                       max_pixels: int, load_kwargs: dict) -> ImageTextDataset:
    import datasets  # imported here: it is slow to import and only this path needs it

    try:
        ds = datasets.load_dataset(source, split=split, **load_kwargs)
    except Exception as exc:  # `datasets` raises many types; the caller needs to know what was tried
        raise ValueError(
            f"cannot open image-text corpus {source!r} (split {split!r}): not a metadata .jsonl/.csv file or "
            f"imagefolder folder, and datasets.load_dataset failed: {type(exc).__name__}: {exc}"
        ) from exc
    base = Path(load_kwargs.get("data_dir") or (source if Path(source).is_dir() else "."))
    return _from_hf(ds, split, image_column, text_column, source, base, max_pixels)


def _from_hf(ds: Any, split: str, image_column: Optional[str], text_column: Optional[str], source: str,
             base: Optional[Path], max_pixels: int) -> ImageTextDataset:
    import datasets

    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        key = split if split in ds else _canonical_split(split)
        if key not in ds:
            raise ValueError(f"{source}: no split {split!r} (available: {', '.join(ds.keys())})")
        ds = ds[key]
    if isinstance(ds, datasets.IterableDataset):
        raise ValueError(f"{source}: streaming datasets have no length; load it without streaming=True")

    columns = list(ds.column_names)
    image_features = [c for c in columns if isinstance(ds.features.get(c), datasets.Image)]
    img_col = image_column or (image_features[0] if image_features else None)
    img_col = _pick(columns, img_col, IMAGE_COLUMNS, "image", source)
    txt_col = _pick(columns, text_column, TEXT_COLUMNS, "text", source)
    if isinstance(ds.features.get(img_col), datasets.Image):
        # Raw bytes/paths instead of datasets' own decoding, so every image gets the same checks and RGB conversion.
        ds = ds.cast_column(img_col, datasets.Image(decode=False))
    return _HFImageTextDataset(ds, img_col, txt_col, source=source, base=base, max_pixels=max_pixels)


def _check_index(index: int, length: int) -> int:
    if index < 0:
        index += length
    if not 0 <= index < length:
        raise IndexError(f"index {index} out of range for {length} items")
    return index
