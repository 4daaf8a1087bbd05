"""Reliability: abuse of the Code Interpreter is contained.

Each test runs hostile code through :func:`run_code` for real and checks both what the code saw
(the observation) and what happened outside it (files, processes, sockets, the test process
itself). Checks that rely on Landlock are skipped only where :func:`sandbox_features` says the
kernel lacks the needed ABI version.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import psutil
import pytest

from autoact.tools.base import SandboxLimits
from autoact.tools.code_interpreter import TIMED_OUT, run_code, sandbox_features

REPO = Path(__file__).resolve().parents[2]
LIMITS = SandboxLimits(timeout=3, memory_mb=512, max_output=4000)
SECRET = "sk-test-secret-123"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")


def landlock(abi: int):
    """Skip unless the kernel's Landlock ABI is at least ``abi``."""
    found = sandbox_features()["landlock_abi"] if sys.platform.startswith("linux") else 0
    return pytest.mark.skipif(found < abi, reason=f"needs Landlock ABI >= {abi} (have {found})")


# Prepended to the hostile code: each attempt prints "<label> ok" or "<label> <ExceptionType>".
ATTEMPT = textwrap.dedent("""\
    def attempt(label, fn):
        try:
            fn()
            print(label, "ok")
        except Exception as err:
            print(label, type(err).__name__)
    """)


def attempts(code: str, limits: SandboxLimits = LIMITS) -> dict[str, str]:
    out = run_code(ATTEMPT + textwrap.dedent(code), limits)
    results = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    assert results, out
    return results


def _processes_with(marker: str) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or ()):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


def test_sandbox_features_reported():
    features = sandbox_features()
    assert set(features) == {"seccomp", "landlock_abi"}
    assert isinstance(features["seccomp"], bool) and isinstance(features["landlock_abi"], int)
    assert sandbox_features() == features            # cached, and a copy
    features["landlock_abi"] = -1
    assert sandbox_features()["landlock_abi"] != -1


# ----------------------------------------------------------------------------- resources


def test_infinite_loop_killed_at_timeout():
    limits = SandboxLimits(timeout=2)
    t0 = time.monotonic()
    out = run_code("while True:\n    pass", limits)
    elapsed = time.monotonic() - t0
    assert out.startswith(f"{TIMED_OUT} 2 s"), out
    assert 1.9 < elapsed < limits.timeout + 3
    assert run_code("print('after')", limits) == "after"


def test_fork_bomb_contained():
    limits = SandboxLimits(timeout=2)
    marker = f"bomb-{uuid.uuid4().hex}"        # in the code, hence in every fork's argv
    assert _processes_with(marker) == []
    t0 = time.monotonic()
    out = run_code(f"# {marker}\nimport os\nwhile True:\n    os.fork()", limits)
    assert time.monotonic() - t0 < limits.timeout + 3
    assert "Error" in out or out.startswith(TIMED_OUT), out
    time.sleep(0.3)
    assert _processes_with(marker) == []
    assert run_code("print('after')", limits) == "after"


def test_huge_allocation_fails_in_child_only():
    me = psutil.Process()
    rss_before = me.memory_info().rss
    out = run_code("data = bytearray(10 * 1024**3)\nprint('allocated')", LIMITS)
    assert "MemoryError" in out and "allocated" not in out, out
    assert me.memory_info().rss - rss_before < 100 * 1024**2
    assert run_code("print(len(bytearray(10 * 1024**2)))", LIMITS) == str(10 * 1024**2)


# ----------------------------------------------------------------------------- filesystem


