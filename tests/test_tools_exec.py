"""The executing tools, run for real: Calculator, Code Interpreter, Database, Table, KnowledgeGraph."""

from __future__ import annotations

import hashlib
import logging
import os
import resource
import sqlite3
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import psutil
import pytest

from autoact.errors import DataError
from autoact.tools import code_interpreter as ci
from autoact.tools import knowledge_graph as kg_mod
from autoact.tools.base import SandboxLimits
from autoact.tools.calculator import INVALID, MATH_ERROR, calculate
from autoact.tools.code_interpreter import (
    NO_OUTPUT,
    TIMED_OUT,
    TRUNCATED,
    UNAVAILABLE,
    run_code,
    sandbox_features,
)
from autoact.tools.database import (
    NO_ROWS,
    READ_ONLY,
    REFUSED,
    SQL_ERROR,
    query_database,
)
from autoact.tools.knowledge_graph import KnowledgeGraph, kg_query
from autoact.tools.table import PARSE_ERROR, verbalize_table

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")

# ----------------------------------------------------------------------------- calculator


@pytest.mark.parametrize("expr, expected", [
    ("2+2", "4"),
    ("2^10", "1024"),
    ("sqrt(16)", "4"),
    ("10/3", "3.333333333"),
    ("2/4", "0.5"),
    ("4/2", "2"),
    ("1,000*3", "3000"),
    ("max(1, 2)", "2"),
    ("-(3**2)", "-9"),
    ("1e3 + 1_000", "2000"),
    ("3 × 4 =", "12"),
    ("10 ÷ 4?", "2.5"),
    ("round(3.14159, 2)", "3.14"),
    ("log(8, 2) + floor(2.7)", "5"),
    ("factorial(20)", "2432902008176640000"),
    ("7 // 2 + 7 % 2", "4"),
    ("2*pi", "6.283185307"),
    ("123456789 * 987654321", "121932631112635269"),
])
def test_calculator_valid(expr, expected):
    assert calculate(expr) == expected


@pytest.mark.parametrize("expr, prefix", [
    ("__import__('os').system('x')", INVALID),
    ("(1).__class__", INVALID),
    ("[1,2][0]", INVALID),
    ('"a"*3', INVALID),
    ("open('x')", INVALID),
    ("lambda: 1", INVALID),
    ("max(1, key=abs)", INVALID),
    ("x + 1", INVALID),
    ("2 +", INVALID),
    ("9**9**9", MATH_ERROR),
    ("factorial(10**6)", MATH_ERROR),
    ("3**10000 * 3**10000", MATH_ERROR),
    ("1/0", MATH_ERROR),
    ("sqrt(-1)", MATH_ERROR),
    ("exp(1000)", MATH_ERROR),
])
def test_calculator_rejects(expr, prefix):
    t0 = time.monotonic()
    out = calculate(expr)
    assert out.startswith(prefix), out
    assert time.monotonic() - t0 < 1


def test_calculator_names_the_problem():
    assert calculate("(1).__class__") == INVALID + "attribute access is not allowed"
    assert calculate("1/0") == MATH_ERROR + "division by zero"


def test_calculator_never_executes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "pwned"
    for expr in (f"__import__('os').system('touch {target}')",
                 f"open('{target}', 'w')",
                 "[c for c in ().__class__.__base__.__subclasses__()]"):
        assert calculate(expr).startswith(INVALID)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []

# ----------------------------------------------------------------------------- code interpreter


LIMITS = SandboxLimits(timeout=2, memory_mb=512, max_output=500)


def test_code_prints():
    assert run_code("print(1+1)", LIMITS) == "2"
    assert run_code("x = 1", LIMITS) == NO_OUTPUT


def test_code_error_shows_last_line():
    out = run_code("print('before')\n1/0", LIMITS)
    assert out.startswith("before\n")
    assert out.endswith("ZeroDivisionError: division by zero (line 2)")


def test_code_syntax_error():
    assert "SyntaxError" in run_code("print(", LIMITS)


