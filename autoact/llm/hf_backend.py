"""Local transformers + peft backend: one base model, several LoRA adapters, mixed batches.

The base model is loaded once; each adapter is loaded by name with ``load_adapter`` (adapters
cost their LoRA weights, and merged weight copies for prefills where those fit in
``MERGED_BYTES``). One batch may mix adapters: the LoRA linear layers are replaced by
:class:`_LoraLinear` (the base product once for all rows, then each adapter's rows' low-rank
terms), or, for LoRA kinds it does not cover (DoRA, LoRA biases...), peft routes the rows
(``adapter_names=[...]``). ``"__base__"`` is the bare base model. A closed backend leaves a small
base loaded for the next backend on the same folder (the pipeline's evaluation builds one per
row).

Calls from many threads are served by a single worker thread that owns the model (the loading
thread's idle OpenMP threads are let go, :func:`~autoact.llm.hf_engine.release_idle_threads`). For
full-attention models it batches continuously (:mod:`autoact.llm.hf_engine`): between decoding
steps it prefills what has arrived and adds it to the running batch (up to ``max_batch_size``
rows; an idle worker first waits ``batch_wait`` seconds for company), and each row leaves at its
own stop strings or ``max_tokens``. Other models (sliding windows) get a left-padded
``generate`` per batch, grouped by sampling settings.

Prefix reuse: the key/value cache of every prompt is kept (per adapter, newest first, within
``prefix_cache_mb``), and a new prompt starts from the longest prefix it shares with a kept one:
the agents' shared instruction across all questions, and a question's own scratchpad across its
steps and roles' calls. Rows prefilled together may reuse prefixes of different lengths: each
row's cached part is left-padded to the longest, its new part after it, and the attention mask
skips both paddings (positions follow the mask), so greedy outputs equal the uncached path's
(tested). Used with full-attention models whose positions follow the mask (Llama, Mistral, Qwen
without a sliding window); off otherwise or with ``prefix_cache_mb`` 0.

``num_beams`` is not applied here: decoding samples (or is greedy) as the other settings say,
which is what the reference's FastChat server did with the ``num_beams`` it was sent (its
request schema has no such field, so it was dropped). A notice says so once.
"""

from __future__ import annotations

import logging
import queue
from collections import OrderedDict
import threading
import time
import warnings
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
from transformers import DynamicCache, StoppingCriteria
from transformers.cache_utils import DynamicLayer

from autoact.errors import ConfigError
from autoact.llm.base import LLM, Completion, Message, SamplingParams, truncate_at_stop
from autoact.llm.hf_engine import Row, Slots, pick_tokens, release_idle_threads

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
    copy: int = 0           # which of the prompt's ``n`` samples (their seeds differ)


def _group_key(p: SamplingParams) -> tuple:
    """Rows in one generate() (models without continuous batching) must share these; stop
    strings and max_tokens are per row. Seeds are not part of the key (per-question seeds would
    forbid all batching): a sampled batch seeds the generator with its first row's seed, so
    sampling is reproducible for the same batch composition. In the running batch every seeded
    row samples from its own generator instead."""
    return (p.greedy, p.temperature if not p.greedy else 0.0, p.top_p, p.top_k)


