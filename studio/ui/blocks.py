"""`StudioBlocks`: Gradio's Blocks, with outputs left unchanged (`gr.skip()`) costing nothing, and a queue
that polls less often when idle (see `QUEUE_POLL_S`).

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

_SKIP = {"__type__": "update"}
# Gradio's queue looks for new events every millisecond and for progress to send every 10 ms, even when idle:
# 1,100 wake-ups a second of the page's event loop, 8 % of a core with nobody clicking (measured per thread
# from /proc), and bursts that slowed a training process beside it. At 5 ms and 50 ms: 3 %; a click waits
# 2.5 ms longer on average to be picked up; progress bars still move 20 times a second.
QUEUE_POLL_S = 0.005
PROGRESS_POLL_S = 0.05


def _is_bare_skip(value) -> bool:
    return isinstance(value, dict) and value == _SKIP


class StudioBlocks(gr.Blocks):
    def queue(self, *args, **kwargs):
        super().queue(*args, **kwargs)
        queue = self._queue
        for name, seconds in (("sleep_when_free", QUEUE_POLL_S), ("progress_update_sleep_when_free", PROGRESS_POLL_S)):
            if not hasattr(queue, name):  # a Gradio that polls differently: say so in the tests, not at a visitor
                raise AttributeError(f"Gradio's Queue has no {name}: review StudioBlocks.queue")
            setattr(queue, name, seconds)
        return self

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
