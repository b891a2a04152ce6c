"""The Audio page's progress line: what a status update shows while a clip is made."""

from studio.events import ProgressEvent
from studio.ui import audio
from studio.ui.audio import AudioView


def test_no_token_count_in_a_jobs_first_moment_then_the_newest_count(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(audio.time, "monotonic", lambda: now[0])
    view = AudioView()
    count = ProgressEvent(12, 100, "tokens", "Generating: token 12 of 100")
    now[0] += audio.FIRST_COUNT_S * 0.9
    assert view.update([count]) is None  # a short clip is done before its first count would be drawn
    loading = ProgressEvent(0, 0, message="Loading the model...")
    assert view.update([loading])[-1] == "Loading the model..."  # a line that is not a count shows at once
    now[0] += audio.FIRST_COUNT_S * 0.2
    later = ProgressEvent(30, 100, "tokens", "Generating: token 30 of 100")
    assert view.update([count, later])[-1] == "Generating: token 30 of 100"
    assert view.update([ProgressEvent(100, 100, "tokens", "Generating: token 100 of 100")]) is None  # the clip follows
