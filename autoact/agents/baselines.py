"""Baselines in the group-planning harness: few-shot ReAct and few-shot chain of thought.

The exemplars are ours (a test checks none of their questions is in the shipped evaluation
data). ReAct is the Meta-Agent's loop (:class:`~autoact.agents.meta.ZeroshotThinkAgent`) with
these exemplars in its instruction and the episode protocol without Reflect; CoT answers in one
generation, ``Answer: ...`` on its last line.
"""

from __future__ import annotations

import re

from autoact.agents.episode import Episode, clean_generation
from autoact.agents.prompts import instruction
from autoact.llm.base import LLM, SamplingParams
from autoact.tasks.base import Task
from autoact.tools.base import Tool

REACT_EXAMPLES = {
    "free": """\
Question: In which country was the engineer whose company built the Eiffel Tower born?
Thought 1: I need to find who built the Eiffel Tower, then where that engineer was born.
Action 1: Retrieve[Eiffel Tower]
Observation 1: The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named after the engineer Gustave Eiffel, whose company designed and built the tower.
Thought 2: The tower was built by Gustave Eiffel's company. Now I need his birthplace.
Action 2: Retrieve[Gustave Eiffel]
Observation 2: Alexandre Gustave Eiffel was a French civil engineer, born in Dijon, France, in 1832.
Thought 3: Gustave Eiffel was born in Dijon, France, so the answer is France.
Action 3: Finish[France]

Question: Do the Danube and the Rhine both flow through Germany?
Thought 1: I need to check whether each river flows through Germany.
Action 1: Retrieve[Danube]
Observation 1: The Danube is the second-longest river in Europe. It rises in the Black Forest in Germany and flows into the Black Sea.
Thought 2: The Danube rises in Germany. Now I need to check the Rhine.
Action 2: Retrieve[Rhine]
Observation 2: The Rhine is one of the major rivers of Europe. It begins in the Swiss Alps and empties into the North Sea in the Netherlands.
Thought 3: The opening paragraph does not say whether it passes through Germany. I should look for Germany on the page.
Action 3: Lookup[Germany]
Observation 3: (Result 1 / 1) Along its course the Rhine forms part of the border between Switzerland and Germany and then flows through western Germany.
Thought 4: Both rivers flow through Germany, so the answer is yes.
Action 4: Finish[yes]""",
    "choice": """\
Question: Which of these animals has a backbone?
Options: (A) earthworm (B) frog (C) jellyfish
Thought 1: Let me check whether the question comes with an image.
Action 1: Image2Text[image]
Observation 1: This question doesn't have an image.
Thought 2: A frog is an amphibian, and amphibians are vertebrates, animals with a backbone. Earthworms and jellyfish are invertebrates.
Action 2: Finish[B]

Question: Which material is the best conductor of electricity?
Options: (A) rubber (B) dry wood (C) copper
Thought 1: I should look up which materials conduct electricity well.
Action 1: Retrieve[Electrical conductor]
Observation 1: In physics and electrical engineering, a conductor is an object or type of material that allows the flow of charge. Metals such as copper and aluminium are good conductors.
Thought 2: Copper is a metal and a good conductor, while rubber and dry wood are insulators.
Action 2: Finish[C]""",
}

COT_EXAMPLES = {
    "free": """\
Question: In which country was the engineer whose company built the Eiffel Tower born?
Thought: Let's think step by step. The Eiffel Tower was built by the company of the engineer Gustave Eiffel. Gustave Eiffel was born in Dijon, which is in France.
Answer: France

Question: Do the Danube and the Rhine both flow through Germany?
Thought: Let's think step by step. The Danube rises in the Black Forest in Germany. The Rhine flows through western Germany on its way to the North Sea. So both flow through Germany.
Answer: yes""",
    "choice": """\
Question: Which of these animals has a backbone?
Options: (A) earthworm (B) frog (C) jellyfish
Thought: Let's think step by step. Animals with a backbone are vertebrates. A frog is an amphibian, and amphibians are vertebrates. Earthworms and jellyfish are invertebrates.
Answer: B

Question: Which material is the best conductor of electricity?
Options: (A) rubber (B) dry wood (C) copper
Thought: Let's think step by step. Metals such as copper conduct electricity well. Rubber and dry wood are insulators.
Answer: C""",
}

COT_INSTRUCTION = """\
Answer the question by reasoning step by step, then give the final answer on its own line as "Answer: ...". {note}
Here are some examples:
{examples}
(END OF EXAMPLES)"""
COT_NOTE = {"free": "For a yes/no question, answer yes or no.",
            "choice": "Answer with the letter of the correct option."}


def examples_for(task: Task, table: dict[str, str]) -> str:
    return table["choice" if task.answer_type == "choice" else "free"]


def react_instruction(task: Task, tools: list[Tool]) -> str:
    return (instruction(task, tools, reflect=False) + "\nHere are some examples:\n"
            + examples_for(task, REACT_EXAMPLES) + "\n(END OF EXAMPLES)")


def cot_instruction(task: Task) -> str:
    kind = "choice" if task.answer_type == "choice" else "free"
    return COT_INSTRUCTION.format(note=COT_NOTE[kind], examples=COT_EXAMPLES[kind])


def exemplar_questions() -> list[str]:
    """Every question in the few-shot exemplars (first line after ``Question:``)."""
    text = "\n".join(list(REACT_EXAMPLES.values()) + list(COT_EXAMPLES.values()))
    return sorted(set(re.findall(r"^Question: (.+)$", text, re.M)))


class CoTAgent:
    """One generation: the reasoning, then ``Answer: ...``; the episode records it as
    ``Finish[answer]`` (no tools, no reflection)."""

    def __init__(self, llm: LLM, model: str | None = None):
        self.llm = llm
        self.model = model

    def step(self, ep: Episode, params: SamplingParams) -> tuple[str, str]:
        prompt = f"{ep.instruction}\nQuestion: {ep.example.question}\nThought:"
        p = SamplingParams(max_tokens=max(params.max_tokens, 256), temperature=params.temperature,
                           top_p=params.top_p, top_k=params.top_k, stop=("\nQuestion:",),
                           seed=params.seed)
        c = self.llm.complete([prompt], p, model=self.model)[0]
        ep.add_usage(c)
        text = c.text.strip()
        answers = re.findall(r"^\s*Answer\s*:\s*(.*)$", text, re.M)
        reasoning = " ".join(re.split(r"^\s*Answer\s*:", text, flags=re.M)[0].split())
        answer = answers[-1].strip() if answers else clean_generation(text.splitlines()[-1] if text else "")
        return reasoning, f"Finish[{answer}]"

