"""Filtering: keep the trajectories the Meta-Agent got right and split each into training data
for the three agents.

For every step of a kept trajectory (``I`` its instruction, ``q`` its question, ``H`` the steps
before it), with the prompt functions of :mod:`autoact.agents.prompts`:

* a step that follows a ``Finish`` and is a ``Reflect`` -> **reflect**:
  ``thought_input(I, q, H)`` -> the thought; ``action_input(I, q, H, thought)`` -> ``Reflect[...]``;
* any other valid step -> **plan**: ``thought_input`` -> the thought; ``action_input`` -> the action
  type; and **tool**: ``argument_input(I, q, H, thought, type)`` -> the argument.

With ``--per_tool`` the tool agent's examples are also split by the action they argue into
``data_tool_<Name>.json`` (one file per tool, Finish included): the training data of
``run_eval.py --method autoact_per_tool``, the paper's finer division of labour.

Steps whose action was invalid are not trained on (they stay in the history of later steps,
as they happened). Group planning builds its prompts with the same functions and the same
prompts file, so training inputs and inference prompts are byte-identical.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable

from autoact.agents.episode import steps_from_record
from autoact.agents.prompts import Step, action_input, argument_input, prefix, thought_input
from autoact.errors import DataError
from autoact.llm.models import ROLES
from autoact.prompting import Prompts, resolve
from autoact.settings import CommonSettings, PromptsSettings, option, positive_int
from autoact.tools import parse_action, resolve_tool_name

def record_instruction(record: dict, where: str = "record", prompts: Prompts | None = None) -> str:
    """The instruction a trajectory was generated with, recovered from its final prompt (a
    record read from a reference log carries the one its parser found)."""
    if isinstance(record.get("instruction"), str):
        return record["instruction"]
    steps = steps_from_record(record)
    tail = prefix("", record["question"], steps, prompts)
    prompt = record.get("prompt") or ""
    if not prompt.endswith(tail) or len(prompt) == len(tail):
        raise DataError(f"{where}: its \"prompt\" does not end with its question and steps as the "
                        f"prompts file lays them out; is it a trajectory log from run_task.py, "
                        f"written with the same --prompts file?")
    return prompt[:-len(tail)]


def is_invalid(step: Step) -> bool:
    """The step's action was not executed. Logs of this project mark it; for older or
    reference logs the observation tells (both projects start it with "Invalid action")."""
    return step.invalid or step.observation.lower().startswith("invalid action")


def role_examples(record: dict, where: str = "record", prompts: Prompts | None = None,
                  instruction: str | None = None, split_tools: bool = False) -> dict[str, list[dict]]:
    """``{"plan": [...], "tool": [...], "reflect": [...]}`` of ``{"input", "output"}`` pairs.
    ``instruction``: use this one instead of the one recovered from the record's prompt.
    ``split_tools``: also ``"tool:<Name>"``, the tool examples of each action by registry name."""
    p = resolve(prompts)
    instr = instruction if instruction is not None else record_instruction(record, where, p)
    q = record["question"]
    steps = steps_from_record(record)
    out: dict[str, list[dict]] = {r: [] for r in ROLES}
    for i, step in enumerate(steps):
        history = steps[:i]
        parsed = parse_action(step.action)
        if parsed is None or is_invalid(step):
            continue
        name = resolve_tool_name(parsed[0]) or parsed[0]
        after_finish = i > 0 and steps[i - 1].action.startswith("Finish[")
        if after_finish:
            if name == "Reflect":
                out["reflect"].append({"input": thought_input(instr, q, history, p), "output": step.thought})
                out["reflect"].append({"input": action_input(instr, q, history, step.thought, p),
                                       "output": step.action})
            continue
        if name == "Reflect":
            continue
        out["plan"].append({"input": thought_input(instr, q, history, p), "output": step.thought})
        out["plan"].append({"input": action_input(instr, q, history, step.thought, p), "output": name})
        pair = {"input": argument_input(instr, q, history, step.thought, name, p), "output": parsed[1]}
        out["tool"].append(pair)
        if split_tools:
            out.setdefault(f"tool:{name}", []).append(pair)
    return out


#: --criterion values: what a trajectory must be to become training data
CRITERIA = {
    "correct": "finished, no error, exactly right (exact match / option match)",
    "reward": "finished, no error, token F1 of 1",
    "none": "no error; wrong, halted and unfinished ones too (the paper's -filtering ablation)",
}


@dataclass
class Settings(CommonSettings, PromptsSettings):
    """The flags of ``Scripts/filter_data.py``."""
    source_path: str | None = option(required=True, help="trajectory JSONL from run_task.py (or from the "
                                                         "reference's run_task.py)")
    save_path: str | None = option(required=True, help="folder for data_{plan,tool,reflect}.json")
    task_name: str | None = option(required=True,
                                   help="task of the trajectories (checked against the log)")
    filter_num: int | None = option(type=positive_int, required=True,
                                    help="keep at most this many trajectories")
    criterion: str = option("correct", choices=tuple(CRITERIA),
                            help="which trajectories become training data: " +
                                 "; ".join(f"{k}: {v}" for k, v in CRITERIA.items()) + " (default correct)")
    instruction: str = option("log", choices=("log", "prompts"),
                              help="log: train on the instruction each trajectory was generated with "
                                   "(default); prompts: rebuild it from --prompts and --tools, e.g. for a "
                                   "reference log whose wording evaluation here will not use")
    tools: str | None = option(None, help="--instruction prompts: the tool-selection file (default as "
                                          "run_eval.py: Self_Planning/Tool_Selection/{Task}_Tools.json, "
                                          "else the task's default)")
    seed: int = option(0, type=int, help="shuffling seed")
    per_tool: bool = option(False, kind="switch",
                            help="also split the tool agent's examples by the action they argue, one "
                                 "data_tool_<Name>.json per tool (Finish included): the training data of "
                                 "run_eval.py --method autoact_per_tool (the finer division of labour)")
    overwrite: bool = option(False, kind="switch", help="replace existing training data")


def keep(record: dict, criterion: str = "correct") -> bool:
    """Kept: no error, finished (not halted), and exactly right: ``correct`` (exact match /
    option match) by default, or ``reward`` >= 1 (token F1 of 1) with ``criterion="reward"``.
    ``criterion="none"`` keeps every trajectory that did not end in an error."""
    if record.get("error"):
        return False
    if criterion == "none":
        return True
    if record.get("halted") or not record.get("finished", True):
        return False
    if criterion == "reward":
        return float(record.get("reward") or 0.0) >= 1.0
    return bool(record.get("correct"))


def per_tool_file(name: str) -> str:
    """The file of the tool agent's examples for tool ``name`` (``--per_tool``)."""
    safe = re.sub(r"\W+", "_", name).strip("_")
    return f"data_tool_{safe}.json"


