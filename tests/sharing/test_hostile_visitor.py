"""What a hostile visitor tries that does not depend on one tab: files, identity, the teacher's controls."""

import http.client
import json
import urllib.parse
import urllib.request

import pytest
from gradio_client import Client

from tests.sharing.conftest import ADMIN_PASSWORD


def get(url: str, headers: dict | None = None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_outputs_are_not_served_by_path(class_studio):
    demo, url, settings = class_studio
    secret = settings.outputs_dir / "visitors" / "someone" / "text" / "20261130-000000-abc" / "answer.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text("another visitor's answer")
    for path in (str(secret), urllib.parse.quote(str(secret))):
        status, _, body = get(f"{url.rstrip('/')}/gradio_api/file={path}")
        assert status in (403, 404) and b"another visitor" not in body


def test_server_files_are_not_served(class_studio):
    _, url, _ = class_studio
    for path in ("/etc/passwd", "/proc/self/environ", "app.py", "../.env"):
        status, _, body = get(f"{url.rstrip('/')}/gradio_api/file={path}")
        assert status in (403, 404), path
        assert b"root:" not in body and b"HF_TOKEN" not in body


def test_a_browser_gets_a_private_random_visitor_cookie(class_studio):
    _, url, _ = class_studio
    status, headers, _ = get(url)
    cookie = headers.get("set-cookie") or headers.get("Set-Cookie")
    assert status == 200 and cookie and cookie.startswith("studio_visitor=")
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) == 32 and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    _, second, _ = get(url)
    assert (second.get("set-cookie") or "").split(";")[0] != cookie.split(";")[0]  # one per visitor, random
    _, again, _ = get(url, headers={"Cookie": cookie.split(";")[0]})
    assert "set-cookie" not in {k.lower() for k in again}  # a valid cookie is kept


def test_the_teachers_controls_are_not_in_the_api(class_studio):
    _, url, _ = class_studio
    api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)
    names = " ".join(api["named_endpoints"]) + " ".join(map(str, api["unnamed_endpoints"]))
    assert "admin" not in names and "sign_in" not in names and "stop_all" not in names


def test_trust_remote_code_is_not_a_visitor_setting(class_studio):
    _, url, _ = class_studio
    api = Client(url, verbose=False).view_api(return_format="dict", print_info=False)
    assert "trust_remote_code" not in json.dumps(api)


def test_settings_keep_secrets_out_of_repr():
    from studio.settings import Settings

    text = repr(Settings(hf_token="hf_canary123", admin_password="pw-canary"))
    assert "canary" not in text