class _PrefixStore:
    """Prompts' token ids and the key/value tensors of their tokens, per adapter, least recently
    used first out once over ``budget`` bytes.

    Finding the kept prompt that shares the longest prefix with a new one does not compare the
    new prompt with every kept one (that scan was 14% of the default run's evaluation time at a
    few hundred kept prompts): each prompt's whole blocks of ``BLOCK`` tokens get chained hashes
    (the hash of block k covers blocks 0..k), an index maps (adapter, hash) to the latest kept
    prompts with that prefix (the latest first), and the longest indexed prefix is checked token
    by token against its prompt. Shared prefixes shorter than one block are not reused."""

    BLOCK = 16

    def __init__(self, budget: int):
        self.budget = budget
        self.used = 0
        # key -> (adapter, token ids, per layer (keys, values), bytes, block hashes)
        self.entries: OrderedDict[int, tuple[str, torch.Tensor, list, int, list[int]]] = OrderedDict()
        self.index: dict[tuple[str, int], dict[int, None]] = {}      # an ordered set of keys
        self._next = 0

    @classmethod
    def _hashes(cls, ids: torch.Tensor) -> list[int]:
        toks = ids.tolist()
        out, h = [], 0
        for start in range(0, len(toks) - cls.BLOCK + 1, cls.BLOCK):
            h = hash((h, *toks[start:start + cls.BLOCK]))
            out.append(h)
        return out

    def best(self, adapter: str, ids: torch.Tensor) -> tuple[int | None, int]:
        """A kept prompt sharing the longest prefix with ``ids`` (same adapter), and its length."""
        hashes = self._hashes(ids)
        for h in reversed(hashes):
            keys = self.index.get((adapter, h))
            if not keys:
                continue
            key = next(reversed(keys))
            kept = self.entries[key][1]
            n = min(len(kept), len(ids))
            diff = (kept[:n] != ids[:n]).nonzero()
            common = int(diff[0]) if len(diff) else n
            if common:          # a hash collision shares nothing; any real hit shares a block
                self.entries.move_to_end(key)
                return key, common
        return None, 0

    def layers(self, key: int) -> list:
        return self.entries[key][2]

    def add(self, adapter: str, ids: torch.Tensor, layers: list) -> None:
        size = sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in layers)
        if size > self.budget:
            return
        key, self._next = self._next, self._next + 1
        hashes = self._hashes(ids)
        self.entries[key] = (adapter, ids, layers, size, hashes)
        for h in hashes:
            self.index.setdefault((adapter, h), {})[key] = None
        self.used += size
        while self.used > self.budget:
            old, (name, _, _, freed, old_hashes) = self.entries.popitem(last=False)
            self.used -= freed
            for h in old_hashes:
                keys = self.index[(name, h)]
                keys.pop(old, None)
                if not keys:
                    del self.index[(name, h)]


class _GrowingLayer(DynamicLayer):
    """A cache layer whose keys/values live in a buffer with room for ``capacity`` positions
    (the prompt and every new token): each decoding step writes its column in place, where the
    stock layer copies the whole cache to append one (``torch.cat``), the largest single cost of
    a decoding step at a few hundred tokens of context and more on a CPU."""

    def __init__(self, capacity: int):
        super().__init__()
        self.capacity = capacity
        self._buf = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = self.get_seq_length()
        m = key_states.shape[-2]
        buf = self._buf
        # a new buffer when none is there yet, when full, or when someone else (crop, beam
        # reordering) replaced the keys with a tensor of their own
        if buf is None or self.keys is not buf[2] or n + m > buf[0].shape[-2]:
            room = max(self.capacity, n + m + 64)
            k = key_states.new_empty((*key_states.shape[:2], room, key_states.shape[3]))
            v = value_states.new_empty((*value_states.shape[:2], room, value_states.shape[3]))
            if n:
                k[:, :, :n] = self.keys
                v[:, :, :n] = self.values
        else:
            k, v = buf[0], buf[1]
        k[:, :, n:n + m] = key_states
        v[:, :, n:n + m] = value_states
        self.keys, self.values = k[:, :, :n + m], v[:, :, :n + m]
        self._buf = (k, v, self.keys)
        return self.keys, self.values


def _growing_cache(num_layers: int, capacity: int, layers: Sequence | None = None) -> DynamicCache:
    """A ``DynamicCache`` of :class:`_GrowingLayer` with room for ``capacity`` positions, filled
    with ``layers`` (per layer (keys, values)) if given."""
    cache = DynamicCache()
    cache.layer_class_to_replicate = None
    cache.layers = [_GrowingLayer(capacity) for _ in range(num_layers)]
    for layer, (k, v) in zip(cache.layers, layers or ()):
        layer.update(k, v)
    return cache


class _Route:
    """Which rows of the running batch take which adapter: per adapter, its rows as a slice
    (consecutive rows) or an index tensor, and every row's adapter number (``ids``, 0 for the
    base, whose rows take no LoRA term). Set before every forward pass (one worker thread runs
    the model)."""

    def __init__(self, names: Sequence[str] = ()):
        self.number = {name: i + 1 for i, name in enumerate(names)}
        self.groups: list[tuple[str, slice | torch.Tensor]] = []
        self.runs: list[tuple[int, int, str]] = []         # consecutive rows of one adapter
        self.ids = torch.zeros(0, dtype=torch.long)

    def set(self, names: Sequence[str], device: str | torch.device = "cpu") -> None:
        rows: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            if name != BASE:
                rows.setdefault(name, []).append(i)
        self.groups = [(name, slice(r[0], r[-1] + 1) if r[-1] - r[0] + 1 == len(r)
                        else torch.tensor(r, device=device)) for name, r in rows.items()]
        self.ids = torch.tensor([self.number.get(n, 0) for n in names], device=device)
        self.runs = []
        for i, name in enumerate(names):
            if self.runs and self.runs[-1][2] == name:
                self.runs[-1] = (self.runs[-1][0], i + 1, name)
            else:
                self.runs.append((i, i + 1, name))