def test_code_markdown_fences_stripped():
    assert run_code("```python\nprint('fenced')\n```", LIMITS) == "fenced"


def test_code_infinite_loop_times_out():
    t0 = time.monotonic()
    out = run_code("print('started')\nwhile True: pass", LIMITS)
    elapsed = time.monotonic() - t0
    assert out.startswith(f"{TIMED_OUT} 2 s"), out
    assert "started" in out
    assert elapsed < LIMITS.timeout + 3


def test_code_memory_error_stays_in_child():
    before = resource.getrlimit(resource.RLIMIT_AS)
    out = run_code("bytearray(10*1024**3)", LIMITS)
    assert "MemoryError" in out
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert len(bytearray(64 * 1024 * 1024)) == 64 * 1024 * 1024   # the parent still allocates
    assert run_code("print('alive')", LIMITS) == "alive"


def _processes_with(marker: str) -> list[int]:
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in proc.info["cmdline"] or ()):
            pids.append(proc.pid)
    return pids


@linux_only
def test_code_fork_bomb_contained():
    # The code travels in the child's argv, which forked children share: the marker finds them.
    marker = f"bomb-{uuid.uuid4().hex}"
    assert _processes_with(marker) == []
    t0 = time.monotonic()
    out = run_code(f"# {marker}\nimport os\nwhile True:\n    os.fork()", LIMITS)
    assert time.monotonic() - t0 < LIMITS.timeout + 3
    assert "Error" in out or out.startswith(TIMED_OUT), out
    time.sleep(0.2)
    assert _processes_with(marker) == []


def test_code_cannot_start_processes():
    out = run_code("import subprocess\nsubprocess.run(['true'])\nprint('ran')", LIMITS)
    assert "ran" not in out and "Error" in out


def test_code_cannot_raise_its_limits():
    out = run_code("import resource\nr = resource.RLIMIT_AS\n"
                   "resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
                   "print('raised')", LIMITS)
    assert "raised" not in out and "Error" in out


@linux_only
def test_code_leftover_children_killed():
    limits = SandboxLimits(timeout=2, max_processes=2)
    out = run_code("import subprocess, sys\n"
                   "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1000)'])\n"
                   "print(p.pid)", limits)
    pid = int(out)
    time.sleep(0.3)
    try:
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        pass


@linux_only
def test_code_children_stay_confined():
    if sandbox_features()["landlock_abi"] == 0:
        pytest.skip("no Landlock on this kernel")
    target = f"/tmp/autoact-child-{uuid.uuid4().hex}.txt"
    child = f"open({target!r}, 'w')"
    out = run_code("import subprocess, sys\n"
                   f"code = {child!r}\n"
                   "p = subprocess.run([sys.executable, '-c', code], capture_output=True)\n"
                   "print(p.returncode, b'PermissionError' in p.stderr)",
                   SandboxLimits(timeout=3, max_processes=1))
    assert out == "1 True"
    assert not os.path.exists(target)


def test_code_without_landlock_runs_only_when_unsafe(monkeypatch, caplog, tmp_path):
    # A kernel without Landlock: landlock_create_ruleset fails with ENOSYS.
    patched = ci._BOOTSTRAP.replace("sys_call(L(444), None, L(0), L(1))",
                                    "sys_call(L(-1), None, L(0), L(1))")
    assert patched != ci._BOOTSTRAP
    monkeypatch.setattr(ci, "_BOOTSTRAP", patched)
    monkeypatch.setattr(ci, "_features", None)
    unsafe = SandboxLimits(timeout=3, unsafe=True)
    with caplog.at_level(logging.WARNING, logger=ci.__name__):
        assert sandbox_features()["landlock_abi"] == 0
        assert "Landlock (not in this kernel)" in sandbox_features()["missing"]
        out = run_code("print(1)", LIMITS)
        assert out.startswith(UNAVAILABLE) and "Landlock" in out and "--unsafe_code_tool" in out
        assert run_code("print(1)", unsafe) == "1"
        assert run_code("print(2)", unsafe) == "2"
    assert caplog.text.count("Landlock") == 1     # recorded once, not per call
    target = tmp_path / "outside.txt"
    assert run_code(f"open({str(target)!r}, 'w').write('x')", unsafe) == NO_OUTPUT
    assert target.exists()      # as documented: no filesystem isolation without Landlock


