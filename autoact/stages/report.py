"""The report stage: the paper-style tables, chart, learning curves, samples and stage times
from evaluation runs (``Scripts/report.py``), and ``index.html``, a page to browse it all with
every trajectory (:mod:`autoact.stages.viewer`)."""

from __future__ import annotations

from dataclasses import dataclass

from autoact.settings import CommonSettings, option


@dataclass
class Settings(CommonSettings):
    """The flags of ``Scripts/report.py``."""
    runs: list = option(factory=list, kind="positional", nargs="+",
                        help="run folders (run_eval.py --save_path) or summary.json files")
    out: str = option("report", help="output folder (default report/)")
    curves: list = option(factory=list, kind="append", metavar="DIR",
                          help="folder of adapters (each with trainer_state.json): learning curves in the "
                               "report (repeatable: one folder per task, named by its parent folder)")
    sample: int = option(0, type=int, metavar="N",
                         help="sample trajectories per task to show (from the runs in the order given; "
                              "default 0)")
    allow_mixed: bool = option(False, kind="switch",
                               help="put rows side by side even when they answered different questions or "
                                    "used different retrieval settings (said under the table); without it "
                                    "such a table is refused")
    timings: list = option(factory=list, kind="append", metavar="FILE",
                           help="a pipeline's timings.json: the seconds of each stage, shown in the report "
                                "(repeatable: one column per file, named by its folder)")
    trajectories: list = option(factory=list, kind="append", metavar="FILE",
                                help="a trajectory-synthesis log (run_task.py --save_path, a pipeline's "
                                     "trajectories.jsonl) to browse in index.html, each trajectory with "
                                     "whether the filter kept it and why (repeatable)")
    filter_data: list = option(factory=list, kind="append", metavar="DIR",
                               help="the folder filter_data.py wrote from a --trajectories log (its "
                                    "data_config.json names the log and the kept trajectories): index.html "
                                    "then shows which trajectories were kept, which met the criterion but "
                                    "were beyond --filter_num, and how many training examples each gave; "
                                    "without it, which ones meet the default criterion (repeatable)")


def run(settings: Settings) -> None:
    """Write report.md, report.csv, report.tex, report.png and index.html (and the extras asked
    for) into ``out``. Every input is read before the first file is written, so a missing or
    malformed one leaves an earlier report as it was."""
    from pathlib import Path

    from autoact.io import prepare_output, write_text_atomic
    from autoact.report.tables import (bar_chart, best_cells, check_comparable, cost_rows, latex, load_runs,
                                       markdown, question_counts, retrieval_notes, table_rows, to_csv)
    from autoact.stages.viewer import Viewer, data_uri, markdown_blocks

    if not settings.runs:
        from autoact.errors import ConfigError
        raise ConfigError("the report needs at least one run folder")
    runs = load_runs(settings.runs)
    synthesis = synthesis_inputs(settings.trajectories, settings.filter_data)
    out = Path(settings.out)
    prepare_output(out / "report.md")
    prepare_output(out / "index.html")
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    for t in tasks if not settings.allow_mixed else []:
        check_comparable(runs, t)
    viewer = Viewer(runs, synthesis)        # reads every level log and synthesis log
    per_task = {t: table_rows(runs, t) for t in tasks}
    bold = {t: best_cells(rows, numbers) for t, (_, rows, numbers) in per_task.items()}
    notes = {t: retrieval_notes([r for r in runs if r["task"] == t]) + [question_counts(runs, t)]
             + (["rows from different questions or retrieval settings (--allow_mixed)"]
                if settings.allow_mixed else []) for t in tasks}
    md = "\n\n".join(f"### {t}\n\n" + markdown(h, rows, bold[t]) + "\n\n" + "\n".join(f"- {n}" for n in notes[t])
                     for t, (h, rows, _) in per_task.items())
    tables_md = md
    cost_header, costs = cost_rows(runs)
    if costs:
        md += "\n\n### Calls and tokens per question\n\n" + markdown(cost_header, costs)
    md += _extras(settings, runs, tasks, out)
    write_text_atomic(out / "report.md", md + "\n")
    write_text_atomic(out / "report.csv", "".join(
        f"# {t}\n" + to_csv(h, rows) for t, (h, rows, _) in per_task.items())
        + (f"# calls and tokens per question\n{to_csv(cost_header, costs)}" if costs else ""))
    write_text_atomic(out / "report.tex", "\n".join(
        latex(h, rows, bold[t], caption=f"{t}; " + "; ".join(notes[t])) for t, (h, rows, _) in per_task.items()))
    tmp = out / ".report.png.tmp"
    bar_chart(per_task, tmp)
    tmp.replace(out / "report.png")
    chart = data_uri(out / "report.png")
    blocks = markdown_blocks(tables_md, out) + ([{"img": chart, "alt": "bar chart"}] if chart else []) + \
        markdown_blocks(md[len(tables_md):], out)
    viewer.write(out / "index.html", blocks, title="AutoAct report: " + ", ".join(tasks))
    print(md)
    print(f"\n-> {out / 'report.md'}, {out / 'report.csv'}, {out / 'report.tex'}, {out / 'report.png'}, "
          f"{out / 'index.html'}")


