"""The search page: upload (or pick) a product photo, type how it should differ, get matching catalogue products.

    python app.py                                   # built-in demo: generated catalogue + demo model, cached
    python app.py --checkpoint runs/stage3/best --index index/   # your own model and catalogue index
    python app.py --checkpoint adapted/ --index index/ --similar-index similar_fusion/ --similar-index similar_k8/
                                                    # + "more like this" with an adapted encoder (training.adapt)
    python app.py --help

The page is a Gradio 6 Blocks app laid out in ``cti_ir.serve.server``; its event handlers are the methods of
:class:`SearchPage`, plain functions that tests call without a browser. The same server answers two APIs:

- ``POST /api/search``, plain JSON over HTTP (``cti_ir.serve.http_api``; curl examples in the README);
- Gradio's own ``/search`` and ``/more_like_this`` endpoints, for ``gradio_client``::

    from gradio_client import Client, handle_file
    Client("http://127.0.0.1:7860/").predict(handle_file("dress.jpg"), "is red and has long sleeves", "All", 10,
                                             False, 0.5, api_name="/search")
    # -> (results gallery, weights, status message, history table); a refused search raises
    #    gradio_client.exceptions.AppError with our sentence

Concurrent searches from both share batches (``cti_ir.serve.batching.SearchBatcher``), "more like this" included:
one encoder pass and one FAISS search for the queries that arrive within a few milliseconds. A catalogue product's
"more like this" uses the vector the index holds for it; an uploaded photo is decoded once, when it is uploaded
(``cti_ir.serve.references``). Results are shown as thumbnails made ahead (``cti_ir.serve.thumbnails``). Wrong
input of any kind gets our own sentence naming the parameter.
"""

from __future__ import annotations

import os

# Before gradio is imported: it reads the variable at import time. setdefault so a user's own setting wins.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import logging  # noqa: E402
import random  # noqa: E402
from typing import Any, Callable  # noqa: E402

import gradio as gr  # noqa: E402

from cti_ir.model.images import DEFAULT_MAX_PIXELS, ImageLoadError  # noqa: E402
from cti_ir.serve.batching import ServerBusy  # noqa: E402
from cti_ir.serve.catalogue_api import serving_line  # noqa: E402
from cti_ir.serve.engine import QueryError, SearchEngine, clean_text, parse_image_weight  # noqa: E402
from cti_ir.serve.gradio_io import gradio_file_url, md_code, md_escape, request_origin  # noqa: E402,F401
from cti_ir.serve.messages import describe_value, image_error_message, query_error_message  # noqa: E402
from cti_ir.serve.page_view import (  # noqa: E402,F401
    ALL_CATEGORIES,
    DEFAULT_K,
    EXAMPLE_TEXTS,
    HISTORY_HEADERS,
    ReferenceOutput,
    SearchOutput,
    caption,
    error_markdown,
    hit_dicts,
    history_rows,
    item_label,
    status_markdown,
    weights_markdown,
    with_turn,
)
from cti_ir.serve.references import ReferencePixels, reference_source  # noqa: E402
from cti_ir.serve.session_api import SAME_CATEGORY_CHOICE, carried_note, page_session  # noqa: E402
from cti_ir.serve.session_search import SAME_CATEGORY  # noqa: E402
from cti_ir.serve.thumbnails import REFERENCE_SIZE, ThumbnailCache, placeholder_image  # noqa: E402

log = logging.getLogger("cti_ir.app")
BUSY_MESSAGE = "The server is busy with other searches right now; please try again in a moment."


def _keep_reference(status: str) -> ReferenceOutput:
    """Nothing changes but the status message."""
    return ReferenceOutput(gr.update(), gr.update(), gr.update(), gr.update(), status, gr.update())


