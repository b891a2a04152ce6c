"""What the fork server imports once, so every worker forked from it starts with it already imported.

Training workers are fresh processes for every run (see `pool.py`): whatever a run
needs that is imported here costs nothing at its start. Heavy imports that only one
kind of warm worker needs belong in that kind's warm-up task instead, so the fork
server (and every training process) stays small. The fork server starts after the
page answers, so nothing here delays the first page.

Measured (issue 14, 2-core machine): a fine-tune run imported transformers, peft
and the Trainer (with accelerate, datasets and TensorBoard) itself, 4.3 s of CPU
and 9-12 s under load before it could say "Loading"; forked from here, its first
evaluation comes 0.36 s after the job starts. A Playground run imported
torch._dynamo (`torch.optim.AdamW` does, on its first use): 1.2 s before its first
step, 0.07 s from here. transformers also serves the text, image and audio workers,
which no longer import it each on their own. The price: the fork server takes
about 5.3 s of CPU to start instead of 1.3 s, so a click in those first seconds
after the page answers waits for it (see `benchmarks/e2e/playground.py`).
"""

MODULES = (
    "studio.jobs.worker",
    "torch",
    "torch._dynamo",  # imported by every optimizer's first step; a second of CPU
    # the Playground trains in a fresh process per run: its whole engine, ready
    "studio.playground.tasks",
    "studio.playground.training",
    "studio.playground.models",
    "studio.playground.datasets",
    "studio.playground.drawing",
    # so does a fine-tune: the library, the embedded model's class, tokenizers, the Trainer, peft, TensorBoard
    "transformers",
    "transformers.modeling_utils",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "transformers.tokenization_utils_tokenizers",
    "transformers.models.llama.modeling_llama",
    "transformers.generation.utils",
    "transformers.trainer",
    "peft",
    "torch.utils.tensorboard",
    "studio.finetune.tasks",
    "studio.finetune.lora",
    "studio.finetune.trainer",
    "studio.finetune.compare",
    "studio.text.model",
)
