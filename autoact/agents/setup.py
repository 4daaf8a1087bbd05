"""What the episode-running stages (trajectory synthesis, group planning) share: flags, the
tool selection, the output log, the per-question solve function with its error record."""

from __future__ import annotations

import argparse
import hashlib
import logging
import time
from pathlib import Path
from typing import Callable

from autoact.agents.episode import Episode
from autoact.cli import (non_negative_float, non_negative_int, positive_int, top_k_value, top_p_value,
                         unit_fraction)
from autoact.errors import AutoActError, ConfigError
from autoact.llm.base import LLM, SamplingParams
from autoact.prompting import Prompts
from autoact.tasks.base import Example, Task
from autoact.tools import Environment, Tool, default_selection, load_selection

log = logging.getLogger(__name__)

#: where the seed tool_selected.py command writes a task's selection ({task} is the task's name)
TOOL_SELECTION_FILE = "Self_Planning/Tool_Selection/{task}_Tools.json"


def add_episode_args(parser: argparse.ArgumentParser, *, max_steps: int, temperature: float,
                     top_p: float, top_k: int, max_tokens: int, num_beams: int,
                     decoding_note: str) -> None:
    g = parser.add_argument_group("episodes")
    g.add_argument("--tools", default=None,
                   help="tool-selection JSON (name, definition, usage per tool; the prompts show "
                        "the file's texts). Default: " + TOOL_SELECTION_FILE + " (relative to the "
                        "current folder) when it exists, which is where the seed tool_selected.py "
                        "command writes it, else the task's own selection (HotpotQA BingSearch/"
                        "Retrieve/Lookup, ScienceQA BingSearch/Retrieve/Image2Text, a spec file's "
                        "tools). The run prints which it used.")
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
    g.add_argument("--temperature", type=non_negative_float, default=temperature,
                   help=f"sampling temperature (default {temperature}; {decoding_note})")
    g.add_argument("--top_p", type=top_p_value, default=top_p, help=f"nucleus sampling (default {top_p})")
    g.add_argument("--top_k", type=top_k_value, default=top_k,
                   help=f"top-k sampling, sent to servers that take it; -1: off (default {top_k})")
    g.add_argument("--max_tokens", type=positive_int, default=max_tokens,
                   help=f"tokens per generation (one thought, action or argument; default {max_tokens})")
    g.add_argument("--num_beams", type=positive_int, default=num_beams,
                   help=f"sent as num_beams to OpenAI-compatible servers when > 1 (default {num_beams}). "
                        "vLLM and FastChat accept the request and ignore the field, as the "
                        "reference's FastChat server did; a server that rejects it gets the request "
                        "again without it (one notice); the local hf backend does not apply it")
    g.add_argument("--max_observation_chars", type=non_negative_int, default=0,
                   help="cut observations longer than this (0: never, as the reference; the "
                        "context-length halt still applies)")
    g.add_argument("--max_consecutive_failures", type=positive_int, default=10,
                   help="stop the run when this many questions in a row fail (server down)")
    g.add_argument("--max_error_rate", type=unit_fraction, default=0.25,
                   help="exit with an error (after saving everything) when more than this share of "
                        "the questions ended in an error (default 0.25); a rerun retries them")
    g.add_argument("--overwrite", action="store_true",
                   help="start afresh instead of resuming from an existing output")


def selected_tools(tools_flag: str | None, task: Task,
                   prompts: Prompts | None = None) -> tuple[list[Tool], str]:
    """The tools a run uses and where they came from: ``--tools FILE``; else the file the seed
    tool-selection command writes, when it exists; else the task's own default selection (its
    texts from ``prompts``)."""
    if tools_flag:
        return load_selection(tools_flag), str(tools_flag)
    seed_file = Path(TOOL_SELECTION_FILE.format(task=task.name))
    if seed_file.is_file():
        return load_selection(seed_file), str(seed_file)
    if not task.default_tools:
        raise ConfigError(f"task {task.name} has no default tools and {seed_file} does not exist; "
                          f"pass --tools FILE (written by Self_Planning/Tool_Selection/tool_selected.py)")
    return default_selection(task.default_tools, prompts), f"the default selection of {task.name}"


