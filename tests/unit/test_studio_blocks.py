"""StudioBlocks sends the page what Gradio would, without rebuilding a component for each gr.skip()."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from studio.ui.blocks import StudioBlocks, packed_on


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


def test_the_queue_polls_at_the_studios_pace_not_every_millisecond_and_slower_while_an_event_runs():
    from gradio.queueing import Queue

    from studio.ui.blocks import BUSY_QUEUE_POLL_S, PROGRESS_POLL_S, QUEUE_POLL_S

    demo, _ = build(StudioBlocks)
    demo.queue()
    queue = demo._queue
    assert isinstance(queue, Queue)
    assert (queue.sleep_when_free, queue.progress_update_sleep_when_free) == (QUEUE_POLL_S, PROGRESS_POLL_S)
    queue.active_jobs = [None, ["an event"]]  # what Gradio's loop keeps there while it processes one
    assert queue.sleep_when_free == BUSY_QUEUE_POLL_S > QUEUE_POLL_S
    queue.active_jobs = [None, None]
    assert queue.sleep_when_free == QUEUE_POLL_S
    plain, _ = build(gr.Blocks)
    plain.queue()
    assert plain._queue.sleep_when_free < QUEUE_POLL_S  # Gradio's own pace is what this changes


def progress_targets(demo) -> dict[str, list[int] | None]:
    """Each event's `show_progress_on` as the page gets it (component ids), by api name."""
    return {d["api_name"]: d["show_progress_on"] for d in demo.get_config_file()["dependencies"]}


def relay_like():
    yield "a job's progress", "its status", None


def build_events(blocks_class):
    with blocks_class() as demo:
        header = gr.Markdown("# title")
        with gr.Row():
            answer, status, files = gr.Textbox(), gr.Markdown(), gr.File()
            button = gr.Button()
        button.click(relay_like, None, [answer, status, files], api_name="several")
        button.click(relay_like, None, [answer, status], api_name="chosen", show_progress_on=[status])
        button.click(relay_like, None, [answer, files], api_name="hidden", show_progress="hidden")
        button.click(relay_like, None, answer, api_name="one")
        button.click(lambda: ("a", "b"), None, [answer, status], api_name="at_once")
        button.click(lambda: "a", None, answer, api_name="one_at_once")
        demo.load(lambda: None, None, [answer, status, files], api_name="on_load", show_progress="hidden")
    return demo, header, answer, status


def test_every_event_tracks_on_the_first_component_hidden_unless_it_chose_a_target():
    demo, header, answer, status = build_events(StudioBlocks)
    assert progress_targets(demo) == {
        "several": [header._id],  # the page's first component: the page's search for it stops at once
        "chosen": [status._id],  # a choice made in the tab stays (that page pays for it)
        "hidden": [header._id],
        "one": [header._id],  # a job's relay too: its status line is drawn by the studio
        "at_once": [header._id],
        "one_at_once": [header._id],
        "on_load": [header._id],
    }
    shown = {d["api_name"]: d["show_progress"] for d in demo.get_config_file()["dependencies"]}
    assert shown.pop("chosen") == "full" and set(shown.values()) == {"hidden"}
    plain, *_ = build_events(gr.Blocks)
    assert progress_targets(plain)["several"] is None  # Gradio's default: every output is a target


def build_form(blocks_class):
    with blocks_class() as demo:
        fields = [gr.Textbox(), gr.Number(precision=0), gr.Slider(0, 10), gr.Dropdown(["a", "b"], type="index"),
                  gr.Checkbox(), gr.Radio(["x", "y"]), gr.CheckboxGroup(["p", "q"]), gr.JSON(), gr.State(7)]
        gr.Button().click(lambda *values: None, fields, None)
    return demo, demo.fns[0]


FORM = ["hello", 3.0, 4.5, "b", True, "y", ["q"], {"k": [1, 2]}, None]


def preprocess(blocks_class, values):
    demo, fn = build_form(blocks_class)
    return run(demo.preprocess_data(fn, copy.deepcopy(values), SessionState(demo)))


