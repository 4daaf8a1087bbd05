"""Trajectory synthesis throughput: questions in flight at once vs one at a time.

64 HotpotQA questions through `run_task.py`'s code path (the zero-shot Meta-Agent, real offline
Retrieve, real JSONL log) against the fake OpenAI server in its own process at 50 ms per call,
with its deterministic multi-step ReAct policy (3 steps, 6 calls per question): 1 worker vs 32.
Goal: >= 25x.

    python bench/synthesis_throughput.py [--n 64] [--latency 0.05] [--workers 32]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, emit, fake_server_process, machine  # noqa: E402


def run(url: str, examples, workers: int, out: Path) -> tuple[float, int]:
    from autoact.agents.meta import ZeroshotThinkAgent
    from autoact.agents.runner import run_all
    from autoact.agents.setup import make_solver
    from autoact.io import JsonlLog
    from autoact.llm.openai_backend import OpenAILLM
    from autoact.tasks import get_task
    from autoact.tools import Environment, default_selection
    from autoact.tools.corpus import OfflineCorpus, distractor_index

    corpus = OfflineCorpus(distractor_index())
    env = Environment(wiki=corpus, search=corpus)
    llm = OpenAILLM(url, default_model="tiny", max_in_flight=64)

    class Args:
        max_steps, max_context_len, max_tokens, temperature, top_p, top_k, seed = 15, 4096, 64, 0.0, 1.0, -1, 0

    task = get_task("hotpotqa")
    solve = make_solver(task, default_selection(task.default_tools), env, llm,
                        ZeroshotThinkAgent(llm), Args, {})
    t = time.perf_counter()
    with JsonlLog(out) as log:
        recs = run_all(examples, solve, log, workers=workers, show_progress=False)
    dt = time.perf_counter() - t
    assert len(recs) == len(examples) and not any(r["error"] for r in recs)
    llm.close()
    return dt, sum(r["usage"]["calls"] for r in recs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=32)
    args = ap.parse_args()
    from autoact.tasks import get_task
    from autoact.tools.corpus import distractor_index
    distractor_index()   # build the distractor corpus before timing
    examples = get_task("hotpotqa").load_file(
        REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/medium.jsonl")[:args.n]
    with tempfile.TemporaryDirectory() as tmp, \
            fake_server_process("--latency", str(args.latency), "--policy", "react") as url:
        seq, calls = run(url, examples, 1, Path(tmp) / "w1.jsonl")
        par, _ = run(url, examples, args.workers, Path(tmp) / "wN.jsonl")
    print(f"{args.n} questions ({calls} model calls at {args.latency * 1000:.0f} ms): 1 worker "
          f"{seq:.2f} s, {args.workers} workers {par:.2f} s -> {seq / par:.1f}x (goal >= 25x)")
    emit({"machine": machine(), "questions": args.n, "calls": calls, "latency_s": args.latency,
          "workers": args.workers, "seq_s": round(seq, 2), "par_s": round(par, 2),
          "speedup": round(seq / par, 1)})


if __name__ == "__main__":
    main()
