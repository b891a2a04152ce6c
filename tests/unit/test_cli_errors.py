"""The command line never prints a raw traceback: a user error is one line, a bug is one line too."""

import studio.__main__ as cli


def test_an_unexpected_error_is_one_line(monkeypatch, capsys):
    def broken(args, settings):
        raise RuntimeError("tensor shapes do not match\nlong internal detail")

    monkeypatch.setattr("studio.playground.cli.run", broken)
    monkeypatch.delenv("STUDIO_DEBUG", raising=False)
    assert cli.main(["playground"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "RuntimeError" in err and "STUDIO_DEBUG" in err


def test_a_user_error_is_its_message(monkeypatch, capsys):
    from studio.errors import StudioError

    monkeypatch.setattr("studio.playground.cli.run", lambda a, s: (_ for _ in ()).throw(StudioError("epochs: 0")))
    assert cli.main(["playground"]) == 2
    assert capsys.readouterr().err.strip() == "error: epochs: 0"
