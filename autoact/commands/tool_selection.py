"""Tool selection: the Meta-Agent picks the tools a task needs from the tool pool.

    python Self_Planning/Tool_Selection/tool_selected.py --model_name llama-2-13b-chat \
        --task_name ScienceQA --top_k 40 --top_p 0.75 --max_tokens 1024 \
        --tool_save_path Self_Planning/Tool_Selection/{task_name}_Tools.json

Writes ``[{"name", "definition", "usage"}, ...]`` (``{task_name}`` in the path is replaced by the
task's name) atomically, plus the resolved settings, the decoding actually sent and the model's
raw reply in ``<output>.config.json``. An existing selection is kept (pass --overwrite to choose
again). Trajectory synthesis and evaluation read the default path of the seed command
(Self_Planning/Tool_Selection/{Task}_Tools.json) when they get no --tools, and show each tool's
``usage`` text from the file.
The model comes from an OpenAI-compatible server (--base_url / $OPENAI_BASE_URL) or a local
model (--backend hf --model_path DIR).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autoact.cli import (add_common_args, add_prompts_arg, non_negative_float, positive_int, public_args,
                         top_k_value, top_p_value)
from autoact.llm import add_llm_args


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model_name", default="llama-2-13b-chat",
                   help="the Meta-Agent: a served model name, an alias or a local path")
    p.add_argument("--task_name", default="ScienceQA", help="task in the registry (case-insensitive)")
    p.add_argument("--tool_save_path", default="Self_Planning/Tool_Selection/{task_name}_Tools.json",
                   help="output JSON; {task_name} is replaced by the task's name")
    p.add_argument("--temperature", type=non_negative_float, default=0.2, help="sampling temperature (default 0.2)")
    p.add_argument("--top_k", type=top_k_value, default=40)
    p.add_argument("--top_p", type=top_p_value, default=0.75)
    p.add_argument("--max_tokens", type=positive_int, default=1024)
    p.add_argument("--num_tools", type=positive_int, default=3,
                   help="how many tools to ask for (default 3, as the reference)")
    p.add_argument("--attempts", type=positive_int, default=3,
                   help="ask again this many times when the reply names no known tool")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace an existing selection")
    p.add_argument("--retrieve_k", type=int, default=3, help=argparse.SUPPRESS)    # reference flags,
    p.add_argument("--retrieve_p", type=float, default=0.6, help=argparse.SUPPRESS)  # unused there too
    add_prompts_arg(p)
    add_llm_args(p)
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from autoact.errors import DataError
    from autoact.io import OutputLock, check_distinct, prepare_output, write_json_atomic
    from autoact.llm import SamplingParams, make_llm
    from autoact.prompting import load_prompts
    from autoact.stages.tool_selection import select_tools
    from autoact.tasks import get_task
    from autoact.tools import load_selection

    task = get_task(args.task_name)
    prompts = load_prompts(args.prompts)
    out = Path(args.tool_save_path.replace("{task_name}", task.name))
    config_path = out.with_name(out.stem + ".config.json")
    check_distinct([out, config_path], [args.prompts])
    if out.exists() and not args.overwrite:
        try:
            kept = load_selection(out)
        except DataError as err:
            raise DataError(f"{err} (an unreadable selection is kept; pass --overwrite to "
                            f"replace it)") from None
        print(f"{out} exists ({', '.join(t.name for t in kept)}); kept. Pass --overwrite to choose again.")
        return
    prepare_output(out)
    with OutputLock(out):
        llm = make_llm(args, args.model_name)
        params = SamplingParams(max_tokens=args.max_tokens, temperature=args.temperature,
                                top_p=args.top_p, top_k=args.top_k, seed=args.seed)
        try:
            selection, replies = select_tools(llm, task, params, num_tools=args.num_tools,
                                              attempts=args.attempts, prompts=prompts)
        finally:
            llm.close()
        write_json_atomic(out, [t.pool_entry() for t in selection.tools])
    config = public_args(args)
    write_json_atomic(config_path,
                      {"args": config, "task": task.name, "llm": llm.describe(),
                       "decoding": llm.decoding.summary(), "prompts": prompts.describe(),
                       "selected": [t.name for t in selection.tools],
                       "dropped_unknown": selection.unknown, "replies": replies,
                       "usage": llm.usage.as_dict()})
    print(f"selected for {task.name}: {', '.join(t.name for t in selection.tools)} -> {out}")
    if selection.unknown:
        print(f"dropped (not in the tool pool): {', '.join(selection.unknown)}")

