"""The one interface every model backend implements.

``complete(prompts, ...)`` takes a batch of prompts and returns one :class:`Completion` per
prompt (each with ``n`` texts). ``model`` picks the served model or LoRA adapter for the whole
batch (a string) or per prompt (a list), which is how the plan/tool/reflect agents share one
base model. ``chat`` is the same for chat-formatted conversations.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import Sequence

Message = dict  # {"role": "system"|"user"|"assistant", "content": str}


@dataclass(frozen=True)
class SamplingParams:
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = -1          # -1: off (the OpenAI API has no top_k; sent only when set)
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    num_beams: int = 1       # > 1: sent as ``num_beams`` to servers (the reference's group planning)

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop or ()))
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.num_beams < 1:
            raise ValueError(f"num_beams must be >= 1, got {self.num_beams}")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


@dataclass
class Completion:
    texts: list[str]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reasons: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return self.texts[0]


@dataclass
class Usage:
    """Running token and request counts of a backend (thread-safe)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, c: Completion) -> None:
        with self._lock:
            self.requests += 1
            self.prompt_tokens += c.prompt_tokens
            self.completion_tokens += c.completion_tokens

    def add_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def as_dict(self) -> dict:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "retries": self.retries}


class DecodingLog:
    """The decoding settings a backend actually used, per API (``completions``/``chat``), for
    the stages' ``*.config.json``: each setting's value, or its distinct values, or (for many
    values, such as self-instruct's per-round temperatures) their range. Thread-safe."""

    MAX_LISTED = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._apis: dict[str, dict] = {}

    def add(self, api: str, settings: dict) -> None:
        with self._lock:
            entry = self._apis.setdefault(api, {"requests": 0, "values": {}})
            entry["requests"] += 1
            for key, value in settings.items():
                if isinstance(value, list):
                    value = tuple(value)
                entry["values"].setdefault(key, set()).add(value)

    def summary(self) -> dict:
        with self._lock:
            out = {}
            for api, entry in self._apis.items():
                row: dict = {"requests": entry["requests"]}
                for key, values in sorted(entry["values"].items()):
                    vals = sorted(values, key=repr)
                    if len(vals) == 1:
                        row[key] = _jsonable(vals[0])
                    elif len(vals) <= self.MAX_LISTED:
                        row[key] = [_jsonable(v) for v in vals]
                    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
                        row[key] = {"min": min(vals), "max": max(vals), "distinct": len(vals)}
                    else:
                        row[key] = {"distinct": len(vals)}
                out[api] = row
            return out


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` at the earliest stop string (the stop string itself is not kept)."""
    cut = -1
    for s in stop:
        if not s:
            continue
        i = text.find(s)
        if i != -1 and (cut == -1 or i < cut):
            cut = i
    return (text, False) if cut == -1 else (text[:cut], True)


def _models_for(model: str | Sequence[str] | None, n: int) -> list[str | None]:
    if model is None or isinstance(model, str):
        return [model] * n
    models = list(model)
    if len(models) != n:
        raise ValueError(f"got {len(models)} model names for {n} prompts")
    return models


class LLM:
    """Base class: subclasses implement ``_complete`` (and ``_chat`` when they support it)."""

    #: short backend name written into records (``llm.backend``)
    backend = "base"

    def __init__(self, default_model: str | None = None):
        self.default_model = default_model
        self.usage = Usage()
        self.decoding = DecodingLog()     # what was actually sent: subclasses add to it

    # -- public API --------------------------------------------------------------------------
    def complete(self, prompts: Sequence[str], params: SamplingParams | None = None, *,
                 model: str | Sequence[str] | None = None, **overrides) -> list[Completion]:
        """Complete each prompt. ``overrides`` are ``SamplingParams`` fields (stop=, max_tokens=...)."""
        params = _params(params, overrides)
        models = [m or self.default_model for m in _models_for(model, len(prompts))]
        if not prompts:
            return []
        out = self._complete(list(prompts), models, params)
        for c in out:
            self.usage.add(c)
        return out

    def chat(self, conversations: Sequence[Sequence[Message]], params: SamplingParams | None = None,
             *, model: str | Sequence[str] | None = None, **overrides) -> list[Completion]:
        params = _params(params, overrides)
        models = [m or self.default_model for m in _models_for(model, len(conversations))]
        if not conversations:
            return []
        out = self._chat([list(c) for c in conversations], models, params)
        for c in out:
            self.usage.add(c)
        return out

    def count_tokens(self, text: str) -> int:
        """Token count of ``text`` for context-length checks. Default: a documented estimate of
        one token per 4 characters (Llama/Mistral tokenizers average 3.5-4.5 on English)."""
        return (len(text) + 3) // 4

    def describe(self) -> dict:
        """What goes into a record's ``llm`` field."""
        return {"backend": self.backend, "model": self.default_model}

    def check(self, names: Sequence[str] = ()) -> list[str]:
        """The model names as this backend will use them (a server checks it serves them and
        resolves aliases; a backend without a model list takes them as given)."""
        return list(names)

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- for subclasses ----------------------------------------------------------------------
    def _complete(self, prompts: list[str], models: list[str | None],
                  params: SamplingParams) -> list[Completion]:
        raise NotImplementedError

    def _chat(self, conversations: list[list[Message]], models: list[str | None],
              params: SamplingParams) -> list[Completion]:
        raise NotImplementedError(f"the {self.backend} backend has no chat API")


def _params(params: SamplingParams | None, overrides: dict) -> SamplingParams:
    params = params or SamplingParams()
    if overrides:
        params = replace(params, **overrides)
    return params
