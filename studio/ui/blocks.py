"""`StudioBlocks`: Gradio's Blocks, with outputs left unchanged (`gr.skip()`) costing nothing, plain form
fields read without a thread hop each (see `INLINE_PREPROCESS`), a queue that polls less often (see
`QUEUE_POLL_S`), and every event's progress shown on one output (see `one_progress_target`).

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
import inspect

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


def _streams(fn) -> bool:
    """Whether an event function yields (a job's relay), looking through decorators that keep `__wrapped__`."""
    while fn is not None:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            return True
        fn = getattr(fn, "__wrapped__", None)
    return False


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
    """Give every event with no `show_progress_on` a single progress target; returns how many were changed.

    Why: Gradio's page keeps a loading status for every component that was ever a progress target of an
    event it ran (by default, all of an event's outputs), and on each status message of any event (pending,
    start, every yield, completion) it updates every one of them, each found by a depth-first search of the
    whole layout. The page-load events alone (the Playground's link restore has 49 outputs) left about 60: a
    Chromium CPU profile of an Audio click had 255 ms of its 585 ms of page work in
    `update_loading_stati_state`. Now an event shows its progress over its first output only (as the
    studio's job events already do on their status line), and an event whose progress is hidden targets the
    page's `first` component, which that search reaches at once.

    Those loading statuses are never dropped, so each status line deep in the layout that an event ever used
    costs every later message of every event a search (an Image click after an Audio and a Fine-tune one:
    456 ms of page JavaScript in that update, against 108 ms in a fresh page; the Fine-tune status line is
    node 319 of 341). So an event that answers in one go (not a generator: a model card, a toggle, a refill,
    a lesson pick) hides its progress, which it is over too soon to show, and only the events that relay a job
    keep Gradio's tracker and its error badge on their status line.
    """
    changed = 0
    for fn in fns:
        if fn.show_progress_on is not None or not fn.outputs:
            continue
        if first is not None and not _streams(fn.fn):
            fn.show_progress = "hidden"
        outputs = [o for o in fn.outputs if isinstance(o, gr.components.Component)]
        target = first if fn.show_progress == "hidden" and first is not None else outputs[0] if outputs else None
        if target is not None and (len(fn.outputs) > 1 or target is not fn.outputs[0]):
            fn.show_progress_on = [target]
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
