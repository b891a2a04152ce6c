import pytest

from studio.errors import ConfigError
from studio.settings import load_settings


def test_defaults_and_space_binding(monkeypatch, tmp_path):
    for name in ("SPACE_ID", "STUDIO_HOST", "HF_TOKEN", "STUDIO_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(tmp_path / "none.env")
    assert s.host == "127.0.0.1" and s.trust_remote_code is False
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    assert load_settings(tmp_path / "none.env").host == "0.0.0.0"


def test_token_is_read_but_never_shown(monkeypatch, tmp_path):
    env = tmp_path / ".env"
    env.write_text("HF_TOKEN=hf_supersecret\nSTUDIO_QUEUE_MAX_SIZE=3\n")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("STUDIO_QUEUE_MAX_SIZE", raising=False)
    s = load_settings(env)
    assert s.hf_token == "hf_supersecret" and s.queue_max_size == 3
    assert "supersecret" not in repr(s)


def test_bad_values_name_the_setting(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_PORT", "eighty")
    with pytest.raises(ConfigError, match="STUDIO_PORT"):
        load_settings(tmp_path / "none.env")
    monkeypatch.setenv("STUDIO_PORT", "7860")
    monkeypatch.setenv("STUDIO_DEVICE", "tpu")
    with pytest.raises(ConfigError, match="STUDIO_DEVICE"):
        load_settings(tmp_path / "none.env")


def test_example_env_lists_every_setting():
    import re
    from pathlib import Path

    import studio.settings as settings_module

    source = Path(settings_module.__file__).read_text()
    read = set(re.findall(r'"((?:STUDIO|HF)_[A-Z_]+)"', source))
    example = Path(settings_module.PROJECT_ROOT, ".env.example").read_text()
    assert read and all(f"{name}=" in example for name in read)
    assert re.search(r"^HF_TOKEN=$", example, re.M)


def test_gradio_server_variables_are_honoured(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.delenv("STUDIO_PORT", raising=False)
    s = load_settings(tmp_path / "none.env")
    assert s.port == 7999 and s.host == "0.0.0.0"


def test_operator_limits_and_secrets(monkeypatch, tmp_path):
    monkeypatch.setenv("STUDIO_ADMIN_PASSWORD", "pw-canary")
    monkeypatch.setenv("STUDIO_MAX_NEW_TOKENS", "64")
    monkeypatch.setenv("STUDIO_LOCAL_MODELS", f"{tmp_path}/models:{tmp_path}/more")
    s = load_settings(tmp_path / "none.env")
    assert s.admin_password == "pw-canary" and "pw-canary" not in repr(s)
    assert s.max_new_tokens == 64
    (tmp_path / "models" / "m").mkdir(parents=True)
    assert s.local_model_allowed(tmp_path / "models" / "m")
    assert not s.local_model_allowed(tmp_path / "models" / ".." / "elsewhere")
    monkeypatch.setenv("STUDIO_STOP_GRACE_S", "inf")
    with pytest.raises(ConfigError, match="STUDIO_STOP_GRACE_S"):
        load_settings(tmp_path / "none.env")
