"""The search page: upload (or pick) a product photo, type how it should differ, get matching catalogue products.

    python app.py                                   # built-in demo: generated catalogue + demo model, cached
    python app.py --checkpoint runs/stage3/best --index index/   # your own model and catalogue index
    python app.py --checkpoint adapted/ --index index/ --similar-index similar_fusion/ --similar-index similar_k8/
                                                    # + "more like this" with an adapted encoder (training.adapt)
    python app.py --help

The page is a Gradio 6 Blocks app. :func:`build_app` makes it from a :class:`cti_ir.search.SearchEngine` without
launching it; the event handlers are the methods of :class:`SearchPage`, plain functions that tests call without a
browser. The same server answers two APIs:

- ``POST /api/search``, plain JSON over HTTP (``cti_ir.http_api``; curl examples in the README);
- Gradio's own ``/search`` endpoint, for ``gradio_client``::

    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860/").predict(handle_file("dress.jpg"), "is red and has long sleeves", "All", 10,
                                             False, 0.5, api_name="/search")
    # -> (results gallery, weights, status message, history table)

Concurrent searches from both share batches (``cti_ir.batching.SearchBatcher``): one encoder pass and one FAISS
search for the queries that arrive within a few milliseconds. Results are shown as small cached thumbnails
(``cti_ir.thumbnails``). Wrong input of any kind gets our own sentence naming the parameter (``app_gradio``).
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads the variable at import time. setdefault so a user's own setting wins.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import argparse  # noqa: E402
import logging  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NamedTuple, Sequence  # noqa: E402

import gradio as gr  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from cti_ir.gallery import index_mode_summary  # noqa: E402
from app_gradio import (catalogue_dirs, gradio_file_url, launch, md_code, md_escape, raw_input,  # noqa: E402,F401
                        report_unreadable_inputs, upload_image)
from cti_ir.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, SearchBatcher  # noqa: E402
from cti_ir.composers import balance_in_words  # noqa: E402
from cti_ir.http_api import API_PATH, SearchApi  # noqa: E402
from cti_ir.images import DEFAULT_MAX_PIXELS, ImageLoadError, load_image  # noqa: E402
from cti_ir.messages import image_error_message, query_error_message  # noqa: E402
from cti_ir.search import MAX_K, QueryError, SearchEngine, parse_image_weight, parse_k  # noqa: E402
from cti_ir.thumbnails import ThumbnailCache  # noqa: E402

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
        granularities, each single adaptor set, or the unadapted encoder; otherwise one choice, the main index.
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


def build_app(engine: SearchEngine, example_texts: Sequence[str] = EXAMPLE_TEXTS, concurrency: int = 16,
              max_pixels: int = DEFAULT_MAX_PIXELS, title: str = "Composed fashion search",
              page: SearchPage | None = None) -> gr.Blocks:
    """The search page as a ``gr.Blocks`` (not launched; see :func:`launch`).

    ``concurrency`` searches are handled at once; with a ``SearchBatcher`` as the page's searcher they share
    batches, so it should be at least the batcher's ``max_batch``.
    """
    page = page or SearchPage(engine, max_pixels=max_pixels)
    with gr.Blocks(title=title, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(f"# {title}\nUpload a product photo (or pick one from the catalogue), say how the product you "
                    f"want differs, and search. Click a result to refine from it, or to see more like it.\n\n"
                    f"Catalogue: {index_mode_summary(engine.index.info)}.", elem_id="index-mode")
        reference_id = gr.State(None)
        hits = gr.State([])
        history = gr.State([])
        with gr.Row():
            with gr.Column(scale=1):
                image = upload_image(label="Reference image", sources=["upload", "clipboard"],
                                    height=280, elem_id="reference-image")
                reference_label = gr.Markdown("No reference image: the search will use the text only.",
                                              elem_id="reference-label")
                # A heading of our own: Gradio's floating label covered the first thumbnail.
                gr.Markdown("…or pick one from the catalogue:", elem_id="picker-heading")
                samples = gr.Gallery(page.sample_gallery(), show_label=False, columns=4, rows=2, height=290,
                                     allow_preview=False, object_fit="contain", elem_id="catalogue-picker")
                random_button = gr.Button("Random product", size="sm", elem_id="random-product")
            with gr.Column(scale=1):
                text = gr.Textbox(label="Modification", placeholder="e.g. is red and has long sleeves", lines=2,
                                  elem_id="modification")
                gr.Examples([[t] for t in example_texts], inputs=[text], label="Example modifications")
                with gr.Row():
                    # raw_input: the handler checks these values (see app_gradio), as the JSON API's does.
                    category = raw_input(gr.Dropdown(page.categories, value=ALL_CATEGORIES, label="Category",
                                                     elem_id="category"))
                    k = raw_input(gr.Slider(1, MAX_K, value=DEFAULT_K, step=1, precision=0, label="Results (K)",
                                            elem_id="k"))
                with gr.Accordion("Image / text weights", open=False):
                    override = raw_input(gr.Checkbox(False, label="Set the weights manually"))
                    image_weight = raw_input(gr.Slider(0.0, 1.0, value=0.5, step=0.05, interactive=False,
                                                       label="Image weight (text weight = 1 − image weight)"))
                with gr.Row():
                    search_button = gr.Button("Search", variant="primary", elem_id="search-button")
                    more_button = gr.Button("More like this", elem_id="more-like-this")
                    clear_button = gr.Button("New session", elem_id="new-session")
                choices = page.granularity_choices()
                # Shown only when there is a choice: an adapted checkpoint with its similar-products indexes.
                granularity = raw_input(gr.Dropdown(choices, value=choices[0][1], label="More like this: similar at",
                                                    visible=len(choices) > 1, elem_id="granularity"))
                status = gr.Markdown("", label="Status", elem_id="status")
                weights = gr.Markdown("", label="Weights", elem_id="weights")
        results = gr.Gallery(label="Results", columns=5, height="auto",
                             object_fit="contain", allow_preview=False, elem_id="results")
        history_table = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, label="Turns",
                                     wrap=True, elem_id="history")

        search_inputs = [image, text, category, k, override, image_weight, reference_id, history, hits]
        search_outputs = [results, weights, status, hits, history, history_table]
        reference_outputs = [image, reference_id, reference_label, text, status, samples]
        search_button.click(page.search, search_inputs, search_outputs, api_name="search",
                            concurrency_limit=concurrency, concurrency_id="search")
        # Enter in the text box searches too; same queue slot, not a second public endpoint.
        text.submit(page.search, search_inputs, search_outputs, api_visibility="private",
                    concurrency_limit=concurrency, concurrency_id="search")
        more_button.click(page.more_like_this, [image, reference_id, granularity, category, k, history, hits],
                          search_outputs, api_name="more_like_this", concurrency_limit=concurrency,
                          concurrency_id="search")
        results.select(page.select_result, [hits], reference_outputs, api_visibility="private")
        samples.select(page.select_sample, None, reference_outputs, api_visibility="private")
        random_button.click(page.random_product, None, reference_outputs, api_visibility="private")
        image.upload(page.reference_uploaded, [image], reference_outputs, api_visibility="private")
        image.clear(page.reference_cleared, None, [reference_id, reference_label], api_visibility="private")
        override.change(page.toggle_override, [override], [image_weight], api_visibility="private")
        clear_button.click(page.new_session, None, [results, hits, history, history_table, status],
                           api_visibility="private")
    return report_unreadable_inputs(demo, image)


class Server(NamedTuple):
    """What ``python app.py`` serves: the page, the JSON API and the batcher and thumbnails they share."""

    demo: gr.Blocks
    api: SearchApi
    batcher: SearchBatcher
    thumbnails: ThumbnailCache


def create_server(engine: SearchEngine, concurrency: int = 16, max_batch: int = DEFAULT_MAX_BATCH,
                  max_wait_ms: float = DEFAULT_MAX_WAIT_MS, thumbnail_dir: str | os.PathLike | None = None,
                  max_upload_mb: float = 20, max_pixels: int = DEFAULT_MAX_PIXELS, **page_kwargs) -> Server:
    """The page and the JSON API over one engine, sharing one batcher and one thumbnail cache (not launched)."""
    batcher = SearchBatcher(engine, max_batch=max_batch, max_wait_ms=max_wait_ms)
    thumbnails = ThumbnailCache(thumbnail_dir)
    page = SearchPage(engine, max_pixels=max_pixels, searcher=batcher, thumbnails=thumbnails, **page_kwargs)
    api = SearchApi(batcher, max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels,
                    file_url=gradio_file_url, thumbnails=thumbnails)
    return Server(build_app(engine, concurrency=concurrency, page=page), api, batcher, thumbnails)


# ---------------------------------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python app.py``."""
    p = argparse.ArgumentParser(
        prog="python app.py",
        description="Serve the composed text+image fashion search page. With neither --checkpoint nor --index it "
                    "runs the built-in demo: it generates a catalogue, indexes it with the shipped demo model "
                    "(all cached, so only the first launch takes minutes) and serves it.")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint folder (cti-ir format) that encodes the queries. With --index: serve that "
                        "index. Alone: build the demo index with this checkpoint instead of the demo model")
    p.add_argument("--index", default=None,
                   help="index folder built with `python -m cti_ir.index build`; without --checkpoint, the "
                        "checkpoint recorded in its index_info.json is used")
    p.add_argument("--similar-index", action="append", default=[], metavar="INDEX",
                   help="repeatable: an index built with the same adapted checkpoint at another granularity "
                        "(`python -m cti_ir.index build --checkpoint ADAPTED --granularity G ...`) for \"More like "
                        "this\"; the page then offers a choice of granularity (the main index serves its own too)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for the network)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    p.add_argument("--share", action="store_true",
                   help="also open a temporary public *.gradio.live link (off by default; needs internet)")
    p.add_argument("--cache-dir", default=None,
                   help="where the demo keeps its catalogue and index (default: $CTI_IR_CACHE, else "
                        "~/.cache/cti-ir/demo)")
    p.add_argument("--demo-size", choices=("small", "default"), default="default",
                   help="size of the generated demo catalogue: default (~17,900 products, a few minutes the first "
                        "time) or small (~1,600 products, seconds)")
    p.add_argument("--max-upload-mb", type=float, default=20,
                   help="largest upload accepted, in megabytes (default 20); images above "
                        f"{DEFAULT_MAX_PIXELS / 1e6:.0f} megapixels are refused whatever their file size")
    p.add_argument("--concurrency", type=int, default=16,
                   help="page searches handled at the same time (default 16); they share the batches below, "
                        "others wait in the queue")
    p.add_argument("--max-batch", type=int, default=DEFAULT_MAX_BATCH,
                   help=f"most searches (page and JSON API together) answered in one encoder pass and one FAISS "
                        f"search (default {DEFAULT_MAX_BATCH})")
    p.add_argument("--max-wait-ms", type=float, default=DEFAULT_MAX_WAIT_MS,
                   help=f"how long a search may wait for others to share its batch, in milliseconds (default "
                        f"{DEFAULT_MAX_WAIT_MS:g}; only matters when traffic is light, 0 = never wait)")
    p.add_argument("--thumbnail-dir", default=None,
                   help="where result thumbnails are cached (default: $CTI_IR_CACHE/thumbnails, else "
                        "~/.cache/cti-ir/thumbnails)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch and FAISS threads per search (default 1: on a few cores, single queries are several "
                        "times faster with one thread than with threads competing; see benchmarks/README.md)")
    p.add_argument("--queue-size", type=int, default=64,
                   help="requests that may wait in the queue before new ones are turned away (default 64)")
    return p


