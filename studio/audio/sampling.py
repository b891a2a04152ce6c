"""What runs inside MusicGen's `generate` on every decoder step: the request's own dice, progress and Stop.

transformers samples with the process-wide torch generator, and a worker must not
reseed that (another job's draws would move with it). So the studio asks
`generate` for greedy decoding and puts the sampling into the logits processors:
the same temperature, top-k and top-p warpers transformers would apply, in the
same order, and a last processor that draws one token from the softmax with the
request's own `torch.Generator` and leaves only that token possible. Draw for draw
this is what `torch.manual_seed(seed); generate(do_sample=True)` does, so studio
clips equal bare ones at the same seed (the matrix tests check it).

MusicGen's `generate` appends its classifier-free guidance to the caller's list,
which would put it after the draw; the list here moves guidance to the front, and
the draw refuses scores that are still doubled by guidance rather than sample them.
"""

from __future__ import annotations

from collections.abc import Callable


class Stopped(Exception):
    """Raised inside `generate` by the step watcher: unwinds the model's loop at once."""


def seeded_sampling(temperature: float, top_k: int, top_p: float, generator):
    """A `LogitsProcessorList` that samples like `do_sample=True`, with `generator` as its only source of chance."""
    import torch
    from transformers import (
        ClassifierFreeGuidanceLogitsProcessor,
        LogitsProcessor,
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    class GuidanceFirst(LogitsProcessorList):
        def append(self, processor):
            if isinstance(processor, ClassifierFreeGuidanceLogitsProcessor):
                self.insert(0, processor)
            else:
                super().append(processor)

    class SeededDraw(LogitsProcessor):
        def __call__(self, input_ids, scores):
            if scores.shape[0] != input_ids.shape[0]:  # conditional and unconditional rows: guidance has not run
                raise RuntimeError("MusicGen's guidance did not run before sampling; this transformers version "
                                   "orders logits processors differently")
            probs = torch.nn.functional.softmax(scores, dim=-1)
            chosen = torch.multinomial(probs, num_samples=1, generator=generator)
            only = torch.full_like(scores, float("-inf"))
            return only.scatter_(1, chosen, 0.0)  # greedy decoding now picks the drawn token

    warpers = []
    if temperature != 1.0:
        warpers.append(TemperatureLogitsWarper(temperature))
    if top_k:
        warpers.append(TopKLogitsWarper(top_k=top_k))
    if 0 < top_p < 1.0:
        warpers.append(TopPLogitsWarper(top_p=top_p))
    return GuidanceFirst([*warpers, SeededDraw()])


def step_watcher(on_step: Callable[[], None], should_stop: Callable[[], bool]):
    """A `StoppingCriteria` that counts decoder steps and turns Stop into an immediate end."""
    import torch
    from transformers import StoppingCriteria

    class StepWatcher(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            on_step()
            if should_stop():
                raise Stopped
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return StepWatcher()
