"""Continuous batching for the local backend: rows join and leave the running batch between
decoding steps.

With one ``generate()`` per batch, every row waits for the batch's longest row, and a request
arriving meanwhile waits for the whole batch: in the default run's evaluation half the
row-steps went to rows already finished. Here the worker keeps one running batch. Each step it
prefills the requests that have arrived (the prefix cache's reuse as before) and places their
key/values into free rows of the batch's cache, runs one decoding step for every row, and
hands back the rows that finished (the last row moves into the freed one).

:class:`Slots` holds the running batch's key/values: per layer one buffer of
``rows x heads x columns x head_dim``. All rows write their next column at the same index
(``end``); a row's prompt is placed so that it ends there, its earlier columns masked out, and
the attention window is ``[origin, end]``, ``origin`` the first column any running row uses.
Positions follow each row's own tokens (the mask skips padding), as in ``generate()``, so greedy
outputs are the same (tested).
"""

from __future__ import annotations

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
    """A cache layer over one layer of :class:`Slots`: each decoding step writes the running
    rows' new column at ``end`` and attends over ``[origin, end]``."""

    def __init__(self, slots: "Slots", index: int):
        super().__init__()
        self.slots = slots
        self.index = index
        self.is_initialized = True

    def get_seq_length(self) -> int:
        return self.slots.end - self.slots.origin

    def update(self, key_states, value_states, *args, **kwargs):
        s = self.slots
        k, v = s.keys[self.index], s.values[self.index]
        m = key_states.shape[-2]
        k[:s.n, :, s.end:s.end + m] = key_states
        v[:s.n, :, s.end:s.end + m] = value_states
        self.keys, self.values = k[:s.n, :, s.origin:s.end + m], v[:s.n, :, s.origin:s.end + m]
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

    def admit(self, layers: list, mask: torch.Tensor) -> None:
        """Place new rows (per layer (keys, values) of ``m`` rows x ``P`` columns, and their
        ``m x P`` attention mask) after the running ones, ending at ``end``."""
        m, width = mask.shape
        if self.mask is None or width > self.end or self.end + 1 > self.mask.shape[1] \
                or self.n + m > self.capacity:
            self._rebuild(width, layers, self.n + m)
        start = self.end - width
        rows = slice(self.n, self.n + m)
        for buf, (k, v) in zip(zip(self.keys, self.values), layers):
            buf[0][rows, :, start:self.end] = k
            buf[1][rows, :, start:self.end] = v
        self.mask[rows] = 0
        self.mask[rows, start:self.end] = mask
        first = mask.to(torch.long).argmax(dim=1).tolist()
        self.starts.extend(start + f for f in first)
        self.n += m
        self.origin = min(self.starts)

    def step_inputs(self) -> tuple[torch.Tensor, DynamicCache]:
        """The attention mask and cache for one decoding step of the running rows."""
        if self.end + 1 > self.mask.shape[1]:
            self._rebuild(0, [(k, v) for k, v in zip(self.keys, self.values)])
        self.mask[:self.n, self.end] = 1
        cache = DynamicCache()
        cache.layer_class_to_replicate = None
        cache.layers = [_SlotLayer(self, i) for i in range(len(self.keys))]
        return self.mask[:self.n, self.origin:self.end + 1], cache

    def advance(self) -> None:
        self.end += 1

    def remove(self, i: int) -> None:
        """Drop running row ``i``; the last running row moves into its place."""
        last = self.n - 1
        if i != last:
            for buf in self.keys + self.values:
                buf[i, :, self.origin:self.end] = buf[last, :, self.origin:self.end]
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
