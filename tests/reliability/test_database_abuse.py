"""The Database tool against hostile queries: memory, extension functions, files beside the database."""

import json
import sqlite3
import subprocess
import sys

import pytest

from autoact.tools.database import MAX_VALUE, REFUSED, query_database


@pytest.fixture
def wal_db(tmp_path):
    path = tmp_path / "wal.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (name TEXT, qty INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(f"item{i}", i) for i in range(100)])
    conn.commit()
    conn.close()
    return path


@pytest.mark.parametrize("sql", [
    "SELECT hex(zeroblob(100000000))",
    "SELECT hex(zeroblob(100000000)), hex(zeroblob(100000000))",
    "SELECT zeroblob(2000000)",
    "SELECT replace(hex(zeroblob(400000)), '0', '00000')",
    "SELECT group_concat(hex(zeroblob(100000))) FROM t",
])
def test_values_beyond_the_size_limit_refused(wal_db, sql):
    assert query_database(str(wal_db), sql) == REFUSED + f"a value larger than {MAX_VALUE:,} bytes"


def test_memory_of_the_agent_stays_bounded(wal_db):
    """The reported attack (two 200 MB strings) in a fresh process: its peak memory stays
    within a few tens of MiB of the same process running a trivial query."""
    script = ("import json, resource, sys\n"
              "from autoact.tools.database import query_database\n"
              "query_database(sys.argv[1], 'SELECT 1')\n"
              "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "out = [query_database(sys.argv[1], q) for q in sys.argv[2:]]\n"
              "print(json.dumps([base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, out]))\n")
    queries = ["SELECT hex(zeroblob(100000000)), hex(zeroblob(100000000))",
               "SELECT hex(zeroblob(400000)) FROM t, t AS u ORDER BY 1 LIMIT 3",
               "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r) "
               "SELECT max(length(hex(zeroblob(i % 1000)))) FROM r"]
    proc = subprocess.run([sys.executable, "-c", script, str(wal_db), *queries],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    base, peak, out = json.loads(proc.stdout)
    assert (peak - base) / 1024 < 64, (base, peak, out)       # KiB -> MiB
    assert out[0].startswith(REFUSED)
    assert out[2].startswith(REFUSED) and "longer than" in out[2]


@pytest.mark.parametrize("function", ["fts3_tokenizer('simple')", "load_extension('libc.so.6')",
                                      "readfile('/etc/passwd')", "writefile('x', 'y')"])
def test_functions_reaching_outside_refused(wal_db, function):
    out = query_database(str(wal_db), f"SELECT {function}")
    assert out.startswith(REFUSED) or out.startswith("SQL error: no such function"), out
    assert sorted(p.name for p in wal_db.parent.iterdir()) == ["wal.db"]


def test_wal_database_gets_no_side_files(wal_db):
    before = wal_db.read_bytes()
    assert query_database(str(wal_db), "SELECT count(*) FROM t") == "count(*)\n100"
    assert query_database(str(wal_db), "SELECT name FROM t WHERE qty = 7") == "name\nitem7"
    assert sorted(p.name for p in wal_db.parent.iterdir()) == ["wal.db"]     # no -wal, -shm
    assert wal_db.read_bytes() == before


def test_long_query_text_refused(wal_db):
    sql = "SELECT " + " + ".join(["1"] * 60_000)
    out = query_database(str(wal_db), sql)
    assert out.startswith("SQL error") or out.startswith(REFUSED)
