"""`StudioBlocks`: Gradio's Blocks, with outputs left unchanged (`gr.skip()`) costing nothing, plain form
fields read without a thread hop each (see `INLINE_PREPROCESS`) and sent by the page as one value (see
`packed_on`), a queue that polls less often (see `QUEUE_POLL_S`), and every event's progress target the page's
first component (see `one_progress_target`).

Why: a streamed job yields a page update several times a second, and most of
its outputs stay as they are (the chat while the answer streams, the download
box until the end). Gradio 6.31 treats `gr.skip()` as a property update: it
builds a new component from the old one's arguments and recomputes the
session's config of it, API schema included (pydantic JSON schema), 2-10 ms
per skipped output on the 2-core machine (measured with cProfile in
`Blocks.postprocess_data`). In the Text tab that was 100-250 ms of a 0.6 s
click, more than the streaming itself. An update with no properties changes
nothing in that rebuilt config, so here such outputs go straight to the page
as the same `{"__type__": "update"}` Gradio would have sent; everything else
(values, real updates, files) still goes through Gradio's own postprocessing.
"""

from __future__ import annotations

import copy
import json
import warnings

import gradio as gr
from gradio.context import get_blocks_context
from gradio.exceptions import ComponentProcessingError, Error
from gradio.state_holder import SessionState

_SKIP = {"__type__": "update"}
# Gradio's queue looks for new events every millisecond and for progress to send every 10 ms, even when idle:
# 1,100 wake-ups a second of the page's event loop, 8 % of a core with nobody clicking (measured per thread
# from /proc), and bursts that slowed a training process beside it. At 5 ms and 50 ms: 3 %; a click waits
# 2.5 ms longer on average to be picked up; progress bars still move 20 times a second.
QUEUE_POLL_S = 0.005
PROGRESS_POLL_S = 0.05
# While any event runs (a page relaying a job: the work is in a worker process beside the page), the queue
# looks for new events every 25 ms instead: each wake-up of the page is a burst beside the worker.
# `benchmarks/playground_overhead.py` (7 rounds, with training events crossing the pipe every 0.25 s):
# 0.950 of a bare loop at 5 ms, 0.977 at 25 ms. A click that arrives while another runs waits 12 ms longer on
# average to be picked up; a click on an idle page, none.
BUSY_QUEUE_POLL_S = 0.025


# Form fields whose `preprocess` is a few lines of pure Python on a JSON value (no file, no data model). Gradio
# 6.31 runs every input's `preprocess` through `anyio.to_thread.run_sync`, one thread hop each: about 1 ms an
# input on the 2-core machine (16 ms for the Audio tab's 15 inputs, 25 ms for the Image tab's 21, measured around
# `Blocks.preprocess_data` during browser clicks). These run on the event loop instead; files, uploads and
# anything else still take Gradio's own path.
INLINE_PREPROCESS = (gr.Textbox, gr.Number, gr.Slider, gr.Checkbox, gr.Dropdown, gr.Radio, gr.CheckboxGroup)


def _inline(block) -> bool:
    return type(block) in INLINE_PREPROCESS and plain_field(block)


def plain_field(block) -> bool:
    """A form field whose page value is plain JSON, so that it can travel packed: one of `INLINE_PREPROCESS` or a
    subclass drawn by its page component (the Playground's `FormSlider`), each still read by its own `preprocess`."""
    return isinstance(block, INLINE_PREPROCESS) and not block.stateful and getattr(block, "data_model", None) is None


# The attribute of an event's `BlockFunction` that says its plain fields travel as one JSON value (see `pack_form`).
PACKED = "studio_packed_form"


def pack_form(block_fn, fields: list) -> None:
    """Mark an event whose first input is a hidden textbox holding the JSON list of the plain fields of `fields`
    (its other inputs: the rest of `fields`, in order). `StudioBlocks` reads it back into `fields`, each field
    checked and read by Gradio as if it had been sent alone; the handler sees every field, as declared.

    Why: Gradio's page keeps a loading status for every input of every event that has completed and updates all
    of them on each status message of any event (see `one_progress_target`): a tab's form sent field by field
    made that set 120 entries after one click in each tab, 100-150 ms of every later Text click."""
    setattr(block_fn, PACKED, (list(fields), [i for i, field in enumerate(fields) if plain_field(field)]))


