"""The Text tab: a prompt or a chat, a model with its card, precision and sampling, streamed answers.

Handlers first, then the layout, then the wiring. The tab does no model work:
it checks the form into a `TextRequest`, submits it as a job of the visitor's
to the text worker (`studio.text.tasks:generate`), and relays the job's events
through `TextView`. Stop stops this visitor's text jobs only; the worker ends
generation within one token. Remote code is the operator's setting alone.
The Backend choice sends the prompt to another OpenAI-compatible server
instead (`studio.text.tasks:generate_remote`), one of those the operator
allows (STUDIO_OPENAI_BACKENDS); its events look the same, so the view is one.
Every setting is built from its declaration in `studio.text.form` by
`common.control`, and `parse_form` checks the click with the same declarations
the command line and `TextRequest` use.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from studio.errors import StudioError
from studio.registry import finetuned_text_models, presets
from studio.text.form import FIELDS, FORM_FIELDS, LOCAL, LOCAL_ONLY, parse_form
from studio.text.remote import allowed_backends, ENV_BACKENDS

from .common import control, form_handler, preset_card, user_errors
from .context import Studio
from .relay import JobView, job_event, relay, waiting_text

TEXT_PRESETS = presets("text")
DEFAULT_MODEL = FIELDS["model"].default
CLEAR_PROMPT_IN_CHAT_JS = "(chat, prompt) => chat ? '' : prompt"  # a sent chat message leaves the box empty
FRAME_S = 0.1  # the page gets at most ~10 updates a second, each with only what changed
CHARS_PER_TOKEN_MAX = 32  # a prompt longer than this many characters per allowed token cannot fit: refused at once
# Each example is one the embedded model answers right: sums with greedy decoding, its facts, story starts.
EXAMPLES = [
    ["Q: 12+7= A:", False, True, "\\n"],
    ["Once upon a time, there was a little cat named", False, False, ""],
    ["Tell me a story about a dog.", True, False, ""],
    ["What is the capital of France?", True, True, ""],
]


def model_choices(outputs_dir) -> list[tuple[str, str]]:
    """Presets, then the visitor's own finished Fine-tune runs (newest first), one click away."""
    folders = finetuned_text_models(outputs_dir) if outputs_dir is not None else []
    tuned = [(f"fine-tuned: {Path(folder).parent.name}", folder) for folder in folders]
    return [(p.id, p.id) for p in TEXT_PRESETS] + tuned


def model_card(name: str, custom: str = "") -> str:
    """The preset's card with its memory at each precision, a note for a typed id, or a fine-tuned run's note."""
    if name and not (custom or "").strip() and Path(name).parent.parent.name == "finetune":
        return (f"**Fine-tuned in this studio** (run {Path(name).parent.name}): loads its base model with the "
                "trained adapter on top. The run's record.json beside it has every setting.")
    return preset_card(name, custom, "text", "a local folder the operator allows (STUDIO_LOCAL_MODELS)")


def backend_choices() -> list[str]:
    """This studio's model first, then the servers the operator allows, read now (an unreadable list: none)."""
    try:
        return [LOCAL, *allowed_backends()]
    except StudioError:
        return [LOCAL]


def backend_info(choices: list[str]) -> str:
    if len(choices) > 1:
        return "another OpenAI-compatible server answers instead, with the model named below"
    return f"other OpenAI-compatible servers: none allowed here (the operator lists them in {ENV_BACKENDS})"


def backend_fields(backend: str, locked: bool) -> list[bool]:
    """Which of (the model's name on another server, the model card, *LOCAL_ONLY) show for this Backend choice.

    None of this studio's model settings apply while another server answers; the typed-id box stays hidden while
    the studio is locked to its presets (`app.py` hides it when the page loads).
    """
    remote = bool(backend) and backend != LOCAL
    return [remote, not remote] + [not remote and not (locked and name == "custom_model") for name in LOCAL_ONLY]


def format_stats(done, page_ttft: float | None = None) -> str:
    """One line per sequence: time to first token from the click and in the model, speed, tokens, why it ended."""
    lines = []
    for d in done:
        s = d.stats
        prefix = f"#{d.index + 1} (seed {d.seed}): " if len(done) > 1 else f"seed {d.seed} · "
        click = f"{page_ttft:.2f} s from the click, " if page_ttft is not None and d.index == done[0].index else ""
        lines.append(f"{prefix}TTFT {click}{s.ttft_s:.2f} s in the model · {s.tokens_per_second:.1f} tokens/s · "
                     f"{s.tokens} tokens · stop: {s.stop_reason}")
    notes = dict.fromkeys(n for d in done for n in d.notes)
    return "  \n".join(lines + [f"*{n}*" for n in notes])


