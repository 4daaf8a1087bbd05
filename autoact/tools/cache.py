"""A small on-disk key-value cache in SQLite, safe across threads and processes.

Used by the live Wikipedia backend and the web-search provider, so a rerun of a stage makes no
network calls for what it has already fetched. Values are JSON.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from autoact.errors import ConfigError


class DiskCache:
    """``namespace`` keeps the entries of one source (e.g. a MediaWiki stand-in's URL) apart
    from another's in the same file."""

    def __init__(self, path: str | Path, namespace: str = ""):
        self.path = Path(path).expanduser()
        self.prefix = f"{namespace}|" if namespace else ""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as err:
            raise ConfigError(f"{self.path}: cannot open cache ({err})") from None
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def get(self, key: str) -> Any | None:
        """The cached value, or None (also for a row that is not JSON: it is fetched again)."""
        try:
            row = self._conn().execute("SELECT value FROM cache WHERE key = ?",
                                       (self.prefix + key,)).fetchone()
            return None if row is None else json.loads(row[0])
        except (sqlite3.Error, ValueError, TypeError):
            return None

    def put(self, key: str, value: Any) -> None:
        self._conn().execute("INSERT OR REPLACE INTO cache (key, value) VALUES (?, ?)",
                             (self.prefix + key, json.dumps(value, ensure_ascii=False)))

    def __len__(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM cache").fetchone()[0]