def packed_on(triggers, fn, inputs, outputs, **kwargs):
    """`gr.on(triggers, fn, inputs, outputs, **kwargs)`, with the plain fields among `inputs` sent by the page as
    one value when there are several (`pack_form`); returns the page's event, to chain on as usual.

    A page-only function registered just before the event packs them into a hidden textbox; Gradio runs a
    trigger's events in the order they were registered, page-only ones at once. An `api_name` stays the public
    endpoint with every field by name: the same handler on the same inputs, an event no page element triggers.
    Both share one concurrency group, the one Gradio would have given the handler."""
    fields = list(inputs) if isinstance(inputs, (list, tuple)) else [] if inputs is None else [inputs]
    packed = [field for field in fields if plain_field(field)]
    if len(packed) < 2:
        return gr.on(triggers, fn, inputs, outputs, **kwargs)
    form = gr.Textbox(visible=False)
    gr.on(triggers, None, packed, form, js="(...fields) => JSON.stringify(fields)", queue=False,
          api_visibility="private")
    kwargs.setdefault("concurrency_id", str(id(fn)))
    public = {name: kwargs.pop(name) for name in ("api_name", "api_description") if name in kwargs}
    visibility = kwargs.pop("api_visibility", "public")
    rest = [field for field in fields if not plain_field(field)]
    with warnings.catch_warnings():  # Gradio counts the handler's arguments against the packed inputs
        warnings.filterwarnings("ignore", "Expected .* arguments for function", UserWarning)
        event = gr.on(triggers, fn, [form, *rest], outputs, api_visibility="private", **kwargs)
    pack_form(get_blocks_context().fns[event["id"]], fields)
    if visibility != "private":
        gr.on([], fn, fields, outputs, api_visibility=visibility, **public, **kwargs)
    return event


def _unpacked(block_fn, inputs: list):
    """The event as declared, and its inputs, from the packed value the page sent (`pack_form`)."""
    fields, packed = getattr(block_fn, PACKED)
    try:
        values = json.loads(inputs[0]) if isinstance(inputs[0], str) else None
    except ValueError:
        values = None
    if not isinstance(values, list) or len(values) != len(packed) or len(inputs) != len(fields) - len(packed) + 1:
        raise Error("The page sent a form the studio cannot read: reload the page and try again.")
    values, rest = iter(values), iter(inputs[1:])
    fn = copy.copy(block_fn)
    fn.inputs, fn.component_prop_inputs = fields, []
    setattr(fn, PACKED, None)
    return fn, [next(values) if i in packed else next(rest) for i in range(len(fields))]


def _part(block_fn, indices: list[int], preprocess: bool):
    """The same event function, seen with only the inputs at `indices`."""
    fn = copy.copy(block_fn)
    fn.inputs = [block_fn.inputs[i] for i in indices]
    fn.component_prop_inputs = [k for k, i in enumerate(indices) if i in block_fn.component_prop_inputs]
    fn.preprocess = preprocess
    return fn


def _is_bare_skip(value) -> bool:
    return isinstance(value, dict) and value == _SKIP


def first_component(block) -> gr.components.Component | None:
    """The first component of a layout in page order: the one Gradio's page finds first."""
    for child in getattr(block, "children", []):
        if isinstance(child, gr.components.Component):
            return child
        found = first_component(child)
        if found is not None:
            return found
    return None


def one_progress_target(fns, first: gr.components.Component | None) -> int:
    """Give every event the page's `first` component as its one, hidden, progress target; returns how many
    were changed. Progress is the studio's own: each job's status line says what its job is doing
    (`studio/ui/relay.py`), and an error is a toast plus that line.

    Why: Gradio's page keeps a loading status for every component that was ever a progress target of an
    event it ran (by default, all of an event's outputs), never drops one, and on each status message of any
    event (pending, start, every yield, completion) updates every one of them, each found by a depth-first
    search of the whole layout through Svelte's reactive proxies. Chromium's CPU profiler: 255 ms of an Audio
    click's 585 ms of page JavaScript with all outputs as targets; with one target an event (its status line)
    the status lines of the tabs used before still cost every later click: six Text clicks after two each in
    Audio, Fine-tune and Image used 1.6-1.7 s of renderer CPU a 1.24-1.29 s click, 822 ms of it in
    `update_loading_stati_state`, on the two cores the worker needs. With one target for every event, no
    output joins that set beyond the page's first component, found at once.

    The set also grows by every input of every event that completes (Gradio's page marks an event's inputs
    when its stream state is "closed", which it sets at each completion): 120 entries after a click in each of
    Audio, Fine-tune, Image and Text when forms were sent field by field; with `packed_on`, 13 (read from the
    page; benchmarks/click_to_result.py says what that did to a click).

    What this gives up: Gradio's tracker (spinner, timer, queue position, error badge) over an output. An
    event that needs one still chooses it with `show_progress_on` (the Teacher tab's refresh covers the fields
    it rewrites, so that one edited meanwhile is not put back): that page pays for it.
    """
    changed = 0
    if first is None:
        return changed
    for fn in fns:
        if not fn.outputs or fn.show_progress_on is not None:
            continue
        if fn.show_progress != "hidden" or fn.show_progress_on != [first]:
            fn.show_progress, fn.show_progress_on = "hidden", [first]
            changed += 1
    return changed


