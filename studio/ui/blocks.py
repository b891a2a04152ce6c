"""`StudioBlocks`: Gradio's Blocks, with outputs left unchanged (`gr.skip()`) costing nothing, plain form
fields read without a thread hop each (see `INLINE_PREPROCESS`), a queue that polls less often (see
`QUEUE_POLL_S`), and every event's progress target the page's first component (see `one_progress_target`).

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

import gradio as gr
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
    return type(block) in INLINE_PREPROCESS and not block.stateful and getattr(block, "data_model", None) is None


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

    The set still grows by every input of every event that completes (Gradio's page marks an event's inputs
    when its stream state is "closed", which it sets at each completion): 4 entries after the page loads, 19
    after two Audio clicks, 69 after Fine-tune, 88 after Image, 120 after Text (read from the page). Those are
    the form's fields, which the API names one by one; what they cost is said in benchmarks/click_to_result.py.

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
