"""Model backends behind one interface (:class:`~autoact.llm.base.LLM`).

* ``openai``: any OpenAI-compatible server (vLLM, SGLang, FastChat, llama.cpp, OpenAI);
* ``hf``: a local transformers model with LoRA adapters (peft), batched across threads;
* ``scripted``: deterministic replies (tests, offline demo).

Stage scripts call :func:`add_llm_args` on their parser and :func:`make_llm` in ``main``.
"""

from __future__ import annotations

import argparse
import os

from autoact.cli import non_negative_int, positive_float, positive_int
from autoact.errors import ConfigError
from autoact.llm.base import LLM, Completion, SamplingParams, Usage, truncate_at_stop
from autoact.llm.models import MODEL_DIR_ENV, ROLES, RoleMap, no_model_error, resolve_local_model

__all__ = ["LLM", "Completion", "SamplingParams", "Usage", "RoleMap", "ROLES",
           "truncate_at_stop", "add_llm_args", "make_llm", "parse_adapters"]

BACKENDS = ("auto", "openai", "hf", "scripted")


def add_llm_args(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model backend")
    g.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="auto: scripted if --scripted_replies is given, else openai if a server URL "
                        "is set (--base_url / $OPENAI_BASE_URL), else hf if the model resolves to a "
                        "local folder")
    g.add_argument("--base_url", "--openai_base", dest="base_url", action="append", default=None,
                   help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1 (default: "
                        "$OPENAI_BASE_URL); repeat it or separate URLs by commas to spread the "
                        "requests over several servers (a failing one is rested)")
    g.add_argument("--api_key", "--openai_key", dest="api_key", default=None,
                   help="API key (default: $OPENAI_API_KEY; a local server needs none; never logged)")
    g.add_argument("--api", choices=("completion", "chat"), default="completion",
                   help="openai backend: send prompts to /completions (default) or wrap them as a "
                        "user message for /chat/completions")
    g.add_argument("--request_timeout", type=positive_float, default=120.0,
                   help="seconds per HTTP request before it counts as failed (default 120)")
    g.add_argument("--max_retries", type=non_negative_int, default=4,
                   help="retries per request on connection errors, 429, 5xx and malformed replies")
    g.add_argument("--max_in_flight", type=positive_int, default=64,
                   help="most HTTP requests in flight at once (default 64)")
    g.add_argument("--model_path", default=None,
                   help="hf backend: local model folder (default: resolve the model name via "
                        "$AUTOACT_MODEL_DIR/<name> or the local Hugging Face cache)")
    g.add_argument("--adapter", action="append", default=[], metavar="NAME=PATH",
                   help="hf backend: a LoRA adapter folder to load under NAME (repeatable)")
    g.add_argument("--dtype", default="auto",
                   choices=("auto", "float32", "float16", "bfloat16"),
                   help="hf backend: weights dtype (auto: bf16/fp16 on GPU, fp32 on CPU)")
    g.add_argument("--device", default="auto", help="hf backend: cpu, cuda, cuda:1 ... (default auto)")
    g.add_argument("--max_batch_size", type=positive_int, default=16,
                   help="hf backend: most rows per generate() call (default 16)")
    g.add_argument("--trust_remote_code", action="store_true",
                   help="hf backend: allow model code from the model folder (off by default)")
    g.add_argument("--scripted_replies", default=None, metavar="FILE",
                   help="scripted backend: JSON list of replies or match/pattern rules")
    g.add_argument("--scripted_policy", default=None, metavar="NAME",
                   help="scripted backend: a built-in reply policy: demo_teacher (the offline "
                        "smoke pipeline's scripted Meta-Agent, not a model) or react")


def parse_adapters(specs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise ConfigError(f"--adapter expects NAME=PATH, got {spec!r}")
        out[name] = path
    return out


def make_llm(args: argparse.Namespace, model_name: str | None = None,
             adapters: dict[str, str] | None = None, check: bool = True) -> LLM:
    """Build the backend the flags ask for. ``model_name`` is the stage's model flag
    (``--model_name``/``--llm_name``), resolved through the alias table.
    """
    backend = args.backend
    base_url = args.base_url or os.environ.get("OPENAI_BASE_URL")
    adapters = {**parse_adapters(getattr(args, "adapter", []) or []), **(adapters or {})}
    scripted = getattr(args, "scripted_replies", None) or getattr(args, "scripted_policy", None)
    if backend == "auto":
        if scripted:
            backend = "scripted"
        elif base_url:
            backend = "openai"
        elif args.model_path or (model_name and resolve_local_model(model_name)):
            backend = "hf"
        else:
            raise no_model_error(model_name or "(no model name)")
    if backend == "scripted":
        if not scripted:
            raise ConfigError("--backend scripted needs --scripted_replies FILE or --scripted_policy NAME")
        from autoact.llm.scripted import ScriptedLLM, named_policy
        replies = named_policy(args.scripted_policy) if getattr(args, "scripted_policy", None) \
            else args.scripted_replies
        return ScriptedLLM(replies, default_model=model_name or "scripted")
    if backend == "openai":
        if not base_url:
            raise ConfigError("--backend openai needs a server: pass --base_url URL or set OPENAI_BASE_URL")
        from autoact.llm.openai_backend import OpenAILLM
        llm = OpenAILLM(base_url, args.api_key, model_name, api=args.api,
                        timeout=args.request_timeout, max_retries=args.max_retries,
                        max_in_flight=args.max_in_flight)
        if check:
            llm.check([model_name] if model_name else [])
        return llm
    # hf
    path = args.model_path or (model_name and resolve_local_model(model_name))
    if not path:
        raise ConfigError(f"--backend hf needs a local model for {model_name or '(no model name)'!r}: "
                          f"pass --model_path DIR (or put it at ${MODEL_DIR_ENV}/{model_name}); "
                          f"--base_url is used only by --backend openai")
    from autoact.llm.hf_backend import HFLLM
    return HFLLM(path, adapters, default_model=model_name, dtype=args.dtype, device=args.device,
                 max_batch_size=args.max_batch_size, trust_remote_code=args.trust_remote_code)
