"""Filter trajectories into training data for the plan, tool and reflect agents.

    python Scripts/filter_data.py --source_path Self_Planning/Traj_Syn/output/hotpotqa_train_data.jsonl \\
        --save_path Self_Planning/Traj_Syn/output --task_name HotpotQA --filter_num 200

Keeps trajectories that finished without error and whose answer is exactly right (`correct`:
HotpotQA exact match after normalisation, ScienceQA option match; `--criterion reward` keeps
token-F1 = 1 instead), shuffles them with --seed, takes at most --filter_num, and writes
data_plan.json, data_tool.json and data_reflect.json (JSON lists of {"input", "output"}) into
--save_path, with data_config.json beside them. The inputs are built by the same prompt
functions group planning uses, so training and inference prompts are byte-identical. Rerunning
on the same log with the same settings is a no-op; different ones need --overwrite.
"""

from __future__ import annotations

import argparse
import sys

from autoact.cli import add_common_args, positive_int, run


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source_path", required=True, help="trajectory JSONL from run_task.py")
    p.add_argument("--save_path", required=True, help="folder for data_{plan,tool,reflect}.json")
    p.add_argument("--task_name", required=True, help="task of the trajectories (checked against the log)")
    p.add_argument("--filter_num", type=positive_int, required=True,
                   help="keep at most this many trajectories")
    p.add_argument("--criterion", choices=("correct", "reward"), default="correct",
                   help="correct: exact match / option match (default); reward: token F1 of 1")
    p.add_argument("--seed", type=int, default=0, help="shuffling seed")
    p.add_argument("--overwrite", action="store_true", help="replace existing training data")
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    import hashlib
    from pathlib import Path

    from autoact.errors import DataError, OutputExistsError
    from autoact.io import read_jsonl_latest, read_json, write_json_atomic
    from autoact.stages.filtering import ROLES, build_training_data
    from autoact.tasks import get_task

    task = get_task(args.task_name)
    source = Path(args.source_path)
    records = read_jsonl_latest(source)
    for i, rec in enumerate(records, 1):
        for key in ("question", "steps", "prompt", "correct"):
            if key not in rec:
                raise DataError(f"{source}: record {i} (id {rec.get('id')}) has no {key!r}; is this "
                                f"a trajectory log from run_task.py?")
        if rec.get("task") and str(rec["task"]).lower() != task.name.lower():
            raise DataError(f"{source}: record {i} is a {rec['task']} trajectory, not {task.name}")
    folder = Path(args.save_path)
    if folder.exists() and not folder.is_dir():
        raise DataError(f"--save_path {folder}: is a file, expected a folder")
    outputs = {role: folder / f"data_{role}.json" for role in ROLES}
    config_path = folder / "data_config.json"
    settings = {"source": str(source), "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
                "task": task.name, "filter_num": args.filter_num, "criterion": args.criterion,
                "seed": args.seed}
    existing = [p for p in outputs.values() if p.exists()]
    if existing and not args.overwrite:
        old = read_json(config_path) if config_path.exists() else {}
        if len(existing) == len(outputs) and old.get("settings") == settings:
            print(f"{folder}: training data is up to date with {source}; nothing to do")
            return
        raise OutputExistsError(f"{existing[0]} exists (built from another log or settings); pass "
                                f"--overwrite to replace it")
    data, kept = build_training_data(records, filter_num=args.filter_num, seed=args.seed,
                                     criterion=args.criterion, source=str(source))
    if not kept:
        raise DataError(f"{source}: none of its {len(records)} trajectories is {args.criterion} and "
                        f"finished; nothing to train on")
    for role in ROLES:
        write_json_atomic(outputs[role], data[role])
    counts = {role: len(data[role]) for role in ROLES}
    write_json_atomic(config_path, {"settings": settings, "trajectories": len(records),
                                    "kept": len(kept), "kept_ids": kept, "examples": counts})
    print(f"kept {len(kept)} of {len(records)} trajectories ({args.criterion}, finished)")
    for role in ROLES:
        print(f"  {role:8s} {counts[role]:6d} examples -> {outputs[role]}")


if __name__ == "__main__":
    sys.exit(run(main, make_parser()))
