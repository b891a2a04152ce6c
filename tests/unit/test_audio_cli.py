"""`python -m studio audio` makes a WAV and prints a JSON summary; errors are one clear line."""

import json

import pytest
import soundfile

from studio.__main__ import main
from tests.audio_models import SAMPLE_RATE, build_tiny_musicgen


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(build_tiny_musicgen(tmp_path_factory.mktemp("cli-audio") / "mono"))


def test_the_cli_writes_the_clip_and_prints_json(tiny, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path / "outputs"))
    out = tmp_path / "clip.wav"
    assert main(["audio", "--prompt", "a fast high melody", "--model", tiny, "--seconds", "1.2", "--out", str(out),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    info = soundfile.info(str(out))
    assert info.samplerate == SAMPLE_RATE == summary["sample_rate"] and abs(info.frames - 1.2 * SAMPLE_RATE) <= 640
    assert summary["files"] == [str(out)] and summary["real_time_factor"] > 0


def test_the_cli_says_what_is_wrong(capsys):
    assert main(["audio", "--seconds", "0", "--json"]) == 2
    assert "seconds" in capsys.readouterr().err
