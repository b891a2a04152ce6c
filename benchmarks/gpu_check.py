"""One prepared command for a CUDA machine: the studio's GPU paths, run once, with their figures in docs/gpu.md.

    python -m benchmarks.gpu_check            # a few minutes on one GPU; offline (replicas are built here)

What it runs, each through the studio's own code (the loader's precisions, the image pipelines' `place`, the
fine-tune's `attach`), and what it writes:

1. **text precisions**: the shipped `assets/embedded/text-tiny` and a ~100M-parameter Llama replica (built
   from a config, random weights) loaded in fp16, bf16, 8-bit and 4-bit; 32 greedy tokens each; load time,
   tokens/s, weights' and peak memory, finite logits;
2. **image fp16**: the shipped `assets/embedded/image-shapes` and an SDXL replica (`tests/replicas/image.py`)
   in fp16 through `studio.image.pipelines.place` with `enable_model_cpu_offload` forced on; for SDXL the
   fp16-fixed VAE is found under its real hub id in an offline cache (a replica of it) and must replace
   the model's own; 4 steps, finite pixels, peak memory;
3. **LoRA against QLoRA**: the same ~100M Llama replica trained 5 steps (batch 1 x 128 tokens, gradient
   checkpointing, AdamW, bf16 autocast) as LoRA on the studio's full-precision base, LoRA on a bf16 base and
   QLoRA on a 4-bit nf4 base; `torch.cuda.max_memory_allocated` from before the load; target: QLoRA's peak at
   most 0.4 of bf16 LoRA's. The replica's vocabulary is small, so its weights are almost all in the linear
   layers that 4-bit quantizes: the comparison measures quantization, not an unquantized embedding table.

Without CUDA it prints one line and exits 0, leaving docs/gpu.md as it is. It exits 1 when a check failed
or the QLoRA target was missed, after writing everything it measured.
"""

from __future__ import annotations

import gc
import json
import math
import platform
import sys
import tempfile
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "gpu.md"
EMBEDDED = ROOT / "assets" / "embedded"
TEXT_PRECISIONS = ("fp16", "bf16", "8bit", "4bit")
NEW_TOKENS = 32
TRAIN_STEPS, BATCH, SEQ = 5, 1, 128
QLORA_TARGET = 0.4  # QLoRA's peak over bf16 LoRA's
# ~103M parameters, nearly all in the attention and MLP projections (8 x 12.85M); the vocabulary (~640) is the
# text replicas' own, so the embeddings weigh under 1%.
LLAMA_SIZES = dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=8, num_attention_heads=16,
                   num_key_value_heads=16, head_dim=64, tie_word_embeddings=False)
NO_CUDA = "gpu_check: no CUDA device here, nothing was run (docs/gpu.md is unchanged)."


def llama_config():
    """The replica's class, config and tokenizer: SmolLM2's Llama replica (`tests/replicas/text.py`), made ~100M."""
    from tests.replicas.text import smollm2

    model_class, config, tokenizer, _ = smollm2()
    config.update(LLAMA_SIZES)
    return model_class, config, tokenizer


