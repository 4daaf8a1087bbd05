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
import time

from autoact.cli import add_common_args, add_prompts_arg, public_args
from autoact.llm import add_llm_args
from autoact.tools import add_tool_args


def make_parser() -> argparse.ArgumentParser:
    from autoact.agents.setup import add_episode_args
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent_name", default="ZeroshotThink_HotPotQA_run_Agent",
                   help="ZeroshotThink_HotPotQA_run_Agent, ZeroshotThink_ScienceQA_run_Agent, or "
                        "ZeroshotThink_run_Agent for any task")
    p.add_argument("--llm_name", default="llama-2-13b-chat",
                   help="the Meta-Agent: a served model name, an alias or a local path")
    p.add_argument("--task", default="HotpotQA", help="task name (case-insensitive)")
    p.add_argument("--task_path", required=True,
                   help="questions: self-instruct output (JSON list) or a benchmark file/folder")
    p.add_argument("--save_path", required=True, help="output JSONL of trajectories")
    add_episode_args(p, max_steps=15, temperature=0.9, top_p=1.0, top_k=-1, max_tokens=128,
                     num_beams=1, decoding_note="the reference's trajectory synthesis")
    add_prompts_arg(p)
    add_tool_args(p)
    add_llm_args(p)
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from autoact.agents import check_agent
    from autoact.agents.setup import check_output_flags, load_examples, selected_tools
    from autoact.io import OutputLock, check_distinct, prepare_output
    from autoact.prompting import load_prompts
    from autoact.tasks import get_task

    task = get_task(args.task)
    check_agent(args.agent_name, task)
    prompts = load_prompts(args.prompts)
    tools, tools_source = selected_tools(args.tools, task, prompts)
    examples = load_examples(task, args.task_path, args.limit)
    save = Path(args.save_path)
    check_output_flags(save)
    check_distinct([save, save.with_suffix(".config.json")], [args.task_path, args.tools])
    prepare_output(save)
    with OutputLock(save):
        synthesize(args, task, prompts, tools, tools_source, examples, save)


def synthesize(args, task, prompts, tools, tools_source, examples, save) -> None:
    from autoact.agents.meta import ZeroshotThinkAgent
    from autoact.agents.runner import EPISODE_SCHEMA, run_all, summarize
    from autoact.agents.setup import announce_tools, check_error_rate, default_workers, make_solver
    from autoact.io import JsonlLog, write_json_atomic
    from autoact.llm import make_llm
    from autoact.tools import describe_retrieval, make_environment

    # an existing log is read and checked before any work (with --overwrite it is replaced, but
    # only once the inputs, the tools and the server have been checked)
    out = JsonlLog(save, schema=EPISODE_SCHEMA) if not args.overwrite else None
    llm = None
    try:
        announce_tools(tools, tools_source)
        env = make_environment(args, tools, task)
        print(describe_retrieval(env.retrieval), flush=True)
        llm = make_llm(args, args.llm_name)
        if out is None:
            save.unlink(missing_ok=True)
            out = JsonlLog(save, schema=EPISODE_SCHEMA)
        workers = default_workers(args, llm)
        agent = ZeroshotThinkAgent(llm)
        solve = make_solver(task, tools, env, llm, agent, args,
                            {"agent": args.agent_name, "llm": llm.describe(),
                             "retrieval": env.retrieval["label"]}, prompts=prompts)
        t0 = time.monotonic()
        records = run_all(examples, solve, out, workers=workers, desc=f"{task.name} trajectories",
                          max_consecutive_failures=args.max_consecutive_failures)
        summary = {**summarize(records), "seconds": round(time.monotonic() - t0, 1),
                   "workers": workers, "tools": [t.name for t in tools]}
        config = public_args(args)
        write_json_atomic(save.with_suffix(".config.json"),
                          {"args": config, "task": task.name, "llm": llm.describe(),
                           "decoding": llm.decoding.summary(),
                           "tools": {"source": tools_source, "selected": [t.pool_entry() for t in tools]},
                           "prompts": prompts.describe(), "retrieval": env.retrieval,
                           "summary": summary})
        print(f"{summary['questions']} questions -> {save}: accuracy {summary['accuracy']:.3f}, "
              f"mean reward {summary['mean_reward']:.3f}, halted {summary['halted']}, "
              f"errors {summary['errors']}, mean steps {summary['mean_steps']}, "
              f"tokens {summary['usage']['prompt_tokens']}+{summary['usage']['completion_tokens']}")
        if summary["errors"]:
            print(f"{summary['errors']} questions ended in an error; rerun the same command to retry them")
        check_error_rate(records, args.max_error_rate)
    finally:
        if out is not None:
            out.close()
        if llm is not None:
            llm.close()

