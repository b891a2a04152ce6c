"""StudioBlocks sends the page what Gradio would, without rebuilding a component for each gr.skip()."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from studio.ui.blocks import StudioBlocks


def build(blocks_class):
    with blocks_class() as demo:
        answer = gr.Textbox()
        chat = gr.Chatbot()
        status = gr.Markdown()
        files = gr.File()
        button = gr.Button()
        button.click(lambda: None, None, [answer, chat, status, files])
    return demo, demo.fns[0]


def run(coroutine):
    """asyncio.run on a thread of its own: browser tests leave an event loop running on this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def postprocess(blocks_class, predictions):
    demo, fn = build(blocks_class)
    return run(demo.postprocess_data(fn, predictions, SessionState(demo)))


CASES = {
    "one value, the rest skipped": ["Once upon", gr.skip(), gr.skip(), gr.skip()],
    "two values": ["Once upon a time", gr.skip(), "12 tokens/s", gr.skip()],
    "all skipped": [gr.skip(), gr.skip(), gr.skip(), gr.skip()],
    "a real update beside skips": [gr.update(value="x", lines=3), gr.skip(), gr.skip(), None],
    "nothing skipped": ["a", [], "b", None],
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_page_gets_what_plain_gradio_sends(name):
    # Gradio may change the update dicts it is given: each side gets its own copy
    assert postprocess(StudioBlocks, copy.deepcopy(CASES[name])) == postprocess(gr.Blocks, copy.deepcopy(CASES[name]))


def test_a_skipped_output_builds_no_component(monkeypatch):
    built = []
    original = gr.Chatbot.__init__

    def counting_init(self, *args, **kwargs):
        built.append(kwargs)
        original(self, *args, **kwargs)

    demo, fn = build(StudioBlocks)
    plain, plain_fn = build(gr.Blocks)
    monkeypatch.setattr(gr.Chatbot, "__init__", counting_init)
    run(demo.postprocess_data(fn, ["a", gr.skip(), gr.skip(), gr.skip()], SessionState(demo)))
    assert built == []
    run(plain.postprocess_data(plain_fn, ["a", gr.skip(), gr.skip(), gr.skip()], SessionState(plain)))
    assert len(built) == 1  # what this class saves: plain Gradio rebuilds the skipped Chatbot


def test_the_queue_polls_at_the_studios_pace_not_every_millisecond():
    from studio.ui.blocks import PROGRESS_POLL_S, QUEUE_POLL_S

    demo, _ = build(StudioBlocks)
    demo.queue()
    assert (demo._queue.sleep_when_free, demo._queue.progress_update_sleep_when_free) == (QUEUE_POLL_S, PROGRESS_POLL_S)
    plain, _ = build(gr.Blocks)
    plain.queue()
    assert plain._queue.sleep_when_free < QUEUE_POLL_S  # Gradio's own pace is what this changes
