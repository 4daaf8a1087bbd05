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


def _autoact(*args, env=None):
    """The installed ``autoact`` console script (the virtualenv's bin/, next to the interpreter)."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    exe = Path(sys.executable).parent / "autoact"
    assert exe.exists(), f"{exe}: the console script is missing (pip install -e . makes it)"
    from conftest import REPO, TEST_ENV
    return subprocess.run([str(exe), *args], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **TEST_ENV, "COLUMNS": "100", **(env or {})})


def test_autoact_command_lists_every_stage_and_its_version():
    from autoact import __version__
    from autoact.__main__ import COMMANDS
    assert _autoact("--version").stdout == f"autoact {__version__}\n"
    listing = _autoact().stdout
    for name, (_, script, _) in COMMANDS.items():
        assert f"  {name}  " in listing and f"(= {script})" in listing, name
    assert set(COMMANDS) == {"pipeline", "self-instruct", "select-tools", "synthesize", "filter", "train",
                             "eval", "report", "analysis", "build-corpus"}
    proc = _autoact("evaluate")
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown command 'evaluate'")


def test_every_autoact_command_has_its_seed_scripts_flags():
    """``autoact <cmd> --help`` is the seed script's --help with the program's name changed."""
    import re

    from autoact.__main__ import COMMANDS
    for name, (_, script, _) in COMMANDS.items():
        if name == "train":
            continue            # the same parser (HfArgumentParser): checked by the run below
        seed = run_cli(*(script.split()[1:] if script.startswith("python") else [script]), "--help",
                       env={"COLUMNS": "100"})
        ours = _autoact(name, "--help")
        assert seed.returncode == ours.returncode == 0, name
        flags = lambda text: sorted(set(re.findall(r"(?<![\w-])--[a-z_]+", text)))  # noqa: E731
        assert flags(ours.stdout) == flags(seed.stdout) and flags(ours.stdout), name
        assert ours.stdout.startswith(f"usage: autoact {name} "), name


def test_autoact_filter_and_train_do_what_their_seed_scripts_do(tmp_path, tiny_model):
    """One real run through the command and through the seed script: the same files, byte for byte."""
    import hashlib

    from conftest import REPO
    log = REPO / "tests" / "fixtures" / "reference_trajectories.jsonl"
    outs = {}
    for how, cmd in (("seed", lambda *a: run_cli("Scripts/filter_data.py", *a)),
                     ("autoact", lambda *a: _autoact("filter", *a))):
        out = tmp_path / how
        proc = cmd("--source_path", str(log), "--save_path", str(out), "--task_name", "HotpotQA",
                   "--filter_num", "200")
        assert proc.returncode == 0, proc.stderr[-2000:]
        outs[how] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.iterdir())}
    assert outs["seed"] == outs["autoact"] and "data_plan.json" in outs["seed"]
    # training: the same flags, the same arguments error as the seed script, and a real 1-step run
    proc = _autoact("train", "--model_name_or_path", str(tiny_model), "--data_path", str(tmp_path / "seed" /
                    "data_plan.json"), "--output_dir", str(tmp_path / "lora"), "--max_steps", "1",
                    "--per_device_train_batch_size", "2", "--save_strategy", "no", "--no_such_flag", "1")
    assert proc.returncode == 2 and "unknown arguments: --no_such_flag 1" in proc.stderr
    proc = _autoact("train", "--model_name_or_path", str(tiny_model), "--data_path", str(tmp_path / "seed" /
                    "data_plan.json"), "--output_dir", str(tmp_path / "lora"), "--max_steps", "1",
                    "--per_device_train_batch_size", "2", "--save_strategy", "no")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((tmp_path / "lora" / "autoact_train.json").read_text())["steps"] == 1