def build_llama(folder: Path) -> Path:
    import torch

    model_class, config, tokenizer = llama_config()
    torch.manual_seed(0)
    model_class(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def release() -> None:
    import torch

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def mb(n: int | float) -> float:
    return round(n / 2**20, 1)


def attempt(row: dict, work) -> dict:
    """Run one check into `row`; a failure is recorded (with its first line) and the next check still runs."""
    started = time.perf_counter()
    try:
        row.update(work())
        row.setdefault("ok", True)
    except Exception as err:
        row.update(ok=False, error=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:240])
        traceback.print_exc()
    row["seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(row), flush=True)
    return row


# ---- 1. text precisions ------------------------------------------------------------------------------------


def text_precisions(models: dict[str, Path]) -> list[dict]:
    import torch

    from studio.loading import LoadRequest
    from studio.text.model import text_slot

    def run(path: Path, precision: str) -> dict:
        release()
        slot = text_slot("cuda")
        try:
            started = time.perf_counter()
            loaded = slot.load(LoadRequest(str(path), precision=precision, any_path=True))
            load_s = time.perf_counter() - started
            weights = torch.cuda.memory_allocated()
            model, tokenizer = loaded.model, loaded.processor
            inputs = tokenizer(["Once upon a time there was"], return_tensors="pt").to("cuda")
            with torch.inference_mode():
                finite = bool(torch.isfinite(model(**inputs).logits).all())
                model.generate(**inputs, max_new_tokens=2, do_sample=False)  # kernels warmed before timing
                torch.cuda.synchronize()
                started = time.perf_counter()
                out = model.generate(**inputs, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False)
                torch.cuda.synchronize()
            made = out.shape[1] - inputs["input_ids"].shape[1]
            return dict(ok=finite and made == NEW_TOKENS, finite_logits=finite, load_s=round(load_s, 2),
                        tokens_per_s=round(made / (time.perf_counter() - started), 1), weights_mb=mb(weights),
                        peak_mb=mb(torch.cuda.max_memory_allocated()), dtype=str(next(model.parameters()).dtype))
        finally:
            slot.unload()

    return [attempt(dict(check="text", model=label, precision=p), lambda: run(path, p))
            for label, path in models.items() for p in TEXT_PRECISIONS]


# ---- 2. image fp16 -----------------------------------------------------------------------------------------


def image_fp16(root: Path) -> list[dict]:
    import numpy as np
    import torch
    from unittest import mock

    from studio.image import pipelines
    from tests.replicas import hub_cache
    from tests.replicas.image import build_sdxl, vae

    cache = root / "hub"
    fix = root / "sdxl-vae-fp16-fix"
    vae(0.13025, force_upcast=False).save_pretrained(fix)  # the real fix's point: it need not upcast
    hub_cache.place(fix, pipelines.SDXL_VAE_FP16_FIX, cache)

    def run(path: Path) -> dict:
        from diffusers import DiffusionPipeline

        release()
        with hub_cache.offline_cache(cache), mock.patch.object(pipelines, "_needs_offload", lambda pipe: True):
            pipe = DiffusionPipeline.from_pretrained(path, dtype=torch.float16)
            kind = pipelines.pipeline_kind(pipe)
            pipelines.place(pipe, "cuda", torch.float16, kind)
        pipe.set_progress_bar_config(disable=True)
        offloaded = bool(getattr(pipe, "_all_hooks", None))
        sdxl = kind.startswith("sdxl")
        fixed = (not pipe.vae.config.force_upcast and pipe.vae.dtype == torch.float16) if sdxl else None
        size = int(pipe.unet.config.sample_size) * pipe.vae_scale_factor
        started = time.perf_counter()
        image = pipe("a red circle on a blue background", num_inference_steps=4, width=size, height=size,
                     output_type="np", generator=torch.Generator("cpu").manual_seed(0)).images[0]
        seconds = time.perf_counter() - started
        finite = bool(np.isfinite(image).all())
        del pipe
        return dict(ok=finite and offloaded and fixed is not False, kind=kind, size=size, finite_pixels=finite,
                    cpu_offload=offloaded, fp16_vae_fix=fixed, generate_s=round(seconds, 2),
                    peak_mb=mb(torch.cuda.max_memory_allocated()))

    sdxl, _ = build_sdxl(root / "sdxl", root / "sdxl-refiner")
    return [attempt(dict(check="image", model=label), lambda: run(path)) for label, path in
            (("embedded/image-shapes", EMBEDDED / "image-shapes"), ("SDXL replica", sdxl))]


# ---- 3. LoRA against QLoRA ---------------------------------------------------------------------------------

FINETUNES = (("LoRA, full-precision base (the studio's LoRA)", "full", "lora"),
             ("LoRA, bf16 base", "bf16", "lora"),
             ("QLoRA, 4-bit nf4 base", "4bit", "qlora"))


def lora_vs_qlora(llama: Path) -> list[dict]:
    import torch

    from studio.finetune.config import MethodSettings
    from studio.finetune.lora import attach
    from studio.loading import LoadRequest
    from studio.text.model import text_slot

    def run(precision: str, method: str) -> dict:
        release()
        before = torch.cuda.memory_allocated()
        slot = text_slot("cuda")
        try:
            loaded = slot.load(LoadRequest(str(llama), precision=precision, any_path=True))
            weights = torch.cuda.memory_allocated() - before
            model, trainable = attach(loaded.model, MethodSettings(method=method), gradient_checkpointing=True)
            model.train()
            optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
            ids = torch.randint(0, model.config.vocab_size, (BATCH, SEQ), device="cuda",
                                generator=torch.Generator("cuda").manual_seed(0))
            losses = []
            for _ in range(TRAIN_STEPS):
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    loss = model(input_ids=ids, labels=ids).loss
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(round(loss.item(), 4))
            peak = torch.cuda.max_memory_allocated() - before
            parameters = trainable.total
            del model, optimizer, loaded
            return dict(ok=all(math.isfinite(x) for x in losses), parameters=parameters, trainable=trainable.trainable,
                        weights_mb=mb(weights), peak_mb=mb(peak), losses=losses)
        finally:
            slot.unload()

    rows = [attempt(dict(check="finetune", setup=label, precision=p), lambda: run(p, m)) for label, p, m in FINETUNES]
    bf16, qlora = rows[1], rows[2]
    if bf16.get("ok") and qlora.get("ok") and bf16["peak_mb"]:
        ratio = qlora["peak_mb"] / bf16["peak_mb"]
        qlora.update(ratio_to_bf16_lora=round(ratio, 3), target=QLORA_TARGET, met=ratio <= QLORA_TARGET)
        print(f"QLoRA peak / bf16 LoRA peak = {ratio:.3f} (target <= {QLORA_TARGET}: "
              f"{'met' if ratio <= QLORA_TARGET else 'NOT met'})", flush=True)
    return rows


# ---- the report --------------------------------------------------------------------------------------------


def environment() -> dict:
    import torch
    import transformers

    versions = {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__}
    for name in ("diffusers", "peft", "bitsandbytes", "accelerate"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:
            versions[name] = "missing"
    gpu = torch.cuda.get_device_properties(0)
    return dict(gpu=gpu.name, gpu_memory_gb=round(gpu.total_memory / 2**30, 1), cuda=torch.version.cuda,
                date=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), **versions)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    return str(value)


def table(rows: list[dict], columns: list[str]) -> list[str]:
    lines = ["| " + " | ".join(columns + ["ok"]) + " |", "|" + "---|" * (len(columns) + 1)]
    for row in rows:
        ok = "yes" if row.get("ok") else f"**failed**: {row.get('error', 'a check was false')}"
        lines.append("| " + " | ".join(cell(row.get(c)) for c in columns) + f" | {ok} |")
    return lines


def render(env: dict, text: list[dict], image: list[dict], finetune: list[dict], total_s: float) -> str:
    qlora = finetune[-1] if finetune else {}
    verdict = (f"QLoRA's peak is **{qlora['ratio_to_bf16_lora']}** of bf16 LoRA's (target <= {QLORA_TARGET}: "
               f"{'met' if qlora['met'] else '**not met**'})." if "ratio_to_bf16_lora" in qlora else
               "The QLoRA ratio could not be computed: a fine-tune check failed (see the table).")
    lines = [
        "# GPU check",
        "",
        "Written by `python -m benchmarks.gpu_check` (see its docstring for what each check does); rerun it on a",
        "CUDA machine to refresh these figures.",
        "",
        f"Run {env['date']} on **{env['gpu']}** ({env['gpu_memory_gb']} GiB, CUDA {env['cuda']}) in {total_s:.0f} s; "
        + ", ".join(f"{k} {v}" for k, v in env.items() if k not in ("date", "gpu", "gpu_memory_gb", "cuda")) + ".",
        "",
        "## Text generation by precision (studio loader, 32 greedy tokens)",
        "",
        *table(text, ["model", "precision", "dtype", "load_s", "tokens_per_s", "weights_mb", "peak_mb",
                      "finite_logits"]),
        "",
        "## Image generation in fp16 (studio `place`: SDXL fp16 VAE fix, model CPU offload; 4 steps)",
        "",
        *table(image, ["model", "kind", "size", "fp16_vae_fix", "cpu_offload", "generate_s", "peak_mb",
                       "finite_pixels"]),
        "",
        f"## LoRA against QLoRA ({TRAIN_STEPS} steps, batch {BATCH} x {SEQ} tokens, gradient checkpointing)",
        "",
        *table(finetune, ["setup", "parameters", "trainable", "weights_mb", "peak_mb"]),
        "",
        verdict,
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        root = Path(tmp)
        llama = build_llama(root / "llama-100m")
        text = text_precisions({"embedded/text-tiny": EMBEDDED / "text-tiny", "Llama replica ~100M": llama})
        image = image_fp16(root)
        finetune = lora_vs_qlora(llama)
    DOC.write_text(render(environment(), text, image, finetune, time.perf_counter() - started))
    print(f"gpu_check: figures written to {DOC.relative_to(ROOT)}")
    rows = text + image + finetune
    return 0 if all(r.get("ok") for r in rows) and finetune[-1].get("met") else 1


if __name__ == "__main__":
    sys.exit(main())
