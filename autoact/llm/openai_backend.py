"""OpenAI-compatible HTTP backend (vLLM, SGLang, FastChat, llama.cpp server, OpenAI).

Several servers (``--base_url`` repeated or comma-separated) share the load round robin; a
server that fails ``fail_threshold`` requests in a row is rested (10 s, doubling while it keeps
failing) and its requests' retries go to the others.

Built on the ``openai`` SDK. The SDK's own retries are off; ours retry connection errors,
timeouts, 408/409/429/5xx and malformed bodies with jittered exponential backoff, a bounded
number of times. Many requests go out at once: a batch fans out over a thread pool, and calls
from many worker threads share one connection pool; ``max_in_flight`` bounds the total.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar

import importlib

import openai

from autoact.errors import (ConfigError, LLMConnectionError, LLMError, LLMRequestRejected,
                            LLMResponseError)
from autoact.llm.base import LLM, Completion, Message, SamplingParams, truncate_at_stop

log = logging.getLogger(__name__)
T = TypeVar("T")

START_HINT = ("start one, e.g. `bash Scripts/serve_vllm.sh` or `python -m "
              "vllm.entrypoints.openai.api_server --model <model> --port 8000`, then pass "
              "--base_url http://127.0.0.1:8000/v1 or set OPENAI_BASE_URL")

_RETRY_STATUS = {408, 409, 429}


class _Malformed(ValueError):
    """A reply body that parsed but has the wrong shape (retried like a broken body)."""


def _is_malformed(err: BaseException) -> bool:
    return isinstance(err, (json.JSONDecodeError, openai.APIResponseValidationError, _Malformed))


def _checked(data: object, chat: bool) -> dict:
    """A completion reply as this backend reads it, or :class:`_Malformed`: ``choices`` a non-empty
    list of objects whose ``text`` (``message.content`` for chat) is a string or null."""
    if not isinstance(data, dict):
        raise _Malformed(f"the reply is not an object ({type(data).__name__})")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _Malformed("the reply has no choices")
    for c in choices:
        if not isinstance(c, dict):
            raise _Malformed(f"a choice is not an object ({type(c).__name__})")
        text = (c.get("message") or {}).get("content") if chat and isinstance(c.get("message"), dict) \
            else c.get("text") if not chat else None
        if chat and not isinstance(c.get("message"), dict):
            raise _Malformed("a chat choice has no message object")
        if text is not None and not isinstance(text, str):
            raise _Malformed(f"a choice's text is not a string ({type(text).__name__})")
        if not isinstance(c.get("index", 0), int):
            raise _Malformed("a choice's index is not an integer")
    return data


def _tokens(value: object) -> int | None:
    """A usage count as an int, or None when the server sent something else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def split_urls(value: str | Sequence[str] | None) -> list[str]:
    """``"http://a/v1,http://b/v1"`` or a list of such strings -> a clean list of URLs; a value
    that is not an http(s) URL is a :class:`ConfigError`."""
    from urllib.parse import urlsplit
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    urls = list(dict.fromkeys(u.strip().rstrip("/") for it in items for u in it.split(",") if u.strip()))
    for u in urls:
        try:
            parts = urlsplit(u)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port                # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            ok = False
        if not ok:
            from autoact.secrets import clean_url
            raise ConfigError(f"not a server URL: {clean_url(u)!r} (expected http://host:port/v1; "
                              f"from --base_url or OPENAI_BASE_URL)")
    return urls


@dataclass
class _Server:
    url: str
    client: "openai.OpenAI"
    post: Callable[[str, dict], object] | None = None   # the light POST (see OpenAILLM._poster)
    failures: int = 0            # consecutive failed requests
    rests: int = 0               # times it has been rested in a row
    rested_until: float = 0.0
    requests: int = 0


