"""Group planning: the plan, tool and reflect agents solve the benchmark together; plus the
baselines and ablations in the same harness.

    python Self_Planning/Group_Planning/run_eval.py --agent_name ZeroshotThink_HotPotQA_run_Agent \\
        --plan_agent plan --tool_agent tool --reflect_agent reflect --max_context_len 4096 \\
        --task HotpotQA --task_path Self_Planning/Group_Planning/benchmark_run/data/hotpotqa \\
        --save_path Self_Planning/Group_Planning/output/13b

The agent names are model names on an OpenAI-compatible server (--base_url / $OPENAI_BASE_URL;
e.g. one vLLM server with the three adapters: Scripts/serve_vllm.sh), or with
--backend hf --base_model DIR, adapter folders loaded once onto that base in this process.
Writes one JSONL per level/grade into --save_path (easy.jsonl, ... / grade1-4.jsonl, ...),
resumable like trajectory synthesis, summary.json and eval.config.json (settings, the decoding
actually sent, tools, prompts file, retrieval setting). --method picks the system:
autoact (three agents), single (one model plays all roles: --single_agent), no_reflect (no
reflect agent: the first Finish is final), zeroshot (the Meta-Agent prompt, base model:
--llm_name), react (few-shot ReAct, base model) or cot (few-shot chain of thought, base model).

The reference's protocol by default: temperature 0.5, top_p 0.75, top_k 40, num_beams 4, at most
256 tokens per call, stop at the newline; the tools of Self_Planning/Tool_Selection/{Task}_Tools.json
when it exists; live Wikipedia (--wiki).
"""

from __future__ import annotations

import argparse
import time

from autoact.cli import add_common_args, add_prompts_arg, public_args
from autoact.llm import add_llm_args
from autoact.tools import add_tool_args

METHODS = ("autoact", "single", "no_reflect", "zeroshot", "react", "cot")
#: the methods whose agents are fine-tuned adapters; the others run the base model
TUNED_METHODS = ("autoact", "single", "no_reflect")


def make_parser() -> argparse.ArgumentParser:
    from autoact.agents.setup import add_episode_args
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--agent_name", default="ZeroshotThink_HotPotQA_run_Agent",
                   help="the agent family (checked against --task)")
    p.add_argument("--plan_agent", default="plan", help="model/adapter name (or folder with --backend hf) of the plan agent")
    p.add_argument("--tool_agent", "--action_agent", dest="tool_agent", default="tool",
                   help="the tool agent (--action_agent is the reference code's spelling)")
    p.add_argument("--reflect_agent", default="reflect", help="the reflect agent")
    p.add_argument("--single_agent", default=None,
                   help="--method single: the one model that plays all roles (default --plan_agent)")
    p.add_argument("--llm_name", default="llama-2-13b-chat",
                   help="--method zeroshot/react/cot: the base model's served name")
    p.add_argument("--base_model", default=None,
                   help="--backend hf: the base model folder the adapter folders are loaded onto")
    p.add_argument("--method", choices=METHODS, default="autoact")
    p.add_argument("--backbone", default=None, help="label of this run's base model in reports "
                                                     "(default: the base model's name)")
    p.add_argument("--label", default=None,
                   help="the method's name in reports (default --method), e.g. \"autoact -filtering\" "
                        "for agents trained on unfiltered trajectories")
    p.add_argument("--task", default="HotpotQA", help="task name (case-insensitive)")
    p.add_argument("--task_path", required=True,
                   help="a folder with one file per level/grade (or one file)")
    p.add_argument("--save_path", required=True, help="output folder (one JSONL per level + summary.json)")
    p.add_argument("--levels", default=None,
                   help="comma-separated levels/grades to run (default: all, e.g. easy,medium,hard)")
    add_episode_args(p, max_steps=10, temperature=0.5, top_p=0.75, top_k=40, max_tokens=256,
                     num_beams=4, decoding_note="the reference's group planning")
    add_prompts_arg(p)
    add_tool_args(p)
    add_llm_args(p)
    add_common_args(p)
    return p


def build_llm(args, method: str):
    """The backend and the role map for ``method``."""
    import os

    from autoact.errors import ConfigError
    from autoact.llm import RoleMap, make_llm

    tuned = method in TUNED_METHODS
    if method == "single":
        names = RoleMap.single(args.single_agent or args.plan_agent)
    elif tuned:
        names = RoleMap(args.plan_agent, args.tool_agent, args.reflect_agent)
    else:
        names = RoleMap.single(args.llm_name)
    local = args.backend == "hf" or (args.backend == "auto" and args.base_model
                                     and not (args.base_url or os.environ.get("OPENAI_BASE_URL")))
    if not local:
        llm = make_llm(args, args.llm_name if not tuned else None, check=False)
        resolved = llm.check(names.names())
        table = dict(zip(names.names(), resolved))
        return llm, RoleMap(table[names.plan], table[names.tool], table[names.reflect])
    if not args.base_model:
        raise ConfigError("--backend hf needs --base_model (the base model folder the adapters load onto)")
    args.backend, args.model_path = "hf", args.base_model
    if not tuned:
        return make_llm(args, None), RoleMap.single("__base__")
    if method == "single":            # one adapter plays every role, named for what it is
        return make_llm(args, None, {"single": names.plan}), RoleMap.single("single")
    adapters: dict[str, str] = {}
    role_names = {}
    for role in ("plan", "tool", "reflect"):
        path = names[role]
        known = next((n for n, p in adapters.items() if p == path), None)
        role_names[role] = known or role
        if known is None:
            adapters[role] = path
    return make_llm(args, None, adapters), RoleMap(**role_names)


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from autoact.agents import check_agent
    from autoact.agents.setup import selected_tools
    from autoact.errors import ConfigError
    from autoact.io import OutputLock, check_distinct, prepare_output
    from autoact.prompting import load_prompts
    from autoact.report.summary import level_log
    from autoact.tasks import get_task

    task = get_task(args.task)
    check_agent(args.agent_name, task)
    prompts = load_prompts(args.prompts)
    tools, tools_source = selected_tools(args.tools, task, prompts)
    levels = [x.strip() for x in args.levels.split(",") if x.strip()] if args.levels else None
    groups = task.load_levels(args.task_path, levels)
    out_dir = Path(args.save_path)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--save_path {out_dir}: is a file, expected a folder")
    inputs = [args.tools] + ([str(f) for f in Path(args.task_path).iterdir()]
                             if Path(args.task_path).is_dir() else [args.task_path])
    paths = {level: level_log(task, out_dir, level) for level in groups}
    check_distinct([*paths.values(), out_dir / "summary.json", out_dir / "eval.config.json"], inputs)
    for path in paths.values():
        prepare_output(path)
    with OutputLock(out_dir):
        evaluate(args, task, prompts, tools, tools_source, groups, out_dir, paths)


