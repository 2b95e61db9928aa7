"""What the page relies on in Gradio, pinned so that an upgrade which changes it fails here, loudly.

The page uses Gradio's public ``preprocess=False`` for every event; the one internal it still relies on is
``Blocks.preprocess_data``, which ``cti_ir.serve.gradio_io.report_unreadable_inputs`` wraps to word the refusals of
bad image payloads (the served tests in ``tests/test_serve_served.py`` check the words).
"""

from __future__ import annotations

import asyncio
import inspect

import gradio as gr
import pytest

from cti_ir.serve import gradio_io


def test_the_wrapped_method_is_still_there_and_called():
    gradio_io.check_preprocess_data_hook()  # passes on the installed Gradio
    # Every event's inputs go through it: if Gradio stopped calling it, our wrapper would silently do nothing.
    assert "self.preprocess_data(" in inspect.getsource(gr.Blocks.process_api)


def test_a_changed_method_stops_the_server_from_starting(monkeypatch):
    async def changed(self, block_fn, inputs, state, explicit_call=False, *, new_flag=False):
        return inputs

    monkeypatch.setattr(gr.Blocks, "preprocess_data", changed)
    with pytest.raises(RuntimeError, match="changed Blocks.preprocess_data"):
        gradio_io.check_preprocess_data_hook()
    with gr.Blocks() as demo:
        image = gr.Image(type="filepath")
    with pytest.raises(RuntimeError, match="adapt cti_ir/serve/gradio_io.py"):
        gradio_io.report_unreadable_inputs(demo, image)


def test_a_raw_event_hands_the_handler_gradios_file_payload():
    """With ``preprocess=False`` the image arrives as a dict with the checked path (what references.py reads)."""
    with gr.Blocks() as demo:
        image = gr.Image(type="filepath")
        text = gr.Textbox()
        out = gr.Textbox()
        text.submit(lambda i, t: t, [image, text], out, preprocess=False)
    block_fn = next(iter(demo.fns.values()))
    assert block_fn.preprocess is False
    payload = {"path": __file__, "meta": {"_type": "gradio.FileData"}}  # before launch: copied to its cache
    processed = asyncio.run(demo.preprocess_data(block_fn, [payload, ["is", "red"]], None))
    assert isinstance(processed[0], dict) and processed[0]["path"].endswith("test_serve_gradio.py")
    assert processed[1] == ["is", "red"]  # raw: our handler checks the text


@pytest.mark.parametrize("value, words", [
    (5, "got the number 5"), ("x.jpg", "got the text 'x.jpg'"), ([1], "got a list"),
    ({"path": "https://example.com/a.jpg"}, "Image URLs are not accepted"),
    ({"path": "//example.com/a.jpg"}, "Image URLs are not accepted"),
])
def test_image_payloads_refused_before_gradio_sees_them(value, words):
    assert words in gradio_io.image_payload_problem(value)


def test_uploaded_payloads_are_left_to_gradios_own_check():
    assert gradio_io.image_payload_problem(None) is None
    assert gradio_io.image_payload_problem({"path": "/tmp/gradio/abc/photo.png",
                                            "url": "http://127.0.0.1:7860/gradio_api/file=/tmp/gradio/abc/photo.png"}
                                           ) is None  # the browser's own upload: its url is the server's
