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
from autoact.prompting import Prompts, resolve
from autoact.tasks.base import Task
from autoact.tools import Tool, pool, resolve_tool_name
from autoact.tools.actions import name_key


def render_pool(tools: list[Tool], prompts: Prompts | None = None) -> str:
    p = resolve(prompts)
    return "\n".join(p.render("tool_selection.pool_line", index=i, name=t.name, definition=t.definition,
                              usage=t.usage) for i, t in enumerate(tools, 1))


def build_messages(task: Task, num_tools: int = 3, prompts: Prompts | None = None) -> list[dict]:
    p = resolve(prompts)
    fields = {"task_name": task.name, "task_description": task.description, "num_tools": num_tools}
    user = p.render("tool_selection.user", tool_pool=render_pool(pool(p), p), **fields)
    return [{"role": "system", "content": p.render("tool_selection.system", **fields)},
            {"role": "user", "content": user}]


_BULLET = re.compile(r"^\s*(?:\d+\s*[.):\-]|[-*•]|\(\d+\))\s*")
_SPLIT = re.compile(r"\s*(?::|–|—|\s-\s|\(|,|\.\s)")


@dataclass
class Selection:
    tools: list[Tool] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def parse_selection(reply: str, tools: list[Tool] | None = None) -> Selection:
    """Tools named in ``reply`` (from ``tools``, default the pool), in order, without
    duplicates; unknown names are collected."""
    by_name = {t.name: t for t in (tools if tools is not None else pool())}
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
                 attempts: int = 3, prompts: Prompts | None = None) -> tuple[Selection, list[str]]:
    """Ask the model (up to ``attempts`` times) until it names at least one pool tool.
    Returns the selection (tools with the prompts file's texts) and every raw reply."""
    messages = build_messages(task, num_tools, prompts)
    tools = pool(prompts)
    replies: list[str] = []
    for attempt in range(attempts):
        p = params if params.seed is None else replace(params, seed=params.seed + attempt)
        reply = llm.chat([messages], p)[0].text
        replies.append(reply)
        sel = parse_selection(reply, tools)
        if sel.tools:
            return sel, replies
    raise LLMResponseError(f"the model named no known tool in {attempts} tries; last reply: "
                           f"{replies[-1][:200]!r}")
