"""Filter trajectories into training data for the plan, tool and reflect agents.

    python Scripts/filter_data.py --source_path Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl \\
        --save_path Self_Planning/Traj_Syn/output --task_name HotpotQA --filter_num 200

Keeps trajectories that finished without error and whose answer is exactly right (`correct`:
HotpotQA exact match after normalisation, ScienceQA option match; `--criterion reward` keeps
token-F1 = 1 instead; `--criterion none` keeps every trajectory without an error, the paper's
"-filtering" ablation), shuffles them with --seed, takes at most --filter_num, and writes
data_plan.json, data_tool.json and data_reflect.json (JSON lists of {"input", "output"}) into
--save_path, with data_config.json beside them. The inputs are built by the same prompt
functions and prompts file group planning uses, so training and inference prompts are
byte-identical. Rerunning on the same log with the same settings is a no-op; different ones need
--overwrite.

Logs of the reference implementation (lines with question, answer, correct, reward, halted,
error, prompt and no id or steps) are read too: their steps are parsed from the prompt's
scratchpad and their instruction is the one in the prompt (the reference's wording), unless
--instruction prompts rebuilds it from --prompts and the tools.
"""

from __future__ import annotations

import argparse

from autoact.settings import build_parser, from_args
from autoact.stages.filtering import Settings, run


def make_parser() -> argparse.ArgumentParser:
    return build_parser(Settings, __doc__)


def main(args: argparse.Namespace) -> None:
    run(from_args(Settings, args))
