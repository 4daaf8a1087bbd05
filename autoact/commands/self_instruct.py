"""Self-Instruct: the Meta-Agent writes new question-answer pairs from the seed examples.

    python Self_Instruct/data_generation.py --source_data Self_Instruct/Meta_sample/Meta_Hotpotqa.json \\
        --target_data Self_Instruct/hotpotqa_metaqa.json --dataset_name hotpotqa --generate_all_num 800 \\
        --generate_per_round_num 10 --model_name llama-2-13b-chat

Writes exactly --generate_all_num pairs to --target_data (a JSON list with the seed file's keys:
HotpotQA {"Question", "Answer"}; ScienceQA {"Question" with its Options line, "caption", "orc",
"Answer": "A. text"}), atomically after every round. Progress is kept in
<target>.progress.jsonl: rerun the same command after a crash or Ctrl-C and it continues where it
stopped, without duplicates. The resolved settings and a summary go to <target>.config.json.
The model comes from an OpenAI-compatible server (--base_url / $OPENAI_BASE_URL) or a local model
(--backend hf --model_path DIR); the chat API is used, as the reference did, and the config
records the decoding actually sent.
"""

from __future__ import annotations

import argparse
import time

from autoact.cli import (add_common_args, add_prompts_arg, non_negative_float, non_negative_int, positive_int,
                         public_args, str2bool, top_k_value, top_p_value)
from autoact.llm import add_llm_args


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source_data", required=True, help="seed examples: a JSON list (e.g. Meta_Hotpotqa.json)")
    p.add_argument("--target_data", required=True, help="output JSON list of generated pairs")
    p.add_argument("--dataset_name", required=True, help="task name (case-insensitive): hotpotqa, scienceqa, ...")
    p.add_argument("--generate_all_num", type=positive_int, default=800,
                   help="pairs to generate in all (the output has exactly this many)")
    p.add_argument("--generate_per_round_num", type=positive_int, default=10,
                   help="pairs asked for per round")
    p.add_argument("--model_name", default="llama-2-13b-chat",
                   help="the Meta-Agent: a served model name, an alias or a local path")
    p.add_argument("--temperature", type=non_negative_float, default=None,
                   help="fixed sampling temperature (default: drawn per round from "
                        "--min_temperature..--max_temperature, as the reference)")
    p.add_argument("--min_temperature", type=non_negative_float, default=0.1)
    p.add_argument("--max_temperature", type=non_negative_float, default=0.5)
    p.add_argument("--top_k", type=top_k_value, default=40)
    p.add_argument("--top_p", type=top_p_value, default=0.75)
    p.add_argument("--max_tokens", type=positive_int, default=1024)
    p.add_argument("--seed", type=int, default=0, help="seeds example sampling and temperatures")
    p.add_argument("--workers", type=positive_int, default=4,
                   help="rounds in flight at once (default 4); round r shows pairs from rounds "
                        "<= r - workers, so the output depends on --seed and --workers, not timing")
    p.add_argument("--max_rounds", type=non_negative_int, default=0,
                   help="stop with an error after this many rounds (0: no limit)")
    p.add_argument("--patience", type=positive_int, default=5,
                   help="stop with an error when this many rounds in a row add nothing (default 5)")
    p.add_argument("--unique_answers", type=str2bool, default=True,
                   help="the reference's rule: keep one pair per answer (default True)")
    p.add_argument("--max_answer_chars", type=positive_int, default=20,
                   help="free-form answers must be shorter than this (reference: 20)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh: ignore (and replace) an existing target and its progress")
    add_prompts_arg(p)
    add_llm_args(p)
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from pathlib import Path

    from autoact.errors import ConfigError
    from autoact.io import OutputLock, check_distinct, prepare_output, read_records
    from autoact.prompting import load_prompts
    from autoact.stages.self_instruct import Settings
    from autoact.tasks import get_task

    task = get_task(args.dataset_name)
    prompts = load_prompts(args.prompts)
    if not 0 <= args.min_temperature <= args.max_temperature:
        raise ConfigError("--min_temperature must be >= 0 and <= --max_temperature")
    seeds = read_records(args.source_data, required=["Question", "Answer"], list_only=True)
    if not seeds:
        raise ConfigError(f"{args.source_data}: no seed examples")
    task.load_file(args.source_data)            # the task's own checks (options, answer letter)

    target = Path(args.target_data)
    progress_path = target.with_suffix(".progress.jsonl")
    config_path = target.with_suffix(".config.json")
    check_distinct([target, progress_path, config_path], [args.source_data, args.prompts])
    prepare_output(target)
    settings = Settings(
        total=args.generate_all_num, per_round=args.generate_per_round_num, workers=args.workers,
        seed=args.seed, max_rounds=args.max_rounds, patience=args.patience,
        unique_answers=args.unique_answers, max_answer_chars=args.max_answer_chars,
        temperature=args.temperature, temperature_range=(args.min_temperature, args.max_temperature),
        max_tokens=args.max_tokens, top_p=args.top_p, top_k=args.top_k)
    with OutputLock(target):
        generate(args, task, prompts, seeds, settings, target, progress_path, config_path)


