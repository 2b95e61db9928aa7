"""The shop's product fields (title, price, stock, brand, sizes, ...): read, checked and stored beside the index.

A products file is JSONL (one object per line) or CSV (a header row), one product per row, keyed by ``id``, the
product id the index knows (``image_id``: the image's path relative to the images folder without its extension,
or the benchmark's image name). Known columns are checked for their type:

==========  =====================================================================================================
id          the product id (required, unique)
title       text
price       a number, 0 or more
currency    a three-letter code (EUR, USD, ...)
in_stock    true or false (CSV: true/false, yes/no, 1/0)
brand       text
sizes       a list of texts (CSV: separated by ``|``)
url         an http(s) address
==========  =====================================================================================================

Any other column is kept as it is (JSONL: text, number, true/false or a list of texts; CSV: text, or a number when
every value of the column is one) and can be filtered on like the known ones (``cti_ir.index.filters``). An empty
value (or ``null``) means the product has no such field. Every mistake is a ``ValueError`` naming the file and the
line.

The table is stored in each index version as ``products.jsonl`` (sorted by id), so attaching or changing product
fields never re-encodes an image, and ``index_info.json`` records its columns and their types.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any, Iterable

PRODUCTS_FILE = "products.jsonl"
#: Column name -> type of the columns every shop has; any other column is kept with the type its values show.
KNOWN_COLUMNS = {"title": "text", "price": "number", "currency": "text", "in_stock": "bool", "brand": "text",
                 "sizes": "list", "url": "text"}
LIST_SEPARATOR = "|"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TRUE, _FALSE = {"true", "yes", "1", "y"}, {"false", "no", "0", "n"}


class ProductTable:
    """Product fields by id, with each column's type (``text``, ``number``, ``bool`` or ``list``)."""

    def __init__(self, rows: dict[str, dict[str, Any]] | None = None, columns: dict[str, str] | None = None):
        self.rows: dict[str, dict[str, Any]] = dict(rows or {})
        self.columns: dict[str, str] = dict(columns or {})

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, product_id: str) -> dict[str, Any]:
        """The fields of one product ({} when it has none)."""
        return self.rows.get(product_id, {})

    def merged(self, newer: "ProductTable") -> "ProductTable":
        """This table with ``newer``'s rows replacing those of the same id (whole rows: a field left out of a
        newer row is dropped). A column whose type differs between the two is a ``ValueError``."""
        columns = dict(self.columns)
        for name, kind in newer.columns.items():
            if columns.setdefault(name, kind) != kind:
                raise ValueError(f"column {name} holds {kind} values in the new products file but {columns[name]} "
                                 f"values in the index; give it the same type, or attach a whole new products file "
                                 f"with `python -m cti_ir.index products`")
        rows = {**self.rows, **newer.rows}
        used = {name for row in rows.values() for name in row}
        return ProductTable(rows, {n: k for n, k in columns.items() if n in used})

    def describe(self) -> dict:
        """What ``index_info.json`` records: the count and the columns with their types."""
        return {"count": len(self.rows), "columns": dict(sorted(self.columns.items()))}

    # ------------------------------------------------------------------------------------------------ files
    def write(self, path: str | Path) -> None:
        """Write ``products.jsonl`` (rows sorted by id; call through an atomic writer)."""
        with open(path, "w", encoding="utf-8") as f:
            for product_id in sorted(self.rows):
                f.write(json.dumps({"id": product_id, **self.rows[product_id]}, ensure_ascii=False) + "\n")

    @classmethod
    def read_stored(cls, path: str | Path, columns: dict[str, str]) -> "ProductTable":
        """A table written by :meth:`write` (already checked when it was attached)."""
        rows = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    rows[row.pop("id")] = row
        return cls(rows, columns)


