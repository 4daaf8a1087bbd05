"""Named exceptions. Every error a user can cause is an ``AutoActError``: the CLI wrapper
(:func:`autoact.cli.run`) prints its message as one line and exits with status 2."""

from __future__ import annotations


class AutoActError(Exception):
    """Base class for errors that are the user's to fix (bad input, bad flag, no server)."""

    exit_code = 2


class DataError(AutoActError):
    """An input file is missing, unreadable, malformed or has the wrong fields."""


class ConfigError(AutoActError):
    """A flag or setting is invalid: unknown task/tool/model name, bad value, missing model."""


class OutputExistsError(AutoActError):
    """An output exists and would be overwritten without ``--overwrite``."""


class LLMError(AutoActError):
    """A model backend failed in a way retries did not fix."""


class LLMConnectionError(LLMError):
    """The model server cannot be reached."""


class LLMResponseError(LLMError):
    """The model server answered, but not with a usable completion."""


class LLMRequestRejected(LLMError):
    """The server refused a request (an HTTP 4xx other than 404/408/409/429)."""

    def __init__(self, message: str, status: int, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.detail = detail
