"""Start-up time where users wait for nothing: every stage script's ``--help`` and a pipeline rerun
whose stages are all complete, this code against a baseline commit, interleaved in one run.

Each side gets its own smoke work folder, made complete by its own code first (about a minute and
a half each); then, ``--repeats`` times, the baseline and this code run the same commands one after
the other (``--help`` of the seven stage scripts, ``python -m autoact.pipeline --preset smoke`` on
the complete folder). ``train_lora.py --help`` is also timed once with an empty cache (this code
keeps the flag table and help text of transformers' parser in the user cache; the first call
builds them). The baseline is a detached git worktree of ``--baseline`` (default: the commit before
the start-up work).

    python bench/startup.py [--baseline 9b88cc8] [--repeats 3]

Last line: the figures as one JSON object (medians in seconds).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import REPO, emit, machine  # noqa: E402

SCRIPTS = ("Self_Instruct/data_generation.py", "Self_Planning/Tool_Selection/tool_selected.py",
           "Self_Planning/Traj_Syn/run_task.py", "Scripts/filter_data.py", "Self_Planning/Train/train_lora.py",
           "Self_Planning/Group_Planning/run_eval.py", "Scripts/report.py")


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline", default="9b88cc8", help="git revision to compare with (default 9b88cc8)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds (default 3)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-startup-"))
    env = {**os.environ, "OPENAI_BASE_URL": "", "AUTOACT_CACHE": str(tmp / "cache"), "COLUMNS": "100"}
    base = tmp / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(base), args.baseline], cwd=REPO, check=True,
                   capture_output=True)
    sides = {"baseline": base, "this": REPO}
    try:
        cold = timed([sys.executable, "Self_Planning/Train/train_lora.py", "--help"], REPO, env)
        for name, root in sides.items():     # each side's complete work folder, by its own code
            print(f"building the smoke run with {name} ...", flush=True)
            timed([sys.executable, "-m", "autoact.pipeline", "--preset", "smoke", "--work_dir",
                   str(tmp / f"work-{name}")], root, {**env, "PYTHONPATH": str(root)})
            timed([sys.executable, "-m", "autoact.pipeline", "--preset", "smoke", "--work_dir",
                   str(tmp / f"work-{name}")], root, {**env, "PYTHONPATH": str(root)})   # settles its files
        times: dict = {name: {s: [] for s in (*SCRIPTS, "pipeline rerun")} for name in sides}
        for _ in range(args.repeats):
            for name, root in sides.items():
                side_env = {**env, "PYTHONPATH": str(root)}
                for script in SCRIPTS:
                    times[name][script].append(timed([sys.executable, script, "--help"], root, side_env))
                times[name]["pipeline rerun"].append(timed(
                    [sys.executable, "-m", "autoact.pipeline", "--preset", "smoke", "--work_dir",
                     str(tmp / f"work-{name}")], root, side_env))
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: {k: round(statistics.median(v), 2) for k, v in t.items()} for name, t in times.items()}
    print(f"machine: {machine()}; medians of {args.repeats} interleaved rounds (seconds)")
    print(f"{'command':52s} {'baseline':>9s} {'this':>7s} {'ratio':>6s}")
    for key in (*SCRIPTS, "pipeline rerun"):
        label = f"{key} --help" if key in SCRIPTS else "python -m autoact.pipeline (every stage complete)"
        b, t = med["baseline"][key], med["this"][key]
        print(f"{label:52s} {b:9.2f} {t:7.2f} {b / t:6.1f}x")
    print(f"train_lora.py --help with an empty cache (builds it): {cold:.2f} s")
    emit({"bench": "startup", "machine": machine(), "baseline": args.baseline, "repeats": args.repeats,
          "help_seconds": {"baseline": {Path(s).name: med["baseline"][s] for s in SCRIPTS},
                           "this": {Path(s).name: med["this"][s] for s in SCRIPTS}},
          "max_help_seconds": max(med["this"][s] for s in SCRIPTS),
          "train_help_cold_seconds": round(cold, 2),
          "pipeline_rerun_seconds": {"baseline": med["baseline"]["pipeline rerun"],
                                     "this": med["this"]["pipeline rerun"]},
          "pipeline_rerun_speedup": round(med["baseline"]["pipeline rerun"] / med["this"]["pipeline rerun"], 1)})


if __name__ == "__main__":
    main()