class TextView(JobView):
    """Outputs: answer, chat, stats, download. Sends only what changed: the answer box or the chat, not both."""

    outputs = 4
    status_at = 2

    def __init__(self, chat: bool, chat_view: list[dict]):
        self.chat, self.chat_view = chat, chat_view
        self.started = time.perf_counter()
        self.first_text_at: float | None = None
        self.texts: list[str] = []
        self.finished: list = []
        self.status = ""

    def answer(self) -> str:
        if len(self.texts) == 1:
            return self.texts[0]
        return "\n\n".join(f"--- sequence {i + 1} ---\n{t}" for i, t in enumerate(self.texts))

    def _chat(self) -> list[dict]:
        return self.chat_view + [{"role": "assistant", "content": self.answer()}] if self.texts else self.chat_view

    @property
    def page_ttft(self) -> float | None:
        return None if self.first_text_at is None else self.first_text_at - self.started

    def waiting(self, position: int, kind: str) -> tuple:
        return "", self.chat_view if self.chat else gr.skip(), waiting_text(position, kind), None

    def update(self, events: list) -> tuple | None:
        status, grew = self.status, False
        for event in events:
            preview = getattr(event, "preview", None)
            if preview is None:
                status = getattr(event, "message", "") or status
                continue
            for index, piece in preview.chunks.items():
                while len(self.texts) <= index:
                    self.texts.append("")
                self.texts[index] += piece
                grew = grew or bool(piece)
            for finished in preview.done:
                while len(self.texts) <= finished.index:
                    self.texts.append("")
                self.texts[finished.index] = finished.text
                self.finished.append(finished)
                grew = True
            if self.first_text_at is None and any(self.texts):
                self.first_text_at = time.perf_counter()
                status = f"Generating... first token {self.page_ttft:.2f} s after the click."
        if status == self.status and not grew:
            return None
        changed_status = status != self.status
        self.status = status
        text_update = (gr.skip(), self._chat()) if self.chat else (self.answer(), gr.skip())
        if not grew:
            text_update = (gr.skip(), gr.skip())
        return *text_update, status if changed_status else gr.skip(), gr.skip()

    def done(self, event) -> tuple:
        result = event.result
        if result is not None:
            self.texts = [d.text for d in result.sequences] or self.texts
            self.finished = list(result.sequences)
        stats = format_stats(self.finished, self.page_ttft) or ("Stopped before any text." if event.stopped else "")
        file = str(result.text_path) if result is not None and result.sequences else None
        return self.answer(), self._chat() if self.chat else gr.skip(), stats, file


def check_limits(studio: Studio, text_request) -> None:
    """The operator's limits that the page can check without a tokenizer, read at call time."""
    settings = studio.settings
    if text_request.max_new_tokens > settings.max_new_tokens:
        raise StudioError(f"max_new_tokens: {text_request.max_new_tokens} is above this studio's limit of "
                          f"{settings.max_new_tokens} new tokens (STUDIO_MAX_NEW_TOKENS). Ask for "
                          f"{settings.max_new_tokens} or fewer.")
    length = len(text_request.prompt) + len(text_request.system_prompt) + sum(
        len(t["content"]) for t in text_request.history)
    if length > settings.max_prompt_tokens * CHARS_PER_TOKEN_MAX:
        raise StudioError(f"The prompt is {length} characters long, far above this studio's limit of "
                          f"{settings.max_prompt_tokens} prompt tokens (STUDIO_MAX_PROMPT_TOKENS). Shorten it, "
                          "or press Clear to start a new chat.")


ELEM_IDS = {"chat": "text-chat-mode", "stop_text": "text-stop-sequences"}  # the rest: text-<name>


