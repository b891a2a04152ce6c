"""Who is asking: the owner key of a request, from a sign-in, a visitor cookie or the session.

- A Space with Hugging Face sign-in gives `request.username`: the user owns their work
  from any browser.
- Otherwise the studio sets a random, HttpOnly `studio_visitor` cookie on the first
  page load (see `VisitorCookie`), so a reload or a second tab of the same browser is
  the same visitor and can re-attach to a running fine-tune.
- API clients without cookies are their session (`session_hash`), one per
  `gradio_client.Client`.

Keys are unguessable (128 random bits); a cookie value of the wrong shape is
ignored, so a visitor cannot pick a weak key that someone else might also pick.
"""

from __future__ import annotations

import re
import secrets

import gradio as gr

COOKIE = "studio_visitor"
_VALID = re.compile(r"^[0-9a-f]{32}$")


def _cookie(request: gr.Request | None) -> str | None:
    inner = getattr(request, "request", None)
    cookies = getattr(inner, "cookies", None) if inner is not None else None
    value = cookies.get(COOKIE) if cookies else None
    return value if value and _VALID.match(value) else None


def owner_of(request: gr.Request | None) -> str:
    """The owner key of everything this request starts or asks for."""
    user = getattr(request, "username", None) if request is not None else None
    if user:
        return f"user:{user}"
    cookie = _cookie(request)
    if cookie:
        return f"visitor:{cookie}"
    return f"session:{session_of(request)}"


def session_of(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "local"


def identities(request: gr.Request | None) -> set[str]:
    """Every key this request may act as (an API client's first calls may predate its cookie)."""
    keys = {owner_of(request), f"session:{session_of(request)}"}
    cookie = _cookie(request)
    if cookie:
        keys.add(f"visitor:{cookie}")
    return keys


class VisitorCookie:
    """ASGI middleware: give a browser without a valid visitor cookie a fresh random one."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        # Only the page itself sets the cookie: parallel asset requests must not race to set different ones.
        if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("path", "/").rstrip("/") != "":
            return await self.app(scope, receive, send)
        header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"cookie"), "")
        has_cookie = any(part.strip().startswith(f"{COOKIE}=") and _VALID.match(part.strip()[len(COOKIE) + 1:])
                         for part in header.split(";"))
        if has_cookie:
            return await self.app(scope, receive, send)
        value = secrets.token_hex(16)
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age=2592000{secure}".encode("latin-1")

        async def send_with_cookie(message):
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + [(b"set-cookie", cookie)]
            await send(message)

        # The request itself carries no cookie yet: handlers fall back to its session key.
        return await self.app(scope, receive, send_with_cookie)
