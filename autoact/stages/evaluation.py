"""Group planning: the plan, tool and reflect agents solve the benchmark together; plus the
baselines and ablations in the same harness (``Self_Planning/Group_Planning/run_eval.py``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from autoact.agents.setup import (EpisodeSettings, max_steps_option, max_tokens_option, num_beams_option,
                                  temperature_option, top_k_option, top_p_option)
from autoact.llm import LLMSettings
from autoact.settings import CommonSettings, PromptsSettings, option, positive_int, public
from autoact.tools import ToolSettings

METHODS = ("autoact", "autoact_per_tool", "single", "no_reflect", "zeroshot", "react", "cot", "reflexion",
           "rewoo", "chameleon", "bolaa")
#: other names of a method: FireAct (Chen et al. 2023) fine-tunes one agent on every role's data,
#: which is the ``single`` ablation
ALIASES = {"fireact": "single"}
#: the methods whose agents are fine-tuned adapters; the others run the base model
TUNED_METHODS = ("autoact", "autoact_per_tool", "single", "no_reflect")


@dataclass
class Settings(CommonSettings, LLMSettings, ToolSettings, PromptsSettings, EpisodeSettings):
    """The flags of ``Self_Planning/Group_Planning/run_eval.py``."""
    agent_name: str = option("ZeroshotThink_HotPotQA_run_Agent",
                             help="the agent family (checked against --task)")
    plan_agent: str = option("plan", help="model/adapter name (or folder with --backend hf) of the plan agent")
    tool_agent: str = option("tool", aliases=("--action_agent",),
                             help="the tool agent (--action_agent is the reference code's spelling)")
    reflect_agent: str = option("reflect", help="the reflect agent")
    tool_agents: list = option(factory=list, kind="append", metavar="TOOL=ADAPTER",
                               help="--method autoact_per_tool: the tool agent of one action (repeat per tool, "
                                    "Finish included), e.g. --tool_agents BingSearch=tool_BingSearch; actions "
                                    "without one go to --tool_agent")
    single_agent: str | None = option(None, help="--method single (fireact): the one model that plays all "
                                                 "roles (default --plan_agent)")
    llm_name: str = option("llama-2-13b-chat", help="the base model's served name, for the methods "
                                                    "that run it (all but autoact, single, no_reflect)")
    base_model: str | None = option(None, help="--backend hf: the base model folder the adapter folders "
                                               "are loaded onto")
    method: str = option("autoact", choices=METHODS + tuple(ALIASES),
                         help="the system to run (the list above; fireact is single under its "
                              "paper's name, and its rows are labelled fireact)")
    backbone: str | None = option(None, help="label of this run's base model in reports "
                                             "(default: the base model's name)")
    label: str | None = option(None, help="the method's name in reports (default --method), e.g. "
                                          "\"autoact -filtering\" for agents trained on unfiltered trajectories")
    task: str = option("HotpotQA", help="task name (case-insensitive)")
    task_path: str | None = option(required=True,
                                   help="a folder with one file per level/grade (or one file), or a Hugging Face "
                                        "dataset: hf:NAME[:CONFIG]:SPLIT (a Hub id or a local folder), e.g. "
                                        "hf:hotpotqa/hotpot_qa:distractor:validation")
    save_path: str | None = option(required=True,
                                   help="output folder (one JSONL per level + summary.json)")
    max_trials: int = option(3, type=positive_int,
                             help="--method reflexion: trials per question (default 3)")
    reflexion_oracle: bool = option(False, kind="switch",
                                    help="--method reflexion: judge each trial by the gold answer instead of "
                                         "the model's own verdict (the report labels the row \"reflexion "
                                         "(oracle)\"; not comparable with methods that never see the answer)")
    levels: str | None = option(None, help="comma-separated levels/grades to run (default: all, e.g. "
                                           "easy,medium,hard)")
    max_steps: int = max_steps_option(10)
    temperature: float = temperature_option(0.5, "the reference's group planning")
    top_p: float = top_p_option(0.75)
    top_k: int = top_k_option(40)
    max_tokens: int = max_tokens_option(256)
    num_beams: int = num_beams_option(4)


def build_llm(settings: Settings, method: str):
    """The backend, the role map for ``method`` and the settings as resolved (with a local base
    model: ``backend`` hf and ``model_path`` the base model)."""
    import os
    import re

    from autoact.errors import ConfigError
    from autoact.llm import RoleMap, make_llm

    tuned = method in TUNED_METHODS
    if method == "single":
        names = RoleMap.single(settings.single_agent or settings.plan_agent)
    elif tuned:
        per_tool = tuple(tool_agents(settings).items()) if method == "autoact_per_tool" else ()
        names = RoleMap(settings.plan_agent, settings.tool_agent, settings.reflect_agent, per_tool)
    else:
        names = RoleMap.single(settings.llm_name)
    local = settings.backend == "hf" or (settings.backend == "auto" and settings.base_model
                                     and not (settings.base_url or os.environ.get("OPENAI_BASE_URL")))
    if not local:
        llm = make_llm(settings, settings.llm_name if not tuned else None, check=False)
        resolved = llm.check(names.names())
        table = dict(zip(names.names(), resolved))
        return llm, RoleMap(table[names.plan], table[names.tool], table[names.reflect],
                            tuple((tool, table[model]) for tool, model in names.per_tool)), settings
    if not settings.base_model:
        raise ConfigError("--backend hf needs --base_model (the base model folder the adapters load onto)")
    settings = replace(settings, backend="hf", model_path=settings.base_model)
    if not tuned:
        return make_llm(settings, None), RoleMap.single("__base__"), settings
    if method == "single":            # one adapter plays every role, named for what it is
        return make_llm(settings, None, {"single": names.plan}), RoleMap.single("single"), settings
    adapters: dict[str, str] = {}

    def adapter(name: str, path: str) -> str:        # one adapter per folder, named for its first role
        known = next((n for n, p in adapters.items() if p == path), None)
        if known is None:
            adapters[name] = path
        return known or name
    role_names = {role: adapter(role, names[role]) for role in ("plan", "tool", "reflect")}
    per_tool = tuple((tool, adapter("tool_" + re.sub(r"\W+", "_", tool), path)) for tool, path in names.per_tool)
    return make_llm(settings, None, adapters), RoleMap(**role_names, per_tool=per_tool), settings


def tool_agents(settings: Settings) -> dict[str, str]:
    """``--tool_agents TOOL=ADAPTER`` by the tools' registry names (``autoact_per_tool``)."""
    from autoact.errors import ConfigError
    from autoact.tools import resolve_tool_name
    out: dict[str, str] = {}
    for spec in settings.tool_agents or []:
        name, sep, model = spec.partition("=")
        tool = resolve_tool_name(name.strip())
        if not sep or not model.strip() or tool is None:
            raise ConfigError(f"--tool_agents expects TOOL=ADAPTER with TOOL a tool's name (e.g. "
                              f"BingSearch=tool_BingSearch), got {spec!r}")
        out[tool] = model.strip()
    if not out:
        raise ConfigError("--method autoact_per_tool needs --tool_agents TOOL=ADAPTER, one per tool "
                          "(adapters trained on data_tool_<Name>.json from filter_data.py --per_tool)")
    return out


