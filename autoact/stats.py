"""Per-question statistics of episode records: the one convention of every summary and table.

Every question counts in every denominator, and a question whose episode ended in an error is
*wrong*: not correct, reward 0, not halted (it did not get to halt), its steps and tokens as
recorded. The paper's denominators are the full question sets (HotpotQA's 300 per level,
ScienceQA's grades), so a run that errors on a question scores lower, never higher, than one that
answers it wrongly. ``runner.summarize`` (synthesis and evaluation summaries),
``report.summary.level_row`` (the report's table) and ``report.analysis.stats`` (the analysis
script) all read these figures.
"""

from __future__ import annotations

from typing import Sequence

USAGE_KEYS = ("calls", "prompt_tokens", "completion_tokens")


def _steps(record: dict) -> int:
    n = record.get("n_steps")
    return int(n) if n is not None else len(record.get("steps") or [])


def question_stats(records: Sequence[dict]) -> dict:
    """Counts and means over ``records`` (one per question): ``questions``, ``errors``,
    ``correct``, ``halted`` (counts), ``accuracy`` (correct / questions), ``reward`` (mean F1 or
    reward, errored questions 0), ``steps`` (mean steps), ``usage`` (summed calls and tokens).
    Means are 0.0 for no records."""
    n = len(records)
    ok = [r for r in records if not r.get("error")]
    correct = sum(bool(r.get("correct")) for r in ok)
    return {
        "questions": n,
        "errors": n - len(ok),
        "correct": correct,
        "halted": sum(bool(r.get("halted")) for r in ok),
        "accuracy": correct / n if n else 0.0,
        "reward": sum(float(r.get("reward") or 0) for r in ok) / n if n else 0.0,
        "steps": sum(_steps(r) for r in records) / n if n else 0.0,
        "usage": {k: sum(int((r.get("usage") or {}).get(k, 0) or 0) for r in records) for k in USAGE_KEYS},
    }
