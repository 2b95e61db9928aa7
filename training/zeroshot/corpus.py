"""The training material of ``training.zeroshot``: texts from any corpus, and unlabeled images.

Text corpora, by file suffix:

- ``.jsonl``  one JSON object per line, the text in ``text_column`` (the generator's ``product_descriptions.jsonl``);
- ``.json``   a list of strings, or of objects with ``text_column`` (e.g. Shoes' ``captions_shoes.json`` with
  ``Caption``);
- ``.csv``    a header row naming ``text_column``;
- anything else: plain text, one text per non-blank line.

Objects (JSONL, JSON, CSV rows) that have ``split_column`` are kept only where it equals the split asked for; rows
without it count as training rows. A text that is not a string (a number, a list, null) is an error naming the
file and row; blank texts are left out and counted.

Images: a folder (every image under it) or a JSONL file whose rows name their image in ``file_name`` (relative to
the file's folder), split-filtered in the same way.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from cti_ir.index.catalogue import CatalogueItem, items_from_folder, read_jsonl_rows


class CorpusError(ValueError):
    """A corpus file is missing, unreadable or holds something that is not a text."""


@dataclass
class TextCorpus:
    """Texts read from one or more corpus files, with what was left out."""

    texts: list[str] = field(default_factory=list)
    blank: int = 0          # blank texts left out
    other_split: int = 0    # rows of other splits left out


def read_texts(paths: list[str], text_column: str = "text", split_column: str = "split",
               split: str | None = "train", keep_unsplit: bool = True) -> TextCorpus:
    """The texts of every corpus file in ``paths`` (see the module docstring), in file order.

    ``split=None`` keeps every row; otherwise rows whose ``split_column`` differs are left out, and rows without
    the column are kept only with ``keep_unsplit``.
    """
    corpus = TextCorpus()
    for path in paths:
        for where, row in _rows(Path(path), text_column):
            if isinstance(row, dict):
                if split is not None and split_column in row:
                    if str(row[split_column]) != split:
                        corpus.other_split += 1
                        continue
                elif split is not None and not keep_unsplit:
                    continue
                if text_column not in row:
                    columns = ", ".join(sorted(map(str, row))[:8]) or "none"
                    raise CorpusError(f"{where} has no {text_column!r} column (it has: {columns}); name the text "
                                      f"column with --text-column")
                row = row[text_column]
            if not isinstance(row, str):
                raise CorpusError(f"{where}: the text is {_kind(row)}, not a string")
            if row.strip():
                corpus.texts.append(" ".join(row.split()))
            else:
                corpus.blank += 1
    return corpus


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    return f"a {type(value).__name__}"


def _rows(path: Path, text_column: str) -> Iterator[tuple[str, object]]:
    """(where, row) of a corpus file: a row is a string or a dict."""
    if not path.is_file():
        raise CorpusError(f"text corpus not found: {path}" if not path.is_dir() else
                          f"{path} is a folder; give the corpus file itself (JSONL, JSON, CSV or plain text)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".jsonl":
            for n, row in read_jsonl_rows(path):
                yield f"{path}:{n}", row
        elif suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list):
                raise CorpusError(f"{path} holds a JSON {type(data).__name__}; a corpus is a list of texts or of "
                                  f"objects with a {text_column!r} column")
            for n, row in enumerate(data):
                yield f"{path} item {n}", row
        elif suffix == ".csv":
            with open(path, encoding="utf-8", newline="") as f:
                for n, row in enumerate(csv.DictReader(f), 2):
                    yield f"{path}:{n}", row
        else:
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        yield f"{path}:{n}", line
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise CorpusError(f"{path} is not valid JSON: {e}") from None
    except ValueError as e:  # read_jsonl_rows names the bad line
        if isinstance(e, CorpusError):
            raise
        raise CorpusError(str(e)) from None


def read_images(source: str, split_column: str = "split", split: str | None = "train") -> list[CatalogueItem]:
    """The unlabeled images of a folder (recursively) or of a JSONL file's ``file_name`` rows (see the module
    docstring); missing files are reported by the encoder that reads them."""
    path = Path(source)
    if path.is_dir():
        return items_from_folder(path)
    if not path.is_file():
        raise CorpusError(f"image source not found: {path}")
    if path.suffix.lower() != ".jsonl":
        raise CorpusError(f"{path}: --images takes a folder of images or a JSONL file with a 'file_name' column")
    items = []
    try:
        for n, row in read_jsonl_rows(path):
            if not isinstance(row, dict) or not isinstance(row.get("file_name"), str):
                raise CorpusError(f"{path}:{n} has no 'file_name' text naming its image")
            if split is not None and split_column in row and str(row[split_column]) != split:
                continue
            image = (path.parent / row["file_name"]).resolve()
            items.append(CatalogueItem(image_id=row.get("image_id") or row["file_name"], path=str(image)))
    except UnicodeDecodeError as e:
        raise CorpusError(f"{path} is not UTF-8 text ({e.reason})") from None
    except ValueError as e:
        raise CorpusError(str(e)) from None
    if not items:
        raise CorpusError(f"{path} lists no images" + (f" of split {split!r}" if split is not None else ""))
    return items
