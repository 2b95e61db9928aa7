"""Filters on the shop's product fields: in stock, a price range, a brand, a size, or any column of the products.

A filter is given as a mapping (the JSON API's ``filters`` object, ``SearchEngine.search(filters=...)``)::

    {"in_stock": true, "price_min": 20, "price_max": 80, "brand": ["Acme", "Zeta"], "size": "M"}

- a column of true/false values (``in_stock``): that value;
- ``<column>_min`` / ``<column>_max`` of a number column (``price_min``): the value within the bounds (inclusive);
- a text column (``brand``): one of the given texts (one text or a list; letter case is ignored);
- a list column (``sizes``, also spelt ``size``): the product's list holds one of the given texts;
- a number column given a number (or a list): one of those numbers.

Clauses combine with AND; a product without the field does not pass its clause. Empty values (``None``, ``""``,
``[]``) are ignored, as a form's empty fields are. A filter that names no column of the products, a value of the
wrong type, or a minimum above its maximum is a ``ValueError`` that says what is accepted.

:class:`FilterMasks` turns a parsed filter into the boolean mask of the index positions that pass, from
per-column arrays and inverted lists made once per index version; masks are cached per filter.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from cti_ir.index.products import ProductTable

ALIASES = {"size": "sizes"}
MASK_CACHE = 256   # filters whose masks stay cached per index version (shops reuse a few filters a lot)


@dataclass(frozen=True)
class Clause:
    """One condition on one column: ``values`` (one of them), ``low``/``high`` (a range) or ``flag``."""

    column: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    flag: bool | None = None


@dataclass(frozen=True)
class ProductFilter:
    """A checked filter: clauses that all must hold (hashable: it keys batches and caches)."""

    clauses: tuple[Clause, ...]

    def describe(self) -> str:
        parts = []
        for c in self.clauses:
            if c.flag is not None:
                parts.append(f"{c.column}={'true' if c.flag else 'false'}")
            elif c.values:
                parts.append(f"{c.column} in {', '.join(map(str, c.values))}")
            else:
                parts.append(" and ".join(p for p in (f"{c.column} >= {c.low:g}" if c.low is not None else "",
                                                       f"{c.column} <= {c.high:g}" if c.high is not None else "")
                                          if p))
        return "; ".join(parts)


def parse_filters(spec: Mapping[str, Any] | None, columns: Mapping[str, str]) -> ProductFilter | None:
    """Check ``spec`` against the product ``columns`` (name -> type); None when it filters nothing."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ValueError(f"filters must be an object of field names and values, e.g. {{\"in_stock\": true}}, got "
                         f"{type(spec).__name__}")
    ranges: dict[str, list] = {}
    clauses = []
    for key, value in spec.items():
        if value is None or value == "" or (isinstance(value, (list, tuple)) and not value):
            continue
        if not isinstance(key, str):
            raise ValueError(f"filter names must be texts, got {key!r}")
        column, bound = _column_of(key, columns)
        kind = columns[column]
        if bound:
            low_high = ranges.setdefault(column, [None, None])
            low_high[0 if bound == "min" else 1] = _number(value, key)
        elif kind == "bool":
            clauses.append(Clause(column, flag=_flag(value, key)))
        else:
            values = value if isinstance(value, (list, tuple)) else [value]
            if kind == "number":
                clauses.append(Clause(column, values=tuple(sorted({_number(v, key) for v in values}))))
            else:
                clauses.append(Clause(column, values=tuple(sorted({_text(v, key) for v in values}))))
    for column, (low, high) in ranges.items():
        if low is not None and high is not None and low > high:
            raise ValueError(f"{column}_min ({low:g}) is above {column}_max ({high:g}); no product can pass")
        clauses.append(Clause(column, low=low, high=high))
    return ProductFilter(tuple(sorted(clauses, key=repr))) if clauses else None


def _column_of(key: str, columns: Mapping[str, str]) -> tuple[str, str | None]:
    """(the column a filter key names, "min"/"max" or None); a ValueError listing what exists otherwise."""
    if not columns:
        raise ValueError(f"the index has no product fields to filter on (filter {key!r}); attach a products file "
                         f"with `python -m cti_ir.index products --index INDEX --file products.jsonl`")
    name = ALIASES.get(key, key) if ALIASES.get(key) in columns else key
    if name in columns:
        return name, None
    for bound in ("min", "max"):
        base = key[: -len(bound) - 1]
        if key.endswith("_" + bound) and columns.get(base) == "number":
            return base, bound
    numbers = [c for c, kind in columns.items() if kind == "number"]
    allowed = ", ".join(sorted(columns)) + "".join(f", {c}_min, {c}_max" for c in sorted(numbers))
    raise ValueError(f"unknown filter {key!r}; the products can be filtered on {allowed}")


def _number(value: Any, key: str) -> float:
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
        raise ValueError(f"filter {key} must be a number, got {_brief(value)}")
    return float(number)


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"filter {key} must be true or false, got {_brief(value)}")


