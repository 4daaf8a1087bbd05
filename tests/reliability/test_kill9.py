"""kill -9 at random points (several seeds) during self-instruct, trajectory synthesis and
evaluation, then rerun: the result equals an uninterrupted run, every id once, nothing lost."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from autoact.testing.fake_server import react_policy

from conftest import REPO, TEST_ENV, run_cli

SEEDS = [1, 2, 3]
META = REPO / "Self_Instruct/Meta_sample/Meta_Hotpotqa.json"
HOTPOT = REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"


def pairs_policy(req) -> str:
    """Self-instruct replies that depend only on the prompt (so runs are comparable)."""
    import hashlib
    h = hashlib.sha1(req.prompt.encode()).hexdigest()
    return "\n".join(f"Question: What is item {h[:8]}-{i}?\nAnswer: v{h[:5]}{i}" for i in range(8))


def policy(req):
    if req.messages is not None:
        return pairs_policy(req)
    return react_policy(req)


def commands(kind, out):
    if kind == "self_instruct":
        return ["Self_Instruct/data_generation.py", "--source_data", str(META), "--target_data", str(out),
                "--dataset_name", "hotpotqa", "--generate_all_num", "48", "--generate_per_round_num", "8",
                "--model_name", "tiny", "--workers", "3"]
    if kind == "trajectories":
        return ["Self_Planning/Traj_Syn/run_task.py", "--agent_name", "ZeroshotThink_HotPotQA_run_Agent",
                "--llm_name", "tiny", "--task", "HotpotQA", "--task_path", str(HOTPOT / "easy.jsonl"),
                "--save_path", str(out), "--limit", "30", "--workers", "4"]
    return ["Self_Planning/Group_Planning/run_eval.py", "--agent_name", "ZeroshotThink_HotPotQA_run_Agent",
            "--task", "HotpotQA", "--task_path", str(HOTPOT), "--save_path", str(out), "--limit", "8",
            "--workers", "4"]


def records(kind, out):
    """What must survive: the output's records, keyed by id (timings dropped)."""
    if kind == "self_instruct":
        return {json.dumps(r, sort_keys=True): r for r in json.loads(out.read_text())}
    files = [out] if kind == "trajectories" else sorted(out.glob("*.jsonl"))
    got = {}
    for f in files:
        lines = [json.loads(x) for x in f.read_text().splitlines()]
        ids = [r["id"] for r in lines]
        assert len(ids) == len(set(ids)), f"duplicate ids in {f}"
        for r in lines:
            r.pop("seconds", None)
            got[(f.name, r["id"])] = r
    return got


def progress_size(kind, out) -> int:
    path = out.with_suffix(".progress.jsonl") if kind == "self_instruct" else out
    if kind == "eval":
        return sum(len(f.read_text().splitlines()) for f in out.glob("*.jsonl")) if out.exists() else 0
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize("kind", ["self_instruct", "trajectories", "eval"])
def test_kill9_then_rerun_equals_uninterrupted(tmp_path, fake_server, kind):
    srv = fake_server(policy, models=["tiny", "plan", "tool", "reflect"], latency=0.01)
    env = {"OPENAI_BASE_URL": srv.url}
    ref = tmp_path / "ref" / ("out.json" if kind == "self_instruct" else "out.jsonl" if kind == "trajectories" else "eval")
    ref.parent.mkdir()
    proc = run_cli(*commands(kind, ref), env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = records(kind, ref)
    total = progress_size(kind, ref)
    for seed in SEEDS:
        rng = random.Random(seed)
        out = tmp_path / f"cut{seed}" / ref.name
        out.parent.mkdir()
        kill_after = rng.randint(1, max(1, total - 2))
        child = subprocess.Popen([sys.executable, *commands(kind, out)], cwd=REPO,
                                 env={**os.environ, **TEST_ENV, **env}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if progress_size(kind, out) >= kill_after:
                time.sleep(rng.random() * 0.05)          # somewhere inside the next record
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        child.wait()
        assert child.returncode == -signal.SIGKILL, f"seed {seed}: finished before the kill"
        again = run_cli(*commands(kind, out), env=env)
        assert again.returncode == 0, (seed, again.stderr[-2000:])
        assert records(kind, out) == expected, f"seed {seed}: the resumed run differs"
