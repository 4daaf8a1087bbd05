"""Tool selection: the Meta-Agent reads the task and the tool pool and names the tools it needs.

The prompt shows the task's name and description and each pool tool's name and definition,
and asks for a numbered list, one tool per line. The reply is parsed tolerantly (numbering,
bullets, bold, case, spacing, extra words); names outside the pool are dropped and reported; a
reply that names no known tool is asked again, then is an error that quotes it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from autoact.errors import DataError, LLMResponseError
from autoact.llm import LLMSettings
from autoact.llm.base import LLM, SamplingParams
from autoact.prompting import Prompts, name_key, resolve
from autoact.settings import (CommonSettings, PromptsSettings, non_negative_float, option, positive_int,
                              public, top_k_value, top_p_value)
from autoact.tasks.base import Task
from autoact.tools import Tool, pool, resolve_tool_name


@dataclass
class Settings(CommonSettings, LLMSettings, PromptsSettings):
    """The flags of ``Self_Planning/Tool_Selection/tool_selected.py``."""
    model_name: str = option("llama-2-13b-chat",
                             help="the Meta-Agent: a served model name, an alias or a local path")
    task_name: str = option("ScienceQA", help="task in the registry (case-insensitive)")
    tool_save_path: str = option("Self_Planning/Tool_Selection/{task_name}_Tools.json",
                                 help="output JSON; {task_name} is replaced by the task's name")
    temperature: float = option(0.2, type=non_negative_float, help="sampling temperature (default 0.2)")
    top_k: int = option(40, type=top_k_value)
    top_p: float = option(0.75, type=top_p_value)
    max_tokens: int = option(1024, type=positive_int)
    num_tools: int = option(3, type=positive_int,
                            help="how many tools to ask for (default 3, as the reference)")
    attempts: int = option(3, type=positive_int,
                           help="ask again this many times when the reply names no known tool")
    seed: int = option(0, type=int)
    overwrite: bool = option(False, kind="switch", help="replace an existing selection")
    retrieve_k: int = option(3, type=int, hidden=True)        # reference flags,
    retrieve_p: float = option(0.6, type=float, hidden=True)  # unused there too


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


def run(settings: Settings) -> None:
    """Choose the tools (or keep an existing selection) and write the selection and its config."""
    from autoact.io import OutputLock, check_distinct, prepare_output, write_json_atomic
    from autoact.llm import make_llm
    from autoact.prompting import load_prompts
    from autoact.tasks import get_task
    from autoact.tools import load_selection


    task = get_task(settings.task_name)
    prompts = load_prompts(settings.prompts)
    out = Path(settings.tool_save_path.replace("{task_name}", task.name))
    config_path = out.with_name(out.stem + ".config.json")
    check_distinct([out, config_path], [settings.prompts])
    if out.exists() and not settings.overwrite:
        try:
            kept = load_selection(out)
        except DataError as err:
            raise DataError(f"{err} (an unreadable selection is kept; pass --overwrite to "
                            f"replace it)") from None
        print(f"{out} exists ({', '.join(t.name for t in kept)}); kept. Pass --overwrite to choose again.")
        return
    prepare_output(out)
    with OutputLock(out):
        llm = make_llm(settings, settings.model_name)
        params = SamplingParams(max_tokens=settings.max_tokens, temperature=settings.temperature,
                                top_p=settings.top_p, top_k=settings.top_k, seed=settings.seed)
        try:
            selection, replies = select_tools(llm, task, params, num_tools=settings.num_tools,
                                              attempts=settings.attempts, prompts=prompts)
        finally:
            llm.close()
        write_json_atomic(out, [t.pool_entry() for t in selection.tools])
    config = public(settings)
    write_json_atomic(config_path,
                      {"args": config, "task": task.name, "llm": llm.describe(),
                       "decoding": llm.decoding.summary(), "prompts": prompts.describe(),
                       "selected": [t.name for t in selection.tools],
                       "dropped_unknown": selection.unknown, "replies": replies,
                       "usage": llm.usage.as_dict()})
    print(f"selected for {task.name}: {', '.join(t.name for t in selection.tools)} -> {out}")
    if selection.unknown:
        print(f"dropped (not in the tool pool): {', '.join(selection.unknown)}")