def announce_tools(tools: list[Tool], source: str) -> None:
    print(f"tools: {', '.join(t.name for t in tools)} (from {source})", flush=True)


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
                          seed=question_seed(args.seed, ex_id),
                          num_beams=getattr(args, "num_beams", 1))


def load_examples(task: Task, path: str, limit: int | None,
                  levels: list[str] | None = None) -> list[Example]:
    p = Path(path)
    groups = task.load_levels(p, levels) if p.is_dir() else {None: task.load_file(p)}
    examples = [ex for exs in groups.values() for ex in exs]
    return examples[:limit] if limit else examples


def make_solver(task: Task, tools: list[Tool], env: Environment, llm: LLM, policy,
                args: argparse.Namespace, extra: dict, *, instruction: str = "",
                reflect: bool = True, prompts: Prompts | None = None) -> Callable[[Example], dict]:
    """``solve(example) -> record``. Whatever goes wrong while solving one question (a server
    error, a reply of the wrong shape, a tool's bug) becomes that question's error record, with
    the steps done so far: never the end of the run. ``instruction`` overrides the zero-shot
    instruction (few-shot baselines); ``reflect=False`` ends episodes at the first Finish."""
    def solve(ex: Example) -> dict:
        t0 = time.monotonic()
        ep = None
        error = None
        try:
            ep = Episode(task, ex, tools, env, max_steps=args.max_steps,
                         max_context_len=args.max_context_len, count_tokens=llm.count_tokens,
                         instruction=instruction, reflect=reflect, prompts=prompts,
                         max_observation_chars=getattr(args, "max_observation_chars", 0))
            params = sampling(args, ex.id)
            while not ep.done and not ep.check_halt():
                thought, action = policy.step(ep, params)
                ep.act(thought, action)
        except AutoActError as err:
            error = str(err)
        except Exception as err:  # noqa: BLE001 - the question boundary: one question's failure, whatever it is
            log.debug("question %s failed", ex.id, exc_info=True)
            error = f"internal error: {type(err).__name__}: {err}"
        seconds = round(time.monotonic() - t0, 3)
        if ep is not None:
            try:
                return ep.record(error=error, seconds=seconds, **extra)
            except Exception as err:  # noqa: BLE001 - e.g. a scorer that cannot read the prediction
                error = error or f"internal error: {type(err).__name__}: {err}"
        return failed_record(task, ex, error or "internal error", seconds, extra)
    return solve


def failed_record(task: Task, ex: Example, error: str, seconds: float, extra: dict) -> dict:
    """The record of a question that failed before it had an episode to record."""
    return {"id": ex.id, "question": ex.question, "answer": ex.answer, "level": ex.level,
            "task": task.name, "prediction": "", "correct": False, "reward": 0.0, "finished": False,
            "halted": False, "error": error, "n_steps": 0, "steps": [], "answers": [],
            "reflection": [], "prompt": "", "usage": {"calls": 0, "prompt_tokens": 0,
                                                      "completion_tokens": 0},
            "seconds": seconds, **extra}


def check_output_flags(path: Path) -> None:
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder, expected a .jsonl file path")


class TooManyErrors(AutoActError):
    """More questions than ``--max_error_rate`` allows ended in an error."""


def check_error_rate(records: list[dict], max_rate: float) -> None:
    """Raise :class:`TooManyErrors` when the share of error records passes ``max_rate``."""
    errors = [r for r in records if r.get("error")]
    if records and len(errors) > max_rate * len(records):
        raise TooManyErrors(
            f"{len(errors)} of {len(records)} questions ended in an error (more than "
            f"--max_error_rate {max_rate:g}); everything is saved, rerun the same command to retry "
            f"them; last error: {errors[-1]['error']}")