def synthesis_inputs(logs: list[str], folders: list[str]) -> list[tuple[str, str | None]]:
    """Each ``--trajectories`` log with the ``--filter_data`` folder built from it: the one whose
    data_config.json names it (by path or content hash); with a single log, any one folder (a
    folder built from another version of the log is said so on the page)."""
    import hashlib
    from pathlib import Path

    from autoact.errors import DataError
    from autoact.stages.viewer import filter_config

    for log in logs:
        if not Path(log).is_file():
            raise DataError(f"--trajectories {log}: no such file (run_task.py's --save_path, or a "
                            f"pipeline's trajectories.jsonl)")
    if folders and not logs:
        raise DataError("--filter_data needs the --trajectories log it was built from")
    paired: dict[str, str | None] = dict.fromkeys(logs)
    digests = {log: hashlib.sha256(Path(log).read_bytes()).hexdigest() for log in logs} if folders else {}
    for folder in folders:
        source = filter_config(Path(folder))["settings"]
        named = Path(str(source.get("source") or "")).resolve()
        match = [log for log in logs if digests[log] == source.get("source_sha256")] or \
            [log for log in logs if Path(log).resolve() == named] or (logs if len(logs) == 1 else [])
        if not match:
            raise DataError(f"--filter_data {folder}: built from {source.get('source')}, which is not one of "
                            f"the --trajectories logs")
        if paired[match[0]] is not None:
            raise DataError(f"--filter_data {paired[match[0]]} and {folder}: both were built from "
                            f"{match[0]}; give one")
        paired[match[0]] = folder
    return list(paired.items())


def _extras(settings: Settings, runs: list[dict], tasks: list[str], out) -> str:
    """The report's sections after the tables: samples, learning curves, stage times."""
    from autoact.errors import DataError
    from autoact.io import read_json
    from autoact.report.extras import (curves_chart, curves_markdown, learning_curves,
                                       sample_trajectory, timings_markdown)

    if settings.sample < 0:
        raise DataError(f"--sample must be 0 or more, got {settings.sample}")
    md = ""
    for t in tasks if settings.sample else []:
        samples = [s for s in (sample_trajectory(r) for r in runs if r["task"] == t) if s][:settings.sample]
        if samples:
            md += f"\n\n### Sample trajectories: {t}\n\n" + "\n\n".join(samples)
    if settings.curves:
        curves = {}
        labels = _labels(settings.curves)
        for folder, label in zip(settings.curves, labels):
            prefix = f"{label}/" if len(settings.curves) > 1 else ""
            curves |= {f"{prefix}{agent}": points for agent, points in learning_curves(folder).items()}
        tmp = out / ".learning_curves.png.tmp"
        curves_chart(curves, tmp)
        tmp.replace(out / "learning_curves.png")
        md += "\n\n### Training\n\n" + curves_markdown(curves) + "\n\n![learning curves](learning_curves.png)"
    if settings.timings:
        columns = {}
        for path, label in zip(settings.timings, _labels(settings.timings)):
            timings = read_json(path)
            if not isinstance(timings, dict):
                raise DataError(f"--timings {path}: expected an object of stage: seconds")
            columns[label] = timings
        md += "\n\n### Run time (seconds per stage)\n\n" + timings_markdown(columns)
    return md


def _labels(paths: list[str]) -> list[str]:
    """Each path's parent folder name (a task's work folder); with its own name where two share
    a parent (``lora`` and ``lora_unfiltered`` of one run), numbered where still the same, so
    that no run's curves or times overwrite another's."""
    from pathlib import Path
    parents = [Path(p).resolve().parent.name for p in paths]
    names = [n if parents.count(n) == 1 else f"{n}/{Path(p).resolve().name}" for n, p in zip(parents, paths)]
    return [n if names.count(n) == 1 else f"{n} ({names[:i + 1].count(n)})" for i, n in enumerate(names)]
