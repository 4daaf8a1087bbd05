"""Per-level statistics of trajectory / evaluation logs (``Scripts/analysis.py``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable, Sequence

from autoact.agents.runner import EPISODE_SCHEMA
from autoact.errors import DataError
from autoact.reference_logs import read_log
from autoact.stats import question_stats

COLUMNS = ("file", "level", "n", "accuracy", "f1", "halted", "errors", "steps",
           "wrong_to_right", "right_to_wrong", "reflect_wrong", "prompt_tokens", "completion_tokens")


def log_files(paths: Iterable[str | Path]) -> list[Path]:
    """JSONL files named directly, or inside the named folders (not recursive)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.glob("*.jsonl") if not f.name.startswith("."))
            if not found:
                raise DataError(f"{p}: no .jsonl logs in this folder")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise DataError(f"{p}: no such file or folder")
    return out


def reflection_flips(rec: dict) -> tuple[int, int, int]:
    """(wrong->right, right->wrong, Reflect[wrong] count) of one episode: the answer's
    correctness at each Reflect[wrong] compared with the final answer's."""
    answers = rec.get("answers") or []
    wrongs = [v for v in rec.get("reflection") or [] if v == "wrong"]
    if not wrongs or not answers or answers[0].get("correct") is None:
        return 0, 0, len(wrongs)
    before, after = bool(answers[0]["correct"]), bool(rec.get("correct"))
    return int(not before and after), int(before and not after), len(wrongs)


def stats(records: Sequence[dict]) -> dict:
    """One row of the analysis table (:func:`autoact.stats.question_stats`: every question in
    every denominator, an errored one wrong; halted and errors as shares of the questions)."""
    s = question_stats(records)
    n = s["questions"]
    flips = [reflection_flips(r) for r in records if not r.get("error")]
    return {
        "n": n,
        "accuracy": s["accuracy"],
        "f1": s["reward"],
        "halted": s["halted"] / n if n else 0.0,
        "errors": s["errors"] / n if n else 0.0,
        "steps": s["steps"],
        "wrong_to_right": sum(f[0] for f in flips),
        "right_to_wrong": sum(f[1] for f in flips),
        "reflect_wrong": sum(1 for f in flips if f[2]),
        "prompt_tokens": s["usage"]["prompt_tokens"],
        "completion_tokens": s["usage"]["completion_tokens"],
    }


def analyse(paths: Iterable[str | Path]) -> list[dict]:
    """One row per (file, level) plus an "all" row per file with more than one level."""
    rows = []
    for f in log_files(paths):
        records, _ = read_log(f, schema=EPISODE_SCHEMA)
        if not records:
            raise DataError(f"{f}: empty log")
        levels: dict[str, list[dict]] = {}
        for r in records:
            levels.setdefault(str(r.get("level") or f.stem), []).append(r)
        for level, recs in levels.items():
            rows.append({"file": str(f), "level": level, **stats(recs)})
        if len(levels) > 1:
            rows.append({"file": str(f), "level": "all", **stats(records)})
    return rows


def _fmt(key: str, value) -> str:
    if key in ("accuracy", "f1", "halted", "errors"):
        return f"{value:.3f}"
    if key == "steps":
        return f"{value:.2f}"
    return str(value)


def markdown(rows: Sequence[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(_fmt(k, r[k]) for k in COLUMNS) + " |" for r in rows]
    return "\n".join(lines)


def to_csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in COLUMNS})
    return buf.getvalue()
