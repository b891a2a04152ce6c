"""Before/after answers: the same prompts, greedy, at a fixed seed, with the model before and after training."""

from __future__ import annotations

COMPARE_PROMPTS = 3
MAX_NEW_TOKENS = 24


def greedy_answers(model, tokenizer, prompts: list[str], max_new_tokens: int = MAX_NEW_TOKENS, seed: int = 0) -> list[str]:
    """Each prompt's greedy continuation (prompt tokens stripped by count, not by string prefix)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    answers = []
    try:
        for prompt in prompts:
            torch.manual_seed(seed)
            inputs = tokenizer(prompt, return_tensors="pt").to(device)
            with torch.no_grad():
                out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                     pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None
                                     else tokenizer.eos_token_id)
            answers.append(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip())
    finally:
        model.train(was_training)
    return answers
