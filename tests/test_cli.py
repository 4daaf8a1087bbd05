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


def test_train_flags_and_help_come_from_the_cache_without_transformers(tmp_path):
    """train_lora.py's flag table and --help are made by transformers' parser once, kept in the user
    cache under the libraries' versions and the source, and then served without importing it:
    the same bytes, the same table."""
    env = {"AUTOACT_CACHE": str(tmp_path / "cache"), "COLUMNS": "100"}
    first = run_cli("Self_Planning/Train/train_lora.py", "--help", env=env, timeout=120)
    assert first.returncode == 0 and "--lora_r" in first.stdout and "--learning_rate" in first.stdout
    probe = ("import sys; sys.argv = ['train_lora.py', '--help']; from autoact.commands.train import main; "
             "rc = main(); from autoact.stages import training; t = training.field_types(); "
             "print('TABLE', len(training.names()), t['learning_rate'].__name__, t['num_train_epochs'].__name__, "
             "t['lora_target_modules'].__name__, t['fp16'].__name__); "
             "print('LOADED', 'transformers' in sys.modules or 'torch' in sys.modules)")
    # the table is cached on its first use (validation); --help on the first --help
    assert run_cli("-c", "from autoact.stages import training; training.names()", env=env).returncode == 0
    second = run_cli("-c", probe, env=env)
    assert second.returncode == 0, second.stderr[-1500:]
    help_text, _, tail = second.stdout.rpartition("TABLE")
    assert help_text == first.stdout
    count, *kinds = tail.split()
    assert int(count) > 100 and kinds == ["float", "float", "list", "bool", "LOADED", "False"]
    # the cached table is the classes' own
    from autoact.stages import training
    fresh = run_cli("-c", "from autoact.stages import training; import json; "
                          "print(json.dumps(sorted(training.names())))", env={"AUTOACT_CACHE": str(tmp_path / "c2")})
    assert json.loads(fresh.stdout) == sorted(training.names())
    assert len(list((tmp_path / "cache" / "meta").glob("train-*.txt"))) == 2