@landlock(1)
def test_cannot_write_outside_its_folder():
    name = f"autoact-escape-{uuid.uuid4().hex}.txt"
    targets = {"tmp": Path("/tmp") / name, "project": REPO / name, "home": Path.home() / name}
    new_dir = Path("/tmp") / (name + ".d")
    code = "".join(f"attempt({label!r}, lambda: open({str(path)!r}, 'w').write('x'))\n"
                   for label, path in targets.items())
    # ways around a path check: a symlink or a rename out of the folder, a new directory
    code += (f"import os\nos.symlink({str(targets['tmp'])!r}, 'link')\n"
             "attempt('symlink', lambda: open('link', 'w').write('x'))\n"
             "open('mine.txt', 'w').write('x')\n"
             f"attempt('rename', lambda: os.rename('mine.txt', {str(targets['project'])!r}))\n"
             f"attempt('mkdir', lambda: os.mkdir({str(new_dir)!r}))\n")
    try:
        results = attempts(code)
        assert results == {"tmp": "PermissionError", "project": "PermissionError",
                           "home": "PermissionError", "symlink": "PermissionError",
                           "rename": results["rename"], "mkdir": "PermissionError"}
        assert results["rename"] in ("PermissionError", "OSError")   # EACCES or EXDEV
        for path in [*targets.values(), new_dir]:
            assert not path.exists(), path
    finally:
        for path in targets.values():
            path.unlink(missing_ok=True)
        if new_dir.is_dir():
            new_dir.rmdir()


def test_writes_inside_its_folder_then_folder_removed():
    out = run_code("import os\n"
                   "os.makedirs('sub/dir')\n"
                   "with open('sub/dir/f.txt', 'w') as f:\n    f.write('hello')\n"
                   "os.rename('sub/dir/f.txt', 'g.txt')\n"
                   "with open(os.path.expanduser('~/h.txt'), 'w') as f:\n    f.write('home')\n"
                   "import tempfile\n"
                   "with tempfile.NamedTemporaryFile('w', delete=False) as t:\n    t.write('t')\n"
                   "print(open('g.txt').read(), sorted(os.listdir('.')) == sorted(["
                   "'sub', 'g.txt', 'h.txt', os.path.basename(t.name)]))\n"
                   "print(os.getcwd())", LIMITS)
    first, cwd = out.splitlines()
    assert first == "hello True"
    assert cwd.startswith(tempfile.gettempdir())
    assert not os.path.exists(cwd)


@landlock(1)
def test_cannot_read_project_or_system_files():
    readme = REPO / "README.md"
    assert readme.is_file()
    results = attempts(f"""\
        attempt('readme', lambda: open({str(readme)!r}).read())
        attempt('listdir', lambda: __import__('os').listdir({str(REPO)!r}))
        attempt('source', lambda: open({__file__!r}).read())
        attempt('passwd', lambda: open('/etc/passwd').read())
        attempt('root', lambda: __import__('os').listdir('/root'))
        """)
    assert results == dict.fromkeys(["readme", "listdir", "source", "passwd", "root"],
                                    "PermissionError")


# ----------------------------------------------------------------------------- secrets

READ_ENVIRON = """\
    import os
    print('environ', os.environ.get('OPENAI_API_KEY'), any({secret!r} in v for v in os.environ.values()))
    for label, pid in (('parent', os.getppid()), ('init', 1), ('self', 'self')):
        try:
            with open('/proc/%s/environ' % pid, 'rb') as f:   # only API keys, if it fails
                entries = f.read().decode('utf-8', 'replace').split('\\0')
            print(label, [e for e in entries if 'API_KEY' in e])
        except Exception as err:
            print(label, type(err).__name__)
    """


