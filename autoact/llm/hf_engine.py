"""Continuous batching for the local backend: rows join and leave the running batch between
decoding steps.

With one ``generate()`` per batch, every row waits for the batch's longest row, and a request
arriving meanwhile waits for the whole batch: in the default run's evaluation half the
row-steps went to rows already finished. Here the worker keeps one running batch. Each step it
prefills the requests that have arrived straight into free rows of the batch's key/value
buffers (the prefixes the prefix cache holds copied in, the new part computed after them: no
intermediate cache to copy from), runs one decoding step for every row, and hands back the
rows that finished (the last row moves into the freed one).

:class:`Slots` holds the running batch's key/values: per layer one buffer of
``rows x heads x columns x head_dim``. All rows write their next column at the same index
(``end``); a row's prompt is placed so that it ends there, its earlier columns masked out, and
the attention window is ``[origin, end]``, ``origin`` the first column any running row uses.
Positions follow each row's own tokens (the mask skips padding), as in ``generate()``, so greedy
outputs are the same (tested).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer
from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

from autoact.llm.base import SamplingParams


@dataclass
class Row:
    """One request in the running batch."""
    job: object                   # the backend's job (prompt, adapter, params, future)
    prompt_tokens: int
    position: int                 # the position of the next token
    last: int                     # the token to feed next
    tokens: list[int] = field(default_factory=list)
    generator: torch.Generator | None = None


class _SlotLayer(DynamicLayer):
    """A cache layer over one layer of :class:`Slots`: a forward pass of ``rows`` writes its
    new columns from ``at`` and attends over ``[start, at + new)``. A decoding step: the running
    rows, the window's ``[origin, end]``; a prefill: the new rows, their cached part already in
    place before ``at``."""

    def __init__(self, slots: "Slots", index: int, rows: slice, start: int, at: int):
        super().__init__()
        self.slots, self.index, self.rows, self.start, self.at = slots, index, rows, start, at
        self.keys = slots.keys[index][rows, :, start:at]
        self.values = slots.values[index][rows, :, start:at]
        self.is_initialized = True

    def get_seq_length(self) -> int:
        return self.at - self.start

    def update(self, key_states, value_states, *args, **kwargs):
        k, v = self.slots.keys[self.index], self.slots.values[self.index]
        end = self.at + key_states.shape[-2]
        k[self.rows, :, self.at:end] = key_states
        v[self.rows, :, self.at:end] = value_states
        self.keys, self.values = k[self.rows, :, self.start:end], v[self.rows, :, self.start:end]
        return self.keys, self.values


class Slots:
    """The running batch's key/value buffers (see the module's docstring)."""

    MARGIN = 256                  # free columns left of a rebuilt window, for longer prompts
    ROOM = 512                    # free columns right of it, for new tokens

    def __init__(self, rows: int):
        self.max_rows = rows
        self.capacity = 0                     # rows allocated: grows to ``max_rows`` as needed
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.mask: torch.Tensor | None = None
        self.starts: list[int] = []           # per running row, its first unmasked column
        self.n = 0
        self.origin = self.end = 0

    def _rebuild(self, width: int, template: list, rows: int = 0) -> None:
        """New buffers for at least ``rows`` rows whose window ends ``width`` columns after the
        left margin, the running rows' window copied to its end."""
        if rows > self.capacity:
            self.capacity = min(self.max_rows, max(rows, 2 * self.capacity))
        span = self.end - self.origin if self.n else 0
        end = self.MARGIN + max(width, span)
        cols = end + self.ROOM
        k0, v0 = template[0]
        keys = [k.new_zeros((self.capacity, k.shape[1], cols, k.shape[3])) for k, _ in template]
        values = [v.new_zeros((self.capacity, v.shape[1], cols, v.shape[3])) for _, v in template]
        mask = torch.zeros((self.capacity, cols), dtype=torch.long, device=k0.device)
        if self.n:
            for new, old in zip(keys + values, self.keys + self.values):
                new[:self.n, :, end - span:end] = old[:self.n, :, self.origin:self.end]
            mask[:self.n, end - span:end] = self.mask[:self.n, self.origin:self.end]
            self.starts = [s + end - self.end for s in self.starts]
        self.keys, self.values, self.mask, self.end = keys, values, mask, end
        self.origin = min(self.starts) if self.starts else end

    def open(self, mask: torch.Tensor, template: list) -> tuple[slice, int]:
        """Room for new rows (their ``m x P`` attention mask) after the running ones, their
        columns ending at ``end``; returns their rows and first column. ``template``: per layer a
        (keys, values) pair of the model's shapes and dtypes. The new rows' key/values are
        written in place (:meth:`write`, then a prefill through :meth:`cache`), and
        :meth:`commit` makes them running rows; until then a failure leaves the batch as it was."""
        m, width = mask.shape
        if self.mask is None or width > self.end or self.end + 1 > self.mask.shape[1] \
                or self.n + m > self.capacity:
            self._rebuild(width, template, self.n + m)
        start = self.end - width
        rows = slice(self.n, self.n + m)
        self.mask[rows] = 0
        self.mask[rows, start:self.end] = mask
        return rows, start

    def write(self, row: int, column: int, layers: list, count: int) -> None:
        """The first ``count`` columns of ``layers`` (per layer (keys, values) of one row) into
        row ``row`` from ``column`` on."""
        for buf_k, buf_v, (k, v) in zip(self.keys, self.values, layers):
            buf_k[row, :, column:column + count] = k[0, :, :count]
            buf_v[row, :, column:column + count] = v[0, :, :count]

    def cache(self, rows: slice, start: int, at: int) -> DynamicCache:
        """A cache whose layers write a forward pass's columns of ``rows`` from ``at`` on and
        attend over ``[start, at + new)``."""
        cache = DynamicCache()
        cache.layer_class_to_replicate = None
        cache.layers = [_SlotLayer(self, i, rows, start, at) for i in range(len(self.keys))]
        return cache

    def commit(self, mask: torch.Tensor) -> None:
        """The rows :meth:`open` made room for (and their key/values written) join the batch."""
        start = self.end - mask.shape[1]
        first = mask.to(torch.long).argmax(dim=1).tolist()
        self.starts.extend(start + f for f in first)
        self.n += mask.shape[0]
        self.origin = min(self.starts)

    def step_inputs(self) -> tuple[torch.Tensor, DynamicCache]:
        """The attention mask and cache for one decoding step of the running rows."""
        if self.end + 1 > self.mask.shape[1]:
            self._rebuild(0, [(k, v) for k, v in zip(self.keys, self.values)])
        self.mask[:self.n, self.end] = 1
        return self.mask[:self.n, self.origin:self.end + 1], self.cache(slice(0, self.n), self.origin, self.end)

    def advance(self) -> None:
        self.end += 1

    def remove(self, i: int) -> None:
        """Drop running row ``i``; the last running row moves into its place."""
        last = self.n - 1
        if i != last:
            first = self.starts[last]         # the columns before it are masked: left as they are
            for buf in self.keys + self.values:
                buf[i, :, first:self.end] = buf[last, :, first:self.end]
            self.mask[i] = self.mask[last]
            self.starts[i] = self.starts[last]
        self.starts.pop()
        self.n -= 1
        if self.n:
            self.origin = min(self.starts)
        else:
            self.origin = self.end

    def reset(self) -> None:
        self.starts.clear()
        self.n = 0
        self.origin = self.end


