"""Trajectory synthesis: the zero-shot Meta-Agent solves its self-instructed questions with the
selected tools, reflecting on each answer (``Self_Planning/Traj_Syn/run_task.py``)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from autoact.agents.setup import (EpisodeSettings, max_steps_option, max_tokens_option, num_beams_option,
                                  temperature_option, top_k_option, top_p_option)
from autoact.llm import LLMSettings
from autoact.settings import CommonSettings, PromptsSettings, option, public
from autoact.tools import ToolSettings


@dataclass
class Settings(CommonSettings, LLMSettings, ToolSettings, PromptsSettings, EpisodeSettings):
    """The flags of ``Self_Planning/Traj_Syn/run_task.py``."""
    agent_name: str = option("ZeroshotThink_HotPotQA_run_Agent",
                             help="ZeroshotThink_HotPotQA_run_Agent, ZeroshotThink_ScienceQA_run_Agent, or "
                                  "ZeroshotThink_run_Agent for any task")
    llm_name: str = option("llama-2-13b-chat",
                           help="the Meta-Agent: a served model name, an alias or a local path")
    task: str = option("HotpotQA", help="task name (case-insensitive)")
    task_path: str | None = option(required=True,
                                   help="questions: self-instruct output (JSON list), a benchmark file/folder, "
                                        "or a Hugging Face dataset: hf:NAME[:CONFIG]:SPLIT (a Hub id or a local "
                                        "folder), e.g. hf:hotpotqa/hotpot_qa:distractor:train")
    save_path: str | None = option(required=True, help="output JSONL of trajectories")
    max_steps: int = max_steps_option(15)
    temperature: float = temperature_option(0.9, "the reference's trajectory synthesis")
    top_p: float = top_p_option(1.0)
    top_k: int = top_k_option(-1)
    max_tokens: int = max_tokens_option(128)
    num_beams: int = num_beams_option(1)


def run(settings: Settings) -> None:
    """Solve every question (resuming the log) and write the log's config and summary."""
    from pathlib import Path

    from autoact.agents import check_agent
    from autoact.agents.setup import check_output_flags, load_examples, selected_tools
    from autoact.io import OutputLock, check_distinct, prepare_output
    from autoact.prompting import load_prompts
    from autoact.tasks import get_task

    task = get_task(settings.task)
    check_agent(settings.agent_name, task)
    prompts = load_prompts(settings.prompts)
    tools, tools_source = selected_tools(settings.tools, task, prompts)
    from autoact.tasks.hub import hub_examples, hub_inputs, is_hub_path
    hub = is_hub_path(settings.task_path)
    examples = (hub_examples(task, settings.task_path, settings.limit) if hub
                else load_examples(task, settings.task_path, settings.limit))
    save = Path(settings.save_path)
    check_output_flags(save)
    check_distinct([save, save.with_suffix(".config.json")],
                   [*(hub_inputs(settings.task_path) if hub else [settings.task_path]), settings.tools])
    prepare_output(save)
    with OutputLock(save):
        _synthesize(settings, task, prompts, tools, tools_source, examples, save)


def _synthesize(settings, task, prompts, tools, tools_source, examples, save) -> None:
    from autoact.agents.meta import ZeroshotThinkAgent
    from autoact.agents.runner import EPISODE_SCHEMA, run_all, summarize
    from autoact.agents.setup import announce_tools, check_error_rate, default_workers, make_solver
    from autoact.io import JsonlLog, write_json_atomic
    from autoact.llm import make_llm
    from autoact.tasks.hub import hub_contexts
    from autoact.tools import describe_retrieval, make_environment

    # an existing log is read and checked before any work (with --overwrite it is replaced, but
    # only once the inputs, the tools and the server have been checked)
    out = JsonlLog(save, schema=EPISODE_SCHEMA) if not settings.overwrite else None
    llm = None
    try:
        announce_tools(tools, tools_source)
        env = make_environment(settings, tools, task, contexts=hub_contexts(settings.task_path, examples))
        print(describe_retrieval(env.retrieval), flush=True)
        llm = make_llm(settings, settings.llm_name)
        if out is None:
            save.unlink(missing_ok=True)
            out = JsonlLog(save, schema=EPISODE_SCHEMA)
        workers = default_workers(settings, llm)
        agent = ZeroshotThinkAgent(llm)
        solve = make_solver(task, tools, env, llm, agent, settings,
                            {"agent": settings.agent_name, "llm": llm.describe(),
                             "retrieval": env.retrieval["label"]}, prompts=prompts)
        t0 = time.monotonic()
        records = run_all(examples, solve, out, workers=workers, desc=f"{task.name} trajectories",
                          max_consecutive_failures=settings.max_consecutive_failures)
        summary = {**summarize(records), "seconds": round(time.monotonic() - t0, 1),
                   "workers": workers, "tools": [t.name for t in tools]}
        config = public(settings)
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
        check_error_rate(records, settings.max_error_rate)
    finally:
        if out is not None:
            out.close()
        if llm is not None:
            llm.close()

