"""Tool selection: the Meta-Agent reads the task and the tool pool and names the tools it needs.

The prompt shows the task's name and description and each pool tool's name and definition,
and asks for a numbered list, one tool per line. The reply is parsed tolerantly (numbering,
bullets, bold, case, spacing, extra words); names outside the pool are dropped and reported; a
reply that names no known tool is asked again, then is an error that quotes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from autoact.errors import LLMResponseError
from autoact.llm.base import LLM, SamplingParams
from autoact.tasks.base import Task
from autoact.tools import POOL, Tool, resolve_tool_name
from autoact.tools.actions import name_key

SYSTEM_PROMPT = """\
To complete a complex benchmark, several kinds of agents usually work together:
1. Plan Agent: plans how the task is solved, deciding in which order the other agents are called.
2. Tool Agent: decides how to carry out one action. Tools include actions in the benchmark's environment and calls to external tools or models.
3. Answer Agent: writes the final answer from the history so far.
4. Reflection Agent: reflects on the history and the answer and judges whether the answer fits the question.
The Tool Agent is made of sub-agents, each a tool chosen for the task. Your job is to choose the tool agents a given benchmark needs. All agents are language models whose inputs and outputs are text. Give only the names and descriptions of the tool agents, in order, with no other output."""

USER_TEMPLATE = """\
Here are the tools to choose from:
{tool_pool}
Task Name: {task_name}
Task Description: {task_description}
Choose the {num_tools} tools that fit this task best. Answer with one tool per line, numbered, as "1. ToolName: why it is needed".
Task Tool Agents:"""


def render_pool(pool: list[Tool]) -> str:
    return "\n".join(f"{i}. {t.name}: {t.definition}" for i, t in enumerate(pool, 1))


def build_messages(task: Task, num_tools: int = 3, pool: list[Tool] = POOL) -> list[dict]:
    user = USER_TEMPLATE.format(tool_pool=render_pool(pool), task_name=task.name,
                                task_description=task.description, num_tools=num_tools)
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


_BULLET = re.compile(r"^\s*(?:\d+\s*[.):\-]|[-*•]|\(\d+\))\s*")
_SPLIT = re.compile(r"\s*(?::|–|—|\s-\s|\(|,|\.\s)")


@dataclass
class Selection:
    tools: list[Tool] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def parse_selection(reply: str, pool: list[Tool] = POOL) -> Selection:
    """Tools named in ``reply``, in order, without duplicates; unknown names are collected."""
    by_name = {t.name: t for t in pool}
    names_longest_first = sorted(by_name, key=len, reverse=True)
    out = Selection()
    for raw in reply.splitlines():
        line = raw.replace("**", "").replace("`", "").strip()
        if not line:
            continue
        numbered = bool(_BULLET.match(line))
        line = _BULLET.sub("", line)
        head = _SPLIT.split(line, maxsplit=1)[0].strip().strip("\"'")
        canonical = resolve_tool_name(head) if head else None
        if canonical is None:
            # "I would use the Retrieve tool" / "Tool: BingSearch": a pool name as a word
            key = name_key(line)
            canonical = next((n for n in names_longest_first if name_key(n) in key), None) \
                if numbered or len(line.split()) <= 4 else None
        if canonical in by_name:
            if canonical not in [t.name for t in out.tools]:
                out.tools.append(by_name[canonical])
        elif numbered and head:
            out.unknown.append(head)
    return out


def select_tools(llm: LLM, task: Task, params: SamplingParams, *, num_tools: int = 3,
                 attempts: int = 3) -> tuple[Selection, list[str]]:
    """Ask the model (up to ``attempts`` times) until it names at least one pool tool.
    Returns the selection and every raw reply."""
    messages = build_messages(task, num_tools)
    replies: list[str] = []
    for attempt in range(attempts):
        p = params if params.seed is None else replace(params, seed=params.seed + attempt)
        reply = llm.chat([messages], p)[0].text
        replies.append(reply)
        sel = parse_selection(reply)
        if sel.tools:
            return sel, replies
    raise LLMResponseError(f"the model named no known tool in {attempts} tries; last reply: "
                           f"{replies[-1][:200]!r}")
