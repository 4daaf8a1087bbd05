"""Chameleon in the group-planning harness: a planned program of modules, then a solver.

Lu et al., 2023, "Chameleon: Plug-and-Play Compositional Reasoning with Large Language Models"
(arXiv:2304.09842). One **planner** call writes a program, a sequence of module names taken from
the selected tools (``Modules: Retrieve, Lookup``); the modules run in that order over a shared
**cache** (the question and every module's output so far): for each module one call writes its
input from the cache, and the tool runs (a step of the episode, same tools and observations as
AutoAct). One **solver** call answers from the cache, recorded as ``Finish[answer]``. Calls per
question: 2 + the number of modules (``usage.calls``); names outside the selected tools are
dropped (``program_dropped`` in the record). The base model plays every part.
"""

from __future__ import annotations

import re

from autoact.agents.episode import Episode, ModelAgent, clean_generation
from autoact.agents.prompts import answer_kind, tool_lines
from autoact.llm.base import SamplingParams
from autoact.tools import resolve_tool_name


def parse_program(text: str, allowed: list[str]) -> tuple[list[str], list[str]]:
    """(modules among ``allowed``, in order; names dropped) from the planner's reply: the
    ``Modules:`` line if there is one, else the whole reply, split at commas, arrows and lines."""
    m = re.search(r"Modules?\s*:\s*(.+)", text, re.I)
    body = m.group(1) if m else text
    by_name = {name: name for name in allowed}
    modules, dropped = [], []
    for raw in re.split(r",|->|→|\n|;", body.strip().strip("[]")):
        name = raw.strip().strip("\"'`.[]() ")
        if not name:
            continue
        canonical = resolve_tool_name(name)
        if canonical in by_name:
            modules.append(canonical)
        else:
            dropped.append(name)
    return modules, dropped


class ChameleonAgent(ModelAgent):
    def _cache(self, ep: Episode) -> str:
        return "\n".join(ep.prompts.render("baselines.chameleon_cache_line", module=name, input=arg, output=out)
                         for name, arg, out in ep.agent_state["cache"])

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        p, state = ep.prompts, ep.agent_state
        if "program" not in state:
            budget = max(1, ep.max_steps - 1)       # the last step is the answer
            reply = self.ask(ep, p.render("baselines.chameleon_planner", tools=tool_lines(ep.tools, p), question=ep.example.question,
                                           max_steps=budget,
                                           example=p.render(f"baselines.chameleon_example_{answer_kind(ep.task)}")),
                              params)
            program, dropped = parse_program(reply, [t.name for t in ep.tools])
            state.update(program=program[:budget], cache=[])
            ep.details = {"program": list(state["program"]), "program_dropped": dropped}
        if state.get("pending"):
            name, arg = state.pop("pending")
            state["cache"].append((name, arg, ep.steps[-1].observation))
        if state["program"]:
            name = state["program"].pop(0)
            usage = next(t.usage for t in ep.tools if t.name == name)
            arg = clean_generation(self.ask(ep, p.render("baselines.chameleon_input", module=name, usage=usage,
                                                          cache=self._cache(ep), question=ep.example.question),
                                             params))
            state["pending"] = (name, arg)
            return f"Module {name}.", f"{name}[{arg}]"
        answer = clean_generation(self.ask(ep, p.render("baselines.chameleon_solver", cache=self._cache(ep),
                                                         question=ep.example.question,
                                                         note=p.render(f"baselines.cot_note_{answer_kind(ep.task)}")),
                                            params))
        label = p.render("baselines.cot_answer_label").strip()
        if answer.lower().startswith(label.lower()):
            answer = answer[len(label):].strip()
        return "Solve from the modules' outputs.", f"Finish[{answer}]"
