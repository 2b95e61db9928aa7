"""The served application: the page laid out in Gradio Blocks, and the page plus the JSON API over one engine."""

from __future__ import annotations

import os
from typing import NamedTuple, Sequence  # noqa: E402

import gradio as gr  # noqa: E402

from cti_ir.asymmetric.ensemble import index_mode_summary  # noqa: E402
from cti_ir.model.images import DEFAULT_MAX_PIXELS  # noqa: E402
from cti_ir.serve.batching import DEFAULT_MAX_BATCH, DEFAULT_MAX_WAIT_MS, SearchBatcher  # noqa: E402
from cti_ir.serve.engine import MAX_K, SearchEngine  # noqa: E402
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
from cti_ir.serve.http_api import SearchApi  # noqa: E402
from cti_ir.serve.page import ALL_CATEGORIES, DEFAULT_K, EXAMPLE_TEXTS, HISTORY_HEADERS, SearchPage
from cti_ir.serve.thumbnails import ThumbnailCache  # noqa: E402


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
                    # raw_input: the handler checks these values (see cti_ir.serve.gradio_io), as the JSON API's does.
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
