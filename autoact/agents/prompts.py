"""The agents' prompts, built from the templates of :mod:`autoact.prompting`.

Every prompt is ``instruction + question + scratchpad + the label of the next line``. The
Meta-Agent (trajectory synthesis), the filter (training inputs) and group planning (inference)
all build their prompts with the functions below and the same :class:`~autoact.prompting.Prompts`,
so a fine-tuned agent sees at inference exactly the bytes it was trained on (the reference's
training data said "Obversation" and "Aciton"; its inference said "Observation" and "Action").

With the shipped templates a scratchpad step is three lines::

    Thought 2: I need to find where Milhouse was named after.
    Action 2: Lookup[named after]
    Observation 2: (Result 1/1) Milhouse was named after U.S. president Richard Nixon.

Role inputs at step ``n`` (``prefix`` = instruction, question and the steps so far):

* plan, thought:   ``prefix + "\\nThought n:"``                       -> the thought
* plan, action:    ``prefix + "\\nThought n: T\\nAction n:"``          -> the action type
* tool:            ``prefix + "\\nThought n: T\\nAction n: Type["``    -> the argument
* reflect, thought / action: as plan, at the step after the first ``Finish``
  (outputs: the reflection, then ``Reflect[right]`` or ``Reflect[wrong]``)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from autoact.prompting import Prompts, resolve
from autoact.tasks.base import Task
from autoact.tools.base import Tool


def answer_kind(task: Task) -> str:
    """``choice`` for multiple-choice tasks, else ``free``: which template variant a task uses."""
    return "choice" if task.answer_type == "choice" else "free"


def instruction(task: Task, tools: Sequence[Tool], *, reflect: bool = True,
                prompts: Prompts | None = None) -> str:
    """The zero-shot instruction: the agent's role, the numbered usages of the selected tools,
    then Finish and (unless ``reflect`` is False, for the ReAct baseline) Reflect."""
    p = resolve(prompts)
    kind = answer_kind(task)
    finish = p.render(f"agent.finish_{kind}", example=task.finish_example)
    reflect_line = p.render("agent.reflect")
    entries = [(t.name, t.usage) for t in tools] + [("Finish", finish)]
    if reflect:
        entries.append(("Reflect", reflect_line))
    lines = action_lines(entries, p)
    return p.render(f"agent.instruction_{kind}", role=task.agent_role, count=len(entries),
                    actions="\n".join(lines), tools="\n".join(lines[:len(tools)]), finish=finish,
                    reflect=reflect_line if reflect else "",
                    reflect_note=p.render("agent.reflect_note") if reflect else "",
                    task_name=task.name, task_description=task.description)


def action_lines(entries: Sequence[tuple[str, str]], prompts: Prompts | None = None) -> list[str]:
    """The numbered action lines of ``(name, usage)`` entries, as the prompts file lays them out."""
    p = resolve(prompts)
    return [p.render("agent.action_line", index=i, usage=u, name=n) for i, (n, u) in enumerate(entries, 1)]


def tool_lines(tools: Sequence[Tool], prompts: Prompts | None = None) -> str:
    """The selected tools' numbered lines, as in the instruction (the baselines' planners list them)."""
    return "\n".join(action_lines([(t.name, t.usage) for t in tools], prompts))


@dataclass(frozen=True)
class Step:
    thought: str
    action: str          # as written in the scratchpad, e.g. "Retrieve[Milhouse]"
    observation: str
    invalid: bool = False   # the action was not executed (unparsable, unknown tool, misplaced Reflect)


def step_text(step: Step, n: int, prompts: Prompts | None = None) -> str:
    """Step ``n`` as it appears in the scratchpad."""
    p = resolve(prompts)
    return (f"{p.render('agent.thought_label', n=n)} {step.thought}"
            f"{p.render('agent.action_label', n=n)} {step.action}"
            f"{p.render('agent.observation_label', n=n)} {step.observation}")


def prefix(instr: str, question: str, steps: Sequence[Step], prompts: Prompts | None = None) -> str:
    """Instruction, question and every completed step (no trailing newline)."""
    p = resolve(prompts)
    return (instr + p.render("agent.question", question=question)
            + "".join(step_text(s, i, p) for i, s in enumerate(steps, 1)))


def thought_input(instr: str, question: str, steps: Sequence[Step],
                  prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    return prefix(instr, question, steps, p) + p.render("agent.thought_label", n=len(steps) + 1)


def action_input(instr: str, question: str, steps: Sequence[Step], thought: str,
                 prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    n = len(steps) + 1
    return (f"{prefix(instr, question, steps, p)}{p.render('agent.thought_label', n=n)} {thought}"
            f"{p.render('agent.action_label', n=n)}")


def argument_input(instr: str, question: str, steps: Sequence[Step], thought: str,
                   action_type: str, prompts: Prompts | None = None) -> str:
    return f"{action_input(instr, question, steps, thought, prompts)} {action_type}["
