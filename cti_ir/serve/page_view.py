"""What the search page shows: product labels, result captions, the status line, the weights and the history.

Plain functions of a search result, with no Gradio state, so that the handlers in ``cti_ir.serve.page`` stay about
control flow and the wording lives in one place.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from cti_ir.model.composers import balance_in_words
from cti_ir.serve.gradio_io import md_code, md_escape

ALL_CATEGORIES = "All"
DEFAULT_K = 10
CAPTION_DESCRIPTION_CHARS = 160
ID_TAIL_CHARS = 12
HISTORY_TEXT_CHARS = 80
#: Turns kept in a session's history (the oldest go first): every search sends the table back, so it stays small.
HISTORY_MAX_TURNS = 50
HISTORY_HEADERS = ["turn", "reference", "modification", "category", "top result", "weights (image / text)"]
#: Shoppers write in many ways, and the examples show a few (a description, an order, a wish, "X instead of Y", a
#: fragment, a negation): the request reader and the demo model's training in varied wordings are meant for them.
EXAMPLE_TEXTS = (
    "is red and has long sleeves",
    "make it shorter, without sleeves",
    "I'd like it in blue instead of white, with a v-neck",
    "same but with a floral print",
    "are black with a higher heel",
    "no longer matte, shiny please",
)
MODES = {"composed": "image + text", "image": "image only", "text": "text only", "similar": "more like this"}


class SearchOutput(NamedTuple):
    """What the search handler returns, in the order of the event's outputs."""

    gallery: list            # (image path or placeholder, caption) per result
    weights: str             # Markdown: the weights the composer used
    status: str              # Markdown: what happened, or what went wrong
    hits: list[dict]         # State: the results, for click-to-refine
    history: list[dict]      # State: the turns so far
    history_rows: list[list]  # the history as table rows


class ReferenceOutput(NamedTuple):
    """What the handlers that change the reference image return, in the order of their outputs."""

    image: Any               # the new reference (path), or gr.update() to keep the current one
    reference_id: Any        # State: the reference's product id (None for an upload)
    reference_label: str     # Markdown under the image
    text: Any                # the modification box: cleared for a new turn, or gr.update()
    status: str
    picker: Any              # the catalogue picker: its highlight cleared unless the pick came from it


def error_markdown(message: str) -> str:
    """A refusal or failure as the status line."""
    return f"**Error:** {md_escape(message)}"


def item_label(item: dict) -> str:
    """A short human label for a catalogue item: its category and the distinctive end of its product id.

    ``img_womens_high_heels_838.jpg`` in ``high_heels`` -> ``high heels · 838``; ``B00N5GK9GH`` in ``dress`` ->
    ``dress · B00N5GK9GH``; ids that do not repeat the category keep their last ``ID_TAIL_CHARS`` characters.
    """
    category = (item.get("categories") or [""])[0]
    stem = re.sub(r"\.(jpe?g|png|webp|gif|bmp|tiff?)$", "", str(item["image_id"]), flags=re.IGNORECASE)
    stem = stem.rsplit("/", 1)[-1]
    if category and category in stem:  # e.g. img_womens_<category>_838: what follows the category is the id
        tail = stem.split(category, 1)[1].strip("_-. ") or stem
    else:
        tail = stem
    if len(tail) > ID_TAIL_CHARS:
        tail = "…" + tail[-ID_TAIL_CHARS:]
    return f"{category.replace('_', ' ')} · {tail}" if category else tail


def caption(hit: dict) -> str:
    """A result's caption: its label and score, then its description (cut to ``CAPTION_DESCRIPTION_CHARS``)."""
    description = hit.get("description") or ""
    if len(description) > CAPTION_DESCRIPTION_CHARS:
        description = description[:CAPTION_DESCRIPTION_CHARS - 1] + "…"
    text = f"{item_label(hit)} · score {hit['score']:.3f}"
    shop = product_line(hit.get("product") or {})
    text = f"{text}\n{shop}" if shop else text
    return f"{text}\n{description}" if description else text


def product_line(product: dict) -> str:
    """The shop's fields a result shows, those that exist: ``Red dress · 19.90 EUR · in stock``."""
    parts = [str(product["title"])[:CAPTION_DESCRIPTION_CHARS]] if product.get("title") else []
    if isinstance(product.get("price"), (int, float)):
        parts.append(f"{product['price']:.2f}" + (f" {product['currency']}" if product.get("currency") else ""))
    if isinstance(product.get("in_stock"), bool):
        parts.append("in stock" if product["in_stock"] else "out of stock")
    return " · ".join(parts)


def hit_dicts(hits) -> list[dict]:
    """The engine's hits as the plain dicts the page keeps in its state."""
    return [{"image_id": h.image_id, "path": h.path, "score": h.score, "categories": h.categories,
             "description": h.description, "product": dict(getattr(h, "product", None) or {})} for h in hits]


def weights_markdown(result, override: bool) -> str:
    """How the query was weighted: the composer's prediction, the manual setting, or one modality only."""
    if result.mode == "similar":
        return "**Weights:** image only (more like this) — image 1.00 · text 0.00"
    if result.mode == "image":
        return "**Weights:** image only (no text given) — image 1.00 · text 0.00"
    if result.mode == "text":
        return "**Weights:** text only (no reference image) — image 0.00 · text 1.00"
    source = "set manually" if override else "predicted by the composer for this query"
    carried = "weighted" if override else "carried"
    return (f"**Weights** ({source}): image **{result.image_weight:.2f}** · text **{result.text_weight:.2f}** "
            f"— this query is {carried} by {balance_in_words(result.image_weight)}")


def status_markdown(result, hits: list[dict], missing: list[str], override: bool, category: str | None) -> str:
    """The status line of a successful search: how many products, in which mode, and any notes."""
    where = f" in {md_code(category)}" if category else ""
    lines = [f"Found **{len(hits)}** products{where} ({MODES[result.mode]})."]
    if not hits:
        lines = [f"No products found{where}."]
    notes = [md_escape(n) for n in result.notes]
    if override and result.mode != "composed":
        notes.append("the manual weights apply only when both an image and a text are given")
    if missing:
        notes.append(f"the image of {len(missing)} product(s) is missing from disk "
                     f"({', '.join(md_code(m) for m in missing[:5])}{'…' if len(missing) > 5 else ''}); "
                     f"shown as a placeholder")
    lines += [f"Note: {n}." for n in notes]
    return "  \n".join(lines)


def history_rows(history: list[dict]) -> list[list]:
    """The turns as rows of the history table (see ``HISTORY_HEADERS``)."""
    rows = []
    for t in history:
        text = t["text"] if len(t["text"]) <= HISTORY_TEXT_CHARS else t["text"][:HISTORY_TEXT_CHARS - 1] + "…"
        rows.append([t["turn"], t["reference"], text, t["category"], t["top"], t["weights"]])
    return rows


def with_turn(history: list[dict], turn: dict) -> list[dict]:
    """``history`` with ``turn`` appended (numbered after the last one), at most ``HISTORY_MAX_TURNS`` long."""
    turn = {"turn": (history[-1]["turn"] + 1) if history else 1, **turn}
    return (history + [turn])[-HISTORY_MAX_TURNS:]
