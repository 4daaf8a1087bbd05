"""Run many questions at once into a resumable JSONL log.

Each finished question is appended as soon as it is done (in the OS on return, fsynced in
groups: :class:`autoact.io.JsonlLog`). A rerun skips the ids that have a record without ``error``
and redoes the rest; a retried question's new record supersedes the old one, and when a run that
retried some completes, the log is compacted (atomically rewritten with the latest record per
id), so every id then appears exactly once; a log without superseded lines is left as appended.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Callable, Sequence

from tqdm import tqdm

from autoact.errors import AutoActError
from autoact.io import JsonlLog
from autoact.stats import question_stats
from autoact.tasks.base import Example

log = logging.getLogger(__name__)

_NUMBER = (int, float)
_NONE = type(None)
#: the fields of an episode record that resuming, filtering and summaries read, with their types
EPISODE_SCHEMA = {
    "question": str, "answer": (str, _NONE), "prediction": (str, _NONE),
    "correct": (bool, _NONE), "reward": (int, float, _NONE), "finished": (bool, _NONE),
    "halted": (bool, _NONE), "error": (str, _NONE), "n_steps": (int, _NONE),
    "steps": [list, lambda s: isinstance(s, dict)], "answers": list, "reflection": list,
    "prompt": (str, _NONE), "level": (str, _NONE),
    "usage": [dict, lambda v: isinstance(v, _NUMBER) and not isinstance(v, bool)],
}


class TooManyFailures(AutoActError):
    """Many questions in a row ended in an error: the server or the environment is down."""


def summarize(records: Sequence[dict]) -> dict:
    """A run's ``summary.json`` figures (:func:`autoact.stats.question_stats`: every question in
    every denominator, an errored one wrong)."""
    s = question_stats(records)
    return {
        "questions": s["questions"], "errors": s["errors"],
        "accuracy": round(s["accuracy"], 4), "mean_reward": round(s["reward"], 4),
        "halted": s["halted"], "mean_steps": round(s["steps"], 2), "usage": s["usage"],
    }


def run_all(examples: Sequence[Example], solve: Callable[[Example], dict], out: JsonlLog, *,
            workers: int, desc: str = "questions", max_consecutive_failures: int = 10,
            show_progress: bool = True) -> list[dict]:
    """Solve every example not already done in ``out``; returns the latest record per example,
    in the examples' order. ``solve`` returns a record (with ``error`` set when it failed)."""
    done = out.done_ids()
    todo = [ex for ex in examples if ex.id not in done]
    retried = sum(1 for ex in todo if ex.id in out.latest)
    if done or retried:
        log.info("%s: %d already done, %d to do (%d retried after an error)",
                 out.path, len(examples) - len(todo), len(todo), retried)
    bar = tqdm(total=len(todo), desc=desc, unit="q", dynamic_ncols=True, disable=not show_progress)
    correct = finished = failures = 0
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="episode")
    pending: set[Future] = set()
    queue = iter(todo)
    try:
        def fill() -> None:
            for ex in queue:
                pending.add(pool.submit(solve, ex))
                if len(pending) >= max(1, workers) * 2:
                    return

        fill()
        while pending:
            finished_now, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished_now:
                pending.discard(fut)
                rec = fut.result()
                out.append(rec)
                bar.update(1)
                if rec.get("error"):
                    failures += 1
                    if failures >= max_consecutive_failures:
                        raise TooManyFailures(
                            f"{failures} questions in a row failed, stopping (finished records are "
                            f"saved; rerun to continue); last error: {rec['error']}")
                else:
                    failures = 0
                    finished += 1
                    correct += bool(rec.get("correct"))
                    bar.set_postfix(acc=f"{correct / finished:.3f}")
            fill()
    finally:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    out.compact()
    return [out.latest[ex.id] for ex in examples if ex.id in out.latest]
