"""Group planning: the plan, tool and reflect agents solve a question together.

Per step: the **plan** agent writes the thought, then the action type; the **tool** agent
writes the argument for that action; the episode executes it. The step after the first
``Finish`` belongs to the **reflect** agent, which writes the reflection and the whole
``Reflect[right/wrong]`` action. With one tool agent per tool (``RoleMap.per_tool``, the
``autoact_per_tool`` ablation) the argument of an action goes to that action's own agent, and to
the shared tool agent for an action without one. Every prompt is ``agent_prompt(input)`` (input + the response
marker) with the inputs built by :mod:`autoact.agents.prompts`, the functions the filter used to
write the training data, so each agent sees the bytes it was trained on.
"""

from __future__ import annotations

from autoact.agents.episode import Episode, clean_generation
from autoact.agents.prompts import action_input, argument_input, thought_input
from autoact.llm.base import LLM, SamplingParams
from autoact.llm.models import RoleMap
from autoact.llm.templates import agent_prompt
from autoact.tools import resolve_tool_name


def clean_action_type(text: str) -> str:
    """The plan agent names the action type; keep the name if it wrote ``Type[...]``."""
    text = clean_generation(text)
    return text.split("[", 1)[0].strip()


def clean_argument(text: str) -> str:
    """The tool agent continues ``Type[``; drop the closing bracket it may add."""
    text = clean_generation(text)
    if text.endswith("]") and text.count("[") < text.count("]"):
        text = text[:-1]
    return text.strip()


class GroupPlanningAgent:
    def __init__(self, llm: LLM, roles: RoleMap):
        self.llm = llm
        self.roles = roles

    def _ask(self, ep: Episode, role: str, text: str, params: SamplingParams, model: str | None = None) -> str:
        c = self.llm.complete([agent_prompt(text)], params, model=model or self.roles[role])[0]
        ep.add_usage(c)
        return c.text

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        instr, q, steps, p = ep.instruction, ep.example.question, ep.steps, ep.prompts
        if ep.reflecting:
            thought = clean_generation(self._ask(ep, "reflect", thought_input(instr, q, steps, p), params))
            action = clean_generation(self._ask(ep, "reflect", action_input(instr, q, steps, thought, p),
                                                params))
            return thought, action
        thought = clean_generation(self._ask(ep, "plan", thought_input(instr, q, steps, p), params))
        kind = clean_action_type(self._ask(ep, "plan", action_input(instr, q, steps, thought, p), params))
        tool_model = self.roles.tool_for(resolve_tool_name(kind) or kind) if self.roles.per_tool else None
        arg = clean_argument(self._ask(ep, "tool", argument_input(instr, q, steps, thought, kind, p),
                                       params, tool_model))
        return thought, f"{kind}[{arg}]"
