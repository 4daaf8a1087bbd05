"""The Database tool: one read-only SQL query against the configured SQLite file.

:func:`query_database` opens the file with the URI ``file:<path>?mode=ro&immutable=1`` (a
missing file is never created, and no ``-wal``/``-shm``/journal file is made or read beside it:
the file is taken as it is, so changes still in a ``-wal`` file are not seen; checkpoint a WAL
database first), turns on ``PRAGMA query_only`` and installs an authorizer that allows only
reading: ``SELECT`` (with ``WITH``/``WITH RECURSIVE``), functions except those that reach
outside the query (``load_extension``, ``fts3_tokenizer``, ``readfile``/``writefile``...) and the
schema-inspecting pragmas (``table_info``, ``table_list``, ``index_list``...). Everything else,
including ``ATTACH`` (which would otherwise create files even on a read-only connection) and
``VACUUM INTO``, is refused. Only one statement runs per call; a trailing ``;`` is fine. A query
is interrupted after :data:`TIME_LIMIT` seconds.

Memory: every string or blob a query makes is at most :data:`MAX_VALUE` bytes (``SQLITE_LIMIT_LENGTH``;
``hex(zeroblob(1e8))`` is ``string or blob too big``), the query text at most
:data:`MAX_SQL` bytes, and the page cache and sorter stay small, so one query cannot grow the
agent by more than a few tens of MiB; the rows it returns are cut to ``max_rows`` rows of
:data:`MAX_CELL` characters.

The result is a compact table: the column names joined by `` | ``, then one line per row, at
most ``max_rows`` rows and then ``... (N more rows)``.

Observations for problems: ``No database is configured``, ``Database file not found: <path>``,
``No SQL query given``, ``Refused: ...`` (writes, several statements, a query running too long)
and ``SQL error: <sqlite message>``.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import urllib.parse

from autoact.errors import ConfigError

NOT_CONFIGURED = "No database is configured"
NOT_FOUND = "Database file not found"
REFUSED = "Refused: "
SQL_ERROR = "SQL error: "
NO_ROWS = "No rows"

TIME_LIMIT = 2.0            # seconds per query
MAX_COUNT = 10_000          # rows counted past max_rows for the "N more rows" line
MAX_CELL = 200              # characters shown per value
MAX_VALUE = 1_000_000       # bytes of any string or blob a query makes
MAX_SQL = 100_000           # bytes of query text
_DENIED_FUNCTIONS = {"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit",
                     "sqlite_dbpage", "zipfile", "fts5_source_id"}

READ_ONLY = REFUSED + "the database is read-only; only SELECT queries are allowed"

_READ_PRAGMAS = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "collation_list", "function_list", "database_list",
}
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    sqlite3.SQLITE_RECURSIVE}
_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)(?:\n\s*```\s*)?$", re.S)


def _uri(path: str) -> str:
    return "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro&immutable=1"


def check_database(path: str) -> None:
    """Raise :class:`ConfigError` unless ``path`` opens read-only as a SQLite database with at
    least one table (checked once at startup, so a wrong file is not every question's error)."""
    try:
        conn = sqlite3.connect(_uri(path), uri=True)
        try:
            tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type IN "
                                  "('table', 'view')").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise ConfigError(f"--database {path}: not a SQLite database ({err})") from None
    if not tables:
        raise ConfigError(f"--database {path}: the database has no tables")


def query_database(path: str | None, sql: str, max_rows: int = 20) -> str:
    """Run one read-only ``sql`` query on the SQLite file ``path``; return the result table."""
    if not path:
        return NOT_CONFIGURED
    if not os.path.isfile(path):
        return f"{NOT_FOUND}: {path}"
    m = _FENCE.match(sql)
    sql = (m.group(1) if m else sql).strip().strip("`").strip()
    if not sql.rstrip(";").strip():
        return "No SQL query given"
    try:
        conn = sqlite3.connect(_uri(path), uri=True, check_same_thread=False)
    except sqlite3.Error as err:
        return f"{SQL_ERROR}cannot open the database ({err})"
    try:
        return _run(conn, sql, max_rows)
    finally:
        conn.close()


def _run(conn: sqlite3.Connection, sql: str, max_rows: int) -> str:
    deadline = time.monotonic() + TIME_LIMIT
    try:
        for limit, value in ((sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE), (sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL),
                             (sqlite3.SQLITE_LIMIT_ATTACHED, 0), (sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 200),
                             (sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 100)):
            conn.setlimit(limit, value)
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -8000")       # 8 MiB of pages; the sorter spills past it
        conn.set_authorizer(_authorize)
        conn.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        cursor = conn.execute(sql)
        rows = cursor.fetchmany(max_rows) if max_rows > 0 else []
    except sqlite3.ProgrammingError as err:
        if "one statement" in str(err):
            return REFUSED + "only one SQL statement can be run at a time"
        return SQL_ERROR + str(err)
    except sqlite3.Error as err:
        return _error(err)
    more, complete = _count_rest(cursor)
    if cursor.description is None or (not rows and not more and complete):
        return NO_ROWS
    header = " | ".join(col[0] for col in cursor.description)
    lines = [header] + [" | ".join(_cell(v) for v in row) for row in rows]
    if more or not complete:
        lines.append(f"... ({more}{'' if complete else '+'} more rows)")
    return "\n".join(lines)


def _count_rest(cursor: sqlite3.Cursor) -> tuple[int, bool]:
    """How many rows are left (up to :data:`MAX_COUNT`), and whether that is all of them."""
    more = 0
    try:
        while cursor.fetchone() is not None:
            more += 1
            if more >= MAX_COUNT:
                return more, False
    except sqlite3.Error:   # the time limit hit while counting: the rows shown are still good
        return more, False
    return more, True


def _authorize(action: int, arg1: str | None, arg2: str | None,
               db: str | None, trigger: str | None) -> int:
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in _READ_PRAGMAS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _error(err: sqlite3.Error) -> str:
    msg = str(err)
    if msg == "interrupted":
        return REFUSED + f"the query ran longer than {TIME_LIMIT:g} s and was stopped"
    if msg in ("not authorized", "authorization denied") or "readonly" in msg:
        return READ_ONLY
    if msg.startswith("not authorized to use function"):
        return REFUSED + msg.replace("not authorized to use", "queries may not use the")
    if "too big" in msg:
        return REFUSED + f"a value larger than {MAX_VALUE:,} bytes"
    return SQL_ERROR + msg


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."