def run(settings: Settings) -> bool:
    """Run the method on every level's questions (resuming the logs); write summary and config.
    Returns False when everything was already done with these settings (nothing loaded)."""
    from pathlib import Path

    from autoact.agents import check_agent
    from autoact.agents.setup import selected_tools
    from autoact.errors import ConfigError
    from autoact.io import OutputLock, check_distinct, prepare_output
    from autoact.prompting import load_prompts
    from autoact.report.summary import level_log
    from autoact.tasks import get_task

    task = get_task(settings.task)
    check_agent(settings.agent_name, task)
    prompts = load_prompts(settings.prompts)
    if settings.method in ALIASES:
        settings = replace(settings, method=ALIASES[settings.method], label=settings.label or settings.method)
    tools, tools_source = selected_tools(settings.tools, task, prompts)
    levels = [x.strip() for x in settings.levels.split(",") if x.strip()] if settings.levels else None
    groups = task.load_levels(settings.task_path, levels)
    out_dir = Path(settings.save_path)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--save_path {out_dir}: is a file, expected a folder")
    from autoact.tasks.hub import hub_inputs, is_hub_path
    inputs = [settings.tools] + (hub_inputs(settings.task_path) if is_hub_path(settings.task_path) else
                                 [str(f) for f in Path(settings.task_path).iterdir()]
                                 if Path(settings.task_path).is_dir() else [settings.task_path])
    paths = {level: level_log(task, out_dir, level) for level in groups}
    check_distinct([*paths.values(), out_dir / "summary.json", out_dir / "eval.config.json"], inputs)
    for path in paths.values():
        prepare_output(path)
    with OutputLock(out_dir):
        return _evaluate(settings, task, prompts, tools, tools_source, groups, out_dir, paths)


def up_to_date(settings: Settings, groups: dict, logs: dict, out_dir) -> bool:
    """Every question answered without an error and the summary written by a run with these
    settings: nothing to do (and no model to load)."""
    from autoact.errors import DataError
    from autoact.io import read_json
    for level, examples in groups.items():
        examples = examples[:settings.limit] if settings.limit else examples
        if not {ex.id for ex in examples} <= logs[level].done_ids():
            return False
    try:
        config = read_json(out_dir / "eval.config.json")
    except DataError:
        return False
    return isinstance(config, dict) and config.get("request") == request_of(settings) and \
        (out_dir / "summary.json").is_file()


