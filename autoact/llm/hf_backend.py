"""Local transformers + peft backend: one base model, several LoRA adapters, mixed batches.

The base model is loaded once; each adapter is loaded by name with ``load_adapter`` (adapters
cost only their LoRA weights). One ``generate`` call may mix adapters: peft routes each row
through its own adapter (``adapter_names=[...]``; ``"__base__"`` is the bare base model).

Calls from many threads are batched together: a single worker thread owns the model, collects
the requests that arrive within ``batch_wait`` seconds (up to ``max_batch_size`` rows), groups
them by sampling settings and runs one left-padded ``generate`` per group. Each row stops at
its own stop strings and ``max_tokens``.

``num_beams`` is not applied here: decoding samples (or is greedy) as the other settings say,
which is what the reference's FastChat server did with the ``num_beams`` it was sent (its
request schema has no such field, so it was dropped). A notice says so once.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from transformers import StoppingCriteria

from autoact.errors import ConfigError
from autoact.llm.base import LLM, Completion, Message, SamplingParams, truncate_at_stop

log = logging.getLogger(__name__)
# peft still calls a transformers method that 5.x deprecated; nothing for users to act on
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)

BASE = "__base__"


@dataclass
class _Job:
    prompt: str
    model: str              # adapter name or BASE
    params: SamplingParams
    future: Future


def _group_key(p: SamplingParams) -> tuple:
    """Rows in one generate() must share these; stop strings and max_tokens are per row.
    Seeds are not part of the key (per-question seeds would forbid all batching): a sampled
    batch seeds the generator with its first row's seed, so sampling is reproducible for the
    same batch composition, and greedy decoding does not depend on it."""
    return (p.greedy, p.temperature if not p.greedy else 0.0, p.top_p, p.top_k)


def resolve_dtype(dtype: str, device: str):
    if dtype == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    table = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16,
             "fp16": torch.float16, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
    if dtype not in table:
        raise ConfigError(f"--dtype must be one of auto, {', '.join(table)}; got {dtype!r}")
    return table[dtype]


def resolve_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is available on this machine; use --device cpu")
    return device


def first_line(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    if not lines:
        return type(err).__name__
    head = lines[0] if not lines[0].endswith(":") or len(lines) < 2 else f"{lines[0]} {lines[1]}"
    return f"{type(err).__name__}: {head[:240]}"


def check_adapter_dir(name: str, path: str | Path) -> Path:
    p = Path(path)
    if not (p / "adapter_config.json").is_file():
        raise ConfigError(f"adapter {name!r}: {p} is not a LoRA adapter folder "
                          f"(no adapter_config.json)")
    return p


class HFLLM(LLM):
    backend = "hf"

    def __init__(self, model_path: str, adapters: dict[str, str] | None = None, *,
                 default_model: str | None = None, dtype: str = "auto", device: str = "auto",
                 max_batch_size: int = 16, batch_wait: float = 0.01,
                 trust_remote_code: bool = False):
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model_path = str(model_path)
        if Path(self.model_path).expanduser().exists() and not (Path(self.model_path) / "config.json").is_file():
            raise ConfigError(f"{self.model_path}: not a model folder (no config.json)")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        adapters = dict(adapters or {})
        for name, path in adapters.items():
            if name == BASE:
                raise ConfigError(f"adapter name {BASE!r} is reserved for the base model")
            check_adapter_dir(name, path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                self.model_path, padding_side="left", trust_remote_code=trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(
                self.model_path, dtype=self.dtype, trust_remote_code=trust_remote_code)
        except Exception as err:        # noqa: BLE001 - a user's file: any failure is one line
            raise ConfigError(f"cannot load model {self.model_path!r}: {first_line(err)}") from None
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.adapter_names = list(adapters)
        if adapters:
            from peft import PeftModel
            for i, (name, path) in enumerate(adapters.items()):
                try:
                    if i == 0:
                        model = PeftModel.from_pretrained(model, path, adapter_name=name)
                    else:
                        model.load_adapter(path, adapter_name=name)
                except Exception as err:    # noqa: BLE001 - truncated weights, bad config, other base
                    raise ConfigError(f"adapter {name!r}: cannot load {path} ({first_line(err)}); "
                                      f"is it a complete LoRA adapter trained on {self.model_path}?") from None
        self.model = model.to(self.device).eval()
        self.base_name = default_model or Path(self.model_path.rstrip("/")).name
        super().__init__(self.base_name)
        self.max_batch_size = max_batch_size
        self.batch_wait = batch_wait
        self.batches = 0          # generate() calls made, for benchmarks and tests
        self._beams_noted = False
        self._tok_lock = threading.Lock()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="autoact-hf", daemon=True)
        self._worker.start()

    # -- names --------------------------------------------------------------------------------
    def _adapter_for(self, model: str | None) -> str:
        if model in (None, "", BASE, self.base_name, self.model_path):
            return BASE
        if model in self.adapter_names:
            return model
        raise ConfigError(f"model {model!r} is not loaded; this hf backend has the base "
                          f"{self.base_name!r} and adapters: {', '.join(self.adapter_names) or '(none)'}")

    # -- public ------------------------------------------------------------------------------
    def _complete(self, prompts, models, params):
        names = [self._adapter_for(m) for m in models]
        if params.num_beams > 1 and not self._beams_noted:
            self._beams_noted = True
            log.warning("notice: num_beams %d is not applied by the local (hf) backend; it decodes "
                        "with the temperature, top_p and top_k given", params.num_beams)
        jobs = []
        for prompt, name in zip(prompts, names):
            for _ in range(params.n):
                jobs.append(_Job(prompt, name, params, Future()))
        for job in jobs:
            self._queue.put(job)
        results = [job.future.result() for job in jobs]
        out = []
        for i in range(len(prompts)):
            rows = results[i * params.n:(i + 1) * params.n]
            out.append(Completion([r[0] for r in rows], rows[0][1], sum(r[2] for r in rows),
                                  [r[3] for r in rows]))
        return out

    def _chat(self, conversations: list[list[Message]], models, params):
        with self._tok_lock:
            if not getattr(self.tokenizer, "chat_template", None):
                raise ConfigError(f"{self.model_path}: the tokenizer has no chat template; use "
                                  f"--api completion")
            prompts = [self.tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                       for c in conversations]
        return self._complete(prompts, models, params)

    def count_tokens(self, text: str) -> int:
        with self._tok_lock:
            return len(self.tokenizer(text)["input_ids"])

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.model_path, "adapters": self.adapter_names,
                "dtype": str(self.dtype).replace("torch.", ""), "device": self.device}

    def close(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=30)

    # -- the worker ----------------------------------------------------------------------------
    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            deadline = time.monotonic() + self.batch_wait
            while len(batch) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                try:
                    nxt = (self._queue.get(timeout=remaining) if remaining > 0
                           else self._queue.get_nowait())
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            groups: dict[tuple, list[_Job]] = {}
            for j in batch:
                groups.setdefault(_group_key(j.params), []).append(j)
            for group in groups.values():
                try:
                    rows = self._generate(group)
                except BaseException as err:  # noqa: BLE001 - delivered to the waiting callers
                    for j in group:
                        j.future.set_exception(err)
                else:
                    for j, row in zip(group, rows):
                        j.future.set_result(row)
            if stop:
                return

    def _generate(self, jobs: list[_Job]) -> list[tuple[str, int, int, str]]:
        """Run one generate() over ``jobs`` (same sampling settings). Returns per row
        (text, prompt_tokens, completion_tokens, finish_reason)."""
        from transformers import GenerationConfig, StoppingCriteriaList

        params = jobs[0].params
        with self._tok_lock:
            enc = self.tokenizer([j.prompt for j in jobs], return_tensors="pt", padding=True)
        input_ids = enc["input_ids"].to(self.device)
        attention = enc["attention_mask"].to(self.device)
        prompt_len = input_ids.shape[1]
        max_new = [j.params.max_tokens for j in jobs]
        stops = [j.params.stop for j in jobs]
        criteria = StoppingCriteriaList([_RowStop(self.tokenizer, prompt_len, stops, max_new,
                                                   self._tok_lock)])
        cfg = GenerationConfig(
            max_new_tokens=max(max_new),
            do_sample=not params.greedy,
            temperature=params.temperature if not params.greedy else None,
            top_p=params.top_p if not params.greedy else None,
            top_k=(params.top_k if params.top_k and params.top_k > 0 else 0) if not params.greedy else None,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        kwargs = {}
        if self.adapter_names:
            kwargs["adapter_names"] = [j.model for j in jobs]
        if params.seed is not None and not params.greedy:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            out = self.model.generate(input_ids=input_ids, attention_mask=attention,
                                      generation_config=cfg, stopping_criteria=criteria, **kwargs)
        self.batches += 1
        for j in jobs:
            p = j.params
            self.decoding.add("generate", {
                "do_sample": not p.greedy, "temperature": p.temperature if not p.greedy else 0.0,
                "top_p": p.top_p if not p.greedy else None,
                "top_k": (p.top_k if p.top_k and p.top_k > 0 else None) if not p.greedy else None,
                "max_tokens": p.max_tokens, "stop": list(p.stop), "num_beams": 1,
                "seeded": p.seed is not None and not p.greedy})
        gen = out[:, prompt_len:].tolist()
        prompt_tokens = attention.sum(dim=1).tolist()
        eos = self.tokenizer.eos_token_id
        rows = []
        with self._tok_lock:
            for i, toks in enumerate(gen):
                toks = toks[:max_new[i]]
                reason = "length"
                if eos is not None and eos in toks:
                    toks = toks[:toks.index(eos)]
                    reason = "stop"
                text = self.tokenizer.decode(toks, skip_special_tokens=True)
                text, stopped = truncate_at_stop(text, stops[i])
                if stopped:
                    reason = "stop"
                rows.append((text, int(prompt_tokens[i]), len(toks), reason))
        return rows


class _RowStop(StoppingCriteria):
    """Per-row stopping: a row is done at its own ``max_tokens`` or when its decoded tail
    contains one of its own stop strings (transformers marks finished rows and pads them)."""

    def __init__(self, tokenizer, prompt_len: int, stops: Sequence[Sequence[str]],
                 max_new: Sequence[int], lock: threading.Lock):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = [tuple(s for s in st if s) for st in stops]
        self.max_new = list(max_new)
        self.window = max((len(s) for st in self.stops for s in st), default=0) + 2
        self.lock = lock

    def __call__(self, input_ids, scores, **kwargs):
        n = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        tails = input_ids[:, max(self.prompt_len, input_ids.shape[1] - self.window):].tolist()
        for i, tail in enumerate(tails):
            if n >= self.max_new[i]:
                done[i] = True
            elif self.stops[i]:
                with self.lock:
                    text = self.tokenizer.decode(tail, skip_special_tokens=True)
                if any(s in text for s in self.stops[i]):
                    done[i] = True
        return done
