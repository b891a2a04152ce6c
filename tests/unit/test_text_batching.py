"""Batched serving: requests that arrive together share one `generate`, and each keeps its own settings and end."""

import threading
import time

import pytest

from studio.errors import StudioError
from studio.loading import LoadRequest
from studio.settings import Settings
from studio.text import tasks
from studio.text.batching import Batcher, BatchRow, generate_batch
from studio.text.engine import TextEngine
from studio.text.generate import SequenceDone, stream_text, TextChunk
from studio.text.request import TextRequest
from tests.job_events import FakeRun

PROMPTS = ("Once upon a time", "The cat", "What is two plus three?")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """The embedded model as shipped (the one a class is served with)."""
    return TextEngine(Settings(outputs_dir=tmp_path_factory.mktemp("out"))).load(LoadRequest("embedded/text-tiny"))


def alone(loaded, request):
    events = list(stream_text(loaded.model, loaded.processor, request))
    return next(e for e in events if isinstance(e, SequenceDone))


def batched(loaded, requests, stops=None):
    got = [[] for _ in requests]
    stops = stops or [lambda: False] * len(requests)
    rows = [BatchRow(r, stop, got[i].append) for i, (r, stop) in enumerate(zip(requests, stops))]
    generate_batch(loaded.model, loaded.processor, rows, "the embedded model")
    return got


def test_each_row_is_the_answer_it_would_get_alone(loaded):
    requests = [TextRequest(PROMPTS[0], max_new_tokens=24, greedy=True),
                TextRequest(PROMPTS[1], max_new_tokens=9, seed=5, temperature=0.9, top_k=20, top_p=0.9),
                TextRequest(PROMPTS[2], max_new_tokens=16, seed=2, repetition_penalty=1.3, ignore_eos=True)]
    got = batched(loaded, requests)
    for request, events in zip(requests, got):
        done = events[-1]
        assert isinstance(done, SequenceDone)
        assert "".join(e.text for e in events if isinstance(e, TextChunk)) == done.text  # the stream adds up
        solo = alone(loaded, request)
        assert done.text == solo.text and done.stats.tokens == solo.stats.tokens  # own seed, length, penalty
        assert done.stats.stop_reason == solo.stats.stop_reason
    assert got[2][-1].stats.tokens == 16 and got[2][-1].stats.stop_reason == "max tokens"  # ignore_eos kept


def test_a_stop_sequence_and_a_stop_end_only_their_own_row(loaded):
    text = alone(loaded, TextRequest(PROMPTS[0], max_new_tokens=40, greedy=True, ignore_eos=True)).text
    stop_word = text.split()[3]
    flag = threading.Event()
    calls = {"n": 0}

    def stop_after_a_few():
        calls["n"] += 1
        return calls["n"] > 5

    requests = [TextRequest(PROMPTS[0], max_new_tokens=40, greedy=True, ignore_eos=True, stop_sequences=(stop_word,)),
                TextRequest(PROMPTS[1], max_new_tokens=40, greedy=True, ignore_eos=True),
                TextRequest(PROMPTS[2], max_new_tokens=40, greedy=True, ignore_eos=True)]
    got = batched(loaded, requests, [lambda: False, stop_after_a_few, flag.is_set])
    first, stopped, full = (events[-1] for events in got)
    assert first.stats.stop_reason == "stop sequence" and stop_word not in first.text
    assert stopped.stats.stop_reason == "stopped" and stopped.stats.tokens < 10
    assert full.stats.stop_reason == "max tokens" and full.stats.tokens == 40


def test_a_refused_request_does_not_sink_the_batch(loaded):
    requests = [TextRequest(PROMPTS[0], max_new_tokens=8, greedy=True),
                TextRequest("word " * 400, max_new_tokens=8, greedy=True)]  # longer than the model's context
    good, refused = batched(loaded, requests)
    assert isinstance(good[-1], SequenceDone) and good[-1].stats.tokens >= 1
    assert len(refused) == 1 and isinstance(refused[0], StudioError) and "context" in str(refused[0])


def test_the_batcher_gathers_a_burst_but_serves_a_lone_request_at_once():
    served: list[list] = []

    def serve(entries):
        served.append(list(entries))
        time.sleep(0.2)

    batcher = Batcher(serve, key=lambda e: e[0], alone=lambda e: e[1] > 1, max_batch=lambda: 4, window_s=0.1)
    started = time.monotonic()
    batcher.put(("m", 1, "lone"))
    while not served:
        time.sleep(0.005)
    assert time.monotonic() - started < 0.08  # no window for a request that comes alone
    for i in range(6):  # a burst while the first is served: batches of at most 4, same model only
        batcher.put(("m", 1, i))
    batcher.put(("other", 1, "x"))
    batcher.put(("m", 3, "many sequences"))
    deadline = time.monotonic() + 5
    while sum(len(g) for g in served) < 9 and time.monotonic() < deadline:
        time.sleep(0.02)
    sizes = [[e[2] for e in group] for group in served]
    assert sizes[0] == ["lone"] and sizes[1] == [0, 1, 2, 3]
    assert ["x"] in sizes and ["many sequences"] in sizes
    assert all(len({e[0] for e in group}) == 1 for group in served)


def test_a_job_stopped_while_waiting_leaves_the_queue_at_once(tmp_path):
    settings = Settings(outputs_dir=tmp_path)
    batcher = tasks.batcher_for(settings)
    job = tasks.TextJob(LoadRequest("embedded/text-tiny"), TextRequest(PROMPTS[0], max_new_tokens=4, greedy=True))
    run = FakeRun(settings)
    with batcher.lock:  # the model is busy with someone else's batch
        answer = {}
        thread = threading.Thread(target=lambda: answer.setdefault("result", tasks.generate(job, run)))
        thread.start()
        time.sleep(0.2)
        run.request_stop()
        thread.join(timeout=2)
        assert not thread.is_alive() and answer["result"] is None


def test_concurrent_jobs_in_one_worker_are_answered_and_saved_each_in_its_owners_folder(tmp_path):
    results, runs = {}, {}

    def ask(name, prompt):
        runs[name] = FakeRun(Settings(outputs_dir=tmp_path / name))
        job = tasks.TextJob(LoadRequest("embedded/text-tiny"), TextRequest(prompt, max_new_tokens=12, greedy=True))
        results[name] = tasks.generate(job, runs[name])

    threads = [threading.Thread(target=ask, args=(f"visitor{i}", p)) for i, p in enumerate(PROMPTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, prompt in enumerate(PROMPTS):
        result = results[f"visitor{i}"]
        assert result.text_path.is_relative_to(tmp_path / f"visitor{i}")
        assert result.text_path.read_text() == result.sequences[0].text
        assert runs[f"visitor{i}"].events  # each streamed to its own page


def test_a_request_that_waits_for_the_model_is_told_so(tmp_path):
    settings = Settings(outputs_dir=tmp_path)
    job = tasks.TextJob(LoadRequest("embedded/text-tiny"), TextRequest(PROMPTS[1], max_new_tokens=4, greedy=True))
    run = FakeRun(settings)
    thread = threading.Thread(target=tasks.generate, args=(job, run))
    with tasks.batcher_for(settings).lock:  # someone else's batch holds the model for a while
        thread.start()
        time.sleep(0.6)
    thread.join(timeout=30)
    messages = [getattr(e, "message", "") for e in run.events]
    assert messages[0] == tasks.WAITING and any(getattr(e, "preview", None) for e in run.events)