def read_products(path: str | Path) -> ProductTable:
    """Read and check a products file (``.jsonl``/``.json`` or ``.csv``); raises ``ValueError`` naming the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"products file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _jsonl_rows(path)
        numeric: set[str] = set()
    elif suffix == ".csv":
        rows, numeric = _csv_rows(path)
    else:
        raise ValueError(f"{path}: a products file must be JSONL (.jsonl) or CSV (.csv), not {suffix or 'no suffix'}")
    table = ProductTable()
    first_line: dict[str, int] = {}
    for line, row in rows:
        where = f"{path}:{line}"
        product_id, fields = _check_row(row, where, numeric, table.columns)
        if product_id in first_line:
            raise ValueError(f"{where}: product id {product_id!r} was already given on line {first_line[product_id]}")
        first_line[product_id] = line
        table.rows[product_id] = fields
    if not table.rows:
        raise ValueError(f"{path} lists no products")
    return table


def _jsonl_rows(path: Path) -> Iterable[tuple[int, dict]]:
    with open(path, encoding="utf-8-sig") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e.msg}); give one product object per line") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{n}: a product must be a JSON object, got {type(row).__name__}")
            yield n, row


def _csv_rows(path: Path) -> tuple[list[tuple[int, dict]], set[str]]:
    """The rows (line numbers as a spreadsheet shows them: the header is line 1) and the columns whose every
    non-empty value is a number (read as numbers, unless they are known columns)."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise ValueError(f"{path} is empty; a CSV products file needs a header row (id,title,price,...)")
        rows = []
        for row in reader:
            if None in row:
                raise ValueError(f"{path}:{reader.line_num}: more values than the header has columns")
            if any(v for v in row.values()):
                rows.append((reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items()}))
    numeric = set()
    for name in {k for _, row in rows for k in row}:
        values = [row[name] for _, row in rows if row.get(name)]
        if name not in KNOWN_COLUMNS and values and all(_number_or_none(v) is not None for v in values):
            numeric.add(name)
    return rows, numeric


def _check_row(row: dict, where: str, numeric: set[str], columns: dict[str, str]) -> tuple[str, dict]:
    product_id = row.get("id")
    if isinstance(product_id, (int, float)) and not isinstance(product_id, bool):
        product_id = str(product_id)  # a JSON number as the id: the index's ids are texts
    if not isinstance(product_id, str) or not product_id.strip():
        raise ValueError(f"{where}: every product needs an id (the product id the index knows), got "
                         f"{_shown(product_id)}")
    fields = {}
    for name, value in row.items():
        if name == "id" or value is None or value == "" or value == []:
            continue
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{where}: column name {_shown(name)} must be letters, digits and _ (not starting with "
                             f"a digit, at most 64 characters)")
        value, kind = _field_value(name, value, where, name in numeric)
        expected = columns.setdefault(name, kind)
        if expected != kind:
            raise ValueError(f"{where}: {name} holds a {kind} here but a {expected} on earlier lines; give the "
                             f"column one type")
        fields[name] = value
    return product_id.strip(), fields


def _field_value(name: str, value: Any, where: str, numeric_column: bool) -> tuple[Any, str]:
    """A field's checked value and its type."""
    kind = KNOWN_COLUMNS.get(name)
    if kind == "number" or (kind is None and numeric_column):
        number = _number_or_none(value)
        if number is None or (name == "price" and number < 0):
            rule = "a number, 0 or more" if name == "price" else "a number"
            raise ValueError(f"{where}: {name} must be {rule}, got {_shown(value)}")
        return number, "number"
    if kind == "bool" or (kind is None and isinstance(value, bool)):
        flag = _bool_or_none(value)
        if flag is None:
            raise ValueError(f"{where}: {name} must be true or false, got {_shown(value)}")
        return flag, "bool"
    if kind == "list" or (kind is None and isinstance(value, list)):
        items = value.split(LIST_SEPARATOR) if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                                  for v in items):
            raise ValueError(f"{where}: {name} must be a list of texts (CSV: separated by {LIST_SEPARATOR}), got "
                             f"{_shown(value)}")
        return [str(v).strip() for v in items if str(v).strip()], "list"
    if kind is None and isinstance(value, (int, float)):
        return _number_or_none(value), "number"
    if not isinstance(value, str):
        raise ValueError(f"{where}: {name} must be a text, got {_shown(value)}")
    value = value.strip()
    if name == "currency" and not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError(f"{where}: currency must be a three-letter code such as EUR or USD, got {_shown(value)}")
    if name == "url" and not re.match(r"^https?://\S+$", value):
        raise ValueError(f"{where}: url must be an http:// or https:// address, got {_shown(value)}")
    return (value.upper() if name == "currency" else value), "text"


def _number_or_none(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else float(value)


def _bool_or_none(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    return None


def _shown(value: Any, limit: int = 40) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
