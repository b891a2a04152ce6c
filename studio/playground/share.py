"""A playground setup as a short string (and URL query) a teacher can hand to a class.

Only the fields that differ from the model's defaults are written, as compact
JSON, then URL-safe base64; decoding validates everything like the UI does.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import zlib

from studio.errors import ConfigError

from .config import PlaygroundConfig, defaults_for, field_names

PREFIX = "pg1."
SHARE_HINT = "paste a string copied from the Share box (it starts with pg1.)"


def encode(config: PlaygroundConfig) -> str:
    base = defaults_for(config.model)
    changed = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
               if getattr(config, f.name) != getattr(base, f.name)}
    payload = json.dumps({"model": config.model, **changed}, separators=(",", ":")).encode()
    return PREFIX + base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode().rstrip("=")


def decode(text: str) -> PlaygroundConfig:
    text = (text or "").strip()
    if "setup=" in text:  # a whole URL was pasted
        text = text.split("setup=", 1)[1].split("&", 1)[0]
    if not text.startswith(PREFIX) or len(text) > 2000:
        raise ConfigError("share string", _short(text), SHARE_HINT)
    body = text[len(PREFIX):]
    try:
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)), bufsize=4096)
        fields = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError):
        raise ConfigError("share string", _short(text), SHARE_HINT) from None
    if not isinstance(fields, dict) or set(fields) - set(field_names()) or "model" not in fields:
        raise ConfigError("share string", _short(text), SHARE_HINT)
    for key, value in fields.items():
        if isinstance(value, list):
            fields[key] = tuple(value)
    try:
        return defaults_for(fields.pop("model"), **fields)
    except TypeError:
        raise ConfigError("share string", _short(text), SHARE_HINT) from None


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