def _text(value: Any, key: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"filter {key} must be a text or a list of texts, got {_brief(value)}")
    return str(value).strip().casefold()


def _brief(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


class FilterMasks:
    """Which index positions pass a filter, for one index version's items and products."""

    def __init__(self, image_ids: Sequence[str], products: ProductTable):
        self.image_ids = list(image_ids)
        self.products = products
        self._columns: dict[str, Any] = {}
        self._cache: OrderedDict[ProductFilter, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def columns(self) -> dict[str, str]:
        return self.products.columns

    def parse(self, spec: Mapping[str, Any] | ProductFilter | None) -> ProductFilter | None:
        return spec if isinstance(spec, ProductFilter) else parse_filters(spec, self.columns)

    def mask(self, product_filter: ProductFilter) -> np.ndarray:
        """Boolean mask over positions (read-only; cached)."""
        with self._lock:
            cached = self._cache.get(product_filter)
            if cached is not None:
                self._cache.move_to_end(product_filter)
                return cached
        mask = np.ones(len(self.image_ids), dtype=bool)
        for clause in product_filter.clauses:
            mask &= self._clause_mask(clause)
        mask.setflags(write=False)
        with self._lock:
            self._cache[product_filter] = mask
            while len(self._cache) > MASK_CACHE:
                self._cache.popitem(last=False)
        return mask

    def _clause_mask(self, clause: Clause) -> np.ndarray:
        if clause.column not in self.columns:  # parsed for an earlier version that had the column: none passes
            return np.zeros(len(self.image_ids), dtype=bool)
        data = self._column(clause.column)
        if clause.flag is not None:
            return data == (1 if clause.flag else 0)
        if clause.values:
            if isinstance(data, dict):  # texts and lists: inverted lists
                out = np.zeros(len(self.image_ids), dtype=bool)
                for v in clause.values:
                    out[data.get(v, [])] = True
                return out
            return np.isin(data, np.asarray(clause.values, dtype=np.float64))
        with np.errstate(invalid="ignore"):  # NaN (no value) fails both comparisons
            out = ~np.isnan(data)
            if clause.low is not None:
                out &= data >= clause.low
            if clause.high is not None:
                out &= data <= clause.high
        return out

    def _column(self, column: str):
        """A column in searchable form, made on first use: numbers (NaN: none), flags (-1: none), or value ->
        positions for texts and lists."""
        with self._lock:
            if column in self._columns:
                return self._columns[column]
        kind = self.columns[column]
        rows = [self.products.get(i).get(column) for i in self.image_ids]
        if kind == "number":
            data = np.array([np.nan if v is None else v for v in rows], dtype=np.float64)
        elif kind == "bool":
            data = np.array([-1 if v is None else int(v) for v in rows], dtype=np.int8)
        else:
            inverted: dict[str, list[int]] = {}
            for position, v in enumerate(rows):
                for text in ([v] if isinstance(v, str) else v or []):
                    inverted.setdefault(str(text).casefold(), []).append(position)
            data = {text: np.asarray(p, dtype=np.int64) for text, p in inverted.items()}
        with self._lock:
            self._columns[column] = data
        return data