def release_idle_threads() -> bool:
    """Let the calling thread's idle OpenMP threads go (GNU OpenMP, which PyTorch's Linux
    wheels use); True if they were released.

    The backend computes on its worker thread, and OpenMP keeps one team of threads per thread
    that starts parallel regions. A second, idle team (the one the thread that loaded the model
    keeps) makes more OpenMP threads than CPUs, and GNU OpenMP then puts idle threads to sleep
    instead of letting them spin: every parallel region of the worker (each matrix product of a
    decoding step) pays a wake-up, measured at 3x the cost of a small product on 2 cores. The
    team comes back if the calling thread runs parallel work again."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            path = next((line.split(None, 5)[5].strip() for line in fh if "/libgomp" in line), None)
    except OSError:
        return False
    if path is None:
        return False
    try:
        lib = ctypes.CDLL(path)
        return lib.omp_pause_resource_all(1) == 0           # 1: omp_pause_soft
    except (OSError, AttributeError):
        return False


def pick_tokens(logits: torch.Tensor, params: list[SamplingParams],
                generators: list[torch.Generator | None]) -> list[int]:
    """The next token of every row from its last logits: the argmax for greedy rows; for
    sampled rows, temperature, then top-k and top-p filtering (the transformers warpers),
    then a draw from the row's own generator (seeded per request) or the global one."""
    out = logits.argmax(dim=-1).tolist()
    for i, p in enumerate(params):
        if p.greedy:
            continue
        scores = logits[i:i + 1].float() / p.temperature
        if p.top_k and p.top_k > 0:
            scores = TopKLogitsWarper(p.top_k)(None, scores)
        if p.top_p is not None and p.top_p < 1.0:
            scores = TopPLogitsWarper(p.top_p)(None, scores)
        probs = torch.softmax(scores, dim=-1)
        out[i] = int(torch.multinomial(probs, 1, generator=generators[i])[0, 0])
    return out
