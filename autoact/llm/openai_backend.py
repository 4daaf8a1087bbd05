"""OpenAI-compatible HTTP backend (vLLM, SGLang, FastChat, llama.cpp server, OpenAI).

Built on the ``openai`` SDK. The SDK's own retries are off; ours retry connection errors,
timeouts, 408/409/429/5xx and malformed bodies with jittered exponential backoff, a bounded
number of times. Many requests go out at once: a batch fans out over a thread pool, and calls
from many worker threads share one connection pool; ``max_in_flight`` bounds the total.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Sequence, TypeVar

import openai

from autoact.errors import ConfigError, LLMConnectionError, LLMError, LLMResponseError
from autoact.llm.base import LLM, Completion, Message, SamplingParams, truncate_at_stop

log = logging.getLogger(__name__)
T = TypeVar("T")

START_HINT = ("start one, e.g. `bash Scripts/serve_vllm.sh` or `python -m "
              "vllm.entrypoints.openai.api_server --model <model> --port 8000`, then pass "
              "--base_url http://127.0.0.1:8000/v1 or set OPENAI_BASE_URL")

_RETRY_STATUS = {408, 409, 429}


def _is_malformed(err: BaseException) -> bool:
    return isinstance(err, (json.JSONDecodeError, openai.APIResponseValidationError))


class OpenAILLM(LLM):
    backend = "openai"

    def __init__(self, base_url: str | None = None, api_key: str | None = None,
                 default_model: str | None = None, *, api: str = "completion",
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 8.0, max_in_flight: int = 64, send_top_k: bool = True):
        super().__init__(default_model)
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise ConfigError("no server URL: pass --base_url or set OPENAI_BASE_URL; " + START_HINT)
        if api not in ("completion", "chat"):
            raise ConfigError(f"--api must be 'completion' or 'chat', got {api!r}")
        self.base_url = base_url.rstrip("/")
        self.api = api
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_in_flight = max_in_flight
        self.send_top_k = send_top_k
        # A local server needs no key; the SDK insists on a non-empty string.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout,
                                    max_retries=0)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._rng = random.Random()

    # -- server discovery ---------------------------------------------------------------------
    def list_models(self) -> list[dict]:
        """``GET /models``: raises :class:`LLMConnectionError` if the server is unreachable."""
        page = self._call(lambda: self.client.models.list(), what="GET /models")
        return [m.model_dump() for m in page.data]

    def check(self, names: Sequence[str] = ()) -> list[str]:
        """Fail fast: the server answers and serves every name in ``names`` (after alias
        resolution). Picks the served base model as default when none was given. Returns the
        resolved names in order."""
        from autoact.llm.models import resolve_served_name
        listed = self.list_models()
        served = [m["id"] for m in listed]
        if self.default_model is None:
            bases = [m["id"] for m in listed if not m.get("parent")] or served
            self.default_model = bases[0] if bases else None
        resolved = [resolve_served_name(n, served, self.base_url) for n in names]
        if self.default_model and self.default_model not in served:
            self.default_model = resolve_served_name(self.default_model, served, self.base_url)
        return resolved

    # -- requests ----------------------------------------------------------------------------
    def _call(self, fn: Callable[[], T], what: str) -> T:
        last: BaseException | None = None
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.add_retry()
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + self._rng.random()))
            try:
                with self._slots:
                    return fn()
            except openai.APIConnectionError as err:  # includes APITimeoutError
                last = err
            except openai.APIStatusError as err:
                if err.status_code >= 500 or err.status_code in _RETRY_STATUS:
                    last = err
                elif err.status_code == 404:
                    raise LLMError(f"{self.base_url}: {what}: {_message(err)} "
                                   f"(is the model/adapter name served? see GET /v1/models)") from None
                else:
                    raise LLMError(f"{self.base_url}: {what}: HTTP {err.status_code}: "
                                   f"{_message(err)}") from None
            except Exception as err:  # noqa: BLE001 - only malformed bodies are retried
                if not _is_malformed(err):
                    raise
                last = err
            log.debug("retrying %s after %s", what, type(last).__name__)
        tries = self.max_retries + 1
        if isinstance(last, openai.APITimeoutError):
            raise LLMConnectionError(f"model server at {self.base_url} timed out on {what} "
                                     f"{tries} times; is it overloaded? (--request_timeout)")
        if isinstance(last, openai.APIConnectionError):
            cause = last.__cause__ or last
            raise LLMConnectionError(f"cannot reach the model server at {self.base_url} "
                                     f"({_short(cause)}) after {tries} tries; {START_HINT}")
        if isinstance(last, openai.APIStatusError):
            raise LLMError(f"{self.base_url}: {what}: HTTP {last.status_code} "
                           f"{tries} times: {_message(last)}")
        raise LLMResponseError(f"{self.base_url}: {what}: malformed response {tries} times "
                               f"({type(last).__name__})")

    def _body(self, params: SamplingParams) -> dict:
        body: dict = {"max_tokens": params.max_tokens, "temperature": params.temperature,
                      "top_p": params.top_p, "n": params.n}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if self.send_top_k and params.top_k and params.top_k > 0:
            body["top_k"] = params.top_k           # vLLM / SGLang / llama.cpp extension
        return body

    def _post(self, path: str, body: dict, what: str) -> dict:
        """POST through the SDK's documented generic request method (``client.post``): the same
        client, auth, timeouts and error classes as ``client.completions.create``, without
        building typed request and response objects, which cost ~1/3 of a request's CPU here."""
        data = self._call(lambda: self.client.post(path, body=body, cast_to=object), what=what)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
            raise LLMResponseError(f"{self.base_url}: {what} returned no choices")
        return data

    def _one_completion(self, prompt: str, model: str | None, params: SamplingParams) -> Completion:
        if self.api == "chat":
            return self._one_chat([{"role": "user", "content": prompt}], model, params)
        model = self._need_model(model)
        data = self._post("/completions", {"model": model, "prompt": prompt, **self._body(params)},
                          f"completion ({model})")
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        texts = [truncate_at_stop(c.get("text") or "", params.stop)[0] for c in choices]
        return self._finish(data, texts, choices, prompt)

    def _one_chat(self, messages: list[Message], model: str | None, params: SamplingParams) -> Completion:
        model = self._need_model(model)
        data = self._post("/chat/completions", {"model": model, "messages": messages,
                                                **self._body(params)}, f"chat completion ({model})")
        choices = sorted(data["choices"], key=lambda c: c.get("index", 0))
        texts = [truncate_at_stop((c.get("message") or {}).get("content") or "", params.stop)[0]
                 for c in choices]
        prompt = "\n".join(str(m.get("content", "")) for m in messages)
        return self._finish(data, texts, choices, prompt)

    def _finish(self, data: dict, texts: list[str], choices: list[dict], prompt: str) -> Completion:
        reasons = [c.get("finish_reason") or "" for c in choices]
        usage = data.get("usage")
        if isinstance(usage, dict):
            return Completion(texts, int(usage.get("prompt_tokens") or 0),
                              int(usage.get("completion_tokens") or 0), reasons)
        return Completion(texts, self.count_tokens(prompt),
                          sum(self.count_tokens(t) for t in texts), reasons)

    def _need_model(self, model: str | None) -> str:
        if not model:
            raise ConfigError(f"no model name for {self.base_url}: pass the model/adapter name "
                              f"(see GET {self.base_url}/models)")
        return model

    def _fan_out(self, fn: Callable, items: list, models: list, params: SamplingParams) -> list[Completion]:
        if len(items) == 1:
            return [fn(items[0], models[0], params)]
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.max_in_flight,
                                                thread_name_prefix="autoact-http")
        futures = [self._pool.submit(fn, it, m, params) for it, m in zip(items, models)]
        return [f.result() for f in futures]

    def _complete(self, prompts, models, params):
        return self._fan_out(self._one_completion, prompts, models, params)

    def _chat(self, conversations, models, params):
        return self._fan_out(self._one_chat, conversations, models, params)

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.default_model, "base_url": self.base_url,
                "api": self.api}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        self.client.close()


def _message(err: "openai.APIStatusError") -> str:
    body = getattr(err, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
        if isinstance(body.get("message"), str):
            return body["message"]
    return str(getattr(err, "message", err))


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text.splitlines()[0][:200]
