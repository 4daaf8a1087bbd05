"""The Code Interpreter tool: run the agent's Python code in a confined child process.

:func:`run_code` starts ``python -I -S -u -c <bootstrap> <config> <code>`` (standard library
only) in a fresh folder with an empty environment, stdin from ``/dev/null``, its own process
group, and its output in an anonymous temporary file (only ``max_output`` characters come back).
Before the code runs, the bootstrap confines the child, in this order: resource limits; new
mount/network/IPC/UTS namespaces (through a user namespace when not root) with a ``tmpfs`` disk
quota over its folder; no capabilities (all sets emptied, securebits locked) and
``PR_SET_NO_NEW_PRIVS``; a Landlock domain (reads of the Python install and system libraries,
writes in its folder, no TCP, no signals or abstract sockets outside); a seccomp filter (Unix
sockets only and none reachable by address, no namespaces, mounts or kernel interfaces, no new
processes unless allowed). The parent keeps the wall clock, kills the process group, and deletes
the folder (a failure is a logged warning).

Every layer must take effect: :func:`sandbox_features` probes once and lists what is
``missing``; then every call answers ``Code execution is unavailable: ...`` unless
``SandboxLimits.unsafe`` (``--unsafe_code_tool``). The threat model, what each layer needs and
what is not prevented: docs/code-sandbox.md.

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
import shutil
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

def proc_status(pid="self"):
    with open("/proc/%s/status" % pid) as f:
        return dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)

def user_tasks():
    uid, n = str(os.getuid()), 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = proc_status(pid)
        except OSError:
            continue
        if fields.get("Uid", "").split()[:1] == [uid]:
            n += int(fields.get("Threads", "1"))
    return n

ARCHES = {  # audit arch, syscall numbers
    "x86_64": (0xC000003E, dict(
        clone=56, fork=57, vfork=58, clone3=435, setrlimit=160, prlimit64=302, ptrace=101,
        socket=41, socketpair=53, connect=42, sendto=44, sendmsg=46, sendmmsg=307, capset=126, process_vm_readv=310, process_vm_writev=311,
        unshare=272, setns=308, mount=165, umount2=166, pivot_root=155, chroot=161, bpf=321,
        io_uring_setup=425, io_uring_enter=426, io_uring_register=427, keyctl=250, add_key=248,
        request_key=249, perf_event_open=298, userfaultfd=323, open_tree=428, move_mount=429,
        fsopen=430, fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, sethostname=170,
        setdomainname=171, reboot=169, kexec_load=246, kexec_file_load=320, init_module=175,
        finit_module=313, delete_module=176, acct=163, swapon=167, swapoff=168, quotactl=179,
        settimeofday=164, clock_settime=227, adjtimex=159, clock_adjtime=305, syslog=103,
        open_by_handle_at=304, ioperm=173, iopl=172)),
    "aarch64": (0xC00000B7, dict(
        clone=220, clone3=435, setrlimit=164, prlimit64=261, ptrace=117, socket=198,
        socketpair=199, connect=203, sendto=206, sendmsg=211, sendmmsg=269, capset=91, process_vm_readv=270, process_vm_writev=271, unshare=97,
        setns=268, mount=40, umount2=39, pivot_root=41, chroot=51, bpf=280, io_uring_setup=425,
        io_uring_enter=426, io_uring_register=427, keyctl=219, add_key=217, request_key=218,
        perf_event_open=241, userfaultfd=282, open_tree=428, move_mount=429, fsopen=430,
        fsconfig=431, fsmount=432, fspick=433, mount_setattr=442, sethostname=161,
        setdomainname=162, reboot=142, kexec_load=104, kexec_file_load=294, init_module=105,
        finit_module=273, delete_module=106, acct=89, swapon=224, swapoff=225, quotactl=60,
        settimeofday=170, clock_settime=112, adjtimex=171, clock_adjtime=266, syslog=116,
        open_by_handle_at=265)),
}
# refused outright: reaching a socket by its address (only Unix sockets exist in here, and
# socketpair() needs no address), limits, other processes' memory, namespaces, mounts, kernel
# interfaces
DENIED = ("connect", "sendmsg", "sendmmsg", "setrlimit", "ptrace", "process_vm_readv", "process_vm_writev", "unshare", "setns",
          "mount", "umount2", "pivot_root", "chroot", "bpf", "io_uring_setup", "io_uring_enter",
          "io_uring_register", "keyctl", "add_key", "request_key", "perf_event_open",
          "userfaultfd", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
          "mount_setattr", "sethostname", "setdomainname", "reboot", "kexec_load",
          "kexec_file_load", "init_module", "finit_module", "delete_module", "acct", "swapon",
          "swapoff", "quotactl", "settimeofday", "clock_settime", "adjtimex", "clock_adjtime",
          "syslog", "open_by_handle_at", "ioperm", "iopl")
NEW_NAMESPACES = 0x7E020080      # CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME

def libc():
    import ctypes
    return ctypes.CDLL(None, use_errno=True)

def checked(ret, what):
    if ret != 0:
        import ctypes
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))

def no_new_privs():
    return libc().prctl(38, 1, 0, 0, 0) == 0    # PR_SET_NO_NEW_PRIVS: needed by both filters

def isolate(work, disk_mb):
    """New mount, network, IPC and UTS namespaces (inside a new user namespace when not root),
    then a tmpfs of disk_mb MiB over the working folder: the code's total disk quota."""
    import ctypes
    c = libc()
    uid, gid = os.geteuid(), os.getegid()
    flags = 0x00020000 | 0x40000000 | 0x08000000 | 0x04000000   # NEWNS NEWNET NEWIPC NEWUTS
    checked(c.unshare(flags | (0 if uid == 0 else 0x10000000)), "unshare")
    if uid != 0:     # map our own ids so files keep their owner
        for name, text in (("setgroups", "deny"), ("uid_map", "%d %d 1" % (uid, uid)),
                           ("gid_map", "%d %d 1" % (gid, gid))):
            with open("/proc/self/" + name, "w") as f:
                f.write(text)
    ulong = ctypes.c_ulong
    # private first, so that nothing mounted here reaches the agent's namespace
    checked(c.mount(b"none", b"/", None, ulong(0x4000 | 0x40000), None), "mount")
    opts = ("size=%dm,nr_inodes=%d,mode=0700" % (disk_mb, max(64, disk_mb * 64))).encode()
    checked(c.mount(b"tmpfs", os.fsencode(work), b"tmpfs", ulong(2 | 4 | 8), opts),
            "mount tmpfs")                                        # NOSUID NODEV NOEXEC
    os.chdir(work)

