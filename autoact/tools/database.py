"""The Database tool: one read-only SQL query against the configured SQLite file.

:func:`query_database` opens the file with the URI ``file:<path>?mode=ro`` (so a missing file is
never created), turns on ``PRAGMA query_only`` and installs an authorizer that allows only
reading: ``SELECT`` (with ``WITH``/``WITH RECURSIVE``), functions and the schema-inspecting
pragmas (``table_info``, ``table_list``, ``index_list``...). Everything else, including
``ATTACH`` (which would otherwise create files even on a read-only connection) and
``VACUUM INTO``, is refused. Only one statement runs per call; a trailing ``;`` is fine. A query
is interrupted after :data:`TIME_LIMIT` seconds.

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

NOT_CONFIGURED = "No database is configured"
NOT_FOUND = "Database file not found"
REFUSED = "Refused: "
SQL_ERROR = "SQL error: "
NO_ROWS = "No rows"

TIME_LIMIT = 2.0            # seconds per query
MAX_COUNT = 10_000          # rows counted past max_rows for the "N more rows" line
MAX_CELL = 200              # characters shown per value

READ_ONLY = REFUSED + "the database is read-only; only SELECT queries are allowed"

_READ_PRAGMAS = {
    "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
    "foreign_key_list", "collation_list", "function_list", "database_list",
}
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                    sqlite3.SQLITE_RECURSIVE}
_FENCE = re.compile(r"^\s*```[^\n]*\n(.*?)(?:\n\s*```\s*)?$", re.S)


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
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    except sqlite3.Error as err:
        return f"{SQL_ERROR}cannot open the database ({err})"
    try:
        return _run(conn, sql, max_rows)
    finally:
        conn.close()


def _run(conn: sqlite3.Connection, sql: str, max_rows: int) -> str:
    deadline = time.monotonic() + TIME_LIMIT
    try:
        conn.execute("PRAGMA query_only = ON")
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
    return SQL_ERROR + msg


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = str(value).replace("\n", " ")
    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 3] + "..."
