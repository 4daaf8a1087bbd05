"""The paper-style results table and bar chart from evaluation runs' ``summary.json``.

Rows are method x backbone, grouped by backbone with the methods in the paper's order (the
baselines, then AutoAct, then its ablations); HotpotQA columns Easy/Medium/Hard/All with F1 and
EM, ScienceQA columns G1-4/G5-8/G9-12/All accuracy (both x100, as the paper prints them); the
best of each column within a backbone's rows in bold. Rows side by side must come from the same
questions and the same retrieval setting (:func:`check_comparable`).
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


#: the paper's order of the rows: its baselines, AutoAct, then the ablations (labels that start
#: with a method's name, e.g. "autoact -filtering", follow that method); others come last
METHOD_ORDER = ("cot", "react", "chameleon", "reflexion", "bolaa", "rewoo", "fireact", "autoact",
                "autoact_per_tool", "no_reflect", "single", "zeroshot")


def ordered(runs: list[dict]) -> list[dict]:
    """``runs`` grouped by backbone (in order of first appearance), methods in :data:`METHOD_ORDER`."""
    backbones = list(dict.fromkeys(r["backbone"] for r in runs))

    def key(item):
        i, r = item
        label = str(r["method"])
        base = label.split()[0].lower() if label.split() else ""
        rank = METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER)
        return backbones.index(r["backbone"]), rank, label != base, i
    return [r for _, r in sorted(enumerate(runs), key=key)]


def check_comparable(runs: list[dict], task_name: str) -> None:
    """Refuse a table whose rows answered different questions (per-level counts, or the question
    set's fingerprint where the summaries record it) or used different retrieval settings."""
    mine = [r for r in runs if r["task"].lower() == task_name.lower()]

    def first_difference(describe) -> str | None:
        seen: dict = {}
        for r in mine:
            value = describe(r)
            if value is None:
                continue
            for other_value, other in seen.items():
                if other_value != value:
                    return f"{other['_path']} and {r['_path']}"
            seen.setdefault(value, r)
        return None
    counts = first_difference(lambda r: tuple(sorted((lv, row.get("questions")) for lv, row in r["levels"].items()
                                                     if row.get("questions") is not None)) or None)
    fingerprint = first_difference(lambda r: r.get("question_set"))
    where = counts or fingerprint
    if where:
        raise DataError(f"{task_name}: {where} answered different questions (per-level counts or question "
                        f"sets differ), so their rows are not comparable; report them separately or pass "
                        f"--allow_mixed")
    retrieval = first_difference(lambda r: (r.get("retrieval") or {}).get("label"))
    if retrieval:
        raise DataError(f"{task_name}: {retrieval} used different retrieval settings, so their rows are not "
                        f"comparable; report them separately or pass --allow_mixed")


def question_counts(runs: list[dict], task_name: str) -> str:
    """"questions: Easy 100, Medium 100, Hard 100; all 300" for the runs of ``task_name``."""
    mine = [r for r in runs if r["task"].lower() == task_name.lower()]
    parts = []
    for level, header in columns(task_name)[:-1]:
        counts = sorted({r["levels"][level]["questions"] for r in mine
                         if level in r["levels"] and r["levels"][level].get("questions") is not None})
        if counts:
            parts.append(f"{header} {'/'.join(map(str, counts))}")
    total = sorted({r["all"]["questions"] for r in mine if r["all"].get("questions") is not None})
    return "questions: " + ", ".join(parts) + (f"; all {'/'.join(map(str, total))}" if total else "")


def cost_rows(runs: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Model calls and tokens per question of each run (from its records' usage)."""
    header = ["Task", "Method", "Backbone", "Calls / question", "Prompt tokens / question",
              "Completion tokens / question"]
    rows = []
    for r in runs:
        usage, n = r["all"].get("usage"), r["all"].get("questions")
        if not isinstance(usage, dict) or not n:
            continue
        rows.append([r["task"], r["method"], r["backbone"]] +
                    [f"{usage.get(k, 0) / n:.1f}" for k in ("calls", "prompt_tokens", "completion_tokens")])
    return header, rows


def columns(task_name: str) -> list[tuple[str, str]]:
    """(level key, header) in report order, then All."""
    task = get_task(task_name)
    return [(lv, task.level_labels.get(lv, lv)) for lv in task.levels] + [("all", "All")]


def cell(run: dict, level: str, metric: str) -> float | None:
    row = run["all"] if level == "all" else run["levels"].get(level)
    return None if row is None or metric not in row else 100.0 * row[metric]


def table_rows(runs: list[dict], task_name: str) -> tuple[list[str], list[list[str]], list[list]]:
    """Header, formatted rows, and raw numbers, for one task, in :func:`ordered` order."""
    cols = columns(task_name)
    mine = ordered([r for r in runs if r["task"].lower() == task_name.lower()])
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


def best_cells(rows: list[list[str]], numbers: list[list]) -> set[tuple[int, int]]:
    """(row, column) of the best number of each column among the rows of one backbone (rows
    ``[method, backbone, ...]``); nothing is marked in a backbone with a single row, nor in a
    column where its rows all tie."""
    best = set()
    for backbone in dict.fromkeys(r[1] for r in rows):
        group = [i for i, r in enumerate(rows) if r[1] == backbone]
        if len(group) < 2:
            continue
        for j in range(len(numbers[group[0]]) if group else 0):
            values = [numbers[i][j] for i in group if numbers[i][j] is not None]
            if values and len(set(values)) > 1:
                top = max(values)
                best |= {(i, j + 2) for i in group if numbers[i][j] == top}
    return best


def markdown(header: list[str], rows: list[list[str]], bold: set[tuple[int, int]] = frozenset()) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(f"**{c}**" if (i, j) in bold else c for j, c in enumerate(r)) + " |"
                              for i, r in enumerate(rows)])


def latex(header: list[str], rows: list[list[str]], bold: set[tuple[int, int]] = frozenset(),
          caption: str = "") -> str:
    """A booktabs table: a rule between backbones, the best cells in bold."""
    def esc(text: str) -> str:
        return "".join("\\" + c if c in "&%$#_{}" else c for c in str(text))
    out = ["\\begin{tabular}{ll" + "r" * (len(header) - 2) + "}", "\\toprule",
           " & ".join(esc(h) for h in header) + " \\\\", "\\midrule"]
    for i, r in enumerate(rows):
        if i and r[1] != rows[i - 1][1]:
            out.append("\\midrule")
        out.append(" & ".join(f"\\textbf{{{esc(c)}}}" if (i, j) in bold else esc(c) for j, c in enumerate(r))
                   + " \\\\")
    out += ["\\bottomrule", "\\end{tabular}"]
    return (f"% {caption}\n" if caption else "") + "\n".join(out) + "\n"


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
