"""The served application: the page laid out in Gradio Blocks, and the page plus the JSON API over one engine."""

from __future__ import annotations

import os
import threading
from types import SimpleNamespace
from typing import NamedTuple, Sequence

import gradio as gr

from cti_ir.asymmetric.ensemble import index_mode_summary
from cti_ir.model.images import DEFAULT_MAX_PIXELS
from cti_ir.serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, SearchBatcher
from cti_ir.serve.engine import MAX_K, SearchEngine
from cti_ir.serve.gradio_io import gradio_file_url, launch, report_unreadable_inputs  # noqa: F401 (launch: re-exported)
from cti_ir.serve.http_api import SearchApi
from cti_ir.serve.page import DEFAULT_K, EXAMPLE_TEXTS, HISTORY_HEADERS, SearchPage
from cti_ir.serve.thumbnails import ThumbnailCache

SERVING_REFRESH_S = 15  # how often an open page asks what is served (a cheap request: a readlink and a stat)


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
                    f"Catalogue: {index_mode_summary(engine.index.info, with_count=False)}.", elem_id="index-mode")
        serving = gr.Markdown(page.serving(), elem_id="serving")
        # Refreshed on each page load and every SERVING_REFRESH_S while it is open: a live reload shows.
        refresh = {"api_visibility": "private", "queue": False, "preprocess": False, "show_progress": "hidden"}
        demo.load(page.serving, None, serving, **refresh)
        gr.Timer(SERVING_REFRESH_S).tick(page.serving, None, serving, **refresh)
        reference_id = gr.State(None)
        hits = gr.State([])
        history = gr.State([])
        with gr.Row():
            with gr.Column(scale=1):
                image = gr.Image(type="filepath", label="Reference image", sources=["upload", "clipboard"],
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
                    category = gr.Dropdown(page.categories, value=page.categories[0], label="Category",
                                           elem_id="category")
                    k = gr.Slider(1, MAX_K, value=DEFAULT_K, step=1, precision=0, label="Results (K)", elem_id="k")
                with gr.Accordion("Image / text weights", open=False):
                    override = gr.Checkbox(False, label="Set the weights manually")
                    image_weight = gr.Slider(0.0, 1.0, value=0.5, step=0.05, interactive=False,
                                             label="Image weight (text weight = 1 − image weight)")
                with gr.Row():
                    search_button = gr.Button("Search", variant="primary", elem_id="search-button")
                    more_button = gr.Button("More like this", elem_id="more-like-this")
                    clear_button = gr.Button("New session", elem_id="new-session")
                choices = page.granularity_choices()
                # Shown only when there is a choice: an adapted checkpoint with its similar-products indexes.
                granularity = gr.Dropdown(choices, value=choices[0][1], label="More like this: similar at",
                                          visible=len(choices) > 1, elem_id="granularity")
                status = gr.Markdown("", label="Status", elem_id="status")
                weights = gr.Markdown("", label="Weights", elem_id="weights")
        results = gr.Gallery(label="Results", columns=5, height="auto",
                             object_fit="contain", allow_preview=False, elem_id="results")
        history_table = gr.Dataframe(headers=HISTORY_HEADERS, value=[], interactive=False, label="Turns",
                                     wrap=True, elem_id="history")

        # The API endpoints (gradio_client) have triggers of their own that no one sees: the page's events keep
        # their failures in the status line, the endpoints raise them, so a script can tell a refusal from a
        # success. Both run the same code and share the batches.
        api_search = gr.Button(visible=False)
        api_more = gr.Button(visible=False)
        _events(page, concurrency, SimpleNamespace(
            image=image, text=text, category=category, k=k, override=override, image_weight=image_weight,
            granularity=granularity, reference_id=reference_id, history=history, hits=hits, results=results,
            weights=weights, status=status, history_table=history_table, reference_label=reference_label,
            samples=samples, search_button=search_button, more_button=more_button, clear_button=clear_button,
            random_button=random_button, api_search=api_search, api_more=api_more))
    return report_unreadable_inputs(demo, image)


def _events(page: SearchPage, concurrency: int, ui: SimpleNamespace) -> None:
    """Wire the page's events. Every one takes its inputs raw (``preprocess=False``): the handlers check them.

    The page's own events skip Gradio's queue (``queue=False``): a Search press is one HTTP request and its answer,
    instead of joining the queue and following an event stream (two requests and a stream of status messages),
    which cut the server's CPU per page search by about a fifth. What the queue bounded (searches waiting) the
    shared ``SearchBatcher`` bounds (``max_pending``). The ``gradio_client`` endpoints keep the queue.
    """
    raw = {"preprocess": False}
    # Names of their own: Gradio would name them after the handlers, and the public endpoints would get suffixes.
    private = {"api_visibility": "private", "queue": False, **raw}
    search_inputs = [ui.image, ui.text, ui.category, ui.k, ui.override, ui.image_weight, ui.reference_id,
                     ui.history, ui.hits]
    search_outputs = [ui.results, ui.weights, ui.status, ui.hits, ui.history, ui.history_table]
    reference_outputs = [ui.image, ui.reference_id, ui.reference_label, ui.text, ui.status, ui.samples]
    ui.search_button.click(page.search, search_inputs, search_outputs, api_name="page_search", **private)
    ui.text.submit(page.search, search_inputs, search_outputs, api_name="page_search_enter", **private)
    ui.more_button.click(page.more_like_this, [ui.image, ui.reference_id, ui.granularity, ui.category, ui.k,
                                               ui.history, ui.hits], search_outputs, api_name="page_more_like_this",
                         **private)
    ui.results.select(page.select_result, [ui.hits], reference_outputs, **private)
    ui.samples.select(page.select_sample, None, reference_outputs, **private)
    ui.random_button.click(page.random_product, None, reference_outputs, **private)
    ui.image.upload(page.reference_uploaded, [ui.image], reference_outputs, **private)
    ui.image.clear(page.reference_cleared, None, [ui.reference_id, ui.reference_label], **private)
    ui.override.change(page.toggle_override, [ui.override], [ui.image_weight], **private)
    ui.clear_button.click(page.new_session, None, [ui.results, ui.hits, ui.history, ui.history_table, ui.status],
                          **private)
    queued = {"concurrency_limit": concurrency, "concurrency_id": "search", **raw}
    api_outputs = [ui.results, ui.weights, ui.status, ui.history, ui.history_table]
    ui.api_search.click(page.api_search, [ui.image, ui.text, ui.category, ui.k, ui.override, ui.image_weight,
                                          ui.history], api_outputs, api_name="search", **queued)
    ui.api_more.click(page.api_more_like_this, [ui.image, ui.granularity, ui.category, ui.k, ui.history],
                      api_outputs, api_name="more_like_this", **queued)


class Server(NamedTuple):
    """What ``python app.py`` serves: the page, the JSON API and the batcher and thumbnails they share."""

    demo: gr.Blocks
    api: SearchApi
    batcher: SearchBatcher
    thumbnails: ThumbnailCache


def create_server(engine: SearchEngine, concurrency: int = 16, max_batch: int = DEFAULT_MAX_BATCH,
                  max_wait_ms: float = DEFAULT_MAX_WAIT_MS, thumbnail_dir: str | os.PathLike | None = None,
                  max_upload_mb: float = 20, max_pixels: int = DEFAULT_MAX_PIXELS, max_pending: int | None = 64,
                  **page_kwargs) -> Server:
    """The page and the JSON API over one engine, sharing one batcher and one thumbnail cache (not launched).

    ``max_pending`` searches may wait for the batcher (page, JSON API and ``gradio_client`` together); more are
    turned away at once with a "busy, try again" message (HTTP 503 from the JSON API).
    """
    batcher = SearchBatcher(engine, max_batch=max_batch, max_wait_ms=max_wait_ms, max_pending=max_pending)
    thumbnails = ThumbnailCache(thumbnail_dir)
    page = SearchPage(engine, max_pixels=max_pixels, searcher=batcher, thumbnails=thumbnails, **page_kwargs)
    api = SearchApi(batcher, max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels,
                    file_url=gradio_file_url, thumbnails=thumbnails)
    return Server(build_app(engine, concurrency=concurrency, page=page), api, batcher, thumbnails)


def warm_thumbnails(engine: SearchEngine, thumbnails: ThumbnailCache, stop: threading.Event | None = None,
                    progress=None) -> threading.Thread:
    """Make the missing thumbnails of every indexed product in a background thread (started; returned).

    The first view of a result page then finds its thumbnails ready instead of making up to ``k`` of them while
    the shopper waits.
    """
    paths = list(dict.fromkeys(it["path"] for index in engine.similar_indexes.values() for it in index.items))

    def run() -> None:
        # Not at a lower CPU priority: a thread of this process that the OS sets aside while it holds the GIL would
        # stall every search thread with it (measured: a third of the server's GIL time under 16 clients went to
        # it, right after a start). It yields the GIL after every file and rests after every thumbnail instead.
        made = thumbnails.warm(paths, stop, pause_s=0.002)
        if progress is not None and made:
            progress(f"made {made} result thumbnails in {thumbnails.folder}")

    thread = threading.Thread(target=run, name="thumbnails", daemon=True)
    thread.start()
    return thread
