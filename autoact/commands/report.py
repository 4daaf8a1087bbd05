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

It also writes index.html: one self-contained page (open it from disk; no server, nothing loaded
from the network) with the tables and charts, every trajectory of every run and level (filter by
method, level and outcome, search the questions, open one to see its steps and who wrote them,
or two methods side by side on the same question). ``--trajectories FILE`` adds a
trajectory-synthesis log (run_task.py's output) to browse, each trajectory marked with whether
the filter kept it and why; ``--filter_data DIR`` (filter_data.py's --save_path for that log)
tells which ones it actually kept:

    python Scripts/report.py Self_Planning/Group_Planning/output/13b --out report/ \\
        --trajectories Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl \\
        --filter_data Self_Planning/Traj_Syn/output
"""

from __future__ import annotations

import argparse

from autoact.settings import build_parser, from_args
from autoact.stages.report import Settings, run


def make_parser() -> argparse.ArgumentParser:
    return build_parser(Settings, __doc__)


def main(args: argparse.Namespace) -> None:
    run(from_args(Settings, args))
