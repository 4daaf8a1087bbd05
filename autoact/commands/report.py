"""Paper-style results table and bar chart from evaluation runs.

    python Scripts/report.py Self_Planning/Group_Planning/output/13b Self_Planning/Group_Planning/output/7b \\
        --out report/

Reads the summary.json of each run folder (written by run_eval.py; a folder of the reference's
level logs, easy.jsonl ... or 1-4.jsonl ..., is summarised from its records) and writes
report.md, report.csv and report.png into --out: rows are method x backbone; HotpotQA columns
Easy/Medium/Hard/All with F1 (EM), ScienceQA columns G1-4/G5-8/G9-12/All accuracy (x100). Under
each table: the retrieval setting of its runs (a run on the evaluation questions' own contexts is
labelled distractor). Prints the tables.
"""

from __future__ import annotations

import argparse

from autoact.cli import add_common_args


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders (run_eval.py --save_path) or summary.json files")
    p.add_argument("--out", default="report", help="output folder (default report/)")
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
    write_text_atomic(out / "report.md", md + "\n")
    write_text_atomic(out / "report.csv", "".join(
        f"# {t}\n" + to_csv(h, rows) for t, (h, rows, _) in per_task.items()))
    tmp = out / ".report.png.tmp"
    bar_chart(per_task, tmp)
    tmp.replace(out / "report.png")
    print(md)
    print(f"\n-> {out / 'report.md'}, {out / 'report.csv'}, {out / 'report.png'}")

