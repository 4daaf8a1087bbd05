"""BOLAA in the group-planning harness: a controller orchestrating one labour agent per tool.

Liu et al., 2023, "BOLAA: Benchmarking and Orchestrating LLM-augmented Autonomous Agents"
(arXiv:2308.05960). Each step the **controller** reads the scratchpad and names the labour agent
that acts next with a message (``Agent: Retrieve; Message: look up the band``); that **labour
agent** (one per selected tool, plus one for ``Finish``), which knows only its own tool, writes
the input for its tool from the message; the episode executes the action (same tools and
observations as AutoAct). Two calls per step (``usage.calls``); a controller reply naming no
agent is that step's invalid action. Every agent is the same base model (the paper's
orchestration on one backbone); no adapter is trained for them.
"""

from __future__ import annotations

import re

from autoact.agents.episode import Episode, ModelAgent, clean_generation
from autoact.agents.prompts import answer_kind, step_text
from autoact.llm.base import SamplingParams
from autoact.tools import resolve_tool_name

_CHOICE = re.compile(r"Agent\s*:\s*(?P<agent>[^;\n]+?)\s*(?:;|\n|$)\s*(?:Message\s*:\s*(?P<message>.*))?", re.I)


def parse_choice(text: str, agents: list[str]) -> tuple[str | None, str]:
    """(the labour agent named, the message) from the controller's reply; the agent is ``None``
    when the reply names none of ``agents``."""
    m = _CHOICE.search(text)
    name, message = (m.group("agent"), m.group("message") or "") if m else (text.split(";")[0], "")
    canonical = resolve_tool_name(name.strip().strip("\"'`.[]"))
    return (canonical if canonical in agents else None), message.strip()


class BolaaAgent(ModelAgent):
    def _ask(self, ep: Episode, prompt: str, params: SamplingParams) -> str:
        return clean_generation(self.ask(ep, prompt, params))

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        p = ep.prompts
        usages = {t.name: t.usage for t in ep.tools}
        usages["Finish"] = p.render(f"agent.finish_{answer_kind(ep.task)}", example=ep.task.finish_example)
        agents = "\n".join(p.render("baselines.bolaa_agent_line", name=n, usage=u) for n, u in usages.items())
        scratchpad = "".join(step_text(s, i, p) for i, s in enumerate(ep.steps, 1)).strip()
        q = ep.example.question
        reply = self._ask(ep, p.render("baselines.bolaa_controller", agents=agents, question=q,
                                       scratchpad=scratchpad), params)
        name, message = parse_choice(reply, list(usages))
        if name is None:
            return reply, reply or "(no agent named)"
        arg = self._ask(ep, p.render("baselines.bolaa_worker", name=name, usage=usages[name], message=message,
                                     question=q, scratchpad=scratchpad), params)
        label = p.render("baselines.cot_answer_label").strip()
        if name == "Finish" and arg.lower().startswith(label.lower()):
            arg = arg[len(label):].strip()
        if arg.endswith("]") and arg.count("[") < arg.count("]"):
            arg = arg[:-1]
        return f"{name} agent: {message}" if message else f"{name} agent.", f"{name}[{arg}]"
