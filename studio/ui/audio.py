"""The Audio tab: text-to-music, continuation of an uploaded clip, melody conditioning, pictures and Stop.

Handlers first, then the layout, then the wiring. The page does no tensor work:
a click becomes an `AudioJob` (checked here, so a bad field answers at once),
runs as `studio.audio.tasks:generate` in the audio worker, and its events come
back through `relay`. Stop asks only this visitor's job to end at its next
decoder step; the page keeps the clip it showed before (or shows the windows
finished before the Stop, when a long clip was being made).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from studio.audio.request import AudioJob, AudioRequest, check_limits
from studio.errors import ConfigError, StudioError
from studio.events import DoneEvent, ProgressEvent
from studio.registry import presets

from .common import preset_card, user_errors
from .context import Studio
from .relay import JobView, relay, waiting_text

AUDIO_PRESETS = presets("audio")
DEFAULT_MODEL = AUDIO_PRESETS[0].id
CLIP_TYPES = [".wav", ".flac", ".ogg", ".mp3"]
EXAMPLES = [  # wordings the embedded model never saw in training
    ["play something lively and deep", 2.0, 0],
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


def whole(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or \
            value in (float("inf"), float("-inf")) or float(value) != int(value):
        raise ConfigError(name, value, "use a whole number")
    return int(value)


def number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, value, "use a number")
    return float(value)  # NaN and infinity are refused, with the field named, by AudioRequest


def uploaded(path, upload_folder: str) -> str | None:
    """The path of a clip Gradio received, or None; anything else is refused (never read a server path)."""
    if not path:
        return None
    resolved = Path(path).resolve()
    root = Path(upload_folder).resolve()
    if root not in resolved.parents:
        raise StudioError("clip: only a file uploaded to this page can be used; upload the clip again.")
    return str(resolved)


class AudioView(JobView):
    """Outputs: player, waveform, spectrogram, gallery of pictures, downloads, status."""

    outputs = 6

    def status_only(self, text: str) -> tuple:
        return (*self.skip()[:-1], text)

    def waiting(self, position: int, kind: str):
        return self.status_only(waiting_text(position, kind))

    def update(self, events: list):
        progress = [e for e in events if isinstance(e, ProgressEvent)]
        return self.status_only(progress[-1].message) if progress and progress[-1].message else None

    def done(self, event: DoneEvent) -> tuple:
        result = event.result
        if result is None or not result.paths:  # stopped before a clip (or while still queued): keep the old one
            done = f" after {result.steps} steps" if result is not None else ""
            return self.status_only(f"Stopped{done}: nothing new was kept (the clip shown before stays).")
        plots = [(str(w), f"waveform {i}") for i, w in enumerate(result.waveforms, 1)]
        plots += [(str(s), f"mel spectrogram {i}") for i, s in enumerate(result.spectrograms, 1)]
        files = [str(p) for p in result.paths] + [str(result.record_path)]
        return (str(result.paths[0]), str(result.waveforms[0]), str(result.spectrograms[0]), plots, files,
                format_result(result))


def create_audio_tab(demo: gr.Blocks, studio: Studio) -> dict:
    studio.warm_up_with("audio", "studio.audio.tasks:warm")

    # ---- handlers ------------------------------------------------------------------------------

    @user_errors
    def generate(prompt, model, custom_model, seconds, guidance, temperature, top_k, top_p, samples, seed, clip,
                 clip_use, prompt_seconds, window_seconds, overlap_seconds, request: gr.Request,
                 progress=gr.Progress()):
        clip_path = uploaded(clip, demo.GRADIO_CACHE)
        audio_request = AudioRequest(
            prompt=prompt or "", model=(custom_model or "").strip() or model, seconds=number(seconds, "seconds"),
            guidance=number(guidance, "guidance"), temperature=number(temperature, "temperature"),
            top_k=whole(top_k, "top_k"), top_p=number(top_p, "top_p"), samples=whole(samples, "samples"),
            seed=whole(seed, "seed"), clip=clip_path, clip_use=clip_use if clip_path else "none",
            prompt_seconds=number(prompt_seconds, "prompt_seconds"),
            window_seconds=number(window_seconds, "window_seconds"),
            overlap_seconds=number(overlap_seconds, "overlap_seconds"),
        )
        check_limits(audio_request, studio.settings)  # read now: the admin may have changed it
        job = studio.submit(request, "audio", "studio.audio.tasks:generate",
                            AudioJob(audio_request, studio.model_scope(request)), label=audio_request.model)
        yield from relay(studio, job, AudioView(), progress)

    def stop_generation(request: gr.Request):
        studio.stop(request, "audio")  # this visitor's audio job only; it ends at its next decoder step

    # ---- layout --------------------------------------------------------------------------------

    limit = studio.settings.max_audio_seconds
    with gr.Row():
        with gr.Column(scale=3):
            prompt = gr.Textbox(label="Describe the music", lines=2, value=EXAMPLES[0][0], elem_id="audio-prompt")
            with gr.Row():
                generate_btn = gr.Button("Generate", variant="primary", elem_id="audio-generate")
                stop_btn = gr.Button("Stop", variant="stop", elem_id="audio-stop")
            status = gr.Markdown(elem_id="audio-status", elem_classes="studio-stats")
            player = gr.Audio(label="First clip", type="filepath", interactive=False, elem_id="audio-player")
            waveform = gr.Image(label="Waveform", interactive=False, elem_id="audio-waveform")
            spectrogram = gr.Image(label="Mel spectrogram", interactive=False, elem_id="audio-spectrogram")
            plots = gr.Gallery(label="Every clip's waveform and spectrogram", columns=2, height=260,
                               elem_id="audio-plots")
            downloads = gr.File(label="Download the WAVs and the record", file_count="multiple",
                                elem_id="audio-downloads")
        with gr.Column(scale=2):
            model = gr.Dropdown([p.id for p in AUDIO_PRESETS], value=DEFAULT_MODEL, label="Model",
                                elem_id="audio-model")
            custom_model = gr.Textbox(label="Or type a hub id (or a folder the operator allows)",
                                      placeholder="owner/name", elem_id="audio-custom-model")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="audio-model-card")
            seconds = gr.Number(value=2.0, label=f"Seconds (a continuation's prompt included; this studio allows up "
                                f"to {limit:g})", elem_id="audio-seconds")
            guidance = gr.Slider(1, 10, value=3.0, step=0.5, label="Guidance scale (1 = off)",
                                 elem_id="audio-guidance")
            temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature", elem_id="audio-temperature")
            with gr.Row():
                top_k = gr.Number(value=250, precision=0, label="Top-k (0 = off)", elem_id="audio-top-k")
                top_p = gr.Number(value=0.0, label="Top-p (0 = off)", elem_id="audio-top-p")
            with gr.Row():
                samples = gr.Number(value=1, precision=0, label="Clips (1-4)", elem_id="audio-samples")
                seed = gr.Number(value=0, precision=0, label="Seed (-1 random)", elem_id="audio-seed")
            with gr.Accordion("Start from a clip: continue it, or follow its melody", open=False):
                clip = gr.File(label="Clip (WAV, FLAC, OGG or MP3; at most 5 minutes, only its start is used)",
                               file_types=CLIP_TYPES, type="filepath", elem_id="audio-clip")
                clip_use = gr.Radio(["continue", "melody"], value="continue",
                                    label="Use of the clip (melody needs a melody model)", elem_id="audio-clip-use")
                prompt_seconds = gr.Number(value=2.0, label="Prompt seconds (taken from the clip's start)",
                                           elem_id="audio-prompt-seconds")
            with gr.Accordion("Long clips: windows", open=False):
                window_seconds = gr.Number(value=30.0, label="Window seconds (the most one pass makes)",
                                           elem_id="audio-window")
                overlap_seconds = gr.Number(value=10.0, label="Overlap seconds (context carried to the next window)",
                                            elem_id="audio-overlap")
    gr.Examples(EXAMPLES, inputs=[prompt, seconds, seed], label="Examples (click one, then Generate)")

    # ---- wiring --------------------------------------------------------------------------------

    inputs = [prompt, model, custom_model, seconds, guidance, temperature, top_k, top_p, samples, seed, clip,
              clip_use, prompt_seconds, window_seconds, overlap_seconds]
    outputs = [player, waveform, spectrogram, plots, downloads, status]
    gen_event = generate_btn.click(generate, inputs, outputs, api_name="audio_generate")
    # No `cancels`: the job ends within one decoder step and the handler then shows what was kept.
    stop_btn.click(stop_generation, None, None, api_name="audio_stop", queue=False)
    for control in (model, custom_model):
        control.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, player=player, spectrogram=spectrogram, status=status, model=model,
                generate=generate_btn, stop=stop_btn, clip=clip, generate_event=gen_event)
