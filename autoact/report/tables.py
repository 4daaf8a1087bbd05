"""The paper-style results table and bar chart from evaluation runs' ``summary.json``.

Rows are method x backbone; HotpotQA columns Easy/Medium/Hard/All with F1 and EM, ScienceQA
columns G1-4/G5-8/G9-12/All accuracy (both x100, as the paper prints them).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

from autoact.errors import DataError
from autoact.io import check_fields, read_mapping
from autoact.tasks import get_task


def reference_run(folder: Path) -> dict | None:
    """A summary for an evaluation folder of the reference implementation (level logs such as
    ``easy.jsonl`` or ``1-4.jsonl``, no summary.json), or ``None`` if no task's levels match."""
    from autoact.reference_logs import read_log
    from autoact.report.summary import level_row, metric_names
    from autoact.tasks import TASKS
    stems = {f.stem for f in folder.glob("*.jsonl")}
    for task in TASKS.values():
        found = {lv: name for lv in task.levels for name in task.level_names(lv) if name in stems}
        if not found:
            continue
        metrics = metric_names(task)
        levels = {lv: read_log(folder / f"{name}.jsonl")[0] for lv, name in found.items()}
        everything = [r for recs in levels.values() for r in recs]
        return {"task": task.name, "method": "reference run", "backbone": folder.name,
                "metrics": metrics, "levels": {lv: level_row(r, metrics) for lv, r in levels.items()},
                "all": level_row(everything, metrics),
                "retrieval": {"label": "not recorded (a reference run)"}}
    return None


_NUM = (int, float, type(None))
_ROW_SCHEMA = {m: _NUM for m in ("accuracy", "em", "f1", "errors", "questions", "halted", "mean_steps")}
#: the fields of a summary.json the report reads, with their types
SUMMARY_SCHEMA = {"task": str, "method": str, "backbone": str,
                  "levels": [dict, lambda row: isinstance(row, dict)], "all": dict}


def load_runs(paths: Sequence[str | Path]) -> list[dict]:
    runs = []
    for raw in paths:
        p = Path(raw)
        f = p / "summary.json" if p.is_dir() else p
        if not f.exists():
            ref = reference_run(p) if p.is_dir() else None
            if ref is None:
                raise DataError(f"{p}: no summary.json and no level logs (is it the --save_path "
                                f"of run_eval.py, ours or the reference's?)")
            ref["_path"] = str(p)
            runs.append(ref)
            continue
        s = read_mapping(f, "run summary")
        for key in ("task", "method", "backbone", "levels", "all", "metrics"):
            if key not in s:
                raise DataError(f"{f}: not a run summary (no {key!r})")
        check_fields(s, SUMMARY_SCHEMA, str(f))
        for level, row in s["levels"].items():
            check_fields(row, _ROW_SCHEMA, f"{f}: level {level}")
        check_fields(s["all"], _ROW_SCHEMA, f"{f}: all")
        s["_path"] = str(f)
        runs.append(s)
    if not runs:
        raise DataError("no runs given")
    return runs


def columns(task_name: str) -> list[tuple[str, str]]:
    """(level key, header) in report order, then All."""
    task = get_task(task_name)
    return [(lv, task.level_labels.get(lv, lv)) for lv in task.levels] + [("all", "All")]


def cell(run: dict, level: str, metric: str) -> float | None:
    row = run["all"] if level == "all" else run["levels"].get(level)
    return None if row is None or metric not in row else 100.0 * row[metric]


def table_rows(runs: list[dict], task_name: str) -> tuple[list[str], list[list[str]], list[list]]:
    """Header, formatted rows, and raw numbers, for one task."""
    cols = columns(task_name)
    mine = [r for r in runs if r["task"].lower() == task_name.lower()]
    choice = get_task(task_name).answer_type == "choice"
    header = ["Method", "Backbone"] + [f"{h} {'Acc' if choice else 'F1 (EM)'}" for _, h in cols]
    text, numbers = [], []
    for r in mine:
        row, nums = [r["method"], r["backbone"]], []
        for lv, _ in cols:
            if choice:
                a = cell(r, lv, "accuracy")
                row.append("-" if a is None else f"{a:.2f}")
                nums.append(a)
            else:
                f1, em = cell(r, lv, "f1"), cell(r, lv, "em")
                row.append("-" if f1 is None else f"{f1:.2f} ({em:.2f})")
                nums.append(f1)
        text.append(row)
        numbers.append(nums)
    return header, text, numbers


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def to_csv(header: list[str], rows: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def bar_chart(per_task: dict[str, tuple[list[str], list[list[str]], list[list]]], out: Path) -> None:
    """One panel per task: grouped bars (one group per level, one bar per method x backbone)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(per_task), figsize=(6.5 * len(per_task), 4.2), squeeze=False)
    for ax, (task_name, (header, rows, numbers)) in zip(axes[0], per_task.items()):
        cols = [h for _, h in columns(task_name)]
        n = max(len(rows), 1)
        width = 0.8 / n
        for i, (row, nums) in enumerate(zip(rows, numbers)):
            xs = [j + (i - (n - 1) / 2) * width for j in range(len(cols))]
            ax.bar(xs, [v or 0.0 for v in nums], width, label=f"{row[0]} / {row[1]}")
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels(cols)
        ax.set_ylabel("accuracy" if get_task(task_name).answer_type == "choice" else "F1")
        ax.set_title(get_task(task_name).name)
        ax.set_ylim(0, 100)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120, format="png")
    plt.close(fig)


def retrieval_notes(runs: list[dict]) -> list[str]:
    """One line per distinct retrieval setting of ``runs``, for under the table."""
    from autoact.tools import describe_retrieval
    notes = []
    for r in runs:
        retrieval = r.get("retrieval") or {"label": "not recorded"}
        line = describe_retrieval(retrieval) if retrieval.get("setting") else \
            f"retrieval: {retrieval.get('label', 'not recorded')}"
        if line not in notes:
            notes.append(line)
    return notes