def test_form_fields_are_read_as_gradio_reads_them():
    assert preprocess(StudioBlocks, FORM) == preprocess(gr.Blocks, FORM) == \
        ["hello", 3, 4.5, 1, True, "y", ["q"], {"k": [1, 2]}, 7]


def test_a_bad_field_is_refused_with_gradios_message():
    bad = [*FORM[:3], "not a choice", *FORM[4:]]
    with pytest.raises(gr.Error) as studio:
        preprocess(StudioBlocks, bad)
    with pytest.raises(gr.Error) as plain:
        preprocess(gr.Blocks, bad)
    assert str(studio.value) == str(plain.value) and "not a choice" in str(studio.value)


def test_form_fields_take_no_thread_hop_each(monkeypatch):
    import anyio.to_thread

    hops = []
    original = anyio.to_thread.run_sync

    async def counting(fn, *args, **kwargs):
        hops.append(type(getattr(fn, "__self__", None)).__name__)
        return await original(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    preprocess(StudioBlocks, FORM)
    assert hops == ["JSON"]  # only the component that is not a plain form field
    hops.clear()
    preprocess(gr.Blocks, FORM)
    assert len(hops) == 8  # Gradio's own path: one hop for each input but the state


def build_packed():
    """A form of plain fields, a state and an upload, wired through `packed_on` as a tab wires it."""
    with StudioBlocks() as demo:
        fields = [gr.Textbox(), gr.Number(precision=0), gr.Dropdown(["a", "b"], type="index"), gr.State(7),
                  gr.File(), gr.Checkbox()]
        out, button = gr.Textbox(), gr.Button()
        packed_on([button.click], lambda *values: "done", fields, out, api_name="the_form")
    return demo, fields


def test_a_form_leaves_the_page_as_one_value_and_its_api_keeps_every_field():
    demo, fields = build_packed()
    deps = demo.get_config_file()["dependencies"]
    pack, page, api = deps
    textbox, number, dropdown, state, upload, checkbox = fields
    plain = [textbox._id, number._id, dropdown._id, checkbox._id]
    # the page: one page-only function reads the plain fields into a hidden box, then the event sends that box
    assert not pack["backend_fn"] and pack["inputs"] == plain and pack["targets"] == page["targets"]
    assert page["backend_fn"] and page["inputs"] == [pack["outputs"][0], state._id, upload._id]
    assert page["api_visibility"] == "private" and page["api_name"] != "the_form"
    # the API: the same handler on every field by name, triggered by nothing on the page
    assert api["api_name"] == "the_form" and api["inputs"] == [f._id for f in fields] and api["targets"] == []
    assert demo.fns[page["id"]].concurrency_id == demo.fns[api["id"]].concurrency_id


def unpack(demo, packed, rest):
    fn = next(fn for fn in demo.fns.values() if getattr(fn, "studio_packed_form", None))
    return run(demo.preprocess_data(fn, [packed, *rest], SessionState(demo)))


def test_a_packed_form_is_read_as_gradio_reads_the_fields_sent_alone():
    demo, fields = build_packed()
    alone = next(fn for fn in demo.fns.values() if fn.api_name == "the_form")
    sent_alone = run(demo.preprocess_data(alone, ["hi", 3.0, "b", None, None, True], SessionState(demo)))
    assert unpack(demo, '["hi", 3.0, "b", true]', [None, None]) == sent_alone == ["hi", 3, 1, 7, None, True]


@pytest.mark.parametrize("packed, says", [
    ('["hi", 3.0, "not a choice", true]', "not a choice"),  # Gradio's own check of the field
    ('["hi", 3.0]', "reload the page"),  # too few values
    ("not json", "reload the page"),
    ('{"a": 1}', "reload the page"),
    (None, "reload the page"),
])
def test_a_bad_packed_form_is_refused_with_a_message(packed, says):
    demo, _ = build_packed()
    with pytest.raises(gr.Error, match=says):
        unpack(demo, packed, [None, None])
