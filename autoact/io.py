"""JSON / JSONL files between stages.

* Reading: every error names the file and the line (``data.json:17: expected an object with
  "Question"``) and raises :class:`~autoact.errors.DataError`; nothing is unpickled, ever.
* Writing JSON: :func:`write_json_atomic` writes a temp file in the same folder, fsyncs it and
  renames it over the target, so a crash leaves either the old file or the new one.
* Writing JSONL: :class:`JsonlLog` appends one record per line, flushed (and fsynced) before
  ``append`` returns, and knows which ids are already done so a rerun resumes. A record for an id
  that is already in the file *supersedes* the earlier one (last line wins), so a retry of a
  failed question is an append, never a rewrite of the file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

from autoact.errors import ConfigError, DataError, OutputExistsError

PathLike = str | os.PathLike


def _read_text(path: PathLike) -> str:
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a folder, expected a file")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{p}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    except OSError as err:
        raise DataError(f"{p}: cannot read ({err.strerror})") from None


def read_json(path: PathLike) -> Any:
    """Parse a JSON file; errors name ``file:line:col``."""
    text = _read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None


def _iter_json_array(path: PathLike, text: str) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, item)`` for each item of a top-level JSON array, with the item's line."""
    decoder = json.JSONDecoder()
    ws = " \t\n\r"
    n = len(text)
    pos = 0
    line = 1

    def skip(p: int) -> int:
        while p < n and text[p] in ws:
            p += 1
        return p

    def fail(p: int, msg: str) -> DataError:
        ln = text.count("\n", 0, p) + 1
        col = p - (text.rfind("\n", 0, p) + 1) + 1
        return DataError(f"{path}:{ln}:{col}: invalid JSON: {msg}")

    pos = skip(pos)
    if pos >= n or text[pos] != "[":
        raise fail(pos, "expected a JSON list")
    pos = skip(pos + 1)
    if pos < n and text[pos] == "]":
        pos = skip(pos + 1)
        if pos != n:
            raise fail(pos, "extra data after the list")
        return
    last = 0
    while True:
        line += text.count("\n", last, pos)
        last = pos
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
        yield line, item
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
            continue
        if pos < n and text[pos] == "]":
            pos = skip(pos + 1)
            if pos != n:
                raise fail(pos, "extra data after the list")
            return
        raise fail(pos, "expected ',' or ']' after a list item")


def iter_jsonl(path: PathLike, *, text: str | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line, obj)`` for each non-blank line of a JSONL file."""
    if text is None:
        text = _read_text(path)
    for i, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            yield i, json.loads(raw)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{i}: invalid JSON line: {err.msg} (column {err.colno})") from None


def iter_records(path: PathLike, required: Iterable[str] = (), *,
                 list_only: bool = False) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` from a JSON list or a JSONL file (detected from the content;
    ``list_only`` accepts only a JSON list). Each record must be an object holding every key in
    ``required``.
    """
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path}: empty file, expected a JSON list"
                        + ("" if list_only else " or JSONL records"))
    if list_only and stripped[0] != "[":
        line = text[:len(text) - len(stripped)].count("\n") + 1
        raise DataError(f"{path}:{line}: expected a JSON list of records")
    items = _iter_json_array(path, text) if stripped[0] == "[" else iter_jsonl(path, text=text)
    required = tuple(required)
    for line, item in items:
        if not isinstance(item, dict):
            need = " with " + ", ".join(f'"{k}"' for k in required) if required else ""
            raise DataError(f"{path}:{line}: expected an object{need}, got {type(item).__name__}")
        missing = [k for k in required if k not in item]
        if missing:
            keys = ", ".join(f'"{k}"' for k in missing)
            raise DataError(f"{path}:{line}: expected an object with {keys}")
        yield line, item


def read_records(path: PathLike, required: Iterable[str] = (), *, list_only: bool = False) -> list[dict]:
    return [rec for _, rec in iter_records(path, required, list_only=list_only)]


