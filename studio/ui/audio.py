"""The Audio tab: text-to-music, continuation of an uploaded clip, melody conditioning, pictures and Stop.

Handlers first, then the layout, then the wiring. The page does no tensor work:
a click becomes an `AudioJob` (checked here, so a bad field answers at once),
runs as `studio.audio.tasks:generate` in the audio worker, and its events come
back through `relay`. Stop asks only this visitor's job to end at its next
decoder step; the page keeps the clip it showed before (or shows the windows
finished before the Stop, when a long clip was being made). Every control is
built from its declaration in `studio.audio.form` by `common.control`, and a
refused click shows its message on the status line only: the clip, its
pictures and the form stay.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

from studio.audio.form import FIELDS, FORM_FIELDS, parse_form
from studio.audio.request import AudioJob, check_limits
from studio.errors import StudioError
from studio.events import DoneEvent, ProgressEvent
from studio.registry import presets

from .common import control, form_handler, preset_card, user_errors
from .context import Studio
from .relay import JobView, job_event, relay

AUDIO_PRESETS = presets("audio")
DEFAULT_MODEL = FIELDS["model"].default
CLIP_TYPES = [".wav", ".flac", ".ogg", ".mp3"]
EXAMPLES = [  # wordings the embedded model never saw in training
    [FIELDS["prompt"].default, 2.0, 0],
    ["a high-pitched tune that is unhurried", 2.0, 1],
    ["brisk melody, treble notes", 2.0, 2],
    ["a slow low melody", 2.0, 3],
    ["a fast bright melody on a buzzy square wave", 2.0, 4],
]


def model_card(name: str, custom: str = "") -> str:
    return preset_card(name, custom, "audio", "a local MusicGen folder written by save_pretrained")


def format_result(result) -> str:
    lines = [f"{len(result.paths)} clip(s) of {result.audio_seconds:.2f} s · {result.sample_rate} Hz · "
             f"{'stereo' if result.channels == 2 else 'mono'} · made in {result.generate_seconds:.2f} s · "
             f"real-time factor {result.real_time_factor:.2f} (generation time / audio length) · seed {result.seed}"]
    if result.folder:
        lines.append(f"Saved as WAV (PCM 16) with its record in `{result.folder.name}`.")
    lines += [f"Note: {n}" for n in result.notes]
    return "  \n".join(lines)


def uploaded(path, upload_folder: str) -> str | None:
    """The path of a clip Gradio received, or None; anything else is refused (never read a server path)."""
    if not path:
        return None
    resolved = Path(path).resolve()
    root = Path(upload_folder).resolve()
    if root not in resolved.parents:
        raise StudioError("clip: only a file uploaded to this page can be used; upload the clip again.")
    return str(resolved)


def every_clip(result) -> list | None:
    """The gallery of every clip's pictures, filled only when there are several: one clip's pictures are above it
    already, and each picture the page gets costs the server a file copy and the browser a fetch (a plain value,
    not a visibility update, so the API's answer keeps its shape)."""
    if len(result.paths) < 2:
        return None
    plots = [(str(w), f"waveform {i}") for i, w in enumerate(result.waveforms, 1)]
    return plots + [(str(s), f"mel spectrogram {i}") for i, s in enumerate(result.spectrograms, 1)]


# A clip made in less time than this shows no token count before it: the count's two page updates came while
# the worker was generating, on the same two cores. 2 s of the embedded model took 0.39-0.52 s in the worker
# on a slow 2-core host (0.3-0.45 s as a bare call), so some warm clicks still show one count.
FIRST_COUNT_S = 0.5

ELEM_IDS = {"window_seconds": "audio-window", "overlap_seconds": "audio-overlap"}  # the rest: audio-<name>


class AudioView(JobView):
    """Outputs: player, waveform, spectrogram, gallery of pictures, downloads, status."""

    outputs = 6
    status_at = 5

    def __init__(self):
        self.started = time.monotonic()

    def update(self, events: list):
        """The newest progress line; none for the last decoder step, whose clip follows within milliseconds, and
        no token count in a job's first `FIRST_COUNT_S` (each line costs the page a round of updates; a line
        that is not a count, such as "Loading...", shows at once)."""
        progress = [e for e in events if isinstance(e, ProgressEvent)]
        last = progress[-1] if progress else None
        if last is None or not last.message or (last.total and last.step >= last.total):
            return None
        if last.step and time.monotonic() - self.started < FIRST_COUNT_S:
            return None
        return self.say(last.message)

    def done(self, event: DoneEvent) -> tuple:
        result = event.result
        if result is None or not result.paths:  # stopped before a clip (or while still queued): keep the old one
            done = f" after {result.steps} steps" if result is not None else ""
            return self.say(f"Stopped{done}: nothing new was kept (the clip shown before stays).")
        files = [str(p) for p in result.paths] + [str(result.record_path)]
        return (str(result.paths[0]), str(result.waveforms[0]), str(result.spectrograms[0]), every_clip(result),
                files, format_result(result))


def create_audio_tab(demo: gr.Blocks, studio: Studio) -> dict:
    studio.warm_up_with("audio", "studio.audio.tasks:warm")

    # ---- handlers ------------------------------------------------------------------------------

    @form_handler(FORM_FIELDS)
    @user_errors
    def generate(values: dict, request: gr.Request):
        values["clip"] = uploaded(values.get("clip"), demo.GRADIO_CACHE)  # never a server path
        audio_request = parse_form(values)
        check_limits(audio_request, studio.settings)  # read now: the admin may have changed it
        job = studio.submit(request, "audio", "studio.audio.tasks:generate",
                            AudioJob(audio_request, studio.model_scope(request)), label=audio_request.model)
        yield from relay(studio, job, AudioView())

    def stop_generation(request: gr.Request):
        studio.stop(request, "audio")  # this visitor's audio job only; it ends at its next decoder step

    # ---- layout --------------------------------------------------------------------------------

    form: dict = {}

    def add(name: str, **extra):
        elem_id = ELEM_IDS.get(name, "audio-" + name.replace("_", "-"))
        form[name] = control(FIELDS[name], elem_id=elem_id, **extra)
        return form[name]

    limit = studio.settings.max_audio_seconds
    with gr.Row():
        with gr.Column(scale=3):
            prompt = add("prompt", lines=2)
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="audio-generate")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="audio-stop")
            status = gr.Markdown(elem_id="audio-status", elem_classes="studio-stats")
            player = gr.Audio(label="First clip", type="filepath", interactive=False, elem_id="audio-player")
            waveform = gr.Image(label="Waveform", interactive=False, elem_id="audio-waveform")
            spectrogram = gr.Image(label="Mel spectrogram", interactive=False, elem_id="audio-spectrogram")
            plots = gr.Gallery(label="Every clip's waveform and spectrogram, when you make two or more", columns=2,
                               height=260, elem_id="audio-plots")
            downloads = gr.File(label="Download the WAVs and the record", file_count="multiple",
                                elem_id="audio-downloads")
        with gr.Column(scale=2):
            model = add("model", choices=[p.id for p in AUDIO_PRESETS])
            custom_model = add("custom_model", placeholder="owner/name")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="audio-model-card")
            seconds = add("seconds", info=f"{FIELDS['seconds'].help[:-1]}; this studio allows up to {limit:g} s.")
            add("guidance")
            add("temperature")
            with gr.Row():
                add("top_k")
                add("top_p")
            with gr.Row():
                add("samples")
                seed = add("seed")
            with gr.Accordion("Start from a clip: continue it, or follow its melody", open=False):
                add("clip", file_types=CLIP_TYPES)
                add("clip_use")
                add("prompt_seconds")
            with gr.Accordion("Long clips: windows", open=False):
                add("window_seconds")
                add("overlap_seconds")
    gr.Examples(EXAMPLES, inputs=[prompt, seconds, seed], label="Examples (click one, then Generate)")

    # ---- wiring --------------------------------------------------------------------------------

    outputs = [player, waveform, spectrogram, plots, downloads, status]
    # Progress and errors show on the status line only (`relay`): a refused click leaves the clip, its pictures and
    # the form as they were.
    gen_event = job_event([generate_btn.click], generate, [form[n] for n in FORM_FIELDS], outputs, status,
                          api_name="audio_generate")
    # No `cancels`: the job ends within one decoder step and the handler then shows what was kept.
    stop_btn.click(stop_generation, None, None, api_name="audio_stop", queue=False)
    for choice in (model, custom_model):
        choice.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, player=player, spectrogram=spectrogram, status=status, model=model,
                generate=generate_btn, stop=stop_btn, clip=form["clip"], generate_event=gen_event)
