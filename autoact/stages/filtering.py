"""Filtering: keep the trajectories the Meta-Agent got right and split each into training data
for the three agents.

For every step of a kept trajectory (``I`` its instruction, ``q`` its question, ``H`` the steps
before it), with the prompt functions of :mod:`autoact.agents.prompts`:

* a step that follows a ``Finish`` and is a ``Reflect`` -> **reflect**:
  ``thought_input(I, q, H)`` -> the thought; ``action_input(I, q, H, thought)`` -> ``Reflect[...]``;
* any other valid step -> **plan**: ``thought_input`` -> the thought; ``action_input`` -> the action
  type; and **tool**: ``argument_input(I, q, H, thought, type)`` -> the argument.

Steps whose action was invalid are not trained on (they stay in the history of later steps,
as they happened). Group planning builds its prompts with the same functions and the same
prompts file, so training inputs and inference prompts are byte-identical.
"""

from __future__ import annotations

import random
from typing import Iterable

from autoact.agents.episode import steps_from_record
from autoact.agents.prompts import Step, action_input, argument_input, prefix, thought_input
from autoact.errors import DataError
from autoact.llm.models import ROLES
from autoact.prompting import Prompts, resolve
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
                  instruction: str | None = None) -> dict[str, list[dict]]:
    """``{"plan": [...], "tool": [...], "reflect": [...]}`` of ``{"input", "output"}`` pairs.
    ``instruction``: use this one instead of the one recovered from the record's prompt."""
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
        out["tool"].append({"input": argument_input(instr, q, history, step.thought, name, p),
                            "output": parsed[1]})
    return out


#: --criterion values: what a trajectory must be to become training data
CRITERIA = {
    "correct": "finished, no error, exactly right (exact match / option match)",
    "reward": "finished, no error, token F1 of 1",
    "none": "no error; wrong, halted and unfinished ones too (the paper's -filtering ablation)",
}


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


def build_training_data(records: Iterable[dict], *, filter_num: int, seed: int = 0,
                        criterion: str = "correct", source: str = "log",
                        prompts: Prompts | None = None,
                        instruction: str | None = None) -> tuple[dict, list[str]]:
    """Shuffle (seeded), keep at most ``filter_num`` good trajectories, split them by role.
    Returns the role lists (each shuffled) and the kept ids. ``instruction`` replaces the one
    each trajectory was generated with (see ``filter_data.py --instruction``)."""
    pool = [r for r in records if keep(r, criterion)]
    rng = random.Random(seed)
    pool.sort(key=lambda r: str(r["id"]))
    rng.shuffle(pool)
    kept = pool[:filter_num]
    data: dict[str, list[dict]] = {r: [] for r in ROLES}
    for rec in kept:
        for role, pairs in role_examples(rec, f"{source}: id {rec['id']}", prompts, instruction).items():
            data[role].extend(pairs)
    for role in ROLES:
        rng.shuffle(data[role])
    return data, [str(r["id"]) for r in kept]