def build_training_data(records: Iterable[dict], *, filter_num: int, seed: int = 0,
                        criterion: str = "correct", source: str = "log",
                        prompts: Prompts | None = None,
                        instruction: str | None = None, split_tools: bool = False) -> tuple[dict, list[str]]:
    """Shuffle (seeded), keep at most ``filter_num`` good trajectories, split them by role.
    Returns the role lists (each shuffled) and the kept ids. ``instruction`` replaces the one
    each trajectory was generated with (see ``filter_data.py --instruction``); ``split_tools``
    adds the ``"tool:<Name>"`` lists (shuffled after the roles', which stay as without it)."""
    pool = [r for r in records if keep(r, criterion)]
    rng = random.Random(seed)
    pool.sort(key=lambda r: str(r["id"]))
    rng.shuffle(pool)
    kept = pool[:filter_num]
    data: dict[str, list[dict]] = {r: [] for r in ROLES}
    for rec in kept:
        for role, pairs in role_examples(rec, f"{source}: id {rec['id']}", prompts, instruction,
                                         split_tools).items():
            data.setdefault(role, []).extend(pairs)
    for role in ROLES:
        rng.shuffle(data[role])
    for key in sorted(k for k in data if k not in ROLES):
        rng.shuffle(data[key])
    return data, [str(r["id"]) for r in kept]


# ----------------------------------------------------------------------------- the stage