def resolve_model_and_index(args: argparse.Namespace) -> tuple[Path, Path]:
    """The (checkpoint, index) to serve: the ones given, or the demo's (built or loaded from the cache)."""
    if args.index:
        if args.checkpoint:
            return Path(args.checkpoint), Path(args.index)
        from cti_ir.index import read_index_info

        recorded = read_index_info(args.index).get("source", {}).get("checkpoint")
        if not recorded:
            raise ValueError(f"{args.index}/index_info.json does not record its checkpoint; pass --checkpoint")
        return Path(recorded), Path(args.index)
    from data_prep.demo import prepare_demo

    checkpoint, index, _ = prepare_demo(args.cache_dir, checkpoint=args.checkpoint, size=args.demo_size,
                                        progress=lambda m: print(m, flush=True))
    return checkpoint, index


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; serves until interrupted. Returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.concurrency < 1 or args.queue_size < 1 or args.max_batch < 1 or args.max_upload_mb <= 0 \
            or args.max_wait_ms < 0:
        print("error: --concurrency, --queue-size and --max-batch must be >= 1, --max-upload-mb > 0 and "
              "--max-wait-ms >= 0", file=sys.stderr)
        return 2
    if args.threads >= 1:  # process-wide settings, made here in the entry point and nowhere at import
        import faiss
        import torch

        torch.set_num_threads(args.threads)
        faiss.omp_set_num_threads(args.threads)
    # Warnings only: the libraries below log a line per HTTP request at INFO level. Ours log each refused query
    # as one INFO line (what was wrong), and tracebacks only for our own bugs.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("cti_ir").setLevel(logging.INFO)
    from cti_ir.checkpoint import CheckpointError

    try:
        checkpoint, index = resolve_model_and_index(args)
        start = time.perf_counter()
        print(f"loading model {checkpoint} and index {index}", flush=True)
        engine = SearchEngine(checkpoint, index, similar_indexes=args.similar_index)
        print(f"loaded {len(engine.index)} products in {time.perf_counter() - start:.1f} s; starting the server",
              flush=True)
    except (CheckpointError, ValueError, OSError, RuntimeError) as e:  # OSError: missing folders, full disk
        print(f"error: {e}", file=sys.stderr)
        return 2
    server = create_server(engine, concurrency=args.concurrency, max_batch=args.max_batch,
                           max_wait_ms=args.max_wait_ms, thumbnail_dir=args.thumbnail_dir,
                           max_upload_mb=args.max_upload_mb)
    try:
        # quiet: Gradio's own start-up lines tell users to edit launch(); ours name our flags instead.
        _, url, share_url = launch(server.demo, engine, host=args.host, port=args.port, share=args.share,
                                   queue_size=args.queue_size, max_upload_mb=args.max_upload_mb, api=server.api,
                                   thumbnails=server.thumbnails, quiet=True, prevent_thread_lock=True)
    except OSError as e:  # e.g. the port is taken
        print(f"error: cannot start the server on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    where = "this machine only; --host 0.0.0.0 serves the network" if args.host in ("127.0.0.1", "localhost") \
        else f"listening on {args.host}"
    print(f"search page: {url} ({where})", flush=True)
    print(f"JSON API:    {url.rstrip('/')}{API_PATH} (POST; see the README for curl examples)", flush=True)
    if share_url:
        print(f"public link: {share_url} (temporary, from --share)", flush=True)
    elif not args.share:
        print("for a temporary public link, restart with --share (needs internet access)", flush=True)
    print("press Ctrl+C to stop", flush=True)
    try:
        server.demo.block_thread()
    finally:
        server.batcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
