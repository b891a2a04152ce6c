"""One exception type whose message is written for the person at the keyboard.

Engine code raises `StudioError` (or a subclass) with a sentence that says what
was wrong and what to do; the UI layer turns it into `gr.Error` in one place.
Anything else that escapes is a bug and is shown only as a generic message.
"""


class StudioError(Exception):
    """An error a user can act on. `str(err)` is the whole message."""


class ConfigError(StudioError, ValueError):
    """A setting has a value the engine cannot use; the message names the field."""

    def __init__(self, field: str, value: object, expected: str):
        self.field = field
        self.value = value
        super().__init__(f"{field}: {value!r} is not valid; {expected}.")


class StoppedError(StudioError):
    """Work ended early because the user pressed Stop."""