class SearchPage:
    """The page's state-free logic: every event handler, callable directly (tests, scripts) or by Gradio.

    Per-user state (current reference id, last results, history) travels in ``gr.State`` values passed in and
    returned, so one ``SearchPage`` serves every browser session; what is shared (the engine, the searcher, the
    kept reference pixels) is read-only or thread-safe.
    """

    def __init__(self, engine: SearchEngine, max_pixels: int = DEFAULT_MAX_PIXELS, n_samples: int = 8,
                 seed: int | None = None, searcher=None, thumbnails: ThumbnailCache | None = None):
        self.engine = engine
        # What answers the queries: the engine itself, or a SearchBatcher over it shared with the JSON API.
        self.searcher = searcher if searcher is not None else engine
        self.thumbnails = thumbnails  # None: the catalogue photos themselves are shown (handlers called directly)
        self.max_pixels = max_pixels
        self.pixels = ReferencePixels(engine, max_pixels)
        # A file in the thumbnail folder when there is one: a PIL image would be encoded again for every page.
        self.placeholder = thumbnails.placeholder() if thumbnails is not None else placeholder_image()
        self._rng = random.Random(seed)  # our own generator: the global one is not ours to reseed
        self.samples = self._sample_items(n_samples)

    # ------------------------------------------------------------------------------------------------ helpers
    def serving(self) -> str:
        """The header's line on what is served now (index version, products, model); the page refreshes it, so a
        new index version picked up by live reload shows without reloading the page."""
        return md_escape(serving_line(self.engine))

    @property
    def categories(self) -> list[str]:
        """Choices of the category filter: the reference's own (the default), every category, or one."""
        return [SAME_CATEGORY_CHOICE, ALL_CATEGORIES] + list(self.engine.categories)

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

    def _local(self, path: str, size: int | None = None) -> Any:
        """The file the page shows for a catalogue photo: its thumbnail, the photo, or the placeholder if gone."""
        if self.thumbnails is not None:
            return self.thumbnails.path_for(path, size) or self.placeholder
        return path if os.path.isfile(path) else self.placeholder

    def _shown(self, path: str, size: int | None = None, origin: str | None = None) -> Any:
        """What the page sends for a catalogue photo (see ``_local``).

        With the browser's ``origin`` (``request_origin``) a thumbnail goes as its full URL on this server: Gradio
        passes a URL through as it is, where a file path costs it two path resolutions per file and output (about
        a third of the server's time per page search, measured with py-spy under 16 clients).
        """
        return self._url(self._local(path, size), origin)

    def _url(self, shown: Any, origin: str | None) -> Any:
        if origin and self.thumbnails is not None and isinstance(shown, (str, os.PathLike)):
            return origin + gradio_file_url(str(shown))
        return shown

    def sample_gallery(self) -> list[tuple[Any, str]]:
        """The catalogue picker's thumbnails, each with its short label."""
        return [(self._shown(it["path"]), item_label(it)) for it in self.samples]

    @staticmethod
    def picker_without_highlight() -> dict:
        """The catalogue picker with no thumbnail selected (the page's CSS never shows the picker's selection: the
        browser kept it after an upload, pointing at a product that was no longer the reference)."""
        return gr.update(selected_index=None)

    history_rows = staticmethod(history_rows)
    _weights_markdown = staticmethod(weights_markdown)  # earlier callers' name

    def _gallery(self, hits: list[dict], origin: str | None = None) -> tuple[list, list[str]]:
        """The results gallery for ``hits``, and the ids of those whose photo is missing from disk."""
        gallery, missing = [], []
        for h in hits:
            shown = self._local(h["path"])
            if shown is not self.placeholder:
                gallery.append((self._url(shown, origin), caption(h)))
            else:  # deleted or moved since indexing: keep the slot, say which product it is
                missing.append(h["image_id"])
                gallery.append((self._url(shown, origin), f"[image missing] {caption(h)}"))
        return gallery, missing

    def _reference(self, image: Any, reference_id: Any) -> tuple[Any, str | None, Any]:
        """The reference's preprocessed pixels (None: no image), its product id (None: not a catalogue product) and
        the upload's key in the engine's upload cache (None: a catalogue product, or an image without a file).

        A picked product is shown as a thumbnail, but searched with its catalogue photo, decoded once and kept.
        """
        source = reference_source(image, self.max_pixels)
        if source is None:
            return None, None, None
        item = self.engine.item(reference_id) if isinstance(reference_id, str) and reference_id else None
        if item is not None and isinstance(source, str) and source in (
                item["path"], self._shown(item["path"], REFERENCE_SIZE)):
            return self.pixels.get(item["path"]), reference_id, None
        pixels, key = self.pixels.get_keyed(source)
        return pixels, None, key  # an upload (a stale product id is forgotten)

    @staticmethod
    def _category(category: Any) -> str | None:
        if category is not None and not isinstance(category, str):
            raise QueryError(f"the category must be a name, got {describe_value(category)}", "category")
        if category == SAME_CATEGORY_CHOICE:
            return SAME_CATEGORY
        return None if category in (None, "", ALL_CATEGORIES) else category

    @staticmethod
    def _flag(value: Any, name: str) -> bool:
        """A checkbox value; API callers may send true/false, 1/0 or their strings."""
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", ""):
            return value.strip().lower() in ("true", "1")
        raise QueryError(f"{name} must be true or false, got {describe_value(value)}", name)

    def _answer(self, what: str, run: Callable[[], SearchOutput]) -> SearchOutput | str:
        """``run()``'s output, or the sentence that says why it failed (logged: one line for a user's mistake, a
        traceback for our own bug)."""
        try:
            return run()
        except ImageLoadError as e:
            log.info("%s refused (image): %s", what, e)
            return image_error_message(e, self.max_pixels)
        except QueryError as e:
            log.info("%s refused (%s): %s", what, e.parameter or "query", e)
            return query_error_message(e)
        except ServerBusy as e:
            log.warning("%s turned away: %s", what, e)
            return BUSY_MESSAGE
        except OSError as e:
            log.warning("%s failed: %s", what, e)
            return f"A file could not be read ({e.strerror or e}); please try again."
        except Exception as e:  # noqa: BLE001 - the page must keep serving; the details go to the server log
            log.exception("%s failed", what)
            return f"The search failed ({type(e).__name__}); the details are in the server log."

    def _on_page(self, out: SearchOutput | str, hits: list[dict] | None, history: list[dict],
                 origin: str | None = None) -> SearchOutput:
        """For the browser: a failure is the status line, and the results and history on the page stay."""
        if isinstance(out, SearchOutput):
            return out
        previous = list(hits or [])
        # The previous results are sent again (gr.update() would reach the page's other callers as a dict).
        return SearchOutput(self._gallery(previous, origin)[0], "", error_markdown(out), previous, history,
                            history_rows(history))

    @staticmethod
    def _for_api(out: SearchOutput | str) -> tuple:
        """For ``gradio_client``: a failure raises, so a script can tell a refusal from a success."""
        if not isinstance(out, SearchOutput):
            raise gr.Error(out, title="Search refused", print_exception=False)
        return out.gallery, out.weights, out.status, out.history, out.history_rows

    # ----------------------------------------------------------------------------------------------- search
    def search(self, image: Any = None, text: Any = None, category: Any = SAME_CATEGORY_CHOICE, k: Any = DEFAULT_K,
               override: Any = False, image_weight: Any = 0.5, reference_id: str | None = None,
               history: list[dict] | None = None, hits: list[dict] | None = None,
               request: gr.Request | None = None) -> SearchOutput:
        """Run one query; every failure becomes a message in the status, never an exception.

        A failed query keeps the previous results (``hits``) on the page and the history as it was. ``request``
        (Gradio passes it) gives the thumbnails' URLs their origin.
        """
        history = list(history or [])
        origin = request_origin(request)
        out = self._answer("search", lambda: self._search(image, text, category, k, override, image_weight,
                                                          reference_id, history, origin))
        return self._on_page(out, hits, history, origin)

    def api_search(self, image: Any = None, text: Any = "", category: Any = SAME_CATEGORY_CHOICE, k: Any = DEFAULT_K,
                   override: Any = False, image_weight: Any = 0.5, history: list[dict] | None = None) -> tuple:
        """The ``/search`` endpoint of ``gradio_client``: the page's search, but a refusal raises ``gr.Error``.

        Returns (results, weights, status, history state, history table).
        """
        history = list(history or [])
        return self._for_api(self._answer("search", lambda: self._search(
            image, text, category, k, override, image_weight, None, history)))

    def _search(self, image, text, category, k, override, image_weight, reference_id, history,
                origin: str | None = None) -> SearchOutput:
        if text is not None and not isinstance(text, str):
            raise QueryError(f"the text must be a string, got {describe_value(text)}", "text")
        pixels, reference_id, upload = self._reference(image, reference_id)
        category = self._category(category)
        override = self._flag(override, "override")
        weights = parse_image_weight(image_weight) if override else None
        # The reference product itself would come first; the engine leaves it out. From the second turn on, the
        # turns are a shopping session (cti_ir.serve.session): their requests hold, what they showed steps back;
        # a first search is the plain composed search.
        session = page_session(history)
        # A catalogue product as the reference: the index's stored vector, no image encoding (stored_references).
        query = self.engine.prepare(text=text, k=k, category=category, weights=weights, pixels=pixels,
                                    reference_id=reference_id, session=session or None, upload_key=upload)
        result = self.searcher.submit(query)
        result.notes += [n for n in [carried_note(result.carried)] if n]
        hits = hit_dicts(result.hits)
        gallery, missing = self._gallery(hits, origin)
        # the history keeps the shopper's own words; what the request reader made of them is in the status notes
        asked = clean_text(text)[0]
        history = with_turn(history, {
            "reference": (reference_id or "uploaded image") if pixels is not None else "—",
            "text": asked, "category": result.category or ALL_CATEGORIES,
            "top": hits[0]["image_id"] if hits else "—",
            "weights": f"{result.image_weight:.2f} / {result.text_weight:.2f}",
            "session_turn": {"text": asked, "reference": reference_id, "shown": [h["image_id"] for h in hits]}})
        status = status_markdown(result, hits, missing, override, result.category)
        return SearchOutput(gallery, weights_markdown(result, override and result.mode == "composed"),
                            status, hits, history, history_rows(history))

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
                       category: Any = ALL_CATEGORIES, k: Any = DEFAULT_K, history: list[dict] | None = None,
                       hits: list[dict] | None = None, request: gr.Request | None = None) -> SearchOutput:
        """Products that look like the reference (a clicked result, a picked product or an upload), image only.

        Every failure becomes a message in the status; the previous results stay on the page.
        """
        history = list(history or [])
        origin = request_origin(request)
        out = self._answer("more like this", lambda: self._more_like_this(image, reference_id, granularity,
                                                                          category, k, history, origin))
        return self._on_page(out, hits, history, origin)

    def api_more_like_this(self, image: Any = None, granularity: Any = "default", category: Any = ALL_CATEGORIES,
                           k: Any = DEFAULT_K, history: list[dict] | None = None) -> tuple:
        """The ``/more_like_this`` endpoint of ``gradio_client`` (an uploaded photo); a refusal raises."""
        history = list(history or [])
        return self._for_api(self._answer("more like this", lambda: self._more_like_this(
            image, None, granularity, category, k, history)))

    def _more_like_this(self, image, reference_id, granularity, category, k, history,
                        origin: str | None = None) -> SearchOutput:
        category = self._category(category)
        if category == SAME_CATEGORY:  # a catalogue product's own category; an upload's: every category
            item = self.engine.item(reference_id) if isinstance(reference_id, str) and reference_id else None
            category = (item.get("categories") or [None])[0] if item else None
        if granularity is not None and not isinstance(granularity, str):
            raise QueryError(f"the granularity must be a name, got {describe_value(granularity)}", "granularity")
        granularity = None if granularity in (None, "", "default") else granularity
        if isinstance(reference_id, str) and reference_id and self.engine.item(reference_id) is not None:
            # A catalogue product: the index's own vector for it, nothing decoded or encoded.
            query = self.engine.prepare_similar(image_id=reference_id, k=k, category=category,
                                                granularity=granularity)
        else:
            pixels, _, _ = self._reference(image, None)
            if pixels is None:
                raise QueryError("choose a product first: click a result or a catalogue photo, or upload a photo; "
                                 "then press More like this")
            query = self.engine.prepare_similar(pixels=pixels, k=k, category=category, granularity=granularity)
            reference_id = None
        result = self.searcher.submit(query)
        used = granularity or self.engine.similar_granularities[0]
        hits = hit_dicts(result.hits)
        gallery, missing = self._gallery(hits, origin)
        history = with_turn(history, {
            "reference": reference_id or "uploaded image",
            "text": f"(more like this: {used})" if used else "(more like this)",
            "category": category or ALL_CATEGORIES, "top": hits[0]["image_id"] if hits else "—",
            "weights": "1.00 / 0.00",
            "session_turn": {"text": "", "reference": reference_id, "shown": [h["image_id"] for h in hits]}})
        status = status_markdown(result, hits, missing, False, category)
        return SearchOutput(gallery, weights_markdown(result, False), status, hits, history, history_rows(history))

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
        # Shown as a thumbnail of the thumbnail folder: the only catalogue images the server sends.
        return ReferenceOutput(self._shown(item["path"], REFERENCE_SIZE), item["image_id"], label, "", status,
                               picker)

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
            return _keep_reference(error_markdown("That result is no longer available; run the search again."))
        return self._use_item(hits[index], "Refining:")

    def select_sample(self, evt: gr.SelectData) -> ReferenceOutput:
        """A click on a catalogue thumbnail: that product becomes the reference."""
        index = self._selected_index(evt)
        if index is None or not 0 <= index < len(self.samples):
            return _keep_reference(error_markdown("Unknown product."))
        return self._use_item(self.samples[index], "Picked:", from_picker=True)

    def random_product(self) -> ReferenceOutput:
        """A random catalogue product as the reference (a few tries, in case some images are missing)."""
        items = self.engine.index.items
        for _ in range(20):
            item = items[self._rng.randrange(len(items))]
            if os.path.isfile(item["path"]):
                return self._use_item(item, "Random pick:")
        return _keep_reference(error_markdown("Could not find a catalogue image on disk; is the catalogue folder "
                                              "there?"))

    def reference_uploaded(self, image: Any = None) -> ReferenceOutput:
        """The user uploaded their own photo: it has no product id. It is decoded now, once (the searches that
        follow reuse it); a file that cannot be used is removed at once (instead of a broken-image icon) and the
        status says why; the results on the page stay."""
        no_highlight = self.picker_without_highlight()
        try:
            self._reference(image, None)
        except (ImageLoadError, QueryError) as e:
            message = image_error_message(e, self.max_pixels) if isinstance(e, ImageLoadError) else \
                query_error_message(e)
            log.info("upload refused: %s", e)
            return ReferenceOutput(None, None, "No reference image: the search will use the text only.", gr.update(),
                                   error_markdown(message), no_highlight)
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
    def toggle_override(enabled: Any):
        """The image-weight slider is active only while the manual override is on."""
        return gr.update(interactive=enabled is True or enabled == "true")