def test_code_unavailable_when_landlock_fails(monkeypatch):
    if sandbox_features()["landlock_abi"] == 0:
        pytest.skip("no Landlock on this kernel")
    # Landlock is there but landlock_restrict_self fails: the code must not run unconfined.
    patched = ci._BOOTSTRAP.replace("sys_call(L(446), L(ruleset), L(0))",
                                    "sys_call(L(446), L(-1), L(0))")
    assert patched != ci._BOOTSTRAP
    monkeypatch.setattr(ci, "_BOOTSTRAP", patched)
    out = run_code("print('ran')", LIMITS)
    assert out.startswith(UNAVAILABLE + "cannot set up Landlock"), out
    assert "ran" not in out


def test_code_concurrent_calls():
    with ThreadPoolExecutor(8) as pool:
        outs = list(pool.map(lambda i: run_code(f"print({i} * {i})", LIMITS), range(16)))
    assert outs == [str(i * i) for i in range(16)]


def test_code_environment_has_no_secrets(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    out = run_code("import os; print(os.environ.get('OPENAI_API_KEY'))", LIMITS)
    assert out == "None"
    assert "sk-test-secret" not in run_code("import os; print(dict(os.environ))", LIMITS)


def test_code_runs_in_empty_temp_dir_removed_after():
    out = run_code("import os; print(os.listdir('.')); print(os.getcwd())", LIMITS)
    listing, cwd = out.splitlines()
    assert listing == "[]"
    assert cwd != os.getcwd()
    assert not os.path.exists(cwd)


def test_code_output_truncated():
    out = run_code("print('x' * 100000)", LIMITS)
    assert out.endswith(TRUNCATED)
    assert len(out) <= LIMITS.max_output + len(TRUNCATED) + 1
    assert out.startswith("x" * LIMITS.max_output)


def test_code_output_flood_is_bounded():
    t0 = time.monotonic()
    out = run_code("while True: print('y' * 1000)", LIMITS)
    assert len(out) < LIMITS.max_output + 200
    assert time.monotonic() - t0 < LIMITS.timeout + 3

# ----------------------------------------------------------------------------- database


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "shop.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (name TEXT, qty INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, ?)",
                     [("apple", 3), ("pear", None)] + [(f"item{i}", i) for i in range(30)])
    conn.commit()
    conn.close()
    return path


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_database_select(db):
    out = query_database(str(db), "SELECT name, qty FROM t WHERE name IN ('apple', 'pear');")
    assert out == "name | qty\napple | 3\npear | NULL"
    assert query_database(str(db), "SELECT * FROM t WHERE qty > 1000") == NO_ROWS


def test_database_row_limit(db):
    out = query_database(str(db), "SELECT name FROM t", max_rows=5)
    lines = out.splitlines()
    assert lines[0] == "name" and len(lines) == 7
    assert lines[-1] == "... (27 more rows)"


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES ('x', 1)",
    "DROP TABLE t",
    "UPDATE t SET qty = 0",
    "DELETE FROM t",
    "CREATE TABLE u (x)",
    "ATTACH 'other.db' AS other",
    "PRAGMA query_only = OFF",
])
def test_database_writes_refused(db, sql, monkeypatch):
    monkeypatch.chdir(db.parent)
    before = _digest(db)
    assert query_database(str(db), sql) == READ_ONLY
    assert _digest(db) == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["shop.db"]


def test_database_one_statement(db):
    before = _digest(db)
    out = query_database(str(db), "SELECT 1; DROP TABLE t")
    assert out.startswith(REFUSED) and "one SQL statement" in out
    assert _digest(db) == before
    assert query_database(str(db), "SELECT count(*) AS n FROM t") == "n\n32"


