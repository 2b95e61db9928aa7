"""What a search request may contain, checked: k, the manual image/text weights, and the error that names the
parameter that was wrong (``QueryError``; the page and the JSON API turn it into our message).
"""

from __future__ import annotations

import math
from typing import Any

MAX_TEXT_CHARS = 1000   # longer texts are cut (the tokenizer would truncate to its context anyway)
MAX_K = 200


class QueryError(ValueError):
    """A query the engine cannot answer (nothing given, unusable text, bad k, weights or category).

    ``parameter`` names the input at fault (``"k"``, ``"category"``, ``"weights"``, ``"image_weight"``), or is None
    when no single input is (nothing given at all); the web page and the JSON API report it to the caller.
    """

    def __init__(self, message: str, parameter: str | None = None):
        super().__init__(message)
        self.parameter = parameter


def parse_k(k: Any) -> int:
    """``k`` as a whole number between 1 and ``MAX_K``; raises :class:`QueryError` otherwise.

    Integers, integral floats (``10.0``, as sliders send them) and their strings (``"10"``, as form fields send
    them) are accepted; ``2.7`` is refused rather than silently cut to 2.
    """
    value: Any = k
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            isinstance(value, float) and not value.is_integer()):
        raise QueryError(f"k must be a whole number between 1 and {MAX_K}, got {brief_repr(k)}", "k")
    if not 1 <= value <= MAX_K:
        raise QueryError(f"k must be between 1 and {MAX_K}, got {_shown_number(value)}", "k")
    return int(value)


def brief_repr(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters: a message quotes what was sent, not a megabyte of it."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _shown_number(value: float) -> str:
    # 1e308 is shown as such: int() would print all of its 309 digits (and a 400-digit int cannot become a float)
    if abs(value) < 1e15:
        return str(int(value)) if float(value).is_integer() else f"{value:g}"
    try:
        return f"{float(value):.3g}"
    except OverflowError:
        return "a number too large to show"


def parse_image_weight(value: Any) -> tuple[float, float]:
    """A single image weight in [0, 1] (numbers or their strings) as the manual ``(w_img, w_txt)`` pair."""
    w: Any = value
    if isinstance(w, str):
        try:
            w = float(w.strip())
        except ValueError:
            w = None
    if isinstance(w, int) and not isinstance(w, bool):
        w = float(w) if abs(w) < 1e300 else math.inf  # float() of a 400-digit int would raise
    if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w):
        raise QueryError(f"the image weight must be a number between 0 and 1, got {brief_repr(value)}",
                         "image_weight")
    if not 0.0 <= w <= 1.0:
        raise QueryError(f"the image weight must be between 0 and 1, got {_shown_number(w)}", "image_weight")
    return float(w), 1.0 - float(w)


def _normalised_weights(weights: Any) -> tuple[float, float]:
    try:
        wi, wt = float(weights[0]), float(weights[1])
        if len(weights) != 2:
            raise ValueError
    except (TypeError, ValueError, IndexError):
        raise QueryError(f"manual weights must be two numbers (w_img, w_txt), got {weights!r}", "weights") from None
    # `not (x >= 0)` also catches NaN, which compares false with everything.
    if not (wi >= 0 and wt >= 0) or wi + wt <= 0 or math.isinf(wi + wt):
        raise QueryError(f"manual weights must be finite, non-negative and not both zero, got {weights!r}", "weights")
    return wi / (wi + wt), wt / (wi + wt)