def request_of(settings: Settings) -> dict:
    """The settings a complete evaluation is checked against: all but how it was started."""
    import json
    return {k: v for k, v in json.loads(json.dumps(public(settings), default=str)).items() if k != "overwrite"}


def _evaluate(settings, task, prompts, tools, tools_source, groups, out_dir, paths) -> bool:
    from pathlib import Path

    from autoact.agents.baselines import CoTAgent, cot_instruction, react_instruction
    from autoact.agents.bolaa import BolaaAgent
    from autoact.agents.chameleon import ChameleonAgent
    from autoact.agents.group import GroupPlanningAgent
    from autoact.agents.meta import ZeroshotThinkAgent
    from autoact.agents.reflexion import ReflexionAgent
    from autoact.agents.rewoo import ReWOOAgent
    from autoact.agents.runner import EPISODE_SCHEMA, run_all
    from autoact.agents.setup import announce_tools, check_error_rate, default_workers, make_solver
    from autoact.io import JsonlLog, write_json_atomic
    from autoact.report.summary import reference_normalizer, run_summary
    from autoact.tasks.hub import hub_contexts
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
    logs = open_logs() if not settings.overwrite else {}
    llm = None
    request = request_of(settings)
    try:
        if logs and up_to_date(settings, groups, logs, out_dir):
            print(f"{out_dir}: every question is answered and the summary is up to date; nothing to do")
            return False
        announce_tools(tools, tools_source)
        env = make_environment(settings, tools, task, contexts=hub_contexts(
            settings.task_path, [ex for exs in groups.values() for ex in exs]))
        print(describe_retrieval(env.retrieval), flush=True)
        llm, roles, settings = build_llm(settings, settings.method)
        if settings.overwrite:
            for path in paths.values():
                path.unlink(missing_ok=True)
            logs = open_logs()
        workers = default_workers(settings, llm)
        policy, instruction, reflect = {
            "autoact": (GroupPlanningAgent(llm, roles), "", True),
            "autoact_per_tool": (GroupPlanningAgent(llm, roles), "", True),
            "single": (GroupPlanningAgent(llm, roles), "", True),
            "no_reflect": (GroupPlanningAgent(llm, roles), "", False),
            "zeroshot": (ZeroshotThinkAgent(llm, roles.plan), "", True),
            "react": (ZeroshotThinkAgent(llm, roles.plan), react_instruction(task, tools, prompts), False),
            "cot": (CoTAgent(llm, roles.plan), cot_instruction(task, prompts), False),
            "reflexion": (ReflexionAgent(llm, roles.plan, max_trials=settings.max_trials,
                                         oracle=settings.reflexion_oracle),
                          react_instruction(task, tools, prompts), False),
            "rewoo": (ReWOOAgent(llm, roles.plan), "", False),
            "chameleon": (ChameleonAgent(llm, roles.plan), "", False),
            "bolaa": (BolaaAgent(llm, roles.plan), "", False),
        }[settings.method]
        backbone = settings.backbone or (Path(settings.base_model).name if settings.base_model else
                                     (llm.default_model or settings.llm_name))
        extra = {"method": settings.method, "agent": settings.agent_name, "llm": llm.describe(),
                 "roles": {"plan": roles.plan, "tool": roles.tool, "reflect": roles.reflect}
                 | ({"tool_agents": dict(roles.per_tool)} if roles.per_tool else {}),
                 "retrieval": env.retrieval["label"]}
        solve = make_solver(task, tools, env, llm, policy, settings, extra, instruction=instruction,
                            reflect=reflect, prompts=prompts)
        oracle = settings.method == "reflexion" and settings.reflexion_oracle
        label = settings.label or (f"{settings.method} (oracle)" if oracle else settings.method)
        t0 = time.monotonic()
        done: list[dict] = []
        for level, examples in groups.items():
            examples = examples[:settings.limit] if settings.limit else examples
            done += run_all(examples, solve, logs[level], workers=workers, desc=f"{task.name} {level}",
                            max_consecutive_failures=settings.max_consecutive_failures)
        summary = run_summary(task, out_dir, {lv: lg.records() for lv, lg in logs.items()},
                              method=label, backbone=backbone,
                              settings=public(settings), roles=extra["roles"],
                              seconds=round(time.monotonic() - t0, 1), retrieval=env.retrieval)
        write_json_atomic(out_dir / "eval.config.json", {
            "args": public(settings), "request": request, "task": task.name, "method": settings.method,
            "label": label, "llm": llm.describe(),
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
        check_error_rate(done, settings.max_error_rate)
        return True
    finally:
        for lg in logs.values():
            lg.close()
        if llm is not None:
            llm.close()

