"""Reliability: abuse of the Code Interpreter is contained.

Each test runs hostile code through :func:`run_code` for real and checks both what the code saw
(the observation) and what happened outside it (files, processes, sockets, the test process
itself). Checks that rely on Landlock are skipped only where :func:`sandbox_features` says the
kernel lacks the needed ABI version.
"""

from __future__ import annotations

import logging
import os
import shutil
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
from autoact.tools import code_interpreter as ci
from autoact.tools.code_interpreter import TIMED_OUT, UNAVAILABLE, run_code, sandbox_features

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


def complete_sandbox():
    """Skip unless this machine enforces the whole sandbox (as CI does)."""
    missing = sandbox_features()["missing"] if sys.platform.startswith("linux") else ["Linux"]
    return pytest.mark.skipif(bool(missing), reason=f"this machine lacks {missing}")


def test_sandbox_features_reported():
    features = sandbox_features()
    assert set(features) == {"seccomp", "landlock_abi", "capabilities", "disk_quota_mb",
                             "missing"}
    assert isinstance(features["seccomp"], bool) and isinstance(features["landlock_abi"], int)
    complete = (features["seccomp"] and features["landlock_abi"] > 0
                and features["capabilities"] == 0 and features["disk_quota_mb"] > 0)
    assert complete == (features["missing"] == []), features
    assert sandbox_features() == features            # cached, and a copy
    features["landlock_abi"] = -1
    features["missing"].append("x")
    assert sandbox_features()["landlock_abi"] != -1 and "x" not in sandbox_features()["missing"]


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
        assert "ok" not in results.values(), results
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
        assert results["abstract"] != "ok", results
    finally:
        server.close()


# ----------------------------------------------------------------------------- as root

# Each probe prints "<label> ok" or "<label> <ExceptionType>:<errno>". Root (CI, this machine)
# is the case that matters: every one of these succeeds for an unconfined root process.
PRIVILEGED = """\
    import ctypes, fcntl, os, socket, struct
    libc = ctypes.CDLL(None, use_errno=True)
    def call(ret):
        if ret != 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    def probe(label, fn):
        try:
            fn()
            print(label, "ok")
        except Exception as err:
            print(label, "%s:%s" % (type(err).__name__, getattr(err, "errno", "")))
    probe("packet", lambda: socket.socket(17, socket.SOCK_RAW, 0x0300))      # AF_PACKET, ETH_P_ALL
    probe("raw_icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
    probe("netlink", lambda: socket.socket(16, socket.SOCK_RAW, 0))
    probe("udp", lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    probe("tcp6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM))
    probe("sethostname", lambda: socket.sethostname(socket.gethostname()))
    probe("reboot", lambda: call(libc.reboot(0)))          # an invalid command: EINVAL if allowed
    probe("unshare_net", lambda: call(libc.unshare(0x40000000)))
    probe("unshare_user", lambda: call(libc.unshare(0x10000000)))
    probe("chroot", lambda: os.chroot("."))
    probe("mknod", lambda: os.mknod("null", 0o20666, os.makedev(1, 3)))
    probe("mount", lambda: call(libc.mount(b"none", b".", b"tmpfs", ctypes.c_ulong(0), None)))
    def immutable():
        fd = os.open("f", os.O_CREAT | os.O_RDONLY)
        fcntl.ioctl(fd, 0x40086602, struct.pack("l", 0x10))    # FS_IOC_SETFLAGS, FS_IMMUTABLE_FL
    probe("chattr_i", immutable)
    def caps():
        kept = [c for c in range(64) if libc.prctl(23, c, 0, 0, 0) == 1]   # PR_CAPBSET_READ
        head = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)
        data = ctypes.create_string_buffer(24)
        call(libc.capget(head, data))
        if kept or any(data.raw):
            raise ValueError("capabilities kept: bounding %s, sets %s" % (kept, data.raw.hex()))
    probe("capabilities_empty", caps)
    a, b = socket.socketpair()
    a.sendall(b"x")
    print("unix_pair", "ok" if b.recv(1) == b"x" else "broken")
    """


@complete_sandbox()
def test_root_powers_and_network_refused():
    out = run_code(textwrap.dedent(PRIVILEGED), SandboxLimits(timeout=5))
    results = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    expected_refused = ["packet", "raw_icmp", "netlink", "udp", "tcp6", "sethostname", "reboot",
                        "unshare_net", "unshare_user", "chroot", "mknod", "mount", "chattr_i"]
    assert {k: results.get(k) for k in expected_refused if results.get(k, "ok") == "ok"} == {}, out
    for family in ("packet", "raw_icmp", "netlink", "udp", "tcp6"):
        assert results[family] == "OSError:97", out                    # EAFNOSUPPORT
    assert results["capabilities_empty"] == "ok", out
    assert results["unix_pair"] == "ok", out