def create_text_tab(demo: gr.Blocks, studio: Studio) -> dict:
    studio.warm_up_with("text", "studio.text.tasks:warm")

    # ---- handlers ------------------------------------------------------------------------------

    @form_handler(FORM_FIELDS)
    @user_errors
    def generate(values: dict, request: gr.Request):
        from studio.text.tasks import TextJob

        form = parse_form(values)
        text_request = form.request
        check_limits(studio, text_request)
        chat_view = [*text_request.history, {"role": "user", "content": text_request.prompt}] \
            if text_request.chat else []
        if form.local:
            load = form.load(**studio.model_scope(request))
            job = studio.submit(request, "text", "studio.text.tasks:generate", TextJob(load, text_request),
                                label=f"text: {load.name}")
        else:
            from studio.text.remote import api_key_from_env, choose_backend, RemoteTextJob

            remote = choose_backend(form.backend, form.backend_model)
            job = studio.submit(request, "text", "studio.text.tasks:generate_remote",
                                RemoteTextJob(remote, text_request, api_key=api_key_from_env()),
                                label=f"text: {remote.label}")
        yield from relay(studio, job, TextView(text_request.chat, chat_view), interval=FRAME_S)

    def stop_generation(request: gr.Request):
        studio.stop(request, "text")

    def toggle_chat(chat):
        return gr.update(visible=chat), gr.update(visible=chat)

    def clear():
        return "", [], "", None

    def refresh_models(current: str, request: gr.Request):
        choices = model_choices(studio.settings_for(request).outputs_dir)
        return gr.update(choices=choices, value=current if current in {v for _, v in choices} else DEFAULT_MODEL)

    def refresh_backends(current: str):
        choices = backend_choices()
        return gr.update(choices=choices, value=current if current in choices else LOCAL, info=backend_info(choices))

    def toggle_backend(backend):
        return [gr.update(visible=shown) for shown in backend_fields(backend, studio.settings.locked)]

    # ---- layout --------------------------------------------------------------------------------

    form: dict = {}

    def add(name: str, **extra):
        elem_id = ELEM_IDS.get(name, "text-" + name.replace("_", "-"))
        form[name] = control(FIELDS[name], elem_id=elem_id, **extra)
        return form[name]

    with gr.Row():
        with gr.Column(scale=3):
            chat = add("chat")
            system_prompt = add("system_prompt", lines=1, visible=False)
            chatbot = form["history"] = gr.Chatbot(label="Chat", visible=False, height=320, elem_id="text-chatbot")
            prompt = add("prompt", lines=1, max_lines=12, placeholder="Once upon a time",
                         info=f"{FIELDS['prompt'].help[:-1]}; Enter sends, Shift+Enter starts a new line.")
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="text-generate")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="text-stop")
                clear_btn = gr.Button("Clear", elem_id="text-clear")
            answer = gr.Textbox(label="Answer", lines=8, max_lines=30, interactive=False, elem_id="text-answer")
            stats = gr.Markdown(elem_id="text-stats", elem_classes="studio-stats")
            download = gr.File(label="Download the answer (its JSON record is saved beside it)",
                               elem_id="text-download")
        with gr.Column(scale=2):
            backends = backend_choices()
            with gr.Row():
                backend = add("backend", choices=backends, allow_custom_value=True, info=backend_info(backends))
                backend_model = add("backend_model", visible=False, placeholder="e.g. embedded/text-tiny")
            model = add("model", choices=model_choices(None), allow_custom_value=True,
                        info=f"{FIELDS['model'].help[:-1]}; your fine-tuned adapters appear here when a run finishes.")
            custom_model = add("custom_model", placeholder="owner/name")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="text-model-card")
            add("precision")
            with gr.Row():
                add("quant_type")
                add("double_quant")
            with gr.Accordion("Sampling", open=True):
                add("max_new_tokens")
                greedy = add("greedy")
                for name in ("temperature", "top_p", "top_k", "repetition_penalty", "num_sequences"):
                    add(name)
                add("seed", precision=0)
                stop_text = add("stop_text", lines=2)
                add("ignore_eos")
    with gr.Row():
        gr.Examples(EXAMPLES, inputs=[prompt, chat, greedy, stop_text], label="Examples the built-in model answers")

    # ---- wiring --------------------------------------------------------------------------------

    inputs = [form[n] for n in FORM_FIELDS]
    outputs = [answer, chatbot, stats, download]
    # Progress shows on the stats line (`relay`), never as Gradio's tracker (see `StudioBlocks`).
    gen_event = job_event([generate_btn.click], generate, inputs, outputs, stats, api_name="text_generate",
                          concurrency_id="text")
    submit_event = job_event([prompt.submit], generate, inputs, outputs, stats, api_visibility="private",
                             concurrency_id="text")
    # Registered after the generation events, so those have read the prompt before it is cleared. In the page
    # only: a server event would cost every click two more rounds of Gradio's loading-status updates.
    for trigger in (generate_btn.click, prompt.submit):
        trigger(None, [chat, prompt], prompt, js=CLEAR_PROMPT_IN_CHAT_JS, queue=False, api_visibility="private")
    stop_btn.click(stop_generation, None, None, api_name="text_stop", concurrency_limit=None, queue=False)
    clear_btn.click(clear, None, [answer, chatbot, stats, download], api_visibility="private")
    chat.change(toggle_chat, chat, [system_prompt, chatbot], api_visibility="private")
    model.focus(refresh_models, model, model, api_visibility="private", queue=False)
    demo.load(refresh_models, model, model, api_visibility="private", queue=False)
    demo.load(refresh_backends, backend, backend, api_visibility="private", queue=False)
    backend.change(toggle_backend, backend, [backend_model, card, *(form[n] for n in LOCAL_ONLY)],
                   api_visibility="private", queue=False)
    for choice in (model, custom_model):
        choice.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, chat=chat, chatbot=chatbot, answer=answer, stats=stats, model=model, backend=backend,
                backend_model=backend_model,
                generate=generate_btn, stop=stop_btn, clear=clear_btn, generate_event=gen_event,
                submit_event=submit_event)
