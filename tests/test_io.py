import json
import subprocess
import sys
import textwrap

import pytest

from autoact.errors import DataError, OutputExistsError
from autoact.io import (JsonlLog, iter_records, prepare_output, read_json, read_jsonl_latest,
                        read_records, stable_id, write_json_atomic)


def test_json_list_error_names_file_and_line(tmp_path):
    f = tmp_path / "data.json"
    f.write_text(textwrap.dedent("""\
        [
          {"Question": "q1", "Answer": "a1"},
          {"Answer": "a2"}
        ]
        """))
    with pytest.raises(DataError) as e:
        read_records(f, required=["Question"])
    assert str(e.value) == f'{f}:3: expected an object with "Question"'


def test_json_list_item_lines_follow_multiline_items(tmp_path):
    f = tmp_path / "d.json"
    f.write_text('[\n {"a": 1,\n  "b": 2},\n\n {"a": 3}, 7\n]\n')
    lines = []
    with pytest.raises(DataError) as e:
        for line, _ in iter_records(f):
            lines.append(line)
    assert lines == [2, 5]
    assert str(e.value).startswith(f"{f}:5: expected an object")


def test_invalid_json_reports_line_and_column(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('[\n {"a": 1},\n {"a": 2,,}\n]')
    with pytest.raises(DataError, match=r"bad.json:3:\d+: invalid JSON"):
        read_records(f)
    with pytest.raises(DataError, match=r"bad.json:3:\d+: invalid JSON"):
        read_json(f)


def test_jsonl_records_and_bad_line(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"id": 1}\n\n{"id": 2}\n{oops\n')
    with pytest.raises(DataError, match=r"d.jsonl:4: invalid JSON line"):
        read_records(f)
    f.write_text('{"id": 1}\n\n{"id": 2}\n')
    assert [line for line, _ in iter_records(f)] == [1, 3]


@pytest.mark.parametrize("content,msg", [
    (None, "no such file"),
    ("", "empty file"),
    ('{"a": 1}', None),  # one JSONL record is fine
    ('"text"', "expected an object"),
])
def test_missing_empty_and_non_object(tmp_path, content, msg):
    f = tmp_path / "x.json"
    if content is not None:
        f.write_text(content)
    if msg is None:
        assert read_records(f) == [{"a": 1}]
    else:
        with pytest.raises(DataError, match=msg):
            read_records(f)


def test_write_json_atomic_leaves_no_temp_and_replaces(tmp_path):
    f = tmp_path / "sub" / "out.json"
    write_json_atomic(f, [{"a": 1}])
    write_json_atomic(f, [{"a": 2}])
    assert json.loads(f.read_text()) == [{"a": 2}]
    assert [p.name for p in f.parent.iterdir()] == ["out.json"]


def test_write_json_atomic_only_if_changed_leaves_the_same_text_alone(tmp_path):
    import os
    f = tmp_path / "out.json"
    assert write_json_atomic(f, {"a": 1}, only_if_changed=True) is True
    os.utime(f, (1_000_000, 1_000_000))
    assert write_json_atomic(f, {"a": 1}, only_if_changed=True) is False
    assert f.stat().st_mtime == 1_000_000
    assert write_json_atomic(f, {"a": 2}, only_if_changed=True) is True
    assert json.loads(f.read_text()) == {"a": 2} and f.stat().st_mtime > 1_000_000


def test_write_json_atomic_file_mode(tmp_path):
    f = tmp_path / "out.json"
    write_json_atomic(f, [1])
    assert f.stat().st_mode & 0o777 == 0o644          # not mkstemp's private 0600
    f.chmod(0o640)
    write_json_atomic(f, [2])
    assert f.stat().st_mode & 0o777 == 0o640          # a replaced file keeps its mode


def test_write_json_atomic_keeps_old_file_when_serialising_fails(tmp_path):
    f = tmp_path / "out.json"
    write_json_atomic(f, {"ok": True})
    with pytest.raises(TypeError):
        write_json_atomic(f, {"bad": object()})
    assert json.loads(f.read_text()) == {"ok": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_prepare_output_refuses_overwrite(tmp_path):
    f = tmp_path / "out.json"
    f.write_text("keep")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        prepare_output(f, overwrite=False)
    assert f.read_text() == "keep"
    assert prepare_output(f, overwrite=True) == f


def test_jsonl_log_resume_and_supersede(tmp_path):
    f = tmp_path / "log.jsonl"
    with JsonlLog(f) as log:
        log.append({"id": "a", "error": None})
        log.append({"id": "b", "error": "timeout"})
    with JsonlLog(f) as log:
        assert log.done_ids() == {"a"}
        log.append({"id": "b", "error": None, "v": 2})
        assert log.done_ids() == {"a", "b"}
    assert len(f.read_text().splitlines()) == 3
    latest = read_jsonl_latest(f)
    assert [r["id"] for r in latest] == ["a", "b"] and latest[1]["v"] == 2
    with JsonlLog(f) as log:
        log.compact()
    assert len(f.read_text().splitlines()) == 2


def test_jsonl_log_drops_torn_last_line_and_keeps_whole_one(tmp_path):
    f = tmp_path / "log.jsonl"
    f.write_text('{"id": "a"}\n{"id": "b", "x": [1, 2')
    with JsonlLog(f) as log:
        assert set(log.latest) == {"a"}
        log.append({"id": "b"})
    assert f.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    f.write_text('{"id": "a"}\n{"id": "b"}')       # complete record, no newline: kept
    with JsonlLog(f) as log:
        assert set(log.latest) == {"a", "b"}


def test_jsonl_log_refuses_corrupt_middle_line_without_touching_file(tmp_path):
    f = tmp_path / "log.jsonl"
    content = '{"id": "a"}\nnot json\n{"id": "c"}\n'
    f.write_text(content)
    with pytest.raises(DataError, match=r"log.jsonl:2"):
        JsonlLog(f)
    f2 = tmp_path / "other.jsonl"
    f2.write_text('{"name": "x"}\n')
    with pytest.raises(DataError, match=r'other.jsonl:1: expected an object with "id"'):
        JsonlLog(f2)
    assert f.read_text() == content


def test_jsonl_log_survives_sigkill_between_records(tmp_path):
    """A writer killed with SIGKILL loses nothing it had appended."""
    f = tmp_path / "log.jsonl"
    code = textwrap.dedent(f"""
        import os, signal
        from autoact.io import JsonlLog
        log = JsonlLog({str(f)!r})
        for i in range(50):
            log.append({{"id": i}})
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == -9
    with JsonlLog(f) as log:
        assert log.done_ids() == set(range(50))


def test_jsonl_log_groups_its_fsyncs_and_syncs_on_close(tmp_path, monkeypatch):
    """A burst of appends waits for the disk a few times, not once per record (the kill -9 test
    above covers what is kept between them); close syncs the tail; sync_interval 0 syncs each."""
    import os as os_module
    synced = []
    real = os_module.fsync
    monkeypatch.setattr(os_module, "fsync", lambda fd: (synced.append(fd), real(fd)))
    log = JsonlLog(tmp_path / "burst.jsonl")
    for i in range(500):
        log.append({"id": i})
    during = len(synced)
    log.close()
    assert 1 <= during < 50 and len(synced) == during + 1
    log = JsonlLog(tmp_path / "each.jsonl", sync_interval=0)
    synced.clear()
    for i in range(20):
        log.append({"id": i})
    log.close()
    assert len(synced) == 20          # nothing left to sync at close
    assert JsonlLog(tmp_path / "burst.jsonl").done_ids() == set(range(500))


def test_jsonl_log_compacts_only_a_log_with_superseded_lines(tmp_path):
    f = tmp_path / "log.jsonl"
    with JsonlLog(f) as log:
        log.append({"id": "a", "error": None})
        log.append({"id": "b", "error": None})
    inode = f.stat().st_ino
    with JsonlLog(f) as log:
        log.append({"id": "c", "error": None})
        log.compact()
    assert f.stat().st_ino == inode and len(f.read_text().splitlines()) == 3     # appended, not rewritten
    with JsonlLog(f) as log:
        log.append({"id": "a", "error": None, "v": 2})
        log.compact()
    assert f.stat().st_ino != inode and [json.loads(x)["id"] for x in f.read_text().splitlines()] == ["a", "b", "c"]


def test_jsonl_log_threads_do_not_interleave(tmp_path):
    import threading
    f = tmp_path / "log.jsonl"
    log = JsonlLog(f, fsync=False)
    big = "x" * 10000

    def work(k):
        for i in range(50):
            log.append({"id": f"{k}-{i}", "pad": big})

    ts = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    log.close()
    lines = f.read_text().splitlines()
    assert len(lines) == 400
    assert len({json.loads(x)["id"] for x in lines}) == 400


def test_stable_id_depends_on_text_only():
    assert stable_id("Who?") == stable_id("Who?")
    assert stable_id("Who?") != stable_id("Who!")
    assert stable_id("Who?").startswith("q-") and len(stable_id("Who?")) == 14
