"""Group planning on the local backend: batching across questions and roles, and memory.

1. 16 HotpotQA questions solved by the plan/tool/reflect agents (three LoRA adapters on the tiny
   model, loaded once) through the real run_eval code path, 16 questions in flight or one at a
   time (no batching wait: nothing else could join), with the backend as it was before issue 16
   (a mixed-adapter generate() per batch through peft's LoRA layers, the backend waiting
   ``batch_wait`` 20 ms for more rows; no prefix cache) and as it is now (continuous batching,
   its own LoRA layers, the prefix cache), and now without the prefix cache; the trajectories
   are checked equal in all five runs. Goals: now >= 3x before on the batched run, batched now
   >= 4x one at a time before.
2. Peak memory (RSS, each in a fresh process) of group planning with 3 adapters vs the
   one-model-for-all ablation with 1 adapter, on the ~100M-parameter model (``medium``: on the
   0.6M tiny one even three full copies would read 1.00x), prefix cache off in both (it holds
   up to ``prefix_cache_mb`` of key/values, more with more adapters). Goal <= 1.1x.

    python bench/group_planning.py [--n 16]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, emit, machine  # noqa: E402

ROLES = ("plan", "tool", "reflect")


def solve(model: str, adapters: dict[str, str], n: int, workers: int, out: Path,
          batch_wait: float = 0.02, prefix_cache_mb: int = 1024, now: bool = True) -> tuple[float, int, int, list]:
    """Run group planning over ``n`` questions; returns (seconds, generate calls or prefill passes,
    model calls, trajectories). ``now`` False: a generate() per batch through peft's LoRA layers."""
    from autoact.agents.group import GroupPlanningAgent
    from autoact.agents.runner import run_all
    from autoact.agents.setup import make_solver
    from autoact.io import JsonlLog
    from autoact.llm import RoleMap
    from autoact.llm.hf_backend import HFLLM
    from autoact.tasks import get_task
    from autoact.tools import Environment, default_selection
    from autoact.tools.corpus import OfflineCorpus, distractor_index

    corpus = OfflineCorpus(distractor_index())
    env = Environment(wiki=corpus, search=corpus)
    llm = HFLLM(model, adapters, max_batch_size=16, batch_wait=batch_wait, prefix_cache_mb=prefix_cache_mb,
                continuous=now, lean_lora=now)
    roles = RoleMap(*(r if r in adapters else next(iter(adapters)) for r in ROLES))

    class Args:
        max_steps, max_context_len, max_tokens, temperature, top_p, top_k, seed = 4, 4096, 16, 0.0, 1.0, -1, 0

    task = get_task("hotpotqa")
    examples = task.load_file(REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/easy.jsonl")[:n]
    fn = make_solver(task, default_selection(task.default_tools), env, llm, GroupPlanningAgent(llm, roles),
                     Args, {})
    t = time.perf_counter()
    with JsonlLog(out) as log:
        recs = run_all(examples, fn, log, workers=workers, show_progress=False)
    dt = time.perf_counter() - t
    calls = sum(r["usage"]["calls"] for r in recs)
    assert len(recs) == n and not any(r["error"] for r in recs)
    llm.close()
    return dt, llm.batches, calls, [[(s["thought"], s["action"]) for s in r["steps"]] for r in recs]


def child(model: str, adapters: str, out: str) -> None:
    pairs = dict(a.split("=", 1) for a in adapters.split(","))
    solve(model, pairs, 4, 4, Path(out), prefix_cache_mb=0)     # the adapters' memory, not the cache's
    print(json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    from autoact.testing.tiny import MEDIUM, build_random_adapter, build_tiny_model
    from autoact.tools.corpus import distractor_index
    distractor_index()
    figures: dict = {"machine": machine(), "questions": args.n}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "tiny")
        adapters = {r: str(build_random_adapter(model, tmp / r, seed=i + 1)) for i, r in enumerate(ROLES)}
        runs = {}
        for label, workers, wait, mb, now in (("seq_before", 1, 0.0, 0, False),
                                              ("batched_before", args.n, 0.02, 0, False),
                                              ("seq_now", 1, 0.0, 1024, True),
                                              ("batched_now_nocache", args.n, 0.02, 0, True),
                                              ("batched_now", args.n, 0.02, 1024, True)):
            runs[label] = solve(str(model), adapters, args.n, workers, tmp / f"{label}.jsonl", wait, mb, now)
        calls = runs["seq_before"][2]
        same = len({json.dumps(r[3]) for r in runs.values()}) == 1
        figures.update({"calls": calls, "trajectories_equal": same,
                        **{f"{k}_s": round(v[0], 2) for k, v in runs.items()},
                        "before_generate_calls": runs["batched_before"][1],
                        "now_prefill_passes": runs["batched_now"][1],
                        "speedup_batched": round(runs["batched_before"][0] / runs["batched_now"][0], 2),
                        "speedup_vs_seq_before": round(runs["seq_before"][0] / runs["batched_now"][0], 2),
                        "prefix_speedup_batched": round(runs["batched_now_nocache"][0] / runs["batched_now"][0], 2),
                        "speedup_seq": round(runs["seq_before"][0] / runs["seq_now"][0], 2)})
        print(f"{args.n} questions, {calls} agent calls; trajectories equal in all five runs: {same}")
        for label, (seconds, batches, _, _) in runs.items():
            kind = "prefill passes" if label.endswith(("now", "nocache")) else "generate calls"
            print(f"  {label:20s} {seconds:6.1f} s ({batches} {kind})")
        print(f"batched, now vs before: {figures['speedup_batched']:.1f}x (goal >= 3x); batched now vs one at a "
              f"time before: {figures['speedup_vs_seq_before']:.1f}x (goal >= 4x); the prefix cache on the batched "
              f"run now: {figures['prefix_speedup_batched']:.1f}x; one at a time now vs before: "
              f"{figures['speedup_seq']:.1f}x")
        rss = {}
        medium = build_tiny_model(tmp / "medium", MEDIUM)
        big = {r: str(build_random_adapter(medium, tmp / f"m-{r}", seed=i + 1)) for i, r in enumerate(ROLES)}
        for label, ads in (("3_adapters", big), ("1_adapter", {"plan": big["plan"]})):
            spec = ",".join(f"{k}={v}" for k, v in ads.items())
            out = subprocess.run([sys.executable, __file__, "--child", str(medium), spec, str(tmp / f"{label}.jsonl")],
                                 capture_output=True, text=True, check=True)
            rss[label] = json.loads(out.stdout.strip().splitlines()[-1])["peak_rss"]
        ratio = rss["3_adapters"] / rss["1_adapter"]
        figures.update({"rss_3_adapters_mb": round(rss["3_adapters"] / 2**20, 1),
                        "rss_1_adapter_mb": round(rss["1_adapter"] / 2**20, 1), "rss_ratio": round(ratio, 3)})
        print(f"peak RSS, ~100M model: 3 adapters {rss['3_adapters'] / 2**20:.0f} MiB, 1 adapter "
              f"{rss['1_adapter'] / 2**20:.0f} MiB -> {ratio:.3f}x (goal <= 1.1x)")
    emit(figures)


if __name__ == "__main__":
    main()
