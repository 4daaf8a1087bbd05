"""Keep secrets out of every file and stream: one redaction function, applied by every writer.

Secrets are registered as they enter (``--api_key``, ``OPENAI_API_KEY`` and the other key
variables, a pipeline config's ``model.api_key``, the user-info and key-like query parameters of
any server URL) and :func:`redact` replaces them with ``***`` wherever they appear: the JSON and
JSONL writers of :mod:`autoact.io` call it on everything they write, :func:`autoact.cli.run`
wraps ``stdout``/``stderr`` (error lines, logs, progress bars) in :class:`RedactingStream`, and
URLs are also cleaned on their own (:func:`clean_url`: no user-info, key-like query values
masked), so a URL is never stored with its credentials even when nothing registered them.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any, TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
#: environment variables that hold keys
KEY_VARS = ("OPENAI_API_KEY", "AUTOACT_SEARCH_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
            "WANDB_API_KEY")
#: environment variables that hold server URLs (which may carry credentials)
URL_VARS = ("OPENAI_BASE_URL", "AUTOACT_SEARCH_URL", "AUTOACT_WIKI_URL")
#: query parameters whose values are credentials
_KEY_PARAM = re.compile(r"(api[-_]?key|key|token|access[-_]?token|auth|password|passwd|secret|sig|signature)$",
                        re.I)
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s\"'<>]+")
MIN_LENGTH = 4               # shorter values are not treated as secrets (they would mask words)

_lock = threading.Lock()
_secrets: set[str] = set()


def register(value: object) -> None:
    """Treat ``value`` (a key, a password) as a secret from now on."""
    if isinstance(value, str) and len(value.strip()) >= MIN_LENGTH:
        with _lock:
            _secrets.add(value.strip())


def register_url(url: object) -> None:
    """Register the credentials a URL carries: user-info and key-like query values."""
    if not isinstance(url, str) or "://" not in url:
        return
    for one in url.split(","):
        try:
            parts = urlsplit(one.strip())
        except ValueError:
            continue
        register(parts.password)
        if parts.password:
            register(parts.username)
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if _KEY_PARAM.search(name):
                register(value)


def register_environment() -> None:
    for name in KEY_VARS:
        register(os.environ.get(name))
    for name in URL_VARS:
        register_url(os.environ.get(name))


def clean_url(url: str) -> str:
    """``url`` without user-info and with key-like query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1] if "@" in parts.netloc else parts.netloc
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_KEY_PARAM.search(k) for k, _ in pairs):
            query = urlencode([(k, MASK if _KEY_PARAM.search(k) else v) for k, v in pairs], safe="*")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str) -> str:
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    if "://" in text and ("@" in text or "?" in text):
        text = _URL.sub(lambda m: clean_url(m.group(0)), text)
    return text


def redact(obj: Any) -> Any:
    """``obj`` (a string, or JSON-like data) with every secret and URL credential masked."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {redact(k) if isinstance(k, str) else k: redact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact(v) for v in obj]
    return obj


class RedactingStream:
    """A text stream that writes everything through :func:`redact_text`."""

    def __init__(self, inner: TextIO):
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact_text(text))
        return len(text)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)
