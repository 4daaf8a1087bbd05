"""What a report shows beside the table: the agents' learning curves (from the training logs),
one sample trajectory per task, and the run time of each pipeline stage."""

from __future__ import annotations

from pathlib import Path

from autoact.errors import DataError
from autoact.io import iter_jsonl, read_json

#: the file the Trainer writes into each adapter folder; its ``log_history`` holds the losses
STATE_FILE = "trainer_state.json"


def learning_curves(folder: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{agent: [(step, loss), ...]}`` for each adapter folder under ``folder`` (or ``folder``
    itself) that has a Trainer state; agents in name order."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"--curves {root}: not a folder of adapters")
    found = [root] if (root / STATE_FILE).is_file() else sorted(
        d for d in root.iterdir() if (d / STATE_FILE).is_file())
    curves = {}
    for d in found:
        state = read_json(d / STATE_FILE)
        history = state.get("log_history") if isinstance(state, dict) else None
        if not isinstance(history, list):
            raise DataError(f"{d / STATE_FILE}: no log_history list (not a Trainer state?)")
        points = [(int(h["step"]), float(h["loss"])) for h in history
                  if isinstance(h, dict) and isinstance(h.get("loss"), (int, float))
                  and isinstance(h.get("step"), int)]
        curves[d.name] = points
    return curves


def curves_markdown(curves: dict[str, list[tuple[int, float]]]) -> str:
    lines = ["| Agent | Logged steps | First loss | Last loss |", "|---|---|---|---|"]
    for agent, points in curves.items():
        if points:
            lines.append(f"| {agent} | {points[-1][0]} | {points[0][1]:.3f} | {points[-1][1]:.3f} |")
        else:
            lines.append(f"| {agent} | 0 | - | - |")
    return "\n".join(lines)


def curves_chart(curves: dict[str, list[tuple[int, float]]], out: Path) -> None:
    """Training loss against step, one line per agent."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.0))
    for agent, points in curves.items():
        if points:
            ax.plot([s for s, _ in points], [v for _, v in points], marker=".", label=agent)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title("Learning curves of the agents")
    if any(curves.values()):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=120, format="png")
    plt.close(fig)


def sample_trajectory(run: dict, max_observation: int = 160) -> str | None:
    """A short trajectory of ``run`` (a loaded summary) as Markdown: its first correct record,
    else its first record, in level order and then by question id (not the order the questions
    finished in, so that two runs with the same records show the same sample); ``None`` when the
    run has no level logs."""
    from autoact.report.summary import level_log
    from autoact.tasks import get_task
    folder = Path(run["_path"]).parent if run["_path"].endswith(".json") else Path(run["_path"])
    task = get_task(run["task"])
    records = []
    for level in run.get("levels", {}):
        log = level_log(task, folder, level)       # ours, or the file the reference wrote for it
        if log.is_file():
            records += sorted((r for _, r in iter_jsonl(log) if isinstance(r, dict) and isinstance(r.get("steps"), list)
                               and all(isinstance(st, dict) for st in r["steps"])), key=lambda r: str(r.get("id")))
    if not records:
        return None
    rec = next((r for r in records if r.get("correct")), records[0])
    lines = [f"Question: {rec.get('question', '')}"]
    for n, step in enumerate(rec["steps"], 1):
        obs = str(step.get("observation", ""))
        if len(obs) > max_observation:
            obs = obs[:max_observation] + " ..."
        lines += [f"Thought {n}: {step.get('thought', '')}", f"Action {n}: {step.get('action', '')}",
                  f"Observation {n}: {obs}"]
    verdict = "correct" if rec.get("correct") else "wrong"
    roles = run.get("roles") or {}
    who = ", ".join(f"{k}: " + (", ".join(f"{t} {m}" for t, m in v.items()) if isinstance(v, dict) else str(v))
                    for k, v in roles.items())
    head = f"{run['method']} on {run['task']} ({verdict}; gold answer {rec.get('answer')!s}"
    head += f"; agents {who})" if who else ")"
    return head + "\n\n```text\n" + "\n".join(lines) + "\n```"


def timings_markdown(columns: dict[str, dict]) -> str:
    """``{run: {stage: seconds}}`` as a table: a row per stage, a column per run (and a total
    column when there are several), a total row."""
    names = list(columns)
    stages = list(dict.fromkeys(s for t in columns.values() for s, v in t.items() if isinstance(v, (int, float))))
    several = len(names) > 1
    head = ["Stage"] + (names + ["total"] if several else ["Seconds"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(label: str, values: list[float | None]) -> str:
        cells = ["-" if v is None else f"{v:.1f}" for v in values]
        if several:
            cells.append(f"{sum(v for v in values if v is not None):.1f}")
        return f"| {label} | " + " | ".join(cells) + " |"

    def seconds(timings: dict, stage: str) -> float | None:
        v = timings.get(stage)
        return float(v) if isinstance(v, (int, float)) else None

    for stage in stages:
        lines.append(row(stage, [seconds(columns[n], stage) for n in names]))
    lines.append(row("total", [sum(seconds(columns[n], s) or 0.0 for s in stages) for n in names]))
    return "\n".join(lines)
