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


def test_the_cli_continues_a_clip_with_the_shipped_model(tmp_path, capsys, monkeypatch):
    """Issue 10: this failed with a TypeError (`pad_to_multiple_of`) on the embedded model as shipped."""
    import numpy as np

    from studio.audio.clips import write_wav

    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path / "outputs"))
    t = np.arange(22050) / 22050
    upload = write_wav(tmp_path / "tune.wav", (0.3 * np.sin(2 * np.pi * 330 * t))[None].astype(np.float32), 22050)
    out = tmp_path / "continued.wav"
    assert main(["audio", "--prompt", "a slow low melody", "--clip", str(upload), "--prompt-seconds", "0.5",
                 "--seconds", "2", "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert soundfile.info(str(out)).frames == 32000 and any("your clip" in n for n in summary["notes"])


def test_the_cli_names_any_folder(tiny, tmp_path, capsys, monkeypatch):
    """A person at a terminal may point at any folder (the page may not)."""
    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path / "outputs"))
    assert main(["audio", "--model", tiny, "--seconds", "0.4", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["files"]