class _LoraLinear(torch.nn.Module):
    """A linear layer with several LoRA adapters, each row of the batch through its own: the
    base product once for all rows, then each adapter's low-rank term ``x A^T (s B)^T``; or,
    where the weights could be merged (``merged``: per adapter ``W + s B A``, within a memory
    budget) and the rows bring many tokens each (a prefill, compute-bound), each run of rows of
    one adapter through its merged weight: the low-rank products' arithmetic saved.

    Two ways to add the terms, the same sums: per adapter on its own rows (rows sorted by
    adapter are slices, so no gathering), or, where that costs more in small operations than
    in arithmetic (a decoding step through a narrow layer), every row through all adapters'
    stacked ``A`` at once with the other adapters' columns masked to zero, then the stacked
    ``B``: two products whatever the number of adapters."""

    #: most extra multiply-adds the stacked way may cost (computing every adapter for every row)
    STACKED_EXTRA = 8_000_000
    #: fewest tokens per row for the merged weights (a decoding step reads weights, not arithmetic)
    MERGED_TOKENS = 16

    def __init__(self, base: torch.nn.Linear, factors: dict[str, tuple[torch.Tensor, torch.Tensor]],
                 route: _Route, merged: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.weight = base.weight
        self.bias = base.bias
        self.__dict__["base_layer"] = base    # put back when the backend closes; not a submodule
        self.factors = factors        # adapter -> (A, scaling * B); not parameters: inference only
        self.merged = merged
        self.route = route
        self.a_all = torch.cat([a for a, _ in factors.values()])                   # R x in
        self.b_all = torch.cat([b for _, b in factors.values()], dim=1)           # out x R
        # per adapter number (0: the base), which of the R stacked columns are its own
        table = torch.zeros(len(route.number) + 1, self.a_all.shape[0], dtype=self.a_all.dtype,
                            device=self.a_all.device)
        col = 0
        for name, (a, _) in factors.items():
            table[route.number[name], col:col + a.shape[0]] = 1
            col += a.shape[0]
        self.table = table
        rank = self.a_all.shape[0]
        self.extra_per_token = (rank - rank / max(len(factors), 1)) * (base.in_features + base.out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        runs = self.route.runs
        if self.merged is not None and x.dim() == 3 and x.shape[1] >= self.MERGED_TOKENS \
                and runs and runs[-1][1] == x.shape[0]:
            return torch.cat([torch.nn.functional.linear(x[start:end], self.merged.get(name, self.weight), self.bias)
                              for start, end, name in runs])
        y = torch.nn.functional.linear(x, self.weight, self.bias)
        tokens = x.numel() // x.shape[-1]
        if len(self.route.groups) > 1 and tokens * self.extra_per_token <= self.STACKED_EXTRA \
                and self.route.ids.shape[0] == x.shape[0]:
            mask = self.table.index_select(0, self.route.ids)
            mask = mask.view(x.shape[0], *([1] * (x.dim() - 2)), -1)
            y += ((x @ self.a_all.T) * mask) @ self.b_all.T
            return y
        for name, rows in self.route.groups:
            factors = self.factors.get(name)
            if factors is None:
                continue
            a, b = factors
            if isinstance(rows, slice):
                y[rows] += (x[rows] @ a.T) @ b.T
            else:
                y.index_add_(0, rows, (x.index_select(0, rows) @ a.T) @ b.T)
        return y


def _lean_adapters(model, names: Sequence[str]):
    """The peft ``model``'s base with every LoRA linear layer replaced by a :class:`_LoraLinear`
    and the route that steers rows through them, or None where that cannot be done exactly
    (LoRA variants such as DoRA, LoRA biases, fully trained modules, non-linear or transposed
    LoRA layers). peft's own mixed-batch path recomputes every adapter's row list in
    Python, gathers and scatters the rows in every layer: 36% of the default run's evaluation."""
    from peft.tuners.lora import Linear as LoraLinear
    from peft.tuners.lora import LoraLayer

    base = model.get_base_model()
    found = []
    for path, module in base.named_modules():
        kind = type(module).__name__
        if kind in ("ModulesToSaveWrapper", "TrainableTokensWrapper", "TrainableTokensLayer"):
            return None
        if not isinstance(module, LoraLayer):
            continue
        if not isinstance(module, LoraLinear) or not isinstance(module.base_layer, torch.nn.Linear) \
                or module.fan_in_fan_out or getattr(module, "lora_variant", None) \
                or any(getattr(module, "lora_bias", {}).values()):
            return None
        found.append((path, module))
    if not found:
        return None
    route = _Route(names)
    copies = sum(m.base_layer.weight.numel() * m.base_layer.weight.element_size() * len(m.lora_A) for _, m in found)
    with torch.no_grad():
        for path, module in found:
            factors = {n: (module.lora_A[n].weight.detach(), (module.lora_B[n].weight * module.scaling[n]).detach())
                       for n in names if n in module.lora_A}
            w = module.base_layer.weight
            merged = {n: (w.float() + b.float() @ a.float()).to(w.dtype) for n, (a, b) in factors.items()} \
                if copies <= MERGED_BYTES else None
            parent_path, _, attr = path.rpartition(".")
            setattr(base.get_submodule(parent_path) if parent_path else base, attr,
                    _LoraLinear(module.base_layer, factors, route, merged))
    return base, route


#: most memory for the adapters' merged weight copies (prefills use them; over it, none are made)
MERGED_BYTES = 1 * 2**30

#: a closed backend's base of at most this size stays loaded for the next backend on it
SPARE_BYTES = 2 * 2**30
_SPARE: dict[tuple, tuple] = {}


def _spare_key(model_path: str, dtype, device: str, trust_remote_code: bool) -> tuple | None:
    """What a kept base must match: the folder, each file's size and time, and the settings."""
    folder = Path(model_path).expanduser()
    if not folder.is_dir():
        return None
    files = tuple(sorted((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file()))
    return str(folder.resolve()), files, str(dtype), device, trust_remote_code


#: model types whose positions follow the attention mask in generate() and whose layers all
#: attend to the whole context: the prefix cache's layout is exact for them
PREFIX_CACHE_MODELS = ("llama", "mistral", "qwen2", "qwen3")


def prefix_cache_ok(config) -> bool:
    layer_types = getattr(config, "layer_types", None) or ["full_attention"]
    return getattr(config, "model_type", "") in PREFIX_CACHE_MODELS and not getattr(config, "sliding_window", None) \
        and all(t == "full_attention" for t in layer_types)


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
                 trust_remote_code: bool = False, prefix_cache_mb: int = 1024, lean_lora: bool = True,
                 continuous: bool = True):
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
        self._spare_key = _spare_key(self.model_path, self.dtype, self.device, trust_remote_code)
        spare = _SPARE.pop(self._spare_key, None) if self._spare_key else None
        if spare is not None:           # the base a closed backend left, its adapters taken off
            self.tokenizer, model = spare
        else:
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
        model = model.to(self.device).eval()
        # LoRA layers of our own for mixed batches (the base product once, each adapter's rows'
        # low-rank term added in place) where they are exact; peft's otherwise
        self.route = None
        if adapters and lean_lora:
            lean = _lean_adapters(model, self.adapter_names)
            if lean is not None:
                model, self.route = lean
        self.model = model
        self.base_name = default_model or Path(self.model_path.rstrip("/")).name
        super().__init__(self.base_name)
        self.max_batch_size = max_batch_size
        self.batch_wait = batch_wait
        self.batches = 0          # generate() calls or prefill passes made, for benchmarks and tests
        # full-attention models get the growing key/value cache and may keep prefixes; others
        # (sliding windows) decode with generate()'s own cache, which knows their layer types
        self.full_attention = prefix_cache_ok(self.model.config)      # peft passes the base's
        use_prefix = prefix_cache_mb > 0 and self.full_attention
        self.prefixes = _PrefixStore(prefix_cache_mb * 2**20) if use_prefix else None
        self.prompt_tokens = 0    # prompt tokens of every row, and those read from the prefix cache
        self.reused_tokens = 0
        self._beams_noted = False
        self._tok_lock = threading.Lock()
        # continuous batching (rows join and leave between decoding steps) for full-attention
        # models; generate() per batch otherwise
        self.continuous = continuous and self.full_attention
        self.steps = 0            # decoding steps of the running batch
        if self.continuous:
            self._slots = Slots(max_batch_size)
            self._template = None
            self._rows: list = []
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._worker = threading.Thread(target=self._loop, name="autoact-hf", daemon=True)
        self._worker.start()
        if self.device == "cpu":
            release_idle_threads()      # the worker computes from here on: one OpenMP team, not two

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
            for k in range(params.n):
                jobs.append(_Job(prompt, name, params, Future(), k))
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
        out = {"backend": self.backend, "model": self.model_path, "adapters": self.adapter_names,
               "dtype": str(self.dtype).replace("torch.", ""), "device": self.device}
        if self.adapter_names:
            out["lora_layers"] = "autoact" if self.route is not None else "peft"
        return out

    def close(self) -> None:
        if self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=30)
        if self._worker.is_alive() or self._spare_key is None or self.model is None:
            return
        # a small base stays loaded for the next backend on it in this process (the pipeline's
        # evaluation builds one per row): its adapters taken off, the base as loaded
        model, self.model = self.model, None
        if self.route is not None:
            for path, module in list(model.named_modules()):
                if isinstance(module, _LoraLinear):
                    parent, _, attr = path.rpartition(".")
                    setattr(model.get_submodule(parent) if parent else model, attr, module.base_layer)
        elif self.adapter_names:
            model = model.unload()
        model.__dict__.pop("peft_config", None)       # peft's mark on a base it wrapped
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        if size <= SPARE_BYTES:
            _SPARE.clear()
            _SPARE[self._spare_key] = (self.tokenizer, model)

    # -- the worker ----------------------------------------------------------------------------
    def _collect(self, first: _Job) -> tuple[list[_Job], bool]:
        """``first`` and what arrives within ``batch_wait`` (up to ``max_batch_size`` rows);
        True if close() was asked meanwhile."""
        batch = [first]
        deadline = time.monotonic() + self.batch_wait
        while len(batch) < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                nxt = (self._queue.get(timeout=remaining) if remaining > 0
                       else self._queue.get_nowait())
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
        return batch, False

    def _loop(self) -> None:
        if self.continuous:
            return self._serve()
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch, stop = self._collect(job)
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

    def _serve(self) -> None:
        """The continuous-batching worker (:mod:`autoact.llm.hf_engine`): between decoding
        steps, admit what has arrived (up to ``max_batch_size`` running rows) and hand back
        the rows that finished."""
        waiting: list[_Job] = []
        closing = False
        while True:
            if not self._rows and not waiting:
                if closing:
                    return
                job = self._queue.get()
                if job is None:
                    return
                waiting, closing = self._collect(job)
            else:
                while not closing:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        closing = True
                    else:
                        waiting.append(nxt)
            free = self.max_batch_size - len(self._rows)
            if waiting and free > 0:
                self._admit(waiting[:free])
                waiting = waiting[free:]
            if self._rows:
                self._step()

    def _admit(self, jobs: list[_Job]) -> None:
        """Prefill ``jobs`` (a forward pass per part), keep their prompts, pick their first
        tokens and place them in the running batch; a job that fails gets its exception."""
        try:
            parts = self._parts(jobs)
        except BaseException as err:  # noqa: BLE001 - delivered to the waiting callers
            for j in jobs:
                j.future.set_exception(err)
            return
        for part_jobs, ids, hits, cached in parts:
            try:
                input_ids, attention, width_c = self._layout(ids, cached)
                # straight into the running batch's buffers: the kept prefixes, then the new parts
                rows, start = self._slots.open(attention, self._kv_template())
                for row, (key, _), c in zip(range(rows.start, rows.stop), hits, cached):
                    if c:
                        self._slots.write(row, start + width_c - c, self.prefixes.layers(key), c)
                cache = self._slots.cache(rows, start, start + width_c)
                positions = attention.cumsum(-1) - 1
                positions.masked_fill_(attention == 0, 1)
                with torch.inference_mode():
                    out = self.model(input_ids=input_ids[:, width_c:], attention_mask=attention,
                                     position_ids=positions[:, width_c:], cache=cache, use_cache=True,
                                     logits_to_keep=1, **self._adapters_for([j.model for j in part_jobs]))
                self.batches += 1
                self._note(part_jobs, ids, cached)
                if self.prefixes is not None:
                    self._keep_prompts(part_jobs, ids, cached, width_c, input_ids.shape[1] - width_c, cache)
                # a seeded request samples from its own generator: the same text whatever runs beside it
                generators = [torch.Generator(self.device).manual_seed(j.params.seed + 7919 * j.copy)
                              if j.params.seed is not None and not j.params.greedy else None for j in part_jobs]
                first = pick_tokens(out.logits[:, -1], [j.params for j in part_jobs], generators)
                counts = attention.sum(dim=1).tolist()
                self._slots.commit(attention)
            except BaseException as err:  # noqa: BLE001 - delivered to the waiting callers
                for j in part_jobs:
                    j.future.set_exception(err)
                continue
            for j, n, tok, gen in zip(part_jobs, counts, first, generators):
                self._rows.append(Row(j, n, n, tok, [tok], gen))
        self._finish_done()

    def _step(self) -> None:
        """One decoding step for every running row."""
        rows = self._rows
        try:
            attention, cache = self._slots.step_inputs()
            tokens = torch.tensor([[r.last] for r in rows], device=self.device)
            positions = torch.tensor([[r.position] for r in rows], device=self.device)
            kwargs = self._adapters_for([r.job.model for r in rows])
            # one new column per row: the 4-D mask (True: attend) is the padding mask as it is,
            # which the model would otherwise rebuild through its general mask functions
            with torch.inference_mode():
                out = self.model(input_ids=tokens, attention_mask=attention[:, None, None, :].bool(),
                                 position_ids=positions, cache=cache, use_cache=True, **kwargs)
            self._slots.advance()
            self.steps += 1
            picked = pick_tokens(out.logits[:, -1], [r.job.params for r in rows], [r.generator for r in rows])
        except BaseException as err:  # noqa: BLE001 - delivered to the waiting callers
            for r in rows:
                r.job.future.set_exception(err)
            self._rows.clear()
            self._slots.reset()
            return
        for r, tok in zip(rows, picked):
            r.position += 1
            r.last = tok
            r.tokens.append(tok)
        self._finish_done()

    def _finish_done(self) -> None:
        """Hand back the running rows that reached their end-of-text token, one of their stop
        strings or their token limit, and free their places (the last row moves in)."""
        eos = self.tokenizer.eos_token_id
        for i in range(len(self._rows) - 1, -1, -1):
            r = self._rows[i]
            p = r.job.params
            done = len(r.tokens) >= p.max_tokens or (eos is not None and r.tokens[-1] == eos)
            if not done and p.stop:
                done = _tail_stops(self.tokenizer, self._tok_lock, r.tokens[-_stop_window(p.stop):], p.stop)
            if done:
                r.job.future.set_result(self._result(r.tokens, r.prompt_tokens, p))
                self._slots.remove(i)
                self._rows[i] = self._rows[-1]
                self._rows.pop()

    def _adapters_for(self, names: list[str]) -> dict:
        """Steer the next forward pass's rows through their adapters: our LoRA layers read the
        route; peft's take ``adapter_names``, returned as the call's keyword arguments."""
        if self.route is not None:
            self.route.set(names, self.device)
            return {}
        return {"adapter_names": names} if self.adapter_names else {}

    def _parts(self, jobs: list[_Job]) -> list[tuple[list[_Job], list, list, list]]:
        """``jobs`` tokenised and matched against the prefix cache, in parts to prefill together:
        (jobs, token ids, kept prompt each reuses, how much). Rows whose new part (after the
        prefix read from the cache) is much longer than the others' form a part of their own:
        in one part, every row pays for the longest new part. Rows are sorted by adapter (each
        adapter's rows are then one slice in every LoRA layer)."""
        with self._tok_lock:
            ids = [torch.tensor(x, dtype=torch.long) for x in self.tokenizer([j.prompt for j in jobs])["input_ids"]]
        # each row: the longest prefix of a kept prompt (same adapter), leaving one token to run
        hits = [self.prefixes.best(j.model, x) if self.prefixes is not None else (None, 0) for j, x in zip(jobs, ids)]
        if self.prefixes is not None and self._share_prefixes(jobs, ids, hits):
            hits = [self.prefixes.best(j.model, x) for j, x in zip(jobs, ids)]
        cached = [min(n, len(x) - 1) if key is not None else 0 for (key, n), x in zip(hits, ids)]
        new = [len(x) - c for x, c in zip(ids, cached)]
        short = min(new)
        order = sorted(range(len(jobs)), key=lambda i: jobs[i].model)
        parts = [[i for i in order if self.prefixes is None or new[i] <= 4 * short + 64]]
        parts.append([i for i in order if i not in parts[0]])
        return [([jobs[i] for i in part], [ids[i] for i in part], [hits[i] for i in part], [cached[i] for i in part])
                for part in parts if part]

    def _share_prefixes(self, jobs, ids, hits) -> bool:
        """Prefill once, and keep, the prefix that several new rows of one adapter share beyond
        what the cache holds (the instruction every question's first call shares): each row then
        reads it from the cache instead of computing it again. True if any was kept."""
        block = _PrefixStore.BLOCK
        by_adapter: dict[str, list[int]] = {}
        for i, j in enumerate(jobs):
            by_adapter.setdefault(j.model, []).append(i)
        kept = False
        for adapter, rows in by_adapter.items():
            if len(rows) < 2:
                continue
            width = min(len(ids[i]) for i in rows) - 1
            if width < block:
                continue
            same = torch.stack([ids[i][:width] for i in rows])
            agree = (same == same[0]).all(dim=0)
            common = int(agree.to(torch.long).cumprod(0).sum())
            gain = sum(common - hits[i][1] for i in rows if common - hits[i][1] >= block)
            if common < block or gain < 2 * common:        # it must save more than it costs
                continue
            prefix = ids[rows[0]][:common]
            self.prefixes.add(adapter, prefix, self._prefill_alone(adapter, prefix))
            kept = True
        return kept

    def _run_alone(self, adapter: str, ids: torch.Tensor) -> list:
        """Per layer (keys, values) of the token ``ids`` run alone through ``adapter``."""
        cache = _growing_cache(self.model.config.num_hidden_layers, len(ids))
        with torch.inference_mode():
            self.model(input_ids=ids[None].to(self.device), cache=cache, use_cache=True, logits_to_keep=1,
                       **self._adapters_for([adapter]))
        return [(layer.keys, layer.values) for layer in cache.layers]

    def _prefill_alone(self, adapter: str, prefix: torch.Tensor) -> list:
        """The key/values of ``prefix`` run alone through ``adapter``, per layer (their own
        tensors, not views of the cache's larger buffers)."""
        self.batches += 1
        return [(k.clone(), v.clone()) for k, v in self._run_alone(adapter, prefix)]

    def _generate(self, jobs: list[_Job]) -> list[tuple[str, int, int, str]]:
        """Run ``jobs`` (same sampling settings) with generate(), a call per part; returns per
        row (text, prompt_tokens, completion_tokens, finish_reason)."""
        out: dict[int, tuple] = {}
        for part in self._parts(jobs):
            for job, row in zip(part[0], self._generate_rows(*part)):
                out[id(job)] = row
        return [out[id(j)] for j in jobs]

    def _layout(self, ids, cached):
        """Rows laid out ``[pad][cached part][pad][new part]``: token ids, attention mask and
        the cached width."""
        width_c = max(cached)
        width_s = max(len(x) - c for x, c in zip(ids, cached))
        pad = self.tokenizer.pad_token_id
        rows, masks = [], []
        for x, c in zip(ids, cached):
            s = len(x) - c
            rows.append(torch.cat([torch.full((width_c - c,), pad), x[:c], torch.full((width_s - s,), pad), x[c:]]))
            masks.append(torch.tensor([0] * (width_c - c) + [1] * c + [0] * (width_s - s) + [1] * s))
        return torch.stack(rows).to(self.device), torch.stack(masks).to(self.device), width_c

    def _cached_layers(self, hits, cached, width_c):
        """The rows' cached parts' key/values per layer in :meth:`_layout`'s columns (None
        without any)."""
        if not width_c:
            return None
        per_row = [self.prefixes.layers(key) if c else None for (key, _), c in zip(hits, cached)]
        template = next(r for r in per_row if r is not None)
        layers = []
        for layer, (k0, v0) in enumerate(template):
            ks, vs = [], []
            for row, c in zip(per_row, cached):
                k = row[layer][0][:, :, :c] if c else k0[:, :, :0]
                v = row[layer][1][:, :, :c] if c else v0[:, :, :0]
                ks.append(torch.cat([k0.new_zeros((1, k0.shape[1], width_c - c, k0.shape[3])), k], dim=2))
                vs.append(torch.cat([v0.new_zeros((1, v0.shape[1], width_c - c, v0.shape[3])), v], dim=2))
            layers.append((torch.cat(ks).to(self.device), torch.cat(vs).to(self.device)))
        return layers

    def _kv_template(self) -> list:
        """Per layer (keys, values) of one token through the model: the shapes and dtypes of
        the running batch's buffers (found once)."""
        if self._template is None:
            self._template = self._run_alone(BASE, torch.tensor([self.tokenizer.pad_token_id]))
        return self._template

    def _note(self, jobs, ids, cached) -> None:
        """Count the rows' prompt tokens and record their decoding settings."""
        self.prompt_tokens += sum(len(x) for x in ids)
        self.reused_tokens += sum(cached)
        for j in jobs:
            p = j.params
            self.decoding.add("generate", {
                "do_sample": not p.greedy, "temperature": p.temperature if not p.greedy else 0.0,
                "top_p": p.top_p if not p.greedy else None,
                "top_k": (p.top_k if p.top_k and p.top_k > 0 else None) if not p.greedy else None,
                "max_tokens": p.max_tokens, "stop": list(p.stop), "num_beams": 1,
                "seeded": p.seed is not None and not p.greedy})

    def _result(self, toks: list[int], prompt_tokens: int, params: SamplingParams) -> tuple[str, int, int, str]:
        """(text, prompt tokens, completion tokens, finish reason) of a row's new tokens."""
        toks = toks[:params.max_tokens]
        reason = "length"
        eos = self.tokenizer.eos_token_id
        if eos is not None and eos in toks:
            toks = toks[:toks.index(eos)]
            reason = "stop"
        with self._tok_lock:
            text = self.tokenizer.decode(toks, skip_special_tokens=True)
        text, stopped = truncate_at_stop(text, params.stop)
        if stopped:
            reason = "stop"
        return text, int(prompt_tokens), len(toks), reason

    def _generate_rows(self, jobs, ids, hits, cached) -> list[tuple[str, int, int, str]]:
        """One generate() over ``jobs``: token ``ids``, the kept prompt each reuses and how much."""
        from transformers import GenerationConfig, StoppingCriteriaList

        params = jobs[0].params
        input_ids, attention, width_c = self._layout(ids, cached)
        layers = self._cached_layers(hits, cached, width_c)
        width_s = input_ids.shape[1] - width_c
        prompt_len = input_ids.shape[1]
        max_new = [j.params.max_tokens for j in jobs]
        cache = _growing_cache(self.model.config.num_hidden_layers, prompt_len + max(max_new), layers) \
            if self.full_attention else None
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
        # the key/values come back only to be kept: without the prefix cache, generate() as before
        kwargs: dict = {"return_dict_in_generate": True} if self.prefixes is not None else {}
        if cache is not None:
            kwargs["cache"] = cache
        kwargs.update(self._adapters_for([j.model for j in jobs]))
        if params.seed is not None and not params.greedy:
            torch.manual_seed(params.seed)
        with torch.inference_mode():
            result = self.model.generate(input_ids=input_ids, attention_mask=attention,
                                         generation_config=cfg, stopping_criteria=criteria, **kwargs)
        out = result.sequences if self.prefixes is not None else result
        self.batches += 1
        self._note(jobs, ids, cached)
        if self.prefixes is not None:
            kept = getattr(result, "past_key_values", None) or getattr(result, "cache", None)
            if kept is not None:
                self._keep_prompts(jobs, ids, cached, width_c, width_s, kept)
        gen = out[:, prompt_len:].tolist()
        prompt_tokens = attention.sum(dim=1).tolist()
        return [self._result(toks, prompt_tokens[i], j.params) for i, (toks, j) in enumerate(zip(gen, jobs))]

    def _keep_prompts(self, jobs, ids, cached, width_c, width_s, cache) -> None:
        """Keep each row's prompt and its key/values (the columns of its own tokens), unless a
        kept prompt already covers it."""
        layers = [(layer.keys, layer.values) for layer in cache.layers]
        for i, (job, x, c) in enumerate(zip(jobs, ids, cached)):
            if c >= len(x) - 1:
                continue
            s = len(x) - c
            cols = torch.cat([torch.arange(width_c - c, width_c), torch.arange(width_c + width_s - s, width_c + width_s)])
            cols = cols.to(layers[0][0].device)
            self.prefixes.add(job.model, x, [(k[i:i + 1].index_select(2, cols), v[i:i + 1].index_select(2, cols))
                                             for k, v in layers])


class _RowStop(StoppingCriteria):
    """Per-row stopping: a row is done at its own ``max_tokens`` or when its decoded tail
    contains one of its own stop strings (transformers marks finished rows and pads them)."""

    def __init__(self, tokenizer, prompt_len: int, stops: Sequence[Sequence[str]],
                 max_new: Sequence[int], lock: threading.Lock):
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stops = [tuple(s for s in st if s) for st in stops]
        self.max_new = list(max_new)
        self.window = _stop_window([s for st in self.stops for s in st])
        self.lock = lock

    def __call__(self, input_ids, scores, **kwargs):
        n = input_ids.shape[1] - self.prompt_len
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        tails = input_ids[:, max(self.prompt_len, input_ids.shape[1] - self.window):].tolist()
        for i, tail in enumerate(tails):
            if n >= self.max_new[i]:
                done[i] = True
            elif self.stops[i] and _tail_stops(self.tokenizer, self.lock, tail, self.stops[i]):
                done[i] = True
        return done


def _stop_window(stops: Sequence[str]) -> int:
    """How many last tokens to decode to see any of ``stops`` (a token is at least a character)."""
    return max((len(s) for s in stops if s), default=0) + 2


def _tail_stops(tokenizer, lock: threading.Lock, tail: list[int], stops: Sequence[str]) -> bool:
    """Whether the decoded ``tail`` of a row's new tokens contains one of its stop strings."""
    with lock:
        text = tokenizer.decode(tail, skip_special_tokens=True)
    return any(s and s in text for s in stops)
