"""The command-line entry points, run as a user runs them."""

import json

from conftest import run_cli


def test_demo_main_job_runs_offline(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("-m", "autoact.demo", "--out", str(out), "--questions", "3",
                   env={"OPENAI_BASE_URL": "", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "[4/4]" in proc.stdout and "| plan |" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["questions"] == 3 and 0.0 <= summary["f1"] <= 1.0
    lines = (out / "demo.jsonl").read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert [r["role"] for r in recs] == ["plan", "tool", "reflect"]
    assert [r["http_prediction"] for r in recs] == ["answer from plan", "answer from tool",
                                                    "answer from reflect"]


def test_help_is_instant_and_complete():
    for mod in ("autoact.demo", "autoact.tiny", "autoact.llm.fake_server"):
        proc = run_cli("-m", mod, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, mod


def test_bad_flag_value_is_one_line_error():
    proc = run_cli("-m", "autoact.demo", "--questions", "0")
    assert proc.returncode == 2
    assert "expected a positive integer" in proc.stderr and "Traceback" not in proc.stderr


def test_fake_server_process_prints_url_and_serves(tmp_path):
    import subprocess
    import sys
    import urllib.request
    proc = subprocess.Popen([sys.executable, "-m", "autoact.llm.fake_server", "--port", "0",
                             "--models", "m1,plan"], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("FAKE_SERVER_URL http://127.0.0.1:")
        url = line.split()[1]
        with urllib.request.urlopen(url + "/models") as r:
            ids = [m["id"] for m in json.load(r)["data"]]
        assert ids == ["m1", "plan"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
