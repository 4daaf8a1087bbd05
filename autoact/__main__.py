"""``autoact``: one command for every stage (``pip install`` puts it on the PATH; ``python -m
autoact`` is the same). Each subcommand is the front end its seed script runs, with the same
flags, outputs and exit codes; the seed scripts stay as they are."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

# subcommand -> (front-end module, the seed script it equals, one line for the listing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "pipeline": ("autoact.pipeline", "python -m autoact.pipeline",
                 "every stage in one work folder (presets, --config, --set)"),
    "self-instruct": ("autoact.commands.self_instruct", "Self_Instruct/data_generation.py",
                      "stage 1: the Meta-Agent writes training questions"),
    "select-tools": ("autoact.commands.tool_selection", "Self_Planning/Tool_Selection/tool_selected.py",
                     "stage 2: pick the task's tools from the library"),
    "synthesize": ("autoact.commands.trajectories", "Self_Planning/Traj_Syn/run_task.py",
                   "stage 3: solve the questions zero-shot, logging trajectories"),
    "filter": ("autoact.commands.filtering", "Scripts/filter_data.py",
               "stage 4: keep the good trajectories, split them into plan/tool/reflect data"),
    "train": ("autoact.commands.train", "Self_Planning/Train/train_lora.py",
              "stage 5: LoRA-train one agent (transformers Trainer + peft, optional DeepSpeed)"),
    "eval": ("autoact.commands.evaluation", "Self_Planning/Group_Planning/run_eval.py",
             "stage 6: group planning (or a baseline) on a benchmark"),
    "report": ("autoact.commands.report", "Scripts/report.py",
               "the paper-style table, plots and the trajectory viewer (index.html)"),
    "analysis": ("autoact.commands.analysis", "Scripts/analysis.py",
                 "per-level statistics of trajectory or evaluation logs"),
    "build-corpus": ("autoact.commands.build_corpus", "Scripts/build_corpus.py",
                     "build the offline Wikipedia corpus (SQLite full-text index)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: autoact [--version] <command> [flags...]", "",
             "AutoAct, rebuilt: automatic agent learning from scratch via self-planning.",
             "Every command takes the flags of the seed script it equals; `autoact <command> --help`",
             "lists them.", "", "commands:"]
    lines += [f"  {name:<{width}}  {line}\n  {'':<{width}}  (= {script})"
              for name, (_, script, line) in COMMANDS.items()]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(), end="")
        return 0
    if args[0] in ("-V", "--version"):
        from autoact import __version__
        print(f"autoact {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}; one of: {', '.join(COMMANDS)} (autoact --help)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    prog = f"autoact {name}"
    if name == "train":
        # the training front end reads sys.argv itself (HfArgumentParser, and DeepSpeed's launcher)
        sys.argv = [prog, *rest]
        return module.main()
    from autoact.cli import run
    parser = module.make_parser()
    parser.prog = prog
    return run(module.main, parser, rest)


if __name__ == "__main__":
    sys.exit(main())