def drop_capabilities(nr):
    """Empty every capability set (bounding and ambient too, where allowed), lock the
    securebits so that uid 0 regains nothing on execve; the number of capabilities kept."""
    import ctypes
    c = libc()
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            last = int(f.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        c.prctl(24, cap, 0, 0, 0)       # PR_CAPBSET_DROP (refused without CAP_SETPCAP)
    c.prctl(47, 4, 0, 0, 0)             # PR_CAP_AMBIENT_CLEAR_ALL
    c.prctl(28, 0xEF, 0, 0, 0)          # SECBIT_NOROOT, NO_SETUID_FIXUP, KEEP_CAPS_LOCKED, ...
    if "capset" in nr:
        head = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0), 8)
        data = ctypes.create_string_buffer(24)     # two empty {effective, permitted, inheritable}
        c.syscall(ctypes.c_long(nr["capset"]), head, data)
    fields = proc_status()
    kept = 0
    for name in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        kept |= int(fields.get(name, "0").strip() or "0", 16)
    return bin(kept).count("1")

def seccomp(block_processes):
    import ctypes
    arch = ARCHES.get(os.uname().machine)
    if arch is None or not sys.platform.startswith("linux"):
        return False
    audit, nr = arch
    LD, JEQ, JSET, JGE, RET = 0x20, 0x15, 0x45, 0x35, 0x06
    ALLOW, EPERM, ENOSYS, EAFNOSUPPORT = 0x7FFF0000, 0x00050001, 0x00050026, 0x00050061
    ARG0, ARG2_LO, ARG2_HI, ARG4_LO, ARG4_HI = 16, 32, 36, 48, 52

    def block(name, body):    # run body (which always returns) when the call is `name`
        return [(JEQ, 0, len(body), nr[name])] + body

    prog = [(LD, 0, 0, 4), (JEQ, 1, 0, audit), (RET, 0, 0, EPERM), (LD, 0, 0, 0)]
    if audit == 0xC000003E:
        prog += [(JGE, 0, 1, 0x40000000), (RET, 0, 0, EPERM)]   # x32 calls
    deny = [n for n in DENIED if n in nr] + (["fork", "vfork"] if block_processes else [])
    for name in deny:
        if name in nr:
            prog += [(JEQ, 0, 1, nr[name]), (RET, 0, 0, EPERM)]
    for name in ("socket", "socketpair"):    # Unix sockets only: no network of any kind
        prog += block(name, [(LD, 0, 0, ARG0), (JEQ, 0, 1, 1), (RET, 0, 0, ALLOW),
                             (RET, 0, 0, EAFNOSUPPORT)])
    # send() is sendto() without an address: allowed; with one (a Unix socket's path): refused
    prog += block("sendto", [(LD, 0, 0, ARG4_LO), (JEQ, 0, 3, 0), (LD, 0, 0, ARG4_HI),
                             (JEQ, 0, 1, 0), (RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)])
    # prlimit64 may read limits (new_limit == NULL) but not set them
    prog += block("prlimit64", [(LD, 0, 0, ARG2_LO), (JEQ, 0, 3, 0), (LD, 0, 0, ARG2_HI),
                                (JEQ, 0, 1, 0), (RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)])
    prog += block("clone3", [(RET, 0, 0, ENOSYS)])   # flags out of reach: libc falls back to clone
    threads_only = [(JSET, 0, 1, 0x10000), (RET, 0, 0, ALLOW), (RET, 0, 0, EPERM)]  # CLONE_THREAD
    prog += block("clone", [(LD, 0, 0, ARG0), (JSET, 0, 1, NEW_NAMESPACES), (RET, 0, 0, EPERM)]
                  + (threads_only if block_processes else [(RET, 0, 0, ALLOW)]))
    prog.append((RET, 0, 0, ALLOW))
    code = b"".join(struct.pack("HBBI", *ins) for ins in prog)
    buf = ctypes.create_string_buffer(code, len(code))

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Prog(len(prog), ctypes.addressof(buf))
    return libc().prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0   # PR_SET_SECCOMP, FILTER

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
    call, L = libc().syscall, ctypes.c_long
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
missing = []    # the protections this machine cannot give, each with its reason
try:
    isolate(cfg["work"], cfg["disk_mb"])
    quota = cfg["disk_mb"]
