"""The ``summary.json`` of an evaluation run: metrics per level and over all questions."""

from __future__ import annotations

from pathlib import Path

from autoact.io import read_jsonl_latest
from autoact.tasks.base import Task


def metric_names(task: Task) -> list[str]:
    """HotpotQA-style tasks report EM and F1; multiple-choice tasks accuracy."""
    return ["accuracy"] if task.answer_type == "choice" else ["em", "f1"]


def level_row(records: list[dict], metrics: list[str]) -> dict:
    """Metrics over every question (a question that ended in an error scores 0)."""
    n = len(records)
    ok = [r for r in records if not r.get("error")]
    row = {"questions": n, "halted": sum(bool(r.get("halted")) for r in ok),
           "errors": n - len(ok),
           "mean_steps": round(sum(int(r.get("n_steps") or 0) for r in ok) / (len(ok) or 1), 3),
           "usage": {k: sum(int((r.get("usage") or {}).get(k, 0)) for r in records)
                     for k in ("calls", "prompt_tokens", "completion_tokens")}}
    correct = sum(bool(r.get("correct")) and not r.get("error") for r in records) / (n or 1)
    reward = sum(float(r.get("reward") or 0) for r in ok) / (n or 1)
    for m in metrics:
        row[m] = round(reward if m == "f1" else correct, 6)
    return row


def run_summary(task: Task, out_dir: str | Path, *, method: str, backbone: str, settings: dict,
                roles: dict, seconds: float) -> dict:
    """Summarise every level log of ``task`` found in ``out_dir``."""
    out_dir = Path(out_dir)
    metrics = metric_names(task)
    levels: dict[str, list[dict]] = {}
    for level in task.levels:
        f = out_dir / f"{level}.jsonl"
        if f.exists():
            levels[level] = read_jsonl_latest(f)
    for f in sorted(out_dir.glob("*.jsonl")):        # a single-file run names its level by the file
        if f.stem not in levels and not f.name.startswith("."):
            levels[f.stem] = read_jsonl_latest(f)
    rows = {lv: level_row(recs, metrics) for lv, recs in levels.items()}
    everything = [r for recs in levels.values() for r in recs]
    return {"task": task.name, "method": method, "backbone": backbone, "metrics": metrics,
            "roles": roles, "levels": rows, "all": level_row(everything, metrics),
            "seconds": seconds, "settings": settings}
