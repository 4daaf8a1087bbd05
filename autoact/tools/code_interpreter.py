"""The Code Interpreter tool: run the agent's Python code in a limited child process.

:func:`run_code` starts ``python -I -S -u -c <bootstrap> <config> <code>`` (isolated mode, no
site-packages, so only the standard library can be imported) with

* a fresh empty working directory, created for the call and deleted after it (also ``HOME`` and
  ``TMPDIR``);
* a minimal environment (``PATH``, ``LANG``, ``HOME``, ``TMPDIR``, ``PYTHONIOENCODING``): no
  inherited variable, so no API key, reaches the code;
* stdin from ``/dev/null``, its own session and process group (``start_new_session``);
* stdout and stderr written to an anonymous temporary file, so a flood of output cannot fill
  the parent's memory; only the first (or, after an error, the last) ``max_output`` characters
  are returned.

Before it runs the code the bootstrap, in this order:

1. lowers its own resource limits: address space (``memory_mb``), CPU time (``timeout`` + 1 s),
   file size (10 MiB), open files (64), core dumps (none); when ``max_processes`` > 0 and not
   root, ``RLIMIT_NPROC`` = the user's current process count + ``max_processes`` (approximate).
   It does this itself rather than in a ``preexec_fn``, which is unsafe in a parent that runs
   several questions in threads.
2. sets ``PR_SET_NO_NEW_PRIVS`` and enters a **Landlock** domain (Linux >= 5.13, best effort
   for the ABI version the kernel reports):

   * files: read and execute only beneath the Python installation (``sys.base_prefix``,
     ``sys.prefix``, the virtualenv of ``sys.executable`` if it is in one, the real directories
     of ``sys.executable`` and of the standard library),
     ``/usr``, ``/lib``, ``/lib64``, ``/bin``, and the files ``/etc/ld.so.cache``,
     ``/etc/localtime``, ``/dev/urandom``; read and write ``/dev/null``; everything beneath the
     working directory except creating device nodes. Nothing else can be opened, listed,
     written, created, renamed or removed: not ``/proc`` (so no other process's
     ``environ``), ``/sys``, ``/tmp`` outside the working directory, ``/root``, ``/home``, the
     project, ``/etc``;
   * network (ABI >= 4): every TCP ``bind`` and ``connect`` is refused;
   * scoping (ABI >= 6): no signals to processes outside the domain (the agent, other
     calls' children) and no connections to abstract Unix sockets created outside it;
   * ``mount`` and friends are refused, and ``ptrace`` reaches only processes inside the domain.
3. installs (Linux x86-64 and arm64) a seccomp filter that refuses to raise resource limits
   again and to ``ptrace``, and, when ``max_processes`` is 0, refuses to create processes
   (threads still work), so a fork bomb only gets ``PermissionError``. Without seccomp it falls
   back to ``RLIMIT_NPROC`` = 1, which does not bind root: as root without seccomp the code is
   not run at all when ``max_processes`` is 0.

The parent enforces the wall-clock ``timeout`` and, whatever happens, kills the whole process
group afterwards. :func:`sandbox_features` reports what this machine enforces (it runs the
bootstrap once in a probe child).

Without Landlock (kernel older than 5.13, Landlock not enabled at boot, or a container's seccomp
profile refusing the calls) the code still runs, with the limits and seccomp above but with
**no filesystem, network or signal isolation**: it can read and write any file the agent's user
can, use the network, and signal that user's processes (including the agent). This is recorded
once: :func:`sandbox_features` returns ``landlock_abi`` 0 and a warning is logged at the first
call; the observations do not mention it. A Landlock that is present but cannot be set up makes
the call return ``Code execution is unavailable: ...`` rather than run unconfined.

Not prevented, even with Landlock: ``stat`` of paths outside (existence, size, times are
visible, contents are not); UDP and other non-TCP traffic; connecting to Unix sockets that have
a path; while running as root, whatever the remaining capabilities allow (e.g. raw sockets,
``chroot``: the code keeps the agent user's capabilities, so run the agent as an unprivileged
user); with ``max_processes`` > 0, a child that calls ``setsid`` leaves
the process group and survives the final kill (still inside the Landlock domain); CPU, memory
and disk bandwidth are not shared fairly between concurrent calls.

Observations: the output (``(no output)`` when there is none); after an error the output's tail,
ending with the error line, e.g. ``ZeroDivisionError: division by zero (line 3)``;
``Execution timed out after N s``; ``Execution stopped: ...`` when killed by a limit; and
``Code execution is unavailable: ...`` when the sandbox cannot be set up.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from typing import BinaryIO

from autoact.tools.base import SandboxLimits

TIMED_OUT = "Execution timed out after"
STOPPED = "Execution stopped: "
UNAVAILABLE = "Code execution is unavailable: "
NO_OUTPUT = "(no output)"
TRUNCATED = "... [output truncated]"

MAX_CODE_BYTES = 100_000       # the code travels as one argv string (Linux allows 128 KiB)
FILE_SIZE_LIMIT = 10 * 1024 * 1024
OPEN_FILES_LIMIT = 64
_SANDBOX_FAILED = 86           # exit status + marker the bootstrap uses when it cannot set up
_MARKER = "autoact-sandbox: "

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)(?:\n\s*```\s*)?$", re.S)

# Runs inside the child, before the agent's code. Keep it standard-library only.
_BOOTSTRAP = r'''
import json, os, resource, stat, struct, sys, traceback
cfg = json.loads(sys.argv[1]); src = sys.argv[2]; sys.argv[:] = [""]

def limit(res, soft, hard=None):
    hard = soft if hard is None else hard
    _, old_hard = resource.getrlimit(res)
    if old_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, old_hard), min(hard, old_hard)
    resource.setrlimit(res, (soft, hard))

def fail(msg):
    sys.stderr.write("autoact-sandbox: " + msg + "\n"); sys.exit(86)

def user_tasks():
    uid, n = str(os.getuid()), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/status" % pid) as f:
                fields = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            n += int(fields.get("Threads", "1"))
    return n

ARCHES = {  # audit arch, syscall numbers
    "x86_64": (0xC000003E, dict(clone=56, fork=57, vfork=58, clone3=435, setrlimit=160,
                                prlimit64=302, ptrace=101)),
    "aarch64": (0xC00000B7, dict(clone=220, clone3=435, setrlimit=164, prlimit64=261,
                                 ptrace=117)),
}

def no_new_privs():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(38, 1, 0, 0, 0) == 0    # PR_SET_NO_NEW_PRIVS: needed by both filters

def seccomp(block_processes):
    import ctypes
    arch = ARCHES.get(os.uname().machine)
    if arch is None or not sys.platform.startswith("linux"):
        return False
    audit, nr = arch
    LD, JEQ, JSET, JGE, RET = 0x20, 0x15, 0x45, 0x35, 0x06
    ALLOW, EPERM, ENOSYS = 0x7FFF0000, 0x00050001, 0x00050026
    prog = [(LD, 0, 0, 4), (JEQ, 1, 0, audit), (RET, 0, 0, EPERM), (LD, 0, 0, 0)]
    if audit == 0xC000003E:
        prog += [(JGE, 0, 1, 0x40000000), (RET, 0, 0, EPERM)]   # x32 calls
    deny = ["setrlimit", "ptrace"] + (["fork", "vfork"] if block_processes else [])
    for name in deny:
        if name in nr:
            prog += [(JEQ, 0, 1, nr[name]), (RET, 0, 0, EPERM)]
    # prlimit64 may read limits (new_limit == NULL) but not set them
    prog += [(JEQ, 0, 6, nr["prlimit64"]), (LD, 0, 0, 32), (JEQ, 0, 3, 0), (LD, 0, 0, 36),
             (JEQ, 0, 1, 0), (RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)]
    if block_processes:
        prog += [(JEQ, 0, 1, nr["clone3"]), (RET, 0, 0, ENOSYS)]   # libc falls back to clone
        prog += [(JEQ, 0, 4, nr["clone"]), (LD, 0, 0, 16), (JSET, 0, 1, 0x10000),  # CLONE_THREAD
                 (RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)]
    prog.append((RET, 0, 0, ALLOW))
    code = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    fprog = Prog(len(prog), ctypes.addressof(buf))
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0   # PR_SET_SECCOMP, FILTER

# Landlock (same syscall numbers on x86-64 and arm64): the rights each ABI version knows.
FS_RIGHTS = {1: 0x1FFF, 2: 0x3FFF, 3: 0x7FFF, 4: 0x7FFF}   # ABI >= 5: 0xFFFF (+ IOCTL_DEV)
READ = 1 | 4 | 8                 # EXECUTE | READ_FILE | READ_DIR
FILE_ONLY = 1 | 2 | 4 | 1 << 14 | 1 << 15   # rights a rule on a non-directory may hold
NO_DEVICES = 1 << 6 | 1 << 11 | 1 << 15     # MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV

def landlock(work):
    """Install the Landlock domain; return its ABI version, 0 when Landlock is unavailable."""
    import ctypes, errno
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    call, L = libc.syscall, ctypes.c_long
    call.restype = ctypes.c_long

    def sys_call(*args):
        ret = call(*args)
        if ret < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        return ret

    try:
        abi = sys_call(L(444), None, L(0), L(1))   # landlock_create_ruleset(VERSION)
    except OSError as err:
        if err.errno in (errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
            return 0
        raise
    fs = FS_RIGHTS.get(abi, 0xFFFF)
    # landlock_ruleset_attr: handled_access_fs (all known rights), handled_access_net (ABI 4:
    # BIND_TCP | CONNECT_TCP, with no rule allowing any), scoped (ABI 6: ABSTRACT_UNIX_SOCKET |
    # SIGNAL); the size passed covers only the fields this ABI knows.
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    attr = ctypes.create_string_buffer(struct.pack("QQQ", fs, 3, 3)[:size], size)
    ruleset = sys_call(L(444), attr, L(size), L(0))
    try:
        parent = os.path.dirname
        exe_dir = parent(os.path.abspath(sys.executable))
        # -S leaves sys.prefix at the base installation: find a virtualenv as getpath does
        venv = [d for d in (exe_dir, parent(exe_dir)) if os.path.isfile(d + "/pyvenv.cfg")]
        rules = [(p, READ) for p in (sys.base_prefix, sys.prefix, *venv[:1],
                                     parent(os.path.realpath(sys.executable)),
                                     parent(os.path.realpath(os.__file__)),
                                     "/usr", "/lib", "/lib64", "/bin",
                                     "/etc/ld.so.cache", "/etc/localtime", "/dev/urandom")]
        rules += [("/dev/null", 2 | 4), (work, fs & ~NO_DEVICES)]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue      # not on this machine
            try:
                if not stat.S_ISDIR(os.fstat(fd).st_mode):
                    access &= FILE_ONLY
                rule = struct.pack("=Qi", access & fs, fd)   # landlock_path_beneath_attr
                sys_call(L(445), L(ruleset), L(1), ctypes.create_string_buffer(rule, len(rule)),
                         L(0))
            finally:
                os.close(fd)
        if not no_new_privs():
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        sys_call(L(446), L(ruleset), L(0))      # landlock_restrict_self
    finally:
        os.close(ruleset)
    return abi

limit(resource.RLIMIT_AS, cfg["memory"])
limit(resource.RLIMIT_CPU, cfg["cpu"], cfg["cpu"] + 1)
limit(resource.RLIMIT_FSIZE, cfg["fsize"])
limit(resource.RLIMIT_NOFILE, cfg["nofile"])
limit(resource.RLIMIT_CORE, 0)
if cfg["processes"] > 0 and os.geteuid() != 0:   # before Landlock hides /proc, seccomp setrlimit
    try:
        limit(resource.RLIMIT_NPROC, user_tasks() + cfg["processes"])
    except OSError:
        fail("cannot count this user's processes to limit them")
try:
    abi = landlock(cfg["work"])
except ImportError:
    abi = 0
except (OSError, AttributeError, ValueError) as err:
    fail("cannot set up Landlock (%s)" % err)
try:
    filtered = no_new_privs() and seccomp(cfg["processes"] == 0)
except (OSError, AttributeError, ImportError):
    filtered = False
if cfg.get("probe"):
    sys.stdout.write(json.dumps({"seccomp": bool(filtered), "landlock_abi": abi}))
    sys.exit(0)
if cfg["processes"] == 0 and not filtered:
    if os.geteuid() == 0:
        fail("process creation cannot be restricted here (running as root without seccomp)")
    limit(resource.RLIMIT_NPROC, 1)
try:
    code = compile(src, "<code>", "exec")
except (SyntaxError, ValueError) as err:
    line = " (line %s)" % err.lineno if getattr(err, "lineno", None) else ""
    sys.stderr.write("%s: %s%s\n" % (type(err).__name__, getattr(err, "msg", err), line))
    sys.exit(1)
del cfg, src
try:
    exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
except SystemExit:
    raise
except BaseException as err:   # any failure of the agent's code becomes one short line
    lines = [f.lineno for f in traceback.extract_tb(err.__traceback__) if f.filename == "<code>"]
    where = " (line %d)" % lines[-1] if lines else ""
    msg = "".join(traceback.format_exception_only(type(err), err)).strip()
    sys.stderr.write(msg + where + "\n")
    sys.exit(1)
'''


def strip_fences(code: str) -> str:
    """The code inside a Markdown ```` ``` ```` fence, or ``code`` unchanged."""
    m = _FENCE.match(code)
    return m.group(1) if m else code


def run_code(code: str, limits: SandboxLimits) -> str:
    """Run ``code`` in a limited child process and return its output as an observation."""
    code = strip_fences(code)
    if not code.strip():
        return "No code to run"
    try:
        size = len(code.encode("utf-8"))
    except UnicodeEncodeError:
        return "SyntaxError: the code is not valid Unicode text"
    if size > MAX_CODE_BYTES:
        return f"Code too long: at most {MAX_CODE_BYTES} bytes can be run"
    if "\x00" in code:
        return "SyntaxError: source code cannot contain null bytes"
    sandbox_features()   # probed once per process; logs a warning when isolation is missing
    with tempfile.TemporaryDirectory(prefix="autoact-code-", ignore_cleanup_errors=True) as work, \
            tempfile.TemporaryFile() as out:
        try:
            proc = _start(code, _config(limits, work), work, out)
        except OSError as err:
            return UNAVAILABLE + f"cannot start Python ({err.strerror})"
        status: int | None = None
        try:
            status = proc.wait(timeout=limits.timeout)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            _kill_group(proc.pid)
            proc.wait()
        return _observation(status, out, limits)


def sandbox_features() -> dict:
    """What the sandbox enforces on this machine: ``{"seccomp": bool, "landlock_abi": int}``.

    Found once per process by running the bootstrap in a probe child (it sets everything up,
    reports what took effect, and exits); ``landlock_abi`` 0 means no filesystem, network or
    signal isolation. A copy of the cached result is returned.
    """
    global _features
    with _features_lock:
        if _features is None:
            _features = _probe()
            if not _features["landlock_abi"]:
                log.warning("Code Interpreter: Landlock is unavailable, so the code can read and "
                            "write this user's files, use the network and signal processes")
            if not _features["seccomp"]:
                log.warning("Code Interpreter: seccomp is unavailable")
        return dict(_features)


_features: dict | None = None
_features_lock = threading.Lock()


def _probe() -> dict:
    unknown = {"seccomp": False, "landlock_abi": 0}
    with tempfile.TemporaryDirectory(prefix="autoact-probe-", ignore_cleanup_errors=True) as work, \
            tempfile.TemporaryFile() as out:
        try:
            proc = _start("", dict(_config(SandboxLimits(), work), probe=True), work, out)
        except OSError as err:
            log.warning("Code Interpreter: the sandbox probe failed (%s)", err.strerror)
            return unknown
        try:
            status: int | None = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            status = None
        finally:
            _kill_group(proc.pid)
            proc.wait()
        out.seek(0)
        text = out.read(4096).decode("utf-8", "replace").strip()
    try:
        found = json.loads(text) if status == 0 else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        log.warning("Code Interpreter: the sandbox probe failed (exit status %s): %s",
                    status, text[-300:])
        return unknown
    return {"seccomp": bool(found.get("seccomp")),
            "landlock_abi": int(found.get("landlock_abi", 0))}


def _config(limits: SandboxLimits, work: str) -> dict:
    return {
        "memory": int(limits.memory_mb) * 1024 * 1024,
        "cpu": math.ceil(limits.timeout) + 1,
        "fsize": FILE_SIZE_LIMIT,
        "nofile": OPEN_FILES_LIMIT,
        "processes": max(0, int(limits.max_processes)),
        "work": work,
    }


def _start(code: str, config: dict, work: str, out: BinaryIO) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work,
           "PYTHONIOENCODING": "utf-8"}
    argv = [sys.executable, "-I", "-S", "-u", "-c", _BOOTSTRAP, json.dumps(config), code]
    return subprocess.Popen(argv, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass   # the group is already gone


def _observation(status: int | None, out: BinaryIO, limits: SandboxLimits) -> str:
    if status is None:
        head = _read(out, limits.max_output, tail=False)
        msg = f"{TIMED_OUT} {limits.timeout:g} s"
        return f"{msg}. Output before that:\n{head}" if head else msg
    if status == 0:
        return _read(out, limits.max_output, tail=False) or NO_OUTPUT
    text = _read(out, limits.max_output, tail=True)
    if os.fstat(out.fileno()).st_size >= FILE_SIZE_LIMIT:
        text += f"\n{STOPPED}output larger than {FILE_SIZE_LIMIT // 2**20} MiB"
    if status == _SANDBOX_FAILED and text.startswith(_MARKER):
        return UNAVAILABLE + text[len(_MARKER):]
    if status < 0:
        reason = _signal_reason(-status)
        return f"{text}\n{reason}" if text else reason
    if status != 1 or not text:
        text = f"{text}\n(exit status {status})".lstrip("\n")
    return text


def _signal_reason(signum: int) -> str:
    if signum == getattr(signal, "SIGXCPU", -1):
        return STOPPED + "CPU time limit exceeded"
    if signum == getattr(signal, "SIGXFSZ", -1):
        return STOPPED + "file size limit exceeded"
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = str(signum)
    return STOPPED + f"killed by signal {name}"


def _read(out: BinaryIO, max_chars: int, *, tail: bool) -> str:
    """At most ``max_chars`` characters of the output file: its start, or its end."""
    size = os.fstat(out.fileno()).st_size
    budget = max_chars * 4 + 4          # enough bytes for max_chars UTF-8 characters
    out.seek(max(0, size - budget) if tail else 0)
    text = out.read(budget).decode("utf-8", errors="replace").rstrip()
    cut = size > budget or len(text) > max_chars
    if not cut:
        return text
    if tail:
        return TRUNCATED + "\n" + text[-max_chars:].lstrip("\n")
    return text[:max_chars] + "\n" + TRUNCATED
