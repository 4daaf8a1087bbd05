"""Logs of the reference implementation (zjunlp/AutoAct), read as this project's records.

The reference wrote one JSON line per question with only ``question, answer, correct, reward,
halted, error, prompt``: no id, no steps. :func:`from_reference_record` rebuilds a record of
this project's shape from such a line by parsing the scratchpad at the end of its ``prompt``
(``Thought n:`` / ``Action n:`` / ``Observation n:`` lines, with or without step numbers and
with the reference's spellings ``Aciton`` and ``Obversation``), so the filter, the analysis and
the report take reference logs as they are. :func:`read_log` reads a log of either kind (or a
mix: a run resumed here appends records of this project's shape).
"""

from __future__ import annotations

import re
from pathlib import Path

from autoact.agents.prompts import Step
from autoact.errors import DataError
from autoact.io import check_fields, iter_jsonl, stable_id

_LINE = re.compile(r"^(Thought|Action|Aciton|Observation|Obversation)\s*(\d+)?\s*:\s?(.*)$")
_KIND = {"Thought": "thought", "Action": "action", "Aciton": "action", "Observation": "observation",
         "Obversation": "observation"}
_VERDICTS = ("Answer is CORRECT", "Answer is INCORRECT")
_ACTION = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*\[(.*)\]\s*\.?\s*$", re.S)


def is_reference_record(rec: dict) -> bool:
    """A line of the reference's logs: its fields, without this project's ``id`` and ``steps``."""
    return isinstance(rec, dict) and "id" not in rec and "steps" not in rec and \
        {"question", "prompt"} <= set(rec)


def parse_scratchpad(prompt: str, question: str) -> tuple[str, list[Step], bool]:
    """``(instruction, steps, complete)`` from a reference prompt: the instruction is the text
    before the ``Question:`` line of ``question``; a last step without an action or an
    observation (the run halted inside it) is dropped and ``complete`` is False."""
    lines = prompt.split("\n")
    first_step = next((i for i, ln in enumerate(lines) if _LINE.match(ln)), len(lines))
    q_line = None
    for i in range(first_step - 1, -1, -1):
        if lines[i].startswith("Question:"):
            q_line = i
            break
    if q_line is None:
        at = prompt.find(f"Question: {question.strip()}")
        if at == -1:
            raise DataError('its "prompt" has no "Question:" line')
        instruction = prompt[:at].rstrip("\n")
    else:
        instruction = "\n".join(lines[:q_line]).rstrip("\n")
    steps: list[dict] = []
    for ln in lines[first_step:]:
        m = _LINE.match(ln)
        if not m:
            continue
        kind, text = _KIND[m.group(1)], m.group(3).strip()
        if kind == "thought" or not steps or kind in steps[-1]:
            steps.append({})
        steps[-1][kind] = text
    complete = True
    if steps and not {"thought", "action", "observation"} <= set(steps[-1]):
        steps.pop()
        complete = False
    out = [Step(s.get("thought", ""), s.get("action", ""), s.get("observation", ""),
                invalid=s.get("observation", "").lower().startswith("invalid action"))
           for s in steps if "action" in s and "observation" in s]
    return instruction, out, complete


def _reward(value) -> float:
    if isinstance(value, list):
        value = value[0] if value else 0.0
    try:
        return float(value or 0.0)
    except (TypeError, ValueError):
        return 0.0


def from_reference_record(rec: dict, where: str = "record") -> dict:
    """A record of this project's shape from a reference log line (see the module docstring)."""
    question = rec.get("question")
    prompt = rec.get("prompt")
    if not isinstance(question, str) or not isinstance(prompt, str):
        raise DataError(f'{where}: expected "question" and "prompt" strings')
    try:
        instruction, steps, _ = parse_scratchpad(prompt, question)
    except DataError as err:
        raise DataError(f"{where}: {err}") from None
    answers: list[dict] = []
    reflections: list[str] = []
    for i, st in enumerate(steps):
        m = _ACTION.match(st.action)
        if not m:
            continue
        name, arg = m.group(1).strip(), m.group(2).strip()
        if name == "Finish":
            verdict = st.observation.strip()
            answers.append({"answer": arg, "correct": (verdict == _VERDICTS[0]) if verdict in _VERDICTS else None})
        elif name == "Reflect" and i > 0 and steps[i - 1].action.startswith("Finish["):
            reflections.append("right" if arg.lower().startswith("right") else "wrong")
    final_verdict = steps[-1].observation.strip() if steps else ""
    halted = bool(rec.get("halted"))
    correct = bool(rec.get("correct"))
    if answers and answers[-1]["correct"] is None:      # the final answer's verdict is the log's
        answers[-1]["correct"] = correct
    error = rec.get("error")
    return {
        "id": stable_id(question), "question": question, "answer": rec.get("answer"),
        "level": rec.get("level"), "task": rec.get("task"),
        "prediction": answers[-1]["answer"] if answers else "", "correct": correct,
        "reward": _reward(rec.get("reward")), "finished": final_verdict in _VERDICTS and not halted,
        "halted": halted, "error": (str(error) if isinstance(error, str) else "error in the reference run")
        if error else None,
        "n_steps": len(steps),
        "steps": [{"thought": s.thought, "action": s.action, "observation": s.observation,
                   **({"invalid": True} if s.invalid else {})} for s in steps],
        "answers": answers, "reflection": reflections, "prompt": prompt,
        "instruction": instruction, "source": "reference",
    }


def read_log(path: str | Path, key: str = "id", schema: dict | None = None) -> tuple[list[dict], int]:
    """The latest record per id of a log of this project, of the reference or of both;
    returns the records (first-seen order) and how many lines were in the reference's format.
    ``schema`` (see :func:`autoact.io.check_fields`) is checked on every line."""
    latest: dict = {}
    converted = 0
    for line, rec in iter_jsonl(path):
        if is_reference_record(rec):
            rec = from_reference_record(rec, f"{path}:{line}")
            converted += 1
        elif not isinstance(rec, dict) or key not in rec:
            raise DataError(f"{path}:{line}: expected an object with \"{key}\" (this project's "
                            f"logs) or \"question\" and \"prompt\" (the reference's)")
        if not isinstance(rec[key], (str, int)) or isinstance(rec[key], bool):
            raise DataError(f"{path}:{line}: \"{key}\" should be a string or a number")
        check_fields(rec, schema or {}, f"{path}:{line}")
        latest[rec[key]] = rec
    return list(latest.values()), converted
