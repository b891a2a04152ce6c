"""Fine-tune tab: Train a short LoRA run (10 steps) of the embedded model on the bundled `sums-in-words` set, the
tab's defaults otherwise. The result a person waits for is the first loss curve on the plot: Gradio's LinePlot
draws a series of one point as a zero-length path, nothing to see, so the first visible mark is a series' second
point, the training loss logged at step 5 (after the evaluation before the first step and the loss of step 1).
The bare side is the same Trainer work in this process up to that point: load the embedded model and tokenizer,
tokenize the rows, wrap the model with peft's LoRA (the tab's rank, alpha, dropout and all-linear targets),
evaluate the validation rows once, then train 5 steps logging the loss at steps 1 and 5.

Each studio run is a fresh process forked from the fork server (`studio/jobs/preload.py`), so whatever a run
imports that the fork server did not is paid at every click: transformers, peft, the Trainer (with accelerate,
datasets, TensorBoard) and torch._dynamo (which `torch.optim.AdamW` imports on first use) took 4.3 s of CPU, 9-12 s
on this 2-core machine under load, before a run could even say "Loading". They are imported by the fork server
now: a run's job comes to its first evaluation 0.36 s after it starts (12 s before), and the first click
after warm-up showed its first curve 0.8-1.3 s after the click. Up to the step-0 evaluation (0.6 s on the page's
clock), Gradio's page and queue take about 0.15 s before the handler runs, the run's plan 0.15 s (a model built
from its config only to count the trainable parameters, then the rows tokenized), loading and LoRA 0.12 s, the
Trainer and the evaluation 0.12 s; the page used to hold each of the first points back for up to 0.5 s more
(`FirstCurveSoon` in `studio/ui/finetune_view.py`).
"""

from __future__ import annotations

import functools
import json
import random
import tempfile
from pathlib import Path

TAB = "Fine-tune"
BUTTON = "#ft-train"
STEPS = 10
ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "assets" / "embedded" / "text-tiny"
DATA = ROOT / "assets" / "finetune" / "sums-in-words.jsonl"
RANK, ALPHA, DROPOUT, BATCH, MAX_LENGTH, VALIDATION = 8, 16, 0.05, 8, 128, 0.1  # the tab's defaults
LEARNING_RATE, LOGGING_STEPS = 3e-3, 5  # the tab's defaults: the second logged loss is at step 5

# Every line of the loss plot, as one string (a line of two points or more has an "L" in its path).
MARKS = "[...document.querySelectorAll('#ft-loss-plot g.mark-line path')].map(p => p.getAttribute('d') || '')"


def prepare(page) -> str:
    steps = page.locator("#ft-max-steps input")
    if not steps.is_visible():
        page.locator("button.label-wrap:visible", has_text="Training").first.click()  # the closed accordion
    steps.fill(str(STEPS))
    before = page.evaluate(f"() => {MARKS}.join('|')")
    # The last run's curves stay until this run's first point replaces them (or the plot is cleared first).
    return f"""() => {{
      const marks = {MARKS};
      return marks.some(d => d.includes('L')) && marks.join('|') !== {json.dumps(before)};
    }}"""


def settle(page) -> None:
    """The run goes on after its first point: wait for its end (a second click would be refused meanwhile)."""
    page.wait_for_function("() => /^(Done|Stopped)/.test(document.querySelector('#ft-status').innerText.trim())",
                           timeout=120_000)


@functools.cache
def _rows() -> tuple[list[dict], list[dict]]:
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    random.Random(42).shuffle(rows)
    held = max(1, int(len(rows) * VALIDATION))
    return rows[held:], rows[:held]


def bare() -> float:
    """From the files to the second logged training loss with transformers and peft alone; returns that loss."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (AutoModelForCausalLM, AutoTokenizer, DataCollatorForSeq2Seq, PrinterCallback, Trainer,
                              TrainingArguments)

    from studio.devices import auto_threads

    torch.set_num_threads(auto_threads())  # what a fine-tune worker uses with the default settings
    tokenizer = AutoTokenizer.from_pretrained(MODEL)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(MODEL)
    model = get_peft_model(model, LoraConfig(r=RANK, lora_alpha=ALPHA, lora_dropout=DROPOUT,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))

    def encode(row: dict) -> dict:
        prompt = tokenizer(row["prompt"] + "\n")["input_ids"]
        answer = tokenizer(row["response"] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids = (prompt + answer)[:MAX_LENGTH]
        return {"input_ids": ids, "labels": ([-100] * len(prompt) + answer)[:MAX_LENGTH]}

    train_rows, eval_rows = _rows()
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=BATCH, per_device_eval_batch_size=BATCH,
                                 learning_rate=LEARNING_RATE, max_steps=LOGGING_STEPS, logging_steps=LOGGING_STEPS,
                                 logging_first_step=True, save_strategy="no", report_to="none", use_cpu=True,
                                 disable_tqdm=True, remove_unused_columns=False)
        trainer = Trainer(model=model, args=args, train_dataset=[encode(r) for r in train_rows],
                          eval_dataset=[encode(r) for r in eval_rows],
                          data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True))
        trainer.remove_callback(PrinterCallback)  # the studio's Trainer prints nothing either
        trainer.evaluate()  # the studio's point at step 0
        trainer.train()
        return trainer.state.log_history[-2]["loss"]
