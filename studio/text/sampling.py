"""Sampling with a per-request `torch.Generator`, the same draws as `generate(do_sample=True)` after a seed.

`model.generate` samples from torch's global generator, and seeding that with
`torch.manual_seed` is process-wide state: two answers on two threads would
reseed each other. Here `generate` runs greedily over logits processors that
do the sampling themselves: transformers' own temperature, top-k and top-p
warpers (in the order `generate` applies them), then one draw with this
request's generator, which leaves only the drawn token possible. The draw is
`torch.multinomial` over the same probabilities, so a generator seeded with s
gives exactly the tokens of `torch.manual_seed(s); generate(do_sample=True)`.
"""

from __future__ import annotations

import functools


def sampling_processors(request, seed: int, device):
    """The processors that replace `do_sample=True` for this request at `seed` (none for greedy decoding)."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    processors = LogitsProcessorList()
    if not request.sampling:
        return processors  # before the first token of every greedy answer: nothing more to build
    if request.temperature != 1.0:
        processors.append(TemperatureLogitsWarper(request.temperature))
    if request.top_k:
        processors.append(TopKLogitsWarper(top_k=request.top_k, min_tokens_to_keep=1))
    if request.top_p < 1.0:
        processors.append(TopPLogitsWarper(top_p=request.top_p, min_tokens_to_keep=1))
    processors.append(_draw_with_generator()(_generator(device, seed)))
    return processors


def _generator(device, seed: int):
    import torch

    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    return generator


@functools.cache  # one class, made when first needed (transformers is imported only then)
def _draw_with_generator():
    import torch
    from transformers import LogitsProcessor

    class DrawWithGenerator(LogitsProcessor):
        """Draws the next token with the request's generator and masks every other token out."""

        def __init__(self, generator: torch.Generator):
            self.generator = generator

        def __call__(self, input_ids, scores):
            probs = torch.nn.functional.softmax(scores.float(), dim=-1)
            drawn = torch.multinomial(probs, num_samples=1, generator=self.generator)
            chosen = torch.full_like(scores, float("-inf"))
            return chosen.scatter_(1, drawn, 0.0)

    return DrawWithGenerator
