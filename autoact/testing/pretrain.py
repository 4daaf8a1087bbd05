"""The demo base's own pre-training: short, deterministic, full-parameter, on generic sentences.

A pre-trained model has learnt from text to pass a name or a number on from where it was
written to where it is asked for; a random one has not, and LoRA adapters trained for minutes on
a few hundred trajectories do not teach it either (docs/learning-history.md has the
measurements). This module gives the ``demo`` base that ability, as a small stand-in for what
Llama's pre-training gives the paper's agents: ``transformers``' ``Trainer`` trains every weight
on sentences built from the :data:`SHAPES` below, whose slots are filled with

- ``{p}`` ``{q}``: two different capitalised words, ``{x}`` ``{y}``: two different lower-case
  words, each of the tokenizer's vocabulary and seen at least three times in the shipped
  generic tokenizer corpus (``autoact/assets/tokenizer_corpus.txt``), so no word that only a
  task's files contain (the WikiFacts towns and rivers, say);
- ``{a}`` ``{b}``: two numbers below 5000;
- ``{w}`` ``{n}`` ``{o}``: one of the four operations of :data:`OPERATIONS` as a verb, a noun
  and a symbol (``multiply``, ``multiplication``, ``*``);
- ``{s}``: a run of :data:`FILLER` random lower-case words of that kind with ``{a}``, ``{b}``
  (in that order) and ``{p}`` put in at random places, then a full stop (no other capital): text in which
  the value to find is not marked by a fixed phrase.

One training example is :data:`SENTENCES_PER_EXAMPLE` sentences, one per line. The text is a
function of the seed alone and never contains a task's questions, trajectories or evaluation
questions (``tests/test_pretrain.py`` checks it against every shipped task file).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

#: bump when the text or the recipe changes: the cached base's folder name carries it
PRETRAIN_VERSION = 3

#: generic sentences that say a value once and ask for it (or repeat it) later
SHAPES = (
    "{p} has {a} {x}. How many {x} does {p} have? {a}.",
    "The numbers are {a} and {b}. In order: {a}, {b}.",
    "{p} keeps {a} {x} and {b} {y}. The {x}: {a}. The {y}: {b}.",
    "Note: {a}\nWhat was noted? {a}",
    "{p} met {q}. Who did {p} meet? {q}.",
    "First {a}, then {b}. So: {a} then {b}.",
    "{p} likes {x} and {q} likes {y}. What does {q} like? {y}.",
    "Copy the word {x} in brackets: [{x}]",
    "Copy {a} and {b} in brackets: [{a} {b}]",
    "{s} The numbers in it are {a} and {b}.",
    "{s} Which number came first? {a}.",
    "{s} The name in it is {p}.",
    "To {w} {a} and {b}, write [{a}{o}{b}].",
    "{s} Now {w} them: [{a}{o}{b}]",
    "The {n} of {a} and {b} is written [{a}{o}{b}].",
)
#: (verb, noun, symbol) of the four operations, for the shapes that turn a word into its symbol
OPERATIONS = (("add", "addition", "+"), ("subtract", "subtraction", "-"),
              ("multiply", "multiplication", "*"), ("divide", "division", "/"))
SENTENCES_PER_EXAMPLE = 3
#: the least and most words of ``{s}`` besides its two numbers and its name
FILLER = (4, 12)
NUMBERS = 5000


@dataclass(frozen=True)
class PretrainConfig:
    steps: int = 800
    batch_size: int = 16
    learning_rate: float = 1e-3
    warmup_steps: int = 20
    max_grad_norm: float = 1.0
    seed: int = 0


def word_pools(words: Iterable[str]) -> tuple[list[str], list[str]]:
    """(capitalised words, lower-case words) of ``words`` (the tokenizer corpus's frequent ones:
    :func:`autoact.testing.tiny.frequent_words`), sorted, ASCII letters, at least three long."""
    ok = sorted(w for w in words if len(w) >= 3 and w.isascii() and w.isalpha())
    caps = [w for w in ok if w[0].isupper() and w[1:].islower()]
    lower = [w for w in ok if w.islower()]
    if len(caps) < 2 or len(lower) < 2:
        raise ValueError("too few words for the pre-training text")
    return caps, lower


def sentences(n: int, caps: list[str], lower: list[str], seed: int = 0) -> list[str]:
    """``n`` training examples, each :data:`SENTENCES_PER_EXAMPLE` sentences (a function of
    ``seed`` and the pools alone)."""
    rng = random.Random(seed)

    def number() -> str:     # half below 1000: most questions' numbers are small
        return str(rng.randrange(NUMBERS) if rng.random() < 0.5 else rng.randrange(1000))

    def filler(p: str, a: str, b: str) -> str:
        words = [rng.choice(lower) for _ in range(rng.randint(*FILLER))]
        i, j = sorted(rng.sample(range(len(words) + 1), 2))
        words[j:j] = [b]
        words[i:i] = [a]
        words.insert(rng.randrange(len(words) + 1), p)
        return " ".join(words) + "."

    def one() -> str:
        p, q = rng.sample(caps, 2)
        x, y = rng.sample(lower, 2)
        a, b = number(), number()
        shape = rng.choice(SHAPES)
        verb, noun, symbol = rng.choice(OPERATIONS)
        s = filler(p, a, b) if "{s}" in shape else ""
        return shape.format(p=p, q=q, x=x, y=y, a=a, b=b, s=s, w=verb, n=noun, o=symbol)

    return ["\n".join(one() for _ in range(SENTENCES_PER_EXAMPLE)) for _ in range(n)]


def pretrain(model, tokenizer, config: PretrainConfig, words: Iterable[str], work_dir: Path) -> list[dict]:
    """Train every weight of ``model`` in place on :func:`sentences` made of ``words``; returns
    the loss log."""
    import torch
    from datasets import Dataset
    from transformers import DataCollatorForLanguageModeling, Trainer, TrainingArguments
    from transformers.utils import logging as hf_logging

    caps, lower = word_pools(words)
    texts = sentences(config.steps * config.batch_size, caps, lower, config.seed)
    data = Dataset.from_dict({"text": texts}).map(
        lambda b: tokenizer(b["text"]), batched=True, remove_columns=["text"])
    pad = tokenizer.pad_token
    if pad is None:
        tokenizer.pad_token = tokenizer.unk_token
    args = TrainingArguments(
        output_dir=str(work_dir), max_steps=config.steps, per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate, warmup_steps=config.warmup_steps,
        lr_scheduler_type="linear", max_grad_norm=config.max_grad_norm, weight_decay=0.0,
        seed=config.seed, data_seed=config.seed, logging_steps=max(1, config.steps // 20),
        save_strategy="no", report_to=[], disable_tqdm=False, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        trainer = Trainer(model=model, args=args, train_dataset=data,
                          data_collator=DataCollatorForLanguageModeling(tokenizer, mlm=False))
        trainer.train()
    finally:
        hf_logging.set_verbosity(verbosity)
        tokenizer.pad_token = pad
    model.eval()
    return [{"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e]
