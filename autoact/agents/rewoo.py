"""ReWOO in the group-planning harness: plan every tool call first, run them, then solve.

Xu et al., 2023, "ReWOO: Decoupling Reasoning from Observations for Efficient Augmented Language
Models" (arXiv:2305.18323). One **planner** call writes the whole plan as ``Plan: ...`` /
``#En = Tool[input]`` pairs, where an input may name the result of an earlier step (``#E1``);
the tools run in order with those names replaced by their results (each a step of the episode:
the plan line is its thought); one **solver** call reads the plan and the evidence and answers,
recorded as the final ``Finish[answer]``. Two model calls per question whatever the number of
tool calls (the record's ``usage.calls``), the same tools and observations as AutoAct. The
planner and the solver are the base model (``--llm_name``); no adapter is trained for them.
"""

from __future__ import annotations

import re

from autoact.agents.episode import Episode, ModelAgent, clean_generation
from autoact.agents.prompts import answer_kind, tool_lines
from autoact.llm.base import SamplingParams
from autoact.prompting import Prompts, resolve
from autoact.tasks.base import Task
from autoact.tools.base import Tool

_EVIDENCE_LINE = re.compile(r"^\s*(#E\d+)\s*[=:]\s*(.+?)\s*$")
_PLAN_LINE = re.compile(r"^\s*(?:\d+[.)]\s*)?Plan\s*\d*\s*:\s*(.*)$", re.I)
_NAME = re.compile(r"#E\d+")


def parse_plan(text: str) -> list[tuple[str, str, str]]:
    """``(plan, name, action)`` per ``#En = Tool[input]`` line of the planner's reply, with the
    ``Plan:`` line before it (empty when there is none); other lines are ignored."""
    steps, plan = [], ""
    for line in text.splitlines():
        m = _PLAN_LINE.match(line)
        if m:
            plan = m.group(1).strip()
            continue
        m = _EVIDENCE_LINE.match(line)
        if m:
            steps.append((plan, m.group(1), m.group(2)))
            plan = ""
    return steps


def substitute(action: str, evidence: dict[str, str]) -> str:
    """``action`` with every ``#En`` it names replaced by that step's result (a name without a
    result yet stays as written)."""
    return _NAME.sub(lambda m: evidence.get(m.group(0), m.group(0)), action)


def planner_prompt(task: Task, tools: list[Tool], question: str, max_steps: int,
                   prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    return p.render("baselines.rewoo_planner", tools=tool_lines(tools, p), question=question, max_steps=max_steps,
                    example=p.render(f"baselines.rewoo_example_{answer_kind(task)}"))


class ReWOOAgent(ModelAgent):
    """The ReWOO policy: each ``step`` returns the next planned tool call, then the answer."""

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        state = ep.agent_state
        if "plan" not in state:
            prompt = planner_prompt(ep.task, list(ep.tools), ep.example.question, max(1, ep.max_steps - 1),
                                    ep.prompts)
            stop = ep.prompts.render("agent.question", question="").rstrip() or "\nQuestion:"
            planning = SamplingParams(max_tokens=max(params.max_tokens, 512), temperature=params.temperature,
                                      top_p=params.top_p, top_k=params.top_k, stop=(stop,), seed=params.seed)
            # the last step is the answer
            state["plan"] = parse_plan(self.ask(ep, prompt, planning))[:max(0, ep.max_steps - 1)]
            state["done"] = []
        if state.get("pending"):            # the result of the tool call made last step
            plan, name, action = state.pop("pending")
            state["done"].append((plan, name, action, ep.steps[-1].observation))
        if state["plan"]:
            plan, name, action = state["plan"].pop(0)
            evidence = {n: obs for _, n, _, obs in state["done"]}
            state["pending"] = (plan, name, substitute(action, evidence))
            return plan or f"Find {name}.", state["pending"][2]
        return "Solve with the evidence.", f"Finish[{self._solve(ep, params)}]"

    def _solve(self, ep: Episode, params: SamplingParams) -> str:
        p = ep.prompts
        evidence = "\n".join(p.render("baselines.rewoo_evidence", plan=plan, name=name, action=action,
                                      evidence=obs) for plan, name, action, obs in ep.agent_state["done"])
        prompt = p.render("baselines.rewoo_solver", evidence=evidence, question=ep.example.question,
                          note=p.render(f"baselines.cot_note_{answer_kind(ep.task)}"))
        answer = clean_generation(self.ask(ep, prompt, params))
        label = p.render("baselines.cot_answer_label").strip()
        if answer.lower().startswith(label.lower()):
            answer = answer[len(label):].strip()
        return answer
