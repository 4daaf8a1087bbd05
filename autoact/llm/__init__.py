"""Model backends behind one interface (:class:`~autoact.llm.base.LLM`).

* ``openai``: any OpenAI-compatible server (vLLM, SGLang, FastChat, llama.cpp, OpenAI);
* ``hf``: a local transformers model with LoRA adapters (peft), batched across threads;
* ``scripted``: deterministic replies (tests, offline demo).

A stage's settings inherit :class:`LLMSettings` (the backend flags) and its ``run`` calls
:func:`make_llm` with them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from autoact.errors import ConfigError
from autoact.llm.base import LLM, Completion, SamplingParams, Usage, truncate_at_stop
from autoact.llm.models import MODEL_DIR_ENV, ROLES, RoleMap, no_model_error, resolve_local_model
from autoact.settings import from_args, non_negative_int, option, positive_float, positive_int

__all__ = ["LLM", "Completion", "SamplingParams", "Usage", "RoleMap", "ROLES",
           "truncate_at_stop", "LLMSettings", "make_llm", "parse_adapters"]

BACKENDS = ("auto", "openai", "hf", "scripted")


_LLM = "model backend"


@dataclass
class LLMSettings:
    """Which model backend a stage talks to and how (the "model backend" flags)."""
    backend: str = option("auto", choices=BACKENDS, group=_LLM,
                          help="auto: scripted if --scripted_replies is given, else openai if a server URL "
                               "is set (--base_url / $OPENAI_BASE_URL), else hf if the model resolves to a "
                               "local folder")
    base_url: list | None = option(None, kind="append", aliases=("--openai_base",), group=_LLM,
                                   help="OpenAI-compatible server URL, e.g. http://127.0.0.1:8000/v1 (default: "
                                        "$OPENAI_BASE_URL); repeat it or separate URLs by commas to spread the "
                                        "requests over several servers (a failing one is rested)")
    api_key: str | None = option(None, aliases=("--openai_key",), group=_LLM,
                                 help="API key (default: $OPENAI_API_KEY; a local server needs none; never logged)")
    api: str = option("completion", choices=("completion", "chat"), group=_LLM,
                      help="openai backend: send prompts to /completions (default) or wrap them as a "
                           "user message for /chat/completions")
    request_timeout: float = option(120.0, type=positive_float, group=_LLM,
                                    help="seconds per HTTP request before it counts as failed (default 120)")
    max_retries: int = option(4, type=non_negative_int, group=_LLM,
                              help="retries per request on connection errors, 429, 5xx and malformed replies")
    max_in_flight: int = option(64, type=positive_int, group=_LLM,
                                help="most HTTP requests in flight at once (default 64)")
    model_path: str | None = option(None, group=_LLM,
                                    help="hf backend: local model folder (default: resolve the model name via "
                                         "$AUTOACT_MODEL_DIR/<name> or the local Hugging Face cache)")
    adapter: list = option(factory=list, kind="append", metavar="NAME=PATH", group=_LLM,
                           help="hf backend: a LoRA adapter folder to load under NAME (repeatable)")
    dtype: str = option("auto", choices=("auto", "float32", "float16", "bfloat16"), group=_LLM,
                        help="hf backend: weights dtype (auto: bf16/fp16 on GPU, fp32 on CPU)")
    device: str = option("auto", group=_LLM, help="hf backend: cpu, cuda, cuda:1 ... (default auto)")
    max_batch_size: int = option(16, type=positive_int, group=_LLM,
                                 help="hf backend: most rows decoded together (the running batch; a generate() "
                                      "call for models without continuous batching); also how many questions "
                                      "an evaluation runs at once unless --workers says (default 16)")
    prefix_cache_mb: int = option(1024, type=non_negative_int, group=_LLM,
                                  help="hf backend: memory for the key/value cache of past prompts, from which a "
                                       "new prompt's shared prefix (the instruction, a question's scratchpad) is "
                                       "reused instead of recomputed; greedy outputs are the same (default 1024; "
                                       "0: off)")
    trust_remote_code: bool = option(False, kind="switch", group=_LLM,
                                     help="hf backend: allow model code from the model folder (off by default)")
    scripted_replies: str | None = option(None, metavar="FILE", group=_LLM,
                                          help="scripted backend: JSON list of replies or match/pattern rules")
    scripted_policy: str | None = option(None, metavar="NAME", group=_LLM,
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


def make_llm(settings: LLMSettings, model_name: str | None = None,
             adapters: dict[str, str] | None = None, check: bool = True) -> LLM:
    """Build the backend ``settings`` ask for (an :class:`LLMSettings`, or any object with
    its fields). ``model_name`` is the stage's model flag (``--model_name``/
    ``--llm_name``), resolved through the alias table.
    """
    s = from_args(LLMSettings, settings)
    backend = s.backend
    base_url = s.base_url or os.environ.get("OPENAI_BASE_URL")
    adapters = {**parse_adapters(s.adapter or []), **(adapters or {})}
    scripted = s.scripted_replies or s.scripted_policy
    if backend == "auto":
        if scripted:
            backend = "scripted"
        elif base_url:
            backend = "openai"
        elif s.model_path or (model_name and resolve_local_model(model_name)):
            backend = "hf"
        else:
            raise no_model_error(model_name or "(no model name)")
    if backend == "scripted":
        if not scripted:
            raise ConfigError("--backend scripted needs --scripted_replies FILE or --scripted_policy NAME")
        from autoact.llm.scripted import ScriptedLLM, named_policy
        replies = named_policy(s.scripted_policy) if s.scripted_policy \
            else s.scripted_replies
        return ScriptedLLM(replies, default_model=model_name or "scripted")
    if backend == "openai":
        if not base_url:
            raise ConfigError("--backend openai needs a server: pass --base_url URL or set OPENAI_BASE_URL")
        from autoact.llm.openai_backend import OpenAILLM
        llm = OpenAILLM(base_url, s.api_key, model_name, api=s.api,
                        timeout=s.request_timeout, max_retries=s.max_retries,
                        max_in_flight=s.max_in_flight)
        if check:
            llm.check([model_name] if model_name else [])
        return llm
    # hf
    path = s.model_path or (model_name and resolve_local_model(model_name))
    if not path:
        raise ConfigError(f"--backend hf needs a local model for {model_name or '(no model name)'!r}: "
                          f"pass --model_path DIR (or put it at ${MODEL_DIR_ENV}/{model_name}); "
                          f"--base_url is used only by --backend openai")
    from autoact.llm.hf_backend import HFLLM
    return HFLLM(path, adapters, default_model=model_name, dtype=s.dtype, device=s.device,
                 max_batch_size=s.max_batch_size, trust_remote_code=s.trust_remote_code,
                 prefix_cache_mb=s.prefix_cache_mb)
