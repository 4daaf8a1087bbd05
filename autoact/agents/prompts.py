"""The agents' prompts, in one place.

Every prompt is ``instruction + question + scratchpad + the start of the next line``. The
Meta-Agent (trajectory synthesis), the filter (training inputs) and group planning (inference)
all build their prompts with the functions below, so a fine-tuned agent sees at inference
exactly the bytes it was trained on (the reference's training data said "Obversation" and
"Aciton"; its inference said "Observation" and "Action").

A scratchpad step is three lines::

    Thought 2: I need to find where Milhouse was named after.
    Action 2: Lookup[named after]
    Observation 2: (Result 1 / 1) Milhouse was named after U.S. president Richard Nixon.

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

from autoact.tasks.base import Task
from autoact.tools.base import Tool

FREE_INSTRUCTION = """\
I want you to be {role}, solving a question answering task with interleaving Thought, Action, Observation steps. Thought can reason about the current situation, and Action can be {count} types:
{actions}
Note that Reflect must be the next Action after Finish. You may take as many steps as necessary."""

CHOICE_INSTRUCTION = """\
I want you to be {role}. Select the correct option of a multiple-choice question with interleaving Thought, Action, Observation steps. Thought can reason about the current situation, and Action can be {count} types:
{actions}
Note that to determine the answer, you need to consider both the Question and the available Options.
Note that Reflect must be the next Action after Finish. You may take as many steps as necessary."""

FINISH_FREE = ("Finish[answer], which returns the answer and finishes the task. For example, "
               "{example} (for a yes/no question, Finish[yes] or Finish[no])")
FINISH_CHOICE = ("Finish[option], which returns the answer option and finishes the task. For "
                 "example, {example}")
REFLECT = ("Reflect[right/wrong], which reflects on whether the answer is right or wrong based on "
           "the history. For example, Reflect[right]")


def instruction(task: Task, tools: Sequence[Tool], *, reflect: bool = True) -> str:
    """The zero-shot instruction: the agent's role, the numbered usages of the selected tools,
    then Finish and (unless ``reflect`` is False, for the ReAct baseline) Reflect."""
    finish = (FINISH_CHOICE if task.answer_type == "choice" else FINISH_FREE).format(
        example=task.finish_example)
    usages = [t.usage for t in tools] + [finish] + ([REFLECT] if reflect else [])
    actions = "\n".join(f"({i}) {u}" for i, u in enumerate(usages, 1))
    template = CHOICE_INSTRUCTION if task.answer_type == "choice" else FREE_INSTRUCTION
    text = template.format(role=task.agent_role, count=len(usages), actions=actions)
    return text if reflect else text.replace("Note that Reflect must be the next Action after Finish. ", "")


@dataclass(frozen=True)
class Step:
    thought: str
    action: str          # as written in the scratchpad, e.g. "Retrieve[Milhouse]"
    observation: str

    def lines(self, n: int) -> str:
        return f"\nThought {n}: {self.thought}\nAction {n}: {self.action}\nObservation {n}: {self.observation}"


def prefix(instr: str, question: str, steps: Sequence[Step]) -> str:
    """Instruction, question and every completed step (no trailing newline)."""
    return f"{instr}\nQuestion: {question}" + "".join(s.lines(i) for i, s in enumerate(steps, 1))


def thought_input(instr: str, question: str, steps: Sequence[Step]) -> str:
    return f"{prefix(instr, question, steps)}\nThought {len(steps) + 1}:"


def action_input(instr: str, question: str, steps: Sequence[Step], thought: str) -> str:
    n = len(steps) + 1
    return f"{prefix(instr, question, steps)}\nThought {n}: {thought}\nAction {n}:"


def argument_input(instr: str, question: str, steps: Sequence[Step], thought: str,
                   action_type: str) -> str:
    return f"{action_input(instr, question, steps, thought)} {action_type}["