class OpenAILLM(LLM):
    backend = "openai"

    def __init__(self, base_url: str | Sequence[str] | None = None, api_key: str | None = None,
                 default_model: str | None = None, *, api: str = "completion",
                 timeout: float = 120.0, max_retries: int = 4, backoff: float = 0.5,
                 max_backoff: float = 8.0, max_in_flight: int = 64, send_top_k: bool = True,
                 fail_threshold: int = 3, rest_seconds: float = 10.0):
        super().__init__(default_model)
        urls = split_urls(base_url) or split_urls(os.environ.get("OPENAI_BASE_URL"))
        if not urls:
            raise ConfigError("no server URL: pass --base_url or set OPENAI_BASE_URL; " + START_HINT)
        if api not in ("completion", "chat"):
            raise ConfigError(f"--api must be 'completion' or 'chat', got {api!r}")
        self.base_url = ",".join(urls)
        self.api = api
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_in_flight = max_in_flight
        self.send_top_k = send_top_k
        self.fail_threshold = fail_threshold
        self.rest_seconds = rest_seconds
        self.send_num_beams = True      # off once a server rejects the field (one notice)
        # A local server needs no key; the SDK insists on a non-empty string.
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.servers = [_Server(u, *self._client(u, key, timeout, max_in_flight)) for u in urls]
        self._turn = itertools.count()
        self._health_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._rng = random.Random()

    @staticmethod
    def _client(url: str, key: str, timeout: float, connections: int) -> tuple:
        """An SDK client for one server and the light POST on the same HTTP client
        (:meth:`_poster`). A query string in the URL (a proxy's ``?api_key=``) is sent with every
        request rather than glued to the path."""
        from urllib.parse import parse_qsl, urlsplit, urlunsplit
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        http = openai.DefaultHttpxClient(transport=_DeadlineTransport(timeout, connections), timeout=timeout)
        client = openai.OpenAI(base_url=base, api_key=key, timeout=timeout, max_retries=0,
                               default_query=query or None, http_client=http)
        if parts.scheme != "http" or _proxied(base):
            # TLS (certificates as the SDK checks them) and proxies: through the SDK's httpx client
            return client, OpenAILLM._poster(http, base, key, query)
        return client, _KeptAlivePost(base, key, query, timeout)

    @staticmethod
    def _poster(http, base: str, key: str, query: dict) -> Callable[[str, dict], object]:
        """``post(path, body) -> parsed JSON`` on the SDK client's HTTP connection pool, with its
        URL, key, query and deadline, raising the SDK's error classes as its ``client.post`` does,
        without its request machinery: half its CPU per request (``bench/llm_concurrency.py``),
        which is what caps many requests in flight from one process."""
        base = base.rstrip("/")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Authorization": f"Bearer {key}"}

        def post(path: str, body: dict) -> object:
            try:
                response = http.post(base + path, content=json.dumps(body).encode("utf-8"), headers=headers,
                                     params=query or None)
                content = response.read()
            except httpx.TimeoutException as err:
                raise openai.APITimeoutError(request=err.request) from err
            except httpx.TransportError as err:
                raise openai.APIConnectionError(request=err.request) from err
            if response.status_code >= 400:
                raise _status_error(response, content)
            return json.loads(content)
        return post

    # -- several servers ----------------------------------------------------------------------
    def _pick(self, avoid: _Server | None = None) -> _Server:
        """Round robin over the servers that are not resting (and not ``avoid`` if there is a
        choice); when all rest, the one whose rest ends first."""
        now = time.monotonic()
        with self._health_lock:
            ready = [s for s in self.servers if s.rested_until <= now]
            if len(ready) > 1 and avoid in ready:
                ready.remove(avoid)
            if not ready:
                return min(self.servers, key=lambda s: s.rested_until)
            server = ready[next(self._turn) % len(ready)]
            server.requests += 1
            return server

    def _record(self, server: _Server, ok: bool) -> None:
        with self._health_lock:
            if ok:
                server.failures = server.rests = 0
                return
            server.failures += 1
            if server.failures >= self.fail_threshold and len(self.servers) > 1:
                rest = self.rest_seconds * 2 ** min(server.rests, 5)
                server.rested_until = time.monotonic() + rest
                server.rests += 1
                server.failures = 0
                log.warning("model server %s failed %d times in a row; resting it for %.0f s",
                            server.url, self.fail_threshold, rest)

    def health(self) -> list[dict]:
        now = time.monotonic()
        with self._health_lock:
            return [{"url": s.url, "requests": s.requests, "resting": s.rested_until > now}
                    for s in self.servers]

    # -- server discovery ---------------------------------------------------------------------
    def list_models(self, server: _Server | None = None) -> list[dict]:
        """``GET /models`` of one server (default: the first): raises
        :class:`LLMConnectionError` if it is unreachable, :class:`LLMResponseError` if its
        reply is not a list of models."""
        server = server or self.servers[0]

        def get(target: _Server):
            data = target.client.get("/models", cast_to=object)
            items = data.get("data") if isinstance(data, dict) else None
            if not isinstance(items, list) or not all(
                    isinstance(m, dict) and isinstance(m.get("id"), str) for m in items):
                raise _Malformed("GET /models did not return {\"data\": [{\"id\": ...}, ...]}")
            return items
        return self._call(get, what="GET /models", server=server)

    def check(self, names: Sequence[str] = ()) -> list[str]:
        """Fail fast: the servers answer and serve every name in ``names`` (after alias
        resolution). A server that cannot be reached is rested (an error if none can be).
        Picks the served base model as default when none was given. Returns the resolved names."""
        from autoact.llm.models import resolve_served_name
        listings, errors = {}, []
        for server in self.servers:
            try:
                listings[server.url] = self.list_models(server)
            except LLMConnectionError as err:
                errors.append(err)
                with self._health_lock:
                    server.rested_until = time.monotonic() + self.rest_seconds
                log.warning("%s", err)
        if not listings:
            raise errors[0]
        resolved: list[str] = []
        for url, listed in listings.items():
            served = [m["id"] for m in listed]
            here = [resolve_served_name(n, served, url) for n in names]
            if resolved and here != resolved:
                raise ConfigError(f"the servers disagree on model names: {url} serves {here}")
            resolved = here
            if self.default_model is None:
                bases = [m["id"] for m in listed if not m.get("parent")] or served
                self.default_model = bases[0] if bases else None
            elif self.default_model not in served:
                self.default_model = resolve_served_name(self.default_model, served, url)
        return resolved

    # -- requests ----------------------------------------------------------------------------
    def _call(self, fn: Callable[[_Server], T], what: str, server: _Server | None = None) -> T:
        """``fn(server)`` with bounded retries; each retry may go to another healthy server."""
        last: BaseException | None = None
        last_server = server
        for attempt in range(self.max_retries + 1):
            if attempt:
                self.usage.add_retry()
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                time.sleep(delay * (0.5 + self._rng.random()))
            target = server or self._pick(avoid=last_server if attempt else None)
            last_server = target
            try:
                with self._slots:
                    result = fn(target)
                self._record(target, True)
                return result
            except openai.APIConnectionError as err:  # includes APITimeoutError
                last = err
            except openai.APIStatusError as err:
                if err.status_code >= 500 or err.status_code in _RETRY_STATUS:
                    last = err
                elif err.status_code == 404:
                    raise LLMError(f"{target.url}: {what}: {_message(err)} "
                                   f"(is the model/adapter name served? see GET /v1/models)") from None
                else:
                    raise LLMRequestRejected(f"{target.url}: {what}: HTTP {err.status_code}: "
                                             f"{_message(err)}", err.status_code, _message(err)) from None
            except Exception as err:  # noqa: BLE001 - only malformed bodies are retried
                if not _is_malformed(err):
                    raise
                last = err
            self._record(target, False)
            log.debug("retrying %s after %s from %s", what, type(last).__name__, target.url)
        tries = self.max_retries + 1
        where = last_server.url if last_server else self.base_url
        if isinstance(last, openai.APITimeoutError):
            raise LLMConnectionError(f"model server at {where} timed out on {what} "
                                     f"{tries} times; is it overloaded? (--request_timeout)")
        if isinstance(last, openai.APIConnectionError):
            cause = last.__cause__ or last
            raise LLMConnectionError(f"cannot reach the model server at {where} "
                                     f"({_short(cause)}) after {tries} tries; {START_HINT}")
        if isinstance(last, openai.APIStatusError):
            raise LLMError(f"{where}: {what}: HTTP {last.status_code} "
                           f"{tries} times: {_message(last)}")
        detail = f": {last}" if isinstance(last, _Malformed) else f" ({type(last).__name__})"
        raise LLMResponseError(f"{where}: {what}: malformed response, {tries} "
                               f"{'try' if tries == 1 else 'tries'}{detail}")

    def _body(self, params: SamplingParams) -> dict:
        body: dict = {"max_tokens": params.max_tokens, "temperature": params.temperature,
                      "top_p": params.top_p, "n": params.n}
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        if self.send_top_k and params.top_k and params.top_k > 0:
            body["top_k"] = params.top_k           # vLLM / SGLang / llama.cpp extension
        if params.num_beams > 1 and self.send_num_beams:
            body["num_beams"] = params.num_beams   # what the reference sent to its FastChat server
        return body

    def _post(self, path: str, body: dict, what: str) -> dict:
        """POST on the SDK client's connection pool (:meth:`_poster`): the same URL, auth,
        timeouts and error classes as ``client.completions.create``, without building typed
        request and response objects or the SDK's request options.

        A server that rejects ``num_beams`` (HTTP 400 naming it, as OpenAI's own API does) gets
        the request again without it, and no request carries it from then on (one notice)."""
        chat = path.endswith("chat/completions")
        try:
            data = self._call(lambda target: _checked(target.post(path, body), chat), what=what)
        except LLMRequestRejected as err:
            if not ("num_beams" in body and err.status == 400 and "num_beams" in err.detail):
                raise
            if self.send_num_beams:
                self.send_num_beams = False
                log.warning("notice: the model server rejected num_beams (%s); sending requests "
                            "without it", err.detail[:120])
            body = {k: v for k, v in body.items() if k != "num_beams"}
            data = self._call(lambda target: _checked(target.post(path, body), chat), what=what)
        self.decoding.add(path.strip("/").replace("/", "."),
                          {k: v for k, v in body.items() if k not in ("model", "prompt", "messages", "seed")}
                          | {"seeded": "seed" in body})
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
        reasons = [str(c.get("finish_reason") or "") for c in choices]
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        prompt_tokens = _tokens(usage.get("prompt_tokens"))
        completion_tokens = _tokens(usage.get("completion_tokens"))
        return Completion(texts,
                          self.count_tokens(prompt) if prompt_tokens is None else prompt_tokens,
                          sum(self.count_tokens(t) for t in texts) if completion_tokens is None
                          else completion_tokens, reasons)

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
        from autoact.secrets import clean_url
        return {"backend": self.backend, "model": self.default_model,
                "base_url": ",".join(clean_url(s.url) for s in self.servers)}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        for server in self.servers:
            server.client.close()
            if isinstance(server.post, _KeptAlivePost):
                server.post.close()


