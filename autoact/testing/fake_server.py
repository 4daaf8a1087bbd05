"""A fake OpenAI-compatible server on 127.0.0.1, real HTTP, for tests and benchmarks.

Serves ``GET /v1/models``, ``POST /v1/completions`` and ``POST /v1/chat/completions`` (plus
``GET /health``). Replies come from a pluggable policy (any :data:`~autoact.llm.scripted.ReplyFn`,
e.g. a scripted reply file); stop strings, ``max_tokens`` and ``n`` are honoured. Knobs:

* ``latency``: seconds slept per request (the thread sleeps; many requests overlap);
* ``fault_rate`` and ``fault_kinds``: a seeded share of requests fail with ``500``, ``429``,
  ``timeout`` (the reply is held past the client's timeout), ``malformed`` (a 200 whose body
  is not JSON), ``empty`` (a 200 with an empty completion), ``trickle`` (a good reply sent one
  byte every ``trickle_gap`` seconds), or a 200 of the wrong shape: ``choices_str``
  (``"choices": ["x"]``), ``text_int`` (``"text": 123``), ``usage_str`` (token counts as words:
  still a usable reply), ``no_choices``;
* ``models_fault``: ``GET /v1/models`` answers ``{"data": "x"}`` (a wrong shape);
* ``faults``: an explicit per-request plan (``["500", None, ...]``) consumed before the rate;
* ``reject_fields``: body fields answered with a 400 as OpenAI's own API does for fields it does
  not know (``Unrecognized request argument supplied: num_beams``).

Every request is logged in ``requests`` (and to ``request_log`` JSONL if given).

In-process::

    with FakeServer(policy, latency=0.05) as srv:
        llm = OpenAILLM(base_url=srv.url, ...)

As a process (prints ``FAKE_SERVER_URL http://127.0.0.1:PORT/v1`` on its first line)::

    python -m autoact.testing.fake_server --port 0 --latency 0.05 --fault_rate 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Sequence
from urllib.parse import urlsplit

from autoact.errors import AutoActError
from autoact.llm.base import SamplingParams
from autoact.llm.templates import RESPONSE_MARKER
from autoact.llm.scripted import (ReplyFn, Request, as_reply_fn, finish, render_messages,
                                  whitespace_tokens)

FAULT_KINDS = ("500", "429", "timeout", "malformed", "empty", "trickle", "choices_str", "text_int",
               "usage_str", "no_choices")
_SAMPLING_KEYS = ("max_tokens", "temperature", "top_p", "top_k", "n", "stop", "seed", "num_beams")


def echo_policy(req: Request) -> str:
    """Default reply: deterministic text that names the model and a digest of the prompt."""
    digest = hashlib.sha1(req.prompt.encode("utf-8")).hexdigest()[:8]
    return f"reply from {req.model} to {digest}"


_STEP_END = re.compile(r"(Thought|Action) (\d+):(?: ([A-Za-z0-9 ]+)\[)?$")


def react_policy(req: Request) -> str:
    """A deterministic ReAct agent for benchmarks and tests (no model, no gold answers):
    Retrieve an entity named in the question, Finish, then Reflect[right]. It answers both the
    Meta-Agent's prompts (``Thought n:`` / ``Action n:``) and the fine-tuned agents' (the same
    inputs plus the response marker, with the action type and its argument asked separately)."""
    prompt = req.prompt
    tuned = prompt.endswith(RESPONSE_MARKER)
    if tuned:
        prompt = prompt[:-len(RESPONSE_MARKER)]
    m = _STEP_END.search(prompt)
    if not m:
        return "I am not sure what to do."
    kind, n, tool = m.group(1), int(m.group(2)), m.group(3)
    question = prompt[prompt.rfind("\nQuestion: ") + 11:].split("\n", 1)[0]
    entity = " ".join(re.findall(r"\b[A-Z][a-z]+\b", question.partition(" ")[2])[:2]) or "Wikipedia"
    after_finish = f"\nObservation {n - 1}: Please reflect your answer.\n" in prompt
    if kind == "Thought":
        text = ("The answer seems right." if after_finish else
                "I need to retrieve the first entity." if n == 1 else "I can answer now.")
    elif tool:                                       # the tool agent: the argument only
        text = entity if tool == "Retrieve" else "yes"
    elif after_finish:
        text = "Reflect[right]"
    else:
        name = "Retrieve" if n == 1 else "Finish"
        text = name if tuned else f"{name}[{entity if n == 1 else 'yes'}]"
    return text if tuned else " " + text


POLICIES = {"echo": echo_policy, "react": react_policy}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go out as two writes: no 40 ms ACK stall
    server: "_Server"

    def log_message(self, format, *args):  # noqa: A002 - silence the default stderr log
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode("utf-8"))

    def _error(self, status: int, message: str, etype: str) -> None:
        self._json(status, {"error": {"message": message, "type": etype, "code": status}})

    def _route(self) -> str:
        """The request's path without its query string (a base URL may carry one)."""
        return urlsplit(self.path).path.rstrip("/")

    def do_GET(self):  # noqa: N802
        fake = self.server.fake
        with fake._lock:
            fake.gets.append({"path": self._route(), "authorization": self.headers.get("Authorization")})
        if self._route() in ("/health", "/v1/health"):
            self._send(200, b"")
        elif self._route() == "/v1/models" and fake.models_fault:
            self._json(200, {"object": "list", "data": "x"})
        elif self._route() == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "autoact-fake",
                     "parent": None if m == fake.models[0] else fake.models[0]}
                    for m in fake.models]
            self._json(200, {"object": "list", "data": data})
        else:
            self._error(404, f"no route {self.path}", "NotFoundError")

    def do_POST(self):  # noqa: N802
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self._route()
        if path not in ("/v1/completions", "/v1/chat/completions"):
            self._error(404, f"no route {self.path}", "NotFoundError")
            return
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            self._error(400, "request body is not JSON", "BadRequestError")
            return
        chat = path.endswith("chat/completions")
        model = body.get("model")
        fault = fake._next_fault()
        fake._log({"path": path, "model": model, "fault": fault, "client": list(self.client_address),
                   "prompt": body.get("prompt") if not chat else None,
                   "messages": body.get("messages") if chat else None,
                   "params": {k: body[k] for k in _SAMPLING_KEYS if k in body}})
        with fake._track():
            self._answer(fake, body, chat, model, fault)

    def _answer(self, fake: "FakeServer", body: dict, chat: bool, model, fault) -> None:
        if fake.latency:
            time.sleep(fake.latency)
        rejected = [k for k in fake.reject_fields if k in body]
        if rejected:
            self._error(400, f"Unrecognized request argument supplied: {rejected[0]}",
                        "invalid_request_error")
            return
        if model not in fake.models:
            self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
            return
        if fault == "500":
            self._error(500, "injected server error", "InternalServerError")
            return
        if fault == "429":
            self._error(429, "injected rate limit", "RateLimitError")
            return
        if fault == "timeout":
            fake._stopping.wait(fake.timeout_hold)
            if fake._stopping.is_set():
                return
        if fault == "malformed":
            self._send(200, b'{"id": "cmpl-broken", "choices": [{"text": ')
            return
        if fault in ("choices_str", "text_int", "no_choices"):
            shaped = {"choices_str": {"choices": ["x"]},
                      "text_int": {"choices": [{"index": 0, "text": 123, "message": {"content": 123}}]},
                      "no_choices": {"choices": []}}[fault]
            self._json(200, {"id": "cmpl-shape", "object": "text_completion", **shaped})
            return
        try:
            params = SamplingParams(
                max_tokens=int(body.get("max_tokens") or 16),
                temperature=float(body.get("temperature", 1.0) or 0.0),
                top_p=float(body.get("top_p", 1.0) or 1.0),
                top_k=int(body.get("top_k", -1) or -1),
                n=int(body.get("n") or 1),
                stop=body.get("stop") or (),
                seed=body.get("seed"),
            )
        except (TypeError, ValueError) as err:
            self._error(400, f"bad sampling parameters: {err}", "BadRequestError")
            return
        if chat:
            messages = body.get("messages") or []
            prompts = [render_messages(messages)]
        else:
            p = body.get("prompt", "")
            prompts = p if isinstance(p, list) else [p]
        choices, ptoks, ctoks = [], 0, 0
        for pi, prompt in enumerate(prompts):
            req = Request(prompt, model, params, tuple(messages) if chat else None)
            ptoks += whitespace_tokens(prompt)
            for j in range(params.n):
                try:
                    text, reason = ("", "stop") if fault == "empty" else finish(fake.policy(req), params)
                except Exception as err:  # noqa: BLE001 - a failing policy is a 500, not a dead socket
                    self._error(500, f"reply policy failed: {type(err).__name__}: {err}",
                                "InternalServerError")
                    return
                ctoks += whitespace_tokens(text)
                idx = pi * params.n + j
                if chat:
                    choices.append({"index": idx, "finish_reason": reason, "logprobs": None,
                                    "message": {"role": "assistant", "content": text}})
                else:
                    choices.append({"index": idx, "text": text, "finish_reason": reason,
                                    "logprobs": None})
        usage = {"prompt_tokens": ptoks, "completion_tokens": ctoks, "total_tokens": ptoks + ctoks}
        if fault == "usage_str":
            usage = {k: "many" for k in usage}
        reply = {
            "id": f"{'chatcmpl' if chat else 'cmpl'}-{fake._count}",
            "object": "chat.completion" if chat else "text_completion",
            "created": int(time.time()), "model": model, "choices": choices, "usage": usage,
        }
        if fault == "trickle":
            self._trickle(json.dumps(reply).encode("utf-8"), fake)
            return
        self._json(200, reply)

    def _trickle(self, body: bytes, fake: "FakeServer") -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for i in range(len(body)):
                if fake._stopping.wait(fake.trickle_gap):
                    return
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
        except OSError:
            pass          # the client gave up


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    fake: "FakeServer"


