"""Builds the embedded text model: a tiny Llama with its own tokenizer, trained on the generated corpus.

`build_text_model()` is deterministic: the corpus, the tokenizer and the
initial weights come from fixed seeds and training runs on one thread, so a
rebuild on the same machine gives the same files (their checksums go into the
folder's MANIFEST.json). Every linear size is a multiple of 64, because
bitsandbytes' 4-bit kernels on CPU refuse other sizes.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .corpus import Corpus, held_out_sums, make_corpus, sum_line

SPECIAL_TOKENS = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
# Each turn is "<|role|>\ncontent<|end|>\n"; the model learns to close its own turn with <|end|>.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


@dataclass
class TinyTextConfig:
    """Sizes of the embedded model and how long it trains. Linear sizes stay multiples of 64."""

    vocab_size: int = 512
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 384
    context: int = 256  # positions the model supports; training blocks are `block` tokens
    block: int = 128
    batch: int = 16
    steps: int = 1200
    learning_rate: float = 3e-3
    warmup: int = 50
    seed: int = 0
    threads: int = 1  # one thread: on a busy 2-core machine more threads made small ops far slower


def train_tokenizer(corpus: Corpus, vocab_size: int):
    """A byte-level BPE (every byte is a token, so any text encodes) with digits kept one per token.

    Single-digit tokens let the model learn addition column by column instead
    of memorising merged number tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    chat_text = [m["content"] for chat in corpus.chats for m in chat]
    tok.train_from_iterator(corpus.documents + chat_text, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>", unk_token=None,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def make_model(cfg: TinyTextConfig, tokenizer):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    eos, end = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|end|>"])
    config = LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        intermediate_size=cfg.intermediate_size, max_position_embeddings=cfg.context,
        tie_word_embeddings=True, bos_token_id=eos, eos_token_id=[eos, end], pad_token_id=eos,
    )
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = [eos, end]
    model.generation_config.pad_token_id = eos
    return model


def token_stream(corpus: Corpus, tokenizer, seed: int) -> list[int]:
    """All documents and rendered chats, shuffled, each followed by end-of-text, as one list of ids."""
    eos = tokenizer.eos_token_id
    texts = list(corpus.documents)
    texts += [tokenizer.apply_chat_template(chat, tokenize=False) for chat in corpus.chats]
    random.Random(seed).shuffle(texts)
    ids: list[int] = []
    for encoded in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids.extend(encoded)
        ids.append(eos)
    return ids


def train(model, ids: list[int], cfg: TinyTextConfig, log=print) -> dict:
    """AdamW with warm-up and cosine decay over random `block`-token windows of the stream."""
    import torch

    data = torch.tensor(ids, dtype=torch.long)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01, betas=(0.9, 0.95))

    def lr_at(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    model.train()
    start, losses = time.perf_counter(), []
    for step in range(cfg.steps):
        starts = torch.randint(0, len(data) - cfg.block - 1, (cfg.batch,), generator=gen)
        batch = torch.stack([data[s : s + cfg.block] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if step % 100 == 0 or step == cfg.steps - 1:
            log(f"step {step:5d}/{cfg.steps}  loss {loss.item():.3f}  {time.perf_counter() - start:6.1f}s")
    model.eval()
    tail = losses[-50:]
    return {"train_seconds": round(time.perf_counter() - start, 1), "final_loss": round(sum(tail) / len(tail), 4)}


def sum_accuracy(model, tokenizer, pairs: list[tuple[int, int]]) -> float:
    """Share of sums answered exactly by greedy decoding of 'Q: a+b= A:'."""
    import torch

    correct = 0
    tokenizer.padding_side = "left"
    for i in range(0, len(pairs), 64):
        chunk = pairs[i : i + 64]
        prompts = [sum_line(a, b).rsplit(" ", 1)[0] for a, b in chunk]  # "Q: a+b= A:"
        enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=5, do_sample=False)
        answers = tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        for (a, b), answer in zip(chunk, answers):
            first = answer.strip().split("\n")[0].strip()
            correct += first == str(a + b)
    return correct / len(pairs)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(folder: Path, command: str, extra: dict) -> Path:
    """Checksums of every shipped file and the command that rebuilt them, beside the weights."""
    files = {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != "MANIFEST.json"}
    manifest = {"command": command, "files": files, **extra}
    path = folder / "MANIFEST.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


def build_text_model(out_dir: Path, cfg: TinyTextConfig | None = None, log=print) -> dict:
    """Generate the corpus, train tokenizer and model, save fp16 weights and a manifest; return the metrics."""
    import torch
    import transformers

    cfg = cfg or TinyTextConfig()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        corpus = make_corpus(seed=cfg.seed)
        tokenizer = train_tokenizer(corpus, cfg.vocab_size)
        ids = token_stream(corpus, tokenizer, cfg.seed)
        log(f"corpus: {len(corpus.documents)} documents, {len(corpus.chats)} chats, {len(ids)} tokens")
        model = make_model(cfg, tokenizer)
        metrics = train(model, ids, cfg, log=log)
        metrics["held_out_sum_accuracy"] = round(sum_accuracy(model, tokenizer, held_out_sums()), 3)
        log(f"held-out sums exact: {metrics['held_out_sum_accuracy']:.1%}")
    finally:
        torch.set_num_threads(previous_threads)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        if old.is_file():
            old.unlink()
    model.to(torch.float16).save_pretrained(out_dir)
    tokenizer.padding_side = "right"
    tokenizer.save_pretrained(out_dir)
    extra = {
        "config": asdict(cfg),
        "metrics": metrics,
        "parameters": sum(p.numel() for p in model.parameters()),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    write_manifest(out_dir, "python -m studio embedded build text", extra)
    return metrics


def build_cli(out_dir: Path, steps: int | None = None) -> dict:
    """Entry point for `python -m studio embedded build text`."""
    cfg = TinyTextConfig() if steps is None else TinyTextConfig(steps=steps)
    return build_text_model(out_dir, cfg, log=lambda line: print(line, flush=True))