def _paced(queue_class: type) -> type:
    """Gradio's queue class with `sleep_when_free` (read by its loop before each idle sleep) chosen from its
    own state: `QUEUE_POLL_S` while no event runs, `BUSY_QUEUE_POLL_S` while one does."""

    class PacedQueue(queue_class):
        @property
        def sleep_when_free(self) -> float:
            return BUSY_QUEUE_POLL_S if any(job is not None for job in self.active_jobs) else QUEUE_POLL_S

        @sleep_when_free.setter
        def sleep_when_free(self, value) -> None:
            pass  # Gradio's own pace, set in its constructor: the property decides

    return PacedQueue


class StudioBlocks(gr.Blocks):
    def __exit__(self, *args, **kwargs):
        one_progress_target(self.fns.values(), first_component(self))
        return super().__exit__(*args, **kwargs)

    def queue(self, *args, **kwargs):
        super().queue(*args, **kwargs)
        queue = self._queue
        for name in ("sleep_when_free", "progress_update_sleep_when_free", "active_jobs"):
            if not hasattr(queue, name):  # a Gradio that polls differently: say so in the tests, not at a visitor
                raise AttributeError(f"Gradio's Queue has no {name}: review StudioBlocks.queue")
        queue.progress_update_sleep_when_free = PROGRESS_POLL_S
        queue.__class__ = _paced(type(queue))  # the same queue, its idle sleep read from what it is doing
        return self

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        if getattr(block_fn, PACKED, None):
            block_fn, inputs = _unpacked(block_fn, inputs)
        fields = block_fn.inputs
        inline = [i for i, block in enumerate(fields) if _inline(block) and i not in block_fn.component_prop_inputs]
        if not block_fn.preprocess or not inline or len(inputs) < len(fields):
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        state = state or SessionState(self)
        # Gradio's own checks and session bookkeeping for these fields, without its preprocessing...
        raw = await super().preprocess_data(_part(block_fn, inline, False), [inputs[i] for i in inline], state,
                                            explicit_call)
        processed = {}
        for i, value in zip(inline, raw):  # ...which runs here, with Gradio's errors
            block = state[fields[i]._id] if fields[i]._id in state else fields[i]
            try:
                processed[i] = block.preprocess(value)
            except Error:
                raise
            except Exception as err:
                raise ComponentProcessingError(self._format_processing_error(
                    block_fn, i, block, inputs[i], is_input=True, original_error=err)) from err
        rest = [i for i in range(len(fields)) if i not in processed]
        if rest:  # files, states and other components: all of Gradio's path
            done = await super().preprocess_data(_part(block_fn, rest, True), [inputs[i] for i in rest], state,
                                                 explicit_call)
            processed.update(zip(rest, done))
        return [processed[i] for i in range(len(fields))]

    async def postprocess_data(self, block_fn, predictions, state):
        outputs = block_fn.outputs
        if (block_fn.batch or len(outputs) < 2 or not isinstance(predictions, (list, tuple))
                or len(predictions) != len(outputs)):
            return await super().postprocess_data(block_fn, predictions, state)
        changed = [i for i, value in enumerate(predictions) if not _is_bare_skip(value)]
        if len(changed) == len(outputs):
            return await super().postprocess_data(block_fn, predictions, state)
        processed = iter([])
        if changed:
            fn = copy.copy(block_fn)  # the same function, seen with only the outputs that change
            fn.outputs = [outputs[i] for i in changed]
            values = [predictions[i] for i in changed]
            processed = iter(await super().postprocess_data(fn, values[0] if len(changed) == 1 else values, state))
        return [next(processed) if i in changed else dict(_SKIP) for i in range(len(outputs))]
