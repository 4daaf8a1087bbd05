"""The ``summary.json`` of an evaluation run: metrics per level and over all questions."""

from __future__ import annotations

import hashlib
from pathlib import Path

from autoact.reference_logs import from_reference_record, is_reference_record, read_log
from autoact.stats import question_stats
from autoact.tasks.base import Example, Task


def metric_names(task: Task) -> list[str]:
    """HotpotQA-style tasks report EM and F1; multiple-choice tasks accuracy."""
    return ["accuracy"] if task.answer_type == "choice" else ["em", "f1"]


def level_row(records: list[dict], metrics: list[str]) -> dict:
    """One level's cell figures (:func:`autoact.stats.question_stats`: every question in every
    denominator, an errored one wrong)."""
    s = question_stats(records)
    row = {"questions": s["questions"], "halted": s["halted"], "errors": s["errors"],
           "mean_steps": round(s["steps"], 3), "usage": s["usage"]}
    for m in metrics:
        row[m] = round(s["reward"] if m == "f1" else s["accuracy"], 6)
    return row


def level_log(task: Task, out_dir: Path, level: str) -> Path:
    """Where a level's log is in an output folder: ``<level>.jsonl``, or the file the reference
    wrote for it (``1-4.jsonl`` for ScienceQA grade1-4) when only that one exists."""
    own = out_dir / f"{level}.jsonl"
    if own.exists():
        return own
    for name in task.level_names(level)[1:]:
        if (out_dir / f"{name}.jsonl").is_file():
            return out_dir / f"{name}.jsonl"
    return own


def _key(text: str) -> str:
    return " ".join(str(text).split()).casefold()


def reference_normalizer(task: Task, level: str, examples: list[Example], path: Path):
    """For :class:`~autoact.io.JsonlLog`: a reference line becomes a record with the id of the
    example it answers (matched by the question text with whitespace and case ignored; by the
    text before ``Options:`` when that is unique), so a run resumed here skips what the
    reference finished."""
    full = {_key(ex.question): ex.id for ex in examples}
    stems: dict[str, list[str]] = {}
    for ex in examples:
        stems.setdefault(_key(ex.question.split("Options:")[0]), []).append(ex.id)

    def normalize(rec: dict, line: int) -> dict:
        if not is_reference_record(rec):
            return rec
        new = from_reference_record(rec, f"{path}:{line}")
        q = str(rec["question"])
        by_stem = stems.get(_key(q.split("Options:")[0]), [])
        new["id"] = full.get(_key(q)) or (by_stem[0] if len(by_stem) == 1 else new["id"])
        new["level"], new["task"] = level, task.name
        return new
    return normalize


def run_summary(task: Task, out_dir: str | Path, records: dict[str, list[dict]], *, method: str,
                backbone: str, settings: dict, roles: dict, seconds: float,
                retrieval: dict | None = None) -> dict:
    """Summarise ``records`` (level -> the run's latest records) and the logs of any other
    level already in ``out_dir``."""
    out_dir = Path(out_dir)
    metrics = metric_names(task)
    levels: dict[str, list[dict]] = {}
    for level in task.levels:
        if level in records:
            levels[level] = records[level]
        elif level_log(task, out_dir, level).exists():
            levels[level] = read_log(level_log(task, out_dir, level))[0]
    for level, recs in records.items():     # a single-file run names its level by the file
        levels.setdefault(level, recs)
    rows = {lv: level_row(recs, metrics) for lv, recs in levels.items()}
    everything = [r for recs in levels.values() for r in recs]
    ids = "\n".join(sorted(str(r.get("id")) for r in everything))
    return {"task": task.name, "method": method, "backbone": backbone, "metrics": metrics,
            "question_set": hashlib.sha256(ids.encode()).hexdigest()[:16],
            "roles": roles, "levels": rows, "all": level_row(everything, metrics),
            "retrieval": retrieval or {}, "seconds": seconds, "settings": settings}
