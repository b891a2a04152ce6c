"""`benchmarks/gpu_check.py` on a machine without CUDA says so in one line and changes nothing; its report and its
~100M replica are checked here without a GPU."""

import pytest

from benchmarks import gpu_check


def test_without_cuda_it_prints_one_line_exits_0_and_leaves_the_page(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    before = gpu_check.DOC.read_text()
    assert gpu_check.main() == 0
    out = capsys.readouterr().out
    assert out.strip() == gpu_check.NO_CUDA and out.count("\n") == 1
    assert gpu_check.DOC.read_text() == before


def test_the_page_says_whether_it_was_run():
    text = gpu_check.DOC.read_text()
    assert "has not yet been run on a GPU" in text or "Run " in text and "on **" in text


def test_the_llama_replica_has_about_100m_parameters_mostly_quantizable():
    import torch

    model_class, config, _ = gpu_check.llama_config()
    with torch.device("meta"):
        model = model_class(config)
    total = sum(p.numel() for p in model.parameters())
    linear = sum(m.weight.numel() for n, m in model.named_modules()
                 if isinstance(m, torch.nn.Linear) and n != "lm_head")
    assert 90e6 <= total <= 130e6 and linear / total > 0.97


def test_the_report_shows_every_row_and_the_qlora_verdict():
    env = dict(date="2026-01-01 00:00 UTC", gpu="H200", gpu_memory_gb=139.8, cuda="12.8", torch="2.x")
    text = [dict(model="embedded/text-tiny", precision="4bit", tokens_per_s=80.0, ok=True),
            dict(model="embedded/text-tiny", precision="8bit", ok=False, error="ImportError: no bitsandbytes")]
    image = [dict(model="SDXL replica", fp16_vae_fix=True, cpu_offload=True, ok=True)]
    finetune = [dict(setup="LoRA, bf16 base", peak_mb=300.0, ok=True),
                dict(setup="QLoRA", peak_mb=100.0, ok=True, ratio_to_bf16_lora=0.333, met=True)]
    page = gpu_check.render(env, text, image, finetune, 95.0)
    assert "on **H200** (139.8 GiB, CUDA 12.8)" in page and "| embedded/text-tiny | 4bit |" in page
    assert "**failed**: ImportError: no bitsandbytes" in page
    assert "**0.333** of bf16 LoRA's (target <= 0.4: met)" in page
    assert "could not be computed" in gpu_check.render(env, text, image, finetune[:1] + [dict(ok=False)], 1.0)


@pytest.mark.parametrize("value, shown", [(None, "-"), (True, "yes"), (False, "**no**"), (1.5, "1.5")])
def test_cells(value, shown):
    assert gpu_check.cell(value) == shown
