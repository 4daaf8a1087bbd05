"""The command-line entry points, run as a user runs them."""

import json

from conftest import run_cli


def test_help_is_instant_and_complete():
    for mod in ("autoact.pipeline", "autoact.testing.tiny", "autoact.testing.fake_server"):
        proc = run_cli("-m", mod, "--help")
        assert proc.returncode == 0 and "usage:" in proc.stdout, mod


def test_bad_flag_value_is_one_line_error():
    proc = run_cli("-m", "autoact.pipeline", "--set", "train.no_such_flag=1")
    assert proc.returncode == 2
    assert "unknown key train.no_such_flag" in proc.stderr and "Traceback" not in proc.stderr


def test_fake_server_process_prints_url_and_serves(tmp_path):
    import subprocess
    import sys
    import urllib.request
    proc = subprocess.Popen([sys.executable, "-m", "autoact.testing.fake_server", "--port", "0",
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