def run(settings: Settings) -> bool:
    """Filter the log into the three roles' training data (a no-op when it is up to date).
    Returns whether it wrote the data."""
    from pathlib import Path

    from autoact.agents.runner import EPISODE_SCHEMA
    from autoact.io import OutputLock, check_distinct
    from autoact.prompting import load_prompts
    from autoact.reference_logs import read_log
    from autoact.tasks import get_task

    task = get_task(settings.task_name)
    prompts = load_prompts(settings.prompts)
    source = Path(settings.source_path)
    records, from_reference = read_log(source, schema=EPISODE_SCHEMA)
    for i, rec in enumerate(records, 1):
        for key in ("question", "steps", "prompt", "correct"):
            if key not in rec:
                raise DataError(f"{source}: record {i} (id {rec.get('id')}) has no {key!r}; is this "
                                f"a trajectory log from run_task.py?")
        if rec.get("task") and str(rec["task"]).lower() != task.name.lower():
            raise DataError(f"{source}: record {i} is a {rec['task']} trajectory, not {task.name}")
    instruction = None
    if settings.instruction == "prompts":
        from autoact.agents.prompts import instruction as build_instruction
        from autoact.agents.setup import selected_tools
        tools, tools_source = selected_tools(settings.tools, task, prompts)
        instruction = build_instruction(task, tools, prompts=prompts)
        print(f"instruction rebuilt from the prompts file with tools {', '.join(t.name for t in tools)} "
              f"(from {tools_source})")
    elif from_reference:
        print(f"note: {from_reference} lines are in the reference's log format: their steps are parsed "
              f"from the prompt and they keep the reference's instruction; evaluate with a prompts "
              f"file of the same wording, or pass --instruction prompts")
    folder = Path(settings.save_path)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--save_path {folder}: is a file, expected a folder")
    outputs = {role: folder / f"data_{role}.json" for role in ROLES}
    config_path = folder / "data_config.json"
    check_distinct([*outputs.values(), config_path], [source, settings.tools, settings.prompts])
    with OutputLock(folder):
        return _build(settings, task, prompts, source, records, from_reference, instruction, folder, outputs,
                      config_path)


def _build(settings, task, prompts, source, records, from_reference, instruction, folder, outputs,
           config_path) -> bool:
    import hashlib

    from autoact.errors import OutputExistsError
    from autoact.io import read_json, write_json_atomic

    fingerprint = {"source": str(source), "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                "task": task.name, "filter_num": settings.filter_num, "criterion": settings.criterion,
                "seed": settings.seed, "instruction": settings.instruction, "prompts": prompts.describe()}
    existing = [p for p in outputs.values() if p.exists()]
    if existing and not settings.overwrite:
        old = read_json(config_path) if config_path.exists() else {}
        same = len(existing) == len(outputs) and old.get("settings") == fingerprint
        if same and (not settings.per_tool or "per_tool" in old):
            print(f"{folder}: training data is up to date with {source}; nothing to do")
            return False
        if not same:
            raise OutputExistsError(f"{existing[0]} exists (built from another log or settings); pass "
                                    f"--overwrite to replace it")
        # the same data, now split by tool as well: built again, the role files come out identical
    data, kept = build_training_data(records, filter_num=settings.filter_num, seed=settings.seed,
                                     criterion=settings.criterion, source=str(source), prompts=prompts,
                                     instruction=instruction, split_tools=settings.per_tool)
    if not kept:
        what = "without an error" if settings.criterion == "none" else f"{settings.criterion} and finished"
        raise DataError(f"{source}: none of its {len(records)} trajectories is {what}; nothing to train on")
    for role in ROLES:
        write_json_atomic(outputs[role], data[role])
    counts = {role: len(data[role]) for role in ROLES}
    per_tool = {}
    for key in sorted(k for k in data if k.startswith("tool:")):
        name = key.split(":", 1)[1]
        per_tool[name] = {"file": per_tool_file(name), "examples": len(data[key])}
        write_json_atomic(folder / per_tool[name]["file"], data[key])
    write_json_atomic(config_path, {"settings": fingerprint, "trajectories": len(records),
                                    "reference_format": from_reference,
                                    "kept": len(kept), "kept_ids": kept, "examples": counts}
                      | ({"per_tool": per_tool} if settings.per_tool else {}))
    rule = "any without an error" if settings.criterion == "none" else f"{settings.criterion}, finished"
    print(f"kept {len(kept)} of {len(records)} trajectories ({rule})")
    for role in ROLES:
        print(f"  {role:8s} {counts[role]:6d} examples -> {outputs[role]}")
    for name, entry in per_tool.items():
        print(f"    {name:14s} {entry['examples']:6d} examples -> {folder / entry['file']}")
    return True