def read_mapping(path: PathLike, what: str = "file") -> dict:
    """A YAML (``.yaml``/``.yml``) or JSON file holding a mapping; errors name file and line."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such {what}")
    text = _read_text(p)
    if p.suffix in (".yaml", ".yml"):
        import yaml
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
            raise DataError(f"{where}: invalid YAML: {getattr(err, 'problem', None) or err}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{p}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
    if not isinstance(data, dict):
        raise DataError(f"{p}: a {what} must be a mapping of keys")
    return data


def record_error(path: PathLike, line: int, message: str) -> DataError:
    """Build the standard ``file:line: message`` error for a record that fails validation."""
    return DataError(f"{path}:{line}: {message}")


# ----------------------------------------------------------------------------- writing

def prepare_output(path: PathLike, *, overwrite: bool = True, flag: str = "--overwrite") -> Path:
    """Check that ``path`` may be written: parent folder creatable and writable, and (unless
    ``overwrite``) no existing file. Returns the path."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise ConfigError(f"{p}: is a folder, expected a file path")
    if p.exists() and not overwrite:
        raise OutputExistsError(f"{p} already exists; pass {flag} to replace it")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{p.parent}: cannot create output folder ({err.strerror})") from None
    if not os.access(p.parent, os.W_OK):
        raise ConfigError(f"{p.parent}: output folder is not writable")
    return p


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def temp_name(target: Path) -> str:
    """The prefix of a temporary file written on the way to ``target``: it names the writing
    process, so :func:`remove_stale_temps` knows which ones a killed process left."""
    return f".{target.name}.{os.getpid()}."


