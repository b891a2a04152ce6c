"""The Audio tab: text-to-music, continuation of an uploaded clip, melody conditioning, plots and Stop.

Handlers first, then the layout, then the wiring. torch, transformers, librosa
and matplotlib are imported inside the handlers (through `studio.audio`), so
building the app stays fast. Generation runs on a worker thread
(`studio.events.start_run`); the handler relays each decoder step to the
progress bar and ends the work when this session's Stop is pressed.
"""

from __future__ import annotations

import functools
import gradio as gr

from studio.registry import presets
from studio.settings import Settings

from .common import preset_card, session_key, SessionStops, user_errors

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
    if result.stopped:
        return f"Stopped after {result.steps} steps: nothing was kept."
    lines = [f"{len(result.clips)} clip(s) of {result.audio_seconds:.2f} s · {result.sample_rate} Hz · "
             f"{'stereo' if result.channels == 2 else 'mono'} · made in {result.generate_seconds:.2f} s · "
             f"real-time factor {result.real_time_factor:.2f} (generation time / audio length) · seed {result.seed}"]
    if result.folder:
        lines.append(f"Saved as WAV (PCM 16) with its record in `{result.folder.name}`.")
    lines += [f"Note: {n}" for n in result.notes]
    return "  \n".join(lines)


def _whole(value, name):
    from studio.errors import ConfigError

    if value is None or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(name, value, "use a whole number")
    return int(value)


def _number(value, name):
    from studio.errors import ConfigError

    if value is None:
        raise ConfigError(name, value, "use a number")
    return float(value)


def create_audio_tab(demo: gr.Blocks, settings: Settings) -> dict:
    stops = SessionStops()

    @functools.cache  # one AudioGenerator, made on first use so the app starts without torch
    def engine():
        from studio.audio.generate import AudioGenerator

        return AudioGenerator(settings)

    # ---- handlers ------------------------------------------------------------------------------

    @user_errors
    def generate(prompt, model, custom_model, seconds, guidance, temperature, top_k, top_p, samples, seed, clip,
                 clip_use, prompt_seconds, window_seconds, overlap_seconds, request: gr.Request,
                 progress=gr.Progress()):
        from studio.audio.request import AudioRequest
        from studio.errors import StudioError
        from studio.events import DoneEvent, ErrorEvent, StepEvent, start_run

        audio_request = AudioRequest(
            prompt=prompt or "", model=(custom_model or "").strip() or model, seconds=_number(seconds, "seconds"),
            guidance=_number(guidance, "guidance"), temperature=_number(temperature, "temperature"),
            top_k=_whole(top_k, "top_k"), top_p=_number(top_p, "top_p"), samples=_whole(samples, "samples"),
            seed=_whole(seed, "seed"), clip=clip or None, clip_use=clip_use if clip else "none",
            prompt_seconds=_number(prompt_seconds, "prompt_seconds"),
            window_seconds=_number(window_seconds, "window_seconds"),
            overlap_seconds=_number(overlap_seconds, "overlap_seconds"),
        )
        key = session_key(request)
        stop = stops.start(key)

        def work(run):
            def on_progress(p):
                run.emit(StepEvent(step=p.step, total_steps=p.total, epoch=float(p.window), loss=float("nan")))

            return engine().generate(audio_request, on_progress=on_progress,
                                     should_stop=lambda: stop.is_set() or run.should_stop)

        run = start_run(work, name="audio generation")
        keep = gr.update()
        try:
            yield keep, keep, keep, keep, keep, f"Working on {audio_request.model}..."
            for batch in run.batches(interval=0.2):
                status = None
                for event in batch:
                    if isinstance(event, StepEvent):
                        progress((event.step, event.total_steps), desc="Generating", unit="steps")
                        status = f"Step {event.step} of {event.total_steps} (window {int(event.epoch)})"
                    elif isinstance(event, ErrorEvent):
                        raise StudioError(event.message)
                    elif isinstance(event, DoneEvent):
                        result = event.result
                        if result.stopped or not result.paths:
                            yield None, None, None, None, None, format_result(result)
                            return
                        plots = [(str(w), f"waveform {i}") for i, w in enumerate(result.waveforms, 1)]
                        plots += [(str(s), f"mel spectrogram {i}") for i, s in enumerate(result.spectrograms, 1)]
                        files = [str(p) for p in result.paths] + [str(result.record_path)]
                        yield (str(result.paths[0]), str(result.waveforms[0]), str(result.spectrograms[0]), plots,
                               files, format_result(result))
                        return
                if status:
                    yield keep, keep, keep, keep, keep, status
        finally:
            if not run.finished:
                run.request_stop()
            stops.finish(key)

    def stop_generation(request: gr.Request):
        stops.stop(session_key(request))

    # ---- layout --------------------------------------------------------------------------------

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
            custom_model = gr.Textbox(label="Or type a hub id or a local folder", placeholder="owner/name",
                                      elem_id="audio-custom-model")
            card = gr.Markdown(model_card(DEFAULT_MODEL), elem_id="audio-model-card")
            seconds = gr.Number(value=2.0, label="Seconds (a continuation's prompt included; up to 300)",
                                elem_id="audio-seconds")
            guidance = gr.Slider(0, 10, value=3.0, step=0.5, label="Guidance scale (1 = off)",
                                 elem_id="audio-guidance")
            temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature", elem_id="audio-temperature")
            with gr.Row():
                top_k = gr.Number(value=250, precision=0, label="Top-k (0 = off)", elem_id="audio-top-k")
                top_p = gr.Number(value=0.0, label="Top-p (0 = off)", elem_id="audio-top-p")
            with gr.Row():
                samples = gr.Number(value=1, precision=0, label="Clips (1-4)", elem_id="audio-samples")
                seed = gr.Number(value=0, precision=0, label="Seed (-1 random)", elem_id="audio-seed")
            with gr.Accordion("Start from a clip: continue it, or follow its melody", open=False):
                clip = gr.File(label="Clip (WAV, FLAC, OGG or MP3; at most 5 minutes)", file_types=CLIP_TYPES,
                               type="filepath", elem_id="audio-clip")
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
    gen_event = generate_btn.click(generate, inputs, outputs, api_name="audio_generate", concurrency_id="audio")
    stop_btn.click(stop_generation, None, None, api_name="audio_stop", concurrency_limit=None, queue=False).then(
        None, None, None, cancels=[gen_event])
    for control in (model, custom_model):
        control.change(model_card, [model, custom_model], card, api_visibility="private")
    return dict(prompt=prompt, player=player, spectrogram=spectrogram, status=status, model=model,
                generate=generate_btn, stop=stop_btn, clip=clip, generate_event=gen_event)
