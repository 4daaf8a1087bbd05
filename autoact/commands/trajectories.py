"""Trajectory synthesis: the zero-shot Meta-Agent solves its self-instructed questions with the
selected tools, reflecting on each answer.

    python Self_Planning/Traj_Syn/run_task.py --agent_name ZeroshotThink_HotPotQA_run_Agent \\
        --llm_name llama-2-13b-chat --max_context_len 4096 --task Hotpotqa \\
        --task_path Self_Instruct/hotpotqa_metaqa.json \\
        --save_path Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl

One JSONL record per question (id, question, answer, prediction, correct, reward, halted,
error, steps, reflection, prompt, llm, usage, ...) is appended as each question finishes, many
questions in flight at once, each with its own tool state. Rerun the same command to resume: it
skips finished questions and retries the ones that ended in an error. Settings, the decoding
actually sent, the tools, the prompts file, the retrieval setting and a summary go to
<save_path stem>.config.json. Scripts/filter_data.py turns the log into training data.

The reference's protocol by default: the completions API, temperature 0.9, at most 128 tokens per
call, stop at the newline; the tools of Self_Planning/Tool_Selection/{Task}_Tools.json (written by
the seed tool_selected.py command) when it exists; live Wikipedia (--wiki).
"""

from __future__ import annotations

import argparse

from autoact.settings import build_parser, from_args
from autoact.stages.trajectories import Settings, run


def make_parser() -> argparse.ArgumentParser:
    return build_parser(Settings, __doc__)


def main(args: argparse.Namespace) -> None:
    run(from_args(Settings, args))