def remove_stale_temps(target: Path) -> None:
    """Remove the temporary files a killed writer of ``target`` left beside it."""
    try:
        entries = list(target.parent.glob(f".{glob.escape(target.name)}.*.tmp"))
    except OSError:
        return
    for f in entries:
        pid = f.name[len(target.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                f.unlink()
            except OSError:
                pass


def write_text_atomic(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file + fsync + rename (never a half-written file).
    Secrets are masked first (:func:`autoact.secrets.redact`), as by every writer here."""
    from autoact.secrets import redact_text
    text = redact_text(text)
    p = prepare_output(path)
    remove_stale_temps(p)
    mode = p.stat().st_mode & 0o777 if p.exists() else 0o644   # mkstemp's 0600 is too private
    try:
        fd, tmp = tempfile.mkstemp(prefix=temp_name(p), suffix=".tmp", dir=p.parent)
    except OSError as err:
        raise ConfigError(f"{p}: cannot write ({err.strerror})") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except OSError as err:
        _unlink(tmp)
        raise ConfigError(f"{p}: cannot write ({err.strerror})") from None
    except BaseException:
        _unlink(tmp)
        raise
    fsync_dir(p.parent)


def _unlink(path: PathLike) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_json_atomic(path: PathLike, obj: Any, *, indent: int | None = 2, only_if_changed: bool = False) -> bool:
    """Write ``obj`` as JSON (temp file + rename); with ``only_if_changed``, leave a file that
    already holds exactly that text alone (its time too). Returns whether it wrote."""
    text = json.dumps(obj, ensure_ascii=False, indent=indent) + "\n"
    p = Path(path)
    if only_if_changed and p.is_file() and p.read_text(encoding="utf-8") == text:
        return False
    write_text_atomic(p, text)
    return True


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (best effort)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def user_cache_dir() -> Path:
    """Where autoact keeps what it builds once per machine (base models, flag tables):
    ``$AUTOACT_CACHE``, else ``$XDG_CACHE_HOME/autoact``, else ``~/.cache/autoact``."""
    if os.environ.get("AUTOACT_CACHE"):
        return Path(os.environ["AUTOACT_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autoact"


def cached_text(name: str, key: Iterable[str], make: Callable[[], str]) -> str:
    """``make()``, kept in the user cache under ``name`` and a digest of ``key`` (everything
    the text depends on: library versions, source files), so later calls skip the work.
    A cache that cannot be written is only slower."""
    digest = hashlib.sha256("\0".join(key).encode("utf-8")).hexdigest()[:16]
    path = user_cache_dir() / "meta" / f"{name}-{digest}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        pass
    text = make()
    try:
        write_text_atomic(path, text)
    except (OSError, ConfigError):
        pass
    return text


def check_distinct(outputs: Iterable[PathLike], inputs: Iterable[PathLike]) -> None:
    """An output that is an input (the same file, also through links) is a :class:`ConfigError`:
    writing it would destroy what the run reads."""
    def key(p: PathLike) -> str:
        return os.path.realpath(os.path.expanduser(os.fspath(p)))
    ins = {key(p): p for p in inputs if p}
    for out in outputs:
        if out and key(out) in ins:
            raise ConfigError(f"{out} is also an input of this run ({ins[key(out)]}); writing it "
                              f"would destroy the input: choose another output path")


class OutputLock:
    """An exclusive lock on an output (``.<name>.lock`` beside it, holding the pid): a second
    run writing the same output stops with a clear error instead of both doing all the work.
    The lock goes with the process that holds it (``flock``), so a killed run leaves none."""

    def __init__(self, output: PathLike):
        out = Path(output)
        self.path = out.parent / f".{out.name}.lock"
        self.output = out
        self._f = None

    def __enter__(self) -> "OutputLock":
        import fcntl
        prepare_output(self.path)
        try:
            f = open(self.path, "a+")
        except OSError as err:
            raise ConfigError(f"{self.output}: cannot lock ({err.strerror})") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise ConfigError(f"{self.output} is being written by another run (pid {holder}); "
                              f"wait for it to finish or stop it") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc) -> None:
        if self._f is not None:
            _unlink(self.path)
            self._f.close()
            self._f = None


def stable_id(*parts: str, prefix: str = "q") -> str:
    """A short id that depends only on the text (so reordered inputs keep their ids)."""
    h = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{prefix}-{h}"


def check_fields(record: dict, schema: Mapping[str, Any], where: str) -> None:
    """Check the fields of ``record`` named in ``schema`` (missing fields are allowed): each
    maps to a type, a tuple of types, or a ``(types, item_check)`` pair where ``item_check`` is
    applied to each value of a list or dict. A wrong type is a :class:`DataError` naming ``where``."""
    for name, spec in schema.items():
        if name not in record:
            continue
        types, item = spec if isinstance(spec, list) else (spec, None)
        value = record[name]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in _as_tuple(types))
        if ok and item is not None:
            values = value.values() if isinstance(value, dict) else value
            ok = all(item(v) for v in values)
        if not ok:
            want = " or ".join("null" if t is type(None) else t.__name__ for t in _as_tuple(types))
            raise DataError(f"{where}: field \"{name}\" should be {want}"
                            f"{' of valid items' if item is not None and isinstance(value, types) else ''}"
                            f", not {json.dumps(value, ensure_ascii=False)[:60]}; is this the right file?")


def _as_tuple(types: Any) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def is_ok_record(record: dict) -> bool:
    """A record counts as done when it has no ``error``."""
    return not record.get("error")


def torn_record(tail: bytes) -> bool:
    """Could ``tail`` (a last line without its newline) be one of our records cut short by a
    crash? It must start as a JSON object does and be UTF-8 up to a character cut in two."""
    if not tail.startswith(b'{"'):
        return False
    for cut in range(4):
        try:
            tail[:len(tail) - cut].decode("utf-8")
            return True
        except UnicodeDecodeError:
            continue
    return False


class JsonlLog:
    """Append-only JSONL output keyed by ``key`` (default ``"id"``), safe to resume.

    Opening an existing file reads it (a malformed line in the middle is an error that names the
    line and leaves the file untouched; a torn last line from a crash is dropped). ``append`` is
    thread-safe and, on return, written to the operating system: a killed process (``kill -9``)
    loses no appended record. ``fsync`` (against a power cut) is grouped: at most one every
    ``sync_interval`` seconds while records come in, and one on close, so a burst of records does
    not wait for the disk once per record. ``latest`` maps each key to its last record.
    ``normalize(record, line)`` turns each loaded line into this project's shape (e.g. a line
    the reference wrote); a file with such lines is never rewritten by :meth:`compact`.
    ``schema`` (field -> allowed types, see :func:`check_fields`) is checked on every loaded
    line, so a wrong-typed field is a one-line error naming the line, not a crash later.
    """

    def __init__(self, path: PathLike, key: str = "id", *, fsync: bool = True,
                 normalize: Callable[[dict, int], dict] | None = None,
                 schema: Mapping[str, Any] | None = None, sync_interval: float = 0.1):
        self.path = Path(path)
        self.key = key
        self.fsync = fsync
        self.sync_interval = sync_interval
        self._synced_at = float("-inf")     # monotonic time of the last fsync
        self._unsynced = False
        self.normalize = normalize
        self.schema = schema or {}
        self.converted = 0      # loaded lines that normalize rewrote
        self._lock = threading.Lock()
        self.latest: dict[Any, dict] = {}
        self.lines = 0
        prepare_output(self.path)
        if self.path.exists():
            self._load()
        self._f = None          # opened on the first append: a run that fails early leaves no file

    def _load(self) -> None:
        """Read and check every complete line first, without changing the file; only a file
        that passed (one of ours) is then repaired: a last line torn by a crash is dropped (it
        will be redone), a whole last record without its newline gets one."""
        try:
            raw = self.path.read_bytes()
        except OSError as err:
            raise DataError(f"{self.path}: cannot read ({err.strerror})") from None
        cut = raw.rfind(b"\n") + 1 if raw and not raw.endswith(b"\n") else len(raw)
        body, tail = raw[:cut], raw[cut:]
        try:
            text = body.decode("utf-8", errors="strict")
        except UnicodeDecodeError as err:
            line = body[:err.start].count(b"\n") + 1
            raise DataError(f"{self.path}:{line}: not UTF-8 text; is this the right output file?") from None
        for line, rec in iter_jsonl(self.path, text=text):
            if self.normalize is not None and isinstance(rec, dict):
                new = self.normalize(rec, line)
                if new is not rec:
                    self.converted += 1
                rec = new
            if not isinstance(rec, dict) or self.key not in rec or not isinstance(rec[self.key], (str, int)):
                raise DataError(f"{self.path}:{line}: expected an object with \"{self.key}\"; "
                                f"is this the right output file?")
            check_fields(rec, self.schema, f"{self.path}:{line}")
            self.latest[rec[self.key]] = rec
            self.lines += 1
        if not tail.strip():
            return
        try:
            last = json.loads(tail.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            last = None
        if isinstance(last, dict) and self.key in last:   # a whole record without its newline
            check_fields(last, self.schema, f"{self.path}:{self.lines + 1}")
            with open(self.path, "ab") as f:
                f.write(b"\n")
            self.latest[last[self.key]] = last
            self.lines += 1
        elif torn_record(tail):                          # torn write from a crash
            with open(self.path, "r+b") as f:
                f.truncate(cut)
        else:
            line = body.count(b"\n") + 1
            raise DataError(f"{self.path}:{line}: the last line is not a record of this "
                            f"project; is this the right output file?")

    def done_ids(self, ok: Callable[[dict], bool] = is_ok_record) -> set:
        return {k for k, r in self.latest.items() if ok(r)}

    def append(self, record: dict) -> None:
        if self.key not in record:
            raise ValueError(f"record has no {self.key!r} field")
        from autoact.secrets import redact
        record = redact(record)
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if self._f is None:
                self._f = open(self.path, "a", encoding="utf-8")
            self._f.write(line)
            self._f.flush()                 # in the OS now: survives the process being killed
            self.latest[record[self.key]] = record
            self.lines += 1
            self._unsynced = self.fsync
            if self.fsync and time.monotonic() - self._synced_at >= self.sync_interval:
                self._sync()

    def _sync(self) -> None:
        """fsync what was appended (the caller holds the lock)."""
        if self._f is not None and self._unsynced:
            os.fsync(self._f.fileno())
            self._synced_at = time.monotonic()
            self._unsynced = False

    def records(self) -> list[dict]:
        """The latest record per key, in the order keys first appeared."""
        return list(self.latest.values())

    def compact(self) -> None:
        """Rewrite the file (atomically) with only the latest record per key, where a key has
        more than one line (a retried question); otherwise the file stays as appended. Not a file
        whose lines ``normalize`` rewrote: those stay as they were written."""
        self.close()
        with self._lock:
            if (not self.latest and not self.path.exists()) or self.converted or self.lines == len(self.latest):
                return
            write_text_atomic(self.path, "".join(
                json.dumps(r, ensure_ascii=False) + "\n" for r in self.latest.values()))
            self.lines = len(self.latest)

    def close(self) -> None:
        with self._lock:
            if self._f is not None:
                self._sync()
                self._f.close()
                self._f = None

    def __enter__(self) -> "JsonlLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_jsonl_latest(path: PathLike, key: str = "id") -> list[dict]:
    """The latest record per ``key`` of a JSONL log (last line wins), in first-seen order."""
    latest: dict[Any, dict] = {}
    for line, rec in iter_jsonl(path):
        if not isinstance(rec, dict) or key not in rec:
            raise DataError(f"{path}:{line}: expected an object with \"{key}\"")
        latest[rec[key]] = rec
    return list(latest.values())
