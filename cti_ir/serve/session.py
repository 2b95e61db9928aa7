"""Shopping sessions: the turns a shopper took, and what they make of the next search.

A :class:`Session` is what the shopper did so far, turn by turn (:class:`SessionTurn`): what they asked, from
which catalogue product, what was shown and which product they picked as the next reference. The next search
uses it in two ways, chosen by measurement on simulated sessions (``benchmarks/session``):

- **What was asked holds unless overridden.** Every turn's words are read into facet constraints
  (:mod:`cti_ir.index.facets`: "make it black" wants black; "longer sleeves" wants any sleeve longer than that
  turn's reference had; "not red" excludes red), and the turns are merged slot by slot, later over earlier
  (:func:`merge_constraints`): turn 1's "black" holds at turn 3 unless turn 3 names another colour. Products
  whose description contradicts a constraint step back behind those that do not (:func:`ranking_tiers`).
- **What was shown and passed over steps back** behind everything not yet shown (the shopper saw it and took
  something else).

Within each tier the composed query (the current reference and the current words) ranks the products, so
everything the shopper did not ask to change stays as close to the reference as the model can keep it. A
session is plain data: the page keeps it per browser, and the JSON API takes it from the client on every request
(:func:`parse_history`), so the server holds no session state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cti_ir.index.facets import SLOTS, Constraint, read_description, read_request

MAX_TURNS = 20          # a longer history is refused: a session past 20 turns has lost its way
MAX_SHOWN = 200         # products shown in one turn (the largest k)
MAX_HISTORY_TEXT = 1000  # characters of one turn's text, as for a query


class HistoryError(ValueError):
    """A session history that cannot be used (wrong shape, too long, unknown products)."""


@dataclass(frozen=True)
class SessionTurn:
    """One earlier turn: the words, the catalogue product it started from, what was shown, what was picked."""

    text: str = ""
    reference: str | None = None        # None: the turn started from an uploaded photo
    shown: tuple[str, ...] = ()
    picked: str | None = None

    def to_json(self) -> dict:
        return {"text": self.text, "reference": self.reference, "shown": list(self.shown), "picked": self.picked}


@dataclass(frozen=True)
class Session:
    """The turns of one shopping session so far (oldest first)."""

    turns: tuple[SessionTurn, ...] = ()

    def then(self, turn: SessionTurn) -> Session:
        """This session with one more turn."""
        return Session(self.turns + (turn,))

    def seen(self) -> set[str]:
        """Products already shown (or used as a reference): the shopper has looked at them and moved on."""
        out: set[str] = set()
        for t in self.turns:
            out.update(t.shown)
            if t.reference:
                out.add(t.reference)
        return out

    def to_json(self) -> list[dict]:
        return [t.to_json() for t in self.turns]


def parse_history(value: Any, known: Callable[[str], bool]) -> Session:
    """A session from its JSON form (a list of turn objects), checked; raises :class:`HistoryError`.

    Each turn is ``{"text": str, "reference": id | null, "shown": [id, ...], "picked": id | null}`` (every field
    optional); ids must be catalogue products (``known``), at most :data:`MAX_TURNS` turns of at most
    :data:`MAX_SHOWN` shown products each.
    """
    if value is None:
        return Session()
    if not isinstance(value, (list, tuple)):
        raise HistoryError(f"the history must be a list of turns, got {_kind(value)}")
    if len(value) > MAX_TURNS:
        raise HistoryError(f"the history has {len(value)} turns; at most {MAX_TURNS} are accepted (start a new "
                           f"session)")
    return Session(tuple(_parse_turn(i, turn, known) for i, turn in enumerate(value, 1)))


def _parse_turn(number: int, turn: Any, known: Callable[[str], bool]) -> SessionTurn:
    where = f"turn {number} of the history"
    if not isinstance(turn, Mapping):
        raise HistoryError(f"{where} must be an object with text, reference, shown and picked, got {_kind(turn)}")
    unknown = sorted(set(turn) - {"text", "reference", "shown", "picked", "turn"})
    if unknown:
        raise HistoryError(f"{where} has the unknown field {str(unknown[0])[:40]!r}; the fields are text, "
                           f"reference, shown and picked")
    text = turn.get("text") or ""
    if not isinstance(text, str):
        raise HistoryError(f"the text of {where} must be a string, got {_kind(text)}")
    shown = turn.get("shown") or []
    if not isinstance(shown, (list, tuple)) or not all(isinstance(i, str) for i in shown):
        raise HistoryError(f"the shown products of {where} must be a list of product ids")
    if len(shown) > MAX_SHOWN:
        raise HistoryError(f"{where} lists {len(shown)} shown products; at most {MAX_SHOWN} are accepted")
    ids = {"reference": turn.get("reference"), "picked": turn.get("picked")}
    for name, image_id in ids.items():
        if image_id is not None and not isinstance(image_id, str):
            raise HistoryError(f"the {name} of {where} must be a product id or null, got {_kind(image_id)}")
    for image_id in [i for i in ids.values() if i] + list(shown):
        if not known(image_id):
            raise HistoryError(f"{where} names the product {image_id[:60]!r}, which is not in the catalogue")
    return SessionTurn(text[:MAX_HISTORY_TEXT], ids["reference"] or None, tuple(shown), ids["picked"] or None)


def _kind(value: Any) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", float: "a number", dict: "an object",
             list: "a list", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def merge_constraints(earlier: Mapping[str, Constraint], later: Mapping[str, Constraint]) -> dict[str, Constraint]:
    """Constraints of two turns merged slot by slot; the later turn overrides the earlier one where they clash.

    A value asked for later replaces an earlier wish and lifts an earlier exclusion of it; a later range ("longer
    sleeves") narrows an earlier one when they overlap; exclusions add up.
    """
    out = dict(earlier)
    for slot, new in later.items():
        old = out.get(slot)
        if old is None:
            out[slot] = new
            continue
        allowed = old.allowed
        if new.allowed is not None:
            narrowed = (old.allowed & new.allowed) if old.allowed is not None and len(new.allowed) > 1 else None
            allowed = narrowed or new.allowed
        excluded = (old.excluded | new.excluded) - (new.allowed or frozenset())
        if allowed is not None:
            allowed = allowed - excluded or None
        out[slot] = Constraint(allowed, frozenset(excluded))
    return out


def session_constraints(session: Session, text: str, reference: Mapping[str, str] | None,
                        facets_of: Callable[[str], Mapping[str, str]]) -> dict[str, Constraint]:
    """What the whole session asks: every earlier turn's words, then the current ones, merged in order.

    ``reference`` holds the facets of the current reference (None for an uploaded photo); ``facets_of`` gives a
    catalogue product's facets (the earlier turns' references).
    """
    merged: dict[str, Constraint] = {}
    for turn in session.turns:
        if turn.text:
            merged = merge_constraints(merged, read_request(turn.text, facets_of(turn.reference)
                                                            if turn.reference else None))
    if text:
        merged = merge_constraints(merged, read_request(text, reference))
    return merged


class CatalogueFacets:
    """Every catalogue product's facets, read from its description once, as one code array per slot."""

    def __init__(self, descriptions: Sequence[str]):
        self._values: dict[str, list[str]] = {slot: [] for slot in SLOTS}
        self._codes = {slot: np.full(len(descriptions), -1, dtype=np.int16) for slot in SLOTS}
        self._rows = [read_description(d) for d in descriptions]
        for row, facets in enumerate(self._rows):
            for slot, value in facets.items():
                values = self._values[slot]
                if value not in values:
                    values.append(value)
                self._codes[slot][row] = values.index(value)

    def __len__(self) -> int:
        return len(self._rows)

    def of(self, position: int) -> dict[str, str]:
        """The facets of the product at ``position`` (slot -> value; unknown slots are absent)."""
        return self._rows[position]

    def violations(self, constraints: Mapping[str, Constraint]) -> np.ndarray:
        """How many constraints each product's description contradicts (unknown facets contradict nothing)."""
        count = np.zeros(len(self._rows), dtype=np.int16)
        for slot, constraint in constraints.items():
            values = self._values.get(slot)
            if not values:
                continue
            bad = np.array([-1] + [i for i, v in enumerate(values) if not constraint.accepts(v)], dtype=np.int16)
            count += np.isin(self._codes[slot], bad[1:])
        return count


