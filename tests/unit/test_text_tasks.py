"""The text worker task: previews that add up to the answer, Stop within a step, the operator's limits, warm-up."""

import pickle
import threading
import time

import pytest

from studio.errors import StudioError
from studio.events import ProgressEvent
from studio.loading import LoadRequest
from studio.settings import Settings
from studio.text import tasks
from studio.text.request import TextRequest
from tests.job_events import FakeRun


@pytest.fixture()
def run(tmp_path):
    return FakeRun(Settings(outputs_dir=tmp_path / "mine"))


def job(prompt="Once upon a time", **kwargs):
    return tasks.TextJob(LoadRequest("embedded/text-tiny"), TextRequest(prompt, **kwargs))


def previews(run):
    return [e.preview for e in run.events if isinstance(e, ProgressEvent) and e.preview is not None]


def test_previews_add_up_to_the_saved_answer_in_the_owners_folder(run):
    result = tasks.generate(job(max_new_tokens=30, seed=1, ignore_eos=True, num_sequences=2), run)
    texts = {0: "", 1: ""}
    for preview in previews(run):
        for index, piece in preview.chunks.items():
            texts[index] += piece
    assert [texts[0], texts[1]] == [d.text for d in result.sequences]
    assert len(previews(run)) >= 3 and sum(len(p.done) for p in previews(run)) == 2
    assert result.text_path.is_relative_to(run.settings.outputs_dir / "text") and result.record_path.is_file()
    assert pickle.loads(pickle.dumps(result)).sequences == result.sequences  # crosses the process boundary


def test_frames_are_few_but_the_first_text_goes_at_once(run):
    start = time.perf_counter()
    tasks.generate(job(max_new_tokens=100, ignore_eos=True), run)
    elapsed = time.perf_counter() - start
    frames = previews(run)
    first_chunk = next(p for p in frames if p.chunks)
    assert len(next(iter(first_chunk.chunks.values()))) < 20  # the first token(s), not a whole frame's worth
    assert len(frames) <= 3 + elapsed / tasks.FRAME_S  # at most one a frame, whatever the machine's speed


def test_stop_ends_the_task_within_a_step_and_keeps_the_text(run):
    def press_stop():
        while not previews(run):
            time.sleep(0.001)
        run.request_stop()

    threading.Thread(target=press_stop, daemon=True).start()
    result = tasks.generate(job(max_new_tokens=240, ignore_eos=True, num_sequences=3), run)
    assert len(result.sequences) == 1 and result.sequences[0].stats.stop_reason == "stopped"
    assert result.sequences[0].stats.tokens < 240 and result.sequences[0].text


def test_a_prompt_over_the_operators_limit_is_refused_naming_it(tmp_path):
    run = FakeRun(Settings(outputs_dir=tmp_path, max_prompt_tokens=16))
    with pytest.raises(StudioError, match="16 prompt tokens .STUDIO_MAX_PROMPT_TOKENS"):
        tasks.generate(job("Once upon a time " * 20, max_new_tokens=4), run)
    assert not previews(run)


def test_max_new_tokens_is_bounded_by_the_setting_and_capped_by_the_context(tmp_path):
    run = FakeRun(Settings(outputs_dir=tmp_path, max_new_tokens=50))
    with pytest.raises(StudioError, match="limit of 50 new tokens .STUDIO_MAX_NEW_TOKENS"):
        tasks.generate(job(max_new_tokens=51), run)
    run = FakeRun(Settings(outputs_dir=tmp_path))
    result = tasks.generate(job("Once upon a time", max_new_tokens=400, ignore_eos=True, greedy=True), run)
    done = result.sequences[0]
    assert done.stats.prompt_tokens + done.stats.tokens == 256  # the embedded model's context
    assert any("capped at" in n and "context of 256 tokens" in n for n in done.notes)


def test_a_prompt_that_fills_the_context_is_refused(tmp_path):
    run = FakeRun(Settings(outputs_dir=tmp_path))
    with pytest.raises(StudioError, match="reads at most 256 tokens"):
        tasks.generate(job("Once upon a time " * 100, max_new_tokens=4), run)


def test_remote_code_is_the_operators_setting_only(tmp_path):
    assert not tasks.engine_for(Settings(outputs_dir=tmp_path)).slot.trust_remote_code
    assert tasks.engine_for(Settings(outputs_dir=tmp_path, trust_remote_code=True)).slot.trust_remote_code
    assert "trust_remote_code" not in TextRequest.__dataclass_fields__


def test_warm_loads_the_embedded_model(run):
    assert tasks.warm(None, run) == "embedded/text-tiny"
    assert tasks.engine_for(run.settings).is_loaded(LoadRequest("embedded/text-tiny"))


def test_the_page_side_imports_no_torch():
    import subprocess
    import sys

    code = ("import sys, pickle; import studio.ui.text, studio.text.tasks; "
            "assert not {'torch', 'transformers'} & set(sys.modules), sorted(m for m in sys.modules if 'torch' in m)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
