"""A soak against the fake server with 20% faults (500s, timeouts, malformed JSON, empty
completions): runs finish, faults are recorded, reruns fill them."""

import json

from autoact.testing.fake_server import react_policy

from conftest import REPO, run_cli

HOTPOT = REPO / "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"
FAULTS = ["500", "timeout", "malformed", "empty"]


def policy(req):
    """ReAct steps for the agents; for self-instruct (chat) pairs that depend on the prompt."""
    if req.messages is None:
        return react_policy(req)
    import hashlib
    h = hashlib.sha1(req.prompt.encode()).hexdigest()
    return "\n".join(f"Question: What is item {h[:8]}-{i}?\nAnswer: v{h[:5]}{i}" for i in range(3))


def flaky(fake_server, seed):
    return fake_server(policy, models=["tiny", "plan", "tool", "reflect"], fault_rate=0.2,
                       fault_kinds=FAULTS, timeout_hold=3, seed=seed)


def test_trajectory_synthesis_soak(tmp_path, fake_server):
    srv = flaky(fake_server, seed=11)
    out = tmp_path / "traj.jsonl"
    cmd = ["Self_Planning/Traj_Syn/run_task.py", "--agent_name", "ZeroshotThink_HotPotQA_run_Agent",
           "--llm_name", "tiny", "--task", "HotpotQA", "--task_path", str(HOTPOT / "medium.jsonl"),
           "--save_path", str(out), "--limit", "40", "--workers", "8", "--request_timeout", "1",
           "--max_consecutive_failures", "40", "--max_error_rate", "1"]
    first = run_cli(*cmd, "--max_retries", "0", env={"OPENAI_BASE_URL": srv.url})
    assert first.returncode == 0, first.stderr[-2000:]
    recs = [json.loads(x) for x in out.read_text().splitlines()]
    errors = [r for r in recs if r["error"]]
    assert len(recs) == 40 and errors, "20% faults without retries must leave error records"
    kinds = {("timed out" in r["error"]) or ("HTTP 500" in r["error"]) or ("malformed" in r["error"])
             for r in errors}
    assert kinds == {True}
    fault_log = [r["fault"] for r in srv.requests]
    assert {"500", "timeout", "malformed", "empty"} <= set(fault_log)
    # rerun (same flaky server, now with retries): every error filled, every id once
    for _ in range(3):
        again = run_cli(*cmd, "--max_retries", "6", env={"OPENAI_BASE_URL": srv.url})
        assert again.returncode == 0, again.stderr[-2000:]
        recs = [json.loads(x) for x in out.read_text().splitlines()]
        if not any(r["error"] for r in recs):
            break
    assert len(recs) == 40 and len({r["id"] for r in recs}) == 40
    assert not any(r["error"] for r in recs)


def test_empty_completion_is_an_invalid_action_not_an_error(tmp_path, fake_server):
    """Where an empty reply lands in the soak depends on thread timing; here it is planned."""
    srv = fake_server(policy, models=["tiny"], faults=["empty", "empty"])
    out = tmp_path / "traj.jsonl"
    done = run_cli("Self_Planning/Traj_Syn/run_task.py", "--agent_name", "ZeroshotThink_HotPotQA_run_Agent",
                   "--llm_name", "tiny", "--task", "HotpotQA", "--task_path", str(HOTPOT / "medium.jsonl"),
                   "--save_path", str(out), "--limit", "1", "--workers", "1", "--max_retries", "0",
                   env={"OPENAI_BASE_URL": srv.url})
    assert done.returncode == 0, done.stderr[-2000:]
    [rec] = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["fault"] for r in srv.requests[:2]] == ["empty", "empty"]
    assert not rec["error"]
    assert rec["steps"][0]["observation"].startswith("Invalid Action")


def test_evaluation_and_self_instruct_soak(tmp_path, fake_server):
    srv = flaky(fake_server, seed=12)
    env = {"OPENAI_BASE_URL": srv.url}
    save = tmp_path / "eval"
    cmd = ["Self_Planning/Group_Planning/run_eval.py", "--agent_name", "ZeroshotThink_HotPotQA_run_Agent",
           "--task", "HotpotQA", "--task_path", str(HOTPOT), "--save_path", str(save), "--limit", "6",
           "--request_timeout", "1", "--max_consecutive_failures", "50", "--max_error_rate", "1"]
    assert run_cli(*cmd, "--max_retries", "0", env=env).returncode == 0
    summary = json.loads((save / "summary.json").read_text())
    assert summary["all"]["questions"] == 18 and summary["all"]["errors"] > 0
    for _ in range(3):
        assert run_cli(*cmd, "--max_retries", "6", env=env).returncode == 0
        summary = json.loads((save / "summary.json").read_text())
        if summary["all"]["errors"] == 0:
            break
    assert summary["all"]["errors"] == 0 and summary["all"]["questions"] == 18
    # self-instruct rides the faults out on retries; they show in its summary
    target = tmp_path / "si.json"
    n0 = len(srv.requests)
    si = run_cli("Self_Instruct/data_generation.py", "--source_data",
                 str(REPO / "Self_Instruct/Meta_sample/Meta_Hotpotqa.json"), "--target_data", str(target),
                 "--dataset_name", "hotpotqa", "--generate_all_num", "6", "--generate_per_round_num", "3",
                 "--model_name", "tiny", "--request_timeout", "1", "--max_retries", "8", "--patience", "30",
                 env=env)
    assert si.returncode == 0, si.stderr[-2000:]
    assert len(json.loads(target.read_text())) == 6
    cfg = json.loads(target.with_suffix(".config.json").read_text())
    hit = [r for r in srv.requests[n0:] if r["fault"] in ("500", "timeout", "malformed")]
    assert cfg["summary"]["usage"]["retries"] == len(hit)      # every fault recorded as a retry