def evaluate(args, task, prompts, tools, tools_source, groups, out_dir, paths) -> None:
    from pathlib import Path

    from autoact.agents.baselines import CoTAgent, cot_instruction, react_instruction
    from autoact.agents.group import GroupPlanningAgent
    from autoact.agents.meta import ZeroshotThinkAgent
    from autoact.agents.runner import EPISODE_SCHEMA, run_all
    from autoact.agents.setup import announce_tools, check_error_rate, default_workers, make_solver
    from autoact.io import JsonlLog, write_json_atomic
    from autoact.report.summary import reference_normalizer, run_summary
    from autoact.tools import describe_retrieval, make_environment

    def open_logs() -> dict:
        # an existing log is read (and checked) before any work; lines the reference wrote
        # (its 1-4.jsonl, easy.jsonl, ...) count as done for the questions they answer
        out = {}
        for level, examples in groups.items():
            path = paths[level]
            out[level] = JsonlLog(path, normalize=reference_normalizer(task, level, examples, path),
                                   schema=EPISODE_SCHEMA)
            if out[level].converted:
                print(f"{path}: {out[level].converted} lines from the reference's run; continuing it")
        return out

    # with --overwrite the logs are replaced only once the inputs, tools and server are checked
    logs = open_logs() if not args.overwrite else {}
    llm = None
    try:
        announce_tools(tools, tools_source)
        env = make_environment(args, tools, task)
        print(describe_retrieval(env.retrieval), flush=True)
        llm, roles = build_llm(args, args.method)
        if args.overwrite:
            for path in paths.values():
                path.unlink(missing_ok=True)
            logs = open_logs()
        workers = default_workers(args, llm)
        policy, instruction, reflect = {
            "autoact": (GroupPlanningAgent(llm, roles), "", True),
            "single": (GroupPlanningAgent(llm, roles), "", True),
            "no_reflect": (GroupPlanningAgent(llm, roles), "", False),
            "zeroshot": (ZeroshotThinkAgent(llm, roles.plan), "", True),
            "react": (ZeroshotThinkAgent(llm, roles.plan), react_instruction(task, tools, prompts), False),
            "cot": (CoTAgent(llm, roles.plan), cot_instruction(task, prompts), False),
        }[args.method]
        backbone = args.backbone or (Path(args.base_model).name if args.base_model else
                                     (llm.default_model or args.llm_name))
        extra = {"method": args.method, "agent": args.agent_name, "llm": llm.describe(),
                 "roles": {"plan": roles.plan, "tool": roles.tool, "reflect": roles.reflect},
                 "retrieval": env.retrieval["label"]}
        solve = make_solver(task, tools, env, llm, policy, args, extra, instruction=instruction,
                            reflect=reflect, prompts=prompts)
        t0 = time.monotonic()
        done: list[dict] = []
        for level, examples in groups.items():
            examples = examples[:args.limit] if args.limit else examples
            done += run_all(examples, solve, logs[level], workers=workers, desc=f"{task.name} {level}",
                            max_consecutive_failures=args.max_consecutive_failures)
        summary = run_summary(task, out_dir, {lv: lg.records() for lv, lg in logs.items()},
                              method=args.label or args.method, backbone=backbone,
                              settings=public_args(args), roles=extra["roles"],
                              seconds=round(time.monotonic() - t0, 1), retrieval=env.retrieval)
        write_json_atomic(out_dir / "eval.config.json", {
            "args": public_args(args), "task": task.name, "method": args.method,
            "label": args.label or args.method, "llm": llm.describe(),
            "decoding": llm.decoding.summary(),
            "tools": {"source": tools_source, "selected": [t.pool_entry() for t in tools]},
            "prompts": prompts.describe(), "retrieval": env.retrieval})
        write_json_atomic(out_dir / "summary.json", summary)
        for level, row in summary["levels"].items():
            print(f"{task.name} {level}: {row['questions']} questions, " +
                  ", ".join(f"{k} {row[k]:.3f}" for k in summary["metrics"]) +
                  f", halted {row['halted']}, errors {row['errors']}")
        print(describe_retrieval(env.retrieval))
        print(f"-> {out_dir}/summary.json")
        check_error_rate(done, args.max_error_rate)
    finally:
        for lg in logs.values():
            lg.close()
        if llm is not None:
            llm.close()

