"""Checks of numeric command-line flags, and errors in command-line words, shared by every CLI of the project.

Each CLI lists the allowed range of each of its numeric flags (``{"batch_size": AT_LEAST_ONE, ...}``) and checks
them right after parsing, before any data is read or any model is loaded: a value out of range is refused with one
sentence naming the flag (``--batch-size must be at least 1, got 0``) instead of a ``ZeroDivisionError`` minutes
later, or a run that silently does nothing. ``unchecked_numeric_flags`` lets a test hold every numeric flag of a
parser to that.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Mapping


@dataclass(frozen=True)
class Bounds:
    """The allowed values of a numeric flag: from ``low`` to ``high`` (None: unbounded on that side), each end
    included unless ``low_open`` / ``high_open``. Every float must also be finite (no nan, no inf)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def describe(self) -> str:
        """The range in words, as it follows "must be"."""
        low = None if self.low is None else f"{'above' if self.low_open else 'at least'} {self.low:g}"
        high = None if self.high is None else f"{'below' if self.high_open else 'at most'} {self.high:g}"
        if low and high and not (self.low_open or self.high_open):
            return f"between {self.low:g} and {self.high:g}"
        return " and ".join(p for p in (low, high) if p) or "a finite number"


AT_LEAST_ONE = Bounds(1)
NON_NEGATIVE = Bounds(0)
POSITIVE = Bounds(0, low_open=True)
SHARE = Bounds(0, 1)                                  # a share of something, 0 and 1 included
SHARE_BELOW_ONE = Bounds(0, 1, high_open=True)        # a share that must leave something
ANY_NUMBER = Bounds()                                 # any finite value


def flag_name(dest: str) -> str:
    """The flag an argparse destination comes from: ``batch_size`` -> ``--batch-size``."""
    return "--" + dest.replace("_", "-")


def show_number(value: Any) -> str:
    """A number as an error message shows it: short even when the value is huge (1e308, not 309 digits)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 10 ** 12 else format(Decimal(value).normalize(), ".6g")
    return f"{value:.6g}"


def check_numeric_flags(args: argparse.Namespace, bounds: Mapping[str, Bounds]) -> None:
    """Raise ``ValueError`` naming the first flag whose value is outside its ``bounds`` (see the module).

    Flags left unset (None) are not checked: their default means "decide for me". A flag taking several values
    (``nargs``) has each of them checked.
    """
    for dest, allowed in bounds.items():
        value = getattr(args, dest, None)
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            if v is None:
                continue
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"{flag_name(dest)} must be a finite number, got {v}")
            if not allowed.allows(v):
                raise ValueError(f"{flag_name(dest)} must be {allowed.describe()}, got {show_number(v)}")


def unchecked_numeric_flags(parser: argparse.ArgumentParser, bounds: Mapping[str, Bounds]) -> list[str]:
    """The int and float flags of ``parser`` and its sub-commands that ``bounds`` says nothing about."""
    missing = []
    for action in parser._actions:  # argparse has no public listing of a parser's arguments
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                missing += [m for m in unchecked_numeric_flags(sub, bounds) if m not in missing]
        elif action.type in (int, float) and action.dest not in bounds:
            missing.append(action.option_strings[0] if action.option_strings else action.dest)
    return missing


#: Library argument names in error messages, and the flag a command-line user gives instead.
LIBRARY_ARGUMENTS_AS_FLAGS = {"skip_missing=True": "--skip-missing"}


def command_line_message(error: BaseException) -> str:
    """An error's message as a CLI prints it: a library argument it recommends (``pass skip_missing=True``) is
    named by its flag (``pass --skip-missing``), which is what the user of a command can give."""
    message = str(error)
    for argument, flag in LIBRARY_ARGUMENTS_AS_FLAGS.items():
        message = message.replace(argument, flag)
    return message
