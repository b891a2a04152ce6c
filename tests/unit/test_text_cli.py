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