except (OSError, AttributeError, ImportError) as err:
    quota = 0
    missing.append("disk quota (%s)" % err)
try:
    kept = drop_capabilities(ARCHES.get(os.uname().machine, (0, {}))[1])
except (OSError, AttributeError, ImportError, ValueError) as err:
    kept = -1
if kept:
    missing.append("capabilities (%s kept)" % ("some" if kept < 0 else kept))
try:
    abi = landlock(cfg["work"])
except ImportError:
    abi = 0
except (OSError, AttributeError, ValueError) as err:
    fail("cannot set up Landlock (%s)" % err)
if not abi:
    missing.append("Landlock (not in this kernel)")
try:
    filtered = no_new_privs() and seccomp(cfg["processes"] == 0)
except (OSError, AttributeError, ImportError):
    filtered = False
if not filtered:
    missing.append("seccomp")
if cfg.get("probe"):
    sys.stdout.write(json.dumps({"seccomp": bool(filtered), "landlock_abi": abi,
                                 "capabilities": kept, "disk_quota_mb": quota,
                                 "missing": missing}))
    sys.exit(0)
if missing and not cfg["unsafe"]:
    fail("this machine cannot enforce its " + ", ".join(missing)
         + "; --unsafe_code_tool runs code without them")
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
    missing = sandbox_features()["missing"]   # probed once per process, warned about once
    if missing and not limits.unsafe:
        return (UNAVAILABLE + "this machine cannot enforce its " + ", ".join(missing)
                + "; --unsafe_code_tool runs code without them")
    work = tempfile.mkdtemp(prefix="autoact-code-")
    try:
        with tempfile.TemporaryFile() as out:
            try:
                status = _run_child(code, _config(limits, work), work, out, limits.timeout)
            except OSError as err:
                return UNAVAILABLE + f"cannot start Python ({err.strerror})"
            return _observation(status, out, limits)
    finally:
        remove_folder(work)


