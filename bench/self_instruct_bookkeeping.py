"""Self-instruct bookkeeping: seconds per 1,000 kept pairs as the run grows, this code against a
baseline commit, in one run.

The stage (``autoact.stages.self_instruct.run``, the code ``data_generation.py`` runs) makes
``--pairs`` HotpotQA pairs, 10 per round, one round in flight (``--workers 1``: no waiting on a
model to hide the bookkeeping), from a scripted model that answers each round at once with 10 new
pairs: what is left is the stage's own work per round (choosing the examples shown, deduplicating,
the progress log, the target file). Each side runs in its own process (the baseline from a
detached git worktree of ``--baseline``); the model records the time at every 1,000 pairs (the
first interval includes starting the stage; the end, the last round and writing the target, is
shown apart).
Flat figures from the first 1,000 to the last mean bookkeeping linear in the pairs; the baseline
rewrote the whole target JSON and rescanned every kept pair each round.

    python bench/self_instruct_bookkeeping.py [--pairs 20000] [--baseline 9b88cc8]

Last line: the figures as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, emit, machine  # noqa: E402

PER_ROUND = 10


def one_side(pairs: int, work: Path) -> dict:
    """Run the stage in this process (the code on PYTHONPATH); seconds per 1,000 pairs."""
    import autoact.llm
    from autoact.llm.scripted import ScriptedLLM
    from autoact.settings import from_mapping
    from autoact.stages import self_instruct

    marks: list[float] = []
    state = {"round": 0}

    def model(req) -> str:
        r = state["round"]
        state["round"] += 1
        if (r * PER_ROUND) % 1000 == 0 or (r + 1) * PER_ROUND == pairs:     # ... and the last round
            marks.append(time.perf_counter())
        return "\n".join(f"Question: What is item {r}-{i} of the bench list?\nAnswer: a{r}x{i}"
                         for i in range(PER_ROUND))
    autoact.llm.make_llm = lambda *a, **k: ScriptedLLM(model)
    seeds = work / "seeds.json"
    seeds.write_text(json.dumps([{"Question": "What is the first seed?", "Answer": "one"},
                                 {"Question": "What is the second seed?", "Answer": "two"}]))
    settings = from_mapping(self_instruct.Settings, {
        "source_data": str(seeds), "target_data": str(work / "out.json"), "dataset_name": "HotpotQA",
        "generate_all_num": pairs, "generate_per_round_num": PER_ROUND, "workers": 1,
        "unique_answers": False, "backend": "scripted", "scripted_policy": "react"}, "self_instruct")
    t0 = time.perf_counter()
    self_instruct.run(settings)
    end = time.perf_counter()
    per_k = [round(b - a, 3) for a, b in zip(marks, marks[1:])]     # the last one 990 pairs: close enough
    return {"seconds": round(end - t0, 2), "per_1k": per_k, "finish_seconds": round(end - marks[-1], 3),
            "pairs": len(json.loads((work / "out.json").read_text()))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=20000, help="pairs to make (default 20000)")
    ap.add_argument("--baseline", default="9b88cc8", help="git revision to compare with (default 9b88cc8)")
    ap.add_argument("--side", default=None, help=argparse.SUPPRESS)     # internal: run one side here
    args = ap.parse_args()
    if args.side:
        work = Path(args.side)
        print("SIDE " + json.dumps(one_side(args.pairs, work)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench-si-"))
    base = tmp / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=REPO, check=True,
                   capture_output=True)
    results = {}
    try:
        for name, root in (("baseline", base), ("this", REPO)):
            work = tmp / f"work-{name}"
            work.mkdir()
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--pairs", str(args.pairs),
                                   "--side", str(work)], cwd=root, capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": str(root), "OPENAI_BASE_URL": ""})
            line = next((x for x in proc.stdout.splitlines() if x.startswith("SIDE ")), None)
            if proc.returncode != 0 or line is None:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
            results[name] = json.loads(line[5:])
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {machine()}; {args.pairs} pairs, {PER_ROUND} per round, seconds per 1,000 pairs")
    for name, r in results.items():
        k = r["per_1k"]
        print(f"{name:9s} total {r['seconds']:8.2f} s  first 1k {k[0]:.3f} s  last 1k {k[-1]:.3f} s  "
              f"last/first {k[-1] / k[0]:.1f}x  (then the last round and writing the target: "
              f"{r['finish_seconds']:.3f} s)")
    emit({"bench": "self_instruct_bookkeeping", "machine": machine(), "pairs": args.pairs,
          "baseline": args.baseline,
          "seconds": {n: r["seconds"] for n, r in results.items()},
          "first_1k_seconds": {n: r["per_1k"][0] for n, r in results.items()},
          "last_1k_seconds": {n: r["per_1k"][-1] for n, r in results.items()},
          "last_over_first": {n: round(r["per_1k"][-1] / r["per_1k"][0], 2) for n, r in results.items()},
          "finish_seconds": {n: r["finish_seconds"] for n, r in results.items()},
          "speedup": round(results["baseline"]["seconds"] / results["this"]["seconds"], 1)})


if __name__ == "__main__":
    main()