@complete_sandbox()
def test_packet_socket_cannot_read_agent_traffic():
    # The attack of the report: sniff lo for the agent's "Authorization: Bearer" header.
    code = textwrap.dedent("""\
        import socket
        s = socket.socket(17, socket.SOCK_RAW, 0x0300)
        s.settimeout(2)
        print(s.recv(65535))
        """)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    stop = time.monotonic() + 3

    def chatter():
        while time.monotonic() < stop:
            try:
                with socket.create_connection(server.getsockname(), timeout=0.5) as c:
                    c.sendall(f"GET / HTTP/1.1\r\nAuthorization: Bearer {SECRET}\r\n\r\n".encode())
            except OSError:
                pass
            time.sleep(0.05)

    import threading
    talker = threading.Thread(target=chatter, daemon=True)
    talker.start()
    try:
        out = run_code(code, LIMITS)
    finally:
        talker.join()
        server.close()
    assert SECRET not in out and "Address family not supported" in out, out


@complete_sandbox()
def test_unix_socket_with_a_path_outside_unreachable(tmp_path):
    # e.g. a container runtime's socket owned by root: reachable by path, not by Landlock's rules
    path = tmp_path / "agent.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(0.5)
    dgram_path = tmp_path / "log.sock"
    dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dgram.bind(str(dgram_path))
    dgram.settimeout(0.5)
    try:
        results = attempts(f"""\
            import socket
            attempt('stream', lambda: socket.socket(socket.AF_UNIX).connect({str(path)!r}))
            attempt('dgram', lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(
                b'x', {str(dgram_path)!r}))
            a, b = socket.socketpair()
            attempt('pair', lambda: a.sendall(b'ok') or b.recv(2))
            """)
        assert results == {"stream": "PermissionError", "dgram": "PermissionError",
                           "pair": "ok"}, results
        with pytest.raises(socket.timeout):
            server.accept()
        with pytest.raises(socket.timeout):
            dgram.recv(10)
    finally:
        server.close()
        dgram.close()


@complete_sandbox()
def test_disk_quota_bounds_total_size():
    code = textwrap.dedent("""\
        import os
        try:
            for i in range(30):
                with open("f%d" % i, "wb") as f:
                    f.write(b"x" * (9 << 20))
        except OSError as err:
            print("stopped", err.errno)
        print("total_mb", sum(os.path.getsize(n) for n in os.listdir(".")) >> 20)
        """)
    out = run_code(code, SandboxLimits(timeout=10, disk_mb=16))
    assert out.splitlines() == ["stopped 28", "total_mb 16"], out        # ENOSPC at 16 MiB
    assert run_code(code, SandboxLimits(timeout=10, disk_mb=64)).splitlines()[-1] == "total_mb 64"


def _without(step: str, monkeypatch):
    """The bootstrap with one protection failing, as on a kernel or container without it."""
    patched = ci._BOOTSTRAP.replace(step, "raise OSError(38, 'Function not implemented'); " + step)
    assert patched != ci._BOOTSTRAP
    monkeypatch.setattr(ci, "_BOOTSTRAP", patched)
    monkeypatch.setattr(ci, "_features", None)


@complete_sandbox()
def test_missing_protection_disables_the_tool(monkeypatch, caplog):
    _without('checked(c.unshare(', monkeypatch)
    with caplog.at_level(logging.WARNING, logger=ci.__name__):
        assert sandbox_features()["missing"] == ["disk quota ([Errno 38] Function not implemented)"]
        outs = [run_code("print('ran')", LIMITS) for _ in range(2)]
    for out in outs:
        assert out.startswith(UNAVAILABLE) and "disk quota" in out, out
        assert "--unsafe_code_tool" in out and "ran" not in out
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "disk quota" in warnings[0].getMessage()   # one line, once
    unsafe = SandboxLimits(timeout=3, unsafe=True)
    assert run_code("print('ran')", unsafe) == "ran"


@complete_sandbox()
def test_failed_seccomp_disables_the_tool(monkeypatch):
    _without("fprog = Prog(", monkeypatch)
    assert "seccomp" in sandbox_features()["missing"]
    assert run_code("print('ran')", LIMITS).startswith(UNAVAILABLE)


def test_cleanup_failure_is_a_warning(monkeypatch, caplog, tmp_path):
    # An undeletable file in the call's folder (made immutable by the test, as root): the
    # call still answers, the failure is one logged warning, and nothing raises.
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("needs root and chattr")
    folder = tmp_path / "call"
    folder.mkdir()
    stuck = folder / "stuck"
    stuck.write_text("x")
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode:
        pytest.skip("this filesystem has no immutable flag")
    sandbox_features()                  # probed before the folder is swapped
    monkeypatch.setattr(ci.tempfile, "mkdtemp", lambda **kw: str(folder))
    try:
        with caplog.at_level(logging.WARNING, logger=ci.__name__):
            assert run_code("print(6 * 7)", SandboxLimits(timeout=3, unsafe=True)) == "42"
        assert "could not remove" in caplog.text and "stuck" in caplog.text
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)


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
