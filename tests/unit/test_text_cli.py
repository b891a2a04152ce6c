"""`python -m studio text --prompt ... --json` generates with the embedded model and reports the files."""

import json

from studio.__main__ import main


def test_text_command_prints_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path))
    code = main(["text", "--prompt", "Q: 12+5= A:", "--greedy", "--max-new-tokens", "6", "--stop", "\n", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["texts"][0].strip() == "17"
    assert summary["stats"][0]["stop_reason"] == "stop sequence"
    assert summary["record"].startswith(str(tmp_path))


def test_text_command_reports_bad_input_clearly(capsys):
    assert main(["text", "--prompt", "hi", "--max-new-tokens", "0"]) == 2
    assert "max_new_tokens" in capsys.readouterr().err


def test_an_unexpected_failure_is_one_clear_line_not_a_traceback(monkeypatch, capsys, tmp_path):
    from studio.text import engine

    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path))

    def broken(self, *args, **kwargs):
        raise RuntimeError("shape mismatch in layer 3\nlong internal detail")
        yield

    monkeypatch.setattr(engine.TextEngine, "generate", broken)
    assert main(["text", "--prompt", "hi", "--max-new-tokens", "2"]) == 2
    err = capsys.readouterr().err
    assert "RuntimeError: shape mismatch in layer 3" in err and "Traceback" not in err and "long internal" not in err


def test_any_folder_works_from_the_command_line_and_remote_code_is_not_a_flag(tmp_path, monkeypatch, capsys):
    import shutil

    import pytest

    from studio.embedded import EMBEDDED_DIR

    folder = shutil.copytree(EMBEDDED_DIR / "text-tiny", tmp_path / "somewhere" / "model")
    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path / "out"))
    assert main(["text", "--model", str(folder), "--prompt", "Q: 12+7= A:", "--greedy", "--max-new-tokens", "3",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["texts"][0].strip().startswith("19")
    with pytest.raises(SystemExit):
        main(["text", "--prompt", "hi", "--trust-remote-code"])


def test_any_openai_compatible_url_works_from_the_command_line(tmp_path, monkeypatch, capsys):
    import threading

    from tests.unit.test_text_remote import FakeServer, KEY, WORDS

    server = FakeServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("STUDIO_OUTPUTS_DIR", str(tmp_path))
    monkeypatch.delenv("STUDIO_OPENAI_BACKENDS", raising=False)  # the allow-list is for visitors, not the terminal
    monkeypatch.setenv("STUDIO_OPENAI_API_KEY", KEY)
    try:
        assert main(["text", "--openai-base-url", server.url, "--openai-model", "tiny", "--prompt", "Once",
                     "--stop", ".", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["texts"] == ["Once upon a time"] and summary["stats"][0]["stop_reason"] == "stop sequence"
        assert summary["backend"] == server.url and summary["model"] == "tiny"
        assert KEY not in open(summary["record"]).read()
        monkeypatch.setenv("STUDIO_OPENAI_API_KEY", "sk-wrong")
        assert main(["text", "--openai-base-url", server.url, "--prompt", "Once"]) == 2
        assert "refused the API key (401)" in capsys.readouterr().err
    finally:
        server.shutdown()
    assert "".join(WORDS).startswith(summary["texts"][0])
