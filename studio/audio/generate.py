"""Text-to-music, continuation and melody conditioning with MusicGen: load once, generate many.

`AudioGenerator.generate(request, on_progress, should_stop)`:
1. load the model (shared `ModelSlot`: one audio model at a time, clear errors);
2. check the request against what this model can do (continuation, melody, window);
3. read and fit the uploaded clip (only the part used is decoded; resample, channels, whole frames);
4. plan windows: durations past the model's window are made window by window, each
   new window continuing the last `overlap_seconds` of the one before;
5. run `generate` per window, sampling with the request's own `torch.Generator`
   (`sampling.py`), with a stopping criterion that reports each step and ends the
   work at the next step when Stop is pressed (the windows already made are kept);
6. splice the user's prompt clip back in front (the codec's copy of it is lossy),
   then write WAV (PCM 16), waveform and mel spectrogram pictures, and the record.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from studio.errors import StudioError
from studio.loading import LoadedModel, LoadRequest, ModelSlot
from studio.records import make_record, new_output_dir, write_record
from studio.registry import resolve

from .clips import fit_clip, read_clip, write_wav
from .model import MusicModel, load_musicgen
from .pictures import spectrogram_jpeg, waveform_png
from .request import AudioRequest
from .sampling import Stopped, seeded_sampling, step_watcher

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioProgress:
    step: int  # decoder steps done, over all windows
    total: int
    window: int  # 1-based
    windows: int


@dataclass
class AudioResult:
    clips: list[np.ndarray]  # one (channels, samples) float32 array per sample
    sample_rate: int
    seed: int
    generate_seconds: float  # model time only: what the real-time factor compares
    audio_seconds: float
    windows: int = 1
    steps: int = 0
    stopped: bool = False  # with clips: the windows finished before Stop (a partial clip); without: nothing kept
    channels: int = 0
    picture_seconds: float = 0.0  # time spent drawing waveforms and spectrograms
    folder: Path | None = None
    paths: list[Path] = field(default_factory=list)  # WAV files
    waveforms: list[Path] = field(default_factory=list)
    spectrograms: list[Path] = field(default_factory=list)
    record_path: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def real_time_factor(self) -> float:
        """Generation time over audio length: below 1 is faster than real time."""
        return self.generate_seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def without_audio(self) -> AudioResult:
        """The same result without the arrays: what a worker sends back to the page (the WAVs are on disk)."""
        return dataclasses.replace(self, clips=[])


@dataclass(frozen=True)
class _Window:
    context_frames: int  # frames of audio this window continues (prompt clip or previous window)
    new_frames: int  # frames it adds

    def steps(self, delay: int) -> int:
        return self.new_frames + delay


def plan_windows(total_frames: int, prompt_frames: int, window_frames: int, overlap_frames: int) -> list[_Window]:
    """Split a clip of `total_frames` (a prompt of `prompt_frames` included) into model-sized windows."""
    if prompt_frames >= window_frames:
        raise StudioError("The prompt clip must be shorter than the model's window.")
    first = min(total_frames, window_frames)
    windows = [_Window(prompt_frames, first - prompt_frames)]
    made = first
    while made < total_frames:
        new = min(window_frames - overlap_frames, total_frames - made)
        windows.append(_Window(overlap_frames, new))
        made += new
    return windows


class AudioGenerator:
    """One loaded MusicGen at a time (a worker keeps it between jobs); each call writes to the folder it is given."""

    def __init__(self, settings):
        self.settings = settings
        self.slot = ModelSlot("audio", load_musicgen, device_preference=settings.device, token=settings.hf_token,
                              trust_remote_code=settings.trust_remote_code)

    def load(self, name: str, precision: str = "full", scope: dict | None = None) -> LoadedModel:
        """`scope`: `LoadRequest`'s local_roots / any_path / presets_only (what a typed folder may be).

        The slot reuses a model only for an equal `LoadRequest`, and every visitor's scope differs (it holds
        their own folder), so visitors taking turns would reload the same weights at every click. The loaded
        model is kept when the name resolves, within this caller's scope, to the same place.
        """
        request = LoadRequest(name=name, modality="audio", precision=precision, **(scope or {}))
        current = self.slot.current
        if current is not None and (current.request.name, current.request.precision) == (name, precision):
            source = resolve(name, "audio", local_roots=request.local_roots, any_path=request.any_path,
                             presets_only=request.presets_only)  # refuses what this caller may not name
            if (source.kind, source.location) == (current.source.kind, current.source.location):
                return current
        return self.slot.load(request)

    # ---- 2. what this model can do ---------------------------------------------------------------

    @staticmethod
    def check_request(request: AudioRequest, music: MusicModel, name: str) -> None:
        if request.clip_use == "continue" and not music.continues_clips:
            raise StudioError(f"{name} is a melody model: it follows an uploaded clip's melody but cannot continue "
                              "it. Choose 'melody', or a non-melody MusicGen to continue the clip.")
        if request.clip_use == "melody" and not music.follows_melody:
            raise StudioError(f"{name} has no melody conditioning; pick a melody model (e.g. "
                              "facebook/musicgen-melody), or use the clip to continue it.")
        if music.follows_melody and request.seconds > request.window_seconds:
            raise StudioError(f"Melody models make at most one window ({request.window_seconds:g} s): they cannot "
                              "continue audio, so a longer clip cannot be extended.")

    # ---- 3. the uploaded clip ----------------------------------------------------------------------

    @staticmethod
    def prepare_clip(request: AudioRequest, music: MusicModel) -> np.ndarray | None:
        if request.clip_use == "none":
            return None
        if request.clip_use == "melody":  # chroma is computed from a mono mix by the processor
            audio, sr = read_clip(request.clip, keep_seconds=request.window_seconds)
            return fit_clip(audio, sr, music.sampling_rate, 1, request.window_seconds)[0]
        audio, sr = read_clip(request.clip, keep_seconds=request.prompt_seconds)
        return fit_clip(audio, sr, music.sampling_rate, music.channels, request.prompt_seconds,
                        multiple=music.hop_length)

    # ---- 5. one generate call ---------------------------------------------------------------------

    @staticmethod
    def model_inputs(request: AudioRequest, music: MusicModel, context: list | None, batch: int) -> dict:
        """Tokenizer and feature extractor called each on their own (see `model.forget_saved_padding` for why)."""
        texts = [request.prompt] * batch
        if context is not None and request.clip_use == "melody":  # the melody processor computes chroma itself
            return dict(music.processor(audio=context, sampling_rate=music.sampling_rate, text=texts, padding=True,
                                        return_tensors="pt"))
        inputs = dict(music.processor.tokenizer(texts, padding=True, return_tensors="pt"))
        if context is not None:  # one (samples,) or (2, samples) array per row, as Encodec's extractor expects
            audio = [c[0] if music.channels == 1 else c for c in context]
            features = music.processor.feature_extractor(audio, sampling_rate=music.sampling_rate, padding=True,
                                                         return_tensors="pt")
            inputs["input_values"] = features["input_values"]
            if "padding_mask" in features:
                inputs["padding_mask"] = features["padding_mask"]
        return inputs

    @staticmethod
    def _run_window(music, inputs, request, max_new_tokens, watcher, generator):
        import torch
        from transformers import StoppingCriteriaList

        inputs = {k: v.to(music.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        sampling = seeded_sampling(request.temperature, request.top_k, request.top_p, generator)
        with torch.inference_mode():
            out = music.model.generate(
                **inputs, do_sample=False, guidance_scale=request.guidance, logits_processor=sampling,
                temperature=None, top_k=None, top_p=None, max_new_tokens=max_new_tokens,
                stopping_criteria=StoppingCriteriaList([watcher]),
            )
        return out.float().cpu().numpy()  # (batch, channels, samples)

    def generate(self, request: AudioRequest, on_progress: Callable[[AudioProgress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, save: bool = True, scope: dict | None = None,
                 outputs_dir: Path | None = None) -> AudioResult:
        import torch

        loaded = self.load(request.model, request.precision, scope)
        music: MusicModel = loaded.model
        self.check_request(request, music, loaded.source.name)
        clip = self.prepare_clip(request, music)
        continuing = request.clip_use == "continue"

        fps, hop = music.frame_rate, music.hop_length
        total_frames = max(1, int(round(request.seconds * fps)))
        prompt_frames = clip.shape[-1] // hop if continuing else 0
        if continuing and prompt_frames >= total_frames:
            raise StudioError(f"The prompt clip ({prompt_frames / fps:.1f} s) is as long as the clip asked for; "
                              "ask for more seconds or a shorter prompt.")
        windows = plan_windows(total_frames, prompt_frames, max(2, int(request.window_seconds * fps)),
                               max(1, int(request.overlap_seconds * fps)))
        total_steps = sum(w.steps(music.delay) for w in windows)
        seed = request.seed if request.seed >= 0 else secrets.randbelow(2**31)
        generator = torch.Generator(device=music.device).manual_seed(seed)

        state = {"step": 0, "window": 1}

        def on_step():
            state["step"] += 1
            if on_progress:
                on_progress(AudioProgress(state["step"], total_steps, state["window"], len(windows)))

        watcher = step_watcher(on_step, should_stop or (lambda: False))
        batch = request.samples
        started = time.perf_counter()
        made = None  # (batch, channels, samples) so far
        stopped_in = 0
        try:
            for index, window in enumerate(windows, start=1):
                state["window"] = index
                if index == 1:
                    context = None if clip is None else [clip] * batch
                else:
                    context = list(made[..., -window.context_frames * hop:])
                inputs = self.model_inputs(request, music, context, batch)
                out = self._run_window(music, inputs, request, window.steps(music.delay), watcher, generator)
                keep_from = 0 if index == 1 else window.context_frames * hop  # later windows repeat their context
                new = out[..., keep_from: (window.context_frames + window.new_frames) * hop]
                made = new if made is None else np.concatenate([made, new], axis=-1)
        except Stopped:
            stopped_in = state["window"]
        generate_seconds = time.perf_counter() - started
        if stopped_in and made is None:
            return AudioResult([], music.sampling_rate, seed, generate_seconds, 0.0, len(windows), state["step"],
                               stopped=True, channels=music.channels, notes=["Stopped: nothing was kept."])

        if continuing:  # the output starts with the user's own prompt, not the codec's copy of it
            made[..., : clip.shape[-1]] = clip[None]
        clips = [np.ascontiguousarray(made[i], dtype=np.float32) for i in range(batch)]
        result = AudioResult(clips, music.sampling_rate, seed, generate_seconds, made.shape[-1] / music.sampling_rate,
                             len(windows), state["step"], stopped=bool(stopped_in), channels=music.channels)
        if stopped_in:
            result.notes.append(f"Stopped in window {stopped_in} of {len(windows)}: the {stopped_in - 1} finished "
                                f"window(s), {result.audio_seconds:.2f} s, were kept.")
        elif len(windows) > 1:
            result.notes.append(f"Made in {len(windows)} windows of at most {request.window_seconds:g} s, each "
                                f"continuing the last {request.overlap_seconds:g} s of the one before.")
        if continuing:
            result.notes.append(f"The first {prompt_frames / fps:.2f} s are your clip, resampled to "
                                f"{music.sampling_rate} Hz.")
        if save:
            self.save(result, request, loaded, outputs_dir or self.settings.outputs_dir)
        return result

    # ---- 6. files -----------------------------------------------------------------------------------

    def save(self, result: AudioResult, request: AudioRequest, loaded: LoadedModel,
             outputs_dir: Path | None = None) -> None:
        folder = new_output_dir(outputs_dir or self.settings.outputs_dir, "audio")
        sr = result.sample_rate
        drawing = 0.0
        for i, clip in enumerate(result.clips, start=1):
            result.paths.append(write_wav(folder / f"clip-{i}.wav", clip, sr))
            title = f"{request.prompt[:60]!r} · sample {i} · seed {result.seed}"
            started = time.perf_counter()
            result.waveforms.append(waveform_png(clip, sr, folder / f"waveform-{i}.png", title))
            result.spectrograms.append(spectrogram_jpeg(clip, sr, folder / f"spectrogram-{i}.jpg", title))
            drawing += time.perf_counter() - started
        result.picture_seconds = drawing
        settings = dataclasses.replace(request, clip=Path(request.clip).name if request.clip else None)
        record = make_record(
            "audio", settings, model=loaded.describe(), seed=result.seed, sample_rate=sr, channels=result.channels,
            seconds_per_clip=round(result.audio_seconds, 4), windows=result.windows, steps=result.steps,
            stopped=result.stopped, generate_seconds=round(result.generate_seconds, 3),
            real_time_factor=round(result.real_time_factor, 4), picture_seconds=round(drawing, 4),
            files=[p.name for p in result.paths], notes=result.notes,
        )
        result.record_path = write_record(folder, record)
        result.folder = folder
