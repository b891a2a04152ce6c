"""The Text tab: a prompt or a chat, a model with its card, precision and sampling, streamed answers.

Handlers first, then the layout, then the wiring. The engine (torch,
transformers) is imported inside the handlers, so building the app stays fast;
the tab never loads a model or picks a device itself. Stop sets this session's
own stop event, which the engine's stopping criterion reads after every token.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import gradio as gr

from studio.devices import PRECISIONS
from studio.registry import finetuned_text_models, presets
from studio.settings import Settings

from .common import preset_card, session_key, SessionStops, user_errors

TEXT_PRESETS = presets("text")
DEFAULT_MODEL = TEXT_PRESETS[0].id
FRAME_S = 1 / 30  # at most this often a streamed answer is sent to the page
EXAMPLES = [
    ["Once upon a time, there was a little cat named", False],
    ["Q: 23+14= A:", False],
    ["Tell me a story about a dog.", True],
    ["What is the capital of France?", True],
]


def model_choices(settings: Settings) -> list[tuple[str, str]]:
    """Presets, then every finished Fine-tune run (newest first), so a trained adapter is one click away."""
    tuned = [(f"fine-tuned: {Path(folder).parent.name}", folder) for folder in finetuned_text_models(settings.outputs_dir)]
    return [(p.id, p.id) for p in TEXT_PRESETS] + tuned


def model_card(name: str, custom: str = "") -> str:
    """The preset's card with its memory at each precision, a note for a typed id, or a fine-tuned run's note."""
    if name and Path(name).parent.parent.name == "finetune":
        return (f"**Fine-tuned in this studio** (run {Path(name).parent.name}): loads its base model with the "
                "trained adapter on top. The run's record.json beside it has every setting.")
    return preset_card(name, custom, "text", "a local folder written by save_pretrained")


def format_stats(done) -> str:
    lines = []
    for d in done:
        s = d.stats
        prefix = f"#{d.index + 1} (seed {d.seed}): " if len(done) > 1 else f"seed {d.seed} · "
        lines.append(f"{prefix}TTFT {s.ttft_s:.2f} s · {s.tokens_per_second:.1f} tokens/s · "
                     f"{s.tokens} tokens · stop: {s.stop_reason}")
    return "  \n".join(lines)


def _plain_content(content) -> str:
    if isinstance(content, list):  # Gradio 6 hands chat content back as a list of parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def create_text_tab(demo: gr.Blocks, settings: Settings) -> dict:
    runs = SessionStops()

    @functools.cache  # one TextEngine, made on first use so the app starts without torch
    def engine():
        from studio.text.engine import TextEngine

        return TextEngine(settings)

    # ---- handlers ------------------------------------------------------------------------------

    @user_errors
    def generate(prompt, chat, system_prompt, history, model, custom_model, precision, quant_type, double_quant,
                 trust_remote_code, max_new_tokens, temperature, top_p, top_k, repetition_penalty, greedy,
                 num_sequences, seed, stop_text, ignore_eos, request: gr.Request):
        from studio.loading import LoadRequest
        from studio.text.engine import TextSaved
        from studio.text.generate import SequenceDone, TextChunk
        from studio.text.request import TextRequest, parse_stop_sequences

        history = [{"role": m["role"], "content": _plain_content(m.get("content"))} for m in (history or [])]
        text_request = TextRequest(
            prompt=prompt or "", max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, top_k=top_k,
            repetition_penalty=repetition_penalty, greedy=bool(greedy), num_sequences=num_sequences,
            seed=seed if seed is not None else 0, stop_sequences=parse_stop_sequences(stop_text),
            ignore_eos=bool(ignore_eos), chat=bool(chat), system_prompt=system_prompt or "", history=tuple(history),
        )
        load = LoadRequest((custom_model or "").strip() or model, precision=precision, quant_type=quant_type,
                           double_quant=bool(double_quant), trust_remote_code=bool(trust_remote_code))
        key = session_key(request)
        stop = runs.start(key)
        texts: list[str] = []
        done = []
        chat_view = history + [{"role": "user", "content": prompt}] if chat else history

        def view():
            answer = texts[0] if len(texts) == 1 else "\n\n".join(
                f"--- sequence {i + 1} ---\n{t}" for i, t in enumerate(texts))
            bot = chat_view + [{"role": "assistant", "content": answer}] if chat else chat_view
            return answer, bot

        try:
            current = engine().slot.current
            if current is None or current.request != load:
                yield "", chat_view, f"Loading {load.name}...", None
            last_frame = 0.0
            for event in engine().generate(load, text_request, stop):
                if isinstance(event, (TextChunk, SequenceDone)):
                    while len(texts) <= event.index:
                        texts.append("")
                if isinstance(event, TextChunk):
                    texts[event.index] += event.text
                    # The first token shows at once; later ones are grouped into frames, so a fast model
                    # does not make the page re-render hundreds of times a second.
                    if last_frame and time.perf_counter() - last_frame < FRAME_S:
                        continue
                    last_frame = time.perf_counter()
                    yield *view(), format_stats(done) or "Generating...", None
                elif isinstance(event, SequenceDone):
                    texts[event.index] = event.text
                    done.append(event)
                    yield *view(), format_stats(done), None
                elif isinstance(event, TextSaved):
                    yield *view(), format_stats(done), str(event.text_path)
        finally:
            runs.finish(key)

    def stop_generation(request: gr.Request):
        runs.stop(session_key(request), wait_s=3.0)

    def describe(model, custom_model, precision):
        from studio.devices import pick_device, precision_problem

        card = model_card(model, custom_model)
        try:
            device = pick_device(settings.device)
        except Exception as err:  # a wrong STUDIO_DEVICE is reported by the generate handler
            return f"{card}\n\n{err}"
        problem = precision_problem(precision, device)
        note = f"\n\n**{precision} on {device}:** {problem}" if problem else f"\n\nRuns on: {device}"
        return card + note

    def toggle_chat(chat):
        return gr.update(visible=chat), gr.update(visible=chat)

    def clear():
        return "", [], "", None

    # ---- layout --------------------------------------------------------------------------------

    with gr.Row():
        with gr.Column(scale=3):
            chat = gr.Checkbox(label="Chat mode (uses the model's chat template)", value=False,
                               elem_id="text-chat-mode")
            system_prompt = gr.Textbox(label="System prompt", value="You are a helpful assistant.", lines=1,
                                       visible=False, elem_id="text-system-prompt")
            chatbot = gr.Chatbot(label="Chat", visible=False, height=320, elem_id="text-chatbot")
            prompt = gr.Textbox(label="Prompt", lines=4, placeholder="Once upon a time", elem_id="text-prompt")
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="text-generate")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="text-stop")
                clear_btn = gr.Button("Clear", elem_id="text-clear")
            answer = gr.Textbox(label="Answer", lines=8, interactive=False, elem_id="text-answer")
            stats = gr.Markdown(elem_id="text-stats", elem_classes="studio-stats")
            download = gr.File(label="Download the answer (its JSON record is saved beside it)",
                               elem_id="text-download")
            gr.Examples(EXAMPLES, inputs=[prompt, chat], label="Examples")
        with gr.Column(scale=2):
            model = gr.Dropdown(model_choices(settings), value=DEFAULT_MODEL, label="Model",
                                elem_id="text-model", allow_custom_value=True,
                                info="fine-tuned adapters appear here as soon as a run finishes")
            custom_model = gr.Textbox("", label="Or type a hub id or a local folder", placeholder="owner/name",
                                      elem_id="text-custom-model")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="text-model-card")
            precision = gr.Radio(list(PRECISIONS), value="full", label="Precision", elem_id="text-precision")
            with gr.Row():
                quant_type = gr.Radio(["nf4", "fp4"], value="nf4", label="4-bit type", elem_id="text-quant-type")
                double_quant = gr.Checkbox(label="Double quantization", value=True, elem_id="text-double-quant")
            trust_remote_code = gr.Checkbox(label="Trust remote code (runs code shipped with the model)",
                                            value=settings.trust_remote_code, elem_id="text-trust-remote-code")
            with gr.Accordion("Sampling", open=True):
                max_new_tokens = gr.Slider(1, 4096, value=128, step=1, label="Max new tokens",
                                           elem_id="text-max-new-tokens")
                greedy = gr.Checkbox(label="Greedy (always the most likely token)", value=False,
                                     elem_id="text-greedy")
                temperature = gr.Slider(0, 2, value=0.8, step=0.05, label="Temperature", elem_id="text-temperature")
                top_p = gr.Slider(0.01, 1, value=0.95, step=0.01, label="Top-p", elem_id="text-top-p")
                top_k = gr.Slider(0, 200, value=50, step=1, label="Top-k (0 = off)", elem_id="text-top-k")
                repetition_penalty = gr.Slider(0.5, 2, value=1.0, step=0.05, label="Repetition penalty",
                                               elem_id="text-repetition-penalty")
                num_sequences = gr.Slider(1, 8, value=1, step=1, label="Sequences", elem_id="text-num-sequences")
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed (sequence i uses seed + i)",
                                 elem_id="text-seed")
                stop_text = gr.Textbox("", label="Stop sequences (one per line, \\n for a newline)", lines=2,
                                       elem_id="text-stop-sequences")
                ignore_eos = gr.Checkbox(label="Ignore end of text (write until max new tokens)", value=False,
                                         elem_id="text-ignore-eos")

    # ---- wiring --------------------------------------------------------------------------------

    inputs = [prompt, chat, system_prompt, chatbot, model, custom_model, precision, quant_type, double_quant,
              trust_remote_code, max_new_tokens, temperature, top_p, top_k, repetition_penalty, greedy,
              num_sequences, seed, stop_text, ignore_eos]
    outputs = [answer, chatbot, stats, download]
    gen_event = generate_btn.click(generate, inputs, outputs, api_name="text_generate", concurrency_id="text")
    submit_event = prompt.submit(generate, inputs, outputs, api_visibility="private", concurrency_id="text")
    stop_btn.click(stop_generation, None, None, api_name="text_stop", concurrency_limit=None, queue=False).then(
        None, None, None, cancels=[gen_event, submit_event])
    clear_btn.click(clear, None, [prompt, chatbot, stats, download], api_visibility="private")
    chat.change(toggle_chat, chat, [system_prompt, chatbot], api_visibility="private")
    def refresh_models(current: str):
        choices = model_choices(settings)
        return gr.update(choices=choices, value=current if current in {v for _, v in choices} else DEFAULT_MODEL)

    model.focus(refresh_models, model, model, api_visibility="private", queue=False)
    demo.load(refresh_models, model, model, api_visibility="private", queue=False)
    for control in (model, custom_model, precision):
        control.change(describe, [model, custom_model, precision], card, api_visibility="private")
    return dict(prompt=prompt, chat=chat, chatbot=chatbot, answer=answer, stats=stats, model=model,
                generate=generate_btn, stop=stop_btn, generate_event=gen_event)