def test_database_errors(db, tmp_path):
    assert query_database(None, "SELECT 1") == "No database is configured"
    missing = tmp_path / "missing.db"
    assert query_database(str(missing), "SELECT 1").startswith("Database file not found")
    assert not missing.exists()
    assert query_database(str(db), "SELECT * FROM nope") == SQL_ERROR + "no such table: nope"


def test_database_runaway_query_stopped(db):
    t0 = time.monotonic()
    out = query_database(str(db), "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
                                  "FROM c) SELECT max(x) FROM c")
    assert out.startswith(REFUSED) and "stopped" in out
    assert time.monotonic() - t0 < 5

# ----------------------------------------------------------------------------- table


def test_table_csv():
    assert verbalize_table("Name,Age\nAlice,30\nBob,25") == \
        "Row 1: Name is Alice, Age is 30.\nRow 2: Name is Bob, Age is 25."
    assert verbalize_table("Name\tAge\nAlice\t") == "Row 1: Name is Alice."


def test_table_markdown():
    table = "| Name | Age |\n|------|:---:|\n| Alice | 30 |\n| Bob |  |"
    assert verbalize_table(table) == "Row 1: Name is Alice, Age is 30.\nRow 2: Name is Bob."


def test_table_quoted_csv_field():
    assert verbalize_table('Name,City\n"Smith, John","Paris"') == \
        "Row 1: Name is Smith, John, City is Paris."


@pytest.mark.parametrize("text", ["", "just one line", "hello there\nsome more prose"])
def test_table_garbage(text):
    assert verbalize_table(text).startswith(PARSE_ERROR)

# ----------------------------------------------------------------------------- knowledge graph


TRIPLES = [
    ("Paris", "capital of", "France"),
    ("Paris", "located in", "Europe"),
    ("Paris", "twinned with", "Rome"),
    ("Paris", "twinned with", "Kyoto"),
    ("Parish", "is a", "church district"),
    ("Washington, D.C.", "capital of", "United States"),
]


@pytest.fixture
def kg_file(tmp_path):
    import json
    path = tmp_path / "kg.jsonl"
    path.write_text("".join(json.dumps({"head": h, "relation": r, "tail": t}) + "\n"
                            for h, r, t in TRIPLES), encoding="utf-8")
    return path


def test_kg_head_and_relation(kg_file):
    graph = KnowledgeGraph(kg_file)
    assert graph.query("Paris, capital of") == "Paris capital of: France"
    assert graph.query("  paris ,  TWINNED with ") == "Paris twinned with: Rome; Kyoto"
    assert graph.query("Washington, D.C., capital of") == \
        "Washington, D.C. capital of: United States"
    assert graph.query("Paris, mayor").startswith('No "mayor" facts about Paris')


def test_kg_head_only(kg_file):
    assert KnowledgeGraph(kg_file).query("PARIS") == \
        "Paris: capital of France; located in Europe; twinned with Rome; twinned with Kyoto"


def test_kg_unknown_head_suggests(kg_file):
    graph = KnowledgeGraph(kg_file)
    assert graph.query("Pari, capital of") == "No facts about Pari. Similar: Paris; Parish"
    assert graph.query("Zanzibar") == "No facts about Zanzibar"


def test_kg_malformed_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"head": "a", "relation": "b", "tail": "c"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.jsonl:2"):
        KnowledgeGraph(bad)
    missing_field = tmp_path / "missing.jsonl"
    missing_field.write_text('{"head": "a", "relation": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r'missing\.jsonl:1: .*"tail"'):
        KnowledgeGraph(missing_field)


def test_kg_query_cached_and_thread_safe(kg_file, monkeypatch):
    monkeypatch.setattr(kg_mod, "_cache", {})
    assert kg_query(None, "Paris") == "No knowledge graph is configured"
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: kg_query(str(kg_file), "Paris, capital of"), range(32)))
    assert set(answers) == {"Paris capital of: France"}
    assert len(kg_mod._cache) == 1
    kg_file.write_text("", encoding="utf-8")   # cached: the file is not read again
    assert kg_query(str(kg_file), "Paris, located in") == "Paris located in: Europe"
