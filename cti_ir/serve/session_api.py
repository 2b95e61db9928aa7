"""Shopping sessions in the JSON API: the ``history`` and ``reference_id`` fields of ``POST /api/search``, the
category default, and the session part of the answer.

The API keeps no session on the server: the client sends the session's earlier turns with every request and
appends the ``turn`` each answer returns (adding ``picked``, the product the shopper chose)::

    {"reference_id": "B00X", "text": "make it black",
     "history": [{"text": "with long sleeves", "reference": "B00A", "shown": ["B00X", "B00Y"], "picked": "B00X"}]}

- ``history``: the earlier turns, oldest first, at most ``cti_ir.serve.session.MAX_TURNS`` (a form sends it as its
  JSON text); each turn ``{"text", "reference", "shown", "picked"}``, every id a catalogue product;
- ``reference_id``: a catalogue product as the reference (its photo is used; no upload needed, and the session
  knows its facets), instead of ``image``;
- ``category``: left out, the reference's category (or the one the words ask for: "as a shirt"); ``"all"``:
  every category; a category name: that one. The answer says which was searched (``category``, null for all);
  for an uploaded photo searched in its own category, ``category_guess`` says how sure the index's category
  model is (``{"category", "confidence", "unsure", "alternatives": [{"category", "confidence"}]}``; confidence
  null for an index built without the model, where the closest product's category is used).
"""

from __future__ import annotations

import json
from typing import Any

from cti_ir.serve.engine import QueryError
from cti_ir.serve.session import MAX_TURNS
from cti_ir.serve.session_search import SAME_CATEGORY

SESSION_FIELDS = ("history", "reference_id")


def history_of(fields: dict[str, Any]) -> list | None:
    """The ``history`` field as a list of turns (None: not a session); :class:`QueryError` ("history")."""
    history = fields.get("history")
    if isinstance(history, str):
        if not history.strip():
            return None
        try:
            history = json.loads(history)
        except (ValueError, RecursionError):
            raise QueryError("history must be a JSON list of turns such as [{\"text\": \"in black\", \"shown\": "
                             "[...], \"picked\": \"...\"}]", "history") from None
    if history is not None and not isinstance(history, list):
        raise QueryError("history must be a list of turns, each {\"text\", \"reference\", \"shown\", \"picked\"}",
                         "history")
    return history


def reference_of(engine, fields: dict[str, Any], uploaded: bool) -> str | None:
    """The ``reference_id`` product (None: not named); QueryError when it is not a catalogue product, is not a
    string, or comes with an uploaded photo too (``uploaded``). Its photo is not read here: the engine uses the
    index's stored vector, and reads the photo only where the index cannot give that back
    (``cti_ir.serve.stored_references``)."""
    reference_id = fields.get("reference_id")
    if reference_id in (None, ""):
        return None
    if not isinstance(reference_id, str):
        raise QueryError("reference_id must be the id of a catalogue product (a string)", "reference_id")
    if uploaded:
        raise QueryError("send either an image or a reference_id, not both", "reference_id")
    if engine.item(reference_id) is None:
        raise QueryError(f"reference_id {reference_id[:60]!r} is not a product of the catalogue", "reference_id")
    return reference_id


def category_of(fields: dict[str, Any]) -> str:
    """The requested category; left out: the reference's own (``"auto"``)."""
    return fields.get("category") or SAME_CATEGORY


def session_answer(result, reference_id: str | None, in_session: bool) -> dict:
    """What the answer adds: the category searched, what the session carried over, and the turn to append."""
    out = {"category": result.category}
    guess = getattr(result, "category_guess", None)
    if guess is not None:  # an uploaded photo's category, guessed: how sure, and what else it may be
        out["category_guess"] = guess.to_json()
    if in_session:
        out["session"] = {"carried": list(result.carried)}
    out["turn"] = {"text": result.text, "reference": reference_id, "shown": [h.image_id for h in result.hits],
                   "picked": None}
    return out


# ------------------------------------------------------------------------------------------------- the page
#: The page's category choice that keeps the reference's category (the default; "All" searches everything).
SAME_CATEGORY_CHOICE = "Same as the reference"


def page_session(history: list[dict]) -> list[dict]:
    """The session the page's history makes (its last ``MAX_TURNS`` turns): each turn's ``session_turn``, with
    ``picked`` the next turn's reference when it was among that turn's results (the shopper clicked it)."""
    turns = [dict(t["session_turn"]) for t in history if isinstance(t, dict) and "session_turn" in t]
    turns = turns[-MAX_TURNS:]
    for turn, following in zip(turns, turns[1:]):
        if following.get("reference") in (turn.get("shown") or []):
            turn["picked"] = following["reference"]
    return turns


def carried_note(carried: list[str]) -> str | None:
    """The page's note on what the session carried into this search."""
    if not carried:
        return None
    return f"carried over from the earlier turns: {'; '.join(carried)} (New session forgets them)"
