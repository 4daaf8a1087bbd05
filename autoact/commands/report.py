"""Paper-style results table and bar chart from evaluation runs.

    python Scripts/report.py Self_Planning/Group_Planning/output/13b Self_Planning/Group_Planning/output/7b \\
        --out report/

Reads the summary.json of each run folder (written by run_eval.py; a folder of the reference's
level logs, easy.jsonl ... or 1-4.jsonl ..., is summarised from its records) and writes
report.md, report.csv and report.png into --out: rows are method x backbone; HotpotQA columns
Easy/Medium/Hard/All with F1 (EM), ScienceQA columns G1-4/G5-8/G9-12/All accuracy (x100). Under
each table: the retrieval setting of its runs (a run on the evaluation questions' own contexts is
labelled distractor). Prints the tables.

With ``--curves DIR`` (a folder of adapters, e.g. a pipeline's ``lora/``) it also draws the agents'
learning curves from their training logs (``learning_curves.png`` and a table in report.md); with
``--sample N`` it adds N sample trajectories per task (the first correct one of each run, first
run first); with ``--timings FILE`` (a pipeline's ``timings.json``) the run time of each stage.
"""

from __future__ import annotations

import argparse

from autoact.cli import add_common_args


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders (run_eval.py --save_path) or summary.json files")
    p.add_argument("--out", default="report", help="output folder (default report/)")
    p.add_argument("--curves", action="append", default=[], metavar="DIR",
                   help="folder of adapters (each with trainer_state.json): learning curves in the "
                        "report (repeatable: one folder per task, named by its parent folder)")
    p.add_argument("--sample", type=int, default=0, metavar="N",
                   help="sample trajectories per task to show (from the runs in the order given; default 0)")
    p.add_argument("--timings", action="append", default=[], metavar="FILE",
                   help="a pipeline's timings.json: the seconds of each stage, shown in the report "
                        "(repeatable: one column per file, named by its folder)")
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from autoact.io import prepare_output, write_text_atomic
    from autoact.report.tables import (bar_chart, load_runs, markdown, retrieval_notes, table_rows,
                                       to_csv)

    runs = load_runs(args.runs)
    out = Path(args.out)
    prepare_output(out / "report.md")
    tasks = list(dict.fromkeys(r["task"] for r in runs))
    per_task = {t: table_rows(runs, t) for t in tasks}
    notes = {t: retrieval_notes([r for r in runs if r["task"] == t]) for t in tasks}
    md = "\n\n".join(f"### {t}\n\n" + markdown(h, rows) + "\n\n" + "\n".join(f"- {n}" for n in notes[t])
                     for t, (h, rows, _) in per_task.items())
    md += _extras(args, runs, tasks, out)
    write_text_atomic(out / "report.md", md + "\n")
    write_text_atomic(out / "report.csv", "".join(
        f"# {t}\n" + to_csv(h, rows) for t, (h, rows, _) in per_task.items()))
    tmp = out / ".report.png.tmp"
    bar_chart(per_task, tmp)
    tmp.replace(out / "report.png")
    print(md)
    print(f"\n-> {out / 'report.md'}, {out / 'report.csv'}, {out / 'report.png'}")


def _extras(args: argparse.Namespace, runs: list[dict], tasks: list[str], out) -> str:
    """The report's sections after the tables: samples, learning curves, stage times."""
    from autoact.errors import DataError
    from autoact.io import read_json
    from autoact.report.extras import (curves_chart, curves_markdown, learning_curves,
                                       sample_trajectory, timings_markdown)

    if args.sample < 0:
        raise DataError(f"--sample must be 0 or more, got {args.sample}")
    md = ""
    for t in tasks if args.sample else []:
        samples = [s for s in (sample_trajectory(r) for r in runs if r["task"] == t) if s][:args.sample]
        if samples:
            md += f"\n\n### Sample trajectories: {t}\n\n" + "\n\n".join(samples)
    if args.curves:
        curves = {}
        labels = _labels(args.curves)
        for folder, label in zip(args.curves, labels):
            prefix = f"{label}/" if len(args.curves) > 1 else ""
            curves |= {f"{prefix}{agent}": points for agent, points in learning_curves(folder).items()}
        tmp = out / ".learning_curves.png.tmp"
        curves_chart(curves, tmp)
        tmp.replace(out / "learning_curves.png")
        md += "\n\n### Training\n\n" + curves_markdown(curves) + "\n\n![learning curves](learning_curves.png)"
    if args.timings:
        columns = {}
        for path, label in zip(args.timings, _labels(args.timings)):
            timings = read_json(path)
            if not isinstance(timings, dict):
                raise DataError(f"--timings {path}: expected an object of stage: seconds")
            columns[label] = timings
        md += "\n\n### Run time (seconds per stage)\n\n" + timings_markdown(columns)
    return md


def _labels(paths: list[str]) -> list[str]:
    """Each path's parent folder name (a task's work folder), numbered when two are the same,
    so that no run's curves or times overwrite another's."""
    from pathlib import Path
    names = [Path(p).resolve().parent.name for p in paths]
    return [n if names.count(n) == 1 else f"{n} ({names[:i + 1].count(n)})" for i, n in enumerate(names)]