def generate(args, task, prompts, seeds, settings, target, progress_path, config_path) -> None:
    from tqdm import tqdm

    from autoact.io import JsonlLog, read_records, write_json_atomic
    from autoact.llm import make_llm
    from autoact.stages.self_instruct import PROGRESS_SCHEMA, SelfInstruct

    existing: list[dict] = []
    if not args.overwrite and target.exists() and not progress_path.exists():
        existing = read_records(target, required=["Question", "Answer"], list_only=True)
        task.load_file(target)
        if len(existing) >= settings.total:
            print(f"{target} already holds {len(existing)} pairs (>= {settings.total}); nothing to do.")
            return

    # an existing progress log is read and checked first; with --overwrite it is replaced, but
    # only once the server has answered
    progress = JsonlLog(progress_path, key="round", schema=PROGRESS_SCHEMA) if not args.overwrite else None
    llm = None
    try:
        llm = make_llm(args, args.model_name)
        if progress is None:
            progress_path.unlink(missing_ok=True)
            progress = JsonlLog(progress_path, key="round", schema=PROGRESS_SCHEMA)
        gen = SelfInstruct(task, seeds, llm, settings, prompts)
        if existing:
            progress.append({"round": -1, "items": existing, "rejected": {}, "temperature": None,
                             "reply": f"(pairs already in {target})", "seconds": 0})
        for rec in sorted(progress.records(), key=lambda r: r["round"]):
            gen.replay(rec["round"], rec.get("items") or [], rec.get("rejected") or {}, rec.get("reply", ""))
        resumed = len(gen.state.items)
        if resumed:
            print(f"resuming: {resumed} pairs from {progress_path}")
        t0 = time.monotonic()
        bar = tqdm(total=settings.total, initial=min(resumed, settings.total), unit="pair",
                   desc=f"self-instruct {task.name}", dynamic_ncols=True)

        def on_round(g: SelfInstruct, r: int) -> None:
            bar.update(min(len(g.state.items), settings.total) - bar.n)
            bar.set_postfix(round=r, rejected=sum(g.state.rejected.values()))
            write_json_atomic(target, g.state.items[:settings.total], indent=4)

        try:
            items = gen.run(progress, on_round)[:settings.total]
        finally:
            bar.close()
        write_json_atomic(target, items, indent=4)
        st = gen.state
        summary = {"generated": len(items), "rounds": st.rounds, "rejected": dict(st.rejected),
                   "usage": llm.usage.as_dict(), "seconds": round(time.monotonic() - t0, 1)}
        config = public_args(args)
        write_json_atomic(config_path, {"args": config, "task": task.name, "llm": llm.describe(),
                                        "decoding": llm.decoding.summary(),
                                        "prompts": prompts.describe(), "summary": summary})
        print(f"generated {len(items)} {task.name} pairs in {st.rounds} rounds -> {target}")
        print("rejected: " + (", ".join(f"{k} {v}" for k, v in sorted(st.rejected.items())) or "none"))
        u = summary["usage"]
        print(f"tokens: {u['prompt_tokens']} prompt + {u['completion_tokens']} completion "
              f"in {u['requests']} requests ({summary['seconds']} s)")
    finally:
        if progress is not None:
            progress.close()
        if llm is not None:
            llm.close()