def test_environment_secrets_not_visible(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    out = run_code(textwrap.dedent(READ_ENVIRON.format(secret=SECRET)), LIMITS)
    assert SECRET not in out, out
    assert out.splitlines()[0] == "environ None False", out
    if sandbox_features()["landlock_abi"]:
        assert "parent PermissionError" in out.splitlines()
        assert "init PermissionError" in out.splitlines()
        assert "self PermissionError" in out.splitlines()


@landlock(1)
def test_parent_environ_unreadable_when_secret_in_initial_environment(tmp_path):
    # monkeypatch.setenv does not change /proc/<pid>/environ (the environment the process
    # started with), so the agent here is a fresh process that starts with the secret.
    script = tmp_path / "agent.py"
    script.write_text(textwrap.dedent(f"""\
        from autoact.tools.base import SandboxLimits
        from autoact.tools.code_interpreter import run_code
        with open('/proc/self/environ', 'rb') as f:
            assert {SECRET!r}.encode() in f.read()       # the premise: it would be there
        print(run_code({textwrap.dedent(READ_ENVIRON.format(secret=SECRET))!r},
                       SandboxLimits(timeout=3)))
        """), encoding="utf-8")
    env = dict(os.environ, OPENAI_API_KEY=SECRET, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, check=False,
                          text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout, done.stdout
    assert "parent PermissionError" in done.stdout.splitlines(), done.stdout


# ----------------------------------------------------------------------------- network


@landlock(4)
def test_tcp_connect_and_bind_refused():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        results = attempts(f"""\
            import socket
            attempt('connect', lambda: socket.create_connection(('127.0.0.1', {port}), timeout=2))
            attempt('bind', lambda: socket.socket().bind(('127.0.0.1', 0)))
            """)
        assert results == {"connect": "PermissionError", "bind": "PermissionError"}
        with pytest.raises(socket.timeout):
            server.accept()                              # nobody connected
    finally:
        server.close()


@landlock(6)
def test_abstract_unix_socket_outside_refused():
    name = f"\0autoact-test-{uuid.uuid4().hex}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.listen(1)
    try:
        results = attempts(f"""\
            import socket
            attempt('abstract', lambda: socket.socket(socket.AF_UNIX).connect({name!r}))
            """)
        assert results == {"abstract": "PermissionError"}
    finally:
        server.close()


# ----------------------------------------------------------------------------- signals


@landlock(6)
def test_cannot_signal_parent_or_other_processes():
    received = []
    old = signal.signal(signal.SIGTERM, lambda *_: received.append(1))   # survive a failure
    other = subprocess.Popen(["sleep", "30"])
    try:
        out = run_code("import os, signal\n"
                       f"try:\n    os.kill({other.pid}, signal.SIGKILL)\n"
                       "except PermissionError as err:\n    print('other', err)\n"
                       "os.kill(os.getppid(), signal.SIGTERM)\nprint('sent')", LIMITS)
        time.sleep(0.2)
        assert received == []
        assert other.poll() is None                      # still running
        assert out.startswith("other [Errno 1] Operation not permitted"), out
        assert "sent" not in out and out.endswith("PermissionError: [Errno 1] "
                                                  "Operation not permitted (line 6)"), out
    finally:
        signal.signal(signal.SIGTERM, old)
        other.kill()
        other.wait()
    assert psutil.Process().is_running()


# ----------------------------------------------------------------------------- still useful


def test_standard_library_still_works():
    out = run_code("import math, json, re, statistics, fractions, decimal, datetime\n"
                   "print(math.sqrt(16), json.dumps({'a': 1}))", LIMITS)
    assert out == '4.0 {"a": 1}'
    out = run_code("import collections, itertools, random, hashlib, zlib, sqlite3, zoneinfo\n"
                   "import datetime, statistics, fractions, decimal, re, csv, io\n"
                   "print(statistics.mean([1, 2, 3, 4]), fractions.Fraction(1, 3) * 3,\n"
                   "      decimal.Decimal('0.1') + decimal.Decimal('0.2'),\n"
                   "      datetime.date(2024, 2, 29).isoformat(),\n"
                   "      zoneinfo.ZoneInfo('Europe/Paris').key,\n"
                   "      sqlite3.connect(':memory:').execute('select 6*7').fetchone()[0],\n"
                   "      len(hashlib.sha256(zlib.compress(b'x')).hexdigest()),\n"
                   "      collections.Counter('aab').most_common(1), len(random.random.__name__),\n"
                   "      open('/dev/null', 'w').write('x'), len(open('/dev/urandom', 'rb').read(4)))",
                   LIMITS)
    assert out == ("2.5 1 0.3 2024-02-29 Europe/Paris 42 64 [('a', 2)] 6 1 4"), out
