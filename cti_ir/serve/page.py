"""The search page: upload (or pick) a product photo, type how it should differ, get matching catalogue products.

    python app.py                                   # built-in demo: generated catalogue + demo model, cached
    python app.py --checkpoint runs/stage3/best --index index/   # your own model and catalogue index
    python app.py --checkpoint adapted/ --index index/ --similar-index similar_fusion/ --similar-index similar_k8/
                                                    # + "more like this" with an adapted encoder (training.adapt)
    python app.py --help

The page is a Gradio 6 Blocks app. :func:`build_app` makes it from a :class:`cti_ir.serve.engine.SearchEngine` without
launching it; the event handlers are the methods of :class:`SearchPage`, plain functions that tests call without a
browser. The same server answers two APIs:

- ``POST /api/search``, plain JSON over HTTP (``cti_ir.serve.http_api``; curl examples in the README);
- Gradio's own ``/search`` endpoint, for ``gradio_client``::

    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860/").predict(handle_file("dress.jpg"), "is red and has long sleeves", "All", 10,
                                             False, 0.5, api_name="/search")
    # -> (results gallery, weights, status message, history table)

Concurrent searches from both share batches (``cti_ir.serve.batching.SearchBatcher``): one encoder pass and one FAISS
search for the queries that arrive within a few milliseconds. Results are shown as small cached thumbnails
(``cti_ir.serve.thumbnails``). Wrong input of any kind gets our own sentence naming the parameter (``cti_ir.serve.gradio_io``).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads the variable at import time. setdefault so a user's own setting wins.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402

import gradio as gr  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from cti_ir.model.composers import balance_in_words  # noqa: E402
from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image  # noqa: E402
from cti_ir.serve.engine import MAX_K, QueryError, SearchEngine, parse_image_weight, parse_k  # noqa: E402
from cti_ir.serve.gradio_io import (  # noqa: E402,F401
    catalogue_dirs,
    gradio_file_url,
    launch,
    md_code,
    md_escape,
    raw_input,
    report_unreadable_inputs,
    upload_image,
)
from cti_ir.serve.messages import image_error_message, query_error_message  # noqa: E402
from cti_ir.serve.thumbnails import ThumbnailCache  # noqa: E402

log = logging.getLogger("cti_ir.app")

ALL_CATEGORIES = "All"
DEFAULT_K = 10
CAPTION_DESCRIPTION_CHARS = 160
ID_TAIL_CHARS = 12
HISTORY_TEXT_CHARS = 80
HISTORY_HEADERS = ["turn", "reference", "modification", "category", "top result", "weights (image / text)"]
EXAMPLE_TEXTS = (
    "is red and has long sleeves",
    "is shorter and has no sleeves",
    "is blue rather than white with a v-neck",
    "has a floral print and is more casual",
    "are black with a higher heel",
    "have a shiny finish and no straps",
)


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


def _keep_reference(status: str) -> ReferenceOutput:
    """Nothing changes but the status message."""
    return ReferenceOutput(gr.update(), gr.update(), gr.update(), gr.update(), status, gr.update())


def _error(message: str) -> str:
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


def _placeholder_image(size: int = 224) -> Image.Image:
    """A grey tile shown in place of a catalogue image that is no longer on disk."""
    img = Image.new("RGB", (size, size), (225, 225, 225))
    draw = ImageDraw.Draw(img)
    draw.line([(0, 0), (size, size)], fill=(180, 180, 180), width=3)
    draw.line([(0, size), (size, 0)], fill=(180, 180, 180), width=3)
    draw.text((size // 2 - 40, size // 2 - 6), "image missing", fill=(90, 90, 90))
    return img


class SearchPage:
    """The page's state-free logic: every event handler, callable directly (tests, scripts) or by Gradio.

    Per-user state (current reference id, last results, history) travels in ``gr.State`` values passed in and
    returned, so one ``SearchPage`` serves every browser session; the only shared object is the read-only engine.
    """

    def __init__(self, engine: SearchEngine, max_pixels: int = DEFAULT_MAX_PIXELS, n_samples: int = 8,
                 seed: int | None = None, searcher=None, thumbnails: ThumbnailCache | None = None):
        self.engine = engine
        # What answers the queries: the engine itself, or a SearchBatcher over it shared with the JSON API.
        self.searcher = searcher if searcher is not None else engine
        self.thumbnails = thumbnails  # None: the catalogue photos themselves are shown
        self.max_pixels = max_pixels
        self.placeholder = _placeholder_image()
        self._rng = random.Random(seed)  # our own generator: the global one is not ours to reseed
        self.samples = self._sample_items(n_samples)

    # ------------------------------------------------------------------------------------------------ helpers
    @property
    def categories(self) -> list[str]:
        """Choices of the category filter."""
        return [ALL_CATEGORIES] + list(self.engine.categories)

    def _sample_items(self, n: int) -> list[dict]:
        """A few catalogue products to pick a reference from: one per category, largest categories first."""
        items = self.engine.index.items
        by_category: dict[str, list[dict]] = {}
        for it in items:
            for category in it.get("categories") or []:
                by_category.setdefault(category, []).append(it)
        # Largest first: a catalogue with 3 big clothing categories and 10 small shoe types shows clothes too.
        order = sorted(by_category, key=lambda c: (-len(by_category[c]), c))
        chosen: list[dict] = []
        for category in order:
            first = next((it for it in by_category[category] if it not in chosen and os.path.isfile(it["path"])),
                         None)
            if first is not None and len(chosen) < n:
                chosen.append(first)
        for it in items:  # fewer categories than n: fill up in catalogue order
            if len(chosen) >= n:
                break
            if it not in chosen and os.path.isfile(it["path"]):
                chosen.append(it)
        return chosen

    def _shown(self, path: str) -> str | Image.Image:
        """What the page shows for a catalogue photo: its thumbnail, the photo, or a placeholder if it is gone."""
        if self.thumbnails is not None:
            return self.thumbnails.path_for(path) or self.placeholder
        return path if os.path.isfile(path) else self.placeholder

    def sample_gallery(self) -> list[tuple[Any, str]]:
        """The catalogue picker's thumbnails, each with its short label."""
        return [(self._shown(it["path"]), item_label(it)) for it in self.samples]

    @staticmethod
    def picker_without_highlight() -> dict:
        """The catalogue picker with no thumbnail selected (the page's CSS never shows the picker's selection: the
        browser kept it after an upload, pointing at a product that was no longer the reference)."""
        return gr.update(selected_index=None)

    @staticmethod
    def _caption(hit: dict) -> str:
        description = hit.get("description") or ""
        if len(description) > CAPTION_DESCRIPTION_CHARS:
            description = description[:CAPTION_DESCRIPTION_CHARS - 1] + "…"
        caption = f"{item_label(hit)} · score {hit['score']:.3f}"
        return f"{caption}\n{description}" if description else caption

    def _gallery(self, hits: list[dict]) -> tuple[list, list[str]]:
        """The results gallery for ``hits``, and the ids of those whose photo is missing from disk."""
        gallery, missing = [], []
        for h in hits:
            if os.path.isfile(h["path"]):
                gallery.append((self._shown(h["path"]), self._caption(h)))
            else:  # deleted or moved since indexing: keep the slot, say which product it is
                missing.append(h["image_id"])
                gallery.append((self.placeholder, f"[image missing] {self._caption(h)}"))
        return gallery, missing

    def _load_reference(self, image: Any) -> Image.Image | None:
        """The reference as a decoded RGB image; ``image`` is an upload's file path (or a PIL image)."""
        if image is None or (isinstance(image, str) and not image.strip()):
            return None
        if isinstance(image, Image.Image):
            if image.width * image.height > self.max_pixels:
                raise ImageLoadError("<image>", f"too many pixels ({image.width}x{image.height})")
            return image.convert("RGB")
        if not isinstance(image, (str, os.PathLike)):
            raise QueryError(f"the image must be an uploaded image file, or nothing for a text-only search; got a "
                             f"{type(image).__name__}", "image")
        # Our own decoder, not the component's: it checks the pixel count in the header before decoding.
        return load_image(image, max_pixels=self.max_pixels)

    @staticmethod
    def _weights_markdown(result, override: bool) -> str:
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

    # ----------------------------------------------------------------------------------------------- search
    def search(self, image: Any = None, text: str | None = None, category: str | None = ALL_CATEGORIES,
               k: Any = DEFAULT_K, override: Any = False, image_weight: Any = 0.5, reference_id: str | None = None,
               history: list[dict] | None = None, hits: list[dict] | None = None) -> SearchOutput:
        """Run one query; every failure becomes a message in the status, never an exception.

        A failed query keeps the previous results (``hits``) on the page and the history as it was.
        """
        history = list(history or [])
        try:
            return self._search(image, text, category, k, override, image_weight, reference_id, history)
        except ImageLoadError as e:
            message = image_error_message(e, self.max_pixels)
            log.info("search refused (image): %s", e)
        except QueryError as e:
            message = query_error_message(e)
            log.info("search refused (%s): %s", e.parameter or "query", e)
        except OSError as e:
            log.warning("search failed: %s", e)
            message = f"A file could not be read ({e.strerror or e}); please try again."
        except Exception as e:  # noqa: BLE001 - the page must keep serving; the details go to the server log
            log.exception("search failed")
            message = f"The search failed ({type(e).__name__}); the details are in the server log."
        previous = list(hits or [])
        # The previous results are sent again (not gr.update(), which API callers would receive as a dict).
        return SearchOutput(self._gallery(previous)[0], "", _error(message), previous, history,
                            self.history_rows(history))

    def _search(self, image, text, category, k, override, image_weight, reference_id, history) -> SearchOutput:
        reference = self._load_reference(image)
        if category is not None and not isinstance(category, str):
            raise QueryError(f"the category must be a name, got {category!r}", "category")
        category = None if category in (None, "", ALL_CATEGORIES) else category
        weights = parse_image_weight(image_weight) if self._flag(override, "override") else None
        if reference is None:
            reference_id = None
        k_int = parse_k(k)
        # The reference product itself would come first; ask for one more and leave it out.
        exclude = reference_id if reference is not None else None
        result = self.searcher.search(image=reference, text=text, k=min(k_int + 1, MAX_K) if exclude else k_int,
                                      category=category, weights=weights)
        hits = [h for h in result.hits if h.image_id != exclude][:k_int]
        hit_dicts = [{"image_id": h.image_id, "path": h.path, "score": h.score, "categories": h.categories,
                      "description": h.description} for h in hits]
        gallery, missing = self._gallery(hit_dicts)
        turn = {"turn": len(history) + 1,
                "reference": (reference_id or "uploaded image") if reference is not None else "—",
                "text": result.text, "category": category or ALL_CATEGORIES,
                "top": hit_dicts[0]["image_id"] if hit_dicts else "—",
                "weights": f"{result.image_weight:.2f} / {result.text_weight:.2f}"}
        history = history + [turn]
        status = self._status(result, hit_dicts, missing, override, category)
        return SearchOutput(gallery, self._weights_markdown(result, override and result.mode == "composed"),
                            status, hit_dicts, history, self.history_rows(history))

    @staticmethod
    def _flag(value: Any, name: str) -> bool:
        """A checkbox value; API callers may send true/false, 1/0 or their strings."""
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", ""):
            return value.strip().lower() in ("true", "1")
        raise QueryError(f"{name} must be true or false, got {value!r}", name)

    @staticmethod
    def _status(result, hits: list[dict], missing: list[str], override: bool, category: str | None) -> str:
        mode = {"composed": "image + text", "image": "image only", "text": "text only",
                "similar": "more like this"}[result.mode]
        where = f" in {md_code(category)}" if category else ""
        lines = [f"Found **{len(hits)}** products{where} ({mode})."]
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

    @staticmethod
    def history_rows(history: list[dict]) -> list[list]:
        """The turns as rows of the history table (see ``HISTORY_HEADERS``)."""
        rows = []
        for t in history:
            text = t["text"] if len(t["text"]) <= HISTORY_TEXT_CHARS else t["text"][:HISTORY_TEXT_CHARS - 1] + "…"
            rows.append([t["turn"], t["reference"], text, t["category"], t["top"], t["weights"]])
        return rows

    # ------------------------------------------------------------------------------------- more like this
    def granularity_choices(self) -> list[tuple[str, str]]:
        """The similarity choices of "more like this": (label, value), the default first.

        With an adapted checkpoint (``python -m training.adapt``) and its similar-products indexes: the fusion of all
        granularities, each single adapter set, or the unadapted encoder; otherwise one choice, the main index.
        """
        labels = {"fusion": "all granularities (fusion)", "off": "unadapted encoder"}
        return [(labels.get(g, f"one granularity: {g[1:]} clusters") if g else "default", g or "default")
                for g in self.engine.similar_granularities]

    def more_like_this(self, image: Any = None, reference_id: str | None = None, granularity: Any = None,
                       category: str | None = ALL_CATEGORIES, k: Any = DEFAULT_K, history: list[dict] | None = None,
                       hits: list[dict] | None = None) -> SearchOutput:
        """Products that look like the reference (a clicked result, a picked product or an upload), image only.

        Every failure becomes a message in the status; the previous results stay on the page.
        """
        history = list(history or [])
        try:
            return self._more_like_this(image, reference_id, granularity, category, k, history)
        except ImageLoadError as e:
            message = image_error_message(e, self.max_pixels)
        except QueryError as e:
            message = query_error_message(e)
        except Exception as e:  # noqa: BLE001 - the page must keep serving; the details go to the server log
            log.exception("more like this failed")
            message = f"The search failed ({type(e).__name__}); the details are in the server log."
        previous = list(hits or [])
        return SearchOutput(self._gallery(previous)[0], "", _error(message), previous, history,
                            self.history_rows(history))

    def _more_like_this(self, image, reference_id, granularity, category, k, history) -> SearchOutput:
        if category is not None and not isinstance(category, str):
            raise QueryError(f"the category must be a name, got {category!r}", "category")
        category = None if category in (None, "", ALL_CATEGORIES) else category
        granularity = None if granularity in (None, "", "default") else str(granularity)
        if reference_id:
            result = self.engine.similar(image_id=reference_id, k=k, category=category, granularity=granularity)
        else:
            reference = self._load_reference(image)
            if reference is None:
                raise QueryError("choose a product first: click a result or a catalogue photo, or upload a photo; "
                                 "then press More like this")
            result = self.engine.similar(image=reference, k=k, category=category, granularity=granularity)
        used = granularity or self.engine.similar_granularities[0]
        hit_dicts = [{"image_id": h.image_id, "path": h.path, "score": h.score, "categories": h.categories,
                      "description": h.description} for h in result.hits]
        gallery, missing = self._gallery(hit_dicts)
        turn = {"turn": len(history) + 1, "reference": reference_id or "uploaded image",
                "text": f"(more like this: {used})" if used else "(more like this)",
                "category": category or ALL_CATEGORIES, "top": hit_dicts[0]["image_id"] if hit_dicts else "—",
                "weights": "1.00 / 0.00"}
        history = history + [turn]
        status = self._status(result, hit_dicts, missing, False, category)
        return SearchOutput(gallery, self._weights_markdown(result, False), status, hit_dicts, history,
                            self.history_rows(history))

    # ------------------------------------------------------------------------------------ reference changes
    def _use_item(self, item: dict, why: str, from_picker: bool = False) -> ReferenceOutput:
        if not os.path.isfile(item["path"]):
            return _keep_reference("**Error:** " + (
                f"The image of product {md_code(item['image_id'])} is missing from disk, so it cannot be the "
                f"reference; pick another one."))
        label = f"Reference: product {md_code(item['image_id'])}"
        if item.get("categories"):
            label += f" ({md_escape(', '.join(c.replace('_', ' ') for c in item['categories']))})"
        status = f"{why} product {md_code(item['image_id'])} is the reference now: type how the result should " \
                 f"differ and press Search, or press More like this."
        picker = gr.update() if from_picker else self.picker_without_highlight()
        return ReferenceOutput(item["path"], item["image_id"], label, "", status, picker)

    @staticmethod
    def _selected_index(evt: Any) -> int | None:
        index = getattr(evt, "index", evt)
        if isinstance(index, (list, tuple)):
            index = index[0] if index else None
        return index if isinstance(index, int) else None

    def select_result(self, hits: list[dict] | None, evt: gr.SelectData) -> ReferenceOutput:
        """A click on a result: that product becomes the reference of the next turn."""
        index = self._selected_index(evt)
        if index is None or not hits or not 0 <= index < len(hits):
            return _keep_reference(_error("That result is no longer available; run the search again."))
        return self._use_item(hits[index], "Refining:")

    def select_sample(self, evt: gr.SelectData) -> ReferenceOutput:
        """A click on a catalogue thumbnail: that product becomes the reference."""
        index = self._selected_index(evt)
        if index is None or not 0 <= index < len(self.samples):
            return _keep_reference(_error("Unknown product."))
        return self._use_item(self.samples[index], "Picked:", from_picker=True)

    def random_product(self) -> ReferenceOutput:
        """A random catalogue product as the reference (a few tries, in case some images are missing)."""
        items = self.engine.index.items
        for _ in range(20):
            item = items[self._rng.randrange(len(items))]
            if os.path.isfile(item["path"]):
                return self._use_item(item, "Random pick:")
        return _keep_reference(_error("Could not find a catalogue image on disk; is the catalogue folder there?"))

    def reference_uploaded(self, image: Any = None) -> ReferenceOutput:
        """The user uploaded their own photo: it has no product id. A file that cannot be used is removed at once
        (instead of a broken-image icon) and the status says why; the results on the page stay."""
        no_highlight = self.picker_without_highlight()
        try:
            self._load_reference(image)
        except (ImageLoadError, QueryError) as e:
            message = image_error_message(e, self.max_pixels) if isinstance(e, ImageLoadError) else \
                query_error_message(e)
            log.info("upload refused: %s", e)
            return ReferenceOutput(None, None, "No reference image: the search will use the text only.", gr.update(),
                                   _error(message), no_highlight)
        return ReferenceOutput(gr.update(), None, "Reference: your uploaded image", gr.update(),
                               "Your photo is the reference now: type how the result should differ and press "
                               "Search.", no_highlight)

    @staticmethod
    def reference_cleared() -> tuple[None, str]:
        """The reference image was removed."""
        return None, "No reference image: the search will use the text only."

    @staticmethod
    def new_session() -> tuple[list, list, list, list, str]:
        """Forget the results and the history (not the reference and text)."""
        return [], [], [], [], "History cleared."

    @staticmethod
    def toggle_override(enabled: bool):
        """The image-weight slider is active only while the manual override is on."""
        return gr.update(interactive=bool(enabled))