class FakeServer:
    def __init__(self, policy: ReplyFn | Sequence[str] | str | None = None, *,
                 models: Sequence[str] = ("tiny", "plan", "tool", "reflect"),
                 latency: float = 0.0, fault_rate: float = 0.0,
                 fault_kinds: Sequence[str] = ("500", "timeout", "malformed"),
                 faults: Sequence[str | None] = (), timeout_hold: float = 30.0,
                 seed: int = 0, host: str = "127.0.0.1", port: int = 0,
                 request_log: str | None = None, reject_fields: Sequence[str] = (),
                 models_fault: bool = False, trickle_gap: float = 0.2):
        bad = [k for k in list(fault_kinds) + [f for f in faults if f] if k not in FAULT_KINDS]
        if bad:
            raise ValueError(f"unknown fault kind(s) {bad}; valid: {', '.join(FAULT_KINDS)}")
        self.policy: ReplyFn = as_reply_fn(policy) if policy is not None else echo_policy
        self.reject_fields = list(reject_fields)
        self.models_fault = models_fault
        self.trickle_gap = trickle_gap
        self.models = list(models)
        self.latency = latency
        self.fault_rate = fault_rate
        self.fault_kinds = list(fault_kinds)
        self._plan = list(faults)
        self.timeout_hold = timeout_hold
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._count = 0
        self._stopping = threading.Event()
        self.requests: list[dict] = []      # the POSTs (completions)
        self.gets: list[dict] = []          # the GETs (/v1/models, /health)
        self.in_flight = 0
        self.max_in_flight = 0
        self._log_file = open(request_log, "a", encoding="utf-8") if request_log else None
        self._httpd = _Server((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._httpd.server_address[0]}:{self.port}/v1"

    def _next_fault(self) -> str | None:
        with self._lock:
            self._count += 1
            if self._plan:
                return self._plan.pop(0)
            if self.fault_rate and self._rng.random() < self.fault_rate:
                return self._rng.choice(self.fault_kinds)
            return None

    @contextlib.contextmanager
    def _track(self):
        """Count requests being answered at once (``max_in_flight`` is the high-water mark)."""
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    def _log(self, entry: dict) -> None:
        with self._lock:
            self.requests.append(entry)
            if self._log_file:
                self._log_file.write(json.dumps(entry) + "\n")
                self._log_file.flush()

    def start(self) -> "FakeServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.05)

    def close(self) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._log_file:
            self._log_file.close()

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autoact.testing.fake_server",
                                description="Run a fake OpenAI-compatible server (tests, benchmarks).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    p.add_argument("--fault_rate", type=float, default=0.0, help="share of requests that fail")
    p.add_argument("--fault_kinds", default="500,timeout,malformed",
                   help=f"comma-separated subset of {','.join(FAULT_KINDS)}")
    p.add_argument("--timeout_hold", type=float, default=30.0,
                   help="seconds a 'timeout' fault holds the reply")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--models", default="tiny,plan,tool,reflect",
                   help="comma-separated model names to serve (first is the base)")
    p.add_argument("--replies", default=None,
                   help="JSON reply file (strings in order, or match/pattern rules)")
    p.add_argument("--policy", choices=sorted(POLICIES), default="echo",
                   help="built-in reply policy when no --replies file is given: echo (names the "
                        "model and a digest of the prompt) or react (a deterministic ReAct agent)")
    p.add_argument("--request_log", default=None, help="append each request as JSONL here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    try:
        srv = FakeServer(args.replies or POLICIES[args.policy], models=args.models.split(","),
                         latency=args.latency,
                         fault_rate=args.fault_rate, fault_kinds=args.fault_kinds.split(","),
                         timeout_hold=args.timeout_hold, seed=args.seed, host=args.host,
                         port=args.port, request_log=args.request_log)
    except (AutoActError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"FAKE_SERVER_URL {srv.url}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
