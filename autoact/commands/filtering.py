"""Filter trajectories into training data for the plan, tool and reflect agents.

    python Scripts/filter_data.py --source_path Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl \\
        --save_path Self_Planning/Traj_Syn/output --task_name HotpotQA --filter_num 200

Keeps trajectories that finished without error and whose answer is exactly right (`correct`:
HotpotQA exact match after normalisation, ScienceQA option match; `--criterion reward` keeps
token-F1 = 1 instead; `--criterion none` keeps every trajectory without an error, the paper's
"-filtering" ablation), shuffles them with --seed, takes at most --filter_num, and writes
data_plan.json, data_tool.json and data_reflect.json (JSON lists of {"input", "output"}) into
--save_path, with data_config.json beside them. The inputs are built by the same prompt
functions and prompts file group planning uses, so training and inference prompts are
byte-identical. Rerunning on the same log with the same settings is a no-op; different ones need
--overwrite.

Logs of the reference implementation (lines with question, answer, correct, reward, halted,
error, prompt and no id or steps) are read too: their steps are parsed from the prompt's
scratchpad and their instruction is the one in the prompt (the reference's wording), unless
--instruction prompts rebuilds it from --prompts and the tools.
"""

from __future__ import annotations

import argparse

from autoact.cli import add_common_args, add_prompts_arg, positive_int


def make_parser() -> argparse.ArgumentParser:
    from autoact.stages.filtering import CRITERIA
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source_path", required=True,
                   help="trajectory JSONL from run_task.py (or from the reference's run_task.py)")
    p.add_argument("--save_path", required=True, help="folder for data_{plan,tool,reflect}.json")
    p.add_argument("--task_name", required=True, help="task of the trajectories (checked against the log)")
    p.add_argument("--filter_num", type=positive_int, required=True,
                   help="keep at most this many trajectories")
    p.add_argument("--criterion", choices=tuple(CRITERIA), default="correct",
                   help="which trajectories become training data: " +
                        "; ".join(f"{k}: {v}" for k, v in CRITERIA.items()) + " (default correct)")
    p.add_argument("--instruction", choices=("log", "prompts"), default="log",
                   help="log: train on the instruction each trajectory was generated with (default); "
                        "prompts: rebuild it from --prompts and --tools, e.g. for a reference log "
                        "whose wording evaluation here will not use")
    p.add_argument("--tools", default=None,
                   help="--instruction prompts: the tool-selection file (default as run_eval.py: "
                        "Self_Planning/Tool_Selection/{Task}_Tools.json, else the task's default)")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed")
    p.add_argument("--overwrite", action="store_true", help="replace existing training data")
    add_prompts_arg(p)
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from autoact.agents.runner import EPISODE_SCHEMA
    from autoact.errors import DataError
    from autoact.io import OutputLock, check_distinct
    from autoact.prompting import load_prompts
    from autoact.reference_logs import read_log
    from autoact.stages.filtering import ROLES
    from autoact.tasks import get_task

    task = get_task(args.task_name)
    prompts = load_prompts(args.prompts)
    source = Path(args.source_path)
    records, from_reference = read_log(source, schema=EPISODE_SCHEMA)
    for i, rec in enumerate(records, 1):
        for key in ("question", "steps", "prompt", "correct"):
            if key not in rec:
                raise DataError(f"{source}: record {i} (id {rec.get('id')}) has no {key!r}; is this "
                                f"a trajectory log from run_task.py?")
        if rec.get("task") and str(rec["task"]).lower() != task.name.lower():
            raise DataError(f"{source}: record {i} is a {rec['task']} trajectory, not {task.name}")
    instruction = None
    if args.instruction == "prompts":
        from autoact.agents.prompts import instruction as build_instruction
        from autoact.agents.setup import selected_tools
        tools, tools_source = selected_tools(args.tools, task, prompts)
        instruction = build_instruction(task, tools, prompts=prompts)
        print(f"instruction rebuilt from the prompts file with tools {', '.join(t.name for t in tools)} "
              f"(from {tools_source})")
    elif from_reference:
        print(f"note: {from_reference} lines are in the reference's log format: their steps are parsed "
              f"from the prompt and they keep the reference's instruction; evaluate with a prompts "
              f"file of the same wording, or pass --instruction prompts")
    folder = Path(args.save_path)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--save_path {folder}: is a file, expected a folder")
    outputs = {role: folder / f"data_{role}.json" for role in ROLES}
    config_path = folder / "data_config.json"
    check_distinct([*outputs.values(), config_path], [source, args.tools, args.prompts])
    with OutputLock(folder):
        build(args, task, prompts, source, records, from_reference, instruction, folder, outputs, config_path)


def build(args, task, prompts, source, records, from_reference, instruction, folder, outputs, config_path):
    import hashlib

    from autoact.errors import DataError, OutputExistsError
    from autoact.io import read_json, write_json_atomic
    from autoact.stages.filtering import ROLES, build_training_data

    settings = {"source": str(source), "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                "task": task.name, "filter_num": args.filter_num, "criterion": args.criterion,
                "seed": args.seed, "instruction": args.instruction, "prompts": prompts.describe()}
    existing = [p for p in outputs.values() if p.exists()]
    if existing and not args.overwrite:
        old = read_json(config_path) if config_path.exists() else {}
        if len(existing) == len(outputs) and old.get("settings") == settings:
            print(f"{folder}: training data is up to date with {source}; nothing to do")
            return
        raise OutputExistsError(f"{existing[0]} exists (built from another log or settings); pass "
                                f"--overwrite to replace it")
    data, kept = build_training_data(records, filter_num=args.filter_num, seed=args.seed,
                                     criterion=args.criterion, source=str(source), prompts=prompts,
                                     instruction=instruction)
    if not kept:
        what = "without an error" if args.criterion == "none" else f"{args.criterion} and finished"
        raise DataError(f"{source}: none of its {len(records)} trajectories is {what}; nothing to train on")
    for role in ROLES:
        write_json_atomic(outputs[role], data[role])
    counts = {role: len(data[role]) for role in ROLES}
    write_json_atomic(config_path, {"settings": settings, "trajectories": len(records),
                                    "reference_format": from_reference,
                                    "kept": len(kept), "kept_ids": kept, "examples": counts})
    rule = "any without an error" if args.criterion == "none" else f"{args.criterion}, finished"
    print(f"kept {len(kept)} of {len(records)} trajectories ({rule})")
    for role in ROLES:
        print(f"  {role:8s} {counts[role]:6d} examples -> {outputs[role]}")

