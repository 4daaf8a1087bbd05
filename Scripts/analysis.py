"""Statistics of trajectory or evaluation logs, per level / grade.

    python Scripts/analysis.py Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl
    python Scripts/analysis.py Self_Planning/Group_Planning/output/13b --csv stats.csv

For each log (a .jsonl file, or every .jsonl in a folder) and each level in it: questions,
accuracy (exact match / option match), mean F1 (reward), halted and error rates, mean steps,
how often Reflect[wrong] turned a wrong answer right or a right one wrong, and tokens used.
Prints a Markdown table; --csv also writes a CSV file.
"""

from __future__ import annotations

import argparse
import sys

from autoact.cli import add_common_args, run


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", help="JSONL logs or folders of them")
    p.add_argument("--csv", default=None, help="also write the table as CSV here")
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from autoact.io import write_text_atomic
    from autoact.report.analysis import analyse, markdown, to_csv

    rows = analyse(args.paths)
    print(markdown(rows))
    if args.csv:
        write_text_atomic(args.csv, to_csv(rows))
        print(f"\nwrote {args.csv}")


if __name__ == "__main__":
    sys.exit(run(main, make_parser()))