#: the HTTP library the SDK is built on (httpx, or httpx2 in openai >= 3)
httpx = importlib.import_module(openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0])


def _status_error(response: "httpx.Response", content: bytes) -> "openai.APIStatusError":
    """The SDK's error for an HTTP error reply, its message from an OpenAI-style error body."""
    try:
        detail = json.loads(content)
    except ValueError:
        detail = content.decode("utf-8", "replace")
    inner = detail.get("error", detail) if isinstance(detail, dict) else detail
    message = inner.get("message") if isinstance(inner, dict) else None
    return openai.APIStatusError(f"Error code: {response.status_code} - {message or detail}",
                                 response=response, body=detail)


def _proxied(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy."""
    import urllib.request
    from urllib.parse import urlsplit
    parts = urlsplit(url)
    return parts.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(parts.hostname or "")


class _KeptAlivePost:
    """``post(path, body) -> parsed JSON`` over ``http.client`` (plain HTTP): one kept-alive connection per
    thread, a whole-request deadline (headers and a body that trickles in included), and the SDK's
    error classes, so retries and messages are those of every other request. A quarter of the
    SDK's CPU per request (``bench/llm_concurrency.py``), which is what limits many requests in
    flight from one process."""

    def __init__(self, base: str, key: str, query: dict, timeout: float):
        import http.client
        from urllib.parse import urlencode, urlsplit
        parts = urlsplit(base)
        self.url = base.rstrip("/")
        self.path = parts.path.rstrip("/")
        self.query = "?" + urlencode(query) if query else ""
        self.connect = functools.partial(http.client.HTTPConnection, parts.hostname, parts.port, timeout=timeout)
        self.headers = {"Content-Type": "application/json", "Accept": "application/json",
                        "Authorization": f"Bearer {key}"}
        self.timeout = timeout
        self.local = threading.local()
        self.opened: list = []
        self.lock = threading.Lock()

    def _connection(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self.connect()
            with self.lock:
                self.opened.append(conn)
        return conn

    def _drop(self) -> None:
        conn = getattr(self.local, "conn", None)
        if conn is not None:
            conn.close()
            self.local.conn = None

    def __call__(self, path: str, body: dict) -> object:
        import http.client
        import socket
        data = json.dumps(body).encode("utf-8")
        request = httpx.Request("POST", self.url + path)        # what the SDK's errors carry
        deadline = time.monotonic() + self.timeout
        for attempt in (0, 1):
            conn = self._connection()
            reused = conn.sock is not None
            try:
                conn.request("POST", self.path + path + self.query, data, self.headers)
                conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
                response = conn.getresponse()
                chunks = []
                while chunk := response.read1(65536):
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the reply took longer than {self.timeout:g} s")
                    conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
                chunks.append(response.read())     # nothing left: marks the reply done for the next request
                content = b"".join(chunks)
                if response.will_close:
                    self._drop()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as err:
                self._drop()
                if attempt == 0 and reused:      # the server closed the kept-alive connection: a new one
                    continue
                raise openai.APIConnectionError(request=request) from err
            except (socket.timeout, TimeoutError) as err:
                self._drop()
                raise openai.APITimeoutError(request=request) from err
            except (OSError, http.client.HTTPException) as err:
                self._drop()
                raise openai.APIConnectionError(request=request) from err
        if response.status >= 400:
            raise _status_error(httpx.Response(response.status, content=content, request=request), content)
        return json.loads(content)

    def close(self) -> None:
        with self.lock:
            for conn in self.opened:
                conn.close()
            self.opened.clear()


class _DeadlineTransport(httpx.BaseTransport):
    """httpx's transport with a limit on a whole request, reply body included: httpx's own
    timeouts apply to each connect, write and read, so a server that trickles its reply a byte
    at a time would otherwise hold a worker for as long as it likes."""

    def __init__(self, total: float, connections: int = 64):
        self.inner = httpx.HTTPTransport(limits=httpx.Limits(max_connections=connections,
                                                             max_keepalive_connections=connections))
        self.total = total

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + self.total
        response = self.inner.handle_request(request)
        response.stream = _DeadlineStream(response.stream, deadline, self.total, request)
        return response

    def close(self) -> None:
        self.inner.close()


class _DeadlineStream(httpx.SyncByteStream):
    def __init__(self, inner, deadline: float, total: float, request: httpx.Request):
        self.inner, self.deadline, self.total, self.request = inner, deadline, total, request

    def __iter__(self):
        for chunk in self.inner:
            if time.monotonic() > self.deadline:
                raise httpx.ReadTimeout(f"the reply took longer than {self.total:g} s",
                                        request=self.request)
            yield chunk

    def close(self) -> None:
        self.inner.close()


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
