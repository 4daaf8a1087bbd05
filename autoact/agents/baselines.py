"""Baselines in the group-planning harness: few-shot ReAct and few-shot chain of thought.

The exemplars are ours, in the ``baselines`` section of the prompts file (a test checks none of
their questions is in the shipped evaluation data). ReAct is the Meta-Agent's loop
(:class:`~autoact.agents.meta.ZeroshotThinkAgent`) with these exemplars in its instruction and the
episode protocol without Reflect; CoT answers in one generation, ``Answer: ...`` on its last line.
"""

from __future__ import annotations

import re

from autoact.agents.episode import Episode, ModelAgent, clean_generation
from autoact.agents.prompts import answer_kind, instruction, prefix
from autoact.llm.base import SamplingParams
from autoact.prompting import Prompts, resolve
from autoact.tasks.base import Task
from autoact.tools.base import Tool


def react_instruction(task: Task, tools: list[Tool], prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    return p.render("baselines.react_instruction",
                    instruction=instruction(task, tools, reflect=False, prompts=p),
                    examples=p.render(f"baselines.react_examples_{answer_kind(task)}"))


def cot_instruction(task: Task, prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    kind = answer_kind(task)
    return p.render("baselines.cot_instruction", note=p.render(f"baselines.cot_note_{kind}"),
                    examples=p.render(f"baselines.cot_examples_{kind}"))


def exemplar_questions(prompts: Prompts | None = None) -> list[str]:
    """Every question in the few-shot exemplars (first line after ``Question:``)."""
    p = resolve(prompts)
    text = "\n".join(p.render(f"baselines.{kind}_{variant}")
                     for kind in ("react_examples", "cot_examples", "rewoo_example") for variant in ("free", "choice"))
    return sorted(set(re.findall(r"^Question: (.+)$", text, re.M)))


class CoTAgent(ModelAgent):
    """One generation: the reasoning, then ``Answer: ...``; the episode records it as
    ``Finish[answer]`` (no tools, no reflection)."""

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        pr = ep.prompts
        prompt = prefix(ep.instruction, ep.example.question, [], pr) + pr.render("baselines.cot_thought_label")
        stop = pr.render("agent.question", question="").rstrip() or "\nQuestion:"
        p = SamplingParams(max_tokens=max(params.max_tokens, 256), temperature=params.temperature,
                           top_p=params.top_p, top_k=params.top_k, stop=(stop,), seed=params.seed)
        text = self.ask(ep, prompt, p).strip()
        label = re.escape(pr.render("baselines.cot_answer_label").strip())
        answers = re.findall(rf"^\s*{label}\s*(.*)$", text, re.M)
        reasoning = " ".join(re.split(rf"^\s*{label}", text, flags=re.M)[0].split())
        answer = answers[-1].strip() if answers else clean_generation(text.splitlines()[-1] if text else "")
        return reasoning, f"Finish[{answer}]"