def ranking_tiers(candidates: np.ndarray, violations: np.ndarray, seen: np.ndarray) -> list[np.ndarray]:
    """Positions to search in order, each tier ranked by the query vector: products not yet seen by how many
    constraints they contradict (none first), then the products already seen. ``candidates`` is a boolean mask
    (the category), ``violations`` counts per product, ``seen`` a boolean mask."""
    tiers = []
    fresh = candidates & ~seen
    for level in np.unique(violations[fresh]):
        tiers.append(np.flatnonzero(fresh & (violations == level)))
    if (candidates & seen).any():
        tiers.append(np.flatnonzero(candidates & seen))
    return tiers


def fill_from_tiers(tiers: Iterable[np.ndarray], k: int,
                    search: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]) -> tuple[list, list]:
    """The first ``k`` (positions, scores): each tier searched in turn (``search(positions, n)`` -> scores and
    positions, best first) until ``k`` are found."""
    ids: list[int] = []
    scores: list[float] = []
    for tier in tiers:
        if len(ids) >= k:
            break
        s, p = search(tier, min(k - len(ids), len(tier)))
        for score, position in zip(s, p):
            if position >= 0:
                ids.append(int(position))
                scores.append(float(score))
    return ids, scores


@dataclass
class SessionPlan:
    """What a session makes of one search: its merged constraints and the products already seen."""

    constraints: dict[str, Constraint] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def describe(self) -> list[str]:
        """The constraints in words, for the page ("colour: black", "sleeves: not short")."""
        out = []
        for slot, c in self.constraints.items():
            name = slot.replace("_", " ")
            if c.allowed:
                out.append(f"{name}: {' or '.join(v.replace('_', ' ') for v in sorted(c.allowed))}")
            elif c.excluded:
                out.append(f"{name}: not {' or '.join(v.replace('_', ' ') for v in sorted(c.excluded))}")
        return out
