"""Statistics of trajectory or evaluation logs, per level / grade.

    python Scripts/analysis.py Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl
    python Scripts/analysis.py Self_Planning/Group_Planning/output/13b --csv stats.csv
    python Scripts/analysis.py --file_path Self_Planning/Group_Planning/output/13b/easy.jsonl

For each log (a .jsonl file, or every .jsonl in a folder) and each level in it: questions,
accuracy (exact match / option match), mean F1 (reward), halted and error rates, mean steps,
how often Reflect[wrong] turned a wrong answer right or a right one wrong, and tokens used.
Prints a Markdown table; --csv also writes a CSV file. Logs of the reference implementation
(no id, no steps) are read too: their steps come from the prompt's scratchpad.
"""

from __future__ import annotations

import argparse

from autoact.settings import CommonSettings, add_options


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", help="JSONL logs or folders of them")
    p.add_argument("--file_path", action="append", default=[], metavar="PATH",
                   help="a log or folder, as the reference's analysis.py took it (repeatable)")
    p.add_argument("--csv", default=None, help="also write the table as CSV here")
    add_options(p, CommonSettings)
    return p


def main(args: argparse.Namespace) -> None:
    from autoact.io import write_text_atomic
    from autoact.report.analysis import analyse, markdown, to_csv

    from autoact.errors import ConfigError
    paths = list(args.paths) + list(args.file_path)
    if not paths:
        raise ConfigError("give at least one log or folder (positional or --file_path)")
    rows = analyse(paths)
    print(markdown(rows))
    if args.csv:
        write_text_atomic(args.csv, to_csv(rows))
        print(f"\nwrote {args.csv}")

