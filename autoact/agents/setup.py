"""What the episode-running stages (trajectory synthesis, group planning) share: flags, the
tool selection, the output log, the per-question solve function with its error record."""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path
from typing import Callable

from autoact.agents.episode import Episode
from autoact.cli import positive_int
from autoact.errors import AutoActError, ConfigError
from autoact.llm.base import LLM, SamplingParams
from autoact.tasks.base import Example, Task
from autoact.tools import Environment, Tool, default_selection, load_selection


def add_episode_args(parser: argparse.ArgumentParser, *, max_steps: int, temperature: float,
                     top_p: float, top_k: int) -> None:
    g = parser.add_argument_group("episodes")
    g.add_argument("--tools", default=None,
                   help="tool-selection JSON from tool_selected.py (default: the task's shipped "
                        "selection: HotpotQA BingSearch/Retrieve/Lookup, ScienceQA "
                        "BingSearch/Retrieve/Image2Text)")
    g.add_argument("--max_steps", type=positive_int, default=max_steps,
                   help=f"halt an episode after this many steps (default {max_steps})")
    g.add_argument("--max_context_len", type=positive_int, default=4096,
                   help="halt when the prompt exceeds this many tokens (the local model's "
                        "tokenizer; over HTTP an estimate of 4 characters per token)")
    g.add_argument("--workers", type=positive_int, default=None,
                   help="questions in flight at once (default: 32 for a server, the batch size "
                        "for a local model, whose calls are batched together)")
    g.add_argument("--limit", type=positive_int, default=None, help="only the first N questions")
    g.add_argument("--seed", type=int, default=0, help="per-question sampling seeds derive from it")
    g.add_argument("--temperature", type=float, default=temperature)
    g.add_argument("--top_p", type=float, default=top_p)
    g.add_argument("--top_k", type=int, default=top_k)
    g.add_argument("--max_tokens", type=positive_int, default=128,
                   help="tokens per generation (one thought, action or argument; default 128)")
    g.add_argument("--max_consecutive_failures", type=positive_int, default=10,
                   help="stop the run when this many questions in a row fail (server down)")
    g.add_argument("--overwrite", action="store_true",
                   help="start afresh instead of resuming from an existing output")


def selected_tools(args: argparse.Namespace, task: Task) -> list[Tool]:
    return load_selection(args.tools) if args.tools else default_selection(task.name)


def default_workers(args: argparse.Namespace, llm: LLM) -> int:
    if args.workers:
        return args.workers
    if llm.backend == "hf":
        return getattr(llm, "max_batch_size", 8)
    return 32 if llm.backend == "openai" else 8


def question_seed(seed: int, ex_id: str) -> int:
    """A per-question sampling seed: the same question gets the same seed in any order."""
    return int(hashlib.sha1(f"{seed}:{ex_id}".encode()).hexdigest()[:8], 16)


def sampling(args: argparse.Namespace, ex_id: str) -> SamplingParams:
    return SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature,
                          top_p=args.top_p, top_k=args.top_k, stop=("\n",),
                          seed=question_seed(args.seed, ex_id))


def load_examples(task: Task, path: str, limit: int | None,
                  levels: list[str] | None = None) -> list[Example]:
    p = Path(path)
    groups = task.load_levels(p, levels) if p.is_dir() else {None: task.load_file(p)}
    examples = [ex for exs in groups.values() for ex in exs]
    return examples[:limit] if limit else examples


def make_solver(task: Task, tools: list[Tool], env: Environment, llm: LLM, policy,
                args: argparse.Namespace, extra: dict, *, instruction: str = "",
                reflect: bool = True) -> Callable[[Example], dict]:
    """``solve(example) -> record``; a failure (server, environment) becomes an error record
    with the steps done so far, never an exception. ``instruction`` overrides the zero-shot
    instruction (few-shot baselines); ``reflect=False`` ends episodes at the first Finish."""
    def solve(ex: Example) -> dict:
        t0 = time.monotonic()
        ep = Episode(task, ex, tools, env, max_steps=args.max_steps,
                     max_context_len=args.max_context_len, count_tokens=llm.count_tokens,
                     instruction=instruction, reflect=reflect)
        error = None
        try:
            params = sampling(args, ex.id)
            while not ep.done and not ep.check_halt():
                thought, action = policy.step(ep, params)
                ep.act(thought, action)
        except AutoActError as err:
            error = str(err)
        return ep.record(error=error, seconds=round(time.monotonic() - t0, 3), **extra)
    return solve


def check_output_flags(path: Path, overwrite: bool) -> None:
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a .jsonl file path")
    if overwrite and path.exists():
        path.unlink()
