"""Offline smoke of the foundation: no GPU, no network, no downloaded weights.

    python -m autoact.demo [--out runs/demo]

1. builds the tiny random Llama model and three *random, untrained* LoRA adapters
   (plan/tool/reflect) offline;
2. loads the base once with all three adapters (local transformers + peft backend) and answers
   HotpotQA questions in one mixed-adapter batch;
3. asks the same questions through the OpenAI-compatible HTTP backend of a local fake server,
   routing each role to its adapter name;
4. scores the answers with the official HotpotQA EM/F1, appends one JSONL record per answer
   (resumable) and writes ``summary.json`` atomically.

Scores are near zero by design: the weights are random. What it proves is that the model
building, adapter loading, batched mixed-adapter generation, HTTP routing, metrics and output
files all work on this machine. The full AutoAct pipeline is built on these pieces.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from autoact.cli import add_common_args, positive_int, run
from autoact.io import JsonlLog, write_json_atomic

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "Self_Planning" / "Group_Planning" / "benchmark_run" / "data" / "hotpotqa"
ROLES = ("plan", "tool", "reflect")


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m autoact.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/demo", help="work folder (default runs/demo)")
    p.add_argument("--questions", type=positive_int, default=6,
                   help="HotpotQA easy questions to answer (default 6)")
    p.add_argument("--max_tokens", type=positive_int, default=12)
    add_common_args(p)
    return p


def main(args: argparse.Namespace) -> None:
    from autoact.llm.fake_server import FakeServer
    from autoact.llm.hf_backend import HFLLM
    from autoact.llm.openai_backend import OpenAILLM
    from autoact.tasks import get_task
    from autoact.tiny import build_random_adapter, build_tiny_model

    t0 = time.monotonic()
    out = Path(args.out)
    model = build_tiny_model(out / "tiny-model")
    adapters = {}
    for i, role in enumerate(ROLES):
        path = out / "tiny-adapters" / role
        adapters[role] = path if (path / "adapter_config.json").exists() else \
            build_random_adapter(model, path, seed=1 + i, scale=2.0)
    print(f"[1/4] tiny model and 3 random LoRA adapters in {out} ({time.monotonic() - t0:.1f} s)")

    task = get_task("HotpotQA")
    examples = task.load_levels(DATA, ["easy"])["easy"][:args.questions]
    prompts = [f"Question: {ex.question}\nAnswer:" for ex in examples]
    roles = [ROLES[i % 3] for i in range(len(examples))]

    llm = HFLLM(str(model), {k: str(v) for k, v in adapters.items()}, default_model="tiny")
    try:
        local = llm.complete(prompts, model=roles, max_tokens=args.max_tokens, stop=["\n"])
    finally:
        llm.close()
    print(f"[2/4] local backend: {len(prompts)} questions in {llm.batches} mixed-adapter "
          f"generate() call(s) ({time.monotonic() - t0:.1f} s)")

    with FakeServer(lambda req: f"answer from {req.model}") as srv:
        http = OpenAILLM(srv.url, default_model="tiny")
        http.check(list(ROLES))
        remote = http.complete(prompts, model=roles, max_tokens=args.max_tokens, stop=["\n"])
        routed = sorted({r["model"] for r in srv.requests if r["path"].endswith("completions")})
        http.close()
    print(f"[3/4] HTTP backend: {len(prompts)} requests to {srv.url}, routed to {', '.join(routed)}")

    log_path = out / "demo.jsonl"
    rows = []
    with JsonlLog(log_path) as log:
        for ex, role, loc, rem in zip(examples, roles, local, remote):
            score = task.score(loc.text, ex)
            rec = {"id": ex.id, "question": ex.question, "answer": ex.answer, "role": role,
                   "prediction": loc.text.strip(), "http_prediction": rem.text,
                   "correct": score.correct, "reward": round(score.reward, 4), "error": None}
            log.append(rec)
            rows.append(rec)
    n = len(rows)
    summary = {"questions": n, "em": sum(r["correct"] for r in rows) / n,
               "f1": sum(r["reward"] for r in rows) / n, "seconds": round(time.monotonic() - t0, 1),
               "note": "random untrained weights: near-zero scores are expected"}
    write_json_atomic(out / "summary.json", summary)
    print(f"[4/4] scored with HotpotQA EM/F1 -> {log_path}, {out / 'summary.json'}\n")
    print("| role | gold | local prediction (random weights) | HTTP prediction | EM | F1 |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        pred = r["prediction"][:30].replace("|", "/")
        print(f"| {r['role']} | {r['answer']} | {pred} | {r['http_prediction']} | "
              f"{int(r['correct'])} | {r['reward']:.2f} |")
    print(f"\nEM {summary['em']:.2f}  F1 {summary['f1']:.2f}  ({summary['seconds']} s; "
          f"random weights, so near zero is expected)")


def cli(argv: Sequence[str] | None = None) -> int:
    return run(main, make_parser(), argv)


if __name__ == "__main__":
    sys.exit(cli())
