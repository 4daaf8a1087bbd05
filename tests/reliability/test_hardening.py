"""Hardening, end to end through the real command lines: no key reaches a file or a stream,
a malformed reply is one question's error, nothing hangs, two runs never share an output, a
failed --overwrite leaves the old output, broken adapters are one-line errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, TEST_ENV, run_cli

EASY = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa/easy.jsonl"
HOTPOT = "Self_Planning/Group_Planning/benchmark_run/data/hotpotqa"
RT = "Self_Planning/Traj_Syn/run_task.py"
RE = "Self_Planning/Group_Planning/run_eval.py"
SI = "Self_Instruct/data_generation.py"
TS = "Self_Planning/Tool_Selection/tool_selected.py"
DEAD = "http://127.0.0.1:9/v1"


def rt_args(save: Path, url: str, *extra: str, limit: int = 6) -> list[str]:
    return [RT, "--agent_name", "ZeroshotThink_HotPotQA_run_Agent", "--llm_name", "tiny",
            "--task", "HotpotQA", "--task_path", EASY, "--save_path", str(save),
            "--base_url", url, "--limit", str(limit), "--max_retries", "0", *extra]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:") or ": error:" in line]


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


# ----------------------------------------------------------------------------- secrets

SECRETS = {
    "flag": "sk-FLAG-a1b2c3d4e5",
    "env": "sk-ENV-f6g7h8i9j0",
    "config_file": "sk-CFG-k1l2m3n4o5",
    "set": "sk-SET-p6q7r8s9t0",
    "url_userinfo": "sk-USERINFO-u1v2w3x4",
    "url_query": "sk-QUERY-y5z6a7b8c9",
}


def assert_nowhere(root: Path, streams: str) -> None:
    found = [(name, str(p)) for p in files_under(root) for name, key in SECRETS.items()
             if key.encode() in p.read_bytes()]
    found += [(name, "stdout/stderr") for name, key in SECRETS.items() if key in streams]
    assert found == []


def test_secrets_planted_through_every_route_reach_no_file_or_stream(tmp_path, fake_server):
    srv = fake_server(models=["tiny"])
    url = (f"http://alice:{SECRETS['url_userinfo']}@127.0.0.1:{srv.port}/v1"
           f"?api_key={SECRETS['url_query']}")
    env = {"OPENAI_API_KEY": SECRETS["env"]}
    streams = ""
    # a stage that talks to the server: flag, environment, URL user-info and query
    proc = run_cli(*rt_args(tmp_path / "rt/traj.jsonl", url, "--api_key", SECRETS["flag"]), env=env)
    assert proc.returncode == 0, proc.stderr[-1500:]
    streams += proc.stdout + proc.stderr
    config = json.loads((tmp_path / "rt/traj.config.json").read_text())
    assert f"127.0.0.1:{srv.port}" in json.dumps(config)       # the URL is kept, its keys are not
    # the same routes when the server cannot be reached: the error line names no key
    dead = f"http://bob:{SECRETS['url_userinfo']}@127.0.0.1:9/v1?api_key={SECRETS['url_query']}"
    for args in (rt_args(tmp_path / "rt2/traj.jsonl", dead, "--api_key", SECRETS["flag"]),
                 [SI, "--source_data", "Self_Instruct/Meta_sample/Meta_Hotpotqa.json",
                  "--target_data", str(tmp_path / "si/out.json"), "--dataset_name", "hotpotqa",
                  "--base_url", dead, "--api_key", SECRETS["flag"], "--max_retries", "0"]):
        proc = run_cli(*args, env=env)
        assert proc.returncode != 0 and len(error_lines(proc.stderr)) == 1, proc.stderr[-1500:]
        streams += proc.stdout + proc.stderr
    # the pipeline: a config file and --set (the later wins; neither is written)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"model:\n  api_key: {SECRETS['config_file']}\n")
    for extra in ([], ["--set", f"model.api_key={SECRETS['set']}"]):
        proc = run_cli("-m", "autoact.pipeline", "--work_dir", str(tmp_path / "work"),
                       "--only", "self_instruct", "--config", str(cfg), *extra, env=env)
        assert proc.returncode == 0, proc.stderr[-1500:]
        streams += proc.stdout + proc.stderr
    pipeline = json.loads((tmp_path / "work/pipeline.json").read_text())
    assert pipeline["model"]["api_key"] == "***"          # said to be set, not what it is
    cfg.unlink()            # the one file the user wrote with a key in it
    assert_nowhere(tmp_path, streams)


# ----------------------------------------------------------------------------- faults

REPLY_FAULTS = ["choices_str", "text_int", "usage_str", "no_choices", "malformed", "500"]


def test_each_malformed_reply_is_one_questions_error(tmp_path, fake_server):
    # Every second request fails in one of the ways a broken server answers; no question
    # is lost, each failure is its question's error record, the run finishes.
    from autoact.testing.fake_server import react_policy
    srv = fake_server(react_policy, models=["tiny"], faults=[k for f in REPLY_FAULTS
                                                             for k in (f, None, None)])
    save = tmp_path / "traj.jsonl"
    proc = run_cli(*rt_args(save, srv.url, "--max_error_rate", "1", "--workers", "1",
                            limit=12))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    records = [json.loads(line) for line in save.read_text().splitlines()]
    assert len(records) == 12 and len({r["id"] for r in records}) == 12
    errors = [r for r in records if r.get("error")]
    assert 1 <= len(errors) <= len(REPLY_FAULTS), [r.get("error") for r in records]


def test_error_rate_threshold_fails_the_run_but_keeps_records(tmp_path, fake_server):
    srv = fake_server(models=["tiny"], fault_rate=1.0, fault_kinds=["choices_str"])
    save = tmp_path / "traj.jsonl"
    proc = run_cli(*rt_args(save, srv.url, "--max_error_rate", "0.25", limit=4))
    assert proc.returncode != 0
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "error" in lines[0].lower(), proc.stderr[-1500:]
    assert len(save.read_text().splitlines()) == 4            # every question recorded


def test_models_endpoint_of_the_wrong_shape_is_not_a_crash(tmp_path, fake_server):
    srv = fake_server(models=["tiny"], models_fault=True)
    proc = run_cli(*rt_args(tmp_path / "traj.jsonl", srv.url, limit=2))
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 0 or len(error_lines(proc.stderr)) == 1, proc.stderr[-1500:]


def test_trickling_server_is_cut_at_the_request_timeout(tmp_path, fake_server):
    # The server sends a byte every 0.2 s: each read succeeds, so only a deadline on the
    # whole request ends it. Without one this run takes minutes per request.
    srv = fake_server(models=["tiny"], fault_rate=1.0, fault_kinds=["trickle"], trickle_gap=0.2)
    t0 = time.monotonic()
    proc = run_cli(*rt_args(tmp_path / "traj.jsonl", srv.url, "--request_timeout", "1",
                            "--max_error_rate", "1", limit=2), timeout=120)
    assert time.monotonic() - t0 < 60, "a trickling server pinned the run"
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]


# ----------------------------------------------------------------------------- outputs


def test_second_run_on_the_same_output_stops(tmp_path, fake_server):
    srv = fake_server(models=["tiny"], latency=0.5)
    save = tmp_path / "traj.jsonl"
    env = {**os.environ, **TEST_ENV}
    first = subprocess.Popen([sys.executable, *rt_args(save, srv.url, limit=40)], cwd=REPO,
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        lock = tmp_path / ".traj.jsonl.lock"
        deadline = time.monotonic() + 60
        while not (lock.exists() and lock.read_text().strip()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lock.exists(), "the first run never took its lock"
        second = run_cli(*rt_args(save, srv.url, limit=40))
        assert second.returncode != 0
        lines = error_lines(second.stderr)
        assert len(lines) == 1 and str(first.pid) in lines[0], second.stderr[-1000:]
    finally:
        first.kill()
        first.wait()


def test_stale_temporary_file_is_removed(tmp_path, fake_server):
    srv = fake_server(models=["tiny"])
    save = tmp_path / "traj.jsonl"
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".traj.config.json.{dead_pid}.abc123.tmp"
    stale.write_text("half a config")
    proc = run_cli(*rt_args(save, srv.url, limit=1))
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert not stale.exists()
    assert (tmp_path / "traj.config.json").is_file()


@pytest.mark.parametrize("stage", ["rt", "si", "ts", "re"])
def test_overwrite_checks_the_server_before_replacing(tmp_path, stage):
    out = {"rt": tmp_path / "traj.jsonl", "si": tmp_path / "si.json",
           "ts": tmp_path / "tools.json", "re": tmp_path / "eval/easy.jsonl"}[stage]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text({"rt": '{"id": "q1", "question": "Q?", "steps": []}\n',
                    "si": '[{"Question": "Q?", "Answer": "A"}]',
                    "ts": '[{"name": "Retrieve"}]',
                    "re": '{"id": "q1", "question": "Q?", "steps": []}\n'}[stage])
    before = out.read_bytes()
    args = {"rt": rt_args(out, DEAD, "--overwrite"),
            "si": [SI, "--source_data", "Self_Instruct/Meta_sample/Meta_Hotpotqa.json",
                   "--target_data", str(out), "--dataset_name", "hotpotqa", "--base_url", DEAD,
                   "--max_retries", "0", "--overwrite"],
            "ts": [TS, "--task_name", "HotpotQA", "--tool_save_path", str(out), "--base_url",
                   DEAD, "--max_retries", "0", "--overwrite"],
            "re": [RE, "--agent_name", "ZeroshotThink_HotPotQA_run_Agent", "--task", "HotpotQA",
                   "--task_path", HOTPOT, "--save_path", str(out.parent), "--levels", "easy",
                   "--base_url", DEAD, "--max_retries", "0", "--overwrite"]}[stage]
    proc = run_cli(*args)
    assert proc.returncode != 0
    assert "cannot reach" in "".join(error_lines(proc.stderr)), proc.stderr[-1000:]
    assert out.read_bytes() == before


# ----------------------------------------------------------------------------- adapters


def _corrupt(adapter: Path, how: str) -> None:
    if how == "truncated_weights":
        weights = next(adapter.glob("adapter_model.*"))
        weights.write_bytes(weights.read_bytes()[:100])
    elif how == "config_not_json":
        (adapter / "adapter_config.json").write_text("{oops")
    elif how == "config_wrong_types":
        cfg = json.loads((adapter / "adapter_config.json").read_text())
        cfg["r"] = "eight"
        (adapter / "adapter_config.json").write_text(json.dumps(cfg))
    elif how == "rank_mismatch":
        cfg = json.loads((adapter / "adapter_config.json").read_text())
        cfg["r"] = int(cfg["r"]) * 2
        (adapter / "adapter_config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("how", ["truncated_weights", "config_not_json", "config_wrong_types",
                                 "rank_mismatch"])
def test_broken_adapter_is_a_one_line_error(tmp_path, tiny_model, tiny_adapters, how):
    adapter = tmp_path / "plan"
    shutil.copytree(tiny_adapters["plan"], adapter)
    _corrupt(adapter, how)
    proc = run_cli(RE, "--agent_name", "ZeroshotThink_HotPotQA_run_Agent", "--task", "HotpotQA",
                   "--task_path", HOTPOT, "--save_path", str(tmp_path / "eval"), "--levels",
                   "easy", "--backend", "hf", "--base_model", str(tiny_model), "--plan_agent",
                   str(adapter), "--tool_agent", str(tiny_adapters["tool"]), "--reflect_agent",
                   str(tiny_adapters["reflect"]), "--limit", "1")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and "adapter" in lines[0] and str(adapter) in lines[0], lines


def test_a_tool_that_raises_is_its_questions_error(tmp_path, fake_server, monkeypatch, capsys):
    # A bug inside a tool (here Retrieve raising) ends that question with an error record;
    # every question is still recorded and the run's own exit depends on --max_error_rate.
    import importlib.util

    from autoact import cli, tools
    from autoact.testing.fake_server import react_policy

    def broken(arg, ctx):
        raise KeyError("a bug in the tool")

    monkeypatch.setitem(tools.RUNNERS, "Retrieve", broken)
    monkeypatch.setenv("AUTOACT_WIKI", "distractor")
    srv = fake_server(react_policy, models=["tiny"])
    spec = importlib.util.spec_from_file_location("_rt", REPO / RT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    save = tmp_path / "traj.jsonl"
    code = cli.run(module.main, module.make_parser(),
                   rt_args(save, srv.url, "--max_error_rate", "1", limit=4)[1:])
    assert code == 0, capsys.readouterr().err[-1500:]
    records = [json.loads(line) for line in save.read_text().splitlines()]
    assert len(records) == 4
    hit = [r for r in records if r.get("error")]
    assert hit and all("KeyError" in r["error"] and "a bug in the tool" in r["error"] for r in hit)
