"""What the episode-running stages (trajectory synthesis, group planning) share: flags, the
tool selection, the output log, the per-question solve function with its error record."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from autoact.agents.episode import Episode
from autoact.errors import AutoActError, ConfigError
from autoact.llm.base import LLM, SamplingParams
from autoact.prompting import Prompts
from autoact.settings import (non_negative_float, non_negative_int, option, positive_int, top_k_value,
                              top_p_value, unit_fraction)
from autoact.tasks.base import Example, Task
from autoact.tools import Environment, Tool, default_selection, load_selection

log = logging.getLogger(__name__)

#: where the seed tool_selected.py command writes a task's selection ({task} is the task's name)
TOOL_SELECTION_FILE = "Self_Planning/Tool_Selection/{task}_Tools.json"


_EP = "episodes"


@dataclass
class EpisodeSettings:
    """What the episode-running stages share (the "episodes" flags); each stage declares the
    decoding fields with its own defaults (``temperature: float = temperature_option(...)``)."""
    tools: str | None = option(None, group=_EP,
                               help="tool-selection JSON (name, definition, usage per tool; the prompts show "
                                    "the file's texts). Default: " + TOOL_SELECTION_FILE + " (relative to the "
                                    "current folder) when it exists, which is where the seed tool_selected.py "
                                    "command writes it, else the task's own selection (HotpotQA BingSearch/"
                                    "Retrieve/Lookup, ScienceQA BingSearch/Retrieve/Image2Text, a spec file's "
                                    "tools). The run prints which it used.")
    max_steps: int = 10             # the decoding fields: each stage declares its own defaults
    max_context_len: int = option(4096, type=positive_int, group=_EP,
                                  help="halt when the prompt exceeds this many tokens (the local model's "
                                       "tokenizer; over HTTP an estimate of 4 characters per token)")
    workers: int | None = option(None, type=positive_int, group=_EP,
                                 help="questions in flight at once (default: 32 for a server, the batch size "
                                      "for a local model, whose calls are batched together)")
    limit: int | None = option(None, type=positive_int, group=_EP, help="only the first N questions")
    seed: int = option(0, type=int, group=_EP, help="per-question sampling seeds derive from it")
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 128
    num_beams: int = 1
    max_observation_chars: int = option(0, type=non_negative_int, group=_EP,
                                        help="cut observations longer than this (0: never, as the reference; "
                                             "the context-length halt still applies)")
    max_consecutive_failures: int = option(10, type=positive_int, group=_EP,
                                           help="stop the run when this many questions in a row fail "
                                                "(server down)")
    max_error_rate: float = option(0.25, type=unit_fraction, group=_EP,
                                   help="exit with an error (after saving everything) when more than this "
                                        "share of the questions ended in an error (default 0.25); a rerun "
                                        "retries them")
    overwrite: bool = option(False, kind="switch", group=_EP,
                             help="start afresh instead of resuming from an existing output")


def max_steps_option(n: int):
    return option(n, type=positive_int, group=_EP, help=f"halt an episode after this many steps (default {n})")


def temperature_option(t: float, note: str):
    return option(t, type=non_negative_float, group=_EP, help=f"sampling temperature (default {t}; {note})")


def top_p_option(p: float):
    return option(p, type=top_p_value, group=_EP, help=f"nucleus sampling (default {p})")


def top_k_option(k: int):
    return option(k, type=top_k_value, group=_EP,
                  help=f"top-k sampling, sent to servers that take it; -1: off (default {k})")


def max_tokens_option(n: int):
    return option(n, type=positive_int, group=_EP,
                  help=f"tokens per generation (one thought, action or argument; default {n})")


def num_beams_option(n: int):
    return option(n, type=positive_int, group=_EP,
                  help=f"sent as num_beams to OpenAI-compatible servers when > 1 (default {n}). "
                       "vLLM and FastChat accept the request and ignore the field, as the "
                       "reference's FastChat server did; a server that rejects it gets the request "
                       "again without it (one notice); the local hf backend does not apply it")


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


def default_workers(args: EpisodeSettings, llm: LLM) -> int:
    if args.workers:
        return args.workers
    if llm.backend == "hf":
        return getattr(llm, "max_batch_size", 8)
    return 32 if llm.backend == "openai" else 8


def question_seed(seed: int, ex_id: str) -> int:
    """A per-question sampling seed: the same question gets the same seed in any order."""
    return int(hashlib.sha1(f"{seed}:{ex_id}".encode()).hexdigest()[:8], 16)


def sampling(args: EpisodeSettings, ex_id: str) -> SamplingParams:
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
                args: EpisodeSettings, extra: dict, *, instruction: str = "",
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
            if hasattr(policy, "solve"):         # a method that runs its own loop (several trials)
                policy.solve(ep, params)
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
