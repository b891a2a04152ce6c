"""Before/after answers: the same prompts, greedy, with the model before and after training."""

from __future__ import annotations

COMPARE_PROMPTS = 3
MAX_NEW_TOKENS = 24


def greedy_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_NEW_TOKENS,
                   templated: set[str] | frozenset = frozenset()) -> list[str]:
    """Each prompt's greedy continuation (prompt tokens stripped by count, not by string prefix).

    Prompts in `templated` were rendered by the chat template and already hold their special tokens, so they are
    tokenized without adding them again (as the Text tab does). Greedy decoding draws nothing at random, so no
    seed (and no process-wide random state) is involved.
    """
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    answers = []
    try:
        for prompt in prompts:
            inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=prompt not in templated).to(device)
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                     else tokenizer.eos_token_id)
            answers.append(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    finally:
        model.train(was_training)
    return answers
