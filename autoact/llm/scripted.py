"""Scripted backend: deterministic replies from a Python callable, a list or a JSON file.

Used by the tests, the benchmarks' fake server and the offline demo teacher. It behaves like a
server: stop strings cut the reply, ``max_tokens`` caps it (in whitespace tokens), and every
request is recorded in ``requests`` for assertions.

A reply file is a JSON list whose items are either strings (consumed in order) or rules
``{"match": "substring", "reply": "..."}`` / ``{"pattern": "regex", "reply": "..."}`` tried in
order against the prompt (for chat, the rendered conversation); a rule may set ``"model"`` to
apply only to one model/adapter name.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from autoact.errors import DataError, LLMResponseError
from autoact.io import read_json
from autoact.llm.base import LLM, Completion, Message, SamplingParams, truncate_at_stop


@dataclass(frozen=True)
class Request:
    prompt: str                       # completion prompt, or the rendered conversation for chat
    model: str | None
    params: SamplingParams
    messages: tuple | None = None     # the chat messages, when this came from the chat API


ReplyFn = Callable[[Request], str]


def render_messages(messages: Sequence[Message]) -> str:
    """Plain rendering of a conversation, used to match rules and to count tokens."""
    return "\n".join(f"{m.get('role', 'user')}: {m.get('content', '')}" for m in messages)


def whitespace_tokens(text: str) -> int:
    return len(text.split())


def cap_tokens(text: str, max_tokens: int) -> tuple[str, bool]:
    """Keep at most ``max_tokens`` whitespace-separated tokens (spacing preserved)."""
    parts = re.findall(r"\s*\S+", text)
    if len(parts) <= max_tokens:
        return text, False
    return "".join(parts[:max_tokens]), True


def finish(text: str, params: SamplingParams) -> tuple[str, str]:
    """Apply stop strings and the token cap, as a server would. Returns (text, finish_reason)."""
    text, stopped = truncate_at_stop(text, params.stop)
    text, capped = cap_tokens(text, params.max_tokens)
    return text, ("length" if capped else "stop")


class SequenceReplies:
    """Replies taken in order from a list (thread-safe); running out is an error."""

    def __init__(self, replies: Sequence[str]):
        self._replies = list(replies)
        self._i = 0
        self._lock = threading.Lock()

    def __call__(self, req: Request) -> str:
        with self._lock:
            if self._i >= len(self._replies):
                raise LLMResponseError(
                    f"scripted backend ran out of replies after {len(self._replies)}")
            reply = self._replies[self._i]
            self._i += 1
            return reply


class RuleReplies:
    """First matching rule wins; no match is an error naming the prompt's end."""

    def __init__(self, rules: Sequence[dict], source: str = "rules"):
        self.rules = []
        for i, r in enumerate(rules):
            if "reply" not in r or not ("match" in r or "pattern" in r):
                raise DataError(f"{source}: rule {i} needs \"reply\" and \"match\" or \"pattern\"")
            try:
                rx = re.compile(r["pattern"], re.S) if "pattern" in r else None
            except re.error as err:
                raise DataError(f"{source}: rule {i}: bad regex: {err}") from None
            self.rules.append((r.get("match"), rx, r.get("model"), str(r["reply"])))

    def __call__(self, req: Request) -> str:
        for match, rx, model, reply in self.rules:
            if model is not None and model != req.model:
                continue
            if match is not None and match in req.prompt:
                return reply
            if rx is not None and rx.search(req.prompt):
                return reply
        raise LLMResponseError(f"no scripted rule matches prompt ending {req.prompt[-80:]!r}")


def load_reply_file(path: str | Path) -> ReplyFn:
    data = read_json(path)
    if not isinstance(data, list) or not data:
        raise DataError(f"{path}: expected a non-empty JSON list of replies or rules")
    if all(isinstance(x, str) for x in data):
        return SequenceReplies(data)
    if all(isinstance(x, dict) for x in data):
        return RuleReplies(data, source=str(path))
    raise DataError(f"{path}: items must be all strings or all rule objects")


#: named reply policies for ``--scripted_policy``: name -> factory. :mod:`autoact.testing`
#: registers its demo pieces (the stages import it), so this module does not import them.
POLICIES: dict[str, Callable[[], ReplyFn]] = {}


def register_policy(name: str, factory: Callable[[], ReplyFn]) -> None:
    POLICIES[name] = factory


def named_policy(name: str) -> ReplyFn:
    from autoact.errors import ConfigError
    if name not in POLICIES:
        raise ConfigError(f"unknown scripted policy {name!r}; valid: {', '.join(POLICIES)}")
    return POLICIES[name]()


def as_reply_fn(replies: ReplyFn | Sequence[str] | str | Path) -> ReplyFn:
    if callable(replies):
        return replies
    if isinstance(replies, (str, Path)):
        return load_reply_file(replies)
    return SequenceReplies(replies)


class ScriptedLLM(LLM):
    backend = "scripted"

    def __init__(self, replies: ReplyFn | Sequence[str] | str | Path, default_model: str | None = "scripted"):
        super().__init__(default_model)
        self.reply_fn = as_reply_fn(replies)
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def _one(self, req: Request) -> Completion:
        with self._lock:
            self.requests.append(req)
        p = req.params
        self.decoding.add("chat" if req.messages is not None else "completions", {
            "temperature": p.temperature, "top_p": p.top_p, "top_k": p.top_k,
            "max_tokens": p.max_tokens, "stop": list(p.stop), "n": p.n, "num_beams": p.num_beams,
            "seeded": p.seed is not None})
        texts, reasons = [], []
        for _ in range(req.params.n):
            text, reason = finish(self.reply_fn(req), req.params)
            texts.append(text)
            reasons.append(reason)
        return Completion(texts, whitespace_tokens(req.prompt),
                          sum(whitespace_tokens(t) for t in texts), reasons)

    def _complete(self, prompts, models, params):
        return [self._one(Request(p, m, params)) for p, m in zip(prompts, models)]

    def _chat(self, conversations, models, params):
        return [self._one(Request(render_messages(c), m, params, tuple(c)))
                for c, m in zip(conversations, models)]

    def count_tokens(self, text: str) -> int:
        return whitespace_tokens(text)