def remove_folder(path: str) -> None:
    """Delete a call's folder; what cannot be deleted is logged (one warning), never raised."""
    failures: list[str] = []
    shutil.rmtree(path, onerror=lambda _fn, name, exc: failures.append(
        f"{name}: {exc[1].strerror if isinstance(exc[1], OSError) else exc[1]}"))
    if failures:
        log.warning("Code Interpreter: could not remove %d path(s) of %s (first: %s)",
                    len(failures), path, failures[0])


def sandbox_features() -> dict:
    """What the sandbox enforces on this machine, found once per process by running the
    bootstrap in a probe child (it sets everything up, reports what took effect, and exits):

    ``seccomp`` (bool), ``landlock_abi`` (0: none), ``capabilities`` (how many the code keeps:
    0 wanted, -1 unknown), ``disk_quota_mb`` (0: no quota), and ``missing``: the protections
    that could not be set up, each with its reason. Where ``missing`` is not empty a warning is
    logged once and :func:`run_code` runs nothing unless ``SandboxLimits.unsafe``. A copy of the
    cached result is returned.
    """
    global _features
    with _features_lock:
        if _features is None:
            _features = _probe()
            if _features["missing"]:
                log.warning("Code Interpreter: this machine cannot enforce its %s; the tool "
                            "runs code only with --unsafe_code_tool",
                            ", ".join(_features["missing"]))
        return {**_features, "missing": list(_features["missing"])}


_features: dict | None = None
_features_lock = threading.Lock()


def _probe() -> dict:
    def unknown(why: str) -> dict:
        return {"seccomp": False, "landlock_abi": 0, "capabilities": -1, "disk_quota_mb": 0,
                "missing": [f"sandbox (the probe failed: {why})"]}

    work = tempfile.mkdtemp(prefix="autoact-probe-")
    try:
        with tempfile.TemporaryFile() as out:
            try:
                config = dict(_config(SandboxLimits(unsafe=True), work), probe=True)
                status = _run_child("", config, work, out, 30)
            except OSError as err:
                return unknown(str(err.strerror))
            out.seek(0)
            text = out.read(4096).decode("utf-8", "replace").strip()
    finally:
        remove_folder(work)
    try:
        found = json.loads(text) if status == 0 else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        return unknown(f"exit status {status}: {text[-300:]}")
    return {"seccomp": bool(found.get("seccomp")),
            "landlock_abi": int(found.get("landlock_abi", 0)),
            "capabilities": int(found.get("capabilities", -1)),
            "disk_quota_mb": int(found.get("disk_quota_mb", 0)),
            "missing": [str(m) for m in found.get("missing", [])]}


def _config(limits: SandboxLimits, work: str) -> dict:
    return {
        "memory": int(limits.memory_mb) * 1024 * 1024,
        "cpu": math.ceil(limits.timeout) + 1,
        "fsize": FILE_SIZE_LIMIT,
        "nofile": OPEN_FILES_LIMIT,
        "processes": max(0, int(limits.max_processes)),
        "work": work,
        "disk_mb": max(1, int(limits.disk_mb)),
        "unsafe": bool(limits.unsafe),
    }


def _run_child(code: str, config: dict, work: str, out: BinaryIO, timeout: float) -> int | None:
    """Run the bootstrap child to its end or ``timeout`` (then ``None``), and kill its whole
    process group either way; its exit status. ``OSError`` when it cannot start."""
    proc = _start(code, config, work, out)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    finally:
        _kill_group(proc.pid)
        proc.wait()


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
